//! Points for coming back and for reviewing, and coupons nobody issues by
//! hand, end to end on both databases: a daily check-in earns once a day
//! however many taps arrive at once; a done order is reviewed once (by
//! the shop's API or the customer's page) and earns the review points; a
//! tag rule and a channel code's welcome each issue a coupon once, within
//! the stock, with the refusal on the timeline and the wallet link in the
//! welcome; an issued template's terms are locked while its wording and
//! stock may change. In chromium: the wallet's check-in button and the
//! console's template editor.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::webdriver::Browser;
use reqwest::Method;
use serde_json::{json, Value};

async fn call(acq: &Acq, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = acq.http.request(method, acq.server.url(path)).bearer_auth(&acq.key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A customer's H5 post (no API key: the link token names them).
async fn h5(acq: &Acq, path: &str, body: Value) -> (u16, Value) {
    let r = acq.http.post(acq.server.url(path)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn template(acq: &Acq, body: Value) -> i64 {
    let (status, t) = call(acq, Method::POST, "/api/v1/coupon-templates", Some(body)).await;
    assert_eq!(status, 201, "{t}");
    t["id"].as_i64().unwrap()
}

async fn code(acq: &Acq, body: Value) -> (i64, String) {
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(body)).await;
    assert_eq!(status, 201, "{made}");
    (made["id"].as_i64().unwrap(), made["config_id"].as_str().unwrap().to_string())
}

/// Scans `config` as `name` and waits for koi to know the customer.
async fn add(acq: &Acq, config: &str, name: &str) -> (i64, String) {
    let out = acq.scan(config, json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    let id = wait_for(|| async {
        let (_, list) = call(acq, Method::GET, &format!("/api/v1/customers?q={name}"), None).await;
        list.as_array()?.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    (id, ext)
}

async fn link(acq: &Acq, customer: i64) -> String {
    let (_, l) = call(acq, Method::GET, &format!("/api/v1/customers/{customer}/link"), None).await;
    l["token"].as_str().unwrap_or_else(|| panic!("{l}")).to_string()
}

async fn coupons_of(acq: &Acq, customer: i64) -> Vec<Value> {
    let (_, list) = call(acq, Method::GET, &format!("/api/v1/coupons?customer_id={customer}"), None).await;
    list.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_reviews_and_automatic_coupons_sqlite() {
    check_ins_reviews_and_automatic_coupons("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_reviews_and_automatic_coupons_postgres() {
    check_ins_reviews_and_automatic_coupons("postgres").await;
}

async fn check_ins_reviews_and_automatic_coupons(backend: &str) {
    let acq = Acq::start(backend).await;
    let rules = json!({"per_yuan": 0, "checkin": 5, "review": 10, "expire_days": 0, "streak_days": 2,
                       "streak_bonus": 20});
    let (status, saved) = call(&acq, Method::PUT, "/api/v1/points/rules", Some(rules)).await;
    assert_eq!((status, saved["streak_bonus"].as_i64()), (200, Some(20)), "{saved}");
    let (status, bad) =
        call(&acq, Method::PUT, "/api/v1/points/rules", Some(json!({"per_yuan": 1, "streak_days": -1}))).await;
    assert_eq!((status, bad["error"]["fields"][0]["field"].as_str()), (422, Some("streak_days")), "{bad}");

    // A tag rule issues ¥10 (one in stock) to whoever adds through the poster code.
    let ten = template(
        &acq,
        json!({"name": "海报新客 ¥10", "kind": "cash", "value_fen": 1000, "valid_days": 30, "per_customer": 1,
               "stock": 1}),
    )
    .await;
    let (poster, poster_config) = code(
        &acq,
        json!({"name": "门店海报", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": acq.staff[0]}]}),
    )
    .await;
    let rule = json!({"name": "海报送券", "trigger": {"on": "added_via_code", "code_id": poster}, "issue_coupon": ten});
    let (status, r) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(rule)).await;
    assert_eq!((status, r["issue_coupon"].as_i64()), (201, Some(ten)), "{r}");
    let bad = json!({"name": "坏", "trigger": {"on": "first_order"}, "issue_coupon": 999_999});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(bad)).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("unknown_template")), "{v}");
    let (first, _) = add(&acq, &poster_config, "小美").await;
    let got = wait_for(|| async { Some(coupons_of(&acq, first).await).filter(|c| !c.is_empty()) }).await;
    assert_eq!((got.len(), got[0]["template_id"].as_i64()), (1, Some(ten)), "{got:?}");
    // The second finds the stock gone: no coupon, and the timeline says why.
    let (second, _) = add(&acq, &poster_config, "小丽").await;
    let refusal = wait_for(|| async {
        let (_, p) = call(&acq, Method::GET, &format!("/api/v1/customers/{second}/profile"), None).await;
        p["timeline"].as_array()?.iter().find(|e| e["kind"] == "coupon.not_issued").cloned()
    })
    .await;
    assert_eq!(refusal["payload"]["reason"], "out_of_stock", "{refusal}");
    assert!(coupons_of(&acq, second).await.is_empty());
    let (_, t) = call(&acq, Method::GET, &format!("/api/v1/coupon-templates/{ten}"), None).await;
    assert_eq!(t["issued"].as_i64(), Some(1), "never past the stock: {t}");

    // A welcome coupon: the code's adds each get one, and the welcome links to their wallet.
    let gift = template(
        &acq,
        json!({"name": "新客礼", "kind": "threshold", "value_fen": 2000, "min_fen": 4900, "valid_days": 7,
               "per_customer": 1}),
    )
    .await;
    let no_welcome = json!({"name": "无欢迎语", "kind": "single", "pool": [{"staff_id": acq.staff[0]}],
                            "welcome_coupon": gift});
    let (status, v) = call(&acq, Method::POST, "/api/v1/channel-codes", Some(no_welcome)).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("needs_welcome")), "{v}");
    let (_, welcome_config) = code(
        &acq,
        json!({"name": "新客码", "kind": "single", "pool": [{"staff_id": acq.staff[1]}],
               "welcome": [{"text": "{客户昵称}您好，新客券已放进券包"}], "welcome_coupon": gift}),
    )
    .await;
    let (newbie, newbie_ext) = add(&acq, &welcome_config, "小红").await;
    let mine = wait_for(|| async { Some(coupons_of(&acq, newbie).await).filter(|c| !c.is_empty()) }).await;
    assert_eq!((mine.len(), mine[0]["template_id"].as_i64()), (1, Some(gift)), "{mine:?}");
    let state = acq.sim.state();
    let welcome = wait_for(|| async {
        state.welcome_messages().into_iter().find(|w| w.text.as_deref().is_some_and(|t| t.starts_with("小红")))
    })
    .await;
    let token = link(&acq, newbie).await;
    let links = welcome.attachments.to_string();
    assert!(links.contains(&format!("/h5/wallet?k={token}")), "the welcome carries the wallet: {links}");
    let page = acq.http.get(acq.server.url(&format!("/h5/wallet?k={token}"))).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(mine[0]["code"].as_str().unwrap()), "the coupon is in the wallet");
    assert!(!newbie_ext.is_empty());

    // Check-in: ten taps at once earn once; the day's second answers the first.
    let taps: Vec<_> = (0..10)
        .map(|_| {
            let (http, url) = (acq.http.clone(), acq.server.url(&format!("/h5/wallet/checkin?k={token}")));
            tokio::spawn(async move {
                let r = http.post(url).json(&json!({})).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut fresh = 0;
    for t in taps {
        let (status, v) = t.await.unwrap();
        assert_eq!((status, v["streak"].as_i64(), v["points"].as_i64()), (200, Some(1), Some(5)), "{v}");
        fresh += usize::from(v["already"] == false);
    }
    assert_eq!(fresh, 1, "one check-in a day");
    let (status, _) = h5(&acq, "/h5/wallet/checkin?k=nope", json!({})).await;
    assert_eq!(status, 404);
    let r = acq
        .http
        .post(acq.server.url(&format!("/h5/wallet/checkin?k={token}")))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "a form from elsewhere: {}", r.status());

    // Reviews: a done order, once; the shop's API or the customer's page.
    let order = json!({"shop_order_id": "SO-REVIEW", "ordered_at": koi_store::now_ms() - 60_000, "amount_fen": 5900,
                       "paid_fen": 5900, "status": "paid", "customer": {"external_userid": newbie_ext}});
    let out = acq.post("/api/v1/orders", order.clone()).await;
    let order_id = out["order_id"].as_i64().unwrap_or_else(|| panic!("{out}"));
    let review = json!({"rating": 5, "body": "鞋很舒服"});
    let path = format!("/api/v1/orders/{order_id}/review");
    let (status, v) = call(&acq, Method::POST, &path, Some(review.clone())).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("order_not_done")), "{v}");
    let mut done = order.clone();
    done["status"] = "done".into();
    acq.post("/api/v1/orders", done).await;
    let (status, v) = call(&acq, Method::POST, &path, Some(json!({"rating": 9}))).await;
    assert_eq!((status, v["error"]["fields"][0]["field"].as_str()), (422, Some("rating")), "{v}");
    // Someone else's page cannot review it.
    let other = link(&acq, first).await;
    let (status, _) =
        h5(&acq, &format!("/h5/wallet/review?k={other}"), json!({"order_id": order_id, "rating": 1})).await;
    assert_eq!(status, 404);
    let (status, v) =
        h5(&acq, &format!("/h5/wallet/review?k={token}"), json!({"order_id": order_id, "rating": 5, "body": "好"}))
            .await;
    assert_eq!((status, v["points"].as_i64()), (201, Some(10)), "{v}");
    let (status, v) = call(&acq, Method::POST, &path, Some(review)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("already_reviewed")), "{v}");
    let (status, v) = call(&acq, Method::GET, &path, None).await;
    assert_eq!((status, v["rating"].as_i64()), (200, Some(5)), "{v}");

    // The balance is the ledger's sum: 5 (check-in) + 10 (review).
    let (_, acct) = call(&acq, Method::GET, &format!("/api/v1/customers/{newbie}/points"), None).await;
    let sum: i64 = acct["ledger"].as_array().unwrap().iter().map(|e| e["points"].as_i64().unwrap()).sum();
    assert_eq!((acct["balance"].as_i64(), sum), (Some(15), 15), "{acct}");
    let kinds: Vec<&str> = acct["ledger"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"checkin") && kinds.contains(&"review"), "{kinds:?}");

    // An issued template: the face value is locked, the wording and the stock are not.
    let (_, t) = call(&acq, Method::GET, &format!("/api/v1/coupon-templates/{ten}"), None).await;
    let mut face = t.clone();
    face["value_fen"] = 3000.into();
    let (status, v) = call(&acq, Method::PUT, &format!("/api/v1/coupon-templates/{ten}"), Some(face)).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("locked_after_issue")), "{v}");
    let mut wording = t.clone();
    wording["name"] = "海报新客 ¥10（加量）".into();
    wording["stock"] = 5.into();
    let (status, v) = call(&acq, Method::PUT, &format!("/api/v1/coupon-templates/{ten}"), Some(wording)).await;
    assert_eq!((status, v["stock"].as_i64(), v["value_fen"].as_i64()), (200, Some(5), Some(1000)), "{v}");
}

