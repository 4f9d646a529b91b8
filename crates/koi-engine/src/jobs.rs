//! The job runner. Every `koi serve` process runs one; any of them may take
//! any job. Job kinds are dispatched by name; later modules add theirs to
//! [`Worker::run`].

use crate::acquisition::{ADD_JOB, ROUTE_JOB, WELCOME_JOB};
use crate::customers::{BULK_JOB, MARK_JOB, PULL_JOB, SWEEP_JOB, TAG_SYNC_JOB};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::jobs::JobState;
use koi_store::events::NewEvent;
use koi_store::inbox::InboxRow;
use koi_store::jobs::{ClaimedJob, JobRecord, NewJob};
use koi_store::{now_ms, Tx};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// What a job's IO stage hands to its transaction.
enum Prepared {
    Nothing,
    Customer(koi_store::acquisition::CustomerProfile, i32),
    Welcome(serde_json::Value),
    TagDiff(koi_domain::customer::TagDiff),
    WecomTags(Option<Vec<String>>),
}

/// A job that only proves the queue works end to end: it records an event
/// naming the worker that ran it (or fails on purpose, to show dead letters).
pub const SELFTEST: &str = "koi.selftest";

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
    /// Woken by in-process enqueues so they need not wait for the next poll.
    pub wake: Arc<Notify>,
}

