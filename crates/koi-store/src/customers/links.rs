//! Customers' own links to koi's H5 pages (`customer_links`): one live,
//! unguessable token a customer.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

impl Db {
    /// The corp and customer a live link token names.
    pub async fn customer_of_link(&self, token: &str) -> Result<Option<(i64, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT corp_id, customer_id FROM customer_links WHERE token = $1 AND revoked_at IS NULL")
                .bind(token)
                .fetch_optional(c)
                .await
        })?)
    }
}

impl Tx {
    /// The customer's live link token, making it `fresh` when there is none.
    pub async fn customer_link(&mut self, corp_id: i64, customer_id: i64, fresh: &str, now: i64) -> Result<String> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO customer_links (token, corp_id, customer_id, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (corp_id, customer_id) WHERE revoked_at IS NULL DO NOTHING",
            )
            .bind(fresh)
            .bind(corp_id)
            .bind(customer_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT token FROM customer_links WHERE corp_id = $1 AND customer_id = $2 AND revoked_at IS NULL",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Retires the customer's live link (it was forwarded); the next
    /// [`Tx::customer_link`] makes a new one. False when there was none.
    pub async fn revoke_customer_link(&mut self, corp_id: i64, customer_id: i64, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE customer_links SET revoked_at = $1 WHERE corp_id = $2 AND customer_id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(corp_id)
            .bind(customer_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}
