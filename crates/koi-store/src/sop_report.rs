//! Per-guide counts of SOP work (`sop_tasks`, `sop_fires`): the SOP page's
//! report and its API. A guide's planned tasks are those made for them;
//! done, overdue (still to do past the cut the engine passes) and, from
//! the fired steps, the steps skipped for their customers and groups
//! (the fatigue cap, not in the audience, the rule disabled …; a step
//! skipped for want of a guide is nobody's).

use crate::db::{on_pool, Db};
use crate::Result;

/// One guide's SOP counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SopGuideCounts {
    pub staff_id: i64,
    pub planned: i64,
    pub done: i64,
    pub overdue: i64,
    pub skipped: i64,
}

/// Which SOP work is counted.
#[derive(Debug, Clone, Copy)]
pub struct SopReportScope {
    pub corp_id: i64,
    /// One rule's work; all rules when `None`.
    pub rule_id: Option<i64>,
    /// Tasks due and steps fired from this time (ms).
    pub since: i64,
    /// A task still to do whose due time is before this is overdue.
    pub overdue_before: i64,
}

impl Db {
    /// Counts per guide, ordered by guide; guides with nothing are left out.
    pub async fn sop_guide_report(&self, s: SopReportScope) -> Result<Vec<SopGuideCounts>> {
        let rule = s.rule_id.unwrap_or(0);
        let tasks: Vec<(i64, i64, i64, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT staff_id, COUNT(*), \
                 COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'todo' AND due_at < $4 THEN 1 ELSE 0 END), 0) \
                 FROM sop_tasks WHERE corp_id = $1 AND ($2 = 0 OR rule_id = $2) AND due_at >= $3 \
                 GROUP BY staff_id",
            )
            .bind(s.corp_id)
            .bind(rule)
            .bind(s.since)
            .bind(s.overdue_before)
            .fetch_all(c)
            .await
        })?;
        let skipped: Vec<(i64, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT staff_id, COUNT(*) FROM ( \
                   SELECT (SELECT fo.staff_id FROM follows fo WHERE fo.corp_id = f.corp_id \
                           AND fo.customer_id = f.target_id AND fo.deleted_at IS NULL \
                           ORDER BY fo.added_at, fo.id LIMIT 1) AS staff_id \
                   FROM sop_fires f WHERE f.corp_id = $1 AND ($2 = 0 OR f.rule_id = $2) AND f.state = 'skipped' \
                   AND f.target_kind = 'customer' AND f.due_at >= $3 \
                   UNION ALL \
                   SELECT g.owner_staff_id AS staff_id FROM sop_fires f \
                   JOIN groups g ON g.corp_id = f.corp_id AND g.id = f.target_id \
                   WHERE f.corp_id = $1 AND ($2 = 0 OR f.rule_id = $2) AND f.state = 'skipped' \
                   AND f.target_kind = 'group' AND f.due_at >= $3 \
                   UNION ALL \
                   SELECT f.target_id AS staff_id FROM sop_fires f \
                   WHERE f.corp_id = $1 AND ($2 = 0 OR f.rule_id = $2) AND f.state = 'skipped' \
                   AND f.target_kind = 'staff' AND f.due_at >= $3 \
                 ) s WHERE staff_id IS NOT NULL GROUP BY staff_id",
            )
            .bind(s.corp_id)
            .bind(rule)
            .bind(s.since)
            .fetch_all(c)
            .await
        })?;
        let mut by_staff = std::collections::BTreeMap::<i64, SopGuideCounts>::new();
        for (staff_id, planned, done, overdue) in tasks {
            let e = by_staff.entry(staff_id).or_insert_with(|| SopGuideCounts { staff_id, ..Default::default() });
            (e.planned, e.done, e.overdue) = (planned, done, overdue);
        }
        for (staff_id, n) in skipped {
            by_staff.entry(staff_id).or_insert_with(|| SopGuideCounts { staff_id, ..Default::default() }).skipped = n;
        }
        Ok(by_staff.into_values().collect())
    }
}
