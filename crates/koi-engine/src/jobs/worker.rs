//! The job runner. Every `koi serve` process runs one; any of them may take
//! any job or callback. It claims jobs from the queue and rows from the
//! callback inbox under leases, runs each in a task of its own, and settles
//! it by what its [`JobError`] says.

use super::{record_refusal, registry, Job, JobCtx, JobError};
use crate::Engine;
use koi_domain::jobs::JobState;
use koi_store::inbox::InboxRow;
use koi_store::jobs::{ClaimedJob, JobEnd};
use koi_store::now_ms;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases and logs; unique per process.
    pub id: String,
    pub batch: i64,
    /// Jobs in flight at once. Most of a job's time is a WeCom round trip
    /// (2 s when WeCom is slow), so jobs overlap rather than queue behind
    /// one another; the per-(corp, API) budget still paces the calls.
    pub concurrency: usize,
    pub lease_ms: i64,
    pub idle_poll: Duration,
}

impl WorkerConfig {
    pub fn new(id: impl Into<String>) -> Self {
        WorkerConfig {
            id: id.into(),
            batch: 16,
            concurrency: 64,
            lease_ms: 5 * 60_000,
            idle_poll: Duration::from_millis(250),
        }
    }
}

pub struct Worker {
    engine: Engine,
    config: WorkerConfig,
    /// The jobs running now, whose leases the loop keeps renewed.
    in_hand: Mutex<HashSet<i64>>,
    /// Woken by in-process enqueues so they need not wait for the next poll.
    pub wake: Arc<Notify>,
}

impl Worker {
    pub fn new(engine: Engine, config: WorkerConfig) -> Self {
        Worker { engine, config, in_hand: Mutex::default(), wake: Arc::new(Notify::new()) }
    }

    /// Claims and runs jobs until `stop` turns true; finishes the batch in hand.
    pub async fn run_until(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        this.work(&mut stop).await;
    }

