//! WeChat Pay (微信支付) as a merchant sees it, for koi's rewards: the v2
//! merchant API under `/pay/` (`POST /pay/mmpaymkttransfers/sendworkwxredpack`,
//! `POST /pay/mmpaymkttransfers/gethbinfo`), XML in and out, signed with the
//! merchant's API key (SIGN_ERROR) and WeCom's `workwx_sign`
//! (WORKWX_SIGN_ERROR); each merchant has a balance in fen, WeChat's
//! limits and injected failures. Point koi's pay base URL at
//! `http://SIM/pay` in place of `https://api.mch.weixin.qq.com`.
//!
//! **Mutual TLS is not simulated**: WeChat Pay wants the merchant's API
//! certificate on these calls; the simulator serves plain HTTP and asks for
//! none.
//!
//! Rules (WeChat's defaults, [`PayLimits`]): a packet is 100–20000 fen
//! (PARAM_ERROR outside; with a `scene_id`, 1 fen up to the user's daily
//! cap); a user receives ≤10 packets (SENDNUM_LIMIT) and ≤100000 fen
//! (MONEY_LIMIT) a day (Asia/Shanghai, virtual clock); a merchant sends
//! ≤1800 packets a minute (FREQ_LIMIT) and ≤¥1,000,000 a day
//! (SENDAMOUNT_LIMIT); a packet over the balance is NOTENOUGH. The openid
//! must be one WeCom's `convert_to_openid` gave for the corp whose CorpID is
//! the merchant's `wxappid` (OPENID_ERROR).
//!
//! Idempotency by `mch_billno`: the same billno with the same openid and
//! amount answers the original success (the same `send_listid`) and pays
//! nothing more; with another openid or amount it is FATAL_ERROR.
//!
//! Faults ([`PayFaults`]): SYSTEMERROR that did or did not pay, and
//! timeouts (the answer comes after `timeout_ms`) that did or did not pay;
//! from a script (the next sends, in order) or at random rates. The truth
//! — balance and every payment — is read from the control API below.
//!
//! JSAPI payments, their notifications and refunds are in
//! [`crate::pay_order`].
//!
//! # Control API
//! | route | does |
//! |---|---|
//! | `GET /sim/pay/merchants` | every merchant: `{mch_id, wxappid, api_key, workwx_secret, balance_fen}` |
//! | `GET /sim/pay/merchants/{mch_id}` | the truth: `{mch_id, wxappid, balance_fen, payments[PaymentRecord], by_openid{openid: {count, fen}}}` |
//! | `PUT /sim/pay/merchants/{mch_id}/balance` | `{balance_fen}` |
//! | `GET\|PUT /sim/pay/merchants/{mch_id}/faults` | reads or replaces the merchant's [`PayFaults`] |
//! | `GET /sim/pay/merchants/{mch_id}/transfers` | 企业付款到零钱 made (`pay_transfer.rs`): `{mch_id, balance_fen, transfers, by_openid}` |

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use koi_wecom::pay::wire::{self, PayFields};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::control::ControlError;

#[path = "pay_transfer.rs"]
mod transfer;
use crate::state::{lock, SimState};
pub use transfer::{TransferLimits, TransferRecord, TransferTruth};

/// A merchant account (商户号) the simulator hosts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimMerchant {
    pub mch_id: String,
    /// The appid packets are paid under: the corp's CorpID for WeCom red
    /// packets. Empty: the corp at the merchant's position in the config.
    pub wxappid: String,
    /// The v2 API key (`sign`).
    pub api_key: String,
    /// The WeCom 企业支付 app's secret (`workwx_sign`).
    pub workwx_secret: String,
    pub balance_fen: i64,
}

impl Default for SimMerchant {
    fn default() -> Self {
        Self {
            mch_id: "1900000109".to_owned(),
            wxappid: String::new(),
            api_key: "simpaykeysimpaykeysimpaykey00001".to_owned(),
            workwx_secret: "sim-pay-secret".to_owned(),
            balance_fen: 1_000_000,
        }
    }
}

