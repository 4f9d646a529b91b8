//! The API and console as integrations and people use them, on both
//! databases: corps stay apart, bad input is refused and changes nothing.

use crate::support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_story_sqlite() {
    api_story("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_story_postgres() {
    api_story("postgres").await;
}

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

async fn api_story(backend: &str) {
    let db = scratch(backend).await;
    let a = tenant(&db.url, "wwAAAA");
    let b = tenant(&db.url, "wwBBBB");
    let server = Server::serve(&db.url);
    let key_a = api_key(&server, &a.owner).await;
    let key_b = api_key(&server, &b.owner).await;
    let http = reqwest::Client::new();
    use reqwest::Method as M;

    // Who am I
    let (s, me) = call(&http, M::GET, server.url("/api/v1/me"), &key_a, None).await;
    assert_eq!((s, me["corp_id"].as_i64(), me["role"].as_str()), (200, Some(a.id), Some("hq_operator")));

    // Create, conflict, validation
    let store = json!({"code": "SH-001", "name": "静安店", "lat": 31.22, "lng": 121.45, "region": "华东"});
    let (s, created) = call(&http, M::POST, server.url("/api/v1/stores"), &key_a, Some(store.clone())).await;
    assert_eq!(s, 201, "{created}");
    let store_id = created["id"].as_i64().expect("id");
    let (s, e) = call(&http, M::POST, server.url("/api/v1/stores"), &key_a, Some(store.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("duplicate_store_code")));
    let (s, e) = call(
        &http,
        M::POST,
        server.url("/api/v1/stores"),
        &key_a,
        Some(json!({"code": "X", "name": "x", "lat": 123.0, "lng": 1.0})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["fields"][0]["field"].as_str()),
        (422, Some("invalid_input"), Some("lat"))
    );
    let r = http
        .post(server.url("/api/v1/stores"))
        .bearer_auth(&key_a)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    let huge = format!("{{\"code\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    // A client of its own: the server closes a connection whose body it did
    // not read, which a pooled connection would carry into the next call.
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/stores"))
        .bearer_auth(&key_a)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "a body over the limit is too large, not malformed");
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
    let (s, e) =
        call(&http, M::POST, server.url("/api/v1/stores"), &key_a, Some(json!({"code": "S".repeat(40), "name": "x"})))
            .await;
    assert_eq!((s, e["error"]["fields"][0]["code"].as_str()), (422, Some("too_long")), "a field over its limit");

    // Unknown key, no key, a wrong path parameter, an unknown route
    let (s, e) = call(&http, M::GET, server.url("/api/v1/stores"), "koi_not_a_key", None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthenticated")));
    let r = http.get(server.url("/api/v1/stores")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (s, e) = call(&http, M::GET, server.url("/api/v1/stores/abc"), &key_a, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, e) = call(&http, M::GET, server.url("/api/v1/nothing-here"), &key_a, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));

    // Corp B can neither see nor change corp A's store
    let (s, _) = call(&http, M::GET, server.url(&format!("/api/v1/stores/{store_id}")), &key_b, None).await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &http,
        M::PUT,
        server.url(&format!("/api/v1/stores/{store_id}")),
        &key_b,
        Some(json!({"code": "HACK", "name": "x"})),
    )
    .await;
    assert_eq!(s, 404);
    let (_, list_b) = call(&http, M::GET, server.url("/api/v1/stores"), &key_b, None).await;
    assert_eq!(list_b.as_array().map(Vec::len), Some(0));
    let (_, still) = call(&http, M::GET, server.url(&format!("/api/v1/stores/{store_id}")), &key_a, None).await;
    assert_eq!(still["code"], "SH-001");

    // CSV import: one bad row rejects the file and changes nothing
    let bad = "code,name,lat,lng\nSH-002,徐家汇店,31.19,121.43\nSH-003,坏纬度店,91.5,121.4\nSH-002,重复,31,121\n";
    let r = http
        .post(server.url("/api/v1/stores/import"))
        .bearer_auth(&key_a)
        .header("content-type", "text/csv")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    let rows: Vec<(i64, String)> = e["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["code"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(rows, [(3, "out_of_range".to_string()), (4, "duplicate_code".to_string())]);
    let (_, list) = call(&http, M::GET, server.url("/api/v1/stores"), &key_a, None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "nothing half-imported");
    let good = "门店编码,门店名称,纬度,经度\nSH-001,静安嘉里中心店,31.2243,121.4465\nSH-002,徐家汇店,31.19,121.43\n";
    let r = http.post(server.url("/api/v1/stores/import")).bearer_auth(&key_a).body(good).send().await.unwrap();
    let report: Value = r.json().await.unwrap();
    assert_eq!((report["created"].as_i64(), report["updated"].as_i64()), (Some(1), Some(1)), "{report}");

    // Staff, bound to stores; B's store ids cannot be borrowed
    let (_, stores) = call(&http, M::GET, server.url("/api/v1/stores"), &key_a, None).await;
    let ids: Vec<i64> = stores.as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
    let (s, member) = call(
        &http,
        M::POST,
        server.url("/api/v1/staff"),
        &key_a,
        Some(json!({"userid": "wang.fang", "name": "王芳", "store_ids": ids})),
    )
    .await;
    assert_eq!(s, 201, "{member}");
    assert_eq!(member["store_ids"].as_array().map(Vec::len), Some(2));
    let (s, e) = call(
        &http,
        M::POST,
        server.url("/api/v1/staff"),
        &key_b,
        Some(json!({"userid": "x", "name": "x", "store_ids": [ids[0]]})),
    )
    .await;
    assert_eq!((s, e["error"]["fields"][0]["code"].as_str()), (422, Some("unknown_store")));
    let r = http
        .post(server.url("/api/v1/staff/import"))
        .bearer_auth(&key_a)
        .body("userid,name,stores\nli.na,李娜,SH-002\nzhao,赵,NOPE\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (_, staff) = call(&http, M::GET, server.url("/api/v1/staff"), &key_a, None).await;
    assert_eq!(staff.as_array().map(Vec::len), Some(1));

    // Dead letters show up and can be retried
    koi(&["jobs", "selftest", "--database-url", &db.url, "--corp", &a.id.to_string(), "--fail"]);
    let dead = wait_for(|| async {
        let (_, jobs) = call(&http, M::GET, server.url("/api/v1/jobs?state=dead"), &key_a, None).await;
        jobs.as_array().filter(|j| !j.is_empty()).cloned()
    })
    .await;
    assert_eq!(dead[0]["last_error"], "self-test job asked to fail");
    let (s, _) = call(&http, M::POST, server.url(&format!("/api/v1/jobs/{}/retry", dead[0]["id"])), &key_b, None).await;
    assert_eq!(s, 404, "corp B cannot retry corp A's job");
    let (s, e) = call(&http, M::GET, server.url("/api/v1/jobs?state=bogus"), &key_a, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));

    // The OpenAPI document describes what is served
    let doc: Value = http.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/me",
        "/stores",
        "/stores/{id}",
        "/stores/import",
        "/staff",
        "/staff/{id}",
        "/staff/import",
        "/staff/sync",
        "/jobs",
        "/jobs/{id}/retry",
        "/customers/{id}/profile",
        "/customers/{id}/tags",
        "/customers/{id}/fields",
        "/customers/{id}/events",
        "/tags",
        "/tags/{id}",
        "/tags/sync",
        "/tags/bulk",
        "/tag-rules",
        "/tag-rules/{id}",
        "/fields",
        "/value-rules",
        "/segments/evaluate",
        "/segments",
        "/segments/{id}",
        "/segments/{id}/export",
        "/groups",
        "/groups/{id}",
        "/groups/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }

    console_story(&server, &db.url, &a).await;
}

/// Polls `f` until it yields a value (10 s at most).
pub async fn wait_for<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("condition not met within 10 s");
}

/// People in the console: wrong passwords, CSRF, expired sessions, and a
/// store manager who sees only their store.
async fn console_story(server: &Server, db_url: &str, a: &Tenant) {
    let anon = browser_like();
    let r = anon
        .post(server.url("/console/login"))
        .form(&[("username", a.owner.as_str()), ("password", "wrong-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("id=\"login-error\""));
    let r = anon.get(server.url("/console/stores")).send().await.unwrap();
    assert_eq!(r.status(), 303, "no session: to the login page");
    assert_eq!(r.headers()["location"], "/console/login?next=%2Fconsole%2Fstores");

    let owner = login(server, &a.owner, PASSWORD).await;
    // A form post without (or with a wrong) CSRF token is refused and changes nothing.
    for token in [None, Some("0".repeat(64))] {
        let mut form = vec![("code", "CSRF-1".to_string()), ("name", "x".to_string())];
        if let Some(t) = token {
            form.push(("_csrf", t));
        }
        let r = owner.post(server.url("/console/stores")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("data-code=\"csrf_failed\""));
    }
    let page = owner.get(server.url("/console/stores")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("CSRF-1"));

    // A bad latitude in the console form: 422, the message, nothing created.
    let token = csrf(&owner, server, "/console/stores").await;
    let r = owner
        .post(server.url("/console/stores"))
        .form(&[("_csrf", token.as_str()), ("code", "SH-009"), ("name", "新店"), ("lat", "north"), ("lng", "121")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("data-field=\"lat\""));
    let r = owner
        .post(server.url("/console/stores"))
        .form(&[("_csrf", token.as_str()), ("code", "SH-009"), ("name", "新店"), ("lat", "31.1"), ("lng", "121.3")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/stores?ok=created");
    // "lat,lng" pasted in one field: checked (both numbers, in range, in
    // that order) with a message in the console's language, then saved.
    for bad in ["31.2397", "121.4998, 31.2397", "31.2397,east"] {
        let r = owner
            .post(server.url("/console/stores"))
            .form(&[("_csrf", token.as_str()), ("code", "SH-010"), ("name", "陆家嘴店"), ("coords", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let html = r.text().await.unwrap();
        assert!(html.contains("data-field=\"coords\" data-code=\"bad_coordinates\""), "{bad}");
        assert!(html.contains("坐标应为“纬度,经度”"), "{bad}: the message in Chinese");
    }
    let r = owner
        .post(server.url("/console/stores"))
        .form(&[("_csrf", token.as_str()), ("code", "SH-010"), ("name", "陆家嘴店"), ("coords", "31.2397，121.4998")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/stores?ok=created");
    let page = owner.get(server.url("/console/stores")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("31.2397, 121.4998"), "both coordinates saved from one field");

    // A store manager of SH-001 sees that store only, and no admin pages.
    let stores_html = owner.get(server.url("/console/stores")).send().await.unwrap().text().await.unwrap();
    let sh1 = stores_html
        .split("href=\"/console/stores/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a store link")
        .to_string();
    let mgr_id = koi(&[
        "user",
        "add",
        "--database-url",
        db_url,
        "--corp",
        &a.id.to_string(),
        "--username",
        "mgr-a",
        "--role",
        "store_manager",
        "--store",
        &sh1,
        "--password",
        PASSWORD,
    ]);
    let mgr = login(server, "mgr-a", PASSWORD).await;
    let html = mgr.get(server.url("/console/stores")).send().await.unwrap().text().await.unwrap();
    assert_eq!(html.matches("href=\"/console/stores/").count(), 1, "one store visible");
    let r = mgr.get(server.url("/console/users")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let other =
        stores_html.split("href=\"/console/stores/").nth(2).and_then(|s| s.split('"').next()).expect("a second store");
    let r = mgr.get(server.url(&format!("/console/stores/{other}"))).send().await.unwrap();
    assert_eq!(r.status(), 404, "another store is invisible to the manager");

    let r = mgr
        .post(server.url(&format!("/console/stores/{other}")))
        .form(&[("_csrf", csrf(&mgr, server, "/console/stores").await.as_str()), ("code", "TAKEN"), ("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a manager cannot edit a store they do not manage");
    let token = csrf(&mgr, server, "/console/staff").await;
    let r = mgr
        .post(server.url("/console/staff"))
        .form(&[("_csrf", token.as_str()), ("userid", "sneaky"), ("name", "x"), ("active", "1"), ("store_ids", other)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "nor put staff in another store");
    assert!(r.text().await.unwrap().contains("data-code=\"unknown_store\""));

    // Console pages stay out of caches and frames.
    let r = mgr.get(server.url("/console/stores")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-frame-options"], "DENY");

    // A new password ends the user's sessions: an owner's reset in the
    // console (a short one is refused and changes nothing), and the CLI's.
    let reset = format!("/console/users/{mgr_id}/password");
    let token = csrf(&owner, server, "/console/users").await;
    let r =
        owner.post(server.url(&reset)).form(&[("_csrf", token.as_str()), ("password", "short")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("data-code=\"too_short\""));
    assert_eq!(mgr.get(server.url("/console/stores")).send().await.unwrap().status(), 200, "still signed in");
    let r = owner.post(server.url(&reset)).form(&[("password", "another-password")]).send().await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no reset");
    let r = owner
        .post(server.url(&reset))
        .form(&[("_csrf", token.as_str()), ("password", "another-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/console/users?ok=password_reset");
    let html = owner.get(server.url("/console/users?ok=password_reset")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("密码已重置"), "the flash says so");
    assert_eq!(mgr.get(server.url("/console/stores")).send().await.unwrap().status(), 303, "the old cookie is dead");
    let mgr = login(server, "mgr-a", "another-password").await;
    koi(&["user", "passwd", "--database-url", db_url, "--username", "mgr-a", "--password", PASSWORD]);
    assert_eq!(mgr.get(server.url("/console/stores")).send().await.unwrap().status(), 303, "koi user passwd too");
    // And a new role: the manager of one store becomes the manager of two.
    let mgr = login(server, "mgr-a", PASSWORD).await;
    let role = format!("/console/users/{mgr_id}/role");
    let form = |r: &str| {
        vec![
            ("_csrf", token.clone()),
            ("role", r.to_string()),
            ("store_ids", sh1.clone()),
            ("store_ids", other.to_string()),
        ]
    };
    let r = owner.post(server.url(&role)).form(&form("admiral")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("data-code=\"invalid_role\""));
    assert_eq!(
        mgr.get(server.url("/console/stores")).send().await.unwrap().status(),
        200,
        "a refused change ends nothing"
    );
    let r = owner.post(server.url(&role)).form(&form("store_manager")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/console/users?ok=role_changed");
    assert_eq!(mgr.get(server.url("/console/stores")).send().await.unwrap().status(), 303, "a new role ends sessions");
    let mgr = login(server, "mgr-a", PASSWORD).await;
    let html = mgr.get(server.url("/console/stores")).send().await.unwrap().text().await.unwrap();
    assert_eq!(html.matches("href=\"/console/stores/").count(), 2, "both stores now");

    // A sign-in posted from another site is refused; so is guessing.
    let r = browser_like()
        .post(server.url("/console/login"))
        .header("origin", "http://evil.example")
        .form(&[("username", "mgr-a"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    for _ in 0..5 {
        let r = anon
            .post(server.url("/console/login"))
            .form(&[("username", "MGR-A"), ("password", "guess")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = anon
        .post(server.url("/console/login"))
        .form(&[("username", "mgr-a"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "after 5 failures even the right password waits");
    let r = anon
        .post(server.url("/console/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("username", "mgr-a"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "koi is not behind a proxy: a forwarded address is not believed");

    // Logging out ends the session: the old cookie no longer works.
    let token = csrf(&owner, server, "/console").await;
    let r = owner.post(server.url("/console/logout")).form(&[("_csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = owner.get(server.url("/console/stores")).send().await.unwrap();
    assert_eq!(r.status(), 303);

    // The CLI refuses bad flags and bad values with a clear message.
    assert!(koi_fails(&["corp", "add", "--nme", "x"]).contains("--nme"));
    let err = koi_fails(&[
        "corp",
        "add",
        "--database-url",
        db_url,
        "--name",
        "x",
        "--corp-id",
        "wwX",
        "--secret",
        "s",
        "--token",
        "t0k",
        "--aes-key",
        "short",
    ]);
    assert!(err.contains("EncodingAESKey"), "{err}");
}

/// A session past its lifetime no longer opens the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_sent_to_login() {
    let db = scratch("sqlite").await;
    let a = tenant(&db.url, "wwEXPIRE");
    // 0.0005 h = 1.8 s
    let server =
        Server::start(&["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url, "--session-hours", "0.0005"]);
    // The cookie is sent by hand: the browser would drop it at its Max-Age,
    // and the point is that the server refuses the session itself.
    let r = browser_like()
        .post(server.url("/console/login"))
        .form(&[("username", a.owner.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let open = |cookie: String| plain.get(server.url("/console/stores")).header("cookie", cookie).send();
    assert_eq!(open(cookie.clone()).await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    let r = open(cookie).await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/console/login"));
    let bad = koi_fails(&["serve", "--database-url", &db.url, "--session-hours", "0"]);
    assert!(bad.contains("--session-hours"), "{bad}");
}
