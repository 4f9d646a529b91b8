//! The fatigue cap (疲劳度): across all of koi — mass sends, SOP pushes,
//! campaign notices — a customer is touched at most `max_touches` times in
//! any `window_hours`. A touch is counted once per (customer, source, ref):
//! deciding again for the same send never counts it twice. A customer over
//! the cap is skipped with the reason [`SkipReason::FatigueCap`].

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

use crate::error::{Checker, ValidationError};

/// The longest window an operator may set: 90 days.
pub const MAX_WINDOW_HOURS: u32 = 90 * 24;
pub const MAX_TOUCHES: u32 = 100;

/// A corp's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FatigueCap {
    /// Off: every customer is admitted (touches are still counted).
    pub enabled: bool,
    /// Touches a customer may get in any window; 1..=100.
    pub max_touches: u32,
    /// The window's length in hours; 1..=2160 (90 days).
    pub window_hours: u32,
}

impl Default for FatigueCap {
    /// Three touches a week: what operators in the seeds call "not annoying".
    fn default() -> Self {
        Self { enabled: true, max_touches: 3, window_hours: 7 * 24 }
    }
}

impl FatigueCap {
    pub fn validate(&self) -> Result<FatigueCap, ValidationError> {
        let mut c = Checker::default();
        if !(1..=MAX_TOUCHES).contains(&self.max_touches) {
            c.push("max_touches", "out_of_range", format!("max_touches must be 1..={MAX_TOUCHES}"));
        }
        if !(1..=MAX_WINDOW_HOURS).contains(&self.window_hours) {
            c.push("window_hours", "out_of_range", format!("window_hours must be 1..={MAX_WINDOW_HOURS}"));
        }
        c.finish(*self)
    }

    /// The earliest touch time (ms) still inside the window ending at `now`.
    pub fn window_start(&self, now: i64) -> i64 {
        now - i64::from(self.window_hours) * 3_600_000
    }
}

/// Why a customer of an outreach was not sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Touched `max_touches` times in the window already.
    FatigueCap,
    /// No live follow with an active guide: nobody can send it.
    NoGuide,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::FatigueCap => "fatigue_cap",
            SkipReason::NoGuide => "no_guide",
        }
    }

    pub fn parse(s: &str) -> Option<SkipReason> {
        match s {
            "fatigue_cap" => Some(SkipReason::FatigueCap),
            "no_guide" => Some(SkipReason::NoGuide),
            _ => None,
        }
    }
}

/// Who may be touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    /// In the order asked, each once: a touch is (or was already) recorded.
    pub admitted: Vec<i64>,
    pub skipped: Vec<(i64, SkipReason)>,
}

/// Decides each customer once. `prior` counts each customer's touches in
/// the window from *other* (source, ref)s; `already` are the customers this
/// (source, ref) touched before (admitted again, not counted again).
pub fn decide(
    cap: &FatigueCap,
    customers: &[i64],
    prior: &HashMap<i64, u32>,
    already: &HashSet<i64>,
) -> Admitted {
    let mut seen = HashSet::with_capacity(customers.len());
    let mut out = Admitted::default();
    for &c in customers {
        if !seen.insert(c) {
            continue;
        }
        if already.contains(&c) {
            out.admitted.push(c);
            continue;
        }
        let used = prior.get(&c).copied().unwrap_or(0);
        if cap.enabled && used >= cap.max_touches {
            out.skipped.push((c, SkipReason::FatigueCap));
        } else {
            out.admitted.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_customer_touched_twice_is_skipped_under_a_cap_of_two() {
        let cap = FatigueCap { enabled: true, max_touches: 2, window_hours: 24 };
        let prior = HashMap::from([(1, 2), (2, 1)]);
        let a = decide(&cap, &[1, 2, 3, 2], &prior, &HashSet::new());
        assert_eq!(a.admitted, [2, 3]);
        assert_eq!(a.skipped, [(1, SkipReason::FatigueCap)]);
        assert_eq!(SkipReason::FatigueCap.as_str(), "fatigue_cap");
    }

    #[test]
    fn deciding_again_for_the_same_send_admits_without_counting() {
        let cap = FatigueCap { enabled: true, max_touches: 1, window_hours: 24 };
        // Customer 1's one touch is this send's own: admitted again.
        let a = decide(&cap, &[1], &HashMap::new(), &HashSet::from([1]));
        assert_eq!(a.admitted, [1]);
    }

    #[test]
    fn an_off_cap_admits_everyone_and_bad_settings_are_refused() {
        let cap = FatigueCap { enabled: false, max_touches: 1, window_hours: 24 };
        let a = decide(&cap, &[1], &HashMap::from([(1, 50)]), &HashSet::new());
        assert_eq!(a.admitted, [1]);
        let bad = FatigueCap { enabled: true, max_touches: 0, window_hours: 0 };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.0.len(), 2);
        assert!(FatigueCap::default().validate().is_ok());
    }

    proptest! {
        /// Each customer is decided once, and admitting never takes a
        /// customer past the cap: replaying decisions in sequence (each
        /// admitted customer's count growing by one) keeps every count ≤ N
        /// for customers that started at or under it.
        #[test]
        fn each_customer_once_and_the_cap_is_never_exceeded(
            max in 1u32..5,
            sends in proptest::collection::vec(proptest::collection::vec(0i64..30, 0..40), 1..8),
        ) {
            let cap = FatigueCap { enabled: true, max_touches: max, window_hours: 24 };
            let mut counts: HashMap<i64, u32> = HashMap::new();
            for send in &sends {
                let a = decide(&cap, send, &counts, &HashSet::new());
                let mut all: Vec<i64> = a.admitted.iter().copied().chain(a.skipped.iter().map(|s| s.0)).collect();
                let n = all.len();
                all.sort_unstable();
                all.dedup();
                prop_assert_eq!(all.len(), n, "a customer decided twice");
                let mut asked: Vec<i64> = send.clone();
                asked.sort_unstable();
                asked.dedup();
                prop_assert_eq!(all, asked, "every customer asked is decided");
                for c in a.admitted {
                    *counts.entry(c).or_default() += 1;
                }
                prop_assert!(counts.values().all(|&v| v <= max));
            }
        }
    }
}
