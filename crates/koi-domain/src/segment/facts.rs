//! One customer as plain data, and the obviously-correct evaluator over it.
//! [`super::SegmentIndex`] must give the same answer for every customer; the
//! property test in `index/tests.rs` holds it to that, so when the two disagree,
//! this file is the one that states what the operator meant.

use super::{Cond, CouponHold, Expr, GroupRef, Stage};
use crate::channel::distance_m;
use crate::group::GroupKind;
use crate::Millis;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Store id → (lat, lng), for [`Cond::WithinKm`].
pub type StoreLocations = HashMap<i64, (f64, f64)>;

/// Everything a segment can ask about one customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerFacts {
    /// Dense per-corp id.
    pub id: u32,
    pub tags: BTreeSet<String>,
    pub stores: BTreeSet<i64>,
    pub staff: BTreeSet<i64>,
    pub codes: BTreeSet<i64>,
    pub stage: Stage,
    /// Band 1..=5 per [`super::RfmDim`] (r, f, m); `None` until scored.
    pub rfm: [Option<u8>; 3],
    pub added_at: Millis,
    pub last_active: Option<Millis>,
    pub orders: u32,
    pub spent_fen: i64,
    /// How many customers this one brought in (referrals, shares that added).
    pub influence: u32,
    pub fields: BTreeMap<String, String>,
    /// Home (lat, lng). `f32` is about a metre — plenty for a radius in km —
    /// and is what the index keeps, so both sides measure the same point.
    pub home: Option<(f32, f32)>,
    /// The groups the customer is a present member of, with each group's kind.
    pub groups: BTreeMap<i64, GroupKind>,
    /// The points balance.
    pub points: u32,
    /// (template, state) of the coupons the customer holds.
    pub coupons: BTreeSet<(i64, CouponHold)>,
}

/// Whether the customer is in the segment.
pub fn matches(c: &CustomerFacts, e: &Expr, stores: &StoreLocations) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| matches(c, e, stores)),
        Expr::Or(v) => v.iter().any(|e| matches(c, e, stores)),
        Expr::Not(e) => !matches(c, e, stores),
        Expr::Cond(cond) => matches_cond(c, cond, stores),
    }
}

/// Whether the customer satisfies one condition.
pub fn matches_cond(c: &CustomerFacts, cond: &Cond, stores: &StoreLocations) -> bool {
    match cond {
        Cond::Tag(t) => c.tags.contains(t),
        Cond::Store(s) => c.stores.contains(s),
        Cond::Staff(s) => c.staff.contains(s),
        Cond::Code(s) => c.codes.contains(s),
        Cond::Stage(s) => c.stage == *s,
        Cond::Rfm { dim, band } => c.rfm[dim.index()] == Some(*band),
        Cond::AddedBetween { from_ms, to_ms } => *from_ms <= c.added_at && c.added_at < *to_ms,
        Cond::LastActiveBefore(t) => c.last_active.is_none_or(|a| a < *t),
        Cond::LastActiveAfter(t) => c.last_active.is_some_and(|a| a >= *t),
        Cond::OrdersAtLeast(n) => c.orders >= *n,
        Cond::SpentAtLeast(f) => c.spent_fen >= *f,
        Cond::InfluenceAtLeast(n) => c.influence >= *n,
        Cond::Field { name, op, value } => c.fields.get(name).is_some_and(|a| op.test(a, value)),
        Cond::WithinKm { store_id, km } => match (c.home, stores.get(store_id)) {
            (Some(home), Some(&store)) => within(home, store, *km),
            _ => false,
        },
        Cond::Group(GroupRef::Id(g)) => c.groups.contains_key(g),
        Cond::Group(GroupRef::Name(_)) => false,
        Cond::GroupKind(k) => c.groups.values().any(|x| x == k),
        Cond::InGroupsAtLeast(n) => c.groups.len() as u64 >= u64::from(*n),
        Cond::PointsAtLeast(n) => c.points >= *n,
        Cond::Coupon { template_id, state } => c.coupons.contains(&(*template_id, *state)),
    }
}

/// The one distance test both evaluators use, so they round alike.
pub(crate) fn within(home: (f32, f32), store: (f64, f64), km: f64) -> bool {
    distance_m((f64::from(home.0), f64::from(home.1)), store) <= km * 1000.0
}
