//! The corp's tag catalogue (tags and their groups, as WeCom has them),
//! which customers carry which tag, and the customer keys of a bulk-tagging
//! CSV.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;
use std::collections::HashMap;

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

impl Tx {
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
        self.bump_segment_refs(corp_id).await?;
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
        self.bump_segment_refs(corp_id).await?;
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
}

impl Db {
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

    /// Customer ids (of this corp) from external userids or ids given as
    /// text, for bulk tagging from a CSV; unknown ones are left out.
    pub async fn resolve_customers(&self, corp_id: i64, keys: &[String]) -> Result<Vec<(String, i64)>> {
        let sql = "SELECT external_userid, id FROM customers WHERE corp_id = $1";
        self.fetch_in(sql, "external_userid", corp_id, Some(keys)).await
    }
}
