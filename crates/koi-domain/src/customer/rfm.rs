//! RFM bands (recency, frequency, monetary), each 1 (worst) ..= 5 (best),
//! from band edges an operator can adjust. The defaults suit Chinese retail:
//! a month is a normal repurchase gap, a season a worrying one, and a
//! ¥300 basket an ordinary customer.

use super::{days_since, Activity};
use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// Ascending band edges for the three dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RfmRules {
    /// Days since the last order: band 5 if ≤ `[0]`, 4 if ≤ `[1]`, 3 if
    /// ≤ `[2]`, 2 if ≤ `[3]`, else 1.
    pub recency_days: [u32; 4],
    /// Orders: band 5 if ≥ `[3]`, 4 if ≥ `[2]`, 3 if ≥ `[1]`, 2 if ≥ `[0]`, else 1.
    pub frequency: [u32; 4],
    /// Spent net of refunds, in fen, banded like frequency.
    pub monetary_fen: [i64; 4],
}

impl Default for RfmRules {
    fn default() -> Self {
        Self {
            recency_days: [7, 30, 90, 180],
            frequency: [2, 3, 5, 10],
            monetary_fen: [300 * 100, 800 * 100, 2000 * 100, 5000 * 100],
        }
    }
}

impl RfmRules {
    /// Every edge positive and each list strictly increasing, so every band
    /// can be reached.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.check(&mut c, "");
        c.finish(())
    }

    pub(crate) fn check(&self, c: &mut Checker, prefix: &str) {
        edges(c, &format!("{prefix}recency_days"), &self.recency_days.map(i64::from));
        edges(c, &format!("{prefix}frequency"), &self.frequency.map(i64::from));
        edges(c, &format!("{prefix}monetary_fen"), &self.monetary_fen);
    }

    /// `[r, f, m]` bands 1..=5 at `now`; all `None` for a customer with no
    /// orders, who has no purchase behaviour to band. Recency is `None` too
    /// when orders were imported without a date.
    pub fn score(&self, a: &Activity, now: Millis) -> [Option<u8>; 3] {
        if a.orders == 0 {
            return [None; 3];
        }
        let r = a.last_order_at.map(|t| {
            let days = days_since(t, now);
            5 - self.recency_days.iter().take_while(|&&edge| days > i64::from(edge)).count() as u8
        });
        let f = at_least_band(&self.frequency.map(i64::from), i64::from(a.orders));
        let m = at_least_band(&self.monetary_fen, a.spent_fen);
        [r, Some(f), Some(m)]
    }
}

/// 1 plus the number of edges `value` reaches.
fn at_least_band(edges: &[i64; 4], value: i64) -> u8 {
    1 + edges.iter().filter(|&&edge| value >= edge).count() as u8
}

fn edges(c: &mut Checker, field: &str, edges: &[i64; 4]) {
    if edges.iter().any(|&e| e <= 0) {
        c.push(field, "out_of_range", "band edges must be positive");
    } else if edges.windows(2).any(|w| w[0] >= w[1]) {
        c.push(field, "not_increasing", "band edges must be strictly increasing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::DAY_MS;
    use crate::segment::RFM_BANDS;
    use proptest::prelude::*;

    const NOW: Millis = 1_000 * DAY_MS;

    fn buyer(days_ago: i64, orders: u32, spent_fen: i64) -> Activity {
        Activity { orders, spent_fen, last_order_at: Some(NOW - days_ago * DAY_MS), ..Activity::default() }
    }

    fn r(days_ago: i64) -> Option<u8> {
        RfmRules::default().score(&buyer(days_ago, 1, 1), NOW)[0]
    }

    fn f(orders: u32) -> Option<u8> {
        RfmRules::default().score(&buyer(0, orders, 1), NOW)[1]
    }

    fn m(spent_fen: i64) -> Option<u8> {
        RfmRules::default().score(&buyer(0, 1, spent_fen), NOW)[2]
    }

    #[test]
    fn recency_edges_are_inclusive() {
        let got: Vec<_> = [0, 7, 8, 30, 31, 90, 91, 180, 181, 5000].into_iter().map(r).collect();
        let want = [5, 5, 4, 4, 3, 3, 2, 2, 1, 1].map(Some);
        assert_eq!(got, want);
        // 7 days and 23 hours is still 7 whole days.
        let a = Activity { last_order_at: Some(NOW - 8 * DAY_MS + 1), ..buyer(0, 1, 1) };
        assert_eq!(RfmRules::default().score(&a, NOW)[0], Some(5));
        // An order stamped in the future is as recent as can be.
        assert_eq!(r(-3), Some(5));
    }

    #[test]
    fn frequency_and_monetary_edges_are_inclusive() {
        let got: Vec<_> = [1, 2, 3, 4, 5, 9, 10, 500].into_iter().map(f).collect();
        assert_eq!(got, [1, 2, 3, 3, 4, 4, 5, 5].map(Some));
        let got: Vec<_> = [0, 29_999, 30_000, 79_999, 80_000, 200_000, 499_999, 500_000].into_iter().map(m).collect();
        assert_eq!(got, [1, 1, 2, 2, 3, 4, 4, 5].map(Some));
    }

    #[test]
    fn no_orders_no_bands() {
        assert_eq!(RfmRules::default().score(&Activity::default(), NOW), [None; 3]);
        let undated = Activity { orders: 2, spent_fen: 100_000, ..Activity::default() };
        assert_eq!(RfmRules::default().score(&undated, NOW), [None, Some(2), Some(3)]);
    }

    #[test]
    fn validate_wants_positive_increasing_edges() {
        assert!(RfmRules::default().validate().is_ok());
        let bad = RfmRules { recency_days: [0, 30, 90, 180], frequency: [2, 3, 3, 10], monetary_fen: [4, 3, 2, 1] };
        let got: Vec<_> = bad.validate().unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect();
        let want =
            [("recency_days", "out_of_range"), ("frequency", "not_increasing"), ("monetary_fen", "not_increasing")];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    proptest! {
        #[test]
        fn bands_stay_in_range_and_are_monotone(
            days in 0i64..1000, orders in 1u32..50, spent in 0i64..2_000_000, more in 0i64..1_000_000,
        ) {
            let rules = RfmRules::default();
            let [r, f, m] = rules.score(&buyer(days, orders, spent), NOW);
            for band in [r, f, m] {
                prop_assert!(band.is_some_and(|b| RFM_BANDS.contains(&b)));
            }
            let [r2, f2, m2] = rules.score(&buyer(days + 1, orders + 1, spent + more), NOW);
            prop_assert!(r2 <= r && f2 >= f && m2 >= m);
        }
    }
}
