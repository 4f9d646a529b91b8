//! WeChat Pay settings as an owner and an integration meet them, through
//! the real `koi serve`: the keys are write-only, an HQ operator reads but
//! may not change them, bad input is refused and changes nothing, the
//! console form saves and shows them, and the OpenAPI document lists them.

use crate::support::*;
use serde_json::{json, Value};

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = c.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An API key of `role`, made in the console by the owner.
async fn key_of(server: &Server, owner: &str, role: &str) -> String {
    let c = login(server, owner, PASSWORD).await;
    let token = csrf(&c, server, "/console/api-keys").await;
    let form = [("_csrf", token.as_str()), ("name", "pay e2e"), ("role", role)];
    let html =
        c.post(server.url("/console/api-keys")).form(&form).send().await.expect("key").text().await.expect("body");
    let at = html.find("id=\"new-key\">").expect("the new key is shown once") + 13;
    html[at..].split('<').next().expect("key").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_settings_are_write_only_and_refuse_bad_input() {
    let db = scratch("sqlite").await;
    let t = tenant(&db.url, "wwPAYE2E");
    let server = Server::serve(&db.url);
    let operator = key_of(&server, &t.owner, "hq_operator").await;
    let owner = key_of(&server, &t.owner, "owner").await;
    let http = reqwest::Client::new();
    let url = server.url("/api/v1/settings/pay");
    use reqwest::Method as M;

    let (s, none) = call(&http, M::GET, url.clone(), &operator, None).await;
    assert_eq!(
        (s, none["enabled"].as_bool(), none["api_key_set"].as_bool()),
        (200, Some(false), Some(false)),
        "{none}"
    );
    let good = json!({
        "enabled": true, "mch_id": "1900000109", "api_key": "merchant-key-e2e-0123456789abcdef",
        "workwx_secret": "pay-app-secret-e2e", "base_url": "http://127.0.0.1:9/pay",
        "act_name": "老带新", "wishing": "恭喜发财"
    });
    let (s, e) = call(&http, M::PUT, url.clone(), &operator, Some(good.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")), "an HQ operator may not change them");

    // Turned on without the secrets, or with a bad merchant number: 422, nothing saved.
    let mut half = good.clone();
    half["api_key"] = json!("");
    let (s, e) = call(&http, M::PUT, url.clone(), &owner, Some(half)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    let (s, e) = call(&http, M::PUT, url.clone(), &owner, Some(json!({"enabled": false, "mch_id": "19x"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    assert_eq!(call(&http, M::GET, url.clone(), &owner, None).await.1, none, "nothing changed");

    let (s, saved) = call(&http, M::PUT, url.clone(), &owner, Some(good)).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["wxappid"], "wwPAYE2E", "the CorpID by default");
    assert_eq!((saved["api_key_set"].as_bool(), saved["workwx_secret_set"].as_bool()), (Some(true), Some(true)));
    let (_, read) = call(&http, M::GET, url.clone(), &operator, None).await;
    let text = read.to_string();
    assert!(!text.contains("merchant-key-e2e") && !text.contains("pay-app-secret-e2e"), "{text}");
    // An edit with the secrets left empty keeps them.
    let edit = json!({"enabled": true, "mch_id": "1900000110", "act_name": "新活动", "wishing": "祝福"});
    let (s, edited) = call(&http, M::PUT, url.clone(), &owner, Some(edit)).await;
    assert_eq!((s, edited["mch_id"].as_str(), edited["api_key_set"].as_bool()), (200, Some("1900000110"), Some(true)));

    // The console: the section shows the settings; a bad save says why and keeps the rest.
    let console = login(&server, &t.owner, PASSWORD).await;
    let page = console.get(server.url("/console/settings")).send().await.expect("page").text().await.expect("body");
    assert!(page.contains("id=\"pay-settings\"") && page.contains("value=\"1900000110\""), "the pay section");
    assert!(!page.contains("merchant-key-e2e"), "the key is never on the page");
    let token = csrf(&console, &server, "/console/settings").await;
    let bad = [
        ("_csrf", token.as_str()),
        ("pay_enabled", "on"),
        ("mch_id", "abc"),
        ("act_name", "活动"),
        ("wishing", "祝福"),
    ];
    let r = console.post(server.url("/console/settings/pay")).form(&bad).send().await.expect("post");
    assert_eq!(r.status(), 422);
    let body = r.text().await.expect("body");
    assert!(body.contains("id=\"pay-errors\"") && body.contains("data-field=\"mch_id\""), "the error is shown");
    let ok = [("_csrf", token.as_str()), ("mch_id", "1900000111"), ("act_name", "活动"), ("wishing", "祝福")];
    let r = console.post(server.url("/console/settings/pay")).form(&ok).send().await.expect("post");
    assert_eq!(r.status(), 303, "saved (and turned off: the box was not ticked)");
    let (_, now) = call(&http, M::GET, url.clone(), &owner, None).await;
    assert_eq!(
        (now["enabled"].as_bool(), now["mch_id"].as_str(), now["api_key_set"].as_bool()),
        (Some(false), Some("1900000111"), Some(true))
    );

    let doc: Value = http.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["paths"]["/settings/pay"]["put"].is_object(), "the OpenAPI document lists it");
    assert!(doc["components"]["schemas"]["PaySettingsInput"].is_object());
}
