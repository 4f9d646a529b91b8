//! What group metrics read (computed when read, not rolled up: see
//! migration 0011), and the messages members send in groups
//! (`group_messages`), which the session-archive feed reader writes.
//!
//! Every query counts per group — and, where it counts per day, per
//! brand-local day, computed in SQL as `(ms + offset) / 86400000` (integer
//! division on both backends) — and the counts are summed into keys (a
//! group's id, its kind or its store, as text) here.

use crate::db::{on_pool, Db};
use crate::Result;
use koi_domain::group::{MetricInputs, MetricsBy};
use std::collections::{BTreeMap, HashMap};

/// Which groups a metrics query covers; `stores` narrows to a manager's.
#[derive(Debug, Clone, Default)]
pub struct MetricsFilter<'a> {
    pub group_id: Option<i64>,
    /// A kind as [`koi_domain::group::GroupKind::as_str`] names it.
    pub kind: Option<&'static str>,
    pub store_id: Option<i64>,
    pub stores: Option<&'a [i64]>,
}

impl MetricsFilter<'_> {
    /// `AND …` on `groups`. Every value is a number or a kind's fixed
    /// name, so it is written into the text rather than bound.
    fn sql(&self) -> String {
        let mut s = String::new();
        if let Some(id) = self.group_id {
            s.push_str(&format!(" AND id = {id}"));
        }
        if let Some(kind) = self.kind {
            debug_assert!(kind.bytes().all(|b| b.is_ascii_lowercase()), "a kind's name");
            s.push_str(&format!(" AND kind = '{kind}'"));
        }
        if let Some(store) = self.store_id {
            s.push_str(&format!(" AND store_id = {store}"));
        }
        if let Some(stores) = self.stores {
            let ids = stores.iter().map(i64::to_string).collect::<Vec<_>>();
            // No stores: no groups (`IN ()` is not SQL).
            let ids = if ids.is_empty() { "NULL".to_string() } else { ids.join(", ") };
            s.push_str(&format!(" AND store_id IN ({ids})"));
        }
        s
    }

    /// `AND group_id = …` when one group is asked for: the scans below
    /// then skip the corp's other groups.
    fn one_group(&self) -> String {
        self.group_id.map(|id| format!(" AND group_id = {id}")).unwrap_or_default()
    }
}

