//! SOP rules (`sop_rules`), their fired steps (`sop_fires`), the guides'
//! tasks (`sop_tasks`) and notes (`customer_notes`), the script library
//! (`scripts`), the material centre (`materials`) and per-customer tracked
//! links (`material_links`).
//!
//! Exactly once: a step fires for a target and occurrence through
//! [`Tx::insert_sop_fire`] (unique on rule, step, target, occurrence; a
//! second insert is a no-op), its action happens only in the transaction
//! that moves it out of `pending` ([`Tx::finish_sop_fire`], conditional),
//! and a fire makes at most one task (`sop_tasks.fire_id` is unique). An
//! open of a tracked link counts once per window through the conditional
//! update in [`Tx::count_link_open`].

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SopRuleRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub trigger_kind: String,
    /// The operator's rule (JSON: trigger, audience, steps).
    pub draft: String,
    pub template: String,
    pub enabled: bool,
    pub enabled_at: Option<i64>,
    pub checked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const RULE_COLUMNS: &str =
    "id, corp_id, name, trigger_kind, draft, template, enabled, enabled_at, checked_until, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SopFireRow {
    pub id: i64,
    pub corp_id: i64,
    pub rule_id: i64,
    pub step: i32,
    /// `customer` or `group`.
    pub target_kind: String,
    pub target_id: i64,
    pub occurrence: i64,
    pub due_at: i64,
    /// pending, done or skipped.
    pub state: String,
    pub note: String,
    pub fired_at: Option<i64>,
}

const FIRE_COLUMNS: &str =
    "id, corp_id, rule_id, step, target_kind, target_id, occurrence, due_at, state, note, fired_at";

#[derive(Debug, Clone)]
pub struct NewSopFire<'a> {
    pub corp_id: i64,
    pub rule_id: i64,
    pub step: i32,
    pub target_kind: &'a str,
    pub target_id: i64,
    pub occurrence: i64,
    pub due_at: i64,
    pub now: i64,
}

/// Per rule: its fires by state and its tasks done.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct SopRuleCounts {
    pub rule_id: i64,
    pub pending: i64,
    pub done: i64,
    pub skipped: i64,
    pub tasks_done: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SopTaskRow {
    pub id: i64,
    pub corp_id: i64,
    pub staff_id: i64,
    pub customer_id: Option<i64>,
    pub group_id: Option<i64>,
    pub rule_id: Option<i64>,
    pub fire_id: Option<i64>,
    pub title: String,
    pub script_id: Option<i64>,
    pub material_id: Option<i64>,
    /// todo or done.
    pub state: String,
    pub due_at: i64,
    pub done_at: Option<i64>,
    pub created_at: i64,
    /// The customer's or group's name.
    pub target_name: Option<String>,
}

const TASK_SELECT: &str = "SELECT t.id, t.corp_id, t.staff_id, t.customer_id, t.group_id, t.rule_id, t.fire_id, \
     t.title, t.script_id, t.material_id, t.state, t.due_at, t.done_at, t.created_at, \
     COALESCE(c.name, g.name) AS target_name \
     FROM sop_tasks t LEFT JOIN customers c ON c.id = t.customer_id LEFT JOIN groups g ON g.id = t.group_id";

#[derive(Debug, Clone)]
pub struct NewSopTask<'a> {
    pub corp_id: i64,
    pub staff_id: i64,
    pub customer_id: Option<i64>,
    pub group_id: Option<i64>,
    pub rule_id: Option<i64>,
    pub fire_id: Option<i64>,
    pub title: &'a str,
    pub script_id: Option<i64>,
    pub material_id: Option<i64>,
    pub due_at: i64,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScriptRow {
    pub id: i64,
    pub corp_id: i64,
    pub folder: String,
    pub title: String,
    pub body: String,
    /// Space-separated.
    pub keywords: String,
    pub uses: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SCRIPT_COLUMNS: &str = "id, corp_id, folder, title, body, keywords, uses, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct ScriptWrite<'a> {
    pub folder: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub keywords: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MaterialRow {
    pub id: i64,
    pub corp_id: i64,
    pub kind: String,
    pub folder: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub appid: String,
    pub page: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const MATERIAL_COLUMNS: &str =
    "id, corp_id, kind, folder, title, url, description, appid, page, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct MaterialWrite<'a> {
    pub kind: &'a str,
    pub folder: &'a str,
    pub title: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub appid: &'a str,
    pub page: &'a str,
    pub now: i64,
}

/// A material's tracking: links sent, opens counted, customers who opened.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct MaterialStats {
    pub material_id: i64,
    pub sends: i64,
    pub opens: i64,
    pub openers: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MaterialLinkRow {
    pub token: String,
    pub corp_id: i64,
    pub material_id: i64,
    pub customer_id: i64,
    pub staff_id: Option<i64>,
    pub opens: i64,
    pub last_open_at: Option<i64>,
    pub created_at: i64,
}

const LINK_COLUMNS: &str = "token, corp_id, material_id, customer_id, staff_id, opens, last_open_at, created_at";

/// A customer's opened material, for the profile.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CustomerOpenRow {
    pub material_id: i64,
    pub title: String,
    pub kind: String,
    pub opens: i64,
    pub last_open_at: Option<i64>,
}