/// WeChat Pay's limits on red packets (defaults: WeCom's 发放规则).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PayLimits {
    pub min_packet_fen: i64,
    pub max_packet_fen: i64,
    pub per_user_day_count: u32,
    pub per_user_day_fen: i64,
    /// Packets per merchant per virtual minute.
    pub per_minute: u32,
    /// What a merchant pays out a day (SENDAMOUNT_LIMIT past it).
    pub merchant_day_fen: i64,
}

impl Default for PayLimits {
    fn default() -> Self {
        Self {
            min_packet_fen: 100,
            max_packet_fen: 20_000,
            per_user_day_count: 10,
            per_user_day_fen: 100_000,
            per_minute: 1800,
            merchant_day_fen: 100_000_000,
        }
    }
}

/// One injected failure of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayFault {
    /// SYSTEMERROR, nothing paid.
    Systemerror,
    /// SYSTEMERROR although the packet was paid.
    SystemerrorPaid,
    /// The answer comes after `timeout_ms` (a SYSTEMERROR), nothing paid.
    Timeout,
    /// The packet is paid, and its answer comes after `timeout_ms`.
    TimeoutPaid,
}

/// Failures a merchant's sends meet. The default injects nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PayFaults {
    /// Added to every answer (real milliseconds).
    pub latency_ms: u64,
    /// Faults for the next sends, one each, in order, before any rate.
    pub script: Vec<PayFault>,
    pub systemerror_rate: f64,
    /// Of the SYSTEMERRORs drawn, the share that paid anyway.
    pub systemerror_paid_share: f64,
    pub timeout_rate: f64,
    pub timeout_paid_share: f64,
    /// How late a timed-out answer comes (real milliseconds).
    pub timeout_ms: u64,
}

impl Default for PayFaults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            script: Vec::new(),
            systemerror_rate: 0.0,
            systemerror_paid_share: 0.5,
            timeout_rate: 0.0,
            timeout_paid_share: 0.5,
            timeout_ms: 5_000,
        }
    }
}

/// A packet paid: the truth a test compares koi's ledger with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub mch_id: String,
    pub mch_billno: String,
    pub wxappid: String,
    pub re_openid: String,
    pub total_amount: i64,
    pub wishing: String,
    pub act_name: String,
    pub send_listid: String,
    /// Virtual milliseconds.
    pub paid_at_ms: i64,
    /// How many sends with this billno came after the one that paid.
    pub repeats: u32,
}

/// A merchant's state.
#[derive(Debug)]
pub(crate) struct Merchant {
    config: SimMerchant,
    faults: PayFaults,
    /// By billno.
    payments: BTreeMap<String, PaymentRecord>,
    /// In the order paid.
    order: Vec<String>,
    /// (openid, Shanghai day) → (count, fen).
    days: HashMap<(String, i64), (u32, i64)>,
    /// Shanghai day → fen paid that day.
    paid_by_day: HashMap<i64, i64>,
    minute: (i64, u32),
    /// 企业付款到零钱 (`pay_transfer.rs`).
    transfers: transfer::Transfers,
}

/// Every merchant, behind one lock (payments are rare next to API calls).
#[derive(Debug, Default)]
pub(crate) struct PayDesk {
    merchants: Mutex<BTreeMap<String, Merchant>>,
    limits: PayLimits,
}

impl PayDesk {
    /// Merchants from the config; none configured: one per corp, numbered
    /// from 1900000109, each bound to its corp.
    pub(crate) fn new(configured: &[SimMerchant], corp_ids: &[String], limits: PayLimits) -> Self {
        let list: Vec<SimMerchant> = if configured.is_empty() {
            corp_ids
                .iter()
                .enumerate()
                .map(|(i, _)| SimMerchant { mch_id: (1_900_000_109 + i as u64).to_string(), ..SimMerchant::default() })
                .collect()
        } else {
            configured.to_vec()
        };
        let merchants = list
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                if m.wxappid.is_empty() {
                    m.wxappid = corp_ids.get(i).or(corp_ids.first()).cloned().unwrap_or_default();
                }
                let merchant = Merchant {
                    config: m.clone(),
                    faults: PayFaults::default(),
                    payments: BTreeMap::new(),
                    order: Vec::new(),
                    days: HashMap::new(),
                    paid_by_day: HashMap::new(),
                    minute: (0, 0),
                    transfers: Default::default(),
                };
                (m.mch_id, merchant)
            })
            .collect();
        Self { merchants: Mutex::new(merchants), limits }
    }
}

