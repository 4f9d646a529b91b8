//! What an order earns beyond the customer's counters, in one place.
//!
//! [`after_order`] runs inside the transaction that made the change, once
//! per change: when an order first counts for a customer (at ingest, or when
//! a customer who bought before adding is matched later) with
//! [`OrderChange::Paid`], and for each refund recorded against a counted
//! order with [`OrderChange::Refunded`]. A late-matched order that was
//! refunded while it waited gets `Paid` then `Refunded` for the total.
//!
//! Today it grants nothing of its own: the customer's counters, stage, RFM,
//! tag rules and timeline move through the behaviour path before it is
//! called. This is where the next modules plug in, each inside `tx`:
//! - points (earn `paid_fen × rate` on `Paid`, take back on `Refunded`),
//! - coupon use (a refund in full gives the coupon back, if still valid),
//! - commission (level 1 and 2 distributors of `customer_id`, pending
//!   until the refund window passes; reversed on `Refunded`).
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
pub(crate) async fn after_order(_tx: &mut Tx, _corp_id: i64, _order: &OrderFacts, _change: OrderChange) -> Result<()> {
    Ok(())
}
