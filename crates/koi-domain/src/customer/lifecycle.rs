//! The five lifecycle stages, computed from [`Activity`] with rules an
//! operator can read in the console and adjust. Each answer carries a short
//! reason, so "why is this customer 蓄水?" is answered on the profile
//! instead of in a support ticket.
//!
//! Precedence, highest first: super (养大鱼) > converted (养鱼) > active
//! (活水) > new (引流) > stored (蓄水). A customer who bought is never
//! "only active", and one who engaged on day one is already active.

use super::{days_since, within_days, Activity};
use crate::error::Checker;
use crate::segment::Stage;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// The thresholds that place a customer in a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StageRules {
    /// 引流 new: added less than `new_days` ago, with no order and no engagement.
    pub new_days: u32,
    /// 活水 active: engaged less than `active_days` ago.
    pub active_days: u32,
    /// 养大鱼 super: at least this many orders …
    pub super_orders: u32,
    /// … or at least one order and an influence of at least this much.
    pub super_influence: u32,
}

impl Default for StageRules {
    fn default() -> Self {
        Self { new_days: 7, active_days: 30, super_orders: 3, super_influence: 20 }
    }
}

impl StageRules {
    /// Days 1..=365, super orders 2..=1000 (one order is 养鱼 already),
    /// super influence 1..=100,000.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.check(&mut c, "");
        c.finish(())
    }

    pub(crate) fn check(&self, c: &mut Checker, prefix: &str) {
        let mut range = |name: &str, v: u32, lo: u32, hi: u32| {
            if !(lo..=hi).contains(&v) {
                c.push(&format!("{prefix}{name}"), "out_of_range", format!("{name} {v} is not in {lo}..={hi}"));
            }
        };
        range("new_days", self.new_days, 1, 365);
        range("active_days", self.active_days, 1, 365);
        range("super_orders", self.super_orders, 2, 1000);
        range("super_influence", self.super_influence, 1, 100_000);
    }

    /// The stage of a customer at `now` and a short reason in English
    /// (`orders 3 ≥ 3`, `no activity for 30 days`); see [`StageRules::assess`]
    /// for the reason as data.
    pub fn stage(&self, a: &Activity, influence: u32, now: Millis) -> (Stage, String) {
        let (stage, why) = self.assess(a, influence, now);
        (stage, why.to_string())
    }

    /// The stage of a customer at `now` and why, as data a console can put
    /// in its own language. `influence` is [`Activity::influence`] under the
    /// corp's weights.
    ///
    /// Windows are half-open: a customer added exactly `new_days` ago is no
    /// longer new, and one last seen exactly `active_days` ago no longer active.
    pub fn assess(&self, a: &Activity, influence: u32, now: Millis) -> (Stage, StageReason) {
        if a.orders >= 1 {
            if a.orders >= self.super_orders {
                return (Stage::Super, StageReason::Orders { orders: a.orders, at_least: self.super_orders });
            }
            if influence >= self.super_influence {
                return (Stage::Super, StageReason::Influence { influence, at_least: self.super_influence });
            }
            return (Stage::Converted, StageReason::Orders { orders: a.orders, at_least: 1 });
        }
        if let Some(t) = a.last_active_at.filter(|&t| within_days(t, now, self.active_days)) {
            let days = days_since(t, now);
            return (Stage::Active, StageReason::ActiveRecently { days, within: self.active_days });
        }
        if within_days(a.added_at, now, self.new_days) {
            let days = days_since(a.added_at, now);
            return (Stage::New, StageReason::AddedRecently { days, within: self.new_days });
        }
        let reason = match a.last_active_at {
            Some(t) => StageReason::Inactive { days: days_since(t, now) },
            None => StageReason::InactiveSinceAdded { days: days_since(a.added_at, now) },
        };
        (Stage::Stored, reason)
    }

    /// The rules as sentences for the console, one per stage in the loop's
    /// order (引流 first): `(stage, zh-CN, en)`.
    pub fn describe(&self) -> Vec<(Stage, String, String)> {
        let StageRules { new_days: n, active_days: d, super_orders: o, super_influence: i } = *self;
        Stage::ALL
            .into_iter()
            .map(|s| {
                let (zh, en) = match s {
                    Stage::New => (
                        format!("添加不满 {n} 天，尚未下单或互动"),
                        format!("added less than {n} days ago, no order or engagement yet"),
                    ),
                    Stage::Stored => (
                        format!("添加已满 {n} 天，未下单，且 {d} 天内无互动"),
                        format!("added {n} or more days ago, no order, no engagement in the last {d} days"),
                    ),
                    Stage::Active => (
                        format!("{d} 天内有互动（回复、打开素材、进群、投票、参与活动、分享、带来好友），尚未下单"),
                        format!(
                            "engaged in the last {d} days (replied, opened material, joined a group or campaign, \
                             answered a poll, shared, brought a friend), no order yet"
                        ),
                    ),
                    Stage::Converted => (
                        format!("已下单，但不足 {o} 单且影响力低于 {i}"),
                        format!("has ordered, but fewer than {o} orders and influence below {i}"),
                    ),
                    Stage::Super => (
                        format!("下单 {o} 次及以上，或已下单且影响力达到 {i}"),
                        format!("{o} or more orders, or has ordered and influence is {i} or more"),
                    ),
                };
                (s, zh, en)
            })
            .collect()
    }
}

