//! WeChat Pay's JSAPI payments (公众号/小程序支付) as a merchant sees them,
//! beside the red packets of [`crate::pay`]: a shop creates a prepay order,
//! a virtual customer pays it (or walks away) from the control API, and the
//! simulator notifies the shop like WeChat does — signed XML POSTed to the
//! order's `notify_url`, retried until the shop answers SUCCESS, with
//! duplicates, forged copies and delays on request. Refunds come back out of
//! the merchant's balance.
//!
//! # Merchant API (v2 XML, signed with the merchant's API key, as `pay.rs`)
//! | route (under koi's pay base `http://SIM/pay`) | WeChat's | does |
//! |---|---|---|
//! | `POST /pay/pay/unifiedorder` | `/pay/unifiedorder` | `trade_type=JSAPI`, `appid` (the merchant's), `openid` (one `convert_to_openid` gave), `out_trade_no` (≤32 of `[A-Za-z0-9_-|*]`), `total_fee` ≥ 1, `body`, `notify_url`, optional `time_expire` (`yyyyMMddHHmmss`, Beijing) → `prepay_id` |
//! | `POST /pay/pay/orderquery` | `/pay/orderquery` | by `out_trade_no` → `trade_state` (NOTPAY, SUCCESS, REFUND, CLOSED), `transaction_id`, `total_fee`, `time_end`; ORDERNOTEXIST |
//! | `POST /pay/pay/closeorder` | `/pay/closeorder` | NOTPAY → CLOSED; ORDERPAID when paid; ORDERCLOSED when already closed |
//! | `POST /pay/secapi/pay/refund` | `/secapi/pay/refund` | `out_trade_no`, `out_refund_no` (idempotent), `total_fee` (must match), `refund_fee` (the sum of refunds ≤ `total_fee`), optional `notify_url` → `refund_id` (accepted); it ends at once, SUCCESS unless the order's refund faults say otherwise |
//! | `POST /pay/pay/refundquery` | `/pay/refundquery` | by `out_refund_no` → `refund_status_0` (SUCCESS, CHANGE, REFUNDCLOSE; PROCESSING while a `query_lag_ms` lasts), `refund_fee_0` |
//!
//! Idempotency (CONTRACT): `unifiedorder` with an `out_trade_no` seen before
//! answers the same `prepay_id` when `total_fee`, `openid` and `body` are
//! the same and the order is unpaid; ORDERPAID when it was paid, ORDERCLOSED
//! when closed, INVALID_REQUEST (`201 商户订单号重复`) when the parameters
//! differ. A refund with an `out_refund_no` seen before answers its first
//! outcome; with another amount it is INVALID_REQUEST. A refund above what
//! is left is INVALID_REQUEST (`累计退款金额大于支付金额`); of an unpaid order
//! TRADE_STATE_ERROR; over the merchant's balance NOTENOUGH.
//!
//! # The payment notification
//! Paying marks the order SUCCESS with a `transaction_id` and the virtual
//! time in `time_end`, credits the merchant, and POSTs to `notify_url`:
//! `<xml>` with `return_code`/`result_code` SUCCESS, `appid`, `mch_id`,
//! `openid`, `trade_type`, `total_fee`, `cash_fee`, `fee_type`,
//! `transaction_id`, `out_trade_no`, `time_end`, `attach`, `nonce_str`,
//! `sign`. An answer other than HTTP 200 with `return_code` SUCCESS is
//! retried on WeChat's schedule (15 s, 15 s, 30 s, 3 min, 10 min, 20 min,
//! 30 min ×3, 60 min, 3 h ×3, 6 h), compressed by `time_scale` (default
//! 1/100: the first retry after 150 ms); after the last it gives up.
//!
//! Faults, per payment (the body of the pay call): `duplicates` more copies
//! after the first acknowledged one, `forged` copies before it whose `sign`
//! is wrong (their `total_fee` set to 1 fen, so a shop that ignores the
//! signature is caught), and `delay_ms` before the first delivery. Every
//! delivery is kept as the truth.
//!
//! # The refund notification (退款结果通知)
//! A refund asked for with a `notify_url` is notified there when it ends:
//! `<xml>` with `return_code` SUCCESS, `appid`, `mch_id`, `nonce_str` and
//! `req_info`, the refund's fields (`transaction_id`, `out_trade_no`,
//! `refund_id`, `out_refund_no`, `total_fee`, `refund_fee`,
//! `settlement_refund_fee`, `refund_status`, `success_time`,
//! `refund_recv_accout`, `refund_account`, `refund_request_source`) sealed
//! with `koi_wecom::pay::seal_req_info` (AES-256-ECB under the MD5 of the
//! merchant key). Retried on the payment notification's schedule until
//! SUCCESS is answered. A CHANGE or REFUNDCLOSE refund gives its money back
//! to the merchant and does not count against what may still be refunded.
//!
//! Refund faults, per order, set before the refund (`PUT …/refund-faults`,
//! kept for every later refund of the order): `outcome` (SUCCESS, CHANGE,
//! REFUNDCLOSE), `duplicates` after the acknowledged one, `forged` copies
//! before it sealed with a wrong key (`refund_fee` 1), `garbage` copies whose
//! `req_info` is not base64, `delay_ms` before the first delivery, and
//! `query_lag_ms`: real milliseconds during which `refundquery` still says
//! PROCESSING (so only the notification can tell the shop in time).
//!
//! Not simulated: `USERPAYING`/`PAYERROR`, and the v3 API.
//!
//! # Control API
//! | route | does |
//! |---|---|
//! | `POST /sim/pay/jsapi/{prepay_id}/pay` | the customer pays: `{action: "pay"\|"cancel", duplicates, forged, delay_ms}` → the order; cancel leaves it NOTPAY |
//! | `GET /sim/pay/jsapi/orders?mch_id=` | every order with its refunds and deliveries |
//! | `GET /sim/pay/jsapi/orders/{out_trade_no}` | one order (any merchant) |
//! | `PUT /sim/pay/jsapi/orders/{out_trade_no}/refund-faults` | the order's [`RefundFaults`] → the order |
//! | `GET\|PUT /sim/pay/jsapi/settings` | `{time_scale}` for the retry schedule |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use koi_wecom::pay::wire::{self, PayFields};
use koi_wecom::pay::{refund_notification_fields, seal_req_info};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::control::ControlError;
use crate::state::{lock, SimState};

