//! What group metrics read (computed when read, not rolled up: see
//! migration 0011), and the messages members send in groups
//! (`group_messages`), which the session-archive feed reader writes.
//!
//! Every query groups by a key — a group's id, its kind or its store, as
//! text — and, where it counts per day, by the brand-local day, computed in
//! SQL as `(ms + offset) / 86400000` (integer division on both backends).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;
use koi_domain::group::{MetricInputs, MetricsBy};
use std::collections::BTreeMap;

/// Which groups a metrics query covers; `stores` narrows to a manager's.
#[derive(Debug, Clone, Default)]
pub struct MetricsFilter<'a> {
    pub group_id: Option<i64>,
    /// A kind as [`koi_domain::group::GroupKind::as_str`] names it.
    pub kind: Option<&'static str>,
    pub store_id: Option<i64>,
    pub stores: Option<&'a [i64]>,
}

/// A message a member sent in a group, to record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupMessage<'a> {
    pub group_id: i64,
    pub seq: i64,
    pub msgid: &'a str,
    pub sender: &'a str,
    pub customer_id: Option<i64>,
    pub msg_type: &'a str,
    pub content: &'a str,
    pub sent_at: i64,
}

impl MetricsFilter<'_> {
    /// `AND …` on `g` (groups). Every value is a number or a kind's fixed
    /// name, so it is written into the text rather than bound.
    fn sql(&self) -> String {
        let mut s = String::new();
        if let Some(id) = self.group_id {
            s.push_str(&format!(" AND g.id = {id}"));
        }
        if let Some(kind) = self.kind {
            debug_assert!(kind.bytes().all(|b| b.is_ascii_lowercase()), "a kind's name");
            s.push_str(&format!(" AND g.kind = '{kind}'"));
        }
        if let Some(store) = self.store_id {
            s.push_str(&format!(" AND g.store_id = {store}"));
        }
        if let Some(stores) = self.stores {
            let ids = stores.iter().map(i64::to_string).collect::<Vec<_>>();
            // No stores: no groups (`IN ()` is not SQL).
            let ids = if ids.is_empty() { "NULL".to_string() } else { ids.join(", ") };
            s.push_str(&format!(" AND g.store_id IN ({ids})"));
        }
        s
    }
}

/// The key column of `g` for a grouping, as text.
fn key(by: MetricsBy) -> &'static str {
    match by {
        MetricsBy::Group => "CAST(g.id AS TEXT)",
        MetricsBy::Kind => "g.kind",
        MetricsBy::Store => "COALESCE(CAST(g.store_id AS TEXT), '')",
    }
}

