//! What stands in front of `/h5`, the pages anyone on the internet can
//! open: a per-client-address rate limit, a visitor cookie for counting
//! landing visits once, and the security headers of a public page.
//!
//! The limit is a token bucket per address in this node's memory: it bounds
//! what one client can make one node do, which is all a public page needs;
//! the visit counting that must hold across nodes is in the database (the
//! event's dedup key).

use crate::error::WebError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The cookie naming one browser to the landing pages.
const VISITOR_COOKIE: &str = "koi_v";

/// Addresses tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Scripts and styles come from koi only; QR images from WeCom's CDN (or
/// the simulator); WeChat and WeCom may show the page inside their own web
/// views, which is why there is no `X-Frame-Options: DENY`, only frame
/// ancestors limited to koi and WeChat's/WeCom's origins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'self' https://*.qq.com https://*.weixin.qq.com https://*.work.weixin.qq.com";

/// Who is asking, as the landing page's visit counting sees them.
#[derive(Debug, Clone)]
pub struct Visitor(pub String);

/// The client's address, as the rate limit counts it.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

pub struct H5Guard {
    /// Requests a client address may make per minute (also the burst).
    per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry (koi
    /// behind a reverse proxy that appends it) instead of the peer.
    trust_forwarded_for: bool,
    secure_cookies: bool,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl H5Guard {
    pub fn new(per_minute: u32, trust_forwarded_for: bool, secure_cookies: bool) -> Arc<Self> {
        Arc::new(H5Guard {
            per_minute: per_minute.max(1),
            trust_forwarded_for,
            secure_cookies,
            buckets: Mutex::default(),
        })
    }

    /// Takes a token for `addr`; `Err(seconds)` until the next one.
    fn take(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            // A full bucket is the same as no bucket: forget those.
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_second < capacity);
        }
        let b = map.entry(addr).or_insert(Bucket { tokens: capacity, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

fn visitor_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let value = c.trim().strip_prefix(VISITOR_COOKIE)?.strip_prefix('=')?;
        (value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())).then(|| value.to_string())
    })
}

/// The middleware: limits, identifies, and adds the headers, on `/h5/…` only.
pub async fn guard(State(guard): State<Arc<H5Guard>>, mut req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/h5/") {
        return next.run(req).await;
    }
    let addr = crate::auth::client_addr(req.headers(), req.extensions(), guard.trust_forwarded_for);
    let mut res = match guard.take(addr, Instant::now()) {
        Err(retry_after_s) => WebError::RateLimited { retry_after_s }.into_response(),
        Ok(()) => {
            let cookie = visitor_cookie(req.headers());
            // A browser that kept the cookie is one visitor on any network;
            // a client that sends none is its address.
            let visitor = cookie.clone().map_or_else(|| format!("addr:{addr}"), |c| format!("cookie:{c}"));
            req.extensions_mut().insert(Visitor(visitor));
            req.extensions_mut().insert(ClientAddr(addr.to_string()));
            let mut res = next.run(req).await;
            if cookie.is_none() && res.status().is_success() {
                let value = format!(
                    "{VISITOR_COOKIE}={}; Path=/h5; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
                    uuid::Uuid::new_v4().simple(),
                    if guard.secure_cookies { "; Secure" } else { "" }
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The landing URL names the code; QR images load from WeCom's CDN.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_cut_and_the_bucket_refills() {
        let g = H5Guard::new(60, false, false);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(g.take(a, t0).is_ok());
        }
        assert_eq!(g.take(a, t0), Err(1), "one a second after the burst");
        assert!(g.take(b, t0).is_ok(), "another address has its own bucket");
        assert!(g.take(a, t0 + Duration::from_millis(1_000)).is_ok());
        assert!(g.take(a, t0 + Duration::from_millis(1_000)).is_err());
    }

    #[test]
    fn only_a_well_formed_visitor_cookie_counts() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; koi_v=0123456789abcdef0123456789abcdef"));
        assert_eq!(visitor_cookie(&h).as_deref(), Some("0123456789abcdef0123456789abcdef"));
        h.insert(header::COOKIE, HeaderValue::from_static("koi_v=short; koi_vx=0123456789abcdef0123456789abcdef"));
        assert_eq!(visitor_cookie(&h), None);
    }
}
