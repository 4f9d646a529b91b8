//! Customer groups and their members (`groups`, `group_members`).
//!
//! Joins, leaves, links to a customer and a group's kind changing append
//! to the change log (`customer_changes`) in the same transaction, and a
//! group's new name bumps the segment refs version, as tags do: segments
//! over groups (`group:`, `groupkind:`, `in_groups>=`) follow them.
//!
//! A group's WeCom state is written only by a read newer than the one
//! recorded ([`Tx::claim_group_sync`]): two syncs of one group that finish
//! out of order leave the newer read, on both backends (on PostgreSQL the
//! conditional update waits for the other transaction and re-checks).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;
use std::collections::{HashMap, HashSet};

/// A group as koi keeps it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct GroupRow {
    pub id: i64,
    pub chat_id: String,
    pub name: String,
    pub owner_userid: String,
    pub owner_staff_id: Option<i64>,
    pub notice: String,
    pub kind: String,
    pub store_id: Option<i64>,
    pub member_version: String,
    pub status: String,
    pub members: i32,
    pub created_at: i64,
    pub synced_at: i64,
}

const GROUP_COLUMNS: &str = "id, chat_id, name, owner_userid, owner_staff_id, notice, kind, store_id, \
     member_version, status, members, created_at, synced_at";

/// One stay of a member in a group.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct GroupMemberRow {
    pub id: i64,
    pub userid: String,
    pub member_type: String,
    pub customer_id: Option<i64>,
    pub name: String,
    pub join_time: i64,
    pub join_scene: i32,
    pub invitor: String,
    pub left_at: Option<i64>,
}

const MEMBER_COLUMNS: &str = "id, userid, member_type, customer_id, name, join_time, join_scene, invitor, left_at";

/// What WeCom said about a group, to record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState<'a> {
    pub name: &'a str,
    pub owner_userid: &'a str,
    pub owner_staff_id: Option<i64>,
    pub notice: &'a str,
    pub member_version: &'a str,
    pub created_at: i64,
}

/// A member who joined, to record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMember<'a> {
    pub userid: &'a str,
    pub member_type: &'a str,
    pub customer_id: Option<i64>,
    pub name: &'a str,
    pub join_time: i64,
    pub join_scene: i32,
    pub invitor: &'a str,
    /// The join way's `state` they joined with (empty when none).
    pub state: &'a str,
}

/// Filters of the groups list; `stores` narrows to a manager's stores.
#[derive(Debug, Clone, Default)]
pub struct GroupFilter<'a> {
    pub kind: Option<&'a str>,
    pub store_id: Option<i64>,
    pub owner: Option<&'a str>,
    pub status: Option<&'a str>,
    pub stores: Option<&'a [i64]>,
    /// Size: present members at least / at most.
    pub min_members: Option<i32>,
    pub max_members: Option<i32>,
}

/// Rows a multi-row member statement carries (8 bound values each, well
/// under both backends' limits on bound values).
const MEMBER_ROWS_PER_STATEMENT: usize = 500;

impl Db {
    /// The corp's groups, newest first, at most `limit`.
    pub async fn groups(&self, corp_id: i64, f: &GroupFilter<'_>, limit: i64) -> Result<Vec<GroupRow>> {
        let mut sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE corp_id = $1");
        let mut n = 1;
        let mut next = |sql: &mut String, cond: &str| {
            n += 1;
            sql.push_str(&format!(" AND {cond} ${n}"));
        };
        if f.kind.is_some() {
            next(&mut sql, "kind =");
        }
        if f.store_id.is_some() {
            next(&mut sql, "store_id =");
        }
        if f.owner.is_some() {
            next(&mut sql, "owner_userid =");
        }
        if f.status.is_some() {
            next(&mut sql, "status =");
        }
        // Numbers, so written into the text rather than bound.
        if let Some(n) = f.min_members {
            sql.push_str(&format!(" AND members >= {n}"));
        }
        if let Some(n) = f.max_members {
            sql.push_str(&format!(" AND members <= {n}"));
        }
        if let Some(stores) = f.stores {
            if stores.is_empty() {
                return Ok(vec![]);
            }
            let ids = stores.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            sql.push_str(&format!(" AND store_id IN ({ids})"));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${n}"));
        let rows = on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id);
            if let Some(k) = f.kind {
                q = q.bind(k);
            }
            if let Some(s) = f.store_id {
                q = q.bind(s);
            }
            if let Some(o) = f.owner {
                q = q.bind(o);
            }
            if let Some(s) = f.status {
                q = q.bind(s);
            }
            q.bind(limit).fetch_all(c).await
        })?;
        Ok(rows)
    }

    pub async fn group(&self, corp_id: i64, id: i64) -> Result<Option<GroupRow>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn group_by_chat_id(&self, corp_id: i64, chat_id: &str) -> Result<Option<GroupRow>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE corp_id = $1 AND chat_id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(chat_id).fetch_optional(c).await)?)
    }

    /// The group's members: present ones first (by join time), then past
    /// stays when `with_past`.
    pub async fn group_members(&self, corp_id: i64, group_id: i64, with_past: bool) -> Result<Vec<GroupMemberRow>> {
        let past = if with_past { "" } else { " AND left_at IS NULL" };
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE corp_id = $1 AND group_id = $2{past} \
             ORDER BY CASE WHEN left_at IS NULL THEN 0 ELSE 1 END, join_time, id"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(group_id).fetch_all(c).await)?)
    }

    /// Every group's id and name (dismissed ones too): what a segment's
    /// `group:` may name.
    pub async fn group_names(&self, corp_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT id, name FROM groups WHERE corp_id = $1 ORDER BY id")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// The chat ids of the corp's groups koi holds as active.
    pub async fn active_chat_ids(&self, corp_id: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT chat_id FROM groups WHERE corp_id = $1 AND status = 'active' ORDER BY id")
                .bind(corp_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// How many active groups koi holds for the corp and their present
    /// members in all (a membership per member per group).
    pub async fn group_totals(&self, corp_id: i64) -> Result<(i64, i64)> {
        let sql = "SELECT COUNT(*), CAST(COALESCE(SUM(members), 0) AS BIGINT) FROM groups \
                   WHERE corp_id = $1 AND status = 'active'";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).fetch_one(c).await)?)
    }
}

