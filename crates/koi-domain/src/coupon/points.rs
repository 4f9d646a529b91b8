//! Points (积分): the corp's rules (points per yuan paid, for a check-in,
//! for a review, how long points last) and the ledger's arithmetic.
//!
//! The ledger is a list of entries; every earn is a *lot* with what is left
//! of it. Spending, taking back and expiring take from the oldest lots
//! first (FIFO by earn date), so points expire by the date they were
//! earned. The balance is the sum of the entries and equals the sum of
//! what is left of the lots; it is never negative: a take-back larger than
//! the balance takes what is left and reports the shortfall.

use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
pub const MAX_PER_YUAN: i64 = 100;
pub const MAX_BONUS: i64 = 100_000;
pub const MAX_EXPIRE_DAYS: i32 = 3650;
/// The most points one entry moves: bigger is a typo.
pub const MAX_ENTRY: i64 = 100_000_000;
pub const MAX_REASON_CHARS: usize = 100;

/// The corp's points rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PointsRules {
    /// Points per whole yuan paid (0: orders earn nothing).
    pub per_yuan: i64,
    /// Points for a daily check-in.
    #[serde(default)]
    pub checkin: i64,
    /// Points for a review.
    #[serde(default)]
    pub review: i64,
    /// Days points last from their earn date (0: they never expire).
    #[serde(default)]
    pub expire_days: i32,
    /// Every this many days of check-ins in a row (7: the 7th, 14th, …)
    /// earns [`PointsRules::streak_bonus`] on top (0: no streak bonus).
    #[serde(default = "default_streak_days")]
    pub streak_days: i32,
    /// Points the streak day earns on top of `checkin`.
    #[serde(default)]
    pub streak_bonus: i64,
}

fn default_streak_days() -> i32 {
    7
}

pub const MAX_STREAK_DAYS: i32 = 365;
/// Shanghai has had no daylight saving since 1991: one fixed offset.
const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;

impl Default for PointsRules {
    fn default() -> Self {
        PointsRules { per_yuan: 1, checkin: 5, review: 10, expire_days: 365, streak_days: 7, streak_bonus: 0 }
    }
}

impl PointsRules {
    pub fn validate(&self) -> Result<PointsRules, ValidationError> {
        let mut c = Checker::default();
        if !(0..=MAX_PER_YUAN).contains(&self.per_yuan) {
            c.push("per_yuan", "out_of_range", format!("0..={MAX_PER_YUAN} points a yuan"));
        }
        for (field, v) in [("checkin", self.checkin), ("review", self.review), ("streak_bonus", self.streak_bonus)] {
            if !(0..=MAX_BONUS).contains(&v) {
                c.push(field, "out_of_range", format!("0..={MAX_BONUS} points"));
            }
        }
        if !(0..=MAX_EXPIRE_DAYS).contains(&self.expire_days) {
            c.push("expire_days", "out_of_range", format!("0..={MAX_EXPIRE_DAYS} days (0: never)"));
        }
        if !(0..=MAX_STREAK_DAYS).contains(&self.streak_days) {
            c.push("streak_days", "out_of_range", format!("0..={MAX_STREAK_DAYS} days (0: no streak bonus)"));
        }
        c.finish(self.clone())
    }

    /// Points a check-in earns as the `streak`-th day in a row (1: the
    /// first): the check-in points, and the streak bonus on every
    /// `streak_days`-th day.
    pub fn for_checkin(&self, streak: i32) -> i64 {
        let bonus = self.streak_days > 0 && streak > 0 && streak % self.streak_days == 0;
        self.checkin + if bonus { self.streak_bonus } else { 0 }
    }

    /// Points an order paying `paid_fen` earns: whole yuan × rate.
    pub fn for_order(&self, paid_fen: i64) -> i64 {
        (paid_fen.max(0) / 100).saturating_mul(self.per_yuan)
    }

    /// When points earned at `at` expire (None: never).
    pub fn expires_at(&self, at: Millis) -> Option<Millis> {
        (self.expire_days > 0).then(|| at.saturating_add(i64::from(self.expire_days) * DAY_MS))
    }
}

