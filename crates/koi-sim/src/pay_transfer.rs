//! WeChat Pay's 企业付款到零钱 as the simulator's merchants answer it:
//! `POST /pay/mmpaymkttransfers/promotion/transfers` (v2 XML signed with the
//! merchant's API key; fields `mch_appid`, `mchid`, `partner_trade_no`,
//! `openid`, `check_name`, `amount`, `desc`). A child of `pay.rs`: the
//! merchants, their balances and their faults are the red packets' own.
//!
//! Rules ([`TransferLimits`], WeChat's defaults): ¥0.30 at least and ¥200 at
//! most a payment (AMOUNT_LIMIT), a user receives ≤10 payments (SENDNUM_LIMIT)
//! and ≤¥200 (MONEY_LIMIT) a day (Asia/Shanghai, virtual clock), NOTENOUGH
//! over the balance, OPENID_ERROR for an openid WeCom did not give the corp
//! whose CorpID is `mch_appid`. Only `check_name=NO_CHECK` is simulated.
//!
//! Idempotency by `partner_trade_no`: the same number with the same openid
//! and amount answers the first success (the same `payment_no`) and pays
//! nothing more; with another openid or amount it is FATAL_ERROR. The
//! merchant's [`PayFaults`](super::PayFaults) apply (SYSTEMERROR that did or
//! did not pay, timeouts). A success carries no `sign`, as WeChat's does not.
//!
//! | route | does |
//! |---|---|
//! | `GET /sim/pay/merchants/{mch_id}/transfers` | the truth: `{mch_id, balance_fen, transfers[TransferRecord], by_openid{openid: {count, fen}}}` |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use koi_wecom::pay::wire::{self, PayFields};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{draw_fault, field, systemerror, Answer, OpenidTotal, PayFault};
use crate::control::ControlError;
use crate::state::{lock, SimState};

/// WeChat's default limits on transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLimits {
    pub min_fen: i64,
    pub max_fen: i64,
    pub per_user_day_count: u32,
    pub per_user_day_fen: i64,
}

impl Default for TransferLimits {
    fn default() -> Self {
        Self { min_fen: 30, max_fen: 20_000, per_user_day_count: 10, per_user_day_fen: 20_000 }
    }
}

/// A transfer made: the truth a test compares koi's ledger with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub mch_id: String,
    pub partner_trade_no: String,
    pub mch_appid: String,
    pub openid: String,
    pub amount: i64,
    pub desc: String,
    pub payment_no: String,
    /// Virtual milliseconds.
    pub paid_at_ms: i64,
    /// Sends with this number after the one that paid.
    pub repeats: u32,
}

/// A merchant's transfers.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    limits: TransferLimits,
    by_no: BTreeMap<String, TransferRecord>,
    order: Vec<String>,
    /// (openid, Shanghai day) → (count, fen).
    days: HashMap<(String, i64), (u32, i64)>,
}

/// A merchant's transfers as the control API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferTruth {
    pub mch_id: String,
    pub balance_fen: i64,
    pub transfers: Vec<TransferRecord>,
    pub by_openid: BTreeMap<String, OpenidTotal>,
}

impl SimState {
    /// Every transfer a merchant made, in order, and its balance.
    pub fn pay_transfers(&self, mch_id: &str) -> Option<TransferTruth> {
        let merchants = lock(&self.pay.merchants);
        let m = merchants.get(mch_id)?;
        let t = &m.transfers;
        let transfers: Vec<TransferRecord> = t.order.iter().filter_map(|n| t.by_no.get(n).cloned()).collect();
        let mut by_openid: BTreeMap<String, OpenidTotal> = BTreeMap::new();
        for p in &transfers {
            let e = by_openid.entry(p.openid.clone()).or_default();
            e.count += 1;
            e.fen += p.amount;
        }
        Some(TransferTruth { mch_id: mch_id.to_owned(), balance_fen: m.config.balance_fen, transfers, by_openid })
    }
}

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/pay/mmpaymkttransfers/promotion/transfers", post(transfers))
        .route("/sim/pay/merchants/{mch_id}/transfers", get(truth))
}

async fn truth(State(state): State<Arc<SimState>>, Path(mch_id): Path<String>) -> Result<Json<Value>, ControlError> {
    let t = state.pay_transfers(&mch_id).ok_or(ControlError::UnknownMerchant(mch_id))?;
    Ok(Json(serde_json::to_value(t).unwrap_or(Value::Null)))
}

/// An answer as a transfer's: unsigned.
fn unsigned(mut a: Answer) -> Answer {
    a.key = None;
    a
}