/// WeChat's notification retry schedule, seconds after the previous try.
pub const NOTIFY_SCHEDULE_SECS: [u64; 15] =
    [0, 15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600];

/// One delivery of a notification, as the truth keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `real`, `duplicate` or `forged`.
    pub kind: String,
    /// The HTTP status koi answered (0: no answer).
    pub status: u16,
    /// Whether the answer was `return_code` SUCCESS.
    pub acknowledged: bool,
    /// Real milliseconds since the epoch.
    pub at_ms: i64,
}

/// A refund of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
    /// Virtual milliseconds.
    pub at_ms: i64,
    /// SUCCESS, CHANGE or REFUNDCLOSE.
    #[serde(default)]
    pub refund_status: String,
    /// `yyyy-MM-dd HH:mm:ss` (Beijing, virtual time) of a SUCCESS.
    #[serde(default)]
    pub success_time: String,
    /// Where its notification goes; empty: none.
    #[serde(default)]
    pub notify_url: String,
    /// Real milliseconds until which `refundquery` says PROCESSING.
    #[serde(default)]
    pub query_lag_until_ms: i64,
    /// Deliveries of its notification.
    #[serde(default)]
    pub deliveries: Vec<Delivery>,
}

impl RefundRecord {
    /// Whether the money went back to the customer.
    pub fn succeeded(&self) -> bool {
        self.refund_status == "SUCCESS"
    }
}

/// How an order's refunds end and how their notifications misbehave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundFaults {
    /// SUCCESS (default), CHANGE or REFUNDCLOSE.
    pub outcome: String,
    /// Copies sent after the first acknowledged notification.
    pub duplicates: u32,
    /// Copies sealed with a wrong key (and `refund_fee` 1) sent before the real one.
    pub forged: u32,
    /// Copies whose `req_info` is not base64, sent before the real one.
    pub garbage: u32,
    /// Real milliseconds before the first delivery.
    pub delay_ms: u64,
    /// Real milliseconds during which `refundquery` says PROCESSING.
    pub query_lag_ms: u64,
}

/// A JSAPI order: the truth a test compares koi's checkouts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsapiOrder {
    pub mch_id: String,
    pub appid: String,
    pub out_trade_no: String,
    pub prepay_id: String,
    pub openid: String,
    pub body: String,
    pub total_fee: i64,
    pub notify_url: String,
    pub attach: String,
    /// NOTPAY, SUCCESS, REFUND or CLOSED.
    pub trade_state: String,
    pub transaction_id: String,
    /// `yyyyMMddHHmmss`, Beijing (virtual time).
    pub time_end: String,
    /// Virtual milliseconds; 0 for none.
    pub expires_at_ms: i64,
    pub cancelled_by_customer: bool,
    pub refunds: Vec<RefundRecord>,
    pub deliveries: Vec<Delivery>,
    /// How its refunds end (set from the control API).
    #[serde(default)]
    pub refund_faults: RefundFaults,
}

impl JsapiOrder {
    /// What went back to the customer (CHANGE and REFUNDCLOSE refunds do not count).
    pub fn refunded_fee(&self) -> i64 {
        self.refunds.iter().filter(|r| r.succeeded()).map(|r| r.refund_fee).sum()
    }

