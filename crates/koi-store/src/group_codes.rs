//! Group live codes (`group_codes`) and their groups in the operator's order
//! (`group_code_groups`).
//!
//! A rotation is recorded only over the `way_version` it started from
//! ([`Tx::record_rotation`]): two rotations of one code that ran at once
//! cannot both record, on both backends. `rotation_queued` lets the group
//! sync enqueue one rotation per code at a time ([`Tx::queue_rotation`]).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// A group code as koi keeps it; `settings` is the operator's draft (JSON).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupCodeRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub code_type: String,
    pub store_id: Option<i64>,
    pub public_token: String,
    pub settings: String,
    /// The join way's `state` (empty for a nearest-store code).
    pub state: String,
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    /// JSON list of the chat ids koi last gave the join way.
    pub listed: String,
    pub way_version: i64,
    /// The last warning level (`low_room`, `last_group`, `full`), or empty.
    pub warning: String,
    pub rotated_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const CODE_COLUMNS: &str = "id, corp_id, name, code_type, store_id, public_token, settings, state, config_id, \
     qr_code, listed, way_version, warning, rotated_at, created_at, updated_at";

/// One of a code's groups, with what its rotation status shows.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CodeGroupRow {
    pub group_id: i64,
    pub chat_id: String,
    pub name: String,
    pub status: String,
    /// Present members.
    pub members: i32,
    pub position: i32,
    pub adopted: bool,
    /// Present members who joined by QR (join_scene 3).
    pub qr_joins: i64,
    /// Stays, past ones too, of members who joined through the code's way.
    pub code_joins: i64,
}

/// A new code, as WeCom made its way (or without one: nearest-store codes).
#[derive(Debug, Clone, Default)]
pub struct NewGroupCode<'a> {
    pub corp_id: i64,
    pub name: &'a str,
    pub code_type: &'a str,
    pub store_id: Option<i64>,
    pub public_token: &'a str,
    pub settings: &'a str,
    pub state: &'a str,
    pub config_id: Option<&'a str>,
    pub qr_code: Option<&'a str>,
    pub listed: &'a str,
    pub now: i64,
}

/// A code's settings as an edit replaces them (the way's new list with them).
#[derive(Debug, Clone, Default)]
pub struct GroupCodeEdit<'a> {
    pub name: &'a str,
    pub store_id: Option<i64>,
    pub settings: &'a str,
    pub listed: &'a str,
    pub now: i64,
}