/// A merchant as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantTruth {
    pub mch_id: String,
    pub wxappid: String,
    pub balance_fen: i64,
    pub payments: Vec<PaymentRecord>,
    /// openid → packets and fen received (all days).
    pub by_openid: BTreeMap<String, OpenidTotal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenidTotal {
    pub count: u32,
    pub fen: i64,
}

impl SimState {
    /// Every hosted merchant's configuration, keys included (a test or the
    /// demo configures koi from it).
    pub fn pay_merchants(&self) -> Vec<SimMerchant> {
        lock(&self.pay.merchants).values().map(|m| m.config.clone()).collect()
    }

    /// The truth of one merchant: balance and every packet paid.
    pub fn pay_truth(&self, mch_id: &str) -> Option<MerchantTruth> {
        let merchants = lock(&self.pay.merchants);
        let m = merchants.get(mch_id)?;
        let payments: Vec<PaymentRecord> = m.order.iter().filter_map(|b| m.payments.get(b).cloned()).collect();
        let mut by_openid: BTreeMap<String, OpenidTotal> = BTreeMap::new();
        for p in &payments {
            let t = by_openid.entry(p.re_openid.clone()).or_default();
            t.count += 1;
            t.fen += p.total_amount;
        }
        Some(MerchantTruth {
            mch_id: m.config.mch_id.clone(),
            wxappid: m.config.wxappid.clone(),
            balance_fen: m.config.balance_fen,
            payments,
            by_openid,
        })
    }

    /// Sets a merchant's balance; false for an unknown merchant.
    pub fn set_pay_balance(&self, mch_id: &str, balance_fen: i64) -> bool {
        lock(&self.pay.merchants).get_mut(mch_id).map(|m| m.config.balance_fen = balance_fen).is_some()
    }

    pub fn pay_faults(&self, mch_id: &str) -> Option<PayFaults> {
        lock(&self.pay.merchants).get(mch_id).map(|m| m.faults.clone())
    }

    /// Replaces a merchant's faults; false for an unknown merchant.
    pub fn set_pay_faults(&self, mch_id: &str, faults: PayFaults) -> bool {
        lock(&self.pay.merchants).get_mut(mch_id).map(|m| m.faults = faults).is_some()
    }
}

impl PayDesk {
    /// A merchant's configuration, keys included (JSAPI payments, `pay_order.rs`).
    pub(crate) fn merchant(&self, mch_id: &str) -> Option<SimMerchant> {
        lock(&self.merchants).get(mch_id).map(|m| m.config.clone())
    }

    /// Runs `f` on a merchant's configuration under the lock (a payment
    /// credits the balance, a refund debits it).
    pub(crate) fn with_merchant<R>(&self, mch_id: &str, f: impl FnOnce(&mut SimMerchant) -> R) -> Option<R> {
        lock(&self.merchants).get_mut(mch_id).map(|m| f(&mut m.config))
    }
}

// ---- the merchant API ----

/// A v2 answer: `return_code`/`result_code` and fields, signed when the
/// merchant is known.
struct Answer {
    fields: PayFields,
    key: Option<String>,
    /// Sleep before answering (a timeout fault).
    delay_ms: u64,
}

impl Answer {
    fn ok(fields: PayFields, key: &str) -> Self {
        let mut f = fields;
        f.insert("return_code".into(), "SUCCESS".into());
        f.insert("return_msg".into(), "OK".into());
        f.insert("result_code".into(), "SUCCESS".into());
        Answer { fields: f, key: Some(key.to_owned()), delay_ms: 0 }
    }

    fn fail(err_code: &str, des: &str) -> Self {
        let mut f = PayFields::new();
        f.insert("return_code".into(), "SUCCESS".into());
        f.insert("return_msg".into(), des.into());
        f.insert("result_code".into(), "FAIL".into());
        f.insert("err_code".into(), err_code.into());
        f.insert("err_code_des".into(), des.into());
        Answer { fields: f, key: None, delay_ms: 0 }
    }

