//! Refunds through WeChat Pay, and the one place a refund ends.
//!
//! A refund is claimed against what was paid when the operator asks for it
//! (`mod.rs`, `refund_checkout`), then learns its end from WeChat Pay two
//! ways, whichever comes first:
//!
//! - [`RefundJob`] asks (`secapi/pay/refund` with its own `out_refund_no`
//!   and koi's `notify_url`, then `pay/refundquery`): SUCCESS → done;
//!   CHANGE or REFUNDCLOSE → failed; PROCESSING → asks again later; a final
//!   refusal of the request → failed.
//! - WeChat Pay's refund notification (`POST /pay/refund-notify/{corp}`,
//!   [`Engine::receive_refund_notification`]): opened with the merchant's
//!   key (the only proof it is WeChat's), matched to the refund by
//!   `out_refund_no` within the corp, its merchant, order and amounts
//!   checked; anything that does not match changes nothing.
//!
//! Both end in [`settle_refund_in`], a conditional pending → done/failed
//! inside the caller's transaction, so a duplicate notification, or a
//! notification racing the job's answer, counts once. A done refund takes
//! the order's refund (`orders::refund_in`); a failed one gives its claim
//! back and keeps WeChat's reason for the operator.

use super::{log, merchant_of};
use crate::jobs::{Job, JobCtx, JobError, JobResult};
use crate::orders::refund_in;
use crate::{Engine, EngineError, Result};
use koi_domain::jobs::priority;
use koi_domain::order::NewRefund;
use koi_domain::ValidationError;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::pay::{parse_refund_notification, PayErrorKind, RefundNotifyError};
use serde::{Deserialize, Serialize};

/// How a refund ended at WeChat Pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefundEnd {
    /// The money went back; WeChat's `refund_id`.
    Done(String),
    /// It did not (CHANGE, REFUNDCLOSE, or the request was refused): why.
    Failed(String),
}

/// What a refund notification did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundNotifyOutcome {
    /// The refund is done now.
    Done,
    /// The refund failed now (CHANGE or REFUNDCLOSE).
    Failed,
    /// It had ended before: nothing changed.
    Repeat,
}

const CHANGE: &str = "WeChat Pay: CHANGE — the refund could not reach the customer (退款异常)";
const CLOSED: &str = "WeChat Pay: REFUNDCLOSE — the refund was closed (退款关闭)";

/// The reason a refund that ended `status` (CHANGE or REFUNDCLOSE) keeps.
fn failure_reason(status: &str) -> String {
    match status {
        "CHANGE" => CHANGE.into(),
        "REFUNDCLOSE" => CLOSED.into(),
        other => format!("WeChat Pay: {other}"),
    }
}

/// Why a refund failed, for the console's words: `change`, `closed` or
/// `refused`; empty when it did not fail.
pub(crate) fn failure_kind(state: &str, error: &str) -> &'static str {
    match state {
        "failed" if error == CHANGE => "change",
        "failed" if error == CLOSED => "closed",
        "failed" => "refused",
        _ => "",
    }
}