    /// One refund by its `out_refund_no`.
    pub fn refund(&self, out_refund_no: &str) -> Option<&RefundRecord> {
        self.refunds.iter().find(|r| r.out_refund_no == out_refund_no)
    }
}

/// The JSAPI orders of every merchant, by `out_trade_no` within a merchant.
#[derive(Debug)]
pub(crate) struct PayOrders {
    orders: Mutex<BTreeMap<(String, String), JsapiOrder>>,
    time_scale: Mutex<f64>,
    http: reqwest::Client,
}

impl Default for PayOrders {
    fn default() -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        PayOrders { orders: Mutex::new(BTreeMap::new()), time_scale: Mutex::new(0.01), http }
    }
}

impl SimState {
    /// Every JSAPI order (of one merchant when `mch_id` is given).
    pub fn jsapi_orders(&self, mch_id: Option<&str>) -> Vec<JsapiOrder> {
        let orders = lock(&self.pay_orders.orders);
        orders.values().filter(|o| mch_id.is_none_or(|m| o.mch_id == m)).cloned().collect()
    }

    /// One JSAPI order by its `out_trade_no` (the first merchant's that has it).
    pub fn jsapi_order(&self, out_trade_no: &str) -> Option<JsapiOrder> {
        lock(&self.pay_orders.orders).values().find(|o| o.out_trade_no == out_trade_no).cloned()
    }
}

// ---- the merchant API ----

fn field<'a>(req: &'a PayFields, name: &str) -> &'a str {
    req.get(name).map(String::as_str).unwrap_or_default()
}

fn xml(fields: PayFields) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "text/xml; charset=utf-8")], wire::to_xml(&fields)).into_response()
}

fn protocol(msg: &str) -> Response {
    let mut f = PayFields::new();
    f.insert("return_code".into(), "FAIL".into());
    f.insert("return_msg".into(), msg.into());
    xml(f)
}

fn fail(err_code: &str, des: &str) -> Response {
    let mut f = PayFields::new();
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("return_msg".into(), "OK".into());
    f.insert("result_code".into(), "FAIL".into());
    f.insert("err_code".into(), err_code.into());
    f.insert("err_code_des".into(), des.into());
    xml(f)
}

fn ok(mut f: PayFields, key: &str) -> Response {
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("return_msg".into(), "OK".into());
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("nonce_str".into(), wire::nonce());
    let s = wire::sign(&f, key);
    f.insert("sign".into(), s);
    xml(f)
}

/// `POST /pay/pay/{api}` and `POST /pay/secapi/pay/refund`.
async fn api(state: State<Arc<SimState>>, Path(api): Path<String>, body: Bytes) -> Response {
    handle(state, &api, body).await
}

async fn refund_api(state: State<Arc<SimState>>, body: Bytes) -> Response {
    handle(state, "refund", body).await
}