impl Tx {
    /// The group koi keeps under this chat id, read in the transaction.
    pub async fn group_of_chat(&mut self, corp_id: i64, chat_id: &str) -> Result<Option<GroupRow>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE corp_id = $1 AND chat_id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(chat_id).fetch_optional(&mut *c).await)?)
    }

    /// Makes sure koi has a row for the group (an empty one never synced);
    /// returns its id.
    pub async fn ensure_group(&mut self, corp_id: i64, chat_id: &str) -> Result<i64> {
        let made = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO groups (corp_id, chat_id) VALUES ($1, $2) ON CONFLICT (corp_id, chat_id) DO NOTHING",
            )
            .bind(corp_id)
            .bind(chat_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if made == 1 {
            // A new group (WeCom's may have no name) is a new name segments
            // can refer to (`group:ID`).
            self.bump_segment_refs(corp_id).await?;
        }
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM groups WHERE corp_id = $1 AND chat_id = $2")
                .bind(corp_id)
                .bind(chat_id)
                .fetch_one(&mut *c)
                .await
        })?)
    }

    /// Records WeCom's state of the group read at `read_at`, unless a read
    /// at least as new is recorded already: `false` then, and nothing
    /// changed. Marks the group active.
    pub async fn claim_group_sync(&mut self, group_id: i64, s: &GroupState<'_>, read_at: i64) -> Result<bool> {
        let before: Option<(i64, String)> = on_tx!(self, |c| {
            sqlx::query_as("SELECT corp_id, name FROM groups WHERE id = $1")
                .bind(group_id)
                .fetch_optional(&mut *c)
                .await
        })?;
        if let Some((corp_id, _)) = before.as_ref().filter(|(_, name)| name != s.name) {
            // Before the write, like every change of what a segment can name.
            self.bump_segment_refs(*corp_id).await?;
        }
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE groups SET name = $1, owner_userid = $2, owner_staff_id = $3, notice = $4, \
                 member_version = $5, created_at = $6, status = 'active', synced_at = $7 \
                 WHERE id = $8 AND synced_at < $7",
            )
            .bind(s.name)
            .bind(s.owner_userid)
            .bind(s.owner_staff_id)
            .bind(s.notice)
            .bind(s.member_version)
            .bind(s.created_at)
            .bind(read_at)
            .bind(group_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Marks the group dismissed as of `read_at` (the same newer-read rule
    /// as [`Tx::claim_group_sync`]); `false` when a newer read is recorded.
    pub async fn claim_group_dismissed(&mut self, group_id: i64, read_at: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE groups SET status = 'dismissed', synced_at = $1 WHERE id = $2 AND synced_at < $1")
                .bind(read_at)
                .bind(group_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The group's present members.
    pub async fn present_members(&mut self, corp_id: i64, group_id: i64) -> Result<Vec<GroupMemberRow>> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE corp_id = $1 AND group_id = $2 AND left_at IS NULL \
             ORDER BY id"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(group_id).fetch_all(&mut *c).await)?)
    }

    /// Records stays that began, many rows a statement (a group read brings
    /// up to 500 members), and logs each customer's change for segments.
    /// Returns the (userid, join_time) of the stays that were new; the
    /// others were recorded already.
    pub async fn insert_group_members(
        &mut self,
        corp_id: i64,
        group_id: i64,
        members: &[NewMember<'_>],
    ) -> Result<HashSet<(String, i64)>> {
        let mut inserted = HashSet::new();
        for chunk in members.chunks(MEMBER_ROWS_PER_STATEMENT) {
            let rows = (0..chunk.len())
                .map(|i| {
                    let b = 3 + i * 8;
                    format!(
                        "($1, $2, ${b}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO group_members (corp_id, group_id, userid, member_type, customer_id, name, join_time, \
                 join_scene, invitor, state) VALUES {rows} \
                 ON CONFLICT (group_id, userid, join_time) DO NOTHING RETURNING userid, join_time"
            );
            let got: Vec<(String, i64)> = on_tx!(self, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id).bind(group_id);
                for m in chunk {
                    q = q
                        .bind(m.userid)
                        .bind(m.member_type)
                        .bind(m.customer_id)
                        .bind(m.name)
                        .bind(m.join_time)
                        .bind(m.join_scene)
                        .bind(m.invitor)
                        .bind(m.state);
                }
                q.fetch_all(&mut *c).await
            })?;
            inserted.extend(got);
        }
        // A customer's new stay changes what segments over groups see.
        for m in members.iter().filter(|m| inserted.contains(&(m.userid.to_owned(), m.join_time))) {
            if let Some(customer_id) = m.customer_id {
                self.log_customer_change(corp_id, customer_id).await?;
            }
        }
        Ok(inserted)
    }

    /// koi's customer ids of these external_userids (those koi knows).
    pub async fn customer_ids_of(&mut self, corp_id: i64, external_userids: &[&str]) -> Result<HashMap<String, i64>> {
        let mut ids = HashMap::new();
        for chunk in external_userids.chunks(MEMBER_ROWS_PER_STATEMENT) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
            let sql =
                format!("SELECT external_userid, id FROM customers WHERE corp_id = $1 AND external_userid IN ({list})");
            let got: Vec<(String, i64)> = on_tx!(self, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id);
                for e in chunk {
                    q = q.bind(*e);
                }
                q.fetch_all(&mut *c).await
            })?;
            ids.extend(got);
        }
        Ok(ids)
    }

    /// Records a stay that began; `false` when that stay was recorded
    /// already (same member, same join time).
    pub async fn insert_group_member(&mut self, corp_id: i64, group_id: i64, m: &NewMember<'_>) -> Result<bool> {
        Ok(!self.insert_group_members(corp_id, group_id, std::slice::from_ref(m)).await?.is_empty())
    }

    /// Ends a present stay; `false` when it had ended already.
    pub async fn end_group_member(&mut self, member_id: i64, left_at: i64) -> Result<bool> {
        let ended: Option<(i64, Option<i64>)> = on_tx!(self, |c| {
            sqlx::query_as(
                "UPDATE group_members SET left_at = $1 WHERE id = $2 AND left_at IS NULL RETURNING corp_id, customer_id",
            )
            .bind(left_at)
            .bind(member_id)
            .fetch_optional(&mut *c)
            .await
        })?;
        if let Some((corp_id, Some(customer_id))) = ended {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(ended.is_some())
    }

    /// Links a stay to the customer koi came to know after the member joined.
    pub async fn link_group_member(&mut self, member_id: i64, customer_id: i64) -> Result<()> {
        let linked: Option<(i64, Option<i64>)> = on_tx!(self, |c| {
            sqlx::query_as(
                "UPDATE group_members SET customer_id = $1 WHERE id = $2 AND customer_id IS NULL \
                 RETURNING corp_id, left_at",
            )
            .bind(customer_id)
            .bind(member_id)
            .fetch_optional(&mut *c)
            .await
        })?;
        if let Some((corp_id, None)) = linked {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(())
    }

    /// Counts the group's present members into `groups.members`.
    pub async fn recount_group(&mut self, group_id: i64) -> Result<i32> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE groups SET members = (SELECT COUNT(*) FROM group_members \
                 WHERE group_id = $1 AND left_at IS NULL) WHERE id = $1 RETURNING members",
            )
            .bind(group_id)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Sets what an operator gives a group: its kind and store.
    pub async fn set_group_kind_store(
        &mut self,
        corp_id: i64,
        group_id: i64,
        kind: Option<&str>,
        store_id: Option<Option<i64>>,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE groups SET kind = COALESCE($1, kind), \
                 store_id = CASE WHEN $2 THEN $3 ELSE store_id END WHERE corp_id = $4 AND id = $5",
            )
            .bind(kind)
            .bind(store_id.is_some())
            .bind(store_id.flatten())
            .bind(corp_id)
            .bind(group_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 && kind.is_some() {
            // `groupkind:` segments read each present member's groups again.
            self.log_group_members_changed(corp_id, group_id).await?;
        }
        Ok(n == 1)
    }
}
