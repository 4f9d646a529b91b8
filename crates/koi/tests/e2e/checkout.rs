//! Products and checkout end to end, through the simulator's WeChat Pay over
//! real HTTP: seed 001's ¥19.9 Double Eleven bundle bought from its H5 page,
//! paid once although WeChat notifies twice more and a forger once; a
//! forged notification changes nothing; concurrent buyers of the last items
//! never take stock below zero, and an unpaid checkout closes and gives its
//! item back; a partial refund goes through WeChat Pay and marks the
//! checkout; the product page works in chromium at phone size.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::group_codes::{call, get, wait_long};
use reqwest::Method;
use serde_json::{json, Value};

async fn start(backend: &str) -> Acq {
    let acq = Acq::start_with(backend, &["--campaign-tick-secs", "1", "--checkout-window-secs", "10"]).await;
    // WeChat Pay: the simulator's merchant, set up by the owner.
    let m = acq.sim.state().pay_merchants().into_iter().next().expect("a merchant");
    let owner = crate::support::api_key_as(&acq.server, &acq.owner, "owner").await;
    let settings = json!({
        "enabled": true, "mch_id": m.mch_id, "api_key": m.api_key, "workwx_secret": m.workwx_secret,
        "base_url": format!("{}/pay", acq.sim.base_url()), "act_name": "双十一", "wishing": "感谢支持",
    });
    let r = acq.http.put(acq.server.url("/api/v1/settings/pay")).bearer_auth(owner).json(&settings).send().await;
    assert_eq!(r.unwrap().status(), 200);
    acq
}

