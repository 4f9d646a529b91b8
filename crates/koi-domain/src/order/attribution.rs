//! Guide attribution (业绩归属): which guide, store and channel code an order
//! counts for. The corp lists rules in the order it trusts them; the first
//! rule that names a guide decides, and the decision keeps its rule so a
//! guide asking "why is this sale not mine" gets an answer.

use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// The longest lock an operator may set.
pub const MAX_LOCK_DAYS: u32 = 365;
const DAY_MS: Millis = 86_400_000;

/// One attribution rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum AttributionRule {
    /// The guide who sent the coupon used on the order.
    CouponGuide,
    /// The guide who holds the customer: an add starts a lock of `days`
    /// days, and a later add by another guide does not take a customer
    /// whose lock is still running.
    LockedGuide { days: u32 },
    /// The first guide who added the customer (and still has them).
    FirstGuide,
    /// The guide who added the customer most recently (and still has them).
    LastGuide,
    /// The guide on duty at the order's store.
    StoreOnDuty,
}

impl AttributionRule {
    /// The rule's name as stored with each order and shown on screen.
    pub fn name(self) -> &'static str {
        match self {
            AttributionRule::CouponGuide => "coupon_guide",
            AttributionRule::LockedGuide { .. } => "locked_guide",
            AttributionRule::FirstGuide => "first_guide",
            AttributionRule::LastGuide => "last_guide",
            AttributionRule::StoreOnDuty => "store_on_duty",
        }
    }
}

/// The guide on duty in a store, as the operator set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DutyGuide {
    pub store_id: i64,
    pub staff_id: i64,
}

/// A corp's attribution settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributionSettings {
    /// Tried in order; the first that names a guide decides.
    pub rules: Vec<AttributionRule>,
    #[serde(default)]
    pub duty: Vec<DutyGuide>,
    /// Days after a customer came through a campaign (invited through an
    /// entry, or taking part) during which their orders count for it.
    #[serde(default = "default_campaign_window_days")]
    pub campaign_window_days: u32,
}

fn default_campaign_window_days() -> u32 {
    DEFAULT_CAMPAIGN_WINDOW_DAYS
}

/// How long a campaign keeps the orders of the customers it brought, unless
/// the corp says otherwise.
pub const DEFAULT_CAMPAIGN_WINDOW_DAYS: u32 = 30;

impl Default for AttributionSettings {
    /// The coupon's guide, else the guide holding a 30-day lock, else the
    /// last guide, else the store's guide on duty.
    fn default() -> Self {
        AttributionSettings {
            rules: vec![
                AttributionRule::CouponGuide,
                AttributionRule::LockedGuide { days: 30 },
                AttributionRule::LastGuide,
                AttributionRule::StoreOnDuty,
            ],
            duty: Vec::new(),
            campaign_window_days: DEFAULT_CAMPAIGN_WINDOW_DAYS,
        }
    }
}

impl AttributionSettings {
    /// Rules 1..=5, each kind once; a lock of 1..=[`MAX_LOCK_DAYS`] days;
    /// one duty guide a store.
    pub fn validate(&self) -> Result<AttributionSettings, ValidationError> {
        let mut c = Checker::default();
        if self.rules.is_empty() {
            c.push("rules", "required", "at least one rule");
        }
        for (i, r) in self.rules.iter().enumerate() {
            if self.rules[..i].iter().any(|p| p.name() == r.name()) {
                c.push("rules", "duplicate", format!("{} is listed twice", r.name()));
            }
            if let AttributionRule::LockedGuide { days } = r {
                if !(1..=MAX_LOCK_DAYS).contains(days) {
                    c.push("rules", "out_of_range", format!("a lock is 1..={MAX_LOCK_DAYS} days"));
                }
            }
        }
        if !(1..=MAX_LOCK_DAYS).contains(&self.campaign_window_days) {
            c.push("campaign_window_days", "out_of_range", format!("a campaign window is 1..={MAX_LOCK_DAYS} days"));
        }
        for (i, d) in self.duty.iter().enumerate() {
            if self.duty[..i].iter().any(|p| p.store_id == d.store_id) {
                c.push("duty", "duplicate", format!("store {} has two guides on duty", d.store_id));
            }
        }
        c.finish(self.clone())
    }
}

/// One guide's relation with the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowFact {
    pub staff_id: i64,
    pub added_at: Millis,
    pub deleted_at: Option<Millis>,
    /// The store and channel code of the add.
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
}

