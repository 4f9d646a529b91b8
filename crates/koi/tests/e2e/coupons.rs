//! Coupons, points and the points mall end to end, on both databases.
//!
//! Seed 001's 49-20 coupon issued to a segment within its stock and its
//! limit per customer; one coupon redeemed at the same moment from two koi
//! nodes on one database is redeemed once (and the same order again gets
//! the same answer); points adjusted and spent in the mall from the
//! customer's wallet sum to the balance; the wallet renders in chromium.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::Server;
use crate::webdriver::Browser;
use reqwest::Method;
use serde_json::{json, Value};

async fn call_on(acq: &Acq, base: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = acq.http.request(method, base.url(path)).bearer_auth(&acq.key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn call(acq: &Acq, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call_on(acq, &acq.server, method, path, body).await
}

/// Customers koi knows, each added through a plain code of wang.fang.
async fn customers(acq: &Acq, names: &[&str]) -> Vec<i64> {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    let config = made["config_id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for name in names {
        let out = acq.scan(&config, json!({ "name": name })).await;
        let ext = out["external_userid"].as_str().unwrap().to_string();
        let id = wait_for(|| async {
            let (_, list) = call(acq, Method::GET, &format!("/api/v1/customers?q={name}"), None).await;
            list.as_array()?.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
        })
        .await;
        ids.push(id);
    }
    ids
}

async fn template(acq: &Acq, body: Value) -> i64 {
    let (status, t) = call(acq, Method::POST, "/api/v1/coupon-templates", Some(body)).await;
    assert_eq!(status, 201, "{t}");
    t["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_issue_redeem_once_and_points_sum_sqlite() {
    coupons_issue_redeem_once_and_points_sum("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_issue_redeem_once_and_points_sum_postgres() {
    coupons_issue_redeem_once_and_points_sum("postgres").await;
}

async fn coupons_issue_redeem_once_and_points_sum(backend: &str) {
    let acq = Acq::start(backend).await;
    let people = customers(&acq, &["小美", "小丽", "小红"]).await;

    // 49-20, one a customer, two in stock, valid 30 days from issue.
    let t = template(
        &acq,
        json!({"name": "双11 满49减20", "kind": "threshold", "value_fen": 2000, "min_fen": 4900,
               "valid_days": 30, "per_customer": 1, "stock": 2}),
    )
    .await;
    let (status, bad) = call(
        &acq,
        Method::POST,
        "/api/v1/coupon-templates",
        Some(json!({"name": "", "kind": "threshold", "value_fen": 6000, "min_fen": 4900})),
    )
    .await;
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_input")), "{bad}");
    assert_eq!(call(&acq, Method::GET, "/api/v1/coupon-templates", None).await.1.as_array().unwrap().len(), 1);

    // To the segment of wang.fang's customers: three people, two coupons.
    let expr = format!("staff:{}", acq.staff[0]);
    let (status, seg) =
        call(&acq, Method::POST, "/api/v1/segments", Some(json!({"name": "王芳的客户", "expr": expr}))).await;
    assert_eq!(status, 201, "{seg}");
    let body = json!({"template_id": t, "segment_id": seg["id"]});
    let (status, issue) = call(&acq, Method::POST, "/api/v1/coupons/issue", Some(body)).await;
    assert_eq!((status, issue["planned"].as_i64()), (202, Some(3)), "{issue}");
    let issue_id = issue["id"].as_i64().unwrap();
    let done = wait_for(|| async {
        let (_, i) = call(&acq, Method::GET, &format!("/api/v1/coupons/issues/{issue_id}"), None).await;
        (i["state"] == "done").then_some(i)
    })
    .await;
    assert_eq!((done["issued"].as_i64(), done["out_of_stock"].as_i64()), (Some(2), Some(1)), "{done}");
    let (_, list) = call(&acq, Method::GET, &format!("/api/v1/coupons?template_id={t}"), None).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "never past the stock: {list:?}");
    let holder = list[0]["customer_id"].as_i64().unwrap();
    let code = list[0]["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 16);
    // The limit: a customer with one does not get a second by hand.
    let t2 = template(
        &acq,
        json!({"name": "¥10 无门槛", "kind": "cash", "value_fen": 1000, "valid_days": 7,
        "per_customer": 1}),
    )
    .await;
    let (status, _) =
        call(&acq, Method::POST, "/api/v1/coupons/issue", Some(json!({"template_id": t2, "customer_id": holder})))
            .await;
    assert_eq!(status, 201);
    let (status, again) =
        call(&acq, Method::POST, "/api/v1/coupons/issue", Some(json!({"template_id": t2, "customer_id": holder})))
            .await;
    assert_eq!((status, again["error"]["fields"][0]["code"].as_str()), (422, Some("over_limit")), "{again}");
    // Segments see who holds a usable coupon of the template.
    let (_, holders) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": format!("coupon:{t}")}))).await;
    assert_eq!(holders["count"].as_u64(), Some(2), "{holders}");

    // The check says what it takes off, and why not.
    let (_, check) =
        call(&acq, Method::POST, "/api/v1/coupons/check", Some(json!({"code": code, "amount_fen": 5900}))).await;
    assert_eq!((check["ok"].as_bool(), check["off_fen"].as_i64()), (Some(true), Some(2000)), "{check}");
    let (_, low) =
        call(&acq, Method::POST, "/api/v1/coupons/check", Some(json!({"code": code, "amount_fen": 4000}))).await;
    assert_eq!(low["refusal"].as_str(), Some("below_threshold"), "{low}");

    // Two koi nodes on one database; ten counters redeem the coupon at once.
    let args = ["serve", "--listen", "127.0.0.1:0", "--database-url", &acq.db.url, "--wecom-base-url"];
    let sim_url = acq.sim.base_url();
    let mut args = args.to_vec();
    args.push(&sim_url);
    let second = Server::start(&args);
    let nodes = [&acq.server, &second];
    let tries: Vec<_> = (0..10)
        .map(|i| {
            let node = nodes[i % 2];
            let body = json!({"code": code.to_lowercase(), "order_ref": format!("POS-{i}"), "amount_fen": 5900,
                          "store_id": acq.store_id});
            let (http, url, key) = (acq.http.clone(), node.url("/api/v1/coupons/redeem"), acq.key.clone());
            tokio::spawn(async move {
                let r = http.post(url).bearer_auth(key).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tries {
        let (status, v) = t.await.unwrap();
        match status {
            200 => won.push(v),
            409 => assert_eq!(v["error"]["code"], "already_redeemed", "{v}"),
            _ => panic!("unexpected {status}: {v}"),
        }
    }
    assert_eq!(won.len(), 1, "redeemed exactly once: {won:?}");
    let order = won[0]["order_ref"].as_str().unwrap().to_string();
    assert_eq!(won[0]["off_fen"].as_i64(), Some(2000));
    // The same order again is the same redemption (a retried POS call).
    let body = json!({"code": code, "order_ref": order, "amount_fen": 5900, "store_id": acq.store_id});
    let (status, same) = call_on(&acq, &second, Method::POST, "/api/v1/coupons/redeem", Some(body)).await;
    assert_eq!(
        (status, same["id"].clone(), same["order_ref"].as_str()),
        (200, won[0]["id"].clone(), Some(order.as_str()))
    );
    let (_, log) = call(&acq, Method::GET, "/api/v1/coupons?state=redeemed", None).await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    let (_, tpl) = call(&acq, Method::GET, &format!("/api/v1/coupon-templates/{t}"), None).await;
    assert_eq!((tpl["stats"]["redeemed"].as_i64(), tpl["stats"]["order_fen"].as_i64()), (Some(1), Some(5900)), "{tpl}");
    drop(second);

    // Points: by hand with a reason, never below zero, spent in the mall.
    let me = people[2];
    let path = format!("/api/v1/customers/{me}/points");
    let (status, acct) = call(&acq, Method::POST, &path, Some(json!({"points": 100, "reason": "门店补偿"}))).await;
    assert_eq!((status, acct["balance"].as_i64()), (200, Some(100)), "{acct}");
    let (status, acct) = call(&acq, Method::POST, &path, Some(json!({"points": -30, "reason": "误发"}))).await;
    assert_eq!((status, acct["balance"].as_i64()), (200, Some(70)), "{acct}");
    let (status, over) = call(&acq, Method::POST, &path, Some(json!({"points": -1000, "reason": "x"}))).await;
    assert_eq!((status, over["error"]["fields"][0]["code"].as_str()), (422, Some("insufficient_points")), "{over}");
    let (status, gift) = call(
        &acq,
        Method::POST,
        "/api/v1/mall/items",
        Some(json!({"name": "悦步帆布袋", "kind": "gift", "gift": "帆布袋", "points": 50, "stock": 1})),
    )
    .await;
    assert_eq!(status, 201, "{gift}");
    let gift = gift["id"].as_i64().unwrap();
    let (_, link) = call(&acq, Method::GET, &format!("/api/v1/customers/{me}/link"), None).await;
    let k = link["token"].as_str().unwrap_or_else(|| panic!("{link}")).to_string();
    let exchange = |key: &'static str| {
        let (http, url) = (acq.http.clone(), acq.server.url(&format!("/h5/wallet/exchange?k={k}")));
        async move {
            let r = http.post(url).json(&json!({"item_id": gift, "request_key": key})).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = exchange("tap-1").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["gift_code"].as_str().map(str::len), Some(16));
    let (status, twice) = exchange("tap-1").await;
    assert_eq!((status, twice["id"].clone()), (200, first["id"].clone()), "a double submit is one exchange");
    let (status, sold) = exchange("tap-2").await;
    assert_eq!((status, sold["error"]["fields"][0]["code"].as_str()), (422, Some("out_of_stock")), "{sold}");
    // A form from elsewhere (not JSON) changes nothing.
    let r = acq
        .http
        .post(acq.server.url(&format!("/h5/wallet/exchange?k={k}")))
        .form(&[("item_id", gift.to_string()), ("request_key", "forged".into())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let (_, acct) = call(&acq, Method::GET, &path, None).await;
    let sum: i64 = acct["ledger"].as_array().unwrap().iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!((acct["balance"].as_i64(), sum), (Some(20), 20), "the balance is the ledger's sum: {acct}");
    let (_, rich) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "points>=20", "ids": true}))).await;
    assert_eq!(rich["ids"], json!([me]), "{rich}");

    // The wallet page: the balance, the gift code, the coupons with a QR.
    let page = acq.http.get(acq.server.url(&format!("/h5/wallet?k={k}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("我的券包") && html.contains(first["gift_code"].as_str().unwrap()), "{html}");
    let unknown = acq.http.get(acq.server.url("/h5/wallet?k=nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

/// The customer's wallet as their phone shows it: coupons with their QR,
/// the balance, and an exchange that works from the page itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_renders_and_exchanges_in_chromium() {
    let acq = Acq::start("sqlite").await;
    let me = customers(&acq, &["小美"]).await[0];
    // The operator makes the template and issues it from the console,
    // finding the customer by name.
    let b = Browser::start().await;
    b.goto(&acq.server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", crate::support::PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "优惠券").await;
    b.click("nav a[href='/console/coupons']").await;
    b.wait_text("#coupon-templates", "还没有券模板").await;
    b.type_into("#coupon-template-form input[name=name]", "双11 满49减20").await;
    b.click("#coupon-template-form select[name=kind] option[value=threshold]").await;
    b.type_into("#coupon-template-form input[name=value]", "20").await;
    b.type_into("#coupon-template-form input[name=min]", "49").await;
    b.type_into("#coupon-template-form input[name=valid_days]", "30").await;
    b.click("#coupon-template-form button").await;
    b.wait_text("#coupon-templates", "满49减20").await;
    b.click("#coupon-issue-form select[name=template_id] option:nth-child(2)").await;
    b.type_into("#coupon-issue-form input[name=customer_q]", "小美").await;
    b.click("#coupon-issue-form button").await;
    b.wait_text("#coupon-templates .cp-issued", "1").await;
    let (_, list) = call(&acq, Method::GET, &format!("/api/v1/coupons?customer_id={me}"), None).await;
    let code = list[0]["code"].as_str().unwrap_or_else(|| panic!("{list}")).to_string();
    let t = list[0]["template_id"].as_i64().unwrap();
    b.click("nav a[href='/console/points']").await;
    b.wait_text("h1", "积分").await;
    let (status, _) = call(
        &acq,
        Method::POST,
        &format!("/api/v1/customers/{me}/points"),
        Some(json!({"points": 300, "reason": "开业礼"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &acq,
        Method::POST,
        "/api/v1/mall/items",
        Some(json!({"name": "¥20 券", "kind": "coupon", "template_id": t, "points": 200})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, link) = call(&acq, Method::GET, &format!("/api/v1/customers/{me}/link"), None).await;
    let url = acq.server.url(&format!("/h5/wallet?k={}", link["token"].as_str().unwrap()));

    b.resize(390, 844).await;
    b.goto(&url).await;
    assert_eq!(b.text("#balance").await, "300");
    assert!(b.exists(&format!("li[data-code='{code}'] .wallet-qr svg")).await, "the coupon's QR");
    assert_eq!(b.too_wide().await, "", "phone-sized");
    b.click("button.exchange").await;
    b.wait_text("#balance", "100").await;
    let (_, coupons) = call(&acq, Method::GET, &format!("/api/v1/coupons?customer_id={me}"), None).await;
    assert_eq!(coupons.as_array().unwrap().len(), 2, "the exchange issued a second coupon: {coupons}");
}
