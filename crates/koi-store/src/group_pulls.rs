//! Tag / segment group pulls (`group_pulls`) with their results per guide,
//! and group codes' invitations after a first order
//! (`first_order_invites`, `first_order_invitations`). The guide tasks that
//! carry both are in [`crate::outreach`].

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// The purpose a group pull's guide tasks carry.
pub const PULL_PURPOSE: &str = "group_pull";
/// The purpose of an invitation after a first order (its id: the invitation's).
pub const FIRST_ORDER_PURPOSE: &str = "first_order_invite";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupPullRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub segment_id: i64,
    pub segment_name: String,
    pub expr: String,
    pub code_id: i64,
    pub code_name: String,
    pub text: String,
    pub link_url: String,
    /// Customers given to a guide's task.
    pub planned: i32,
    /// Customers of the segment with no live follow (nobody to send them).
    pub unfollowed: i32,
    pub created_by: String,
    pub started_at: i64,
}

const PULL_COLUMNS: &str = "id, corp_id, name, segment_id, segment_name, expr, code_id, code_name, text, link_url, \
     planned, unfollowed, created_by, started_at";

#[derive(Debug, Clone)]
pub struct NewGroupPull<'a> {
    pub corp_id: i64,
    pub name: &'a str,
    pub segment_id: i64,
    pub segment_name: &'a str,
    pub expr: &'a str,
    pub code_id: i64,
    pub code_name: &'a str,
    pub text: &'a str,
    pub link_url: &'a str,
    pub planned: i32,
    pub unfollowed: i32,
    pub created_by: &'a str,
    pub started_at: i64,
}

/// A customer and the guide of their most recent live follow.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuideOf {
    pub customer_id: i64,
    pub external_userid: String,
    pub staff_id: i64,
    pub userid: String,
}

/// One guide's numbers in a pull.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuideResultRow {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub planned: i64,
    pub sent: i64,
    pub not_sent: i64,
    pub failed: i64,
    /// Sent customers who joined one of the code's groups since the pull started.
    pub joined: i64,
}