    fn protocol(msg: &str) -> Self {
        let mut f = PayFields::new();
        f.insert("return_code".into(), "FAIL".into());
        f.insert("return_msg".into(), msg.into());
        Answer { fields: f, key: None, delay_ms: 0 }
    }

    fn into_response(mut self) -> Response {
        if let Some(key) = &self.key {
            let nonce = wire::nonce();
            self.fields.insert("nonce_str".into(), nonce);
            let s = wire::sign(&self.fields, key);
            self.fields.insert("sign".into(), s);
        }
        ([(axum::http::header::CONTENT_TYPE, "text/xml; charset=utf-8")], wire::to_xml(&self.fields)).into_response()
    }
}

/// `POST /pay/mmpaymkttransfers/{api}`.
pub(crate) async fn api(State(state): State<Arc<SimState>>, Path(api): Path<String>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else { return Answer::protocol("XML格式错误").into_response() };
    let Ok(req) = wire::parse(text) else { return Answer::protocol("XML格式错误").into_response() };
    let mch_id = req.get("mch_id").cloned().unwrap_or_default();
    let (key, faults) = {
        let merchants = lock(&state.pay.merchants);
        match merchants.get(&mch_id) {
            Some(m) => (m.config.api_key.clone(), m.faults.clone()),
            None => return Answer::fail("NO_AUTH", "商户号不存在或无此接口权限").into_response(),
        }
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    if !wire::verify(&req, &key) {
        return Answer::fail("SIGN_ERROR", "签名错误").into_response();
    }
    let answer = match api.as_str() {
        "sendworkwxredpack" => send(&state, &mch_id, &req),
        "gethbinfo" => query(&state, &mch_id, &req),
        _ => Answer::protocol("接口不存在"),
    };
    if answer.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(answer.delay_ms)).await;
    }
    answer.into_response()
}

fn field<'a>(req: &'a PayFields, name: &str) -> &'a str {
    req.get(name).map(String::as_str).unwrap_or_default()
}

/// The fault this send meets: the script first, then the rates.
fn draw_fault(state: &SimState, m: &mut Merchant) -> Option<PayFault> {
    if !m.faults.script.is_empty() {
        return Some(m.faults.script.remove(0));
    }
    let f = m.faults.clone();
    if state.chance(f.systemerror_rate) {
        return Some(if state.chance(f.systemerror_paid_share) {
            PayFault::SystemerrorPaid
        } else {
            PayFault::Systemerror
        });
    }
    if state.chance(f.timeout_rate) {
        return Some(if state.chance(f.timeout_paid_share) { PayFault::TimeoutPaid } else { PayFault::Timeout });
    }
    None
}

fn systemerror() -> Answer {
    Answer::fail("SYSTEMERROR", "系统错误,请稍后使用原单号重试,请勿更换单号")
}

fn success(p: &PaymentRecord, key: &str) -> Answer {
    let mut f = PayFields::new();
    f.insert("mch_billno".into(), p.mch_billno.clone());
    f.insert("mch_id".into(), p.mch_id.clone());
    f.insert("wxappid".into(), p.wxappid.clone());
    f.insert("re_openid".into(), p.re_openid.clone());
    f.insert("total_amount".into(), p.total_amount.to_string());
    f.insert("send_listid".into(), p.send_listid.clone());
    Answer::ok(f, key)
}

