//! Saved segments, and the short rows a segment's sample or export shows.

use crate::db::{on_pool, Db};
use crate::Result;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub expr: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

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

impl Db {
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
}