/// A group's key under a grouping.
fn key_of(by: MetricsBy, id: i64, kind: &str, store_id: Option<i64>) -> String {
    match by {
        MetricsBy::Group => id.to_string(),
        MetricsBy::Kind => kind.to_string(),
        MetricsBy::Store => store_id.map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// `(group, day, n)` rows.
type DayCounts = Vec<(i64, i64, i64)>;

impl Db {
    /// What [`koi_domain::group::series`] needs, per key, for the window
    /// `[start, end)` (instants); `offset_ms` is the brand's UTC offset.
    /// Keys with no group are absent; keys with groups but no activity
    /// have their present members only.
    ///
    /// Each count is read per group straight from a covering index (no
    /// join) and summed into keys here; speakers and joined customers are
    /// so counted once per group, as members are.
    pub async fn group_metric_inputs(
        &self,
        corp_id: i64,
        by: MetricsBy,
        f: &MetricsFilter<'_>,
        (start, end): (i64, i64),
        offset_ms: i64,
    ) -> Result<BTreeMap<String, MetricInputs>> {
        let sql = format!("SELECT id, kind, store_id, members FROM groups WHERE corp_id = $1{}", f.sql());
        let groups: Vec<(i64, String, Option<i64>, i32)> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        let mut keys: HashMap<i64, String> = HashMap::with_capacity(groups.len());
        let mut out: BTreeMap<String, MetricInputs> = BTreeMap::new();
        for (id, kind, store_id, members) in groups {
            let key = key_of(by, id, &kind, store_id);
            out.entry(key.clone()).or_default().present += i64::from(members);
            keys.insert(id, key);
        }
        if keys.is_empty() {
            return Ok(out);
        }
        let one = f.one_group();
        let day = |col: &str| format!("({col} + {offset_ms}) / 86400000");
        let mut add = |rows: DayCounts, pick: fn(&mut MetricInputs) -> &mut BTreeMap<i64, i64>| {
            for (group, d, n) in rows {
                if let Some(key) = keys.get(&group) {
                    *pick(out.get_mut(key).expect("every key has an entry")).entry(d).or_default() += n;
                }
            }
        };
        // Joins and leaves from the window's start until now: members at the
        // end of a day are counted back from the present.
        // The day before the group in GROUP BY: grouping by group first
        // tempts SQLite's planner into a whole-table scan in group order.
        let sql = format!(
            "SELECT group_id, {d} AS d, COUNT(*) FROM group_members WHERE corp_id = $1 AND join_time >= $2{one} \
             GROUP BY d, group_id",
            d = day("join_time * 1000")
        );
        add(self.counts(&sql, corp_id, &[start.div_euclid(1000)]).await?, |m| &mut m.joins);
        let sql = format!(
            "SELECT group_id, {d} AS d, COUNT(*) FROM group_members WHERE corp_id = $1 AND left_at >= $2{one} \
             GROUP BY d, group_id",
            d = day("left_at")
        );
        add(self.counts(&sql, corp_id, &[start]).await?, |m| &mut m.leaves);
        let sql = format!(
            "SELECT group_id, {d} AS d, COUNT(*), COUNT(DISTINCT sender) FROM group_messages \
             WHERE corp_id = $1 AND sent_at >= $2 AND sent_at < $3{one} GROUP BY d, group_id",
            d = day("sent_at")
        );
        let rows: Vec<(i64, i64, i64, i64)> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(start).bind(end).fetch_all(c).await)?;
        for (group, d, messages, speakers) in rows {
            if let Some(e) = keys.get(&group).and_then(|k| out.get_mut(k)) {
                let day = e.messages.entry(d).or_default();
                (day.0, day.1) = (day.0 + messages, day.1 + speakers);
            }
        }
        let sql = format!(
            "SELECT group_id + 0 AS g, COUNT(DISTINCT sender), CAST(0 AS BIGINT) FROM group_messages \
             WHERE corp_id = $1 AND sent_at >= $2 AND sent_at < $3{one} GROUP BY g"
        );
        // `+ 0`: grouping by the bare column makes SQLite read the rows
        // through the per-group index, a lookup each.
        for (group, speakers, _) in self.counts(&sql, corp_id, &[start, end]).await? {
            if let Some(e) = keys.get(&group).and_then(|k| out.get_mut(k)) {
                e.window_speakers += speakers;
            }
        }
        // Joined → first order: each customer once per group, at their first
        // join in the window; converted when the first order came after it.
        let sql = format!(
            "SELECT j.group_id, COUNT(*), CAST(SUM(CASE WHEN c.first_order_at >= j.joined THEN 1 ELSE 0 END) AS BIGINT) \
             FROM (SELECT group_id, customer_id, MIN(join_time) * 1000 AS joined FROM group_members \
             WHERE corp_id = $1 AND join_time >= $2 AND join_time < $3 AND customer_id IS NOT NULL{one} \
             GROUP BY group_id, customer_id) j JOIN customers c ON c.id = j.customer_id GROUP BY j.group_id"
        );
        for (group, joined, converted) in
            self.counts(&sql, corp_id, &[start.div_euclid(1000), end.div_euclid(1000)]).await?
        {
            if let Some(e) = keys.get(&group).and_then(|k| out.get_mut(k)) {
                (e.joined_customers, e.converted) = (e.joined_customers + joined, e.converted + converted);
            }
        }
        Ok(out)
    }

    /// `(group, n, m)` rows of a query on `$1 = corp_id` and the given numbers.
    async fn counts(&self, sql: &str, corp_id: i64, args: &[i64]) -> Result<DayCounts> {
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(sql).bind(corp_id);
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_all(c).await
        })?)
    }
}
