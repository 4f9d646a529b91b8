//! Custom fields: the corp's definitions and each customer's values.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FieldDefRow {
    pub id: i64,
    pub name: String,
    pub label: String,
    /// JSON `FieldKind`.
    pub kind: String,
    pub created_at: i64,
}

impl Tx {
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
}

impl Db {
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
        let mut tx = self.begin().await?;
        tx.bump_segment_refs(corp_id).await?;
        let id = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "INSERT INTO field_defs (corp_id, name, label, kind, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(label)
            .bind(kind)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a field definition and every customer's value of it.
    pub async fn delete_field_def(&self, corp_id: i64, name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        tx.bump_segment_refs(corp_id).await?;
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
}
