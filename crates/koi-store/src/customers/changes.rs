//! The change log (`customer_changes`) the in-memory segment index follows,
//! and the facts it loads for the customers named there; and the corp's
//! segment refs version, which tells the index when what an expression can
//! name (tags, stores, staff, channel codes, custom fields, group names) has
//! changed.

use super::activity::{ActivityRow, ACTIVITY_COLUMNS};
use crate::db::{now_ms, on_pool, on_tx, Db, Tx};
use crate::Result;
use koi_domain::group::GroupKind;
use koi_domain::segment::{CouponHold, CustomerFacts, Stage};
use std::collections::HashMap;

/// One entry of the change log: this customer's facts changed.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub customer_id: i64,
    pub recorded_at: i64,
}

/// customer, staff, store, code, deleted_at of a follow.
type FollowFacts = (i64, i64, Option<i64>, Option<i64>, Option<i64>);

/// The `corp_settings` row that counts changes of what a segment can name.
const REFS_VERSION: &str = "segment_refs_version";

impl Tx {
    /// Notes that something a segment expression can name — a tag, a store
    /// (or where it is), a staff member, a channel code, a custom field —
    /// changes in this transaction: the corp's refs version grows when it
    /// commits. Every such write calls this before writing, so the
    /// transactions that change names in a corp take this row's lock first
    /// and cannot deadlock on each other.
    pub(crate) async fn bump_segment_refs(&mut self, corp_id: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO corp_settings (corp_id, key, value, updated_at) VALUES ($1, $2, '1', $3) \
                 ON CONFLICT (corp_id, key) DO UPDATE \
                 SET value = CAST(CAST(corp_settings.value AS BIGINT) + 1 AS TEXT), updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(REFS_VERSION)
            .bind(now_ms())
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Notes that the segment facts of every present customer member of the
    /// group changed (its kind changed): each is read again by the index.
    pub async fn log_group_members_changed(&mut self, corp_id: i64, group_id: i64) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO customer_changes (corp_id, customer_id, recorded_at) \
                 SELECT corp_id, customer_id, $3 FROM group_members \
                 WHERE corp_id = $1 AND group_id = $2 AND left_at IS NULL AND customer_id IS NOT NULL",
            )
            .bind(corp_id)
            .bind(group_id)
            .bind(now_ms())
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?)
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
}

impl Db {
    /// How many committed transactions have changed what the corp's segment
    /// expressions can name (0 before the first). A reader that notes it
    /// before reading the names reads them again once it differs.
    pub async fn segment_refs_version(&self, corp_id: i64) -> Result<i64> {
        let v: Option<String> = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT value FROM corp_settings WHERE corp_id = $1 AND key = $2")
                .bind(corp_id)
                .bind(REFS_VERSION)
                .fetch_optional(c)
                .await
        })?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
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
        // Present stays only: a left member is out of the group.
        let sql = "SELECT m.customer_id, m.group_id, g.kind FROM group_members m JOIN groups g ON g.id = m.group_id \
                   WHERE m.corp_id = $1 AND m.left_at IS NULL AND m.customer_id IS NOT NULL";
        let groups: Vec<(i64, i64, String)> = self.fetch_in(sql, "m.customer_id", corp_id, ids).await?;
        for (customer, group, kind) in groups {
            if let Some(f) = facts.get_mut(&customer) {
                f.groups.insert(group, GroupKind::parse(&kind).unwrap_or_default());
            }
        }
        let sql = "SELECT customer_id, balance FROM points_accounts WHERE corp_id = $1";
        let balances: Vec<(i64, i64)> = self.fetch_in(sql, "customer_id", corp_id, ids).await?;
        for (customer, balance) in balances {
            if let Some(f) = facts.get_mut(&customer) {
                f.points = u32::try_from(balance.max(0)).unwrap_or(u32::MAX);
            }
        }
        let sql = "SELECT DISTINCT customer_id, template_id, state FROM coupons WHERE corp_id = $1 \
                   AND state IN ('issued', 'redeemed', 'expired')";
        let coupons: Vec<(i64, i64, String)> = self.fetch_in(sql, "customer_id", corp_id, ids).await?;
        for (customer, template, state) in coupons {
            if let (Some(f), Some(s)) = (facts.get_mut(&customer), CouponHold::parse(&state)) {
                f.coupons.insert((template, s));
            }
        }
        let mut out: Vec<(i64, CustomerFacts)> = facts.into_iter().collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        Ok(out)
    }
}