/// The Asia/Shanghai day (`2026-12-07`) of an instant: a check-in is once a
/// customer and such a day.
pub fn shanghai_day(at: Millis) -> String {
    let (y, m, d) = crate::calendar::civil_from_days((at + SHANGHAI_OFFSET_MS).div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Shanghai day before `day` (`YYYY-MM-DD`), for the streak; `None`
/// when `day` is not a date.
pub fn day_before(day: &str) -> Option<String> {
    let (y, m, d) = crate::calendar::civil_from_days(crate::calendar::parse_date(day)? - 1);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// The streak a check-in on a day makes: one more than the day before's
/// streak, or 1 when the day before had no check-in.
pub fn next_streak(yesterday: Option<i32>) -> i32 {
    yesterday.map_or(1, |s| s.saturating_add(1))
}

pub const MAX_REVIEW_CHARS: usize = 500;

/// A customer's review of an order: 1..=5 stars and what they say.
pub fn check_review(rating: i32, body: &str) -> Result<String, ValidationError> {
    let mut c = Checker::default();
    if !(1..=5).contains(&rating) {
        c.push("rating", "out_of_range", "1 to 5 stars");
    }
    let body = c.text("body", body, MAX_REVIEW_CHARS, false);
    c.finish(body)
}

/// Points an order's refund takes back: the refunded share of what the
/// order earned, rounded up (a full refund takes all of it).
pub fn refund_share(earned: i64, paid_fen: i64, refunded_fen: i64) -> i64 {
    if paid_fen <= 0 || earned <= 0 {
        return 0;
    }
    let r = refunded_fen.clamp(0, paid_fen) as i128;
    ((earned as i128 * r + paid_fen as i128 - 1) / paid_fen as i128) as i64
}

/// Why the ledger moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An order paid.
    Order,
    /// A refund takes back what its order earned.
    Refund,
    Campaign,
    Checkin,
    Review,
    /// Spent in the points mall.
    Exchange,
    Expire,
    /// By hand, with a reason.
    Adjust,
}

impl EntryKind {
    pub const ALL: [EntryKind; 8] = [
        EntryKind::Order,
        EntryKind::Refund,
        EntryKind::Campaign,
        EntryKind::Checkin,
        EntryKind::Review,
        EntryKind::Exchange,
        EntryKind::Expire,
        EntryKind::Adjust,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Order => "order",
            EntryKind::Refund => "refund",
            EntryKind::Campaign => "campaign",
            EntryKind::Checkin => "checkin",
            EntryKind::Review => "review",
            EntryKind::Exchange => "exchange",
            EntryKind::Expire => "expire",
            EntryKind::Adjust => "adjust",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An earn that still has points: its id, earn date and what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub earned_at: Millis,
    pub left: i64,
}

/// How `amount` points are taken from `lots`, oldest earn first: (lot id,
/// points taken) and the shortfall (what the lots could not cover).
pub fn take_fifo(lots: &[Lot], amount: i64) -> (Vec<(i64, i64)>, i64) {
    let mut order: Vec<&Lot> = lots.iter().filter(|l| l.left > 0).collect();
    order.sort_by_key(|l| (l.earned_at, l.id));
    let mut need = amount.max(0);
    let mut out = Vec::new();
    for l in order {
        if need == 0 {
            break;
        }
        let t = l.left.min(need);
        out.push((l.id, t));
        need -= t;
    }
    (out, need)
}

/// The lots whose points have expired at `now`, with what is left of each.
pub fn expired(lots: &[(Lot, Option<Millis>)], now: Millis) -> Vec<(i64, i64)> {
    lots.iter().filter(|(l, exp)| l.left > 0 && exp.is_some_and(|e| e <= now)).map(|(l, _)| (l.id, l.left)).collect()
}

/// A whole ledger in memory: what the store keeps in rows, stated plainly
/// (the property tests hold the arithmetic to its invariants).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// (id, earned at, expires at, left).
    lots: Vec<(Lot, Option<Millis>)>,
    /// Every entry's signed points.
    entries: Vec<i64>,
}

impl Ledger {
    pub fn balance(&self) -> i64 {
        self.entries.iter().sum()
    }

    pub fn lots_left(&self) -> i64 {
        self.lots.iter().map(|(l, _)| l.left).sum()
    }

    /// Earns `points` at `at`.
    pub fn earn(&mut self, points: i64, at: Millis, expires_at: Option<Millis>) {
        if points <= 0 {
            return;
        }
        let id = self.lots.len() as i64;
        self.lots.push((Lot { id, earned_at: at, left: points }, expires_at));
        self.entries.push(points);
    }

    /// Spends `points` if the balance covers them (all or nothing).
    pub fn spend(&mut self, points: i64) -> bool {
        if points <= 0 || points > self.balance() {
            return false;
        }
        self.take(points);
        true
    }

    /// Takes back up to `points`; returns the shortfall.
    pub fn take_back(&mut self, points: i64) -> i64 {
        self.take(points.max(0))
    }

    /// Expires what is left of lots past their date; returns how much.
    pub fn expire(&mut self, now: Millis) -> i64 {
        let gone = expired(&self.lots, now);
        let mut total = 0;
        for (id, n) in gone {
            self.lots[id as usize].0.left -= n;
            total += n;
        }
        if total > 0 {
            self.entries.push(-total);
        }
        total
    }

    fn take(&mut self, amount: i64) -> i64 {
        let lots: Vec<Lot> = self.lots.iter().map(|(l, _)| *l).collect();
        let (takes, short) = take_fifo(&lots, amount);
        let taken: i64 = takes.iter().map(|(_, t)| t).sum();
        for (id, t) in takes {
            self.lots[id as usize].0.left -= t;
        }
        if taken > 0 {
            self.entries.push(-taken);
        }
        short
    }
}

/// Checks a hand adjustment: non-zero, in bounds, with a reason.
pub fn check_adjust(points: i64, reason: &str) -> Result<String, ValidationError> {
    let mut c = Checker::default();
    if points == 0 || points.abs() > MAX_ENTRY {
        c.push("points", "out_of_range", format!("a non-zero number of points, at most {MAX_ENTRY} either way"));
    }
    let reason = c.text("reason", reason, MAX_REASON_CHARS, true);
    c.finish(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders_earn_whole_yuan_times_the_rate() {
        let r = PointsRules { per_yuan: 2, ..PointsRules::default() };
        assert_eq!(r.for_order(4999), 98);
        assert_eq!(r.for_order(-5), 0);
        assert_eq!(r.expires_at(0), Some(365 * DAY_MS));
        assert_eq!(PointsRules { expire_days: 0, ..r }.expires_at(0), None);
        assert_eq!(refund_share(49, 4900, 4900), 49);
        assert_eq!(refund_share(49, 4900, 100), 1, "rounded up");
        assert_eq!(refund_share(49, 4900, 0), 0);
        assert_eq!(refund_share(49, 4900, 99_999), 49, "never more than earned");
    }

    #[test]
    fn spending_takes_the_oldest_points_first() {
        let lots = [
            Lot { id: 1, earned_at: 300, left: 5 },
            Lot { id: 2, earned_at: 100, left: 3 },
            Lot { id: 3, earned_at: 200, left: 0 },
            Lot { id: 4, earned_at: 200, left: 4 },
        ];
        assert_eq!(take_fifo(&lots, 6), (vec![(2, 3), (4, 3)], 0));
        assert_eq!(take_fifo(&lots, 20), (vec![(2, 3), (4, 4), (1, 5)], 8));
    }

    #[test]
    fn points_expire_by_earn_date_after_older_ones_were_spent() {
        let mut l = Ledger::default();
        l.earn(10, 0, Some(100));
        l.earn(10, 50, Some(150));
        assert!(l.spend(15), "takes all of the first lot and 5 of the second");
        assert_eq!(l.expire(100), 0, "the first lot was spent");
        assert_eq!(l.expire(150), 5);
        assert_eq!(l.balance(), 0);
        assert!(!l.spend(1));
        assert_eq!(l.take_back(3), 3, "nothing left: all of it is the shortfall");
    }

    #[test]
    fn check_ins_count_shanghai_days_and_streaks() {
        // 2026-12-07 15:59:59 UTC is 23:59:59 in Shanghai; a second later is the 8th.
        let late = crate::calendar::days_from_civil(2026, 12, 7) * DAY_MS + 16 * 3_600_000 - 1000;
        assert_eq!(shanghai_day(late), "2026-12-07");
        assert_eq!(shanghai_day(late + 1000), "2026-12-08");
        assert_eq!(day_before("2026-12-08").as_deref(), Some("2026-12-07"));
        assert_eq!(day_before("2027-01-01").as_deref(), Some("2026-12-31"));
        assert_eq!(day_before("nope"), None);
        assert_eq!((next_streak(None), next_streak(Some(6))), (1, 7));
        let r = PointsRules { checkin: 5, streak_days: 7, streak_bonus: 20, ..PointsRules::default() };
        assert_eq!((r.for_checkin(1), r.for_checkin(6), r.for_checkin(7), r.for_checkin(14)), (5, 5, 25, 25));
        assert_eq!(PointsRules { streak_days: 0, ..r.clone() }.for_checkin(7), 5, "0: no bonus");
        assert_eq!(r.validate().unwrap(), r);
        assert_eq!(PointsRules { streak_days: -1, ..r }.validate().unwrap_err().0[0].field, "streak_days");
    }

    #[test]
    fn reviews_have_one_to_five_stars() {
        assert_eq!(check_review(5, " 很好 ").unwrap(), "很好");
        assert_eq!(check_review(0, "").unwrap_err().0[0].field, "rating");
        assert_eq!(check_review(3, &"长".repeat(501)).unwrap_err().0[0].field, "body");
    }

    #[test]
    fn adjustments_need_a_reason() {
        assert_eq!(check_adjust(5, " 补偿 ").unwrap(), "补偿");
        assert_eq!(check_adjust(0, "x").unwrap_err().0[0].field, "points");
        assert_eq!(check_adjust(-5, "").unwrap_err().0[0].field, "reason");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Earn(i64, i64, Option<i64>),
        Spend(i64),
        TakeBack(i64),
        Expire(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1i64..500, 0i64..1000, proptest::option::of(0i64..2000)).prop_map(|(p, at, e)| Op::Earn(p, at, e)),
            (1i64..800).prop_map(Op::Spend),
            (1i64..800).prop_map(Op::TakeBack),
            (0i64..3000).prop_map(Op::Expire),
        ]
    }

    proptest! {
        #[test]
        fn the_balance_is_the_sum_of_the_ledger_and_never_negative(ops in proptest::collection::vec(op(), 0..60)) {
            let mut l = Ledger::default();
            let mut earned = 0;
            for o in ops {
                let before = l.balance();
                match o {
                    Op::Earn(p, at, e) => { l.earn(p, at, e.map(|d| at + d)); earned += p; }
                    Op::Spend(p) => {
                        let ok = l.spend(p);
                        prop_assert_eq!(ok, p <= before);
                        prop_assert_eq!(l.balance(), if ok { before - p } else { before });
                    }
                    Op::TakeBack(p) => {
                        let short = l.take_back(p);
                        prop_assert_eq!(l.balance(), (before - p).max(0));
                        prop_assert_eq!(short, (p - before).max(0));
                    }
                    Op::Expire(now) => {
                        let gone = l.expire(now);
                        prop_assert_eq!(l.balance(), before - gone);
                    }
                }
                prop_assert!(l.balance() >= 0);
                prop_assert_eq!(l.balance(), l.lots_left());
                prop_assert!(l.balance() <= earned);
            }
        }
    }
}
