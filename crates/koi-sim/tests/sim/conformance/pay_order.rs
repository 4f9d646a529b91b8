//! WeChat Pay's JSAPI payments through koi's pay client against the
//! simulator over real HTTP: prepay orders idempotent by out_trade_no, the
//! customer paying from the control API, the signed notification with
//! WeChat's retries, duplicates and forgeries, closing, and refunds with
//! their sealed refund notification (SUCCESS, CHANGE, REFUNDCLOSE).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Rig, NOW};
use axum::routing::post;
use axum::Router;
use koi_sim::JsapiOrder;
use koi_wecom::client::ConvertToOpenidRequest;
use koi_wecom::pay::{
    notify_answer, parse_notification, parse_refund_notification, Merchant, NotifyError, PayClient, PayError,
    RefundNotifyError, RefundRequest, UnifiedOrderRequest,
};
use serde_json::{json, Value};

fn merchant(rig: &Rig) -> Merchant {
    let m = rig.sim.state().pay_merchants().into_iter().next().expect("a merchant per corp");
    Merchant {
        base_url: format!("{}/pay", rig.sim.base_url()),
        mch_id: m.mch_id,
        wxappid: m.wxappid,
        api_key: m.api_key,
        workwx_secret: m.workwx_secret,
    }
}

async fn openid(rig: &Rig, name: &str) -> String {
    let way = rig.contact_way("buy", &["guide01"]).await;
    let (external_userid, _, _) = rig.scan(way.qr_code.as_deref().expect("qr_code"), name).await;
    rig.corp.convert_to_openid(&ConvertToOpenidRequest { external_userid }, NOW).await.expect("openid").openid
}

/// A shop's notify endpoint: verifies each notification with the key,
/// answers FAIL to the first `fail_first` good ones, keeps what it saw.
#[derive(Clone)]
struct Shop {
    key: String,
    fail_first: Arc<Mutex<u32>>,
    seen: Arc<Mutex<Vec<Result<i64, NotifyError>>>>,
}

async fn shop_notify(axum::extract::State(s): axum::extract::State<Shop>, body: String) -> String {
    let parsed = parse_notification(&body, &s.key);
    let ok = parsed.is_ok();
    s.seen.lock().expect("lock").push(parsed.map(|n| n.total_fee));
    if !ok {
        return notify_answer(false, "签名失败");
    }
    let mut fail = s.fail_first.lock().expect("lock");
    if *fail > 0 {
        *fail -= 1;
        return notify_answer(false, "busy");
    }
    notify_answer(true, "OK")
}

async fn shop(key: &str, fail_first: u32) -> (Shop, String) {
    let s = Shop { key: key.into(), fail_first: Arc::new(Mutex::new(fail_first)), seen: Arc::default() };
    let app = Router::new().route("/notify", post(shop_notify)).with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (s, url)
}