/// Ends the pending refund `refund_id` inside `tx`; false when it had ended
/// before (nothing changes). `via` says who told: `refund job` or
/// `notification`.
pub(crate) async fn settle_refund_in(
    tx: &mut Tx,
    corp_id: i64,
    refund_id: i64,
    end: &RefundEnd,
    via: &str,
) -> Result<bool> {
    let now = now_ms();
    let Some(r) = tx.checkout_refund_in(refund_id).await?.filter(|r| r.corp_id == corp_id) else {
        return Ok(false);
    };
    match end {
        RefundEnd::Done(wechat_id) => {
            if !tx.finish_refund(r.id, wechat_id, now).await? {
                return Ok(false);
            }
            let state = tx.settle_refund_state(r.checkout_id, now).await?;
            if let Some(k) = tx.checkout_in(r.checkout_id).await? {
                let refund = NewRefund {
                    refund_id: r.out_refund_no.clone(),
                    amount_fen: Some(r.amount_fen),
                    reason: r.reason.clone(),
                };
                match refund_in(tx, corp_id, &k.out_trade_no, &refund).await {
                    Ok(_) | Err(EngineError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            let payload = serde_json::json!({
                "amount_fen": r.amount_fen, "state": state, "refund_id": wechat_id, "via": via,
            });
            log(tx, corp_id, "checkout.refunded", format!("checkout:{}", r.checkout_id), "wechat_pay", payload).await?;
        }
        RefundEnd::Failed(why) => {
            if !tx.fail_refund(r.id, why, now).await? {
                return Ok(false);
            }
            let payload = serde_json::json!({
                "amount_fen": r.amount_fen, "out_refund_no": r.out_refund_no, "why": why, "via": via,
            });
            log(tx, corp_id, "checkout.refund_failed", format!("checkout:{}", r.checkout_id), "wechat_pay", payload)
                .await?;
        }
    }
    Ok(true)
}

/// The URL WeChat Pay notifies a corp's refunds at.
pub(crate) fn refund_notify_url(public_url: &str, corp_id: i64) -> String {
    format!("{}/pay/refund-notify/{corp_id}", public_url.trim_end_matches('/'))
}

/// Job: one refund through WeChat Pay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefundJob {
    pub refund_id: i64,
}

impl Job for RefundJob {
    const KIND: &'static str = "checkouts.refund";
    const PRIORITY: i32 = priority::DEFAULT;
    /// A refund to a bank card can stay PROCESSING for days (WeChat says up
    /// to 3 working days): asked again every 10 minutes (the backoff's cap)
    /// for about four days, unless its notification ends it first.
    const MAX_ATTEMPTS: i32 = 600;
    type Prepared = RefundEnd;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<RefundEnd> {
        let corp = ctx.corp_id;
        let r =
            engine.db.checkout_refund(corp, self.refund_id).await?.ok_or_else(|| JobError::Done("no refund".into()))?;
        if r.state != "pending" {
            return Err(JobError::Done(format!("refund {} is {}", r.id, r.state)));
        }
        let k = engine.db.checkout(corp, r.checkout_id).await?.ok_or_else(|| JobError::Done("no checkout".into()))?;
        let merchant = engine
            .db
            .pay_settings(corp)
            .await?
            .and_then(merchant_of)
            .ok_or_else(|| JobError::Retry("WeChat Pay is not set up; the refund waits".into()))?;
        let req = koi_wecom::pay::RefundRequest {
            out_trade_no: k.out_trade_no,
            out_refund_no: r.out_refund_no.clone(),
            total_fee: k.total_fen,
            refund_fee: r.amount_fen,
            refund_desc: r.reason,
            notify_url: refund_notify_url(&engine.settings.public_url, corp),
        };
        // Accepted is not refunded: the refund's state says when the money is back.
        let accepted = match engine.pay.refund(&merchant, &req).await {
            Ok(a) => a,
            Err(e) if e.kind() == PayErrorKind::Final => return Ok(RefundEnd::Failed(e.to_string())),
            // Unknown outcome or a passing refusal: the same out_refund_no again, later.
            Err(e) => return Err(JobError::Retry(format!("wechat pay refund: {e}"))),
        };
        match engine.pay.refund_query(&merchant, &r.out_refund_no).await {
            Ok((status, _)) if status == "SUCCESS" => Ok(RefundEnd::Done(accepted.refund_id)),
            Ok((status, _)) if status == "CHANGE" || status == "REFUNDCLOSE" => {
                Ok(RefundEnd::Failed(failure_reason(&status)))
            }
            // PROCESSING: the notification or a later ask ends it.
            Ok((status, _)) => Err(JobError::Retry(format!("wechat pay: refund {} is {status}", r.out_refund_no))),
            Err(e) => Err(JobError::Retry(format!("wechat pay refundquery: {e}"))),
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, end: RefundEnd, tx: &mut Tx) -> JobResult<JobEnd> {
        settle_refund_in(tx, ctx.corp_id, self.refund_id, &end, "refund job").await?;
        Ok(match end {
            RefundEnd::Done(_) => JobEnd::Done,
            RefundEnd::Failed(why) => JobEnd::Refused(why),
        })
    }
}

impl Engine {
    /// Takes one refund notification for the corp `corp_id`. Errors, each
    /// changing nothing: `bad_signature` (no merchant, another merchant or
    /// app, or `req_info` that does not open with the merchant's key),
    /// `bad_base64` and `bad_notification` (unreadable), `NotFound` (no such
    /// refund in the corp), `Invalid` (its order or amounts differ).
    pub async fn receive_refund_notification(&self, corp_id: i64, body: &str) -> Result<RefundNotifyOutcome> {
        let forged = |message: String| EngineError::BadCallback { code: "bad_signature", message };
        let merchant = self.notified_merchant(corp_id).await?;
        let n = parse_refund_notification(body, &merchant.api_key).map_err(|e| match e {
            RefundNotifyError::BadDecryption => forged(e.to_string()),
            other => EngineError::BadCallback { code: other.code(), message: other.to_string() },
        })?;
        if n.mch_id != merchant.mch_id || n.appid != merchant.wxappid {
            return Err(forged(format!("mch_id {} / appid {} are not this corp's merchant", n.mch_id, n.appid)));
        }
        let r =
            self.db.checkout_refund_by_no(corp_id, &n.out_refund_no).await?.ok_or(EngineError::NotFound("refund"))?;
        let k = self.db.checkout(corp_id, r.checkout_id).await?.ok_or(EngineError::NotFound("checkout"))?;
        if n.out_trade_no != k.out_trade_no || n.total_fee != k.total_fen || n.refund_fee != r.amount_fen {
            tracing::error!(
                out_refund_no = %n.out_refund_no, out_trade_no = %n.out_trade_no, refund_fee = n.refund_fee,
                total_fee = n.total_fee, due = r.amount_fen, "a refund notification that is not this refund's"
            );
            return Err(ValidationError::one(
                "refund_fee",
                "amount_mismatch",
                "the notification's order or amounts are not the refund's",
            )
            .into());
        }
        let end = match n.refund_status.as_str() {
            "SUCCESS" => RefundEnd::Done(n.refund_id.clone()),
            "CHANGE" | "REFUNDCLOSE" => RefundEnd::Failed(failure_reason(&n.refund_status)),
            other => {
                return Err(EngineError::BadCallback {
                    code: "bad_notification",
                    message: format!("refund_status {other} is not an end"),
                })
            }
        };
        let mut tx = self.db.begin().await?;
        let ended = settle_refund_in(&mut tx, corp_id, r.id, &end, "notification").await?;
        tx.commit().await?;
        Ok(match (ended, end) {
            (false, _) => RefundNotifyOutcome::Repeat,
            (true, RefundEnd::Done(_)) => RefundNotifyOutcome::Done,
            (true, RefundEnd::Failed(_)) => RefundNotifyOutcome::Failed,
        })
    }
}