async fn handle(State(state): State<Arc<SimState>>, api: &str, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else { return protocol("XML格式错误") };
    let Ok(req) = wire::parse(text) else { return protocol("XML格式错误") };
    let mch_id = field(&req, "mch_id").to_owned();
    let Some(merchant) = state.pay.merchant(&mch_id) else {
        return fail("NO_AUTH", "商户号不存在或无此接口权限");
    };
    let key = merchant.api_key.clone();
    if !wire::verify(&req, &key) {
        return fail("SIGN_ERROR", "签名错误");
    }
    if field(&req, "appid") != merchant.wxappid {
        return fail("APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
    }
    match api {
        "unifiedorder" => unified_order(&state, &merchant.mch_id, &merchant.wxappid, &req, &key),
        "orderquery" => order_query(&state, &mch_id, &req, &key),
        "closeorder" => close_order(&state, &mch_id, &req, &key),
        "refund" => refund(&state, &mch_id, &req, &key),
        "refundquery" => refund_query(&state, &mch_id, &req, &key),
        _ => protocol("接口不存在"),
    }
}

/// Whether `no` is an `out_trade_no` / `out_refund_no` WeChat takes.
fn valid_trade_no(no: &str) -> bool {
    !no.is_empty() && no.len() <= 32 && no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
}

/// `yyyyMMddHHmmss` (Beijing) → virtual ms.
fn parse_beijing(s: &str) -> Option<i64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0, 4)?, n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - 8 * 3600) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Virtual ms → `yyyyMMddHHmmss` (Beijing).
pub fn beijing_compact(ms: i64) -> String {
    let s = ms.div_euclid(1000) + 8 * 3600;
    let (days, secs) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn unified_order(state: &SimState, mch_id: &str, appid: &str, req: &PayFields, key: &str) -> Response {
    let out_trade_no = field(req, "out_trade_no");
    let openid = field(req, "openid");
    let body = field(req, "body");
    let notify_url = field(req, "notify_url");
    if field(req, "trade_type") != "JSAPI" {
        return fail("PARAM_ERROR", "trade_type 须为 JSAPI");
    }
    if !valid_trade_no(out_trade_no) {
        return fail("PARAM_ERROR", "out_trade_no 须为1-32位字母、数字或_-|*");
    }
    let Ok(total_fee) = field(req, "total_fee").parse::<i64>() else {
        return fail("PARAM_ERROR", "total_fee 须为整数");
    };
    if total_fee < 1 {
        return fail("PARAM_ERROR", "total_fee 至少为1分");
    }
    if body.is_empty() || body.len() > 128 {
        return fail("PARAM_ERROR", "body 必填,不超过128字节");
    }
    if !(notify_url.starts_with("http://") || notify_url.starts_with("https://")) {
        return fail("PARAM_ERROR", "notify_url 须为 http(s) 地址");
    }
    if openid.is_empty() {
        return fail("PARAM_ERROR", "JSAPI 支付必须传 openid");
    }
    let openid_known = state.corp_by_id(appid).map(|c| lock(&c.world).openids.contains_key(openid));
    if openid_known != Some(true) {
        return fail("PARAM_ERROR", "appid和openid不匹配");
    }
    let expires = match field(req, "time_expire") {
        "" => 0,
        t => match parse_beijing(t) {
            Some(ms) => ms,
            None => return fail("PARAM_ERROR", "time_expire 格式为 yyyyMMddHHmmss"),
        },
    };
    let mut orders = lock(&state.pay_orders.orders);
    let k = (mch_id.to_owned(), out_trade_no.to_owned());
    let prepay = |o: &JsapiOrder| {
        let mut f = PayFields::new();
        f.insert("appid".into(), o.appid.clone());
        f.insert("mch_id".into(), o.mch_id.clone());
        f.insert("trade_type".into(), "JSAPI".into());
        f.insert("prepay_id".into(), o.prepay_id.clone());
        ok(f, key)
    };
    if let Some(o) = orders.get(&k) {
        return match o.trade_state.as_str() {
            "SUCCESS" | "REFUND" => fail("ORDERPAID", "该订单已支付"),
            "CLOSED" => fail("ORDERCLOSED", "该订单已关闭"),
            _ if o.total_fee != total_fee || o.openid != openid || o.body != body => {
                fail("INVALID_REQUEST", "201 商户订单号重复")
            }
            _ => prepay(o),
        };
    }
    let seq = orders.len() + 1;
    let order = JsapiOrder {
        mch_id: mch_id.to_owned(),
        appid: appid.to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        prepay_id: format!("wx{}{seq:010}", &beijing_compact(state.clock.now_ms())),
        openid: openid.to_owned(),
        body: body.to_owned(),
        total_fee,
        notify_url: notify_url.to_owned(),
        attach: field(req, "attach").to_owned(),
        trade_state: "NOTPAY".into(),
        transaction_id: String::new(),
        time_end: String::new(),
        expires_at_ms: expires,
        cancelled_by_customer: false,
        refunds: Vec::new(),
        deliveries: Vec::new(),
        refund_faults: RefundFaults::default(),
    };
    let answer = prepay(&order);
    orders.insert(k, order);
    answer
}

fn find<'a>(
    orders: &'a mut BTreeMap<(String, String), JsapiOrder>,
    mch_id: &str,
    req: &PayFields,
) -> Option<&'a mut JsapiOrder> {
    orders.get_mut(&(mch_id.to_owned(), field(req, "out_trade_no").to_owned()))
}

fn order_query(state: &SimState, mch_id: &str, req: &PayFields, key: &str) -> Response {
    let mut orders = lock(&state.pay_orders.orders);
    let Some(o) = find(&mut orders, mch_id, req) else { return fail("ORDERNOTEXIST", "此交易订单号不存在") };
    let mut f = PayFields::new();
    f.insert("appid".into(), o.appid.clone());
    f.insert("mch_id".into(), o.mch_id.clone());
    f.insert("out_trade_no".into(), o.out_trade_no.clone());
    f.insert("trade_state".into(), o.trade_state.clone());
    f.insert("total_fee".into(), o.total_fee.to_string());
    f.insert("openid".into(), o.openid.clone());
    f.insert("trade_type".into(), "JSAPI".into());
    f.insert("attach".into(), o.attach.clone());
    if !o.transaction_id.is_empty() {
        f.insert("transaction_id".into(), o.transaction_id.clone());
        f.insert("time_end".into(), o.time_end.clone());
        f.insert("cash_fee".into(), o.total_fee.to_string());
    }
    ok(f, key)
}

