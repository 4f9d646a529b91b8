//! Moments posts (`moments`) and each guide asked to publish one
//! (`moment_guides`). A post is created in WeCom at most once:
//! [`Db::claim_moment`] moves it `queued` → `sending` in its own commit
//! before `add_moment_task`; an attempt that finds it `sending` ends it
//! `unknown` instead of posting again.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MomentRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    /// JSON: the draft, with the guides resolved.
    pub content: String,
    /// queued, sending, posting (WeCom's job runs), posted, failed or unknown.
    pub state: String,
    pub jobid: String,
    pub wecom_moment_id: String,
    pub note: String,
    pub reads: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, corp_id, name, content, state, jobid, wecom_moment_id, note, reads, created_by, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MomentGuideRow {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub posted: bool,
    pub likes: i32,
    pub comments: i32,
}

/// What WeCom says of one guide's copy.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentGuideResult {
    pub userid: String,
    pub posted: bool,
    pub likes: i32,
    pub comments: i32,
}

impl Db {
    pub async fn moment(&self, corp_id: i64, id: i64) -> Result<Option<MomentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM moments WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn moments(&self, corp_id: i64, limit: i64) -> Result<Vec<MomentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM moments WHERE corp_id = $1 ORDER BY id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn moment_guides(&self, corp_id: i64, id: i64) -> Result<Vec<MomentGuideRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT g.staff_id, g.userid, s.name, g.posted, g.likes, g.comments FROM moment_guides g \
                 JOIN staff s ON s.id = g.staff_id WHERE g.corp_id = $1 AND g.moment_id = $2 ORDER BY s.name, g.staff_id",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Moves a post between `from` and `to` (queued ↔ sending) in a commit
    /// of its own; `false` when it was not in `from`.
    pub async fn claim_moment(&self, corp_id: i64, id: i64, from: &str, to: &str) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("UPDATE moments SET state = $1 WHERE corp_id = $2 AND id = $3 AND state = $4")
                .bind(to)
                .bind(corp_id)
                .bind(id)
                .bind(from)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl Tx {
    /// Records a post and the guides asked to publish it: (staff_id, userid).
    pub async fn insert_moment(
        &mut self,
        corp_id: i64,
        name: &str,
        content: &str,
        guides: &[(i64, String)],
        created_by: &str,
        now: i64,
    ) -> Result<i64> {
        let id: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO moments (corp_id, name, content, state, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'queued', $4, $5, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(content)
            .bind(created_by)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?;
        for (staff_id, userid) in guides {
            on_tx!(self, |c| {
                sqlx::query("INSERT INTO moment_guides (moment_id, staff_id, corp_id, userid) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(*staff_id)
                    .bind(corp_id)
                    .bind(userid)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(id)
    }

    /// Sets a post's state (with WeCom's job id, moment id, why).
    #[allow(clippy::too_many_arguments)]
    pub async fn set_moment_state(
        &mut self,
        corp_id: i64,
        id: i64,
        state: &str,
        jobid: Option<&str>,
        moment_id: Option<&str>,
        note: &str,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE moments SET state = $1, jobid = COALESCE($2, jobid), wecom_moment_id = COALESCE($3, wecom_moment_id), \
                 note = $4, updated_at = $5, reads = reads + 1 WHERE corp_id = $6 AND id = $7",
            )
            .bind(state)
            .bind(jobid)
            .bind(moment_id)
            .bind(note)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Records what WeCom says of each guide's copy.
    pub async fn record_moment_guides(&mut self, corp_id: i64, id: i64, results: &[MomentGuideResult]) -> Result<()> {
        for r in results {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE moment_guides SET posted = $1, likes = $2, comments = $3 \
                     WHERE corp_id = $4 AND moment_id = $5 AND userid = $6",
                )
                .bind(r.posted)
                .bind(r.likes)
                .bind(r.comments)
                .bind(corp_id)
                .bind(id)
                .bind(&r.userid)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}
