//! Points for coming back and for reviewing: a daily check-in from the
//! wallet (once a customer and Asia/Shanghai day; every `streak_days`-th
//! day in a row earns the streak bonus) and a review of a done order
//! (once an order, from the customer's H5 page or a shop through the API).
//! Each is a row whose key makes it once (`koi-store/src/loyalty.rs`) and
//! an earn on the ledger in the same transaction, so the balance stays the
//! ledger's sum.

use super::{earn_in, rules_of};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::coupon::points::{check_review, day_before, next_streak, shanghai_day, EntryKind};
use koi_domain::ValidationError;
use koi_store::now_ms;
use koi_store::orders::OrderFilter;
use serde::Serialize;

/// A day's check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checkin {
    /// The Asia/Shanghai day, `YYYY-MM-DD`.
    pub day: String,
    /// Days in a row up to this one.
    pub streak: i32,
    /// What this check-in earned (check-in points and any streak bonus).
    pub points: i64,
    /// The customer had checked in on this day already: nothing changed.
    pub already: bool,
    pub balance: i64,
}

/// A review of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    /// 1..=5 stars.
    pub rating: i32,
    pub body: String,
    /// What the review earned.
    pub points: i64,
    pub created_at: i64,
}

impl From<koi_store::loyalty::ReviewRow> for Review {
    fn from(r: koi_store::loyalty::ReviewRow) -> Self {
        Review {
            id: r.id,
            order_id: r.order_id,
            customer_id: r.customer_id,
            rating: r.rating,
            body: r.body,
            points: r.points,
            created_at: r.created_at,
        }
    }
}

/// An order the wallet offers to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewable {
    pub order_id: i64,
    pub shop_order_id: String,
    pub paid_fen: i64,
    pub ordered_at: i64,
}

impl Engine {
    /// Checks in the customer a link token names, once a Shanghai day.
    pub async fn wallet_checkin(&self, token: &str) -> Result<Checkin> {
        let (corp_id, customer_id) = self.customer_by_link(token).await?;
        self.checkin(corp_id, customer_id, now_ms()).await
    }

    /// A check-in at `now`: the day's row and its earn in one transaction;
    /// a second on the same day (another tap, another node) answers the
    /// first with `already`.
    pub(crate) async fn checkin(&self, corp_id: i64, customer_id: i64, now: i64) -> Result<Checkin> {
        let day = shanghai_day(now);
        let yesterday = day_before(&day).expect("shanghai_day makes dates");
        let mut tx = self.db.begin().await?;
        // The account's row first: it serialises this customer's writes, so
        // two taps at once read the same streak and one of them inserts.
        tx.move_points_balance(corp_id, customer_id, 0, now).await?;
        let rules = rules_of(tx.points_rules_in_tx(corp_id).await?);
        if let Some(streak) = tx.checkin_streak(corp_id, customer_id, &day).await? {
            drop(tx);
            return self.checkin_view(corp_id, customer_id, day, streak, true).await;
        }
        let streak = next_streak(tx.checkin_streak(corp_id, customer_id, &yesterday).await?);
        let points = rules.for_checkin(streak);
        if !tx.insert_checkin(corp_id, customer_id, &day, streak, points, now).await? {
            drop(tx);
            return self.checkin_view(corp_id, customer_id, day, streak, true).await;
        }
        let by = format!("customer:{customer_id}");
        let reason = if points > rules.checkin { format!("连续签到 {streak} 天") } else { String::new() };
        earn_in(&mut tx, corp_id, customer_id, points, EntryKind::Checkin, &reason, &day, 0, &by, now).await?;
        tx.commit().await?;
        self.checkin_view(corp_id, customer_id, day, streak, false).await
    }