fn close_order(state: &SimState, mch_id: &str, req: &PayFields, key: &str) -> Response {
    let mut orders = lock(&state.pay_orders.orders);
    let Some(o) = find(&mut orders, mch_id, req) else { return fail("ORDERNOTEXIST", "此交易订单号不存在") };
    match o.trade_state.as_str() {
        "SUCCESS" | "REFUND" => fail("ORDERPAID", "订单已支付,不能发起关单"),
        "CLOSED" => fail("ORDERCLOSED", "订单已关闭,无需继续调用"),
        _ => {
            o.trade_state = "CLOSED".into();
            let mut f = PayFields::new();
            f.insert("appid".into(), o.appid.clone());
            f.insert("mch_id".into(), o.mch_id.clone());
            ok(f, key)
        }
    }
}

fn refund_fields(o: &JsapiOrder, r: &RefundRecord) -> PayFields {
    let mut f = PayFields::new();
    f.insert("appid".into(), o.appid.clone());
    f.insert("mch_id".into(), o.mch_id.clone());
    f.insert("out_trade_no".into(), o.out_trade_no.clone());
    f.insert("transaction_id".into(), o.transaction_id.clone());
    f.insert("out_refund_no".into(), r.out_refund_no.clone());
    f.insert("refund_id".into(), r.refund_id.clone());
    f.insert("refund_fee".into(), r.refund_fee.to_string());
    f.insert("total_fee".into(), o.total_fee.to_string());
    f.insert("cash_fee".into(), o.total_fee.to_string());
    f
}

fn refund(state: &Arc<SimState>, mch_id: &str, req: &PayFields, key: &str) -> Response {
    let out_refund_no = field(req, "out_refund_no");
    if !valid_trade_no(out_refund_no) {
        return fail("PARAM_ERROR", "out_refund_no 须为1-32位字母、数字或_-|*");
    }
    let notify_url = field(req, "notify_url");
    if !(notify_url.is_empty() || notify_url.starts_with("http://") || notify_url.starts_with("https://")) {
        return fail("PARAM_ERROR", "notify_url 须为 http(s) 地址");
    }
    let (Ok(total_fee), Ok(refund_fee)) =
        (field(req, "total_fee").parse::<i64>(), field(req, "refund_fee").parse::<i64>())
    else {
        return fail("PARAM_ERROR", "total_fee, refund_fee 须为整数");
    };
    let now = state.clock.now_ms();
    let mut orders = lock(&state.pay_orders.orders);
    let Some(o) = find(&mut orders, mch_id, req) else { return fail("ORDERNOTEXIST", "此交易订单号不存在") };
    if let Some(r) = o.refunds.iter().find(|r| r.out_refund_no == out_refund_no) {
        if r.refund_fee != refund_fee {
            return fail("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致");
        }
        return ok(refund_fields(o, r), key);
    }
    if !matches!(o.trade_state.as_str(), "SUCCESS" | "REFUND") {
        return fail("TRADE_STATE_ERROR", "订单状态错误,未支付的订单不能退款");
    }
    if total_fee != o.total_fee {
        return fail("INVALID_REQUEST", "订单金额与支付金额不一致");
    }
    if refund_fee < 1 || o.refunded_fee() + refund_fee > o.total_fee {
        return fail("INVALID_REQUEST", "累计退款金额大于支付金额");
    }
    let faults = o.refund_faults.clone();
    let status = match faults.outcome.as_str() {
        "" | "SUCCESS" => "SUCCESS",
        "CHANGE" => "CHANGE",
        _ => "REFUNDCLOSE",
    };
    // A refund that does not succeed never leaves the merchant's account.
    let paid_back = state.pay.with_merchant(mch_id, |m| {
        if m.balance_fen < refund_fee {
            false
        } else {
            if status == "SUCCESS" {
                m.balance_fen -= refund_fee;
            }
            true
        }
    });
    if paid_back != Some(true) {
        return fail("NOTENOUGH", "基本账户余额不足,请充值后重新发起");
    }
    let compact = beijing_compact(now);
    let r = RefundRecord {
        out_refund_no: out_refund_no.to_owned(),
        refund_id: format!("50000{compact}{:08}", o.refunds.len() + 1),
        refund_fee,
        at_ms: now,
        refund_status: status.into(),
        success_time: if status == "SUCCESS" {
            format!(
                "{}-{}-{} {}:{}:{}",
                &compact[..4],
                &compact[4..6],
                &compact[6..8],
                &compact[8..10],
                &compact[10..12],
                &compact[12..]
            )
        } else {
            String::new()
        },
        notify_url: notify_url.to_owned(),
        query_lag_until_ms: real_now_ms() + i64::try_from(faults.query_lag_ms).unwrap_or(i64::MAX / 2),
        deliveries: Vec::new(),
    };
    o.trade_state = "REFUND".into();
    o.refunds.push(r.clone());
    let answer = ok(refund_fields(o, &r), key);
    if !r.notify_url.is_empty() {
        let (notifier, order, key) = (state.clone(), o.clone(), key.to_owned());
        tokio::spawn(async move { notify_refund(notifier, order, r, key, faults).await });
    }
    answer
}