fn send(state: &SimState, mch_id: &str, req: &PayFields) -> Answer {
    let now = state.clock.now_ms();
    let limits = state.pay.limits.clone();
    let billno = field(req, "mch_billno");
    let openid = field(req, "re_openid");
    let wxappid = field(req, "wxappid");
    let Ok(amount) = field(req, "total_amount").parse::<i64>() else {
        return Answer::fail("PARAM_ERROR", "total_amount 不是整数");
    };
    // The openid must be one WeCom gave this corp (convert_to_openid).
    let openid_known = state.corp_by_id(wxappid).map(|c| lock(&c.world).openids.contains_key(openid));
    let mut merchants = lock(&state.pay.merchants);
    let Some(m) = merchants.get_mut(mch_id) else { return Answer::fail("NO_AUTH", "商户号不存在") };
    let key = m.config.api_key.clone();
    if wxappid != m.config.wxappid {
        return Answer::fail("ILLEGAL_APPID", "appid与商户号不匹配");
    }
    if wire::workwx_sign(req, &m.config.workwx_secret) != field(req, "workwx_sign") {
        return Answer::fail("WORKWX_SIGN_ERROR", "企业微信签名错误");
    }
    if !koi_wecom::pay::valid_billno(billno) {
        return Answer::fail("PARAM_ERROR", "mch_billno 须为1-28位字母或数字");
    }
    let act_name = field(req, "act_name");
    let wishing = field(req, "wishing");
    if openid.is_empty() || act_name.is_empty() || act_name.chars().count() > 32 || wishing.chars().count() > 128 {
        return Answer::fail("PARAM_ERROR", "re_openid, act_name(≤32) 必填, wishing ≤128");
    }
    // The same billno: its first outcome, or a refusal when it differs.
    if let Some(p) = m.payments.get_mut(billno) {
        if p.re_openid != openid || p.total_amount != amount {
            return Answer::fail("FATAL_ERROR", "openid或金额与原单不一致,请更换单号");
        }
        p.repeats += 1;
        return success(p, &key);
    }
    let fault = draw_fault(state, m);
    let delay = m.faults.timeout_ms;
    match fault {
        Some(PayFault::Systemerror) => return systemerror(),
        Some(PayFault::Timeout) => return Answer { delay_ms: delay, ..systemerror() },
        _ => {}
    }
    if openid_known != Some(true) {
        return Answer::fail("OPENID_ERROR", "openid与appid不匹配");
    }
    let scene = !field(req, "scene_id").is_empty();
    let in_range = if scene {
        (1..=limits.per_user_day_fen).contains(&amount)
    } else {
        (limits.min_packet_fen..=limits.max_packet_fen).contains(&amount)
    };
    if !in_range {
        return Answer::fail("PARAM_ERROR", "红包金额不在允许范围内(1-200元外须填scene_id)");
    }
    let minute = now.div_euclid(60_000);
    if m.minute.0 != minute {
        m.minute = (minute, 0);
    }
    if m.minute.1 >= limits.per_minute {
        return Answer::fail("FREQ_LIMIT", "超过频率限制,请稍后再试");
    }
    let day = crate::clock::shanghai_day(now.div_euclid(1000));
    let (count, fen) = m.days.get(&(openid.to_owned(), day)).copied().unwrap_or_default();
    if count >= limits.per_user_day_count {
        return Answer::fail("SENDNUM_LIMIT", "该用户今日领取红包个数超过限制");
    }
    if fen + amount > limits.per_user_day_fen {
        return Answer::fail("MONEY_LIMIT", "该用户今日领取金额超过限制");
    }
    if m.paid_by_day.get(&day).copied().unwrap_or_default() + amount > limits.merchant_day_fen {
        return Answer::fail("SENDAMOUNT_LIMIT", "商户今日发放金额超过限制");
    }
    if m.config.balance_fen < amount {
        return Answer::fail("NOTENOUGH", "帐号余额不足,请到商户平台充值后再重试");
    }
    m.minute.1 += 1;
    m.config.balance_fen -= amount;
    m.days.insert((openid.to_owned(), day), (count + 1, fen + amount));
    *m.paid_by_day.entry(day).or_default() += amount;
    let seq = m.order.len() as u64 + 1;
    let payment = PaymentRecord {
        mch_id: mch_id.to_owned(),
        mch_billno: billno.to_owned(),
        wxappid: wxappid.to_owned(),
        re_openid: openid.to_owned(),
        total_amount: amount,
        wishing: wishing.to_owned(),
        act_name: act_name.to_owned(),
        send_listid: format!("100004170{day:05}{seq:012}"),
        paid_at_ms: now,
        repeats: 0,
    };
    m.order.push(billno.to_owned());
    m.payments.insert(billno.to_owned(), payment.clone());
    match fault {
        Some(PayFault::SystemerrorPaid) => systemerror(),
        Some(PayFault::TimeoutPaid) => Answer { delay_ms: delay, ..success(&payment, &key) },
        _ => success(&payment, &key),
    }
}

