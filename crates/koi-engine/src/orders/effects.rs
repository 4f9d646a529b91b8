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
//!   until the refund window passes; on `Refunded` cut while pending, and
//!   clawed back once settled or paid — a negative entry netted against
//!   the distributor's next payout: `distribution::on_order_refunded`).
//!
//! Each must be idempotent by `order_id` (and the refund's fen): ingest and
//! refund call here exactly once per change, but a module's own ledger is
//! the place that proves it.

use crate::distribution::CommissionOrder;
use crate::Result;
use koi_domain::distribution::OrderLine;
use koi_store::orders::OrderItemRow;
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
            let items = tx.order_items_in(order.order_id).await?;
            let lines = commission_lines(&items, order.paid_fen);
            let c = CommissionOrder {
                order_ref: order_ref.to_string(),
                customer_id: customer,
                paid_at: order.ordered_at,
                lines,
            };
            crate::distribution::on_order_paid(tx, corp_id, &c).await?;
        }
        OrderChange::Refunded { whole, .. } => {
            crate::points::reverse_for_order(tx, corp_id, customer, order_ref, order.refunded_fen).await?;
            if whole {
                crate::coupons::release_for_refund(tx, corp_id, order_ref).await?;
            }
            crate::distribution::on_order_refunded(tx, corp_id, order_ref, order.refunded_fen).await?;
        }
    }
    Ok(())
}

/// The order's lines as commission sees them: each line's share of what was
/// paid (a discount lowers every line alike), rounded down; one line
/// without a SKU when the shop sent no items.
fn commission_lines(items: &[OrderItemRow], paid_fen: i64) -> Vec<OrderLine> {
    let subtotal: i64 = items.iter().map(|i| i.qty * i.price_fen).sum();
    if subtotal <= 0 {
        return vec![OrderLine { sku: String::new(), amount_fen: paid_fen }];
    }
    items
        .iter()
        .map(|i| OrderLine {
            sku: i.sku.clone(),
            amount_fen: ((i.qty * i.price_fen) as i128 * paid_fen as i128 / subtotal as i128) as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sku: &str, qty: i64, price_fen: i64) -> OrderItemRow {
        OrderItemRow { line: 0, sku: sku.into(), name: String::new(), qty, price_fen }
    }

    #[test]
    fn commission_lines_share_what_was_paid() {
        let lines = commission_lines(&[item("A", 2, 3000), item("B", 1, 4000)], 5000);
        let got: Vec<(&str, i64)> = lines.iter().map(|l| (l.sku.as_str(), l.amount_fen)).collect();
        assert_eq!(got, [("A", 3000), ("B", 2000)], "a 50-off coupon lowers both lines by half");
        let none = commission_lines(&[], 1234);
        assert_eq!((none.len(), none[0].sku.as_str(), none[0].amount_fen), (1, "", 1234));
        let sum: i64 = commission_lines(&[item("A", 3, 333), item("B", 7, 1)], 1000).iter().map(|l| l.amount_fen).sum();
        assert!(sum <= 1000, "never more than paid");
    }
}