async fn transfers(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else { return Answer::protocol("XML格式错误").into_response() };
    let Ok(req) = wire::parse(text) else { return Answer::protocol("XML格式错误").into_response() };
    let mch_id = field(&req, "mchid").to_owned();
    let (key, latency) = {
        let merchants = lock(&state.pay.merchants);
        match merchants.get(&mch_id) {
            Some(m) => (m.config.api_key.clone(), m.faults.latency_ms),
            None => return Answer::fail("NO_AUTH", "商户号不存在或无此接口权限").into_response(),
        }
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if !wire::verify(&req, &key) {
        return Answer::fail("SIGN_ERROR", "签名错误").into_response();
    }
    let answer = unsigned(transfer(&state, &mch_id, &req));
    if answer.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(answer.delay_ms)).await;
    }
    answer.into_response()
}

fn success(t: &TransferRecord) -> Answer {
    let mut f = PayFields::new();
    f.insert("mch_appid".into(), t.mch_appid.clone());
    f.insert("mchid".into(), t.mch_id.clone());
    f.insert("partner_trade_no".into(), t.partner_trade_no.clone());
    f.insert("payment_no".into(), t.payment_no.clone());
    f.insert("payment_time".into(), super::beijing_time(t.paid_at_ms));
    Answer::ok(f, "")
}

fn transfer(state: &SimState, mch_id: &str, req: &PayFields) -> Answer {
    let now = state.clock.now_ms();
    let trade_no = field(req, "partner_trade_no");
    let openid = field(req, "openid");
    let appid = field(req, "mch_appid");
    let desc = field(req, "desc");
    let Ok(amount) = field(req, "amount").parse::<i64>() else {
        return Answer::fail("PARAM_ERROR", "amount 不是整数");
    };
    let openid_known = state.corp_by_id(appid).map(|c| lock(&c.world).openids.contains_key(openid));
    let mut merchants = lock(&state.pay.merchants);
    let Some(m) = merchants.get_mut(mch_id) else { return Answer::fail("NO_AUTH", "商户号不存在") };
    if appid != m.config.wxappid {
        return Answer::fail("PARAM_ERROR", "mch_appid与mchid不匹配");
    }
    if !koi_wecom::pay::valid_trade_no(trade_no) {
        return Answer::fail("PARAM_ERROR", "partner_trade_no 须为1-32位字母或数字");
    }
    if field(req, "check_name") != "NO_CHECK" {
        return Answer::fail("PARAM_ERROR", "check_name 仅模拟 NO_CHECK");
    }
    if openid.is_empty() || desc.is_empty() || desc.chars().count() > 100 {
        return Answer::fail("PARAM_ERROR", "openid, desc(≤100) 必填");
    }
    if let Some(t) = m.transfers.by_no.get_mut(trade_no) {
        if t.openid != openid || t.amount != amount {
            return Answer::fail("FATAL_ERROR", "openid和原商户订单号不一致或金额不一致");
        }
        t.repeats += 1;
        return success(t);
    }
    let fault = draw_fault(state, m);
    let delay = m.faults.timeout_ms;
    match fault {
        Some(PayFault::Systemerror) => return systemerror(),
        Some(PayFault::Timeout) => return Answer { delay_ms: delay, ..systemerror() },
        _ => {}
    }
    if openid_known != Some(true) {
        return Answer::fail("OPENID_ERROR", "Openid错误");
    }
    let limits = m.transfers.limits.clone();
    if amount < limits.min_fen {
        return Answer::fail("AMOUNT_LIMIT", "付款金额不能小于最低限额");
    }
    if amount > limits.max_fen {
        return Answer::fail("AMOUNT_LIMIT", "付款金额超出限制");
    }
    let day = crate::clock::shanghai_day(now.div_euclid(1000));
    let (count, fen) = m.transfers.days.get(&(openid.to_owned(), day)).copied().unwrap_or_default();
    if count >= limits.per_user_day_count {
        return Answer::fail("SENDNUM_LIMIT", "该用户今日付款次数超过限制");
    }
    if fen + amount > limits.per_user_day_fen {
        return Answer::fail("MONEY_LIMIT", "已达到付款给此用户额度上限");
    }
    if m.config.balance_fen < amount {
        return Answer::fail("NOTENOUGH", "余额不足");
    }
    m.config.balance_fen -= amount;
    m.transfers.days.insert((openid.to_owned(), day), (count + 1, fen + amount));
    let seq = m.transfers.order.len() as u64 + 1;
    let record = TransferRecord {
        mch_id: mch_id.to_owned(),
        partner_trade_no: trade_no.to_owned(),
        mch_appid: appid.to_owned(),
        openid: openid.to_owned(),
        amount,
        desc: desc.to_owned(),
        payment_no: format!("10100{day:05}{seq:012}"),
        paid_at_ms: now,
        repeats: 0,
    };
    m.transfers.order.push(trade_no.to_owned());
    m.transfers.by_no.insert(trade_no.to_owned(), record.clone());
    match fault {
        Some(PayFault::SystemerrorPaid) => systemerror(),
        Some(PayFault::TimeoutPaid) => Answer { delay_ms: delay, ..success(&record) },
        _ => success(&record),
    }
}
