//! Dense customer numbers and what a customer has done: behaviour counters
//! and the computed value (lifecycle stage, RFM bands, influence).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::dialect;
use crate::Result;

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

pub(super) const ACTIVITY_COLUMNS: &str =
    "id, no, added_at, last_active_at, orders, spent_fen, first_order_at, last_order_at, \
     friends_brought, groups_joined, shares, stage, rfm_r, rfm_f, rfm_m, influence, home_lat, home_lng";

impl Tx {
    /// The corp's next dense customer number (see [`dialect::next_customer_no`]).
    pub(crate) async fn next_customer_no(&mut self, corp_id: i64) -> Result<i64> {
        dialect::next_customer_no(self, corp_id).await
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
}
