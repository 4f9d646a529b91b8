//! The dashboard's arithmetic, kept here so the API, the console and the CSV
//! export agree on it.

use serde::Serialize;

/// The viral coefficient: retained new customers each participant brought.
/// Above 1 a campaign grows by itself. Participants who never shared count
/// too: K is about everyone the campaign reached.
pub fn k_factor(valid_invites: i64, participants: i64) -> f64 {
    if participants <= 0 {
        0.0
    } else {
        valid_invites as f64 / participants as f64
    }
}

/// Reward cost of each retained new customer, in fen (None before the first).
pub fn cost_per_retained(cost_fen: i64, valid_invites: i64) -> Option<i64> {
    (valid_invites > 0).then(|| (cost_fen + valid_invites / 2) / valid_invites)
}

/// Share of decided invites that were rejected, 0..=1.
pub fn rejection_rate(valid: i64, rejected: i64) -> f64 {
    let decided = valid + rejected;
    if decided == 0 {
        0.0
    } else {
        rejected as f64 / decided as f64
    }
}

/// Counts per reason for the risk report, in a fixed order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: String,
    pub invites: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_and_cost_are_plain_ratios() {
        assert_eq!(k_factor(150, 100), 1.5);
        assert_eq!(k_factor(5, 0), 0.0);
        assert_eq!(cost_per_retained(2_000, 3), Some(667));
        assert_eq!(cost_per_retained(2_000, 0), None);
        assert_eq!(rejection_rate(3, 1), 0.25);
        assert_eq!(rejection_rate(0, 0), 0.0);
    }
}