fn real_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn refund_query(state: &SimState, mch_id: &str, req: &PayFields, key: &str) -> Response {
    let orders = lock(&state.pay_orders.orders);
    let no = field(req, "out_refund_no");
    let hit = orders
        .values()
        .filter(|o| o.mch_id == mch_id)
        .find_map(|o| o.refunds.iter().find(|r| r.out_refund_no == no).map(|r| (o, r)));
    let Some((o, r)) = hit else { return fail("REFUNDNOTEXIST", "退款订单查询失败") };
    let status = if real_now_ms() < r.query_lag_until_ms { "PROCESSING" } else { r.refund_status.as_str() };
    let mut f = PayFields::new();
    f.insert("appid".into(), o.appid.clone());
    f.insert("mch_id".into(), o.mch_id.clone());
    f.insert("out_trade_no".into(), o.out_trade_no.clone());
    f.insert("total_fee".into(), o.total_fee.to_string());
    f.insert("refund_count".into(), "1".into());
    f.insert("out_refund_no_0".into(), r.out_refund_no.clone());
    f.insert("refund_id_0".into(), r.refund_id.clone());
    f.insert("refund_fee_0".into(), r.refund_fee.to_string());
    f.insert("refund_status_0".into(), status.into());
    ok(f, key)
}

// ---- the customer and the notifications ----

/// What the virtual customer does with a prepay, and the faults of its
/// notification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PayAction {
    /// `pay` (default) or `cancel`.
    pub action: String,
    /// Copies sent after the first acknowledged notification.
    pub duplicates: u32,
    /// Copies with a wrong `sign` (and `total_fee` 1) sent before the real one.
    pub forged: u32,
    /// Real milliseconds before the first delivery.
    pub delay_ms: u64,
}

async fn pay_prepay(
    State(state): State<Arc<SimState>>,
    Path(prepay_id): Path<String>,
    body: Option<Json<PayAction>>,
) -> Result<Json<Value>, ControlError> {
    let act = body.map(|Json(a)| a).unwrap_or_default();
    let now = state.clock.now_ms();
    let (order, key) = {
        let mut orders = lock(&state.pay_orders.orders);
        let o = orders
            .values_mut()
            .find(|o| o.prepay_id == prepay_id)
            .ok_or_else(|| ControlError::BadRequest(format!("unknown prepay_id {prepay_id}")))?;
        if o.trade_state != "NOTPAY" {
            return Err(ControlError::BadRequest(format!("the order is {}, not NOTPAY", o.trade_state)));
        }
        if o.expires_at_ms > 0 && now > o.expires_at_ms {
            return Err(ControlError::BadRequest("the prepay has expired (time_expire)".into()));
        }
        if act.action == "cancel" {
            o.cancelled_by_customer = true;
            return Ok(Json(serde_json::to_value(&*o).unwrap_or(Value::Null)));
        }
        if !(act.action.is_empty() || act.action == "pay") {
            return Err(ControlError::BadRequest("action is pay or cancel".into()));
        }
        let Some(key) = state.pay.with_merchant(&o.mch_id, |m| {
            m.balance_fen += o.total_fee;
            m.api_key.clone()
        }) else {
            return Err(ControlError::UnknownMerchant(o.mch_id.clone()));
        };
        o.trade_state = "SUCCESS".into();
        o.cancelled_by_customer = false;
        o.time_end = beijing_compact(now);
        o.transaction_id = format!("4200{}{:010}", &o.time_end[..8], orders_seq(&prepay_id));
        (o.clone(), key)
    };
    let notifier = state.clone();
    let notice = order.clone();
    tokio::spawn(async move { notify(notifier, notice, key, act).await });
    Ok(Json(serde_json::to_value(order).unwrap_or(Value::Null)))
}