    async fn checkin_view(
        &self,
        corp_id: i64,
        customer_id: i64,
        day: String,
        streak: i32,
        already: bool,
    ) -> Result<Checkin> {
        let last = self.db.last_checkin(corp_id, customer_id).await?;
        let points = last.filter(|l| l.day == day).map_or(0, |l| l.points);
        let balance = self.db.points_balance(corp_id, customer_id).await?;
        Ok(Checkin { day, streak, points, already, balance })
    }

    /// The customer's check-in of today (Shanghai), if any.
    pub(crate) async fn today_checkin(&self, corp_id: i64, customer_id: i64) -> Result<Option<(i32, i64)>> {
        let today = shanghai_day(now_ms());
        Ok(self.db.last_checkin(corp_id, customer_id).await?.filter(|l| l.day == today).map(|l| (l.streak, l.points)))
    }

    /// A shop posts its customer's review of an order
    /// (`POST /api/v1/orders/{id}/review`).
    pub async fn review_order(&self, who: &Principal, order_id: i64, rating: i32, body: &str) -> Result<Review> {
        require(who, Action::ManageOrders)?;
        self.review(who.corp_id, None, order_id, rating, body).await
    }

    /// The customer a link token names reviews one of their orders.
    pub async fn wallet_review(&self, token: &str, order_id: i64, rating: i32, body: &str) -> Result<Review> {
        let (corp_id, customer_id) = self.customer_by_link(token).await?;
        self.review(corp_id, Some(customer_id), order_id, rating, body).await
    }

    pub async fn order_review(&self, who: &Principal, order_id: i64) -> Result<Option<Review>> {
        require(who, Action::ViewOrders)?;
        Ok(self.db.order_review(who.corp_id, order_id).await?.map(Review::from))
    }

    /// A review: the order must be done and matched to its customer (and,
    /// from the wallet, be theirs); once an order; it earns the review
    /// points in the same transaction.
    async fn review(
        &self,
        corp_id: i64,
        customer: Option<i64>,
        order_id: i64,
        rating: i32,
        body: &str,
    ) -> Result<Review> {
        let body = check_review(rating, body)?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let order = tx.order_row(corp_id, order_id).await?.ok_or(EngineError::NotFound("order"))?;
        let Some(owner) = order.customer_id else {
            return Err(ValidationError::one("order_id", "unmatched_order", "the order has no customer yet").into());
        };
        if customer.is_some_and(|c| c != owner) {
            return Err(EngineError::NotFound("order"));
        }
        if order.status != "done" {
            return Err(ValidationError::one(
                "order_id",
                "order_not_done",
                format!("the order is {}; a review waits until it is done", order.status),
            )
            .into());
        }
        tx.move_points_balance(corp_id, owner, 0, now).await?;
        let points = rules_of(tx.points_rules_in_tx(corp_id).await?).review;
        let Some(id) = tx.insert_review(corp_id, order_id, owner, rating, &body, points, now).await? else {
            return Err(EngineError::Conflict { what: "a review of this order" });
        };
        let by = format!("customer:{owner}");
        let reference = order.shop_order_id.clone();
        earn_in(&mut tx, corp_id, owner, points, EntryKind::Review, "", &reference, 0, &by, now).await?;
        tx.commit().await?;
        Ok(Review { id, order_id, customer_id: owner, rating, body, points, created_at: now })
    }

    /// The customer's done orders not reviewed yet, newest first (at most 20).
    pub(crate) async fn reviewable_orders(&self, corp_id: i64, customer_id: i64) -> Result<Vec<Reviewable>> {
        let f = OrderFilter { status: Some("done".into()), customer_id: Some(customer_id), ..Default::default() };
        let (rows, _) = self.db.orders_page(corp_id, &f, 20, 0).await?;
        let done = self.db.reviewed_orders(corp_id, customer_id).await?;
        Ok(rows
            .into_iter()
            .filter(|o| !done.contains(&o.id))
            .map(|o| Reviewable {
                order_id: o.id,
                shop_order_id: o.shop_order_id,
                paid_fen: o.paid_fen,
                ordered_at: o.ordered_at,
            })
            .collect())
    }
}