impl Db {
    /// What [`koi_domain::group::series`] needs, per key, for the window
    /// `[start, end)` (instants); `offset_ms` is the brand's UTC offset.
    /// Keys with no group are absent; keys with groups but no activity
    /// have their present members only.
    pub async fn group_metric_inputs(
        &self,
        corp_id: i64,
        by: MetricsBy,
        f: &MetricsFilter<'_>,
        (start, end): (i64, i64),
        offset_ms: i64,
    ) -> Result<BTreeMap<String, MetricInputs>> {
        let (k, w) = (key(by), f.sql());
        let day = |col: &str| format!("({col} + {offset_ms}) / 86400000");
        let mut out: BTreeMap<String, MetricInputs> = BTreeMap::new();
        let sql = format!("SELECT {k}, CAST(SUM(g.members) AS BIGINT) FROM groups g WHERE g.corp_id = $1{w} GROUP BY {k}");
        for (key, n) in self.rows2(&sql, corp_id, &[]).await? {
            out.entry(key).or_default().present = n;
        }
        // Joins and leaves from the window's start until now: members at the
        // end of a day are counted back from the present.
        let sql = format!(
            "SELECT {k}, {d}, COUNT(*) FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.corp_id = $1 AND m.join_time >= $2{w} GROUP BY {k}, {d}",
            d = day("m.join_time * 1000")
        );
        for (key, d, n) in self.rows3(&sql, corp_id, &[start.div_euclid(1000)]).await? {
            out.entry(key).or_default().joins.insert(d, n);
        }
        let sql = format!(
            "SELECT {k}, {d}, COUNT(*) FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.corp_id = $1 AND m.left_at >= $2{w} GROUP BY {k}, {d}",
            d = day("m.left_at")
        );
        for (key, d, n) in self.rows3(&sql, corp_id, &[start]).await? {
            out.entry(key).or_default().leaves.insert(d, n);
        }
        // Speakers are (group, sender) pairs, as members are stays.
        let sql = format!(
            "SELECT k, d, CAST(SUM(n) AS BIGINT), COUNT(*) FROM (SELECT {k} AS k, {d} AS d, m.group_id, m.sender, \
             COUNT(*) AS n FROM group_messages m JOIN groups g ON g.id = m.group_id \
             WHERE m.corp_id = $1 AND m.sent_at >= $2 AND m.sent_at < $3{w} GROUP BY {k}, {d}, m.group_id, m.sender) s \
             GROUP BY k, d",
            d = day("m.sent_at")
        );
        let rows: Vec<(String, i64, i64, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(start).bind(end).fetch_all(c).await
        })?;
        for (key, d, messages, speakers) in rows {
            out.entry(key).or_default().messages.insert(d, (messages, speakers));
        }
        let sql = format!(
            "SELECT k, COUNT(*) FROM (SELECT DISTINCT {k} AS k, m.group_id, m.sender FROM group_messages m \
             JOIN groups g ON g.id = m.group_id WHERE m.corp_id = $1 AND m.sent_at >= $2 AND m.sent_at < $3{w}) s \
             GROUP BY k"
        );
        for (key, n) in self.rows2(&sql, corp_id, &[start, end]).await? {
            out.entry(key).or_default().window_speakers = n;
        }
        // Joined → first order: each customer once per key, at their first
        // join in the window; converted when the first order came after it.
        let sql = format!(
            "SELECT j.k, COUNT(*), CAST(SUM(CASE WHEN c.first_order_at >= j.joined THEN 1 ELSE 0 END) AS BIGINT) \
             FROM (SELECT {k} AS k, m.customer_id, MIN(m.join_time) * 1000 AS joined FROM group_members m \
             JOIN groups g ON g.id = m.group_id WHERE m.corp_id = $1 AND m.customer_id IS NOT NULL \
             AND m.join_time >= $2 AND m.join_time < $3{w} GROUP BY {k}, m.customer_id) j \
             JOIN customers c ON c.id = j.customer_id GROUP BY j.k"
        );
        for (key, joined, converted) in self.rows3(&sql, corp_id, &[start.div_euclid(1000), end.div_euclid(1000)]).await? {
            let e = out.entry(key).or_default();
            (e.joined_customers, e.converted) = (joined, converted);
        }
        Ok(out)
    }

    /// `(text, n)` rows of a query on `$1 = corp_id` and the given numbers.
    async fn rows2(&self, sql: &str, corp_id: i64, args: &[i64]) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(sql).bind(corp_id);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_all(c).await
        })?)
    }

    /// `(text, n, m)` rows of a query on `$1 = corp_id` and the given numbers.
    async fn rows3(&self, sql: &str, corp_id: i64, args: &[i64]) -> Result<Vec<(String, i64, i64)>> {
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(sql).bind(corp_id);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_all(c).await
        })?)
    }
}

impl Tx {
    /// Records messages members sent in groups; one already recorded (the
    /// same `msgid` in the corp) is skipped, so a feed read again after a
    /// crash records nothing twice. Returns how many were new.
    pub async fn insert_group_messages(&mut self, corp_id: i64, messages: &[NewGroupMessage<'_>]) -> Result<u64> {
        let mut n = 0;
        for m in messages {
            n += on_tx!(self, |c| {
                sqlx::query(
                    "INSERT INTO group_messages (corp_id, group_id, seq, msgid, sender, customer_id, msg_type, \
                     content, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (corp_id, msgid) DO NOTHING",
                )
                .bind(corp_id)
                .bind(m.group_id)
                .bind(m.seq)
                .bind(m.msgid)
                .bind(m.sender)
                .bind(m.customer_id)
                .bind(m.msg_type)
                .bind(m.content)
                .bind(m.sent_at)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(n)
    }
}
