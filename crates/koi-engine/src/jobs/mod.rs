//! Background jobs: the one shape every piece of background work takes.
//!
//! A job kind is a type (its payload) that implements [`Job`]:
//! - `prepare` does the job's outside calls (WeCom, WeChat Pay) **outside**
//!   any transaction — on SQLite an open write transaction holds the only
//!   writer, and a slow call must never hold a lock;
//! - `record` writes what came of them **inside** the transaction that also
//!   marks the job finished, so a job is recorded exactly once even when its
//!   worker dies or loses its lease half-way;
//! - either step fails with a [`JobError`] that says what happens next:
//!   retry after a backoff, give up (a dead letter for a person), treat as
//!   done, or refused for good by the outside world — a visible outcome on
//!   the jobs page and on the customer's timeline, never a silent success.
//!
//! Adding a kind (a mass-send batch, a reward payout): write the type beside
//! its use cases, enqueue it with [`enqueue`] in the transaction that causes
//! it, and add one line to [`registry`]. The [`worker`] claims, runs and
//! settles it; nothing else changes.

mod registry;
mod worker;

pub use worker::{Worker, WorkerConfig};

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::jobs::{priority, JobState, DEFAULT_MAX_ATTEMPTS};
use koi_store::events::NewEvent;
use koi_store::jobs::{JobEnd, JobRecord, NewJob};
use koi_store::{now_ms, StoreError, Tx};
use koi_wecom::client::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A kind of background job. The implementing type is the job's payload,
/// stored as JSON with the job.
pub(crate) trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name jobs of this kind carry in the queue (`area.verb`).
    const KIND: &'static str;
    /// Lower runs first; see [`priority`].
    const PRIORITY: i32 = priority::DEFAULT;
    /// Attempts before the job becomes a dead letter.
    const MAX_ATTEMPTS: i32 = DEFAULT_MAX_ATTEMPTS;

    /// What `prepare` learns outside the transaction and hands to `record`.
    type Prepared: Send;

    /// The job's outside calls, before its transaction.
    fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> impl Future<Output = JobResult<Self::Prepared>> + Send;

    /// The job's writes, in the transaction that finishes it.
    fn record(
        &self,
        engine: &Engine,
        ctx: &JobCtx,
        prepared: Self::Prepared,
        tx: &mut Tx,
    ) -> impl Future<Output = JobResult<JobEnd>> + Send;

    /// The customer whose timeline shows it when the job is refused.
    fn customer(&self) -> Option<i64> {
        None
    }
}

/// What a running job knows about itself.
pub(crate) struct JobCtx {
    pub id: i64,
    pub corp_id: i64,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// The worker running it (names it in leases and logs).
    pub worker: String,
}

pub(crate) type JobResult<T> = std::result::Result<T, JobError>;

/// How a job step failed, and so what happens to the job.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// Might work later (WeCom busy or rate-limited, the network, the
    /// database): retried after a backoff, a dead letter after the last
    /// attempt.
    #[error("{0}")]
    Retry(String),
    /// Can never work as it stands (an unreadable payload, a corp that is
    /// gone): a dead letter now, for a person to look at.
    #[error("{0}")]
    GiveUp(String),
    /// WeCom (or another outside service) refused for good: an unknown or
    /// departed customer, a missing permission. The job ends `refused`, with
    /// the reason on the jobs page and the customer's timeline.
    #[error("refused: {0}")]
    Refused(String),
    /// Nothing is left to do (the customer or code is gone): the job ends
    /// done, and the reason is logged.
    #[error("nothing to do: {0}")]
    Done(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

impl From<EngineError> for JobError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Unavailable(why) => JobError::Retry(why),
            EngineError::NotFound(what) => JobError::Done(format!("{what} not found")),
            other => JobError::GiveUp(other.to_string()),
        }
    }
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> Self {
        if e.is_final() {
            JobError::Refused(e.to_string())
        } else {
            JobError::Retry(e.to_string())
        }
    }
}

