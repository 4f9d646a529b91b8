//! What an order earns beyond the customer's counters, in one place.
//!
//! [`after_order`] runs inside the transaction that made the change, once
//! per change: when an order first counts for a customer (at ingest, or when
//! a customer who bought before adding is matched later) with
//! [`OrderChange::Paid`], and for each refund recorded against a counted
//! order with [`OrderChange::Refunded`]. A late-matched order that was
//! refunded while it waited gets `Paid` then `Refunded` for the total.
//!
//! The customer's counters, stage, RFM, tag rules and timeline move through
//! the behaviour path before it is called. Here, each inside `tx`:
//! - points (earn `paid_fen × rate` on `Paid`, take back the refunded share
//!   on `Refunded`: `points::earn_for_order` / `reverse_for_order`),
//! - coupon use (a refund in full gives the coupon back, if still valid:
//!   `coupons::release_for_refund`),
//! - commission (level 1 and 2 distributors of `customer_id`, pending
//!   until the refund window passes; cut on `Refunded`: `distribution`).
//!
//! Each must be idempotent by `order_id` (and the refund's fen): ingest and
//! refund call here exactly once per change, but a module's own ledger is
//! the place that proves it.

use crate::Result;
use koi_store::Tx;

/// What an effect needs to know about the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub order_id: i64,
    pub shop_order_id: String,
    /// The customer it counts for (always set when [`after_order`] runs).
    pub customer_id: i64,
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
    pub paid_fen: i64,
    /// Refunded so far, this change included.
    pub refunded_fen: i64,
    pub ordered_at: i64,
    /// The customer's first order.
    pub first_order: bool,
}

/// The change an order went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderChange {
    /// The order counts for its customer now.
    Paid,
    /// `fen` were given back; `whole` when nothing paid is left.
    Refunded { fen: i64, whole: bool },
}

/// Grants or takes back what the order earned (see the module doc).
pub(crate) async fn after_order(tx: &mut Tx, corp_id: i64, order: &OrderFacts, change: OrderChange) -> Result<()> {
    let (customer, order_ref) = (order.customer_id, order.shop_order_id.as_str());
    match change {
        OrderChange::Paid => {
            crate::points::earn_for_order(tx, corp_id, customer, order_ref, order.paid_fen).await?;
        }
        OrderChange::Refunded { whole, .. } => {
            crate::points::reverse_for_order(tx, corp_id, customer, order_ref, order.refunded_fen).await?;
            if whole {
                crate::coupons::release_for_refund(tx, corp_id, order_ref).await?;
            }
        }
    }
    Ok(())
}