fn query(state: &SimState, mch_id: &str, req: &PayFields) -> Answer {
    let merchants = lock(&state.pay.merchants);
    let Some(m) = merchants.get(mch_id) else { return Answer::fail("NO_AUTH", "商户号不存在") };
    if field(req, "bill_type") != "MCHT" {
        return Answer::fail("PARAM_ERROR", "bill_type 须为 MCHT");
    }
    let Some(p) = m.payments.get(field(req, "mch_billno")) else {
        return Answer::fail("NOT_FOUND", "指定单号数据不存在");
    };
    let mut f = PayFields::new();
    f.insert("mch_billno".into(), p.mch_billno.clone());
    f.insert("mch_id".into(), p.mch_id.clone());
    f.insert("detail_id".into(), p.send_listid.clone());
    f.insert("status".into(), "SENT".into());
    f.insert("send_type".into(), "API".into());
    f.insert("hb_type".into(), "NORMAL".into());
    f.insert("total_num".into(), "1".into());
    f.insert("total_amount".into(), p.total_amount.to_string());
    f.insert("send_time".into(), beijing_time(p.paid_at_ms));
    f.insert("wishing".into(), p.wishing.clone());
    f.insert("act_name".into(), p.act_name.clone());
    Answer::ok(f, &m.config.api_key)
}

/// `YYYY-MM-DD HH:MM:SS` in Beijing time.
fn beijing_time(ms: i64) -> String {
    let s = ms.div_euclid(1000) + 8 * 3600;
    let (day, secs) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let (year, month) = crate::clock::year_month(day);
    let mut first = day;
    while crate::clock::year_month(first - 1) == (year, month) {
        first -= 1;
    }
    let dom = day - first + 1;
    format!("{year:04}-{month:02}-{dom:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

// ---- control ----

type Shared = State<Arc<SimState>>;

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/pay/mmpaymkttransfers/{api}", axum::routing::post(api))
        .route("/sim/pay/merchants", get(|State(s): Shared| async move { Json(json!(s.pay_merchants())) }))
        .route("/sim/pay/merchants/{mch_id}", get(truth))
        .route("/sim/pay/merchants/{mch_id}/balance", axum::routing::put(balance_put))
        .route("/sim/pay/merchants/{mch_id}/faults", get(faults_get).put(faults_put))
        .merge(transfer::routes())
}

fn unknown(mch_id: String) -> ControlError {
    ControlError::UnknownMerchant(mch_id)
}

async fn truth(State(state): Shared, Path(mch_id): Path<String>) -> Result<Json<Value>, ControlError> {
    let t = state.pay_truth(&mch_id).ok_or_else(|| unknown(mch_id))?;
    Ok(Json(serde_json::to_value(t).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
struct BalanceReq {
    balance_fen: i64,
}

async fn balance_put(
    State(state): Shared,
    Path(mch_id): Path<String>,
    Json(req): Json<BalanceReq>,
) -> Result<Json<Value>, ControlError> {
    if req.balance_fen < 0 {
        return Err(ControlError::BadRequest("balance_fen must not be negative".into()));
    }
    if !state.set_pay_balance(&mch_id, req.balance_fen) {
        return Err(unknown(mch_id));
    }
    Ok(Json(json!({ "mch_id": mch_id, "balance_fen": req.balance_fen })))
}

async fn faults_get(State(state): Shared, Path(mch_id): Path<String>) -> Result<Json<Value>, ControlError> {
    let f = state.pay_faults(&mch_id).ok_or_else(|| unknown(mch_id))?;
    Ok(Json(serde_json::to_value(f).unwrap_or(Value::Null)))
}

async fn faults_put(
    State(state): Shared,
    Path(mch_id): Path<String>,
    Json(faults): Json<PayFaults>,
) -> Result<Json<Value>, ControlError> {
    if !state.set_pay_faults(&mch_id, faults.clone()) {
        return Err(unknown(mch_id));
    }
    Ok(Json(serde_json::to_value(faults).unwrap_or(Value::Null)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_reads_like_wechat() {
        // 2024-02-29 16:30:05 UTC is 2024-03-01 00:30:05 in Beijing.
        assert_eq!(beijing_time(1_709_224_205_000), "2024-03-01 00:30:05");
    }
}