/// The prepay's sequence number (its last ten digits).
fn orders_seq(prepay_id: &str) -> u64 {
    prepay_id.get(prepay_id.len().saturating_sub(10)..).and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// The notification of a paid order, signed.
pub fn notification(o: &JsapiOrder, key: &str) -> PayFields {
    let mut f = PayFields::new();
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("return_msg".into(), "OK".into());
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("appid".into(), o.appid.clone());
    f.insert("mch_id".into(), o.mch_id.clone());
    f.insert("openid".into(), o.openid.clone());
    f.insert("is_subscribe".into(), "N".into());
    f.insert("trade_type".into(), "JSAPI".into());
    f.insert("bank_type".into(), "OTHERS".into());
    f.insert("total_fee".into(), o.total_fee.to_string());
    f.insert("cash_fee".into(), o.total_fee.to_string());
    f.insert("fee_type".into(), "CNY".into());
    f.insert("transaction_id".into(), o.transaction_id.clone());
    f.insert("out_trade_no".into(), o.out_trade_no.clone());
    f.insert("time_end".into(), o.time_end.clone());
    if !o.attach.is_empty() {
        f.insert("attach".into(), o.attach.clone());
    }
    f.insert("nonce_str".into(), wire::nonce());
    let s = wire::sign(&f, key);
    f.insert("sign".into(), s);
    f
}

/// One POST of a notification: the status and whether koi acknowledged it.
async fn deliver(http: &reqwest::Client, url: &str, fields: &PayFields) -> (u16, bool) {
    let sent = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(wire::to_xml(fields))
        .send()
        .await;
    let Ok(r) = sent else { return (0, false) };
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let acked = status == 200 && wire::parse(&text).is_ok_and(|a| a.get("return_code").is_some_and(|c| c == "SUCCESS"));
    (status, acked)
}

fn record(state: &SimState, o: &JsapiOrder, kind: &str, (status, acknowledged): (u16, bool)) {
    let at_ms = real_now_ms();
    let mut orders = lock(&state.pay_orders.orders);
    if let Some(order) = orders.get_mut(&(o.mch_id.clone(), o.out_trade_no.clone())) {
        order.deliveries.push(Delivery { kind: kind.into(), status, acknowledged, at_ms });
    }
}

async fn notify(state: Arc<SimState>, o: JsapiOrder, key: String, act: PayAction) {
    let http = state.pay_orders.http.clone();
    if act.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(act.delay_ms)).await;
    }
    for _ in 0..act.forged {
        let mut forged = notification(&o, &key);
        forged.insert("total_fee".into(), "1".into());
        forged.insert("cash_fee".into(), "1".into());
        forged.insert("sign".into(), wire::sign(&forged, "not-the-merchant-key"));
        let answer = deliver(&http, &o.notify_url, &forged).await;
        record(&state, &o, "forged", answer);
    }
    let scale = *lock(&state.pay_orders.time_scale);
    let mut acked = false;
    for wait in NOTIFY_SCHEDULE_SECS {
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs_f64(wait as f64 * scale)).await;
        }
        let answer = deliver(&http, &o.notify_url, &notification(&o, &key)).await;
        record(&state, &o, "real", answer);
        if answer.1 {
            acked = true;
            break;
        }
    }
    if !acked {
        tracing::warn!(out_trade_no = %o.out_trade_no, "payment notification never acknowledged; gave up");
        return;
    }
    for _ in 0..act.duplicates {
        let answer = deliver(&http, &o.notify_url, &notification(&o, &key)).await;
        record(&state, &o, "duplicate", answer);
    }
}

/// The refund's fields as `req_info` carries them.
pub fn refund_req_info(o: &JsapiOrder, r: &RefundRecord) -> PayFields {
    let mut f = PayFields::new();
    f.insert("transaction_id".into(), o.transaction_id.clone());
    f.insert("out_trade_no".into(), o.out_trade_no.clone());
    f.insert("refund_id".into(), r.refund_id.clone());
    f.insert("out_refund_no".into(), r.out_refund_no.clone());
    f.insert("total_fee".into(), o.total_fee.to_string());
    f.insert("refund_fee".into(), r.refund_fee.to_string());
    f.insert("settlement_refund_fee".into(), r.refund_fee.to_string());
    f.insert("refund_status".into(), r.refund_status.clone());
    if !r.success_time.is_empty() {
        f.insert("success_time".into(), r.success_time.clone());
    }
    f.insert("refund_recv_accout".into(), "支付用户零钱".into());
    f.insert("refund_account".into(), "REFUND_SOURCE_UNSETTLED_FUNDS".into());
    f.insert("refund_request_source".into(), "API".into());
    f
}

/// The refund notification of `r`, its `req_info` sealed with `key`.
pub fn refund_notification(o: &JsapiOrder, r: &RefundRecord, key: &str) -> PayFields {
    refund_notification_fields(&o.appid, &o.mch_id, seal_req_info(&refund_req_info(o, r), key))
}

fn record_refund(
    state: &SimState,
    o: &JsapiOrder,
    out_refund_no: &str,
    kind: &str,
    (status, acknowledged): (u16, bool),
) {
    let at_ms = real_now_ms();
    let mut orders = lock(&state.pay_orders.orders);
    let refund = orders
        .get_mut(&(o.mch_id.clone(), o.out_trade_no.clone()))
        .and_then(|order| order.refunds.iter_mut().find(|r| r.out_refund_no == out_refund_no));
    if let Some(r) = refund {
        r.deliveries.push(Delivery { kind: kind.into(), status, acknowledged, at_ms });
    }
}

