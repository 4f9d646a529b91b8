//! The admin commands an operator or a CI set-up runs beside `koi serve`:
//! API keys without the console, and rotating the master key.

use crate::support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_add_prints_a_working_key_sqlite() {
    key_add_prints_a_working_key("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_add_prints_a_working_key_postgres() {
    key_add_prints_a_working_key("postgres").await;
}

async fn me(server: &Server, key: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(server.url("/api/v1/me")).bearer_auth(key).send().await.expect("GET /me");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn key_add_prints_a_working_key(backend: &str) {
    let db = scratch(backend).await;
    let a = tenant(&db.url, "wwKEYA");
    let corp = a.id.to_string();

    let plain = koi(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", "ci", "--role", "owner"]);
    assert!(plain.starts_with("koi_") && !plain.contains(char::is_whitespace), "the bare key: {plain}");
    let json: Value = serde_json::from_str(&koi(&[
        "key",
        "add",
        "--database-url",
        &db.url,
        "--corp",
        &corp,
        "--name",
        "shop sync",
        "--json",
    ]))
    .expect("--json prints JSON");
    assert_eq!((json["corp_id"].as_i64(), json["role"].as_str()), (Some(a.id), Some("hq_operator")));
    let json_key = json["key"].as_str().expect("key").to_string();
    assert!(json["id"].as_i64().is_some());

    // Refused: no such corp, a role API keys cannot have, no name.
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", "999", "--name", "x"]).contains("no corp"));
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", "x", "--role", "guide"])
        .contains("owner or hq_operator"));
    assert!(koi_fails(&["key", "add", "--database-url", &db.url, "--corp", &corp, "--name", " "]).contains("name"));

    let server = Server::serve(&db.url);
    let (s, body) = me(&server, &plain).await;
    assert_eq!((s, body["corp_id"].as_i64(), body["role"].as_str()), (200, Some(a.id), Some("owner")), "{body}");
    let (s, body) = me(&server, &json_key).await;
    assert_eq!((s, body["role"].as_str()), (200, Some("hq_operator")), "{body}");
    let (s, _) = me(&server, &format!("{plain}0")).await;
    assert_eq!(s, 401, "a key that was never printed does not work");

    // The console lists both keys by name, and only their prefixes.
    let c = login(&server, &a.owner, PASSWORD).await;
    let html = c.get(server.url("/console/api-keys")).send().await.expect("page").text().await.expect("body");
    assert!(html.contains("ci") && html.contains("shop sync"), "both keys listed");
    assert!(!html.contains(&plain[12..]) && !html.contains(&json_key[12..]), "the keys themselves are not shown");
}