impl Db {
    pub async fn sop_rules(&self, corp_id: i64) -> Result<Vec<SopRuleRow>> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM sop_rules WHERE corp_id = $1 ORDER BY id DESC");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn sop_rule(&self, corp_id: i64, id: i64) -> Result<Option<SopRuleRow>> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM sop_rules WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Corps with enabled rules or fires waiting: the ones the timer visits.
    pub async fn corps_with_sop_work(&self) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT corp_id FROM sop_rules WHERE enabled = TRUE \
                 UNION SELECT corp_id FROM sop_fires WHERE state = 'pending' ORDER BY corp_id",
            )
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn sop_rule_counts(&self, corp_id: i64) -> Result<Vec<SopRuleCounts>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT r.id AS rule_id, \
                 (SELECT COUNT(*) FROM sop_fires f WHERE f.rule_id = r.id AND f.state = 'pending') AS pending, \
                 (SELECT COUNT(*) FROM sop_fires f WHERE f.rule_id = r.id AND f.state = 'done') AS done, \
                 (SELECT COUNT(*) FROM sop_fires f WHERE f.rule_id = r.id AND f.state = 'skipped') AS skipped, \
                 (SELECT COUNT(*) FROM sop_tasks t WHERE t.rule_id = r.id AND t.state = 'done') AS tasks_done \
                 FROM sop_rules r WHERE r.corp_id = $1 ORDER BY r.id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// A rule's fires, newest first (the rule's page).
    pub async fn sop_fires_of(&self, corp_id: i64, rule_id: i64, limit: i64) -> Result<Vec<SopFireRow>> {
        let sql = format!(
            "SELECT {FIRE_COLUMNS} FROM sop_fires WHERE corp_id = $1 AND rule_id = $2 ORDER BY id DESC LIMIT $3"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(rule_id).bind(limit).fetch_all(c).await)?)
    }

    /// A guide's tasks: `todo` ones due by `due_by` (and every `done` one
    /// of the last day when `with_done`), optionally of one customer.
    pub async fn sop_tasks_of_staff(
        &self,
        corp_id: i64,
        staff_id: i64,
        customer_id: Option<i64>,
        due_by: i64,
        done_since: i64,
    ) -> Result<Vec<SopTaskRow>> {
        let sql = format!(
            "{TASK_SELECT} WHERE t.corp_id = $1 AND t.staff_id = $2 AND ($3 = 0 OR t.customer_id = $3) \
             AND ((t.state = 'todo' AND t.due_at <= $4) OR (t.state = 'done' AND t.done_at >= $5)) \
             ORDER BY t.state DESC, t.due_at, t.id LIMIT 200"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql)
                .bind(corp_id)
                .bind(staff_id)
                .bind(customer_id.unwrap_or(0))
                .bind(due_by)
                .bind(done_since)
                .fetch_all(c)
                .await
        })?)
    }

    /// The tasks a rule made (the rule's page), newest first.
    pub async fn sop_tasks_of_rule(&self, corp_id: i64, rule_id: i64, limit: i64) -> Result<Vec<SopTaskRow>> {
        let sql = format!("{TASK_SELECT} WHERE t.corp_id = $1 AND t.rule_id = $2 ORDER BY t.id DESC LIMIT $3");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(rule_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn scripts(&self, corp_id: i64, query: &str, folder: &str) -> Result<Vec<ScriptRow>> {
        let like = format!("%{}%", query.replace(['%', '_'], ""));
        let sql = format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE corp_id = $1 AND ($2 = '' OR folder = $2) \
             AND (title LIKE $3 OR body LIKE $3 OR keywords LIKE $3) ORDER BY folder, title, id LIMIT 500"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(folder).bind(&like).fetch_all(c).await
        })?)
    }

    pub async fn script(&self, corp_id: i64, id: i64) -> Result<Option<ScriptRow>> {
        let sql = format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn materials(&self, corp_id: i64, query: &str, folder: &str) -> Result<Vec<MaterialRow>> {
        let like = format!("%{}%", query.replace(['%', '_'], ""));
        let sql = format!(
            "SELECT {MATERIAL_COLUMNS} FROM materials WHERE corp_id = $1 AND ($2 = '' OR folder = $2) \
             AND (title LIKE $3 OR description LIKE $3) ORDER BY folder, title, id LIMIT 500"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(folder).bind(&like).fetch_all(c).await
        })?)
    }

    pub async fn material(&self, corp_id: i64, id: i64) -> Result<Option<MaterialRow>> {
        let sql = format!("SELECT {MATERIAL_COLUMNS} FROM materials WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Sends, opens and unique openers of every material of the corp.
    pub async fn material_stats(&self, corp_id: i64) -> Result<Vec<MaterialStats>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT material_id, COUNT(*) AS sends, CAST(COALESCE(SUM(opens), 0) AS BIGINT) AS opens, \
                 COUNT(DISTINCT CASE WHEN opens > 0 THEN customer_id END) AS openers \
                 FROM material_links WHERE corp_id = $1 GROUP BY material_id ORDER BY material_id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn material_link(&self, token: &str) -> Result<Option<MaterialLinkRow>> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM material_links WHERE token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    /// The materials a customer opened, most recent first.
    pub async fn customer_material_opens(&self, corp_id: i64, customer_id: i64) -> Result<Vec<CustomerOpenRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT l.material_id, m.title, m.kind, CAST(SUM(l.opens) AS BIGINT) AS opens, MAX(l.last_open_at) AS last_open_at \
                 FROM material_links l JOIN materials m ON m.id = l.material_id \
                 WHERE l.corp_id = $1 AND l.customer_id = $2 AND l.opens > 0 \
                 GROUP BY l.material_id, m.title, m.kind ORDER BY MAX(l.last_open_at) DESC",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn customer_note(&self, corp_id: i64, customer_id: i64, staff_id: i64) -> Result<Option<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT body FROM customer_notes WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Whether the staff member follows the customer now (a guide's scope).
    pub async fn staff_follows(&self, corp_id: i64, staff_id: i64, customer_id: i64) -> Result<bool> {
        let n: i64 = on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM follows WHERE corp_id = $1 AND staff_id = $2 AND customer_id = $3 \
                 AND deleted_at IS NULL",
            )
            .bind(corp_id)
            .bind(staff_id)
            .bind(customer_id)
            .fetch_one(c)
            .await
        })?;
        Ok(n > 0)
    }
}