async fn notify_refund(state: Arc<SimState>, o: JsapiOrder, r: RefundRecord, key: String, faults: RefundFaults) {
    let http = state.pay_orders.http.clone();
    let no = r.out_refund_no.clone();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    for _ in 0..faults.forged {
        let mut inner = refund_req_info(&o, &r);
        inner.insert("refund_fee".into(), "1".into());
        let forged = refund_notification_fields(&o.appid, &o.mch_id, seal_req_info(&inner, "not-the-merchant-key"));
        let answer = deliver(&http, &r.notify_url, &forged).await;
        record_refund(&state, &o, &no, "forged", answer);
    }
    for _ in 0..faults.garbage {
        let garbage = refund_notification_fields(&o.appid, &o.mch_id, "%%%not-base64%%%".into());
        let answer = deliver(&http, &r.notify_url, &garbage).await;
        record_refund(&state, &o, &no, "garbage", answer);
    }
    let scale = *lock(&state.pay_orders.time_scale);
    let mut acked = false;
    for wait in NOTIFY_SCHEDULE_SECS {
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs_f64(wait as f64 * scale)).await;
        }
        let answer = deliver(&http, &r.notify_url, &refund_notification(&o, &r, &key)).await;
        record_refund(&state, &o, &no, "real", answer);
        if answer.1 {
            acked = true;
            break;
        }
    }
    if !acked {
        tracing::warn!(out_refund_no = %no, "refund notification never acknowledged; gave up");
        return;
    }
    for _ in 0..faults.duplicates {
        let answer = deliver(&http, &r.notify_url, &refund_notification(&o, &r, &key)).await;
        record_refund(&state, &o, &no, "duplicate", answer);
    }
}

async fn set_refund_faults(
    State(state): State<Arc<SimState>>,
    Path(no): Path<String>,
    Json(faults): Json<RefundFaults>,
) -> Result<Json<Value>, ControlError> {
    if !matches!(faults.outcome.as_str(), "" | "SUCCESS" | "CHANGE" | "REFUNDCLOSE") {
        return Err(ControlError::BadRequest("outcome is SUCCESS, CHANGE or REFUNDCLOSE".into()));
    }
    let mut orders = lock(&state.pay_orders.orders);
    let o = orders
        .values_mut()
        .find(|o| o.out_trade_no == no)
        .ok_or_else(|| ControlError::BadRequest(format!("unknown out_trade_no {no}")))?;
    o.refund_faults = faults;
    Ok(Json(serde_json::to_value(&*o).unwrap_or(Value::Null)))
}

// ---- control ----

type Shared = State<Arc<SimState>>;

#[derive(Deserialize)]
struct ListQuery {
    mch_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    /// Real seconds per WeChat second of the retry schedule.
    time_scale: f64,
}

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/pay/pay/{api}", post(api))
        .route("/pay/secapi/pay/refund", post(refund_api))
        .route("/sim/pay/jsapi/{prepay_id}/pay", post(pay_prepay))
        .route("/sim/pay/jsapi/orders/{out_trade_no}/refund-faults", axum::routing::put(set_refund_faults))
        .route(
            "/sim/pay/jsapi/orders",
            get(|State(s): Shared, Query(q): Query<ListQuery>| async move {
                Json(json!(s.jsapi_orders(q.mch_id.as_deref())))
            }),
        )
        .route(
            "/sim/pay/jsapi/orders/{out_trade_no}",
            get(|State(s): Shared, Path(no): Path<String>| async move {
                s.jsapi_order(&no)
                    .map(|o| Json(json!(o)))
                    .ok_or_else(|| ControlError::BadRequest(format!("unknown out_trade_no {no}")))
            }),
        )
        .route(
            "/sim/pay/jsapi/settings",
            get(
                |State(s): Shared| async move { Json(json!(Settings { time_scale: *lock(&s.pay_orders.time_scale) })) },
            )
            .put(|State(s): Shared, Json(v): Json<Settings>| async move {
                if !(v.time_scale.is_finite() && v.time_scale >= 0.0) {
                    return Err(ControlError::BadRequest("time_scale is a number ≥ 0".into()));
                }
                *lock(&s.pay_orders.time_scale) = v.time_scale;
                Ok(Json(json!(v)))
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_times_round_trip() {
        // 2024-02-29 16:30:05 UTC is 2024-03-01 00:30:05 in Beijing.
        assert_eq!(beijing_compact(1_709_224_205_000), "20240301003005");
        assert_eq!(parse_beijing("20240301003005"), Some(1_709_224_205_000));
        assert_eq!(parse_beijing("2024030100300"), None);
        assert_eq!(parse_beijing("20241301003005"), None);
    }

    #[test]
    fn trade_numbers_follow_wechat() {
        assert!(valid_trade_no("koi_1-2|3*"));
        assert!(!valid_trade_no(""));
        assert!(!valid_trade_no(&"1".repeat(33)));
        assert!(!valid_trade_no("订单"));
    }
}
