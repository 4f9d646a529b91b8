//! Tag rules, and the corp's settings (where the value rules — stage and
//! RFM thresholds — live).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

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

const TAG_RULES: &str =
    "SELECT id, name, rule, active, created_at, updated_at FROM tag_rules WHERE corp_id = $1 ORDER BY id";

impl Tx {
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
}
