//! Read models for the console's reports: per-code counts by day, per-store
//! adds and losses for the home page, and customers filtered by how they
//! came, by text, tag and stage. Aggregates are computed in SQL that
//! SQLite and PostgreSQL read alike (integer day buckets, `CASE` sums), so
//! the conformance suite can hold both to the same numbers.

use crate::acquisition::{CustomerRow, FollowRow};
use crate::db::{on_pool, Db};
use crate::Result;
use koi_domain::customer::CustomerFilter;

const DAY_MS: i64 = 86_400_000;

/// A code's running totals: follows made through it, and those still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeTotals {
    pub code_id: i64,
    pub adds: i64,
    pub live: i64,
}

/// One cell of a code's daily report: a local day × member × store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodeDayCount {
    /// Days since 1970-01-01 in the brand's local time.
    pub day: i64,
    pub staff_id: i64,
    pub store_id: Option<i64>,
    pub adds: i64,
    pub returning: i64,
    pub deletions: i64,
}

/// A store's follows won and lost since two points in time (the home
/// page's today and last 7 days). `store_id` is `None` for follows no store
/// is known for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct StoreMovement {
    pub store_id: Option<i64>,
    pub adds_today: i64,
    pub losses_today: i64,
    pub adds_week: i64,
    pub losses_week: i64,
}

#[derive(sqlx::FromRow)]
struct Bucket {
    day: i64,
    staff_id: i64,
    store_id: Option<i64>,
    n: i64,
    back: i64,
}

/// A `LIKE` pattern that finds `text` anywhere, with the wildcards in it
/// taken literally (the queries say `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for ch in text.trim().to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The conditions one of the customer's follows must meet, if any. Every
/// id is an integer and is written into the SQL as a literal; `scope` is a
/// store manager's stores (`None` for the whole corp).
fn follow_conditions(filter: &CustomerFilter, scope: Option<&[i64]>) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(id) = filter.code_id {
        w.push(format!("f.code_id = {id}"));
    }
    if let Some(id) = filter.store_id {
        w.push(format!("f.store_id = {id}"));
    }
    if let Some(id) = filter.staff_id {
        w.push(format!("f.staff_id = {id}"));
    }
    match filter.returning {
        Some(true) => w.push("f.is_returning".into()),
        Some(false) => w.push("NOT f.is_returning".into()),
        None => {}
    }
    if filter.lost {
        w.push("f.deleted_at IS NOT NULL".into());
    }
    if let Some(stores) = scope {
        // An empty scope matches nothing: `IN (NULL)` is never true.
        let list = if stores.is_empty() {
            "NULL".to_string()
        } else {
            stores.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        };
        w.push(format!("f.store_id IN ({list})"));
    }
    w
}