/// A customer koi knows (added through a plain code) and their H5 link token.
async fn customer(acq: &Acq, name: &str) -> (i64, String) {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (s, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(s, 201, "{made}");
    let out = acq.scan(made["config_id"].as_str().unwrap(), json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    let id = wait_for(|| async {
        let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["external_userid"] == ext.as_str())
            .map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    let link = get(acq, &format!("/api/v1/customers/{id}/link")).await;
    (id, link["token"].as_str().unwrap().to_string())
}

async fn product(acq: &Acq, sku: &str, stock: i64) -> Value {
    let draft = json!({
        "sku": sku, "name": "双十一 19.9 元三件组合", "price_fen": 990, "stock": stock,
        "images": ["https://img.example/dbl11.jpg"], "store_ids": [acq.store_id],
        "rules": [{"kind": "bundle", "qty": 3, "price_fen": 1990}],
    });
    let (s, p) = call(acq, Method::POST, "/api/v1/products", Some(draft)).await;
    assert_eq!(s, 201, "{p}");
    p
}

async fn buy(acq: &Acq, page_path: &str, link: &str, qty: i64) -> (u16, Value) {
    let r = acq
        .http
        .post(acq.server.url(&format!("{page_path}/buy?k={link}")))
        .json(&json!({ "qty": qty }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn pay(acq: &Acq, prepay_id: &str, faults: Value) -> Value {
    let url = format!("{}/sim/pay/jsapi/{prepay_id}/pay", acq.sim.base_url());
    let r = acq.http.post(url).json(&faults).send().await.unwrap();
    assert!(r.status().is_success(), "pay: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

async fn checkout_by_no(acq: &Acq, no: &str) -> Value {
    let list = get(acq, "/api/v1/checkouts").await;
    let id = list.as_array().unwrap().iter().find(|k| k["out_trade_no"] == no).expect("listed")["id"].as_i64().unwrap();
    get(acq, &format!("/api/v1/checkouts/{id}")).await
}

async fn stock(acq: &Acq, id: i64) -> i64 {
    get(acq, &format!("/api/v1/products/{id}")).await["stock"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_eleven_bundle_is_paid_once_refunded_and_never_oversold_sqlite() {
    double_eleven("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_eleven_bundle_is_paid_once_refunded_and_never_oversold_postgres() {
    double_eleven("postgres").await;
}

async fn double_eleven(backend: &str) {
    let acq = start(backend).await;
    let (alice, link) = customer(&acq, "小美").await;
    let p = product(&acq, "DBL11-199", 10).await;
    let (pid, page) = (p["id"].as_i64().unwrap(), p["page_path"].as_str().unwrap().to_string());

    // Bad input changes nothing: a bundle that is no discount, a duplicate SKU, a bad quantity, no link.
    let mut bad = json!({"sku": "X1", "name": "贵", "price_fen": 990, "stock": 1, "rules": [{"kind": "bundle", "qty": 3, "price_fen": 2970}]});
    let (s, e) = call(&acq, Method::POST, "/api/v1/products", Some(bad.clone())).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    bad["rules"] = json!([]);
    bad["sku"] = json!("DBL11-199");
    assert_eq!(call(&acq, Method::POST, "/api/v1/products", Some(bad)).await.0, 409);
    assert_eq!(buy(&acq, &page, &link, 0).await.0, 422);
    assert_eq!(buy(&acq, &page, "not-a-link", 1).await.0, 404);

    // The page shows the product to its customer, in Chinese.
    let html = acq.http.get(acq.server.url(&format!("{page}?k={link}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("双十一 19.9 元三件组合") && html.contains("¥9.90") && html.contains("3 件 19.90 元"),
        "{html}"
    );
    assert!(html.contains("id=\"buy-form\""), "the customer may buy");

    // Three items at the bundle price; WeChat notifies with a forged copy first and two duplicates after.
    let (s, started) = buy(&acq, &page, &link, 3).await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(started["total_fen"], 1990);
    assert_eq!(started["jsapi"]["package"], format!("prepay_id={}", started["prepay_id"].as_str().unwrap()));
    assert_eq!(stock(&acq, pid).await, 7, "reserved at once");
    let no = started["out_trade_no"].as_str().unwrap().to_string();
    pay(&acq, started["prepay_id"].as_str().unwrap(), json!({"forged": 1, "duplicates": 2})).await;
    let order = wait_long(|| async {
        let o = acq.sim.state().jsapi_order(&no).unwrap();
        (o.deliveries.len() >= 4).then_some(o)
    })
    .await;
    let seen: Vec<(&str, u16)> = order.deliveries.iter().map(|d| (d.kind.as_str(), d.status)).collect();
    assert_eq!(seen, [("forged", 401), ("real", 200), ("duplicate", 200), ("duplicate", 200)]);
    let k = checkout_by_no(&acq, &no).await;
    assert_eq!(
        (k["state"].as_str(), k["transaction_id"].as_str()),
        (Some("paid"), Some(order.transaction_id.as_str()))
    );
    let profile = get(&acq, &format!("/api/v1/customers/{alice}/profile")).await;
    assert_eq!((profile["orders"].as_i64(), profile["spent_fen"].as_i64()), (Some(1), Some(1990)), "one order, once");
    let status = acq.http.get(acq.server.url(&format!("/h5/checkout/{no}/state?k={link}"))).send().await.unwrap();
    assert_eq!(status.json::<Value>().await.unwrap()["state"], "paid");

    // A forged notification for a waiting checkout: 401, nothing changes.
    let (_, waiting) = buy(&acq, &page, &link, 1).await;
    let wno = waiting["out_trade_no"].as_str().unwrap().to_string();
    let notify_url = order.notify_url.clone();
    let mut fake = koi_sim::pay_order::notification(
        &koi_sim::JsapiOrder {
            out_trade_no: wno.clone(),
            total_fee: 990,
            transaction_id: "4200FAKE".into(),
            ..order.clone()
        },
        "not-the-merchant-key",
    );
    let r = acq.http.post(&notify_url).body(koi_wecom_xml(&fake)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("FAIL"));
    fake.insert("sign".into(), "0".repeat(32));
    assert_eq!(acq.http.post(&notify_url).body(koi_wecom_xml(&fake)).send().await.unwrap().status(), 401);
    assert_eq!(acq.http.post(&notify_url).body("<xml><a>").send().await.unwrap().status(), 400);
    assert_eq!(checkout_by_no(&acq, &wno).await["state"], "created", "a forgery changes nothing");

    // Never paid: the sweep closes it after its window and the item comes back.
    assert_eq!(stock(&acq, pid).await, 6);
    let closed = wait_long(|| async {
        let k = checkout_by_no(&acq, &wno).await;
        (k["state"] == "closed").then_some(k)
    })
    .await;
    assert_eq!(closed["error"], "expired");
    assert_eq!(stock(&acq, pid).await, 7, "its item is back");
    assert_eq!(acq.sim.state().jsapi_order(&wno).unwrap().trade_state, "CLOSED");

    // Refunds: over what was paid is refused; a partial one goes through WeChat Pay.
    let kid = k["id"].as_i64().unwrap();
    let (s, e) =
        call(&acq, Method::POST, &format!("/api/v1/checkouts/{kid}/refunds"), Some(json!({"amount_fen": 5000}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    let (s, r) = call(
        &acq,
        Method::POST,
        &format!("/api/v1/checkouts/{kid}/refunds"),
        Some(json!({"amount_fen": 990, "reason": "少发一件"})),
    )
    .await;
    assert_eq!((s, r["refunds"][0]["state"].as_str()), (202, Some("pending")), "{r}");
    let refunded = wait_long(|| async {
        let k = get(&acq, &format!("/api/v1/checkouts/{kid}")).await;
        (k["refunds"][0]["state"] == "done").then_some(k)
    })
    .await;
    assert_eq!((refunded["state"].as_str(), refunded["refunded_fen"].as_i64()), (Some("part_refunded"), Some(990)));
    let truth = acq.sim.state().jsapi_order(&no).unwrap();
    assert_eq!((truth.refunds.len(), truth.refunded_fee()), (1, 990), "WeChat Pay refunded once");
    let (s, _) = call(&acq, Method::POST, &format!("/api/v1/checkouts/{kid}/refunds"), Some(json!({}))).await;
    assert_eq!(s, 202, "the rest");
    wait_long(|| async {
        let k = get(&acq, &format!("/api/v1/checkouts/{kid}")).await;
        (k["state"] == "refunded").then_some(())
    })
    .await;
    assert_eq!(acq.sim.state().jsapi_order(&no).unwrap().refunded_fee(), 1990);

    // The last two items: six buyers at once, two win, stock ends at zero.
    let last = product(&acq, "LAST-2", 2).await;
    let lpage = last["page_path"].as_str().unwrap().to_string();
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (url, http) = (acq.server.url(&format!("{lpage}/buy?k={link}")), acq.http.clone());
        racers.spawn(async move { http.post(url).json(&json!({"qty": 1})).send().await.unwrap().status().as_u16() });
    }
    let mut statuses = racers.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 422, 422, 422, 422]);
    assert_eq!(stock(&acq, last["id"].as_i64().unwrap()).await, 0);

    let doc: Value = acq.http.get(acq.server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(
        doc["paths"]["/checkouts/{id}/refunds"]["post"].is_object() && doc["paths"]["/products"]["post"].is_object()
    );
}

fn koi_wecom_xml(f: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in f {
        out.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    out.push_str("</xml>");
    out
}

/// A customer on a phone: the product page at 375 px, the buy button, the
/// simulator's customer paying the prepay, the result page turning paid;
/// and the operator's console lists the checkout with a refund button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_page_sells_on_a_phone_in_chromium() {
    let acq = start("sqlite").await;
    let (_, link) = customer(&acq, "小芳").await;
    let p = product(&acq, "FRUIT-1", 5).await;
    let page = p["page_path"].as_str().unwrap().to_string();
    let b = crate::webdriver::Browser::start().await;
    b.resize(375, 812).await;
    b.goto(&acq.server.url(&format!("{page}?k={link}"))).await;
    assert!(b.text("#product-name").await.contains("双十一"));
    assert_eq!(b.text("#price").await, "¥9.90");
    assert_eq!(b.overflow_x().await, 0, "no sideways scrolling on a phone: {}", b.too_wide().await);
    b.click("#buy").await;
    b.wait_url("/h5/checkout/").await;
    assert!(b.text("#checkout-state").await.contains("等待支付"));
    let no = b.text("#out-trade-no").await;
    let prepay = acq.sim.state().jsapi_order(&no).expect("a prepay at WeChat Pay").prepay_id;
    pay(&acq, &prepay, json!({})).await;
    b.wait_text("#checkout-state", "支付成功").await;

    let console = crate::support::login(&acq.server, &acq.owner, crate::support::PASSWORD).await;
    let html = console.get(acq.server.url("/console/checkouts")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&no) && html.contains("refund-form"), "listed with its refund button");
    let html = console.get(acq.server.url("/console/products")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("FRUIT-1") && html.contains("id=\"product-form\""));
}