fn order(no: &str, openid: &str, fee: i64, notify_url: &str) -> UnifiedOrderRequest {
    UnifiedOrderRequest {
        out_trade_no: no.into(),
        body: "双十一 19.9 元组合".into(),
        total_fee: fee,
        openid: openid.into(),
        notify_url: notify_url.into(),
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, PayError>) -> String {
    match r {
        Err(e) => e.err_code().unwrap_or("none").to_owned(),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

async fn customer_pays(rig: &Rig, prepay_id: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/sim/pay/jsapi/{prepay_id}/pay", rig.sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("pay");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn settled(rig: &Rig, no: &str, deliveries: usize) -> JsapiOrder {
    for _ in 0..300 {
        let o = rig.sim.state().jsapi_order(no).expect("the order");
        if o.deliveries.len() >= deliveries {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries never reached {deliveries}: {:?}", rig.sim.state().jsapi_order(no));
}

#[tokio::test]
async fn a_jsapi_order_is_prepaid_once_paid_notified_and_refunded() {
    let rig = Rig::start().await;
    let pay = PayClient::new(Duration::from_secs(5)).expect("client");
    let m = merchant(&rig);
    let oid = openid(&rig, "小买").await;
    let (shop, url) = shop(&m.api_key, 1).await;
    let balance = |rig: &Rig| rig.sim.state().pay_truth(&m.mch_id).expect("merchant").balance_fen;
    let before = balance(&rig);

    // Bad input is refused: a stranger's openid, no notify_url, a bad sign.
    assert_eq!(code(pay.unified_order(&m, &order("koiA1", "oSTRANGER", 1990, &url)).await), "PARAM_ERROR");
    assert_eq!(code(pay.unified_order(&m, &order("koiA1", &oid, 1990, "")).await), "PARAM_ERROR");
    let forged = Merchant { api_key: "wrong".into(), ..m.clone() };
    assert_eq!(code(pay.unified_order(&forged, &order("koiA1", &oid, 1990, &url)).await), "SIGN_ERROR");

    // The same out_trade_no and parameters: the same prepay; other parameters: refused.
    let prepay = pay.unified_order(&m, &order("koiA1", &oid, 1990, &url)).await.expect("prepay");
    assert_eq!(pay.unified_order(&m, &order("koiA1", &oid, 1990, &url)).await.expect("again"), prepay);
    assert_eq!(code(pay.unified_order(&m, &order("koiA1", &oid, 2990, &url)).await), "INVALID_REQUEST");
    assert_eq!(pay.order_query(&m, "koiA1").await.expect("query").trade_state, "NOTPAY");
    assert_eq!(code(pay.order_query(&m, "koiNONE").await), "ORDERNOTEXIST");
    assert_eq!(code(pay.refund(&m, &refund("koiA1", "r1", 1990, 100)).await), "TRADE_STATE_ERROR");

    // The customer cancels: still NOTPAY. Then pays with a forged copy and a duplicate.
    let (s, o) = customer_pays(&rig, &prepay, json!({"action": "cancel"})).await;
    assert_eq!((s, o["trade_state"].as_str()), (200, Some("NOTPAY")), "{o}");
    let (s, o) = customer_pays(&rig, &prepay, json!({"forged": 1, "duplicates": 2})).await;
    assert_eq!((s, o["trade_state"].as_str()), (200, Some("SUCCESS")), "{o}");
    assert_eq!(customer_pays(&rig, &prepay, json!({})).await.0, 400, "paid once");
    // forged (refused), real FAIL (the shop was busy), real retried → SUCCESS, 2 duplicates.
    let o = settled(&rig, "koiA1", 5).await;
    let kinds: Vec<(&str, bool)> = o.deliveries.iter().map(|d| (d.kind.as_str(), d.acknowledged)).collect();
    assert_eq!(
        kinds,
        [("forged", false), ("real", false), ("real", true), ("duplicate", true), ("duplicate", true)],
        "{o:?}"
    );
    let seen = shop.seen.lock().expect("lock").clone();
    assert_eq!(seen[0], Err(NotifyError::BadSign), "the forged copy does not verify");
    assert!(seen[1..].iter().all(|s| *s == Ok(1990)), "{seen:?}");
    let state = pay.order_query(&m, "koiA1").await.expect("query");
    assert!(state.is_paid() && state.transaction_id == o.transaction_id && state.total_fee == 1990, "{state:?}");
    assert_eq!(balance(&rig), before + 1990);
    assert_eq!(code(pay.unified_order(&m, &order("koiA1", &oid, 1990, &url)).await), "ORDERPAID");
    assert_eq!(code(pay.close_order(&m, "koiA1").await), "ORDERPAID");

    // Refunds: partial, idempotent by out_refund_no, never past what was paid.
    let r1 = pay.refund(&m, &refund("koiA1", "koiR1", 1990, 990)).await.expect("refund");
    assert_eq!(pay.refund(&m, &refund("koiA1", "koiR1", 1990, 990)).await.expect("again"), r1);
    assert_eq!(code(pay.refund(&m, &refund("koiA1", "koiR1", 1990, 500)).await), "INVALID_REQUEST");
    assert_eq!(code(pay.refund(&m, &refund("koiA1", "koiR2", 1990, 1001)).await), "INVALID_REQUEST");
    assert_eq!(code(pay.refund(&m, &refund("koiA1", "koiR2", 999, 10)).await), "INVALID_REQUEST");
    pay.refund(&m, &refund("koiA1", "koiR2", 1990, 1000)).await.expect("the rest");
    assert_eq!(pay.refund_query(&m, "koiR2").await.expect("query"), ("SUCCESS".to_owned(), 1000));
    assert_eq!(code(pay.refund_query(&m, "koiR9").await), "REFUNDNOTEXIST");
    assert_eq!(pay.order_query(&m, "koiA1").await.expect("query").trade_state, "REFUND");
    assert_eq!(balance(&rig), before);

    // An unpaid order closes (twice is fine) and can then not be paid.
    let other = pay.unified_order(&m, &order("koiB2", &oid, 100, &url)).await.expect("prepay");
    pay.close_order(&m, "koiB2").await.expect("closed");
    pay.close_order(&m, "koiB2").await.expect("closed again");
    assert_eq!(pay.order_query(&m, "koiB2").await.expect("query").trade_state, "CLOSED");
    assert_eq!(customer_pays(&rig, &other, json!({})).await.0, 400);
    assert_eq!(code(pay.unified_order(&m, &order("koiB2", &oid, 100, &url)).await), "ORDERCLOSED");
    rig.shutdown().await;
}

fn refund(no: &str, refund_no: &str, total: i64, fee: i64) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.into(),
        out_refund_no: refund_no.into(),
        total_fee: total,
        refund_fee: fee,
        refund_desc: String::new(),
        notify_url: String::new(),
    }
}

/// What a shop's refund endpoint made of one notification: (status, fee) or why not.
type SeenRefund = Result<(String, String, i64), RefundNotifyError>;

/// A shop's refund notify endpoint: opens each notification with the key,
/// answers FAIL to the first `fail_first` good ones, keeps what it saw.
#[derive(Clone)]
struct RefundShop {
    key: String,
    fail_first: Arc<Mutex<u32>>,
    seen: Arc<Mutex<Vec<SeenRefund>>>,
}

async fn refund_shop_notify(axum::extract::State(s): axum::extract::State<RefundShop>, body: String) -> String {
    let parsed = parse_refund_notification(&body, &s.key);
    let ok = parsed.is_ok();
    s.seen.lock().expect("lock").push(parsed.map(|n| (n.out_refund_no, n.refund_status, n.refund_fee)));
    if !ok {
        return notify_answer(false, "解密失败");
    }
    let mut fail = s.fail_first.lock().expect("lock");
    if *fail > 0 {
        *fail -= 1;
        return notify_answer(false, "busy");
    }
    notify_answer(true, "OK")
}

async fn refund_shop(key: &str, fail_first: u32) -> (RefundShop, String) {
    let s = RefundShop { key: key.into(), fail_first: Arc::new(Mutex::new(fail_first)), seen: Arc::default() };
    let app = Router::new().route("/refund-notify", post(refund_shop_notify)).with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/refund-notify", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (s, url)
}

async fn refund_faults(rig: &Rig, no: &str, faults: Value) -> u16 {
    let url = format!("{}/sim/pay/jsapi/orders/{no}/refund-faults", rig.sim.base_url());
    reqwest::Client::new().put(url).json(&faults).send().await.expect("faults").status().as_u16()
}

async fn refund_deliveries(rig: &Rig, no: &str, refund_no: &str, n: usize) -> Vec<(String, bool)> {
    for _ in 0..300 {
        let o = rig.sim.state().jsapi_order(no).expect("the order");
        let d = &o.refund(refund_no).expect("the refund").deliveries;
        if d.len() >= n {
            return d.iter().map(|d| (d.kind.clone(), d.acknowledged)).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("refund deliveries never reached {n}: {:?}", rig.sim.state().jsapi_order(no));
}

#[tokio::test]
async fn a_refund_is_notified_sealed_retried_and_can_end_abnormal_or_closed() {
    let rig = Rig::start().await;
    let pay = PayClient::new(Duration::from_secs(5)).expect("client");
    let m = merchant(&rig);
    let oid = openid(&rig, "小退").await;
    let (_, url) = shop(&m.api_key, 0).await;
    let (shop, refund_url) = refund_shop(&m.api_key, 1).await;
    let balance = |rig: &Rig| rig.sim.state().pay_truth(&m.mch_id).expect("merchant").balance_fen;
    let prepay = pay.unified_order(&m, &order("koiRF1", &oid, 1990, &url)).await.expect("prepay");
    assert_eq!(customer_pays(&rig, &prepay, json!({})).await.0, 200);
    settled(&rig, "koiRF1", 1).await;
    let paid = balance(&rig);
    let with_notify = |refund_no: &str, fee: i64| RefundRequest {
        notify_url: refund_url.clone(),
        ..refund("koiRF1", refund_no, 1990, fee)
    };

    // Bad knobs and bad notify_urls are refused.
    assert_eq!(refund_faults(&rig, "koiRF1", json!({"outcome": "MAYBE"})).await, 400);
    assert_eq!(refund_faults(&rig, "koiNONE", json!({})).await, 400);
    let bad_url = RefundRequest { notify_url: "ftp://shop".into(), ..refund("koiRF1", "koiRB", 1990, 10) };
    assert_eq!(code(pay.refund(&m, &bad_url).await), "PARAM_ERROR");

    // SUCCESS, with a forged copy (another key), a garbage one, a busy shop and a duplicate;
    // refundquery lags: it still says PROCESSING, only the notification tells.
    let faults = json!({"forged": 1, "garbage": 1, "duplicates": 1, "query_lag_ms": 60_000});
    assert_eq!(refund_faults(&rig, "koiRF1", faults).await, 200);
    pay.refund(&m, &with_notify("koiRS", 990)).await.expect("accepted");
    assert_eq!(pay.refund_query(&m, "koiRS").await.expect("query"), ("PROCESSING".to_owned(), 990));
    let kinds = refund_deliveries(&rig, "koiRF1", "koiRS", 5).await;
    let want = [("forged", false), ("garbage", false), ("real", false), ("real", true), ("duplicate", true)];
    assert_eq!(kinds, want.map(|(k, a)| (k.to_owned(), a)));
    let seen = shop.seen.lock().expect("lock").clone();
    assert_eq!(seen[0], Err(RefundNotifyError::BadDecryption), "sealed with another key");
    assert_eq!(seen[1], Err(RefundNotifyError::BadBase64));
    assert!(seen[2..].iter().all(|s| *s == Ok(("koiRS".into(), "SUCCESS".into(), 990))), "{seen:?}");
    let o = rig.sim.state().jsapi_order("koiRF1").expect("order");
    let r = o.refund("koiRS").expect("refund");
    assert_eq!((r.refund_status.as_str(), r.success_time.len()), ("SUCCESS", 19), "{r:?}");
    assert_eq!((o.refunded_fee(), balance(&rig)), (990, paid - 990));

    // CHANGE and REFUNDCLOSE: notified as such, the money stays with the merchant and may be refunded again.
    let ended = |status: &str| json!({"outcome": status});
    assert_eq!(refund_faults(&rig, "koiRF1", ended("CHANGE")).await, 200);
    pay.refund(&m, &with_notify("koiRC", 1000)).await.expect("accepted");
    assert_eq!(pay.refund_query(&m, "koiRC").await.expect("query"), ("CHANGE".to_owned(), 1000));
    assert_eq!(refund_deliveries(&rig, "koiRF1", "koiRC", 1).await, [("real".to_owned(), true)]);
    assert_eq!(refund_faults(&rig, "koiRF1", ended("REFUNDCLOSE")).await, 200);
    pay.refund(&m, &with_notify("koiRX", 1000)).await.expect("accepted");
    assert_eq!(pay.refund_query(&m, "koiRX").await.expect("query").0, "REFUNDCLOSE");
    refund_deliveries(&rig, "koiRF1", "koiRX", 1).await;
    let seen = shop.seen.lock().expect("lock").clone();
    let opened = |no: &str, status: &str| -> SeenRefund { Ok((no.to_owned(), status.to_owned(), 1000)) };
    assert_eq!(seen[seen.len() - 2..], [opened("koiRC", "CHANGE"), opened("koiRX", "REFUNDCLOSE")]);
    assert_eq!(balance(&rig), paid - 990, "failed refunds never left the account");
    assert_eq!(refund_faults(&rig, "koiRF1", json!({})).await, 200);
    pay.refund(&m, &refund("koiRF1", "koiRL", 1990, 1000)).await.expect("the rest, without a notify_url");
    let o = rig.sim.state().jsapi_order("koiRF1").expect("order");
    assert_eq!((o.refunded_fee(), o.refund("koiRL").expect("refund").deliveries.len()), (1990, 0));
    rig.shutdown().await;
}
