//! Refunds: full or partial, each known by the shop's refund id, never more
//! than the order's paid amount in total.

use crate::error::Checker;
use crate::order::OrderStatus;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A refund as reported, unchecked. `amount_fen` absent refunds what is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundDraft {
    /// The shop's refund id; the same id again is the same refund.
    pub refund_id: String,
    #[serde(default)]
    pub amount_fen: Option<i64>,
    #[serde(default)]
    pub reason: String,
}

/// A checked refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRefund {
    pub refund_id: String,
    /// `None`: everything still refundable.
    pub amount_fen: Option<i64>,
    pub reason: String,
}

impl RefundDraft {
    pub fn validate(&self) -> Result<NewRefund, ValidationError> {
        let mut c = Checker::default();
        let refund_id = c.ident("refund_id", &self.refund_id, 64, &['-', '_', '.', ':', '/', '#']);
        if self.amount_fen.is_some_and(|a| a < 1) {
            c.push("amount_fen", "out_of_range", "a refund is at least 1 fen");
        }
        let reason = c.text("reason", &self.reason, 200, false);
        c.finish(NewRefund { refund_id, amount_fen: self.amount_fen, reason })
    }
}

/// What a refund does to its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefundPlan {
    /// Fen this refund gives back.
    pub fen: i64,
    /// The order's refunded total afterwards.
    pub refunded_fen: i64,
    pub status: OrderStatus,
    /// True when this refund leaves nothing paid: the order no longer counts.
    pub full: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("the order is refunded in full already")]
    NothingLeft,
    #[error("{asked} fen is more than the {left} fen still refundable")]
    MoreThanPaid { asked: i64, left: i64 },
}

impl RefundError {
    pub fn code(&self) -> &'static str {
        match self {
            RefundError::NothingLeft => "already_refunded",
            RefundError::MoreThanPaid { .. } => "refund_exceeds_paid",
        }
    }
}

/// Plans a refund of `asked` fen (`None`: the rest) on an order that was
/// paid `paid_fen` and has had `refunded_fen` refunded so far. A refund
/// never takes the total past what was paid; the last fen makes it full.
/// An order paid 0 fen (all coupon) is refunded in full by any refund of
/// `None`.
pub fn plan_refund(paid_fen: i64, refunded_fen: i64, asked: Option<i64>) -> Result<RefundPlan, RefundError> {
    let left = (paid_fen - refunded_fen).max(0);
    if left == 0 && refunded_fen > 0 {
        return Err(RefundError::NothingLeft);
    }
    let fen = asked.unwrap_or(left);
    if fen > left {
        return Err(RefundError::MoreThanPaid { asked: fen, left });
    }
    let total = refunded_fen + fen;
    let full = total >= paid_fen;
    Ok(RefundPlan {
        fen,
        refunded_fen: total,
        status: if full { OrderStatus::Refunded } else { OrderStatus::PartRefunded },
        full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_then_the_rest() {
        let p = plan_refund(1000, 0, Some(300)).unwrap();
        assert_eq!((p.fen, p.refunded_fen, p.status, p.full), (300, 300, OrderStatus::PartRefunded, false));
        let q = plan_refund(1000, 300, None).unwrap();
        assert_eq!((q.fen, q.refunded_fen, q.status, q.full), (700, 1000, OrderStatus::Refunded, true));
        assert_eq!(plan_refund(1000, 1000, None), Err(RefundError::NothingLeft));
        assert_eq!(plan_refund(1000, 300, Some(701)), Err(RefundError::MoreThanPaid { asked: 701, left: 700 }));
    }

    #[test]
    fn a_free_order_is_refunded_whole() {
        let p = plan_refund(0, 0, None).unwrap();
        assert!(p.full && p.fen == 0);
    }

    #[test]
    fn refund_ids_and_amounts_are_checked() {
        let bad = RefundDraft { refund_id: "".into(), amount_fen: Some(0), reason: "x".repeat(201) };
        assert_eq!(bad.validate().unwrap_err().0.len(), 3);
    }

    proptest! {
        /// Whatever refunds are asked, in any order, the refunded total never
        /// passes the paid amount, only the refund that reaches it is full,
        /// and the amounts given back sum to the total.
        #[test]
        fn refunds_never_exceed_paid(paid in 0i64..100_000, asks in proptest::collection::vec(proptest::option::of(1i64..60_000), 0..12)) {
            let mut refunded = 0;
            let mut given = 0;
            let mut fulls = 0;
            for a in asks {
                match plan_refund(paid, refunded, a) {
                    Ok(p) => {
                        prop_assert!(p.refunded_fen <= paid.max(0));
                        prop_assert_eq!(p.refunded_fen, refunded + p.fen);
                        prop_assert_eq!(p.full, p.refunded_fen == paid);
                        fulls += u32::from(p.full);
                        refunded = p.refunded_fen;
                        given += p.fen;
                    }
                    Err(RefundError::MoreThanPaid { asked, left }) => prop_assert!(asked > left),
                    Err(RefundError::NothingLeft) => prop_assert!(refunded >= paid && refunded > 0),
                }
            }
            prop_assert_eq!(given, refunded);
            prop_assert!(fulls <= 1 || paid == 0);
        }
    }
}