impl FollowFact {
    /// Whether the guide had the customer when they ordered.
    fn held_at(&self, at: Millis) -> bool {
        self.added_at <= at && self.deleted_at.is_none_or(|d| d > at)
    }
}

/// What attribution looks at.
#[derive(Debug, Clone, Default)]
pub struct AttributionFacts {
    pub ordered_at: Millis,
    /// The store the order names, if any.
    pub store_id: Option<i64>,
    /// The customer's follows, any order (none for an unmatched order).
    pub follows: Vec<FollowFact>,
    /// The guide who sent the coupon used, if the order says.
    pub coupon_guide: Option<i64>,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Attributed {
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub code_id: Option<i64>,
    /// The rule that named the guide; `none` when none did.
    pub rule: &'static str,
}

/// Applies the rules in order. The store is the order's own, else the store
/// of the deciding guide's add; the channel code is that add's code.
pub fn attribute(s: &AttributionSettings, f: &AttributionFacts) -> Attributed {
    let mut held: Vec<&FollowFact> = f.follows.iter().filter(|x| x.held_at(f.ordered_at)).collect();
    held.sort_by_key(|x| (x.added_at, x.staff_id));
    let follow_of = |staff: i64| held.iter().find(|x| x.staff_id == staff).copied();
    for rule in &s.rules {
        let (staff, follow) = match *rule {
            AttributionRule::CouponGuide => match f.coupon_guide {
                Some(g) => (Some(g), follow_of(g)),
                None => (None, None),
            },
            AttributionRule::LockedGuide { days } => {
                let holder = lock_holder(&f.follows, f.ordered_at, i64::from(days) * DAY_MS);
                (holder.map(|h| h.staff_id), holder.filter(|h| h.held_at(f.ordered_at)))
            }
            AttributionRule::FirstGuide => (held.first().map(|x| x.staff_id), held.first().copied()),
            AttributionRule::LastGuide => (held.last().map(|x| x.staff_id), held.last().copied()),
            AttributionRule::StoreOnDuty => {
                let store = f.store_id.or(held.last().and_then(|x| x.store_id));
                let duty = store.and_then(|st| s.duty.iter().find(|d| d.store_id == st));
                (duty.map(|d| d.staff_id), duty.and_then(|d| follow_of(d.staff_id)))
            }
        };
        if let Some(staff_id) = staff {
            return Attributed {
                staff_id: Some(staff_id),
                store_id: f.store_id.or(follow.and_then(|x| x.store_id)),
                code_id: follow.and_then(|x| x.code_id),
                rule: rule.name(),
            };
        }
    }
    Attributed { staff_id: None, store_id: f.store_id, code_id: None, rule: "none" }
}

/// How a customer met a campaign before an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignTouch {
    pub campaign_id: i64,
    pub at: Millis,
}

/// An order's campaign and the rule that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CampaignAttributed {
    pub campaign_id: i64,
    /// `campaign_coupon` (the coupon used was a campaign's reward) or
    /// `campaign_window` (the customer came through the campaign within the
    /// window).
    pub rule: &'static str,
}

/// The campaign an order counts for: the campaign whose reward coupon paid
/// for it, else the campaign through which the customer came (invited or
/// taking part) most recently before the order, within `window_days`.
pub fn attribute_campaign(
    ordered_at: Millis,
    window_days: u32,
    coupon_campaign: Option<i64>,
    touches: &[CampaignTouch],
) -> Option<CampaignAttributed> {
    if let Some(campaign_id) = coupon_campaign {
        return Some(CampaignAttributed { campaign_id, rule: "campaign_coupon" });
    }
    let window = i64::from(window_days) * DAY_MS;
    touches
        .iter()
        .filter(|t| t.at <= ordered_at && ordered_at - t.at <= window)
        .max_by_key(|t| (t.at, t.campaign_id))
        .map(|t| CampaignAttributed { campaign_id: t.campaign_id, rule: "campaign_window" })
}