/// A customer of a pull who was not (yet) sent the invitation.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UnsentRow {
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_id: i64,
    pub staff_name: String,
    /// planned (the guide has not confirmed), not_sent or failed.
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FirstOrderInviteRow {
    pub code_id: i64,
    pub corp_id: i64,
    /// JSON list of group kinds.
    pub from_kinds: String,
    pub text: String,
    /// The code's link as it was when the invitation was set.
    pub link_url: String,
    pub enabled: bool,
    pub updated_at: i64,
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

const GUIDE_OF_SQL: &str = "SELECT f.customer_id, c.external_userid, f.staff_id, s.userid \
     FROM follows f JOIN customers c ON c.id = f.customer_id JOIN staff s ON s.id = f.staff_id \
     WHERE f.corp_id = $1 AND f.deleted_at IS NULL AND s.active";

/// The first row per customer of rows ordered newest follow first.
fn newest_per_customer(rows: Vec<(GuideOf, i64, i64)>) -> Vec<GuideOf> {
    let mut rows = rows;
    rows.sort_by(|a, b| a.0.customer_id.cmp(&b.0.customer_id).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let mut out: Vec<GuideOf> = Vec::new();
    for (g, _, _) in rows {
        if out.last().is_none_or(|l| l.customer_id != g.customer_id) {
            out.push(g);
        }
    }
    out
}

#[derive(sqlx::FromRow)]
struct GuideOfRow {
    customer_id: i64,
    external_userid: String,
    staff_id: i64,
    userid: String,
    added_at: i64,
    follow_id: i64,
}

impl GuideOfRow {
    fn split(self) -> (GuideOf, i64, i64) {
        let g = GuideOf {
            customer_id: self.customer_id,
            external_userid: self.external_userid,
            staff_id: self.staff_id,
            userid: self.userid,
        };
        (g, self.added_at, self.follow_id)
    }
}

impl Db {
    pub async fn group_pulls(&self, corp_id: i64, limit: i64) -> Result<Vec<GroupPullRow>> {
        let sql = format!("SELECT {PULL_COLUMNS} FROM group_pulls WHERE corp_id = $1 ORDER BY id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn group_pull(&self, corp_id: i64, id: i64) -> Result<Option<GroupPullRow>> {
        let sql = format!("SELECT {PULL_COLUMNS} FROM group_pulls WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Each customer once, under the guide of their most recent live follow
    /// (the newest `added_at`, then the newest follow); customers with no
    /// live follow are left out. In customer id order.
    pub async fn guides_of(&self, corp_id: i64, customer_ids: &[i64]) -> Result<Vec<GuideOf>> {
        let mut rows = Vec::new();
        for chunk in customer_ids.chunks(500) {
            let sql = format!(
                "SELECT f.customer_id, c.external_userid, f.staff_id, s.userid, f.added_at, f.id AS follow_id \
                 FROM follows f JOIN customers c ON c.id = f.customer_id JOIN staff s ON s.id = f.staff_id \
                 WHERE f.corp_id = $1 AND f.deleted_at IS NULL AND s.active AND f.customer_id IN ({})",
                placeholders(2, chunk.len())
            );
            let part: Vec<GuideOfRow> = on_pool!(self, false, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await
            })?;
            rows.extend(part.into_iter().map(GuideOfRow::split));
        }
        Ok(newest_per_customer(rows))
    }

    /// A pull's numbers per guide. `joined` counts sent customers present
    /// or past in one of `code_ids`' groups with a join at or after
    /// `since_s` (WeCom's join times are seconds).
    pub async fn pull_results(
        &self,
        corp_id: i64,
        pull_id: i64,
        code_ids: &[i64],
        since_s: i64,
    ) -> Result<Vec<GuideResultRow>> {
        let joined = if code_ids.is_empty() {
            "CAST(0 AS BIGINT)".to_string()
        } else {
            format!(
                "SUM(CASE WHEN r.state = 'sent' AND EXISTS (SELECT 1 FROM group_members m \
                 JOIN group_code_groups g ON g.group_id = m.group_id \
                 WHERE g.code_id IN ({}) AND m.userid = r.external_userid AND m.join_time >= $4) THEN 1 ELSE 0 END)",
                placeholders(5, code_ids.len())
            )
        };
        let sql = format!(
            "SELECT t.staff_id, s.userid, s.name, COUNT(*) AS planned, \
             SUM(CASE WHEN r.state = 'sent' THEN 1 ELSE 0 END) AS sent, \
             SUM(CASE WHEN r.state = 'not_sent' THEN 1 ELSE 0 END) AS not_sent, \
             SUM(CASE WHEN r.state = 'failed' THEN 1 ELSE 0 END) AS failed, \
             {joined} AS joined \
             FROM guide_tasks t JOIN guide_task_recipients r ON r.task_id = t.id JOIN staff s ON s.id = t.staff_id \
             WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 \
             GROUP BY t.staff_id, s.userid, s.name ORDER BY s.name, t.staff_id"
        );
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id).bind(PULL_PURPOSE).bind(pull_id).bind(since_s);
            for id in code_ids {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?)
    }

    /// A pull's customers who were not sent the invitation (yet), at most `limit`.
    pub async fn pull_unsent(&self, corp_id: i64, pull_id: i64, limit: i64) -> Result<Vec<UnsentRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT r.customer_id, c.name AS customer_name, t.staff_id, s.name AS staff_name, r.state, r.reason \
                 FROM guide_tasks t JOIN guide_task_recipients r ON r.task_id = t.id \
                 JOIN customers c ON c.id = r.customer_id JOIN staff s ON s.id = t.staff_id \
                 WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 AND r.state <> 'sent' \
                 ORDER BY s.name, r.customer_id LIMIT $4",
            )
            .bind(corp_id)
            .bind(PULL_PURPOSE)
            .bind(pull_id)
            .bind(limit)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn first_order_invite(&self, corp_id: i64, code_id: i64) -> Result<Option<FirstOrderInviteRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT code_id, corp_id, from_kinds, text, link_url, enabled, updated_at FROM first_order_invites \
                 WHERE corp_id = $1 AND code_id = $2",
            )
            .bind(corp_id)
            .bind(code_id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Invitations a code made after first orders.
    pub async fn first_order_invitations(&self, corp_id: i64, code_id: i64) -> Result<i64> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM first_order_invitations WHERE corp_id = $1 AND code_id = $2")
                .bind(corp_id)
                .bind(code_id)
                .fetch_one(c)
                .await
        })?)
    }
}