    async fn work(self: &Arc<Self>, stop: &mut watch::Receiver<bool>) {
        let mut last_prune = 0;
        let mut last_route = 0;
        let mut last_sweep = now_ms();
        let mut last_feed = 0;
        let mut last_campaigns = 0;
        let mut last_sop = 0;
        let mut last_renew = now_ms();
        // Jobs run as tasks of their own and are claimed as room frees up:
        // running a batch one job after another would put every welcome
        // behind the WeCom round trips of the jobs claimed before it, and
        // with WeCom answering in 2 s a welcome code (20 s) would die in the
        // queue after ten of them.
        let mut running = tokio::task::JoinSet::new();
        tracing::info!(worker = %self.config.id, "job worker started");
        while !*stop.borrow() {
            while running.try_join_next().is_some() {}
            let now = now_ms();
            if now - last_route > 60_000 {
                last_route = now;
                self.engine.reroute_all().await;
                self.engine.check_group_codes().await;
                // Yesterday's loss summaries, once each, from 09:00 Shanghai time.
                self.engine.schedule_loss_summaries().await;
            }
            if now - last_feed >= self.engine.settings.group_feed_interval_ms {
                last_feed = now;
                // What members said in groups since the last read.
                self.engine.schedule_feed_reads().await;
            }
            if now - last_campaigns >= self.engine.settings.campaign_tick_ms {
                last_campaigns = now;
                // Scheduled starts and ends, and invites whose hold has passed.
                self.engine.schedule_campaign_ticks().await;
                // Coupons past their end, reminders before it, points past their date.
                self.engine.schedule_coupon_ticks().await;
                // Checkouts left unpaid: ask WeChat Pay, close the expired.
                self.engine.schedule_checkout_sweeps().await;
                // Commissions whose refund window has passed settle.
                self.engine.schedule_distribution_ticks().await;
                // Payout batches whose scheduled slot came due.
                self.engine.schedule_payout_runs().await;
            }
            if now - last_sop >= self.engine.settings.sop_tick_ms {
                last_sop = now;
                // SOP steps that came due (day N after add, weekly, festivals).
                self.engine.schedule_sop_ticks().await;
            }
            if now - last_sweep > 3_600_000 {
                last_sweep = now;
                // Time alone moves stages, RFM recency and "no order for N days".
                let engine = self.engine.clone();
                tokio::spawn(async move { engine.sweep_all().await });
            }
            if now - last_prune > 3_600_000 {
                last_prune = now;
                self.housekeeping(now).await;
            }
            if now - last_renew >= self.config.lease_ms / 3 {
                last_renew = now;
                self.renew_leases(now).await;
            }
            let room = self.config.concurrency.saturating_sub(running.len()).min(self.config.batch as usize);
            let jobs = if room == 0 {
                Vec::new()
            } else {
                let claimed = self.engine.db.claim_jobs(&self.config.id, room as i64, self.config.lease_ms, now).await;
                claimed.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "claiming jobs failed; retrying");
                    Vec::new()
                })
            };
            let inbox =
                self.engine.db.claim_inbox(&self.config.id, self.config.batch * 4, self.config.lease_ms, now).await;
            let inbox = inbox.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "claiming inbox rows failed; retrying");
                Vec::new()
            });
            if jobs.is_empty() && inbox.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                    _ = self.wake.notified() => {}
                    _ = stop.changed() => {}
                    // A finished job makes room, and may have enqueued the next.
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                }
                continue;
            }
            // Claimed in priority order, so welcomes start first.
            for job in jobs {
                let me = Arc::clone(self);
                running.spawn(async move { me.execute(job).await });
            }
            for row in inbox {
                self.execute_inbox(row).await;
            }
        }
        // Finish the jobs in hand before stopping: their leases are ours.
        while running.join_next().await.is_some() {}
        tracing::info!(worker = %self.config.id, "job worker stopped");
    }

    /// Runs one job in a task of its own, so a handler that panics fails
    /// its job (which is retried, then dead-lettered) instead of the worker.
    async fn execute(self: &Arc<Self>, job: ClaimedJob) {
        let me = Arc::clone(self);
        let claimed = job.clone();
        self.hold(job.id, true);
        let outcome = match tokio::spawn(async move { registry::run(&me, &claimed).await }).await {
            Ok(outcome) => outcome,
            Err(panic) => Err(JobError::Retry(format!("the job's handler panicked: {panic}"))),
        };
        self.hold(job.id, false);
        let Err(error) = outcome else { return };
        let give_up = matches!(error, JobError::GiveUp(_));
        let failed = self.engine.db.fail_job_with(&job, &self.config.id, give_up, &error.to_string(), now_ms()).await;
        match failed {
            Ok(Some(JobState::Dead)) => tracing::error!(job = job.id, kind = %job.kind, %error, "job is a dead letter"),
            Ok(Some(_)) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed; will retry")
            }
            Ok(None) => tracing::warn!(job = job.id, %error, "job failed after its lease was taken over"),
            // The lease runs out and another worker takes the job again.
            Err(e) => tracing::warn!(job = job.id, error = %e, "recording the job's failure failed"),
        }
    }

    fn hold(&self, job: i64, running: bool) {
        let mut in_hand = self.in_hand.lock().expect("never poisoned: no panics while held");
        if running {
            in_hand.insert(job);
        } else {
            in_hand.remove(&job);
        }
    }

    /// Keeps the leases of the jobs running here: a job may outlast one
    /// lease (a call queued for WeCom's budget under a small quota), and
    /// only a dead worker's jobs are for others to take.
    async fn renew_leases(&self, now: i64) {
        let ids: Vec<i64> = self.in_hand.lock().expect("never poisoned").iter().copied().collect();
        if let Err(e) = self.engine.db.renew_job_leases(&self.config.id, &ids, self.config.lease_ms, now).await {
            tracing::warn!(error = %e, "renewing job leases failed; retrying");
        }
    }

    /// Runs one inbox row through the pipeline, in its own task, its
    /// effects and its completion in one transaction.
    async fn execute_inbox(self: &Arc<Self>, row: InboxRow) {
        let me = Arc::clone(self);
        let claimed = row.clone();
        let outcome = tokio::spawn(async move {
            let db = &me.engine.db;
            let mut tx = db.begin().await?;
            me.engine.process_callback(&claimed, &mut tx).await?;
            if tx.inbox_done(claimed.id, &me.config.id, now_ms()).await? {
                tx.commit().await?;
            }
            Ok::<(), JobError>(())
        })
        .await
        .unwrap_or_else(|panic| Err(JobError::Retry(format!("the pipeline panicked: {panic}"))));
        if let Err(error) = outcome {
            tracing::warn!(inbox = row.id, event = %row.event, %error, "callback processing failed");
            let give_up = matches!(error, JobError::GiveUp(_));
            let error = error.to_string();
            let failed = self.engine.db.inbox_failed_with(&row, &self.config.id, give_up, &error, now_ms());
            if let Err(e) = failed.await {
                tracing::warn!(inbox = row.id, error = %e, "recording the failure failed");
            }
        }
    }

    /// Runs a job of kind `J`: its outside calls, then its writes and its
    /// completion in one transaction, so a job whose worker dies, or loses
    /// its lease, leaves no half-done effects and is done exactly once by
    /// whoever holds it next. `Ok` also covers a lost lease, whose work is
    /// rolled back for the new holder to redo, and a job that ended refused
    /// or with nothing to do.
    pub(super) async fn attempt<J: Job>(&self, claimed: &ClaimedJob) -> Result<(), JobError> {
        let job: J = serde_json::from_str(&claimed.payload)
            .map_err(|e| JobError::GiveUp(format!("unreadable {} payload: {e}", J::KIND)))?;
        let corp_id = claimed.corp_id.ok_or_else(|| JobError::GiveUp("the job has no corp".into()))?;
        let ctx = JobCtx { id: claimed.id, corp_id, attempt: claimed.attempts, worker: self.config.id.clone() };
        let engine = &self.engine;
        // Outside calls happen before the transaction: on SQLite an open
        // write transaction holds the only writer.
        let prepared = job.prepare(engine, &ctx).await;
        let mut tx = engine.db.begin().await?;
        let end = match prepared {
            Ok(prepared) => match job.record(engine, &ctx, prepared, &mut tx).await {
                Ok(end) => end,
                Err(error) => {
                    // What `record` wrote goes; the job's end is recorded alone.
                    drop(tx);
                    tx = engine.db.begin().await?;
                    settled(&ctx, J::KIND, error)?
                }
            },
            Err(error) => settled(&ctx, J::KIND, error)?,
        };
        if let JobEnd::Refused(reason) = &end {
            tracing::info!(job = ctx.id, kind = J::KIND, %reason, "job refused by WeCom");
            record_refusal(&mut tx, &ctx, J::KIND, job.customer(), reason).await?;
        }
        if tx.finish_job(claimed.id, &self.config.id, &end, now_ms()).await? {
            tx.commit().await?;
        } else {
            tracing::warn!(job = claimed.id, "lease lost before the job finished; its work is rolled back");
        }
        Ok(())
    }

    async fn housekeeping(&self, now: i64) {
        let db = &self.engine.db;
        if let Err(e) = db.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "pruning sessions failed");
        }
        if let Err(e) = db.prune_login_limits(now - koi_domain::access::LOGIN_WINDOW_MS).await {
            tracing::warn!(error = %e, "pruning sign-in counts failed");
        }
        if let Err(e) = db.prune_done_jobs(now - 7 * 24 * 3_600_000).await {
            tracing::warn!(error = %e, "pruning finished jobs failed");
        }
        match self.engine.prune_inbox(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned processed callbacks past the inbox window"),
            Err(e) => tracing::warn!(error = %e, "pruning the callback inbox failed"),
        }
        // Segment indexes read the log only seconds behind; a day is ample.
        if let Err(e) = db.prune_customer_changes(now - 24 * 3_600_000).await {
            tracing::warn!(error = %e, "pruning the customer change log failed");
        }
    }
}

/// The end of a job whose step failed in a way that finishes it anyway
/// (refused, or nothing to do); other failures go back to the caller.
fn settled(ctx: &JobCtx, kind: &str, error: JobError) -> Result<JobEnd, JobError> {
    match error {
        JobError::Refused(reason) => Ok(JobEnd::Refused(reason)),
        JobError::Done(why) => {
            tracing::info!(job = ctx.id, kind, %why, "job had nothing to do");
            Ok(JobEnd::Done)
        }
        other => Err(other),
    }
}
