//! One lease queue, written once, under both the job queue ([`crate::jobs`])
//! and the callback inbox ([`crate::inbox`]).
//!
//! A row waits until its `run_at`, is claimed by one worker under a lease
//! (`locked_by`, `locked_until`), and ends in one of three ways: finished
//! in the transaction that holds its effects (only while the worker still
//! holds it), failed with a backoff until its attempts run out, or taken
//! again by another worker after its lease ran out (its worker died). A row
//! whose worker died on every attempt is buried instead of looping.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::dialect;
use crate::Result;
use koi_domain::jobs::{after_failure, AfterFailure};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

/// Where a queue keeps its rows, and the words it uses for its states.
pub(crate) struct Queue {
    pub table: &'static str,
    /// State of a row waiting for its `run_at`.
    pub waiting: &'static str,
    /// State of a row that will not run again unless a person says so.
    pub dead: &'static str,
    /// SQL for a row's attempt limit: a column, or a constant.
    pub max_attempts: &'static str,
    /// Claim order.
    pub order: &'static str,
    /// What a claim returns (the claimed row type's columns).
    pub columns: &'static str,
    /// Column stamped with the time of every change, if the table has one.
    pub touched: Option<&'static str>,
    /// Column stamped with the time a row finished.
    pub finished: &'static str,
}

/// Errors are kept to this many characters.
const MAX_ERROR_CHARS: usize = 2000;

/// How a failed attempt leaves a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// Back in the queue after a backoff.
    Retry,
    /// Out of attempts (or not worth another): dead.
    Dead,
}

impl Queue {
    fn touch(&self, at: &str) -> String {
        self.touched.map(|c| format!(", {c} = {at}")).unwrap_or_default()
    }

    /// Claims up to `limit` due rows for `worker` for `lease_ms`, in the
    /// queue's order. Concurrent claimers never get the same row: on
    /// PostgreSQL they skip each other's rows, on SQLite the one writer
    /// serialises them.
    pub async fn claim<R>(&self, db: &Db, worker: &str, limit: i64, lease_ms: i64, now: i64) -> Result<Vec<R>>
    where
        R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let Queue { table, waiting, dead, max_attempts, order, columns, .. } = self;
        // A row whose every attempt ended with its worker dead (a crash or a
        // hang, again and again) is buried instead of looping.
        let bury = format!(
            "UPDATE {table} SET state = '{dead}', last_error = 'its worker died on every attempt', \
             locked_by = NULL, locked_until = NULL{} \
             WHERE state = 'running' AND locked_until < $1 AND attempts >= {max_attempts}",
            self.touch("$1")
        );
        on_pool!(db, true, |c| sqlx::query(&bury).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
        let lock = dialect::skip_locked(db.backend());
        let claim = format!(
            "UPDATE {table} SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2{} \
             WHERE id IN (SELECT id FROM {table} WHERE (state = '{waiting}' AND run_at <= $3) \
             OR (state = 'running' AND locked_until < $3 AND attempts < {max_attempts}) \
             ORDER BY {order} LIMIT $4{lock}) RETURNING {columns}",
            self.touch("$3")
        );
        Ok(on_pool!(db, true, |c| {
            sqlx::query_as(&claim).bind(worker).bind(now + lease_ms).bind(now).bind(limit).fetch_all(c).await
        })?)
    }

    /// Extends `worker`'s leases on the rows `ids` that it still holds to
    /// `until`. A row another worker took over stays theirs.
    pub async fn renew(&self, db: &Db, worker: &str, ids: &[i64], until: i64) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "UPDATE {} SET locked_until = $1 WHERE locked_by = $2 AND state = 'running' AND id IN ({list})",
            self.table
        );
        Ok(on_pool!(db, true, |c| sqlx::query(&sql)
            .bind(until)
            .bind(worker)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Ends a row in `state` (with `note` kept as its last error, if any),
    /// if `worker` still holds it. Run in the transaction that holds the
    /// row's effects: a worker that lost its lease rolls back, and the
    /// effects happen once, through whoever holds the row now.
    pub async fn finish(
        &self,
        tx: &mut Tx,
        id: i64,
        worker: &str,
        state: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let Queue { table, finished, .. } = self;
        let touch = if self.touched == Some(finished) { String::new() } else { self.touch("$3") };
        let sql = format!(
            "UPDATE {table} SET state = $1, last_error = $2, locked_by = NULL, locked_until = NULL, {finished} = $3{touch} \
             WHERE id = $4 AND locked_by = $5 AND state = 'running'"
        );
        let note = note.map(clip);
        let n = on_tx!(tx, |c| {
            sqlx::query(&sql)
                .bind(state)
                .bind(&note)
                .bind(now)
                .bind(id)
                .bind(worker)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records a failed attempt (`attempts` of `max_attempts`): retried
    /// after a backoff, or dead (at once when `give_up`). `None` when
    /// `worker` no longer held the row.
    #[allow(clippy::too_many_arguments)]
    pub async fn fail(
        &self,
        db: &Db,
        id: i64,
        worker: &str,
        (attempts, max_attempts): (i32, i32),
        give_up: bool,
        error: &str,
        now: i64,
    ) -> Result<Option<Failed>> {
        let (failed, run_at) = match after_failure(attempts, max_attempts, now) {
            AfterFailure::RetryAt(t) if !give_up => (Failed::Retry, t),
            _ => (Failed::Dead, now),
        };
        let state = match failed {
            Failed::Retry => self.waiting,
            Failed::Dead => self.dead,
        };
        let sql = format!(
            "UPDATE {} SET state = $1, run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL{} \
             WHERE id = $4 AND locked_by = $5 AND state = 'running'",
            self.table,
            self.touch("$6")
        );
        let error = clip(error);
        let n = on_pool!(db, true, |c| {
            let q = sqlx::query(&sql).bind(state).bind(run_at).bind(&error).bind(id).bind(worker);
            let q = if self.touched.is_some() { q.bind(now) } else { q };
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok((n == 1).then_some(failed))
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}