/// Why a customer is at their stage, as data: the console says it in the
/// operator's language (`code` names the sentence, the rest fills it in);
/// `Display` is the English the event log has always carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum StageReason {
    /// `orders` ≥ `at_least` (1 for 养鱼, the rules' threshold for 养大鱼).
    Orders { orders: u32, at_least: u32 },
    /// Has ordered and influence ≥ `at_least`.
    Influence { influence: u32, at_least: u32 },
    /// Active `days` ago, inside the `within`-day window.
    ActiveRecently { days: i64, within: u32 },
    /// Added `days` ago, inside the `within`-day window.
    AddedRecently { days: i64, within: u32 },
    /// No activity for `days`.
    Inactive { days: i64 },
    /// Never active; added `days` ago.
    InactiveSinceAdded { days: i64 },
}

impl std::fmt::Display for StageReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            StageReason::Orders { orders, at_least } => write!(f, "orders {orders} ≥ {at_least}"),
            StageReason::Influence { influence, at_least } => write!(f, "influence {influence} ≥ {at_least}"),
            StageReason::ActiveRecently { days, within } => write!(f, "active {days} days ago (< {within})"),
            StageReason::AddedRecently { days, within } => write!(f, "added {days} days ago (< {within})"),
            StageReason::Inactive { days } => write!(f, "no activity for {days} days"),
            StageReason::InactiveSinceAdded { days } => write!(f, "no activity since added {days} days ago"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::DAY_MS;
    use proptest::prelude::*;

    const NOW: Millis = 1_000 * DAY_MS;

    fn rules() -> StageRules {
        StageRules::default()
    }

    fn stage(a: &Activity, influence: u32) -> Stage {
        rules().stage(a, influence, NOW).0
    }

    fn added_days_ago(days: i64) -> Activity {
        Activity::added(NOW - days * DAY_MS)
    }

    #[test]
    fn new_until_exactly_new_days() {
        assert_eq!(rules().stage(&added_days_ago(0), 0, NOW), (Stage::New, "added 0 days ago (< 7)".into()));
        let just_before = Activity::added(NOW - 7 * DAY_MS + 1);
        assert_eq!(stage(&just_before, 0), Stage::New);
        assert_eq!(
            rules().stage(&added_days_ago(7), 0, NOW),
            (Stage::Stored, "no activity since added 7 days ago".into())
        );
    }

    #[test]
    fn active_until_exactly_active_days() {
        let seen = |days_ago: i64| Activity { last_active_at: Some(NOW - days_ago * DAY_MS), ..added_days_ago(100) };
        assert_eq!(rules().stage(&seen(29), 0, NOW), (Stage::Active, "active 29 days ago (< 30)".into()));
        assert_eq!(rules().stage(&seen(30), 0, NOW), (Stage::Stored, "no activity for 30 days".into()));
        // An engaged newcomer is active, not new; a lapsed newcomer is still new.
        let engaged_newcomer = Activity { last_active_at: Some(NOW), ..added_days_ago(1) };
        assert_eq!(stage(&engaged_newcomer, 0), Stage::Active);
        let odd = Activity { last_active_at: Some(NOW - 40 * DAY_MS), ..added_days_ago(1) };
        assert_eq!(stage(&odd, 0), Stage::New);
    }

    #[test]
    fn buyers_outrank_everything_and_super_needs_an_order() {
        let buyer = |orders: u32| Activity {
            orders,
            last_order_at: Some(NOW - 300 * DAY_MS),
            last_active_at: Some(NOW - 300 * DAY_MS),
            ..added_days_ago(400)
        };
        assert_eq!(rules().stage(&buyer(1), 0, NOW), (Stage::Converted, "orders 1 ≥ 1".into()));
        let (_, why) = rules().assess(&buyer(6), 0, NOW);
        assert_eq!(why, StageReason::Orders { orders: 6, at_least: 3 });
        let data = serde_json::to_value(why).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"code": "orders", "orders": 6, "at_least": 3}),
            "a console translates this"
        );
        assert_eq!(rules().stage(&buyer(2), 19, NOW), (Stage::Converted, "orders 2 ≥ 1".into()));
        assert_eq!(rules().stage(&buyer(3), 0, NOW), (Stage::Super, "orders 3 ≥ 3".into()));
        assert_eq!(rules().stage(&buyer(1), 20, NOW), (Stage::Super, "influence 20 ≥ 20".into()));
        // Bringing twenty friends without buying is active, not super.
        let influencer = Activity { last_active_at: Some(NOW), ..added_days_ago(1) };
        assert_eq!(stage(&influencer, 500), Stage::Active);
        // A buyer added today is converted, not new.
        assert_eq!(stage(&Activity { orders: 1, ..added_days_ago(0) }, 0), Stage::Converted);
    }

    #[test]
    fn future_times_do_not_panic_or_go_negative() {
        let a = Activity { last_active_at: Some(NOW + DAY_MS), ..Activity::added(NOW + DAY_MS) };
        assert_eq!(rules().stage(&a, 0, NOW), (Stage::Active, "active 0 days ago (< 30)".into()));
        assert_eq!(stage(&Activity::added(Millis::MIN), 0), Stage::Stored);
        assert_eq!(rules().stage(&Activity::added(Millis::MAX), 0, Millis::MIN).0, Stage::New);
    }

    #[test]
    fn validate_ranges() {
        assert!(rules().validate().is_ok());
        let edges = StageRules { new_days: 365, active_days: 1, super_orders: 1000, super_influence: 100_000 };
        assert!(edges.validate().is_ok());
        let bad = StageRules { new_days: 0, active_days: 366, super_orders: 1, super_influence: 0 };
        let fields: Vec<_> = bad.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["new_days", "active_days", "super_orders", "super_influence"]);
    }

    #[test]
    fn describe_names_every_stage_with_the_numbers() {
        let r = StageRules { new_days: 3, active_days: 14, super_orders: 4, super_influence: 50 };
        let d = r.describe();
        assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), Stage::ALL);
        assert_eq!(d[0].1, "添加不满 3 天，尚未下单或互动");
        assert_eq!(d[0].2, "added less than 3 days ago, no order or engagement yet");
        assert!(d[2].1.starts_with("14 天内有互动"));
        assert_eq!(d[4].2, "4 or more orders, or has ordered and influence is 50 or more");
    }

    fn activity() -> impl Strategy<Value = Activity> {
        (0i64..2000, proptest::option::of(0i64..2000), 0u32..6).prop_map(|(added, active, orders)| Activity {
            added_at: added * DAY_MS / 2,
            last_active_at: active.map(|t| t * DAY_MS / 2),
            orders,
            ..Activity::default()
        })
    }

    proptest! {
        #[test]
        fn stage_follows_the_stated_precedence(a in activity(), influence in 0u32..40, now_half_days in 0i64..2400) {
            let now = now_half_days * DAY_MS / 2;
            let r = rules();
            let (s, reason) = r.stage(&a, influence, now);
            prop_assert!(Stage::ALL.contains(&s));
            prop_assert!(!reason.is_empty());
            let bought = a.orders >= 1;
            let active = a.last_active_at.is_some_and(|t| now - t < 30 * DAY_MS);
            let expected = if bought && (a.orders >= 3 || influence >= 20) {
                Stage::Super
            } else if bought {
                Stage::Converted
            } else if active {
                Stage::Active
            } else if now - a.added_at < 7 * DAY_MS {
                Stage::New
            } else {
                Stage::Stored
            };
            prop_assert_eq!(s, expected);
        }
    }
}
