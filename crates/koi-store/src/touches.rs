//! The fatigue cap's ledger (`touches`): one row per (customer, source,
//! ref) that touched a customer. [`Tx::admit_touches`] counts and records
//! in the caller's transaction, under the corp's fatigue lock, so two
//! outreaches deciding at once cannot both take a customer's last slot.

use std::collections::{HashMap, HashSet};

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// The `corp_settings` key holding a corp's cap (JSON).
pub const FATIGUE_SETTING: &str = "fatigue_cap";
/// The `corp_settings` row every admission updates first: its row lock (on
/// PostgreSQL; SQLite has one writer) serialises the corp's admissions.
const FATIGUE_LOCK: &str = "fatigue_lock";

/// Ids per `IN (…)` list.
const CHUNK: usize = 500;

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Tx {
    /// Takes the corp's fatigue lock until the transaction ends, and reads
    /// its cap setting (JSON) under it.
    pub async fn lock_fatigue(&mut self, corp_id: i64, now: i64) -> Result<Option<String>> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO corp_settings (corp_id, key, value, updated_at) VALUES ($1, $2, '', $3) \
                 ON CONFLICT (corp_id, key) DO UPDATE SET updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(FATIGUE_LOCK)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT value FROM corp_settings WHERE corp_id = $1 AND key = $2")
                .bind(corp_id)
                .bind(FATIGUE_SETTING)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Touches since `since` per customer, not counting (source, ref)'s own;
    /// and the customers (source, ref) touched already.
    pub async fn touch_counts(
        &mut self,
        corp_id: i64,
        customer_ids: &[i64],
        source: &str,
        reference: &str,
        since: i64,
    ) -> Result<(HashMap<i64, u32>, HashSet<i64>)> {
        let mut counts = HashMap::new();
        let mut mine = HashSet::new();
        for chunk in customer_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT customer_id, \
                 SUM(CASE WHEN source = $2 AND ref = $3 THEN 0 ELSE 1 END) AS others, \
                 SUM(CASE WHEN source = $2 AND ref = $3 THEN 1 ELSE 0 END) AS own \
                 FROM touches WHERE corp_id = $1 AND (touched_at >= $4 OR (source = $2 AND ref = $3)) \
                 AND customer_id IN ({}) GROUP BY customer_id",
                placeholders(5, chunk.len())
            );
            let rows: Vec<(i64, i64, i64)> = on_tx!(self, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id).bind(source).bind(reference).bind(since);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(&mut *c).await
            })?;
            for (customer, others, own) in rows {
                if others > 0 {
                    counts.insert(customer, others as u32);
                }
                if own > 0 {
                    mine.insert(customer);
                }
            }
        }
        Ok((counts, mine))
    }

    /// Records touches (a touch already recorded stays as it was).
    pub async fn insert_touches(
        &mut self,
        corp_id: i64,
        customer_ids: &[i64],
        source: &str,
        reference: &str,
        now: i64,
    ) -> Result<u64> {
        let mut n = 0;
        for chunk in customer_ids.chunks(CHUNK) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${}, $2, $3, $4)", 5 + i)).collect();
            let sql = format!(
                "INSERT INTO touches (corp_id, customer_id, source, ref, touched_at) VALUES {} \
                 ON CONFLICT (corp_id, customer_id, source, ref) DO NOTHING",
                values.join(", ")
            );
            n += on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(corp_id).bind(source).bind(reference).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(n)
    }
}

impl Db {
    /// A customer's touches since `since`, newest first: (source, ref, at).
    pub async fn touches_of(&self, corp_id: i64, customer_id: i64, since: i64) -> Result<Vec<(String, String, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT source, ref, touched_at FROM touches WHERE corp_id = $1 AND customer_id = $2 \
                 AND touched_at >= $3 ORDER BY touched_at DESC",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(since)
            .fetch_all(c)
            .await
        })?)
    }
}
