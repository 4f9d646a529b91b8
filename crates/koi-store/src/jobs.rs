//! The durable job queue. A job is enqueued in the same transaction as the
//! write that causes it; workers claim jobs under a lease, so a crashed
//! worker's job is taken again once its lease runs out, and a job finished by
//! a worker whose lease was taken over is not marked done twice.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::queue::{Failed, Queue};
use crate::Result;
use koi_domain::jobs::{JobState, DEFAULT_MAX_ATTEMPTS};

#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub corp_id: Option<i64>,
    pub kind: &'a str,
    /// JSON text.
    pub payload: &'a str,
    /// Lower runs first.
    pub priority: i32,
    pub run_at: i64,
    pub max_attempts: i32,
}

impl<'a> NewJob<'a> {
    pub fn new(corp_id: Option<i64>, kind: &'a str, payload: &'a str, now: i64) -> Self {
        NewJob {
            corp_id,
            kind,
            payload,
            priority: koi_domain::jobs::priority::DEFAULT,
            run_at: now,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// A job as a worker sees it after claiming it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub corp_id: Option<i64>,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub priority: i32,
    pub run_at: i64,
}

/// A job as the console shows it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: i64,
    pub corp_id: Option<i64>,
    pub kind: String,
    pub payload: String,
    pub priority: i32,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    corp_id: Option<i64>,
    kind: String,
    payload: String,
    priority: i32,
    state: String,
    attempts: i32,
    max_attempts: i32,
    run_at: i64,
    locked_by: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<JobRow> for JobRecord {
    fn from(r: JobRow) -> Self {
        JobRecord {
            id: r.id,
            corp_id: r.corp_id,
            kind: r.kind,
            payload: r.payload,
            priority: r.priority,
            state: JobState::parse(&r.state).unwrap_or(JobState::Dead),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            locked_by: r.locked_by,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The job queue as a lease queue: `queued` → `running` → `done` (or
/// `refused`), or `dead` for a person to retry.
const JOBS: Queue = Queue {
    table: "jobs",
    waiting: "queued",
    dead: "dead",
    max_attempts: "max_attempts",
    order: "priority, run_at, id",
    columns: "id, corp_id, kind, payload, attempts, max_attempts, priority, run_at",
    touched: Some("updated_at"),
    finished: "updated_at",
};

/// How a job that ran to its end ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Done,
    /// The outside world (WeCom) refused it for good, for this reason.
    Refused(String),
}

impl Tx {
    /// Marks a job done, if `worker` still holds it. Run in the transaction
    /// that holds the job's writes: if the lease was lost, the caller rolls
    /// back and the job's effects happen once, through whoever holds it now.
    pub async fn complete_job(&mut self, id: i64, worker: &str, now: i64) -> Result<bool> {
        self.finish_job(id, worker, &JobEnd::Done, now).await
    }

    /// Ends a job as done or refused (keeping the reason), if `worker` still
    /// holds it; in the job's transaction, as [`Tx::complete_job`].
    pub async fn finish_job(&mut self, id: i64, worker: &str, end: &JobEnd, now: i64) -> Result<bool> {
        let (state, note) = match end {
            JobEnd::Done => (JobState::Done, None),
            JobEnd::Refused(reason) => (JobState::Refused, Some(reason.as_str())),
        };
        JOBS.finish(self, id, worker, state.as_str(), note, now).await
    }

    pub async fn enqueue(&mut self, job: &NewJob<'_>, now: i64) -> Result<i64> {
        let sql =
            "INSERT INTO jobs (corp_id, kind, payload, priority, state, max_attempts, run_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $7) RETURNING id";
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(sql)
                .bind(job.corp_id)
                .bind(job.kind)
                .bind(job.payload)
                .bind(job.priority)
                .bind(job.max_attempts)
                .bind(job.run_at)
                .bind(now)
                .fetch_one(&mut *c)
                .await
        })?)
    }
}

impl Db {
    /// Enqueues one job in its own transaction.
    pub async fn enqueue(&self, job: &NewJob<'_>, now: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
        let id = tx.enqueue(job, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Claims up to `limit` jobs for `worker` for `lease_ms`, by priority.
    pub async fn claim_jobs(&self, worker: &str, limit: i64, lease_ms: i64, now: i64) -> Result<Vec<ClaimedJob>> {
        let mut jobs: Vec<ClaimedJob> = JOBS.claim(self, worker, limit, lease_ms, now).await?;
        // RETURNING gives no order; run the batch by priority.
        jobs.sort_by_key(|j| (j.priority, j.run_at, j.id));
        Ok(jobs)
    }

    /// Extends to `now + lease_ms` the leases `worker` still holds on the
    /// jobs `ids` (the ones it is running), so a job that runs longer than a
    /// lease (a call waiting for WeCom's budget) is not taken over by a
    /// second attempt while its worker lives. Returns how many were renewed.
    pub async fn renew_job_leases(&self, worker: &str, ids: &[i64], lease_ms: i64, now: i64) -> Result<u64> {
        JOBS.renew(self, worker, ids, now + lease_ms).await
    }

    /// Marks a job done, if `worker` still holds it, in its own transaction.
    pub async fn complete_job(&self, id: i64, worker: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = tx.complete_job(id, worker, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Records a failure: the job is retried after a backoff, or becomes a
    /// dead letter after its last attempt. Returns the state it is left in,
    /// or `None` when `worker` no longer held the job (its lease was taken).
    pub async fn fail_job(&self, job: &ClaimedJob, worker: &str, error: &str, now: i64) -> Result<Option<JobState>> {
        self.fail_job_with(job, worker, false, error, now).await
    }

    /// As [`Db::fail_job`]; `give_up` makes it a dead letter at once (the
    /// job can never succeed as it stands).
    pub async fn fail_job_with(
        &self,
        job: &ClaimedJob,
        worker: &str,
        give_up: bool,
        error: &str,
        now: i64,
    ) -> Result<Option<JobState>> {
        let failed = JOBS.fail(self, job.id, worker, (job.attempts, job.max_attempts), give_up, error, now).await?;
        Ok(failed.map(|f| match f {
            Failed::Retry => JobState::Queued,
            Failed::Dead => JobState::Dead,
        }))
    }

    /// A dead letter (or a refused job, once its cause is mended) goes back
    /// to the queue with a fresh set of attempts.
    pub async fn retry_job(&self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
                 WHERE corp_id = $2 AND id = $3 AND state IN ('dead', 'refused')",
            )
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The corp's newest jobs, optionally in one state.
    pub async fn jobs(&self, corp_id: i64, state: Option<JobState>, limit: i64) -> Result<Vec<JobRecord>> {
        let rows: Vec<JobRow> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, corp_id, kind, payload, priority, state, attempts, max_attempts, run_at, locked_by, \
                 last_error, created_at, updated_at FROM jobs WHERE corp_id = $1 AND ($2 IS NULL OR state = $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(corp_id)
            .bind(state.map(JobState::as_str))
            .bind(limit)
            .fetch_all(c)
            .await
        })?;
        Ok(rows.into_iter().map(JobRecord::from).collect())
    }

    /// How many of the corp's jobs are in each state.
    pub async fn job_counts(&self, corp_id: i64) -> Result<Vec<(JobState, i64)>> {
        let rows: Vec<(String, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs WHERE corp_id = $1 GROUP BY state")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?;
        Ok(JobState::ALL
            .into_iter()
            .map(|s| (s, rows.iter().find(|(n, _)| n == s.as_str()).map_or(0, |(_, c)| *c)))
            .collect())
    }

    /// Deletes finished jobs older than `before`; dead letters stay until a
    /// person deals with them.
    pub async fn prune_done_jobs(&self, before: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
                .bind(before)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}
