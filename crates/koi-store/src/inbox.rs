//! The durable WeCom callback inbox. A verified callback is appended here,
//! once per distinct plaintext, before WeCom gets its 200; workers then claim
//! pending rows under a lease and run the pipeline. Appends come in batches
//! (group commit) so one transaction acknowledges many concurrent callbacks.

use crate::db::{on_pool, on_tx, Backend, Db, Tx};
use crate::Result;
use koi_domain::jobs::{after_failure, AfterFailure};

/// Attempts before an inbox row is left `failed` for a person to replay.
pub const INBOX_MAX_ATTEMPTS: i32 = 8;

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

/// The multi-row INSERT for `rows` rows, built once per size.
fn sqlite_insert(rows: usize) -> &'static str {
    static CACHE: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        [128, 32, 8, 1]
            .into_iter()
            .map(|n| {
                let values: Vec<String> = (0..n)
                    .map(|i| {
                        let b = i * 5;
                        format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5)
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO wecom_inbox (corp_id, dedup_key, event, plaintext, received_at) VALUES {} \
                     ON CONFLICT DO NOTHING RETURNING corp_id, dedup_key",
                    values.join(", ")
                );
                (n, sql)
            })
            .collect()
    });
    all.iter().find(|(n, _)| *n == rows).map_or(all[all.len() - 1].1.as_str(), |(_, sql)| sql.as_str())
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
        let inserted: Vec<(i64, String)> = match self {
            // One statement for the whole batch, whatever its size, so the
            // prepared statement is reused: the rows travel as arrays.
            Tx::Postgres(t) => {
                let (mut corps, mut keys, mut events, mut texts, mut times) = (vec![], vec![], vec![], vec![], vec![]);
                for it in items {
                    corps.push(it.corp_id);
                    keys.push(it.dedup_key.as_str());
                    events.push(it.event.as_str());
                    texts.push(it.plaintext.as_str());
                    times.push(it.received_at);
                }
                sqlx::query_as(
                    "INSERT INTO wecom_inbox (corp_id, dedup_key, event, plaintext, received_at) \
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[]) \
                     ON CONFLICT DO NOTHING RETURNING corp_id, dedup_key",
                )
                .bind(corps)
                .bind(keys)
                .bind(events)
                .bind(texts)
                .bind(times)
                .fetch_all(&mut **t)
                .await?
            }
            // Few statements per batch (each is a round trip to SQLite's
            // thread, which a busy runtime makes slow), from a handful of
            // fixed sizes so their prepared statements are reused.
            Tx::Sqlite(t) => {
                let mut inserted = Vec::new();
                let mut rest = items;
                while !rest.is_empty() {
                    let size = [128, 32, 8, 1].into_iter().find(|s| *s <= rest.len()).unwrap_or(1);
                    let (chunk, tail) = rest.split_at(size);
                    rest = tail;
                    let mut q = sqlx::query_as(sqlite_insert(size));
                    for it in chunk {
                        q = q
                            .bind(it.corp_id)
                            .bind(&it.dedup_key)
                            .bind(&it.event)
                            .bind(&it.plaintext)
                            .bind(it.received_at);
                    }
                    let rows: Vec<(i64, String)> = q.fetch_all(&mut **t).await?;
                    inserted.extend(rows);
                }
                inserted
            }
        };
        let mut new: std::collections::HashSet<(i64, String)> = inserted.into_iter().collect();
        // A key twice in one batch is inserted once; only its first
        // occurrence counts as new.
        Ok(items.iter().map(|it| new.remove(&(it.corp_id, it.dedup_key.clone()))).collect())
    }

    /// Marks a claimed row processed, if `worker` still holds it; in the
    /// transaction that holds the row's effects.
    pub async fn inbox_done(&mut self, id: i64, worker: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE wecom_inbox SET state = 'done', processed_at = $1, locked_by = NULL, locked_until = NULL, \
                 last_error = NULL WHERE id = $2 AND locked_by = $3 AND state = 'running'",
            )
            .bind(now)
            .bind(id)
            .bind(worker)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
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
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE wecom_inbox SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 \
             WHERE id IN (SELECT id FROM wecom_inbox WHERE (state = 'pending' AND run_at <= $3) \
             OR (state = 'running' AND locked_until < $3 AND attempts < {INBOX_MAX_ATTEMPTS}) ORDER BY id LIMIT $4{lock}) \
             RETURNING id, corp_id, event, plaintext, received_at, attempts"
        );
        let mut rows: Vec<InboxRow> = on_pool!(self, true, |c| {
            sqlx::query_as(&sql).bind(worker).bind(now + lease_ms).bind(now).bind(limit).fetch_all(c).await
        })?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Records a failed attempt: retried after a backoff, or left `failed`.
    pub async fn inbox_failed(&self, row: &InboxRow, worker: &str, error: &str, now: i64) -> Result<()> {
        let (state, run_at) = match after_failure(row.attempts, INBOX_MAX_ATTEMPTS, now) {
            AfterFailure::RetryAt(t) => ("pending", t),
            AfterFailure::Dead => ("failed", now),
        };
        let error: String = error.chars().take(2000).collect();
        on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE wecom_inbox SET state = $1, run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL \
                 WHERE id = $4 AND locked_by = $5 AND state = 'running'",
            )
            .bind(state)
            .bind(run_at)
            .bind(&error)
            .bind(row.id)
            .bind(worker)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
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
