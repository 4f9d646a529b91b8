//! Points a customer earns by coming back and by reviewing: `points_checkins`
//! (one a customer and Asia/Shanghai day, with the streak) and
//! `order_reviews` (one an order). The points themselves go through the
//! ledger (`coupons.rs`); these rows are what makes each earn once, on
//! either backend, even when two taps arrive on two nodes at once (the
//! second insert conflicts and changes nothing).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckinRow {
    pub day: String,
    pub streak: i32,
    pub points: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReviewRow {
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub rating: i32,
    pub body: String,
    pub points: i64,
    pub created_at: i64,
}

const REVIEW_COLUMNS: &str = "id, order_id, customer_id, rating, body, points, created_at";

impl Tx {
    /// The streak of the customer's check-in on `day`, if they checked in.
    pub async fn checkin_streak(&mut self, corp_id: i64, customer_id: i64, day: &str) -> Result<Option<i32>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT streak FROM points_checkins WHERE corp_id = $1 AND customer_id = $2 AND day = $3",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(day)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Records a check-in; false when the customer checked in on `day`
    /// already (nothing changes).
    pub async fn insert_checkin(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        day: &str,
        streak: i32,
        points: i64,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO points_checkins (corp_id, customer_id, day, streak, points, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(day)
            .bind(streak)
            .bind(points)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records a review; `None` when the order was reviewed already.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_review(
        &mut self,
        corp_id: i64,
        order_id: i64,
        customer_id: i64,
        rating: i32,
        body: &str,
        points: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO order_reviews (corp_id, order_id, customer_id, rating, body, points, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(order_id)
            .bind(customer_id)
            .bind(rating)
            .bind(body)
            .bind(points)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }
}

impl Db {
    /// The customer's latest check-in.
    pub async fn last_checkin(&self, corp_id: i64, customer_id: i64) -> Result<Option<CheckinRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT day, streak, points, created_at FROM points_checkins \
                 WHERE corp_id = $1 AND customer_id = $2 ORDER BY day DESC LIMIT 1",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_optional(c)
            .await
        })?)
    }

    pub async fn order_review(&self, corp_id: i64, order_id: i64) -> Result<Option<ReviewRow>> {
        let q = format!("SELECT {REVIEW_COLUMNS} FROM order_reviews WHERE corp_id = $1 AND order_id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&q).bind(corp_id).bind(order_id).fetch_optional(c).await)?)
    }

    /// The ids of the customer's orders they reviewed.
    pub async fn reviewed_orders(&self, corp_id: i64, customer_id: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT order_id FROM order_reviews WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_all(c)
                .await
        })?)
    }
}
