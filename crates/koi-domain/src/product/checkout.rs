//! A checkout's life: `created` (stock reserved, waiting for WeChat Pay) →
//! `paid` (the notification or a query said so) | `closed` (expired or
//! never paid; its stock given back); a paid one may then be
//! `part_refunded` and `refunded`.

use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// How long a created checkout waits for payment before it closes.
pub const PAY_WINDOW_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutState {
    Created,
    Paid,
    Closed,
    PartRefunded,
    Refunded,
}

impl CheckoutState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutState::Created => "created",
            CheckoutState::Paid => "paid",
            CheckoutState::Closed => "closed",
            CheckoutState::PartRefunded => "part_refunded",
            CheckoutState::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => CheckoutState::Created,
            "paid" => CheckoutState::Paid,
            "closed" => CheckoutState::Closed,
            "part_refunded" => CheckoutState::PartRefunded,
            "refunded" => CheckoutState::Refunded,
            _ => return None,
        })
    }

    /// Whether the customer's money arrived.
    pub fn was_paid(self) -> bool {
        matches!(self, CheckoutState::Paid | CheckoutState::PartRefunded | CheckoutState::Refunded)
    }

    /// The state after `refunded_fen` of `total_fen` went back.
    pub fn after_refund(total_fen: i64, refunded_fen: i64) -> Self {
        if refunded_fen >= total_fen {
            CheckoutState::Refunded
        } else if refunded_fen > 0 {
            CheckoutState::PartRefunded
        } else {
            CheckoutState::Paid
        }
    }
}

/// Checks a refund of `amount_fen` against a checkout.
pub struct RefundCheck {
    pub state: CheckoutState,
    pub total_fen: i64,
    /// Refunds asked for so far (done or in flight).
    pub refunded_fen: i64,
}

impl RefundCheck {
    /// The amount to refund: `None` is everything left.
    pub fn amount(&self, amount_fen: Option<i64>) -> Result<i64, ValidationError> {
        if !self.state.was_paid() {
            return Err(ValidationError::one("state", "not_paid", "only a paid checkout can be refunded"));
        }
        let left = self.total_fen - self.refunded_fen;
        let amount = amount_fen.unwrap_or(left);
        if left <= 0 {
            return Err(ValidationError::one("amount_fen", "nothing_left", "the checkout is refunded in full"));
        }
        if amount < 1 || amount > left {
            return Err(ValidationError::one("amount_fen", "out_of_range", format!("a refund is 1–{left} fen")));
        }
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_take_at_most_what_is_left_of_a_paid_checkout() {
        let c = |state, refunded_fen| RefundCheck { state, total_fen: 1990, refunded_fen };
        assert_eq!(c(CheckoutState::Paid, 0).amount(None), Ok(1990));
        assert_eq!(c(CheckoutState::PartRefunded, 990).amount(None), Ok(1000));
        assert_eq!(c(CheckoutState::Paid, 0).amount(Some(500)), Ok(500));
        assert!(c(CheckoutState::Paid, 0).amount(Some(1991)).is_err());
        assert!(c(CheckoutState::Paid, 0).amount(Some(0)).is_err());
        assert!(c(CheckoutState::Created, 0).amount(None).is_err());
        assert!(c(CheckoutState::Refunded, 1990).amount(None).is_err());
        assert_eq!(CheckoutState::after_refund(1990, 990), CheckoutState::PartRefunded);
        assert_eq!(CheckoutState::after_refund(1990, 1990), CheckoutState::Refunded);
        for s in ["created", "paid", "closed", "part_refunded", "refunded"] {
            assert_eq!(CheckoutState::parse(s).map(CheckoutState::as_str), Some(s));
        }
    }
}
