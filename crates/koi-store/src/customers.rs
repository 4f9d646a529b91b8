//! What koi knows about a customer beyond the add: dense numbers, behaviour
//! counters, lifecycle stage and RFM, tags, custom fields — and the change
//! log (`customer_changes`) the in-memory segment index follows. Every write
//! here that a segment could see appends to that log in its transaction.

use crate::db::{now_ms, on_pool, on_tx, Db, Tx};
use crate::dialect;
use crate::Result;
use koi_domain::segment::{CustomerFacts, Stage};
use std::collections::HashMap;

/// The behaviour counters and computed value of one customer.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: i64,
    pub no: i64,
    pub added_at: i64,
    pub last_active_at: Option<i64>,
    pub orders: i32,
    pub spent_fen: i64,
    pub first_order_at: Option<i64>,
    pub last_order_at: Option<i64>,
    pub friends_brought: i32,
    pub groups_joined: i32,
    pub shares: i32,
    pub stage: String,
    pub rfm_r: Option<i32>,
    pub rfm_f: Option<i32>,
    pub rfm_m: Option<i32>,
    pub influence: i32,
    pub home_lat: Option<f64>,
    pub home_lng: Option<f64>,
}

const ACTIVITY_COLUMNS: &str = "id, no, added_at, last_active_at, orders, spent_fen, first_order_at, last_order_at, \
     friends_brought, groups_joined, shares, stage, rfm_r, rfm_f, rfm_m, influence, home_lat, home_lng";

/// One row of the corp's tag catalogue (a tag with its group): the
/// domain's own snapshot, which the WeCom reconcile compares.
pub type TagRow = koi_domain::customer::TagSnapshot;

/// A customer's tag with what put it there.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CustomerTagRow {
    pub tag_id: String,
    pub source: String,
    pub tagged_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TagRuleRow {
    pub id: i64,
    pub name: String,
    /// JSON: trigger, add_tags, remove_tags.
    pub rule: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FieldDefRow {
    pub id: i64,
    pub name: String,
    pub label: String,
    /// JSON `FieldKind`.
    pub kind: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub expr: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const TAG_RULES: &str =
    "SELECT id, name, rule, active, created_at, updated_at FROM tag_rules WHERE corp_id = $1 ORDER BY id";

/// One entry of the change log: this customer's facts changed.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub customer_id: i64,
    pub recorded_at: i64,
}

/// customer, staff, store, code, deleted_at of a follow.
type FollowFacts = (i64, i64, Option<i64>, Option<i64>, Option<i64>);

/// A customer in a list, a sample or an export.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BriefRow {
    pub id: i64,
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    pub stage: String,
    pub rfm_r: Option<i32>,
    pub rfm_f: Option<i32>,
    pub rfm_m: Option<i32>,
    pub influence: i32,
    pub orders: i32,
    pub spent_fen: i64,
    pub added_at: i64,
    pub last_active_at: Option<i64>,
    pub first_store_id: Option<i64>,
    /// WeCom tag ids.
    #[sqlx(skip)]
    pub tags: Vec<String>,
}

