//! Checkouts left waiting, and refunds.
//!
//! [`CheckoutSweepJob`] (one per corp, queued by the worker's timer while
//! the corp has waiting checkouts) asks WeChat Pay about every checkout
//! waiting longer than [`QUERY_AFTER_MS`] (`orderquery`): paid → paid (and
//! its order), as a lost notification would have; closed at WeChat → closed;
//! still unpaid past its window → `closeorder`, then closed with its stock
//! back (a `closeorder` answered ORDERPAID means it was paid after all).
//! Refunds are in `refund.rs`.

use super::notify::paid_in;
use super::{log, merchant_of};
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::Engine;
use koi_domain::jobs::priority;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// A checkout is asked about once it has waited this long (its notification
/// would normally have come).
pub const QUERY_AFTER_MS: i64 = 10_000;
/// Checkouts one run asks about.
const BATCH: i64 = 50;

/// What WeChat Pay said of one waiting checkout.
pub(crate) enum Verdict {
    Paid { checkout_id: i64, external_userid: String, transaction_id: String },
    Closed { checkout_id: i64, why: String },
}

/// Job: ask about a corp's waiting checkouts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CheckoutSweepJob {}

impl Job for CheckoutSweepJob {
    const KIND: &'static str = "checkouts.sweep";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Vec<Verdict>;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Vec<Verdict>> {
        let corp = ctx.corp_id;
        let now = now_ms();
        let open = engine.db.open_checkouts(corp, now - QUERY_AFTER_MS, BATCH).await?;
        if open.is_empty() {
            return Ok(vec![]);
        }
        let Some(merchant) = engine.db.pay_settings(corp).await?.and_then(merchant_of) else {
            return Ok(vec![]); // pay turned off: nothing can be asked; they stay until it is back
        };
        let mut out = vec![];
        for k in open {
            let expired = now >= k.expires_at;
            let state = match engine.pay.order_query(&merchant, &k.out_trade_no).await {
                Ok(s) => s,
                Err(e) if e.err_code() == Some("ORDERNOTEXIST") && expired => {
                    out.push(Verdict::Closed { checkout_id: k.id, why: "never reached WeChat Pay".into() });
                    continue;
                }
                Err(e) => {
                    tracing::warn!(out_trade_no = %k.out_trade_no, error = %e, "orderquery failed; asking again next run");
                    continue;
                }
            };
            let paid = |transaction_id: String| async {
                let ext = engine.db.customer(corp, k.customer_id).await?.map(|c| c.external_userid).unwrap_or_default();
                Ok::<_, JobError>(Verdict::Paid { checkout_id: k.id, external_userid: ext, transaction_id })
            };
            match state.trade_state.as_str() {
                "SUCCESS" | "REFUND" => out.push(paid(state.transaction_id).await?),
                "CLOSED" | "REVOKED" | "PAYERROR" => {
                    out.push(Verdict::Closed { checkout_id: k.id, why: format!("WeChat Pay: {}", state.trade_state) })
                }
                _ if expired => match engine.pay.close_order(&merchant, &k.out_trade_no).await {
                    Ok(()) => out.push(Verdict::Closed { checkout_id: k.id, why: "expired".into() }),
                    Err(e) if e.err_code() == Some("ORDERPAID") => {
                        let again = engine.pay.order_query(&merchant, &k.out_trade_no).await;
                        if let Some(s) = again.ok().filter(|s| s.is_paid()) {
                            out.push(paid(s.transaction_id).await?);
                        }
                    }
                    Err(e) => tracing::warn!(out_trade_no = %k.out_trade_no, error = %e, "closeorder failed"),
                },
                _ => {}
            }
        }
        Ok(out)
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, verdicts: Vec<Verdict>, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        for v in verdicts {
            match v {
                Verdict::Paid { checkout_id, external_userid, transaction_id } => {
                    if let Some(k) = tx.checkout_in(checkout_id).await? {
                        paid_in(tx, &k, &external_userid, &transaction_id, "orderquery").await?;
                    }
                }
                Verdict::Closed { checkout_id, why } => {
                    if tx.close_checkout(checkout_id, &why, now).await? {
                        let payload = serde_json::json!({"checkout_id": checkout_id, "why": why});
                        log(tx, ctx.corp_id, "checkout.closed", format!("checkout:{checkout_id}"), "koi", payload)
                            .await?;
                    }
                }
            }
        }
        let _ = engine;
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Queues a sweep for every corp with waiting checkouts (none for a
    /// corp whose sweep still waits).
    pub async fn schedule_checkout_sweeps(&self) {
        let corps = match self.db.corps_with_open_checkouts().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "checkout sweep: cannot list corps"),
        };
        for corp_id in corps {
            match self.db.has_pending_job(corp_id, CheckoutSweepJob::KIND).await {
                Ok(false) => {
                    let mut tx = match self.db.begin().await {
                        Ok(tx) => tx,
                        Err(e) => return tracing::warn!(error = %e, "checkout sweep: no transaction"),
                    };
                    let queued = enqueue(&mut tx, corp_id, &CheckoutSweepJob {}).await;
                    if let Err(e) = async {
                        queued?;
                        tx.commit().await.map_err(crate::EngineError::from)
                    }
                    .await
                    {
                        tracing::warn!(corp = corp_id, error = %e, "checkout sweep: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "checkout sweep: cannot look at the queue"),
            }
        }
    }
}
