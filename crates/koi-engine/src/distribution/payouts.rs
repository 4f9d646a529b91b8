//! Settlement and payouts. The timer ([`DistributionTickJob`], queued by
//! the worker's loop) settles commissions whose refund window has passed;
//! a payout batch ([`Engine::run_payouts`] by hand, [`ScheduledPayoutJob`]
//! on the corp's schedule) groups each distributor's settled commission,
//! claw-backs netted, into one transfer within WeChat Pay's limits and
//! queues a [`PayoutJob`] per transfer, all in one transaction.
//!
//! A scheduled batch runs once a slot (the slot's start is its key in
//! `payout_slots`, taken in the batch's transaction): two workers, or a
//! job run again, find the slot taken and do nothing.
//!
//! Exactly once: a payout's `partner_trade_no` is fixed when its row is
//! written. The job asks WeChat Pay with it on every attempt (after a
//! crash, on another node), and WeChat Pay answers a number it has paid
//! with that payment, never a second one. Only an answer that proves
//! nothing was paid fails the payout, and its commissions go back to
//! settled for the next batch (a new payout, a new number).

use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::pay::{PayError, Transfer};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::distribution::{plan_payouts, Owed};
use koi_domain::jobs::priority;
use koi_store::distribution::{PayoutBatchRow, PayoutRow};
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// A transfer to one distributor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Payout {
    pub id: i64,
    pub batch_id: i64,
    pub distributor_id: i64,
    pub amount_fen: i64,
    /// WeChat Pay's idempotency key of this transfer.
    pub partner_trade_no: String,
    /// pending, paid or failed.
    pub state: String,
    /// WeChat's payment id, once paid.
    pub payment_no: String,
    /// Why it failed (WeChat's err_code and message).
    pub reason: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<PayoutRow> for Payout {
    fn from(r: PayoutRow) -> Self {
        Payout {
            id: r.id,
            batch_id: r.batch_id,
            distributor_id: r.distributor_id,
            amount_fen: r.amount_fen,
            partner_trade_no: r.partner_trade_no,
            state: r.state,
            payment_no: r.payment_no,
            reason: r.reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A payout batch with how its transfers went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PayoutBatch {
    pub id: i64,
    pub created_by: String,
    pub payouts: i64,
    pub total_fen: i64,
    pub paid: i64,
    pub failed: i64,
    pub created_at: i64,
}

impl From<PayoutBatchRow> for PayoutBatch {
    fn from(r: PayoutBatchRow) -> Self {
        PayoutBatch {
            id: r.id,
            created_by: r.created_by,
            payouts: r.payouts,
            total_fen: r.total_fen,
            paid: r.paid,
            failed: r.failed,
            created_at: r.created_at,
        }
    }
}

/// What running a batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PayoutRun {
    /// `None` when nothing was owed above the minimum.
    pub batch_id: Option<i64>,
    pub payouts: i64,
    pub total_fen: i64,
    /// Commissions settled by this run (their window had passed).
    pub settled: u64,
}

/// WeChat Pay's idempotency key of a payout: fixed by its batch and
/// distributor (one transfer a distributor a batch), ≤32 letters and digits.
fn trade_no(batch_id: i64, distributor_id: i64) -> String {
    format!("koid{batch_id}x{distributor_id}")
}

fn actor(who: &Principal) -> String {
    match who.user_id {
        Some(id) => format!("user:{id}"),
        None => "api".to_owned(),
    }
}

/// Runs a payout batch inside `tx`: settles what is due, then one transfer
/// a distributor whose settled commission, claw-backs netted, reaches the
/// minimum, each queued for payment. `created_by` is kept on the batch
/// (`user:{id}`, `api`, `schedule`).
pub(crate) async fn run_batch_in(tx: &mut Tx, corp: i64, created_by: &str, now: i64) -> Result<PayoutRun> {
    let s = super::settings_in(tx, corp).await?;
    let settled = tx.settle_due_commissions(corp, now).await?;
    let owed: Vec<Owed> = tx
        .owed_commissions(corp)
        .await?
        .into_iter()
        .map(|(commission_id, distributor_id, amount_fen)| Owed { commission_id, distributor_id, amount_fen })
        .collect();
    let plan = plan_payouts(&s, &owed);
    if plan.is_empty() {
        return Ok(PayoutRun { batch_id: None, payouts: 0, total_fen: 0, settled });
    }
    let total: i64 = plan.iter().map(|p| p.amount_fen).sum();
    let batch = tx.insert_payout_batch(corp, created_by, plan.len() as i64, total, now).await?;
    for p in &plan {
        let no = trade_no(batch, p.distributor_id);
        let id = tx.insert_payout(corp, batch, p.distributor_id, p.amount_fen, &no, &p.commission_ids, now).await?;
        enqueue(tx, corp, &PayoutJob { payout_id: id }).await?;
    }
    Ok(PayoutRun { batch_id: Some(batch), payouts: plan.len() as i64, total_fen: total, settled })
}

/// The batch of the scheduled slot starting at `slot_at`, inside `tx`:
/// `None` when the slot was taken (it ran, or another worker runs it).
pub(crate) async fn run_slot_in(tx: &mut Tx, corp: i64, slot_at: i64, now: i64) -> Result<Option<PayoutRun>> {
    if !tx.take_payout_slot(corp, slot_at, now).await? {
        return Ok(None);
    }
    let run = run_batch_in(tx, corp, "schedule", now).await?;
    if let Some(batch) = run.batch_id {
        tx.set_payout_slot_batch(corp, slot_at, batch).await?;
    }
    Ok(Some(run))
}

impl Engine {
    /// Runs a payout batch: settles what is due, then one transfer a
    /// distributor whose settled commission (claw-backs netted) reaches
    /// the minimum, queued for payment. Two batches at once never take the
    /// same commission (the second rolls back: 409).
    pub async fn run_payouts(&self, who: &Principal) -> Result<PayoutRun> {
        require(who, Action::ManageDistribution)?;
        let mut tx = self.db.begin().await?;
        let run = run_batch_in(&mut tx, who.corp_id, &actor(who), now_ms()).await?;
        tx.commit().await?;
        if let Some(batch) = run.batch_id {
            self.audit(who, "distribution.payouts_run", format!("payout_batch:{batch}")).await?;
        }
        Ok(run)
    }

    /// Queues the scheduled batch of every corp whose latest slot came
    /// due and has not run: distribution on, a schedule set, the slot
    /// after the settings were saved (saving never runs a slot that passed
    /// before), none of its kind waiting for the corp.
    pub async fn schedule_payout_runs(&self) {
        let now = now_ms();
        let all = match self.db.all_distribution_settings().await {
            Ok(all) => all,
            Err(e) => return tracing::warn!(error = %e, "payout schedule: cannot read the settings"),
        };
        for (corp_id, json, saved_at) in all {
            let s = super::parse_settings(Some(json));
            let Some(slot_at) = s.payout_schedule.latest_slot(now).filter(|slot| s.enabled && *slot >= saved_at) else {
                continue;
            };
            match self.db.payout_slot_ran(corp_id, slot_at).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::warn!(corp = corp_id, error = %e, "payout schedule: cannot read the slots");
                    continue;
                }
            }
            match self.db.has_pending_job(corp_id, ScheduledPayoutJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &ScheduledPayoutJob { slot_at }).await {
                        tracing::warn!(corp = corp_id, error = %e, "payout schedule: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "payout schedule: cannot look at the queue"),
            }
        }
    }

    pub async fn payout_batches(&self, who: &Principal) -> Result<Vec<PayoutBatch>> {
        require(who, Action::ViewDistribution)?;
        Ok(self.db.payout_batches(who.corp_id, 100).await?.into_iter().map(PayoutBatch::from).collect())
    }

    /// Payouts, newest first: of one batch, or all (at most 500).
    pub async fn payouts(&self, who: &Principal, batch_id: Option<i64>) -> Result<Vec<Payout>> {
        require(who, Action::ViewDistribution)?;
        Ok(self.db.payouts(who.corp_id, batch_id, None, 500).await?.into_iter().map(Payout::from).collect())
    }

    pub async fn payout(&self, who: &Principal, id: i64) -> Result<Payout> {
        require(who, Action::ViewDistribution)?;
        Ok(self.db.payout(who.corp_id, id).await?.ok_or(EngineError::NotFound("payout"))?.into())
    }

    /// Queues a settlement run for every corp with commissions past their
    /// window (none for a corp whose run still waits).
    pub async fn schedule_distribution_ticks(&self) {
        let corps = match self.db.corps_with_due_commissions(now_ms()).await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "distribution timer: cannot list corps"),
        };
        for corp_id in corps {
            match self.db.has_pending_job(corp_id, DistributionTickJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &DistributionTickJob {}).await {
                        tracing::warn!(corp = corp_id, error = %e, "distribution timer: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "distribution timer: cannot look at the queue"),
            }
        }
    }
}