impl Db {
    /// The corp's group codes, oldest first.
    pub async fn group_codes(&self, corp_id: i64) -> Result<Vec<GroupCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM group_codes WHERE corp_id = $1 ORDER BY id");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn group_code(&self, corp_id: i64, id: i64) -> Result<Option<GroupCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM group_codes WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// The code behind a landing page's random public token.
    pub async fn group_code_by_token(&self, token: &str) -> Result<Option<GroupCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM group_codes WHERE public_token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    /// (corp, code) of every code with a join way, for the rotation timer.
    pub async fn codes_with_ways(&self) -> Result<Vec<(i64, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT corp_id, id FROM group_codes WHERE config_id IS NOT NULL ORDER BY id")
                .fetch_all(c)
                .await
        })?)
    }

    /// A code's groups in the operator's order (or the ones taken out of it).
    pub async fn code_groups(&self, corp_id: i64, code_id: i64, removed: bool) -> Result<Vec<CodeGroupRow>> {
        let sql = "SELECT l.group_id, g.chat_id, g.name, g.status, g.members, l.position, l.adopted, \
             (SELECT COUNT(*) FROM group_members m WHERE m.group_id = l.group_id AND m.left_at IS NULL \
              AND m.join_scene = 3) AS qr_joins, \
             (SELECT COUNT(*) FROM group_members m WHERE m.group_id = l.group_id AND c.state <> '' \
              AND m.state = c.state) AS code_joins \
             FROM group_code_groups l JOIN groups g ON g.id = l.group_id JOIN group_codes c ON c.id = l.code_id \
             WHERE l.corp_id = $1 AND l.code_id = $2 AND l.removed = $3 ORDER BY l.position, l.id";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(code_id).bind(removed).fetch_all(c).await
        })?)
    }

    /// Lets the group sync queue the code's next rotation: called when a
    /// rotation starts, so a change seen after this queues another.
    pub async fn clear_rotation_queued(&self, code_id: i64) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query("UPDATE group_codes SET rotation_queued = $1 WHERE id = $2")
                .bind(false)
                .bind(code_id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

impl Tx {
    pub async fn insert_group_code(&mut self, n: &NewGroupCode<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_codes (corp_id, name, code_type, store_id, public_token, settings, state, \
                 config_id, qr_code, listed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
            )
            .bind(n.corp_id)
            .bind(n.name)
            .bind(n.code_type)
            .bind(n.store_id)
            .bind(n.public_token)
            .bind(n.settings)
            .bind(n.state)
            .bind(n.config_id)
            .bind(n.qr_code)
            .bind(n.listed)
            .bind(n.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Replaces a code's settings and the way's list; the way moved, so the
    /// version does too (a rotation that read the old one retries).
    pub async fn update_group_code(&mut self, corp_id: i64, id: i64, e: &GroupCodeEdit<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE group_codes SET name = $1, store_id = $2, settings = $3, listed = $4, updated_at = $5, \
                 way_version = way_version + 1 WHERE corp_id = $6 AND id = $7",
            )
            .bind(e.name)
            .bind(e.store_id)
            .bind(e.settings)
            .bind(e.listed)
            .bind(e.now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_group_code(&mut self, corp_id: i64, id: i64) -> Result<bool> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM group_code_groups WHERE corp_id = $1 AND code_id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        let n = on_tx!(self, |c| {
            sqlx::query("DELETE FROM group_codes WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Sets a code's groups to `group_ids`, in that order. Groups taken out
    /// keep their row, marked removed; adopted groups stay marked adopted.
    pub async fn set_code_groups(&mut self, corp_id: i64, code_id: i64, group_ids: &[i64]) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE group_code_groups SET removed = $1 WHERE corp_id = $2 AND code_id = $3")
                .bind(true)
                .bind(corp_id)
                .bind(code_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        for (position, group_id) in group_ids.iter().enumerate() {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            on_tx!(self, |c| {
                sqlx::query(
                    "INSERT INTO group_code_groups (corp_id, code_id, group_id, position, removed) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code_id, group_id) \
                     DO UPDATE SET position = excluded.position, removed = excluded.removed",
                )
                .bind(corp_id)
                .bind(code_id)
                .bind(group_id)
                .bind(position)
                .bind(false)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// The codes a group is in (not taken out).
    pub async fn codes_of_group(&mut self, group_id: i64) -> Result<Vec<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT code_id FROM group_code_groups WHERE group_id = $1 AND removed = $2 ORDER BY code_id",
            )
            .bind(group_id)
            .bind(false)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// The corp's code whose join way carries `state`.
    pub async fn group_code_by_state(&mut self, corp_id: i64, state: &str) -> Result<Option<GroupCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM group_codes WHERE corp_id = $1 AND state = $2 AND state <> ''");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(state).fetch_optional(&mut *c).await)?)
    }

    /// Adds a group WeCom opened for the code at the end of its order;
    /// `false` when the group has a row already (in it, or taken out by the
    /// operator: not adopted back).
    pub async fn adopt_group(&mut self, corp_id: i64, code_id: i64, group_id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO group_code_groups (corp_id, code_id, group_id, position, adopted) \
                 SELECT $1, $2, $3, COALESCE(MAX(position), -1) + 1, $4 FROM group_code_groups WHERE code_id = $2 \
                 ON CONFLICT (code_id, group_id) DO NOTHING",
            )
            .bind(corp_id)
            .bind(code_id)
            .bind(group_id)
            .bind(true)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Marks the code's rotation queued; `false` when one is queued already
    /// (the caller then enqueues nothing: the queued one will see this change).
    pub async fn queue_rotation(&mut self, code_id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE group_codes SET rotation_queued = $1 WHERE id = $2 AND rotation_queued = $3")
                .bind(true)
                .bind(code_id)
                .bind(false)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records a rotation that started from `version`; `false` (nothing
    /// recorded) when another rotation or an edit recorded since.
    pub async fn record_rotation(
        &mut self,
        code_id: i64,
        version: i64,
        listed: &str,
        warning: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE group_codes SET listed = $1, warning = $2, rotated_at = $3, way_version = way_version + 1 \
                 WHERE id = $4 AND way_version = $5",
            )
            .bind(listed)
            .bind(warning)
            .bind(now)
            .bind(code_id)
            .bind(version)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}