/// The wallet's check-in button on a phone, and the console's template
/// editor: what issued coupons promised is read-only, the stock is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_checks_in_and_the_console_edits_templates_in_chromium() {
    let acq = Acq::start("sqlite").await;
    let (_, config) = code(
        &acq,
        json!({"name": "门店海报", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": acq.staff[0]}]}),
    )
    .await;
    let (me, _) = add(&acq, &config, "小美").await;
    let t = template(
        &acq,
        json!({"name": "满49减20", "kind": "threshold", "value_fen": 2000, "min_fen": 4900, "valid_days": 30,
               "stock": 10}),
    )
    .await;
    let (status, _) =
        call(&acq, Method::POST, "/api/v1/coupons/issue", Some(json!({"template_id": t, "customer_id": me}))).await;
    assert_eq!(status, 201);
    let token = link(&acq, me).await;

    let b = Browser::start().await;
    b.resize(390, 844).await;
    b.goto(&acq.server.url(&format!("/h5/wallet?k={token}"))).await;
    assert_eq!(b.text("#balance").await, "0");
    b.click("#checkin").await;
    b.wait_text("#balance", "5").await;
    assert_eq!(b.text("#streak").await, "1");
    b.goto(&acq.server.url(&format!("/h5/wallet?k={token}"))).await;
    assert!(b.text("#checkin").await.contains("今日已签到"), "checked in today after a reload");
    assert!(b.exists("#checkin[disabled]").await);

    b.resize(1280, 900).await;
    b.goto(&acq.server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", crate::support::PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "优惠券").await;
    b.click("nav a[href='/console/coupons']").await;
    b.click(&format!("#coupon-templates a[href='/console/coupons/templates/{t}']")).await;
    b.wait_text("h1", "编辑券模板").await;
    assert!(b.exists("#template-locked").await, "issued: the terms are explained as locked");
    assert!(b.exists("#coupon-template-edit input[name=value][disabled]").await);
    b.type_into("#coupon-template-edit input[name=stock]", "0").await;
    b.click("#coupon-template-edit button").await;
    b.wait_text("#form-errors", "1").await;
    b.type_into("#coupon-template-edit input[name=stock]", "50").await;
    b.type_into("#coupon-template-edit input[name=name]", "双11 满49减20").await;
    b.click("#coupon-template-edit button").await;
    b.wait_text("h1", "双11 满49减20").await;
    let (_, v) = call(&acq, Method::GET, &format!("/api/v1/coupon-templates/{t}"), None).await;
    assert_eq!((v["stock"].as_i64(), v["value_fen"].as_i64()), (Some(50), Some(2000)), "{v}");
    b.click("#coupon-template-archive button").await;
    b.wait_text("h1", "已停用").await;
    let (_, v) = call(&acq, Method::GET, &format!("/api/v1/coupon-templates/{t}"), None).await;
    assert_eq!(v["archived"], true, "{v}");
}