impl Tx {
    /// Whether a job of `kind` for the corp waits to be claimed (seen by
    /// this transaction, so a bulk change queues the timer once).
    pub async fn has_queued_job(&mut self, corp_id: i64, kind: &str) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE corp_id = $1 AND kind = $2 AND state = 'queued'")
                .bind(corp_id)
                .bind(kind)
                .fetch_one(c)
                .await
        })?;
        Ok(n > 0)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_sop_rule(
        &mut self,
        corp_id: i64,
        name: &str,
        trigger_kind: &str,
        draft: &str,
        template: &str,
        enabled: bool,
        now: i64,
    ) -> Result<i64> {
        let enabled_at = enabled.then_some(now);
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO sop_rules (corp_id, name, trigger_kind, draft, template, enabled, enabled_at, \
                 checked_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(trigger_kind)
            .bind(draft)
            .bind(template)
            .bind(enabled)
            .bind(enabled_at)
            .bind(now)
            .fetch_one(c)
            .await
        })?)
    }

    pub async fn update_sop_rule(
        &mut self,
        corp_id: i64,
        id: i64,
        name: &str,
        trigger_kind: &str,
        draft: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE sop_rules SET name = $1, trigger_kind = $2, draft = $3, updated_at = $4 \
                 WHERE corp_id = $5 AND id = $6",
            )
            .bind(name)
            .bind(trigger_kind)
            .bind(draft)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Enables (from now: its watermark and `enabled_at` move to now) or
    /// disables a rule; disabling skips its pending fires. `false` when it
    /// was already so.
    pub async fn set_sop_rule_enabled(&mut self, corp_id: i64, id: i64, enabled: bool, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE sop_rules SET enabled = $1, \
                 enabled_at = CASE WHEN $1 THEN $2 ELSE enabled_at END, \
                 checked_until = CASE WHEN $1 THEN $2 ELSE checked_until END, updated_at = $2 \
                 WHERE corp_id = $3 AND id = $4 AND enabled <> $1",
            )
            .bind(enabled)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n > 0 && !enabled {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE sop_fires SET state = 'skipped', note = 'rule_disabled', fired_at = $1 \
                     WHERE corp_id = $2 AND rule_id = $3 AND state = 'pending'",
                )
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(n > 0)
    }

    /// The corp's enabled rules of these trigger kinds.
    pub async fn enabled_sop_rules(&mut self, corp_id: i64, kinds: &[&str]) -> Result<Vec<SopRuleRow>> {
        let rows: Vec<SopRuleRow> = {
            let sql = format!("SELECT {RULE_COLUMNS} FROM sop_rules WHERE corp_id = $1 AND enabled = TRUE ORDER BY id");
            on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?
        };
        Ok(rows.into_iter().filter(|r| kinds.contains(&r.trigger_kind.as_str())).collect())
    }

    /// Moves a calendar rule's watermark forward (never back).
    pub async fn set_sop_checked_until(&mut self, rule_id: i64, until: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE sop_rules SET checked_until = $1 WHERE id = $2 AND (checked_until IS NULL OR checked_until < $1)",
            )
            .bind(until)
            .bind(rule_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Records that a step fires for a target and occurrence: its id, or
    /// `None` when it had been recorded before (by this node or another).
    pub async fn insert_sop_fire(&mut self, f: &NewSopFire<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO sop_fires (corp_id, rule_id, step, target_kind, target_id, occurrence, due_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (rule_id, step, target_kind, target_id, occurrence) DO NOTHING RETURNING id",
            )
            .bind(f.corp_id)
            .bind(f.rule_id)
            .bind(f.step)
            .bind(f.target_kind)
            .bind(f.target_id)
            .bind(f.occurrence)
            .bind(f.due_at)
            .bind(f.now)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Pending fires due by `now`, oldest first.
    pub async fn due_sop_fires(&mut self, corp_id: i64, now: i64, limit: i64) -> Result<Vec<SopFireRow>> {
        let sql = format!(
            "SELECT {FIRE_COLUMNS} FROM sop_fires WHERE corp_id = $1 AND state = 'pending' AND due_at <= $2 \
             ORDER BY due_at, id LIMIT $3"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(now).bind(limit).fetch_all(c).await)?)
    }

    /// Moves a pending fire to `done` or `skipped`: `false` when it was not
    /// pending (another node's transaction got there first), and then the
    /// caller does not act.
    pub async fn finish_sop_fire(&mut self, id: i64, state: &str, note: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE sop_fires SET state = $1, note = $2, fired_at = $3 WHERE id = $4 AND state = 'pending'")
                .bind(state)
                .bind(note)
                .bind(now)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Customers whose first live add falls in `[added_from, added_to]`
    /// and who have no fire of this rule's step yet, narrowed to any of
    /// `tag_ids` (all when empty): `(customer_id, added_at)`, by id.
    #[allow(clippy::too_many_arguments)]
    pub async fn sop_after_add_candidates(
        &mut self,
        corp_id: i64,
        rule_id: i64,
        step: i32,
        added_from: i64,
        added_to: i64,
        tag_ids: &[String],
        limit: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let tags = tag_filter("f.customer_id", 7, tag_ids.len());
        let sql = format!(
            "SELECT f.customer_id, MIN(f.added_at) AS added_at FROM follows f \
             WHERE f.corp_id = $1 AND f.deleted_at IS NULL AND f.added_at >= $2 AND f.added_at <= $3 {tags} \
             AND NOT EXISTS (SELECT 1 FROM sop_fires s WHERE s.rule_id = $4 AND s.step = $5 \
                 AND s.target_kind = 'customer' AND s.target_id = f.customer_id AND s.occurrence = 0) \
             GROUP BY f.customer_id ORDER BY f.customer_id LIMIT $6"
        );
        Ok(on_tx!(self, |c| {
            let mut q =
                sqlx::query_as(&sql).bind(corp_id).bind(added_from).bind(added_to).bind(rule_id).bind(step).bind(limit);
            for t in tag_ids {
                q = q.bind(t);
            }
            q.fetch_all(c).await
        })?)
    }

    /// Customers whose last order is at or before `before` (and after
    /// `since`) with no fire of this step for that last order (the
    /// occurrence is the last order's time): `(customer_id, last_order_at)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn sop_no_order_candidates(
        &mut self,
        corp_id: i64,
        rule_id: i64,
        step: i32,
        since: i64,
        before: i64,
        tag_ids: &[String],
        limit: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let tags = tag_filter("c.id", 7, tag_ids.len());
        let sql = format!(
            "SELECT c.id, c.last_order_at FROM customers c \
             WHERE c.corp_id = $1 AND c.last_order_at IS NOT NULL AND c.last_order_at > $2 AND c.last_order_at <= $3 \
             {tags} AND NOT EXISTS (SELECT 1 FROM sop_fires s WHERE s.rule_id = $4 AND s.step = $5 \
                 AND s.target_kind = 'customer' AND s.target_id = c.id AND s.occurrence = c.last_order_at) \
             ORDER BY c.id LIMIT $6"
        );
        Ok(on_tx!(self, |c| {
            let mut q =
                sqlx::query_as(&sql).bind(corp_id).bind(since).bind(before).bind(rule_id).bind(step).bind(limit);
            for t in tag_ids {
                q = q.bind(t);
            }
            q.fetch_all(c).await
        })?)
    }

    /// A page of the corp's customers with a live follow (after `after_id`),
    /// narrowed to any of `tag_ids`: the audience of a calendar rule.
    pub async fn sop_audience_page(
        &mut self,
        corp_id: i64,
        after_id: i64,
        tag_ids: &[String],
        limit: i64,
    ) -> Result<Vec<i64>> {
        let tags = tag_filter("c.id", 4, tag_ids.len());
        let sql = format!(
            "SELECT c.id FROM customers c WHERE c.corp_id = $1 AND c.id > $2 \
             AND EXISTS (SELECT 1 FROM follows f WHERE f.customer_id = c.id AND f.deleted_at IS NULL) {tags} \
             ORDER BY c.id LIMIT $3"
        );
        Ok(on_tx!(self, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id).bind(after_id).bind(limit);
            for t in tag_ids {
                q = q.bind(t);
            }
            q.fetch_all(c).await
        })?)
    }

    /// The guides who follow any customer with any of `tag_ids` (every
    /// guide with a live follow when empty).
    pub async fn sop_audience_guides(&mut self, corp_id: i64, tag_ids: &[String]) -> Result<Vec<i64>> {
        let tags = tag_filter("f.customer_id", 2, tag_ids.len());
        let sql = format!(
            "SELECT DISTINCT f.staff_id FROM follows f WHERE f.corp_id = $1 AND f.deleted_at IS NULL {tags} \
             ORDER BY f.staff_id"
        );
        Ok(on_tx!(self, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id);
            for t in tag_ids {
                q = q.bind(t);
            }
            q.fetch_all(c).await
        })?)
    }

    /// A staff member's userid (the sender of their WeCom tasks).
    pub async fn sop_staff_userid(&mut self, corp_id: i64, staff_id: i64) -> Result<Option<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT userid FROM staff WHERE corp_id = $1 AND id = $2 AND active = TRUE")
                .bind(corp_id)
                .bind(staff_id)
                .fetch_optional(c)
                .await
        })?)
    }

    /// A customer's external_userid and name.
    pub async fn sop_customer_ident(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<(String, String)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as("SELECT external_userid, name FROM customers WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_optional(c)
                .await
        })?)
    }

    /// A material inside a transaction.
    pub async fn sop_material(&mut self, corp_id: i64, id: i64) -> Result<Option<MaterialRow>> {
        let sql = format!("SELECT {MATERIAL_COLUMNS} FROM materials WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// The guide who owns a customer: the staff member of their earliest live follow.
    pub async fn owner_staff_of_customer(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT staff_id FROM follows WHERE corp_id = $1 AND customer_id = $2 AND deleted_at IS NULL \
                 ORDER BY added_at, id LIMIT 1",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// A group's owner, when koi knows them as staff.
    pub async fn owner_staff_of_group(&mut self, corp_id: i64, group_id: i64) -> Result<Option<i64>> {
        let owner: Option<Option<i64>> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT owner_staff_id FROM groups WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(group_id)
                .fetch_optional(c)
                .await
        })?;
        Ok(owner.flatten())
    }

    /// The customer's tag ids.
    pub async fn sop_customer_tags(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT tag_id FROM customer_tags WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// A guide's task; `None` when the fire made one already.
    pub async fn insert_sop_task(&mut self, t: &NewSopTask<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO sop_tasks (corp_id, staff_id, customer_id, group_id, rule_id, fire_id, title, script_id, \
                 material_id, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (fire_id) DO NOTHING RETURNING id",
            )
            .bind(t.corp_id)
            .bind(t.staff_id)
            .bind(t.customer_id)
            .bind(t.group_id)
            .bind(t.rule_id)
            .bind(t.fire_id)
            .bind(t.title)
            .bind(t.script_id)
            .bind(t.material_id)
            .bind(t.due_at)
            .bind(t.now)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Marks one of the guide's tasks done (or back to do); `false` when it
    /// is not theirs or already so.
    pub async fn set_sop_task_done(
        &mut self,
        corp_id: i64,
        staff_id: i64,
        id: i64,
        done: bool,
        now: i64,
    ) -> Result<bool> {
        let (from, to, at) = if done { ("todo", "done", Some(now)) } else { ("done", "todo", None) };
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE sop_tasks SET state = $1, done_at = $2 WHERE corp_id = $3 AND staff_id = $4 AND id = $5 \
                 AND state = $6",
            )
            .bind(to)
            .bind(at)
            .bind(corp_id)
            .bind(staff_id)
            .bind(id)
            .bind(from)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn insert_script(&mut self, corp_id: i64, w: &ScriptWrite<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO scripts (corp_id, folder, title, body, keywords, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.folder)
            .bind(w.title)
            .bind(w.body)
            .bind(w.keywords)
            .bind(w.now)
            .fetch_one(c)
            .await
        })?)
    }

    pub async fn update_script(&mut self, corp_id: i64, id: i64, w: &ScriptWrite<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE scripts SET folder = $1, title = $2, body = $3, keywords = $4, updated_at = $5 \
                 WHERE corp_id = $6 AND id = $7",
            )
            .bind(w.folder)
            .bind(w.title)
            .bind(w.body)
            .bind(w.keywords)
            .bind(w.now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn delete_script(&mut self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("DELETE FROM scripts WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Counts a copy or send of a script.
    pub async fn count_script_use(&mut self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE scripts SET uses = uses + 1 WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn insert_material(&mut self, corp_id: i64, w: &MaterialWrite<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO materials (corp_id, kind, folder, title, url, description, appid, page, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.kind)
            .bind(w.folder)
            .bind(w.title)
            .bind(w.url)
            .bind(w.description)
            .bind(w.appid)
            .bind(w.page)
            .bind(w.now)
            .fetch_one(c)
            .await
        })?)
    }

    pub async fn update_material(&mut self, corp_id: i64, id: i64, w: &MaterialWrite<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE materials SET kind = $1, folder = $2, title = $3, url = $4, description = $5, appid = $6, \
                 page = $7, updated_at = $8 WHERE corp_id = $9 AND id = $10",
            )
            .bind(w.kind)
            .bind(w.folder)
            .bind(w.title)
            .bind(w.url)
            .bind(w.description)
            .bind(w.appid)
            .bind(w.page)
            .bind(w.now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// A material sent to a customer: its tracked link.
    pub async fn insert_material_link(
        &mut self,
        token: &str,
        corp_id: i64,
        material_id: i64,
        customer_id: i64,
        staff_id: Option<i64>,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO material_links (token, corp_id, material_id, customer_id, staff_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token)
            .bind(corp_id)
            .bind(material_id)
            .bind(customer_id)
            .bind(staff_id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Counts an open of a link unless one was counted within `window_ms`:
    /// `true` when this open counts (then it is a `material_opened`).
    pub async fn count_link_open(&mut self, token: &str, now: i64, window_ms: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE material_links SET opens = opens + 1, last_open_at = $1 \
                 WHERE token = $2 AND (last_open_at IS NULL OR last_open_at <= $3)",
            )
            .bind(now)
            .bind(token)
            .bind(now - window_ms)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    pub async fn set_customer_note(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        staff_id: i64,
        body: &str,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO customer_notes (corp_id, customer_id, staff_id, body, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (customer_id, staff_id) DO UPDATE SET body = $4, updated_at = $5",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .bind(body)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

/// `AND EXISTS (… tag_id IN ($first, …))` for `n` tags on the customer
/// column `col`, or nothing when `n` is 0.
fn tag_filter(col: &str, first: usize, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let params: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!(
        "AND EXISTS (SELECT 1 FROM customer_tags ct WHERE ct.customer_id = {col} AND ct.tag_id IN ({}))",
        params.join(", ")
    )
}