/// `$first, $first+1, …` for an `IN (…)` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Tx {
    /// The corp's next dense customer number (see [`dialect::next_customer_no`]).
    pub(crate) async fn next_customer_no(&mut self, corp_id: i64) -> Result<i64> {
        dialect::next_customer_no(self, corp_id).await
    }

    /// Notes that the customer's segment facts changed in this transaction.
    pub async fn log_customer_change(&mut self, corp_id: i64, customer_id: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("INSERT INTO customer_changes (corp_id, customer_id, recorded_at) VALUES ($1, $2, $3)")
                .bind(corp_id)
                .bind(customer_id)
                .bind(now_ms())
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn customer_activity(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<ActivityRow>> {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM customers WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_optional(&mut *c).await)?)
    }

    /// Stores the counters and computed value (`id`, `no` and `added_at`
    /// are not changed).
    pub async fn set_customer_activity(&mut self, corp_id: i64, a: &ActivityRow) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE customers SET last_active_at = $1, orders = $2, spent_fen = $3, first_order_at = $4, \
                 last_order_at = $5, friends_brought = $6, groups_joined = $7, shares = $8, stage = $9, rfm_r = $10, \
                 rfm_f = $11, rfm_m = $12, influence = $13, home_lat = $14, home_lng = $15 \
                 WHERE corp_id = $16 AND id = $17",
            )
            .bind(a.last_active_at)
            .bind(a.orders)
            .bind(a.spent_fen)
            .bind(a.first_order_at)
            .bind(a.last_order_at)
            .bind(a.friends_brought)
            .bind(a.groups_joined)
            .bind(a.shares)
            .bind(&a.stage)
            .bind(a.rfm_r)
            .bind(a.rfm_f)
            .bind(a.rfm_m)
            .bind(a.influence)
            .bind(a.home_lat)
            .bind(a.home_lng)
            .bind(corp_id)
            .bind(a.id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.log_customer_change(corp_id, a.id).await?;
        }
        Ok(n == 1)
    }

    /// Tags a customer; false when the tag was there already.
    pub async fn tag_customer(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        tag_id: &str,
        source: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO customer_tags (corp_id, customer_id, tag_id, source, tagged_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(tag_id)
            .bind(source)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(n == 1)
    }

    /// Untags a customer; false when the tag was not there.
    pub async fn untag_customer(&mut self, corp_id: i64, customer_id: i64, tag_id: &str) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("DELETE FROM customer_tags WHERE corp_id = $1 AND customer_id = $2 AND tag_id = $3")
                .bind(corp_id)
                .bind(customer_id)
                .bind(tag_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(n == 1)
    }

    /// Creates or updates a tag (and its group) as WeCom has it.
    pub async fn upsert_tag(&mut self, corp_id: i64, t: &TagRow, now: i64) -> Result<()> {
        let group: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO tag_groups (corp_id, wecom_id, name, ord, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (corp_id, wecom_id) DO UPDATE SET name = excluded.name, ord = excluded.ord, \
                 updated_at = excluded.updated_at RETURNING id",
            )
            .bind(corp_id)
            .bind(&t.group_id)
            .bind(&t.group_name)
            .bind(t.group_order)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO tags (corp_id, group_id, wecom_id, name, ord, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (corp_id, wecom_id) DO UPDATE SET group_id = excluded.group_id, name = excluded.name, \
                 ord = excluded.ord, updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(group)
            .bind(&t.tag_id)
            .bind(&t.name)
            .bind(t.order)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes a tag from the catalogue and from every customer; returns the
    /// customers who had it.
    pub async fn delete_tag(&mut self, corp_id: i64, tag_id: &str) -> Result<Vec<i64>> {
        let holders: Vec<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("DELETE FROM customer_tags WHERE corp_id = $1 AND tag_id = $2 RETURNING customer_id")
                .bind(corp_id)
                .bind(tag_id)
                .fetch_all(&mut *c)
                .await
        })?;
        for &customer in &holders {
            self.log_customer_change(corp_id, customer).await?;
        }
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM tags WHERE corp_id = $1 AND wecom_id = $2")
                .bind(corp_id)
                .bind(tag_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        // A group with no tags left is gone in WeCom too.
        on_tx!(self, |c| {
            sqlx::query(
                "DELETE FROM tag_groups WHERE corp_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM tags WHERE tags.group_id = tag_groups.id)",
            )
            .bind(corp_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(holders)
    }

    /// Sets (or with `None` clears) a custom field of a customer.
    pub async fn set_customer_field(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        name: &str,
        value: Option<&str>,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            match value {
                Some(v) => sqlx::query(
                    "INSERT INTO customer_fields (corp_id, customer_id, name, value, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, customer_id, name) \
                     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(corp_id)
                .bind(customer_id)
                .bind(name)
                .bind(v)
                .bind(now),
                None => {
                    sqlx::query("DELETE FROM customer_fields WHERE corp_id = $1 AND customer_id = $2 AND name = $3")
                        .bind(corp_id)
                        .bind(customer_id)
                        .bind(name)
                }
            }
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        self.log_customer_change(corp_id, customer_id).await
    }

    pub async fn insert_tag_rule(
        &mut self,
        corp_id: i64,
        name: &str,
        rule: &str,
        active: bool,
        now: i64,
    ) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO tag_rules (corp_id, name, rule, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(rule)
            .bind(active)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn tag_rules(&mut self, corp_id: i64) -> Result<Vec<TagRuleRow>> {
        Ok(on_tx!(self, |c| sqlx::query_as(TAG_RULES).bind(corp_id).fetch_all(&mut *c).await)?)
    }

    pub async fn set_corp_setting(&mut self, corp_id: i64, key: &str, value: &str, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO corp_settings (corp_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (corp_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

impl Db {
    pub async fn customer_activity(&self, corp_id: i64, customer_id: i64) -> Result<Option<ActivityRow>> {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM customers WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_optional(c).await)?)
    }

    /// A page of the corp's customers by id, for sweeps (stage, RFM and
    /// time-based tag rules).
    pub async fn activity_page(&self, corp_id: i64, after_id: i64, limit: i64) -> Result<Vec<ActivityRow>> {
        let sql =
            format!("SELECT {ACTIVITY_COLUMNS} FROM customers WHERE corp_id = $1 AND id > $2 ORDER BY id LIMIT $3");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(after_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn tag_catalogue(&self, corp_id: i64) -> Result<Vec<TagRow>> {
        let rows: Vec<(String, String, i64, String, String, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT g.wecom_id, g.name, g.ord, t.wecom_id, t.name, t.ord FROM tags t \
                 JOIN tag_groups g ON g.id = t.group_id WHERE t.corp_id = $1 ORDER BY g.ord DESC, g.id, t.ord DESC, t.id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(group_id, group_name, group_order, tag_id, name, order)| TagRow {
                group_id,
                group_name,
                group_order,
                tag_id,
                name,
                order,
            })
            .collect())
    }

    pub async fn customer_tags(&self, corp_id: i64, customer_id: i64) -> Result<Vec<CustomerTagRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT tag_id, source, tagged_at FROM customer_tags WHERE corp_id = $1 AND customer_id = $2 \
                 ORDER BY tagged_at, tag_id",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// How many customers carry each tag.
    pub async fn tag_counts(&self, corp_id: i64) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT tag_id, COUNT(*) FROM customer_tags WHERE corp_id = $1 GROUP BY tag_id")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?;
        Ok(rows.into_iter().collect())
    }

    pub async fn customer_fields(&self, corp_id: i64, customer_id: i64) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT name, value FROM customer_fields WHERE corp_id = $1 AND customer_id = $2 ORDER BY name",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn field_defs(&self, corp_id: i64) -> Result<Vec<FieldDefRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT id, name, label, kind, created_at FROM field_defs WHERE corp_id = $1 ORDER BY id")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// Defines a field; `None` when the name is taken.
    pub async fn insert_field_def(
        &self,
        corp_id: i64,
        name: &str,
        label: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query_scalar(
                "INSERT INTO field_defs (corp_id, name, label, kind, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(label)
            .bind(kind)
            .bind(now)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Removes a field definition and every customer's value of it.
    pub async fn delete_field_def(&self, corp_id: i64, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let holders: Vec<i64> = on_tx!(&mut tx, |c| {
            sqlx::query_scalar("DELETE FROM customer_fields WHERE corp_id = $1 AND name = $2 RETURNING customer_id")
                .bind(corp_id)
                .bind(name)
                .fetch_all(&mut *c)
                .await
        })?;
        for customer in holders {
            tx.log_customer_change(corp_id, customer).await?;
        }
        let n = on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM field_defs WHERE corp_id = $1 AND name = $2")
                .bind(corp_id)
                .bind(name)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn tag_rules(&self, corp_id: i64) -> Result<Vec<TagRuleRow>> {
        Ok(on_pool!(self, false, |c| sqlx::query_as(TAG_RULES).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn update_tag_rule(
        &self,
        corp_id: i64,
        id: i64,
        name: &str,
        rule: &str,
        active: bool,
        now: i64,
    ) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE tag_rules SET name = $1, rule = $2, active = $3, updated_at = $4 WHERE corp_id = $5 AND id = $6",
            )
            .bind(name)
            .bind(rule)
            .bind(active)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_tag_rule(&self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM tag_rules WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn corp_setting(&self, corp_id: i64, key: &str) -> Result<Option<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT value FROM corp_settings WHERE corp_id = $1 AND key = $2")
                .bind(corp_id)
                .bind(key)
                .fetch_optional(c)
                .await
        })?)
    }

    pub async fn segments(&self, corp_id: i64) -> Result<Vec<SegmentRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, name, expr, created_by, created_at, updated_at FROM segments WHERE corp_id = $1 ORDER BY id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn segment(&self, corp_id: i64, id: i64) -> Result<Option<SegmentRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, name, expr, created_by, created_at, updated_at FROM segments WHERE corp_id = $1 AND id = $2",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_optional(c)
            .await
        })?)
    }

    pub async fn insert_segment(&self, corp_id: i64, name: &str, expr: &str, by: &str, now: i64) -> Result<i64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query_scalar(
                "INSERT INTO segments (corp_id, name, expr, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(expr)
            .bind(by)
            .bind(now)
            .fetch_one(c)
            .await
        })?)
    }

    pub async fn update_segment(&self, corp_id: i64, id: i64, name: &str, expr: &str, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("UPDATE segments SET name = $1, expr = $2, updated_at = $3 WHERE corp_id = $4 AND id = $5")
                .bind(name)
                .bind(expr)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_segment(&self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM segments WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The change log of the corp after `after_id`, oldest first.
    pub async fn customer_changes(&self, corp_id: i64, after_id: i64, limit: i64) -> Result<Vec<ChangeRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, customer_id, recorded_at FROM customer_changes WHERE corp_id = $1 AND id > $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(corp_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(c)
            .await
        })?)
    }

    /// The newest change log id recorded before `before` (0 when none): a
    /// reader that starts here and re-reads everything after it misses no
    /// transaction shorter than `now - before`.
    pub async fn change_horizon(&self, corp_id: i64, before: i64) -> Result<i64> {
        let id: Option<i64> = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT MAX(id) FROM customer_changes WHERE corp_id = $1 AND recorded_at < $2")
                .bind(corp_id)
                .bind(before)
                .fetch_one(c)
                .await
        })?;
        Ok(id.unwrap_or(0))
    }

    /// Short rows for showing or exporting customers, in the order given
    /// (unknown ids are left out).
    pub async fn customer_briefs(&self, corp_id: i64, ids: &[i64]) -> Result<Vec<BriefRow>> {
        let sql =
            "SELECT id, external_userid, name, avatar, stage, rfm_r, rfm_f, rfm_m, influence, orders, spent_fen, \
                   added_at, last_active_at, first_store_id FROM customers WHERE corp_id = $1";
        let rows: Vec<BriefRow> = self.fetch_in(sql, "id", corp_id, Some(ids)).await?;
        let mut rows: HashMap<i64, BriefRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let sql = "SELECT customer_id, tag_id FROM customer_tags WHERE corp_id = $1";
        let mut tags: Vec<(i64, String)> = self.fetch_in(sql, "customer_id", corp_id, Some(ids)).await?;
        tags.sort_unstable();
        for (customer, tag) in tags {
            if let Some(r) = rows.get_mut(&customer) {
                r.tags.push(tag);
            }
        }
        Ok(ids.iter().filter_map(|id| rows.remove(id)).collect())
    }

    /// Forgets change log entries recorded before `before`.
    pub async fn prune_customer_changes(&self, before: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM customer_changes WHERE recorded_at < $1")
                .bind(before)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// Customer ids (of this corp) from external userids or ids given as
    /// text, for bulk tagging from a CSV; unknown ones are left out.
    pub async fn resolve_customers(&self, corp_id: i64, keys: &[String]) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT external_userid, id FROM customers WHERE corp_id = $1";
        self.fetch_in(sql, "external_userid", corp_id, Some(keys)).await
    }

    /// Everything a segment can ask about customers of the corp — all of
    /// them (`None`), or the given ids — keyed by customer id.
    pub async fn segment_facts(&self, corp_id: i64, ids: Option<&[i64]>) -> Result<Vec<(i64, CustomerFacts)>> {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM customers WHERE corp_id = $1");
        let rows: Vec<ActivityRow> = self.fetch_in(&sql, "id", corp_id, ids).await?;
        let mut facts: HashMap<i64, CustomerFacts> = rows
            .into_iter()
            .map(|r| {
                let f = CustomerFacts {
                    id: r.no as u32,
                    stage: Stage::from_name(&r.stage).unwrap_or_default(),
                    rfm: [r.rfm_r, r.rfm_f, r.rfm_m].map(|b| b.and_then(|b| u8::try_from(b).ok())),
                    added_at: r.added_at,
                    last_active: r.last_active_at,
                    orders: r.orders.max(0) as u32,
                    spent_fen: r.spent_fen,
                    influence: r.influence.max(0) as u32,
                    home: r.home_lat.zip(r.home_lng).map(|(a, b)| (a as f32, b as f32)),
                    ..Default::default()
                };
                (r.id, f)
            })
            .collect();
        let sql = "SELECT customer_id, tag_id FROM customer_tags WHERE corp_id = $1";
        let tags: Vec<(i64, String)> = self.fetch_in(sql, "customer_id", corp_id, ids).await?;
        for (customer, tag) in tags {
            if let Some(f) = facts.get_mut(&customer) {
                f.tags.insert(tag);
            }
        }
        let sql = "SELECT customer_id, staff_id, store_id, code_id, deleted_at FROM follows WHERE corp_id = $1";
        let follows: Vec<FollowFacts> = self.fetch_in(sql, "customer_id", corp_id, ids).await?;
        for (customer, staff, store, code, deleted_at) in follows {
            let Some(f) = facts.get_mut(&customer) else { continue };
            // Added through a code stays true after the follow is lost;
            // followed by a guide (and so by a store) does not.
            f.codes.extend(code);
            if deleted_at.is_none() {
                f.staff.insert(staff);
                f.stores.extend(store);
            }
        }
        let sql = "SELECT customer_id, name, value FROM customer_fields WHERE corp_id = $1";
        let fields: Vec<(i64, String, String)> = self.fetch_in(sql, "customer_id", corp_id, ids).await?;
        for (customer, name, value) in fields {
            if let Some(f) = facts.get_mut(&customer) {
                f.fields.insert(name, value);
            }
        }
        let mut out: Vec<(i64, CustomerFacts)> = facts.into_iter().collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        Ok(out)
    }

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
