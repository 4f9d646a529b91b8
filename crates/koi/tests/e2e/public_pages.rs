//! The public `/h5` pages as an attacker meets them: a burst from one
//! address is cut with 429 `rate_limited`, repeated asks do not inflate the
//! landing visits, and every answer carries the headers of a public page.

use crate::acquisition::Acq;
use crate::support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_limited_and_visits_count_once_sqlite() {
    a_burst_is_limited_and_visits_count_once("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_limited_and_visits_count_once_postgres() {
    a_burst_is_limited_and_visits_count_once("postgres").await;
}

fn assert_public_headers(r: &reqwest::Response) {
    let h = r.headers();
    let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'self' https://*.qq.com"), "{csp}");
    assert_eq!(h.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
    assert_eq!(h.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"no-referrer"[..]));
    assert!(h.get("x-frame-options").is_none(), "WeChat's web view may frame the page");
}

async fn a_burst_is_limited_and_visits_count_once(backend: &str) {
    let acq = Acq::start(backend).await;
    let geo = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "就近门店", "pool": [{"staff_id": acq.staff[0]}],
                   "routing": {"kind": "nearest_store", "radius_m": 2000, "fallback_store_id": acq.store_id}}),
        )
        .await;
    // The landing page is reached by the code's random public token.
    let landing = geo["landing_path"].as_str().unwrap_or_else(|| panic!("{geo}")).to_string();
    // The fallback store needs a code of its own to show.
    let poster =
        json!({"name": "静安海报", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": acq.staff[1]}]});
    assert!(acq.post("/api/v1/channel-codes", poster).await["id"].is_i64());
    let page_url = acq.server.url(&landing);
    let locate_url = acq.server.url(&format!("{landing}/locate"));
    let visits = || async { acq.db.db.events(1, Some("landing.visit"), None, 1000).await.unwrap().len() };

    let page = acq.http.get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_public_headers(&page);
    let answer = acq.http.post(&locate_url).json(&json!({"lat": 31.2243, "lng": 121.4465})).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_public_headers(&answer);

    // A script POSTs 100 times at once from one address, sending no cookie.
    let burst = (0..100).map(|_| {
        let (http, url) = (acq.http.clone(), locate_url.clone());
        tokio::spawn(async move { http.post(url).json(&json!({})).send().await.unwrap() })
    });
    let mut ok = 0;
    let mut limited = None;
    for r in join_all(burst).await {
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited = Some(r),
            s => panic!("unexpected {s}"),
        }
    }
    let limited = limited.expect("a burst of 100 is cut");
    assert!(ok < 60, "at most the per-minute allowance gets through: {ok}");
    assert_public_headers(&limited);
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(visits().await, 1, "one address without a cookie is one visitor, however often it asks");

    // Other pages are not limited by the burst.
    assert_eq!(acq.http.get(acq.server.url("/healthz")).send().await.unwrap().status(), 200);

    // Once the bucket refills, a phone with its own cookie is a new visitor,
    // counted once however often it asks again.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let phone = browser_like();
    let r = phone.get(&page_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(cookie.starts_with("koi_v=") && cookie.contains("HttpOnly"), "{cookie}");
    for _ in 0..2 {
        let r = phone.post(&locate_url).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(visits().await, 2);
}

/// Awaits every task, in order.
async fn join_all(tasks: impl Iterator<Item = tokio::task::JoinHandle<reqwest::Response>>) -> Vec<reqwest::Response> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.expect("request task"));
    }
    out
}