impl Worker {
    pub fn new(engine: Engine, config: WorkerConfig) -> Self {
        Worker { engine, config, wake: Arc::new(Notify::new()) }
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
        let outcome = match tokio::spawn(async move { me.attempt(&claimed).await }).await {
            Ok(outcome) => outcome,
            Err(panic) => Err(format!("the job's handler panicked: {panic}")),
        };
        let Err(error) = outcome else { return };
        match self.engine.db.fail_job(&job, &self.config.id, &error, now_ms()).await {
            Ok(Some(JobState::Dead)) => tracing::error!(job = job.id, kind = %job.kind, %error, "job is a dead letter"),
            Ok(Some(_)) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed; will retry")
            }
            Ok(None) => tracing::warn!(job = job.id, %error, "job failed after its lease was taken over"),
            // The lease runs out and another worker takes the job again.
            Err(e) => tracing::warn!(job = job.id, error = %e, "recording the job's failure failed"),
        }
    }

    /// Runs one inbox row through the pipeline, in its own task, its
    /// effects and its completion in one transaction.
    async fn execute_inbox(self: &Arc<Self>, row: InboxRow) {
        let me = Arc::clone(self);
        let claimed = row.clone();
        let outcome = tokio::spawn(async move {
            let db = &me.engine.db;
            let mut tx = db.begin().await.map_err(|e| e.to_string())?;
            me.engine.process_callback(&claimed, &mut tx).await?;
            if tx.inbox_done(claimed.id, &me.config.id, now_ms()).await.map_err(|e| e.to_string())? {
                tx.commit().await.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
        .await
        .unwrap_or_else(|panic| Err(format!("the pipeline panicked: {panic}")));
        if let Err(error) = outcome {
            tracing::warn!(inbox = row.id, event = %row.event, %error, "callback processing failed; will retry");
            if let Err(e) = self.engine.db.inbox_failed(&row, &self.config.id, &error, now_ms()).await {
                tracing::warn!(inbox = row.id, error = %e, "recording the failure failed");
            }
        }
    }

    /// Runs a job's writes and its completion in one transaction, so a job
    /// whose worker dies, or loses its lease, leaves no half-done effects and
    /// is done exactly once by whoever holds it next. `Ok` also covers a lost
    /// lease, whose work is rolled back for the new holder to redo.
    async fn attempt(&self, job: &ClaimedJob) -> std::result::Result<(), String> {
        // WeCom calls happen before the transaction: on SQLite an open write
        // transaction holds the only writer.
        let prepared = self.prepare(job).await?;
        let mut tx = self.engine.db.begin().await.map_err(|e| e.to_string())?;
        self.run(job, prepared, &mut tx).await?;
        if tx.complete_job(job.id, &self.config.id, now_ms()).await.map_err(|e| e.to_string())? {
            tx.commit().await.map_err(|e| e.to_string())
        } else {
            tracing::warn!(job = job.id, "lease lost before the job finished; its work is rolled back");
            Ok(())
        }
    }

    /// A job's IO outside any transaction.
    async fn prepare(&self, job: &ClaimedJob) -> std::result::Result<Prepared, String> {
        Ok(match job.kind.as_str() {
            ADD_JOB => {
                let (profile, add_way) = self.engine.fetch_customer(job).await?;
                Prepared::Customer(profile, add_way)
            }
            WELCOME_JOB => Prepared::Welcome(self.engine.send_welcome(job).await?),
            MARK_JOB => {
                self.engine.push_tags(job).await?;
                Prepared::Nothing
            }
            TAG_SYNC_JOB => Prepared::TagDiff(self.engine.fetch_tag_diff(job).await?),
            PULL_JOB => Prepared::WecomTags(self.engine.fetch_wecom_tags(job).await?),
            BULK_JOB => {
                self.engine.run_bulk_job(job).await?;
                Prepared::Nothing
            }
            SWEEP_JOB => {
                let corp_id = job.corp_id.ok_or("the job has no corp")?;
                self.engine.sweep_customers(corp_id).await?;
                Prepared::Nothing
            }
            ROUTE_JOB => {
                self.engine.reroute_after_add(job).await?;
                Prepared::Nothing
            }
            _ => Prepared::Nothing,
        })
    }

    async fn run(&self, job: &ClaimedJob, prepared: Prepared, tx: &mut Tx) -> std::result::Result<(), String> {
        match (job.kind.as_str(), prepared) {
            (ADD_JOB, Prepared::Customer(profile, add_way)) => self.engine.record_add(job, &profile, add_way, tx).await,
            (WELCOME_JOB, Prepared::Welcome(result)) => self.engine.record_welcome(job, &result, tx).await,
            (TAG_SYNC_JOB, Prepared::TagDiff(diff)) => self.engine.apply_tag_diff(job, &diff, tx).await,
            (PULL_JOB, Prepared::WecomTags(Some(tags))) => self.engine.record_wecom_tags(job, &tags, tx).await,
            (PULL_JOB, Prepared::WecomTags(None)) => Ok(()),
            (MARK_JOB | SWEEP_JOB | BULK_JOB, _) => Ok(()),
            (SELFTEST, _) => self.selftest(job, tx).await,
            (ROUTE_JOB, _) => Ok(()),
            (other, _) => Err(format!("no handler for job kind {other:?}")),
        }
    }

    async fn selftest(&self, job: &ClaimedJob, tx: &mut Tx) -> std::result::Result<(), String> {
        let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        if payload.get("fail").and_then(|v| v.as_bool()) == Some(true) {
            return Err("self-test job asked to fail".into());
        }
        let corp_id = job.corp_id.ok_or("self-test job has no corp")?;
        let now = now_ms();
        let body = serde_json::json!({ "job_id": job.id, "worker": self.config.id }).to_string();
        let e = NewEvent {
            corp_id,
            kind: "job.selftest",
            subject: &format!("job:{}", job.id),
            actor: &format!("worker:{}", self.config.id),
            payload: &body,
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn housekeeping(&self, now: i64) {
        let db = &self.engine.db;
        if let Err(e) = db.delete_expired_sessions(now).await {
            tracing::warn!(error = %e, "pruning sessions failed");
        }
        if let Err(e) = db.prune_done_jobs(now - 7 * 24 * 3_600_000).await {
            tracing::warn!(error = %e, "pruning finished jobs failed");
        }
        // Segment indexes read the log only seconds behind; a day is ample.
        if let Err(e) = db.prune_customer_changes(now - 24 * 3_600_000).await {
            tracing::warn!(error = %e, "pruning the customer change log failed");
        }
    }
}

impl Engine {
    pub async fn jobs(&self, who: &Principal, state: Option<JobState>, limit: i64) -> Result<Vec<JobRecord>> {
        require(who, Action::ViewJobs)?;
        Ok(self.db.jobs(who.corp_id, state, limit.clamp(1, 500)).await?)
    }

    pub async fn job_counts(&self, who: &Principal) -> Result<Vec<(JobState, i64)>> {
        require(who, Action::ViewJobs)?;
        Ok(self.db.job_counts(who.corp_id).await?)
    }

    pub async fn retry_job(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::RetryJobs)?;
        if self.db.retry_job(who.corp_id, id, now_ms()).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("dead job"))
        }
    }

    /// Enqueues `count` self-test jobs for the corp; `fail` makes them fail
    /// every attempt (with one attempt allowed) to exercise dead letters.
    pub async fn enqueue_selftest(&self, corp_id: i64, count: usize, fail: bool) -> Result<Vec<i64>> {
        let now = now_ms();
        let payload = serde_json::json!({ "fail": fail }).to_string();
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let mut job = NewJob::new(Some(corp_id), SELFTEST, &payload, now);
            if fail {
                job.max_attempts = 1;
            }
            ids.push(tx.enqueue(&job, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }
}