/// The follow whose lock runs at `at`: adds in time order, each starting a
/// lock of `lock_ms` unless another's lock still runs; a deleted follow
/// ends its lock when it is deleted.
fn lock_holder(follows: &[FollowFact], at: Millis, lock_ms: Millis) -> Option<&FollowFact> {
    let mut adds: Vec<&FollowFact> = follows.iter().filter(|x| x.added_at <= at).collect();
    adds.sort_by_key(|x| (x.added_at, x.staff_id));
    let mut holder: Option<(&FollowFact, Millis)> = None;
    for add in adds {
        let running = holder.is_some_and(|(_, until)| until > add.added_at);
        if !running {
            let until = add.added_at.saturating_add(lock_ms).min(add.deleted_at.unwrap_or(Millis::MAX));
            holder = Some((add, until));
        }
    }
    holder.filter(|(_, until)| *until > at).map(|(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn follow(staff_id: i64, added_day: i64) -> FollowFact {
        FollowFact {
            staff_id,
            added_at: added_day * DAY_MS,
            deleted_at: None,
            store_id: Some(100 + staff_id),
            code_id: Some(200 + staff_id),
        }
    }

    fn only(rule: AttributionRule) -> AttributionSettings {
        AttributionSettings {
            rules: vec![rule],
            duty: vec![DutyGuide { store_id: 7, staff_id: 9 }],
            campaign_window_days: DEFAULT_CAMPAIGN_WINDOW_DAYS,
        }
    }

    fn facts(day: i64) -> AttributionFacts {
        AttributionFacts {
            ordered_at: day * DAY_MS,
            store_id: None,
            follows: vec![follow(1, 0), follow(2, 10)],
            coupon_guide: None,
        }
    }

    #[test]
    fn first_and_last_guide() {
        let a = attribute(&only(AttributionRule::FirstGuide), &facts(20));
        assert_eq!((a.staff_id, a.store_id, a.code_id, a.rule), (Some(1), Some(101), Some(201), "first_guide"));
        let b = attribute(&only(AttributionRule::LastGuide), &facts(20));
        assert_eq!((b.staff_id, b.rule), (Some(2), "last_guide"));
        // Before guide 2 added, the last guide is guide 1.
        assert_eq!(attribute(&only(AttributionRule::LastGuide), &facts(5)).staff_id, Some(1));
    }

    #[test]
    fn a_deleted_follow_no_longer_counts() {
        let mut f = facts(20);
        f.follows[1].deleted_at = Some(15 * DAY_MS);
        assert_eq!(attribute(&only(AttributionRule::LastGuide), &f).staff_id, Some(1));
    }

    #[test]
    fn a_lock_keeps_the_customer_with_the_guide_for_its_days() {
        let lock = only(AttributionRule::LockedGuide { days: 15 });
        // Guide 2 added on day 10, within guide 1's lock: still guide 1's.
        let a = attribute(&lock, &facts(12));
        assert_eq!((a.staff_id, a.rule), (Some(1), "locked_guide"));
        // On day 20 guide 1's lock (days 0..15) has run out, and guide 2's
        // add fell inside it, so started none: nobody holds a lock.
        assert_eq!(attribute(&lock, &facts(20)).staff_id, None);
        // An add after the lock ran out starts a new one.
        let mut f = facts(20);
        f.follows[1].added_at = 16 * DAY_MS;
        assert_eq!(attribute(&lock, &f).staff_id, Some(2));
    }

    #[test]
    fn coupon_and_duty_guides() {
        let mut f = facts(20);
        f.coupon_guide = Some(5);
        let a = attribute(&only(AttributionRule::CouponGuide), &f);
        assert_eq!((a.staff_id, a.code_id, a.rule), (Some(5), None, "coupon_guide"));
        f.store_id = Some(7);
        let d = attribute(&only(AttributionRule::StoreOnDuty), &f);
        assert_eq!((d.staff_id, d.store_id, d.rule), (Some(9), Some(7), "store_on_duty"));
        f.store_id = Some(8);
        assert_eq!(attribute(&only(AttributionRule::StoreOnDuty), &f).rule, "none");
    }

    #[test]
    fn the_first_rule_that_names_a_guide_decides() {
        let s = AttributionSettings::default();
        let mut f = facts(200);
        assert_eq!(attribute(&s, &f).rule, "last_guide", "no coupon, no running lock");
        f.coupon_guide = Some(1);
        assert_eq!(attribute(&s, &f).rule, "coupon_guide");
        let nobody = AttributionFacts { ordered_at: 1, ..Default::default() };
        assert_eq!(attribute(&s, &nobody), Attributed { staff_id: None, store_id: None, code_id: None, rule: "none" });
    }

    #[test]
    fn settings_are_checked() {
        assert!(AttributionSettings::default().validate().is_ok());
        let bad = AttributionSettings {
            rules: vec![
                AttributionRule::LastGuide,
                AttributionRule::LastGuide,
                AttributionRule::LockedGuide { days: 0 },
            ],
            duty: vec![DutyGuide { store_id: 1, staff_id: 1 }, DutyGuide { store_id: 1, staff_id: 2 }],
            campaign_window_days: DEFAULT_CAMPAIGN_WINDOW_DAYS,
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 3);
        let json = serde_json::to_value(AttributionRule::LockedGuide { days: 7 }).unwrap();
        assert_eq!(json, serde_json::json!({"rule": "locked_guide", "days": 7}));
    }

    proptest! {
        /// Whoever attribution names either sent the coupon, is on duty, or
        /// held the customer when they ordered; and the rule it names is one
        /// the corp listed.
        #[test]
        fn the_guide_named_had_a_reason(
            adds in proptest::collection::vec((1i64..5, 0i64..60, proptest::option::of(0i64..60)), 0..6),
            order_day in 0i64..90, lock in 1u32..40, coupon in proptest::option::of(1i64..5),
            pick in proptest::collection::vec(0usize..5, 1..5),
        ) {
            let all = [AttributionRule::CouponGuide, AttributionRule::LockedGuide { days: lock },
                AttributionRule::FirstGuide, AttributionRule::LastGuide, AttributionRule::StoreOnDuty];
            let mut rules: Vec<AttributionRule> = Vec::new();
            for i in pick { if !rules.contains(&all[i]) { rules.push(all[i]); } }
            let s = AttributionSettings {
                rules: rules.clone(),
                duty: vec![DutyGuide { store_id: 7, staff_id: 4 }],
                campaign_window_days: DEFAULT_CAMPAIGN_WINDOW_DAYS,
            };
            let follows: Vec<FollowFact> = adds.iter().map(|&(staff, day, del)| FollowFact {
                staff_id: staff, added_at: day * DAY_MS, deleted_at: del.map(|d| (day + d) * DAY_MS),
                store_id: Some(7), code_id: None,
            }).collect();
            let f = AttributionFacts { ordered_at: order_day * DAY_MS, store_id: None, follows: follows.clone(), coupon_guide: coupon };
            let a = attribute(&s, &f);
            match a.staff_id {
                None => prop_assert_eq!(a.rule, "none"),
                Some(g) => {
                    prop_assert!(rules.iter().any(|r| r.name() == a.rule));
                    let held = follows.iter().any(|x| x.staff_id == g && x.held_at(f.ordered_at));
                    prop_assert!(held || coupon == Some(g) || g == 4);
                }
            }
        }
    }

    #[test]
    fn a_campaign_keeps_its_customers_orders_for_its_window() {
        let t = |campaign_id, day| CampaignTouch { campaign_id, at: day * DAY_MS };
        let touches = [t(1, 0), t(2, 10)];
        // The latest campaign before the order, within the window.
        let a = attribute_campaign(12 * DAY_MS, 30, None, &touches).unwrap();
        assert_eq!((a.campaign_id, a.rule), (2, "campaign_window"));
        assert_eq!(attribute_campaign(5 * DAY_MS, 30, None, &touches).unwrap().campaign_id, 1);
        // Past the window nothing counts; a touch after the order does not either.
        assert_eq!(attribute_campaign(41 * DAY_MS, 30, None, &touches), None);
        assert_eq!(attribute_campaign(5 * DAY_MS, 30, None, &[t(2, 10)]), None);
        // The campaign whose coupon paid wins over the window.
        let c = attribute_campaign(12 * DAY_MS, 30, Some(1), &touches).unwrap();
        assert_eq!((c.campaign_id, c.rule), (1, "campaign_coupon"));
    }

    #[test]
    fn a_campaign_window_is_one_day_to_a_year() {
        let mut s = AttributionSettings::default();
        assert_eq!(s.campaign_window_days, 30);
        s.campaign_window_days = 0;
        assert!(s.validate().is_err());
        s.campaign_window_days = 365;
        assert!(s.validate().is_ok());
        let old: AttributionSettings = serde_json::from_str(r#"{"rules":[{"rule":"last_guide"}]}"#).unwrap();
        assert_eq!(old.campaign_window_days, 30, "settings stored before the window read as 30 days");
    }
}
