//! Products and checkout end to end, through the simulator's WeChat Pay over
//! real HTTP: seed 001's ¥19.9 Double Eleven bundle bought from its H5 page,
//! paid once although WeChat notifies twice more and a forger once; a
//! forged notification changes nothing; concurrent buyers of the last items
//! never take stock below zero, and an unpaid checkout closes and gives its
//! item back; a partial refund goes through WeChat Pay and marks the
//! checkout; a refund ends on WeChat Pay's sealed refund notification alone
//! (once, however often it comes; forged ones change nothing) and a CHANGE
//! refund shows failed; the product page works in chromium at phone size.

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
    customer_at(acq, name, acq.store_id, acq.staff[0]).await
}

/// A customer who adds `staff` through a poster of `store`.
async fn customer_at(acq: &Acq, name: &str, store: i64, staff: i64) -> (i64, String) {
    let code = json!({
        "name": format!("门店海报{store}"), "channel_type": "store_poster", "store_id": store, "kind": "single",
        "pool": [{"staff_id": staff}],
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_ends_on_its_notification_once_and_a_change_shows_failed_sqlite() {
    refund_notifications("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_ends_on_its_notification_once_and_a_change_shows_failed_postgres() {
    refund_notifications("postgres").await;
}

async fn refund_faults(acq: &Acq, no: &str, faults: Value) {
    let url = format!("{}/sim/pay/jsapi/orders/{no}/refund-faults", acq.sim.base_url());
    let r = acq.http.put(url).json(&faults).send().await.unwrap();
    assert!(r.status().is_success(), "refund faults: {}", r.text().await.unwrap());
}

async fn refund_notifications(backend: &str) {
    let acq = start(backend).await;
    let (_, link) = customer(&acq, "小退").await;
    let p = product(&acq, "RFN-1", 10).await;
    let (s, started) = buy(&acq, p["page_path"].as_str().unwrap(), &link, 3).await;
    assert_eq!(s, 200, "{started}");
    let no = started["out_trade_no"].as_str().unwrap().to_string();
    pay(&acq, started["prepay_id"].as_str().unwrap(), json!({})).await;
    let kid = wait_long(|| async {
        let k = checkout_by_no(&acq, &no).await;
        (k["state"] == "paid").then(|| k["id"].as_i64().unwrap())
    })
    .await;
    let detail = format!("/api/v1/checkouts/{kid}");

    // refundquery lags ten minutes, so koi's refund job can only hear PROCESSING: the
    // notification alone ends the refund, through a forged copy, a garbage one and two duplicates.
    refund_faults(&acq, &no, json!({"forged": 1, "garbage": 1, "duplicates": 2, "query_lag_ms": 600_000})).await;
    let refunds = format!("/api/v1/checkouts/{kid}/refunds");
    let (s, r) = call(&acq, Method::POST, &refunds, Some(json!({"amount_fen": 990, "reason": "少发一件"}))).await;
    assert_eq!((s, r["refunds"][0]["state"].as_str()), (202, Some("pending")), "{r}");
    let out_refund_no = r["refunds"][0]["out_refund_no"].as_str().unwrap().to_string();
    let truth = wait_long(|| async {
        let o = acq.sim.state().jsapi_order(&no).unwrap();
        (o.refund(&out_refund_no).is_some_and(|r| r.deliveries.len() >= 5)).then_some(o)
    })
    .await;
    let wechat = truth.refund(&out_refund_no).unwrap().clone();
    let seen: Vec<(&str, u16)> = wechat.deliveries.iter().map(|d| (d.kind.as_str(), d.status)).collect();
    assert_eq!(seen, [("forged", 401), ("garbage", 400), ("real", 200), ("duplicate", 200), ("duplicate", 200)]);
    assert!(wechat.notify_url.contains("/pay/refund-notify/"), "koi passes its notify_url: {}", wechat.notify_url);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(wechat.query_lag_until_ms > now, "refundquery still says PROCESSING: only the notification told koi");
    let k = get(&acq, &detail).await;
    assert_eq!(
        (k["refunds"][0]["state"].as_str(), k["state"].as_str(), k["refunded_fen"].as_i64()),
        (Some("done"), Some("part_refunded"), Some(990)),
        "{k}"
    );
    let order = get(&acq, &format!("/api/v1/orders?shop_order_id={no}")).await["orders"][0].clone();
    assert_eq!(order["refunded_fen"].as_i64(), Some(990), "the order's refund counted once: {order}");

    // Hand-made notifications to the same URL: each is refused and changes nothing.
    let key = acq.sim.state().pay_merchants().into_iter().next().unwrap().api_key;
    let send = |fields: std::collections::BTreeMap<String, String>| {
        let (http, url) = (acq.http.clone(), wechat.notify_url.clone());
        async move {
            let r = http.post(url).body(koi_wecom_xml(&fields)).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let note = |o: &koi_sim::JsapiOrder, r: &koi_sim::RefundRecord, key: &str| {
        koi_sim::pay_order::refund_notification(o, r, key)
    };
    let wrong_amount = koi_sim::RefundRecord { refund_fee: 1, ..wechat.clone() };
    let (s, body) = send(note(&truth, &wrong_amount, &key)).await;
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("FAIL"), "{body}");
    let unknown = koi_sim::RefundRecord { out_refund_no: "RNOSUCH".into(), ..wechat.clone() };
    assert_eq!(send(note(&truth, &unknown, &key)).await.0, 404);
    let other_merchant = koi_sim::JsapiOrder { mch_id: "1999999999".into(), ..truth.clone() };
    assert_eq!(send(note(&other_merchant, &wechat, &key)).await.0, 401);
    assert_eq!(send(note(&truth, &wechat, "not-the-merchant-key")).await.0, 401);
    let mut garbage = note(&truth, &wechat, &key);
    garbage.insert("req_info".into(), "@@@".into());
    assert_eq!(send(garbage).await.0, 400);
    assert_eq!(acq.http.post(&wechat.notify_url).body("<xml><a>").send().await.unwrap().status(), 400);
    let changed = koi_sim::RefundRecord { refund_status: "CHANGE".into(), ..wechat.clone() };
    assert_eq!(send(note(&truth, &changed, &key)).await.0, 200, "a late word on a refund that ended is a repeat");
    assert_eq!(send(note(&truth, &wechat, &key)).await.0, 200, "the real one again: acknowledged");
    let k = get(&acq, &detail).await;
    assert_eq!(
        (k["refunds"].as_array().unwrap().len(), k["refunds"][0]["state"].as_str(), k["refunded_fen"].as_i64()),
        (1, Some("done"), Some(990)),
        "nothing changed: {k}"
    );
    let order = get(&acq, &format!("/api/v1/orders?shop_order_id={no}")).await["orders"][0].clone();
    assert_eq!(order["refunded_fen"].as_i64(), Some(990), "{order}");

    // CHANGE: WeChat Pay could not pay it back; the refund shows failed, its claim returns.
    refund_faults(&acq, &no, json!({"outcome": "CHANGE"})).await;
    let (s, _) = call(&acq, Method::POST, &refunds, Some(json!({"amount_fen": 500}))).await;
    assert_eq!(s, 202);
    let k = wait_long(|| async {
        let k = get(&acq, &detail).await;
        (k["refunds"][1]["state"] == "failed").then_some(k)
    })
    .await;
    assert_eq!((k["refunds"][1]["failure"].as_str(), k["refunded_fen"].as_i64()), (Some("change"), Some(990)), "{k}");
    assert!(k["refunds"][1]["error"].as_str().unwrap().contains("CHANGE"), "{k}");
    assert_eq!(k["state"], "part_refunded");
    let console = crate::support::login(&acq.server, &acq.owner, crate::support::PASSWORD).await;
    let html = console.get(acq.server.url("/console/checkouts")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("refund-failed") && html.contains("微信支付退款异常"), "the operator sees why");
    let order = get(&acq, &format!("/api/v1/orders?shop_order_id={no}")).await["orders"][0].clone();
    assert_eq!(order["refunded_fen"].as_i64(), Some(990), "a failed refund takes nothing back: {order}");
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
    let socks = json!({"sku": "SOCKS-B", "name": "棉袜", "price_fen": 500, "stock": 5});
    let (s, socks) = call(&acq, Method::POST, "/api/v1/products", Some(socks)).await;
    assert_eq!(s, 201, "{socks}");
    let page = p["page_path"].as_str().unwrap().to_string();
    let b = crate::webdriver::Browser::start().await;
    b.resize(375, 812).await;
    b.goto(&acq.server.url(&format!("{page}?k={link}"))).await;
    assert!(b.text("#product-name").await.contains("双十一"));
    assert_eq!(b.text("#price").await, "¥9.90");
    assert_eq!(b.overflow_x().await, 0, "no sideways scrolling on a phone: {}", b.too_wide().await);
    // The small cart: two pairs of socks go into the same checkout.
    assert!(b.text("#cart-offers").await.contains("棉袜"));
    b.type_into(".cart-qty", "2").await;
    b.click("#buy").await;
    b.wait_url("/h5/checkout/").await;
    assert!(b.text("#checkout-state").await.contains("等待支付"));
    let body = b.text("body").await;
    assert!(body.contains("棉袜 × 2") && body.contains("¥19.90"), "one item and two pairs of socks: {body}");
    assert_eq!(stock(&acq, socks["id"].as_i64().unwrap()).await, 3, "the socks are reserved too");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_cart_is_one_checkout_and_store_managers_see_their_stores_sqlite() {
    cart_and_store_scope("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_cart_is_one_checkout_and_store_managers_see_their_stores_postgres() {
    cart_and_store_scope("postgres").await;
}

/// Two stores, a customer of each. The page of one product offers the
/// others; a cart of two products is one checkout (each line with its own
/// price rule), paid once; a cart one of whose lines is short reserves
/// nothing. The first store's manager sees its products (and the corp's),
/// its customers' checkouts and its coupons, not the other store's.
async fn cart_and_store_scope(backend: &str) {
    let acq = start(backend).await;
    let s1 = acq.store_id;
    let s2 = acq.post("/api/v1/stores", json!({"code": "SH-XJH", "name": "徐家汇店"})).await["id"].as_i64().unwrap();
    let moved = json!({"userid": "li.na", "name": "李娜", "store_ids": [s2]});
    let (s, m) = call(&acq, Method::PUT, &format!("/api/v1/staff/{}", acq.staff[1]), Some(moved)).await;
    assert_eq!(s, 200, "{m}");
    let (ann, ann_link) = customer_at(&acq, "安安", s1, acq.staff[0]).await;
    let (bei, bei_link) = customer_at(&acq, "贝贝", s2, acq.staff[1]).await;
    let mut made = vec![];
    for (sku, name, price, stores, rules, stock) in [
        ("JA-ONLY", "静安限定单鞋", 1000, json!([s1]), json!([]), 5),
        ("XJH-ONLY", "徐家汇限定鞋油", 2000, json!([s2]), json!([]), 5),
        ("SOCKS", "棉袜第二件半价", 999, json!([]), json!([{"kind": "second_half"}]), 3),
    ] {
        let d =
            json!({"sku": sku, "name": name, "price_fen": price, "stock": stock, "store_ids": stores, "rules": rules});
        let (s, p) = call(&acq, Method::POST, "/api/v1/products", Some(d)).await;
        assert_eq!(s, 201, "{p}");
        made.push(p);
    }
    let page = |i: usize| made[i]["page_path"].as_str().unwrap().to_string();
    let token = |i: usize| page(i).trim_start_matches("/h5/p/").to_string();
    let id = |i: usize| made[i]["id"].as_i64().unwrap();

    // The page offers the other products for the same checkout.
    let html = acq.http.get(acq.server.url(&format!("{}?k={ann_link}", page(0)))).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("id=\"cart-offers\"") && html.contains("棉袜第二件半价"), "{html}");
    assert!(html.contains(&format!("data-product=\"{}\"", token(2))), "{html}");

    // Bad carts change nothing: a line short of stock, a product twice, a product that is not there.
    let cart = |items: Value| {
        let url = acq.server.url(&format!("{}/buy?k={ann_link}", page(0)));
        let http = acq.http.clone();
        async move {
            let r = http.post(url).json(&json!({"qty": 1, "items": items})).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, e) = cart(json!([{"product": token(2), "qty": 4}])).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    let (s, e) = cart(json!([{"product": token(0), "qty": 1}])).await;
    assert_eq!(s, 422, "the page's product again: {e}");
    assert_eq!(cart(json!([{"product": "no-such-product", "qty": 1}])).await.0, 404);
    assert_eq!((stock(&acq, id(0)).await, stock(&acq, id(2)).await), (5, 3), "nothing reserved");

    // One of the page's product and two socks (the second at half price): one checkout, one payment.
    let (s, started) = cart(json!([{"product": token(2), "qty": 2}])).await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(started["total_fen"], 1000 + 999 + 500);
    assert_eq!((stock(&acq, id(0)).await, stock(&acq, id(2)).await), (4, 1), "both lines reserved");
    let ann_no = started["out_trade_no"].as_str().unwrap().to_string();
    pay(&acq, started["prepay_id"].as_str().unwrap(), json!({"duplicates": 1})).await;
    let k = wait_long(|| async {
        let k = checkout_by_no(&acq, &ann_no).await;
        (k["state"] == "paid").then_some(k)
    })
    .await;
    let lines: Vec<(i64, i64)> = k["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["qty"].as_i64().unwrap(), i["total_fen"].as_i64().unwrap()))
        .collect();
    assert_eq!(lines.len(), 2, "{k}");
    assert!(lines.contains(&(1, 1000)) && lines.contains(&(2, 1499)), "{k}");
    let profile = get(&acq, &format!("/api/v1/customers/{ann}/profile")).await;
    assert_eq!((profile["orders"].as_i64(), profile["spent_fen"].as_i64()), (Some(1), Some(2499)), "one order");
    // The last sock cannot go twice.
    let (s, _) = cart(json!([{"product": token(2), "qty": 2}])).await;
    assert_eq!(s, 422);
    assert_eq!(stock(&acq, id(2)).await, 1);

    let (s, started) = buy(&acq, &page(1), &bei_link, 1).await;
    assert_eq!(s, 200, "{started}");
    let bei_no = started["out_trade_no"].as_str().unwrap().to_string();

    // Coupons of each store, redeemed at each.
    let mut codes = vec![];
    for (name, store, customer) in [("静安 10 元券", s1, ann), ("徐家汇 10 元券", s2, bei)] {
        let t = json!({"name": name, "kind": "cash", "value_fen": 1000, "valid_days": 30, "per_customer": 1, "store_ids": [store]});
        let (s, t) = call(&acq, Method::POST, "/api/v1/coupon-templates", Some(t)).await;
        assert_eq!(s, 201, "{t}");
        let (s, k) = call(
            &acq,
            Method::POST,
            "/api/v1/coupons/issue",
            Some(json!({"template_id": t["id"], "customer_id": customer})),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        let order_ref = format!("POS-{store}");
        let r = json!({"code": k["code"], "order_ref": order_ref, "store_id": store, "amount_fen": 5000});
        let (s, k) = call(&acq, Method::POST, "/api/v1/coupons/redeem", Some(r)).await;
        assert_eq!(s, 200, "{k}");
        codes.push(order_ref);
    }

    // The first store's manager.
    let store = s1.to_string();
    crate::support::koi(&[
        "user",
        "add",
        "--database-url",
        &acq.db.url,
        "--corp",
        "1",
        "--username",
        "mgr-cart",
        "--role",
        "store_manager",
        "--store",
        &store,
        "--password",
        crate::support::PASSWORD,
    ]);
    let mgr = crate::support::login(&acq.server, "mgr-cart", crate::support::PASSWORD).await;
    let page_of = |path: &str| {
        let r = mgr.get(acq.server.url(path)).send();
        async move { r.await.unwrap().text().await.unwrap() }
    };
    let products = page_of("/console/products").await;
    assert!(products.contains("JA-ONLY") && products.contains("SOCKS"), "theirs and the corp's: {products}");
    assert!(!products.contains("XJH-ONLY"), "not the other store's");
    assert!(!products.contains("id=\"product-form\""), "a manager does not edit products");
    let checkouts = page_of("/console/checkouts").await;
    assert!(checkouts.contains(&ann_no) && !checkouts.contains(&bei_no), "their customers' checkouts only");
    assert!(!checkouts.contains("refund-form"), "a manager does not refund");
    let coupons = page_of("/console/coupons").await;
    assert!(coupons.contains(&codes[0]) && !coupons.contains(&codes[1]), "their redemptions only");
    assert!(coupons.contains("静安 10 元券") && !coupons.contains("徐家汇 10 元券"), "their templates only");
}