impl Tx {
    pub async fn insert_group_pull(&mut self, p: &NewGroupPull<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_pulls (corp_id, name, segment_id, segment_name, expr, code_id, code_name, text, \
                 link_url, planned, unfollowed, created_by, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            )
            .bind(p.corp_id)
            .bind(p.name)
            .bind(p.segment_id)
            .bind(p.segment_name)
            .bind(p.expr)
            .bind(p.code_id)
            .bind(p.code_name)
            .bind(p.text)
            .bind(p.link_url)
            .bind(p.planned)
            .bind(p.unfollowed)
            .bind(p.created_by)
            .bind(p.started_at)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// The guide of one customer's most recent live follow.
    pub async fn guide_of(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<GuideOf>> {
        let sql = format!("{GUIDE_OF_SQL} AND f.customer_id = $2 ORDER BY f.added_at DESC, f.id DESC LIMIT 1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_optional(&mut *c).await)?)
    }

    /// Sets a code's invitation after a first order (replacing it).
    pub async fn set_first_order_invite(&mut self, r: &FirstOrderInviteRow) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO first_order_invites (code_id, corp_id, from_kinds, text, link_url, enabled, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code_id) DO UPDATE SET \
                 from_kinds = excluded.from_kinds, text = excluded.text, link_url = excluded.link_url, \
                 enabled = excluded.enabled, \
                 updated_at = excluded.updated_at",
            )
            .bind(r.code_id)
            .bind(r.corp_id)
            .bind(&r.from_kinds)
            .bind(&r.text)
            .bind(&r.link_url)
            .bind(r.enabled)
            .bind(r.updated_at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The corp's switched-on invitations of codes that still exist.
    pub async fn live_first_order_invites(&mut self, corp_id: i64) -> Result<Vec<FirstOrderInviteRow>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT i.code_id, i.corp_id, i.from_kinds, i.text, i.link_url, i.enabled, i.updated_at \
                 FROM first_order_invites i JOIN group_codes g ON g.id = i.code_id \
                 WHERE i.corp_id = $1 AND i.enabled ORDER BY i.code_id",
            )
            .bind(corp_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// Whether the customer is a present member of a group of one of `kinds`.
    pub async fn in_group_of_kinds(&mut self, corp_id: i64, customer_id: i64, kinds: &[String]) -> Result<bool> {
        if kinds.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT COUNT(*) FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.corp_id = $1 AND m.customer_id = $2 AND m.left_at IS NULL AND g.status = 'active' \
             AND g.kind IN ({})",
            placeholders(3, kinds.len())
        );
        let n: i64 = on_tx!(self, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id).bind(customer_id);
            for k in kinds {
                q = q.bind(k.as_str());
            }
            q.fetch_one(&mut *c).await
        })?;
        Ok(n > 0)
    }

    /// Whether the customer is a present member of one of the code's
    /// groups (a first-order invitation to it would be news to nobody).
    pub async fn in_group_of_code(&mut self, corp_id: i64, customer_id: i64, code_id: i64) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM group_members m JOIN group_code_groups cg ON cg.group_id = m.group_id \
                 WHERE m.corp_id = $1 AND m.customer_id = $2 AND m.left_at IS NULL AND cg.code_id = $3 \
                 AND NOT cg.removed",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(code_id)
            .fetch_one(&mut *c)
            .await
        })?;
        Ok(n > 0)
    }

    pub async fn group_code_name(&mut self, corp_id: i64, code_id: i64) -> Result<Option<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT name FROM group_codes WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(code_id)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Records an invitation; `None` when the customer was invited to the
    /// code before.
    pub async fn insert_first_order_invitation(
        &mut self,
        corp_id: i64,
        code_id: i64,
        customer_id: i64,
        staff_id: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO first_order_invitations (corp_id, code_id, customer_id, staff_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, code_id, customer_id) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(code_id)
            .bind(customer_id)
            .bind(staff_id)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(customer_id: i64, staff_id: i64) -> GuideOf {
        GuideOf { customer_id, external_userid: format!("wm{customer_id}"), staff_id, userid: format!("s{staff_id}") }
    }

    #[test]
    fn the_newest_live_follow_wins_once_per_customer() {
        let rows = vec![(g(1, 10), 100, 1), (g(1, 11), 200, 2), (g(2, 10), 50, 3), (g(1, 12), 200, 4)];
        let picked = newest_per_customer(rows);
        assert_eq!(picked, vec![g(1, 12), g(2, 10)], "same added_at: the newer follow");
    }
}