/// Job: settle one corp's commissions whose refund window has passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DistributionTickJob {}

impl Job for DistributionTickJob {
    const KIND: &'static str = "distribution.tick";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        tx.settle_due_commissions(ctx.corp_id, now_ms()).await?;
        Ok(JobEnd::Done)
    }
}

/// Job: the payout batch of one scheduled slot (its start, UTC ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScheduledPayoutJob {
    pub slot_at: i64,
}

impl Job for ScheduledPayoutJob {
    const KIND: &'static str = "distribution.scheduled_payout";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        match run_slot_in(tx, ctx.corp_id, self.slot_at, now_ms()).await? {
            Some(run) => {
                tracing::info!(corp = ctx.corp_id, slot = self.slot_at, batch = ?run.batch_id, "scheduled payout batch")
            }
            None => tracing::debug!(corp = ctx.corp_id, slot = self.slot_at, "the payout slot ran already"),
        }
        Ok(JobEnd::Done)
    }
}

/// Job: pay one payout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PayoutJob {
    pub payout_id: i64,
}

pub(crate) enum Outcome {
    /// WeChat's payment id.
    Paid(String),
    /// Refused for good (or until the operator acts): nothing was paid.
    Failed(String),
    /// Not pending any more.
    Gone,
}

impl Job for PayoutJob {
    const KIND: &'static str = "distribution.payout";
    const PRIORITY: i32 = priority::TAGS;
    const MAX_ATTEMPTS: i32 = 12;
    type Prepared = Outcome;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Outcome> {
        let Some(p) = engine.db.payout(ctx.corp_id, self.payout_id).await? else { return Ok(Outcome::Gone) };
        if p.state != "pending" {
            return Ok(Outcome::Gone);
        }
        let d = engine.db.distributor(ctx.corp_id, p.distributor_id).await?;
        let d = d.ok_or_else(|| JobError::GiveUp("the distributor is gone".into()))?;
        let customer = engine.db.customer(ctx.corp_id, d.customer_id).await?;
        let customer = customer.ok_or_else(|| JobError::GiveUp("the customer is gone".into()))?;
        let s = super::parse_settings(engine.db.distribution_settings(ctx.corp_id).await?);
        let req = Transfer {
            partner_trade_no: p.partner_trade_no.clone(),
            external_userid: customer.external_userid,
            amount_fen: p.amount_fen,
            desc: s.payout_desc,
        };
        match engine.pay_transfer(ctx.corp_id, &req).await {
            Ok(payment_no) => Ok(Outcome::Paid(payment_no)),
            Err(e @ PayError::RetrySameBillno(_)) => Err(e.into()),
            Err(e) => Ok(Outcome::Failed(e.to_string())),
        }
    }

    async fn record(&self, _: &Engine, _: &JobCtx, paid: Outcome, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        match paid {
            Outcome::Gone => Ok(JobEnd::Done),
            Outcome::Paid(no) => {
                tx.finish_payout(self.payout_id, true, &no, "", now).await?;
                Ok(JobEnd::Done)
            }
            Outcome::Failed(why) => {
                tx.finish_payout(self.payout_id, false, "", &why, now).await?;
                Ok(JobEnd::Refused(why))
            }
        }
    }
}
