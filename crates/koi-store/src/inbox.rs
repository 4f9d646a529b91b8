//! The durable WeCom callback inbox. A verified callback is appended here,
//! once per distinct plaintext, before WeCom gets its 200; workers then claim
//! pending rows under a lease and run the pipeline. Appends come in batches
//! (group commit) so one transaction acknowledges many concurrent callbacks.

use crate::db::{on_pool, Db, Tx};
use crate::dialect;
use crate::queue::Queue;
use crate::Result;

/// Attempts before an inbox row is left `failed` for a person to replay.
pub const INBOX_MAX_ATTEMPTS: i32 = 8;

/// The inbox as a lease queue: `pending` → `running` → `done`, or `failed`
/// for a person to replay.
const INBOX: Queue = Queue {
    table: "wecom_inbox",
    waiting: "pending",
    dead: "failed",
    max_attempts: "8",
    order: "id",
    columns: "id, corp_id, event, plaintext, received_at, attempts",
    touched: None,
    finished: "processed_at",
};
const _: () = assert!(INBOX_MAX_ATTEMPTS == 8, "INBOX.max_attempts spells out INBOX_MAX_ATTEMPTS");

#[derive(Debug, Clone)]
pub struct InboxItem {
    pub corp_id: i64,
    /// SHA-256 of the plaintext: a redelivery has the same key.
    pub dedup_key: String,
    /// `Event/ChangeType`, e.g. `change_external_contact/add_external_contact`.
    pub event: String,
    pub plaintext: String,
    pub received_at: i64,
}

/// A row a worker has claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: i64,
    pub corp_id: i64,
    pub event: String,
    pub plaintext: String,
    pub received_at: i64,
    pub attempts: i32,
}

impl Tx {
    /// Appends items; returns, per item, whether it was new (false: its
    /// dedup key was already in the inbox, or earlier in `items`).
    pub async fn inbox_append(&mut self, items: &[InboxItem]) -> Result<Vec<bool>> {
        let inserted = dialect::inbox_insert(self, items).await?;
        let mut new: std::collections::HashSet<(i64, String)> = inserted.into_iter().collect();
        // A key twice in one batch is inserted once; only its first
        // occurrence counts as new.
        Ok(items.iter().map(|it| new.remove(&(it.corp_id, it.dedup_key.clone()))).collect())
    }

    /// Marks a claimed row processed, if `worker` still holds it; in the
    /// transaction that holds the row's effects.
    pub async fn inbox_done(&mut self, id: i64, worker: &str, now: i64) -> Result<bool> {
        INBOX.finish(self, id, worker, "done", None, now).await
    }
}

impl Db {
    pub async fn inbox_append(&self, items: &[InboxItem]) -> Result<Vec<bool>> {
        let mut tx = self.begin().await?;
        let fresh = tx.inbox_append(items).await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Claims pending rows, oldest first, for `worker` for `lease_ms`.
    pub async fn claim_inbox(&self, worker: &str, limit: i64, lease_ms: i64, now: i64) -> Result<Vec<InboxRow>> {
        let mut rows: Vec<InboxRow> = INBOX.claim(self, worker, limit, lease_ms, now).await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Records a failed attempt: retried after a backoff, or left `failed`
    /// (at once when `give_up`: a callback that can never be processed).
    pub async fn inbox_failed(&self, row: &InboxRow, worker: &str, error: &str, now: i64) -> Result<()> {
        self.inbox_failed_with(row, worker, false, error, now).await
    }

    pub async fn inbox_failed_with(
        &self,
        row: &InboxRow,
        worker: &str,
        give_up: bool,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let attempts = (row.attempts, INBOX_MAX_ATTEMPTS);
        INBOX.fail(self, row.id, worker, attempts, give_up, error, now).await?;
        Ok(())
    }

    /// Deletes up to `limit` processed rows received before `before`, oldest
    /// first; returns how many went. Their dedup keys go with them, so a
    /// redelivery after that would run again: `before` must lie beyond
    /// WeCom's retries and the replay window. Pending, running and failed rows
    /// stay whatever their age. Deleting in batches keeps SQLite's one writer
    /// free for callbacks in between.
    pub async fn prune_inbox(&self, before: i64, limit: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query(
                "DELETE FROM wecom_inbox WHERE id IN (SELECT id FROM wecom_inbox \
                 WHERE state = 'done' AND received_at < $1 ORDER BY id LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// How many of the corp's inbox rows are in each state.
    pub async fn inbox_counts(&self, corp_id: i64) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT state, COUNT(*) FROM wecom_inbox WHERE corp_id = $1 GROUP BY state ORDER BY state")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// The dedup keys of the corp's inbox, for checking what was kept.
    pub async fn inbox_keys(&self, corp_id: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT dedup_key FROM wecom_inbox WHERE corp_id = $1 ORDER BY id")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// Puts the corp's processed or failed rows received since `since` back
    /// in the queue, to run them through the pipeline again (the pipeline is
    /// idempotent). Returns how many.
    pub async fn inbox_replay(&self, corp_id: i64, since: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE wecom_inbox SET state = 'pending', attempts = 0, run_at = 0, last_error = NULL \
                 WHERE corp_id = $1 AND received_at >= $2 AND state IN ('done', 'failed')",
            )
            .bind(corp_id)
            .bind(since)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?)
    }
}
