//! Who is calling: an API key (`Authorization: Bearer koi_…`) for `/api/v1`,
//! a session cookie for `/console`. Both end in a [`Principal`]; console
//! writes also prove they come from koi's own pages with a CSRF token.

use crate::error::WebError;
use crate::i18n::Lang;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use koi_engine::auth::SessionContext;
use koi_engine::{EngineError, Principal};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "koi_session";
pub const LANG_COOKIE: &str = "koi_lang";

/// The address a request came from, for limiting sign-in attempts: the
/// socket's peer, or, when koi is told it sits behind a proxy
/// ([`WebConfig::trust_forwarded_for`](crate::WebConfig)), the last address
/// in `X-Forwarded-For` (the one the proxy saw). Never refuses: without a
/// socket (in-process tests) it is the unspecified address.
pub struct ClientAddr(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(&parts.headers, &parts.extensions, state.config.trust_forwarded_for)))
    }
}

/// The client's address: the socket's peer, or with `trust_forwarded_for`
/// the last address of the last `X-Forwarded-For` header (what the nearest
/// proxy appended; whatever the client sent itself comes before it). Served
/// without connection info (an in-process test), the unspecified address.
pub(crate) fn client_addr(
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    trust_forwarded_for: bool,
) -> std::net::IpAddr {
    let forwarded = || {
        let last = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
        last.rsplit(',').next()?.trim().parse().ok()
    };
    let peer = || extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    trust_forwarded_for.then(forwarded).flatten().or_else(peer).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

/// The principal behind an API key.
pub struct ApiCaller(pub Principal);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(EngineError::Unauthenticated)?;
        Ok(ApiCaller(state.engine.api_principal(token).await?))
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::from_cookie(cookie(headers, LANG_COOKIE))
}

/// A signed-in console user. Without a live session the request is sent
/// to the login page, which brings the user back afterwards.
pub struct Console {
    pub ctx: SessionContext,
    pub lang: Lang,
    pub path: String,
}

impl Console {
    pub fn who(&self) -> &Principal {
        &self.ctx.principal
    }

    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), WebError> {
        let expected = self.ctx.csrf_token.as_bytes();
        match token {
            Some(t) if bool::from(t.as_bytes().ct_eq(expected)) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }
}

pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        let next = serde_urlencoded::to_string([("next", self.0)]).unwrap_or_default();
        Redirect::to(&format!("/console/login?{next}")).into_response()
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        // Nested routers see a path without their prefix; the original URI is
        // where the user should come back to.
        let uri = parts.extensions.get::<axum::extract::OriginalUri>().map_or(&parts.uri, |o| &o.0);
        let path = uri.path_and_query().map_or("/console".to_string(), |p| p.to_string());
        let token =
            cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| LoginRedirect(path.clone()).into_response())?;
        match state.engine.session(token).await {
            Ok(ctx) => Ok(Console { ctx, lang: lang_of(&parts.headers), path }),
            Err(EngineError::Unauthenticated) => Err(LoginRedirect(path).into_response()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

/// A console form post: the session, its CSRF check passed, and the fields.
/// Fields stay a list of pairs because checkbox groups repeat a name.
pub struct ConsoleForm {
    pub console: Console,
    pub fields: Vec<(String, String)>,
}

impl ConsoleForm {
    pub fn get(&self, name: &str) -> &str {
        self.fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl FromRequest<AppState> for ConsoleForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, crate::BODY_LIMIT)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            crate::console::error_page(&console, WebError::bad_request("malformed_form", e.to_string()))
        })?;
        let token = fields.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.as_str());
        if let Err(e) = console.check_csrf(token) {
            return Err(crate::console::error_page(&console, e));
        }
        Ok(ConsoleForm { console, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_address_is_the_last_forwarded_one() {
        let peer: std::net::SocketAddr = "192.0.2.9:5000".parse().unwrap();
        let mut ext = axum::http::Extensions::new();
        ext.insert(axum::extract::ConnectInfo(peer));
        let addr = |h: &HeaderMap, trust| client_addr(h, &ext, trust);
        let mut h = HeaderMap::new();
        assert_eq!(addr(&h, true), peer.ip(), "no header: the peer");
        h.append("x-forwarded-for", "6.6.6.6, 10.0.0.7".parse().unwrap());
        assert_eq!(addr(&h, true), std::net::IpAddr::from([10, 0, 0, 7]));
        assert_eq!(addr(&h, false), peer.ip(), "the header counts only when trusted");
        h.append("x-forwarded-for", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(addr(&h, true), "2001:db8::1".parse::<std::net::IpAddr>().unwrap());
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(addr(&h, true), peer.ip());
        assert_eq!(client_addr(&h, &axum::http::Extensions::new(), false), std::net::IpAddr::from([0, 0, 0, 0]));
    }
}
