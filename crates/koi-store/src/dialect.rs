//! The SQL that differs between SQLite and PostgreSQL, in one place. Every
//! other query is written once and runs on both (`$1` parameters, `ON
//! CONFLICT`, `RETURNING`); what cannot be is here, so a reader of a query
//! function never meets a dialect branch, and a new backend has one module
//! to fill in (see ARCHITECTURE.md, "the dialect seam").
//!
//! | what | SQLite | PostgreSQL |
//! |---|---|---|
//! | claiming queue rows | the one writer connection serialises claims | `FOR UPDATE SKIP LOCKED` |
//! | locking a row read before a write | the one writer serialises | `FOR UPDATE` |
//! | per-corp customer numbers | a counter row on `corps` | a sequence per corp, no lock |
//! | appending callbacks to the inbox | multi-row `VALUES` of a few fixed sizes | one `UNNEST` of arrays |
//! | migrations | `migrations/sqlite` | `migrations/postgres` |

use crate::db::{Backend, Db, Pools, Tx};
use crate::inbox::InboxItem;
use crate::Result;

/// The lock clause of a claim's inner `SELECT`: concurrent PostgreSQL
/// claimers skip each other's rows; SQLite has one writer.
pub(crate) fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

/// The lock clause of a read that the rest of its transaction builds on (a
/// campaign an edit or a state change reads): PostgreSQL locks the row;
/// SQLite's one writer serialises the transactions anyway.
pub(crate) fn lock_row(tx: &Tx) -> &'static str {
    match tx {
        Tx::Postgres(_) => " FOR UPDATE",
        Tx::Sqlite(_) => "",
    }
}

/// Makes the new corp's customer number source (see [`next_customer_no`]).
pub(crate) async fn create_customer_numbers(db: &Db, corp_id: i64) -> Result<()> {
    if let Pools::Postgres(pool) = &db.pools {
        sqlx::query(&format!("CREATE SEQUENCE customer_no_{corp_id} MINVALUE 0 START 0")).execute(pool).await?;
    }
    Ok(())
}

/// The corp's next dense customer number. On PostgreSQL a sequence per corp
/// hands them out without a lock, so adds on many connections do not queue
/// behind one counter row (a rolled-back add leaves a gap, which the index
/// tolerates); SQLite's one writer makes a counter row free.
pub(crate) async fn next_customer_no(tx: &mut Tx, corp_id: i64) -> Result<i64> {
    match tx {
        Tx::Sqlite(t) => {
            let next: i64 = sqlx::query_scalar(
                "UPDATE corps SET customer_seq = customer_seq + 1 WHERE id = $1 RETURNING customer_seq",
            )
            .bind(corp_id)
            .fetch_one(&mut **t)
            .await?;
            Ok(next - 1)
        }
        Tx::Postgres(t) => {
            Ok(sqlx::query_scalar(&format!("SELECT nextval('customer_no_{corp_id}')")).fetch_one(&mut **t).await?)
        }
    }
}

/// Reserves `n` consecutive customer numbers at once (seeding many
/// customers for a benchmark or a test); returns the first.
pub(crate) async fn reserve_customer_nos(tx: &mut Tx, corp_id: i64, n: i64) -> Result<i64> {
    match tx {
        Tx::Sqlite(t) => {
            let last: i64 = sqlx::query_scalar(
                "UPDATE corps SET customer_seq = customer_seq + $1 WHERE id = $2 RETURNING customer_seq",
            )
            .bind(n)
            .bind(corp_id)
            .fetch_one(&mut **t)
            .await?;
            Ok(last - n)
        }
        Tx::Postgres(t) => {
            let seq = format!("customer_no_{corp_id}");
            let last: i64 = sqlx::query_scalar(&format!("SELECT setval('{seq}', nextval('{seq}') + $1 - 1)"))
                .bind(n)
                .fetch_one(&mut **t)
                .await?;
            Ok(last - n + 1)
        }
    }
}

/// Inserts callbacks into the inbox, skipping dedup keys already there;
/// returns the `(corp_id, dedup_key)` of the rows inserted.
pub(crate) async fn inbox_insert(tx: &mut Tx, items: &[InboxItem]) -> Result<Vec<(i64, String)>> {
    Ok(match tx {
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
        // thread, which a busy runtime makes slow), from a handful of fixed
        // sizes so their prepared statements are reused.
        Tx::Sqlite(t) => {
            let mut inserted = Vec::new();
            let mut rest = items;
            while !rest.is_empty() {
                let size = SQLITE_INBOX_BATCHES.into_iter().find(|s| *s <= rest.len()).unwrap_or(1);
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let mut q = sqlx::query_as(sqlite_inbox_insert(size));
                for it in chunk {
                    q = q.bind(it.corp_id).bind(&it.dedup_key).bind(&it.event).bind(&it.plaintext).bind(it.received_at);
                }
                let rows: Vec<(i64, String)> = q.fetch_all(&mut **t).await?;
                inserted.extend(rows);
            }
            inserted
        }
    })
}

/// Batch sizes of SQLite's inbox insert, largest first.
const SQLITE_INBOX_BATCHES: [usize; 4] = [128, 32, 8, 1];

/// The multi-row INSERT for `rows` rows, built once per size.
fn sqlite_inbox_insert(rows: usize) -> &'static str {
    static CACHE: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        SQLITE_INBOX_BATCHES
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