/// Enqueues `job` in `tx`, so it exists exactly when the write that causes
/// it commits. Returns the job's id.
pub(crate) async fn enqueue<J: Job>(tx: &mut Tx, corp_id: i64, job: &J) -> Result<i64> {
    let now = now_ms();
    enqueue_at(tx, corp_id, job, now, now).await
}

/// As [`enqueue`], not to run before `run_at`.
pub(crate) async fn enqueue_at<J: Job>(tx: &mut Tx, corp_id: i64, job: &J, run_at: i64, now: i64) -> Result<i64> {
    let payload = serde_json::to_string(job).expect("a job payload is plain data and serialises");
    let new = NewJob {
        priority: J::PRIORITY,
        max_attempts: J::MAX_ATTEMPTS,
        run_at,
        ..NewJob::new(Some(corp_id), J::KIND, &payload, now)
    };
    Ok(tx.enqueue(&new, now).await?)
}

/// Puts a refusal on the event log, on the customer's timeline when the job
/// is about one.
async fn record_refusal(tx: &mut Tx, ctx: &JobCtx, kind: &str, customer: Option<i64>, reason: &str) -> JobResult<()> {
    let subject = match customer {
        Some(id) => format!("customer:{id}"),
        None => format!("job:{}", ctx.id),
    };
    let payload = serde_json::json!({ "job": kind, "job_id": ctx.id, "reason": reason }).to_string();
    let now = now_ms();
    let e = NewEvent {
        corp_id: ctx.corp_id,
        kind: "wecom.refused",
        subject: &subject,
        actor: "koi",
        payload: &payload,
        dedup_key: Some(&format!("wecom.refused:{}", ctx.id)),
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

/// A job that only proves the queue works end to end: it records an event
/// naming the worker that ran it (or fails on purpose, to show dead letters).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SelfTest {
    #[serde(default)]
    fail: bool,
}

impl Job for SelfTest {
    const KIND: &'static str = "koi.selftest";
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        if self.fail {
            return Err(JobError::Retry("self-test job asked to fail".into()));
        }
        let now = now_ms();
        let body = serde_json::json!({ "job_id": ctx.id, "worker": ctx.worker, "attempt": ctx.attempt }).to_string();
        let e = NewEvent {
            corp_id: ctx.corp_id,
            kind: "job.selftest",
            subject: &format!("job:{}", ctx.id),
            actor: &format!("worker:{}", ctx.worker),
            payload: &body,
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Enqueues `job` in a transaction of its own (for work an operator asks
    /// for, which no other write causes). Returns the job's id.
    pub(crate) async fn enqueue_now<J: Job>(&self, corp_id: i64, job: &J) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        let id = enqueue(&mut tx, corp_id, job).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn jobs(&self, who: &Principal, state: Option<JobState>, limit: i64) -> Result<Vec<JobRecord>> {
        require(who, Action::ViewJobs)?;
        Ok(self.db.jobs(who.corp_id, state, limit.clamp(1, 500)).await?)
    }

    pub async fn job_counts(&self, who: &Principal) -> Result<Vec<(JobState, i64)>> {
        require(who, Action::ViewJobs)?;
        Ok(self.db.job_counts(who.corp_id).await?)
    }

    /// Puts a dead letter or a refused job back in the queue.
    pub async fn retry_job(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::RetryJobs)?;
        if self.db.retry_job(who.corp_id, id, now_ms()).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("dead or refused job"))
        }
    }

    /// Enqueues `count` self-test jobs for the corp; `fail` makes them fail
    /// every attempt (with one attempt allowed) to exercise dead letters.
    pub async fn enqueue_selftest(&self, corp_id: i64, count: usize, fail: bool) -> Result<Vec<i64>> {
        let now = now_ms();
        let payload = serde_json::to_string(&SelfTest { fail }).expect("plain data serialises");
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let mut job = NewJob::new(Some(corp_id), SelfTest::KIND, &payload, now);
            if fail {
                job.max_attempts = 1;
            }
            ids.push(tx.enqueue(&job, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }
}