impl Db {
    /// Follows made through each of the corp's codes, and how many are live.
    pub async fn code_totals(&self, corp_id: i64) -> Result<Vec<CodeTotals>> {
        let sql = "SELECT code_id, COUNT(*) AS adds, \
                   SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END) AS live \
                   FROM follows WHERE corp_id = $1 AND code_id IS NOT NULL GROUP BY code_id";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).fetch_all(c).await)?)
    }

    /// A code's adds and losses since `since`, by local day (at
    /// `utc_offset_ms`), member and store. Follows are counted as they stand:
    /// a customer who deleted and came back is one returning add, not a loss.
    /// Handovers (`transfer`) are not losses.
    pub async fn code_day_counts(
        &self,
        corp_id: i64,
        code_id: i64,
        since: i64,
        utc_offset_ms: i64,
    ) -> Result<Vec<CodeDayCount>> {
        let adds = format!(
            "SELECT (added_at + {utc_offset_ms}) / {DAY_MS} AS day, staff_id, store_id, COUNT(*) AS n, \
             SUM(CASE WHEN is_returning THEN 1 ELSE 0 END) AS back \
             FROM follows WHERE corp_id = $1 AND code_id = $2 AND added_at >= $3 \
             GROUP BY (added_at + {utc_offset_ms}) / {DAY_MS}, staff_id, store_id"
        );
        let losses = format!(
            "SELECT (deleted_at + {utc_offset_ms}) / {DAY_MS} AS day, staff_id, store_id, COUNT(*) AS n, \
             CAST(0 AS BIGINT) AS back \
             FROM follows WHERE corp_id = $1 AND code_id = $2 AND deleted_at >= $3 \
             AND deleted_by IN ('customer', 'staff') \
             GROUP BY (deleted_at + {utc_offset_ms}) / {DAY_MS}, staff_id, store_id"
        );
        let mut cells: Vec<CodeDayCount> = Vec::new();
        for (sql, is_add) in [(adds, true), (losses, false)] {
            let rows: Vec<Bucket> = on_pool!(self, false, |c| {
                sqlx::query_as(&sql).bind(corp_id).bind(code_id).bind(since).fetch_all(c).await
            })?;
            for b in rows {
                let at = cells.iter().position(|x| (x.day, x.staff_id, x.store_id) == (b.day, b.staff_id, b.store_id));
                let cell = match at {
                    Some(i) => &mut cells[i],
                    None => {
                        cells.push(CodeDayCount {
                            day: b.day,
                            staff_id: b.staff_id,
                            store_id: b.store_id,
                            ..CodeDayCount::default()
                        });
                        cells.last_mut().expect("just pushed")
                    }
                };
                if is_add {
                    cell.adds += b.n;
                    cell.returning += b.back;
                } else {
                    cell.deletions += b.n;
                }
            }
        }
        cells.sort_by_key(|c| (c.day, c.staff_id, c.store_id));
        Ok(cells)
    }

    /// Landing-page visits of a code since `since`, by local day.
    pub async fn landing_visits_by_day(
        &self,
        corp_id: i64,
        code_id: i64,
        since: i64,
        utc_offset_ms: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let sql = format!(
            "SELECT (occurred_at + {utc_offset_ms}) / {DAY_MS} AS day, COUNT(*) FROM events \
             WHERE corp_id = $1 AND kind = 'landing.visit' AND subject = $2 AND occurred_at >= $3 \
             GROUP BY (occurred_at + {utc_offset_ms}) / {DAY_MS}"
        );
        let subject = format!("channel_code:{code_id}");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(&subject).bind(since).fetch_all(c).await)?)
    }

    /// The welcome-variant outcomes of a code's customers: for each
    /// `welcome.sent` event of the code, the variant and whether the follow
    /// it greeted is lost now.
    pub async fn welcome_outcomes(&self, corp_id: i64, code_id: i64) -> Result<Vec<(String, bool)>> {
        // The payload is JSON text on both backends; the code filter is a
        // LIKE on it and checked exactly by the caller.
        let rows: Vec<(String, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT e.payload, CASE WHEN EXISTS (SELECT 1 FROM follows f WHERE f.corp_id = e.corp_id \
                 AND f.code_id = $2 AND f.deleted_at IS NOT NULL AND f.deleted_by IN ('customer', 'staff') \
                 AND e.subject = 'customer:' || CAST(f.customer_id AS TEXT)) THEN 1 ELSE 0 END \
                 FROM events e WHERE e.corp_id = $1 AND e.kind = 'welcome.sent' AND e.payload LIKE $3",
            )
            .bind(corp_id)
            .bind(code_id)
            .bind(format!("%\"code_id\":{code_id},%"))
            .fetch_all(c)
            .await
        })?;
        Ok(rows.into_iter().map(|(p, lost)| (p, lost == 1)).collect())
    }

    /// The `WHERE` of a customer list after `c.corp_id = $1`, and the text
    /// parameters it binds from `$first` on (ids are literals; text is bound).
    fn customer_conditions(filter: &CustomerFilter, scope: Option<&[i64]>, first: usize) -> (String, Vec<String>) {
        let conditions = follow_conditions(filter, scope);
        let mut sql = String::new();
        let mut params: Vec<String> = Vec::new();
        if !conditions.is_empty() {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM follows f WHERE f.corp_id = c.corp_id AND f.customer_id = c.id AND {})",
                conditions.join(" AND ")
            );
        }
        if let Some(text) = filter.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let (like, exact) = (first + params.len(), first + params.len() + 1);
            sql += &format!(
                " AND (LOWER(c.name) LIKE ${like} ESCAPE '\\' OR c.external_userid = ${exact} \
                 OR EXISTS (SELECT 1 FROM follows r WHERE r.corp_id = c.corp_id AND r.customer_id = c.id \
                 AND (LOWER(r.remark) LIKE ${like} ESCAPE '\\' OR r.remark_mobiles LIKE ${like} ESCAPE '\\')))"
            );
            params.push(contains_pattern(text));
            params.push(text.to_string());
        }
        if let Some(tag) = filter.tag_id.as_deref().filter(|t| !t.is_empty()) {
            sql += &format!(
                " AND EXISTS (SELECT 1 FROM customer_tags t WHERE t.corp_id = c.corp_id AND t.customer_id = c.id \
                 AND t.tag_id = ${})",
                first + params.len()
            );
            params.push(tag.to_string());
        }
        if let Some(stage) = filter.stage.as_deref().filter(|s| !s.is_empty()) {
            sql += &format!(" AND c.stage = ${}", first + params.len());
            params.push(stage.to_string());
        }
        (sql, params)
    }

    /// A page of the corp's customers matching `filter` (within `scope`),
    /// newest first.
    pub async fn customer_page(
        &self,
        corp_id: i64,
        filter: &CustomerFilter,
        scope: Option<&[i64]>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CustomerRow>> {
        let (conditions, params) = Self::customer_conditions(filter, scope, 4);
        let sql = format!(
            "SELECT c.id, c.external_userid, c.name, c.avatar, c.kind, c.gender, c.unionid, c.first_code_id, \
             c.first_store_id, c.created_at, c.updated_at, c.added_at FROM customers c WHERE c.corp_id = $1{conditions} \
             ORDER BY c.id DESC LIMIT $2 OFFSET $3"
        );
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id).bind(limit).bind(offset);
            for p in &params {
                q = q.bind(p);
            }
            q.fetch_all(c).await
        })?)
    }

    /// How many of the corp's customers match `filter` (within `scope`).
    pub async fn customer_count(&self, corp_id: i64, filter: &CustomerFilter, scope: Option<&[i64]>) -> Result<i64> {
        let (conditions, params) = Self::customer_conditions(filter, scope, 2);
        let sql = format!("SELECT COUNT(*) FROM customers c WHERE c.corp_id = $1{conditions}");
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id);
            for p in &params {
                q = q.bind(p);
            }
            q.fetch_one(c).await
        })?)
    }

    /// Follows won and lost per store since `today` and since `week` (ms;
    /// `week` ≤ `today`), within `scope` when a store manager asks. A loss is
    /// a deletion by either side; a handover (`transfer`) is not.
    pub async fn store_movements(
        &self,
        corp_id: i64,
        today: i64,
        week: i64,
        scope: Option<&[i64]>,
    ) -> Result<Vec<StoreMovement>> {
        let scope = match scope {
            None => String::new(),
            Some([]) => " AND store_id IN (NULL)".to_string(),
            Some(ids) => {
                format!(" AND store_id IN ({})", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
            }
        };
        let lost = "deleted_by IN ('customer', 'staff')";
        let sql = format!(
            "SELECT store_id, \
             SUM(CASE WHEN added_at >= $2 THEN 1 ELSE 0 END) AS adds_today, \
             SUM(CASE WHEN deleted_at >= $2 AND {lost} THEN 1 ELSE 0 END) AS losses_today, \
             SUM(CASE WHEN added_at >= $3 THEN 1 ELSE 0 END) AS adds_week, \
             SUM(CASE WHEN deleted_at >= $3 AND {lost} THEN 1 ELSE 0 END) AS losses_week \
             FROM follows WHERE corp_id = $1 AND (added_at >= $3 OR deleted_at >= $3){scope} \
             GROUP BY store_id ORDER BY store_id"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(today).bind(week).fetch_all(c).await)?)
    }

    /// The follows of several customers at once (for a list page).
    pub async fn follows_of_customers(&self, corp_id: i64, customer_ids: &[i64]) -> Result<Vec<FollowRow>> {
        if customer_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = customer_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT id, customer_id, staff_id, added_at, add_way, state, code_id, store_id, is_returning, \
             deleted_at, deleted_by, remark, remark_mobiles FROM follows WHERE corp_id = $1 AND customer_id IN ({ids}) ORDER BY added_at"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }
}
