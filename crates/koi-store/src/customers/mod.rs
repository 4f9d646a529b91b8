//! What koi knows about a customer beyond the add: dense numbers, behaviour
//! counters, lifecycle stage and RFM, tags, custom fields — and the change
//! log (`customer_changes`) the in-memory segment index follows. Every write
//! here that a segment could see appends to that log in its transaction.
//!
//! | file | room for |
//! |---|---|
//! | `activity.rs` | dense numbers, behaviour counters, stage and RFM ([`ActivityRow`]) |
//! | `tags.rs` | the tag catalogue, customers' tags, a bulk-tagging CSV's keys |
//! | `fields.rs` | custom field definitions and customers' values |
//! | `rules.rs` | tag rules and the corp's settings |
//! | `segments.rs` | saved segments and the short rows a segment shows ([`BriefRow`]) |
//! | `changes.rs` | the change log and the facts the segment index loads |
//! | `links.rs` | customers' own links to koi's H5 pages (wallet, checkout) |

mod activity;
mod changes;
mod fields;
mod links;
mod rules;
mod segments;
mod tags;

pub use activity::ActivityRow;
pub use changes::ChangeRow;
pub use fields::FieldDefRow;
pub use rules::TagRuleRow;
pub use segments::{BriefRow, SegmentRow};
pub use tags::{CustomerTagRow, TagRow};

use crate::db::{on_pool, Db};
use crate::Result;

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Db {
    /// Runs `sql` (which filters on `corp_id = $1`) for the whole corp, or,
    /// given values, for those whose `column` is one of them — 500 at a time,
    /// as an `IN` list, since SQLite has no array binds.
    async fn fetch_in<T, V>(&self, sql: &str, column: &str, corp_id: i64, values: Option<&[V]>) -> Result<Vec<T>>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
        V: Clone
            + Send
            + Sync
            + 'static
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Postgres>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>,
    {
        let Some(values) = values else {
            return Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).fetch_all(c).await)?);
        };
        let mut out = Vec::with_capacity(values.len());
        for chunk in values.chunks(500) {
            let sql = format!("{sql} AND {column} IN ({})", placeholders(2, chunk.len()));
            let rows: Vec<T> = on_pool!(self, false, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id);
                for v in chunk {
                    q = q.bind(v.clone());
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }
}
