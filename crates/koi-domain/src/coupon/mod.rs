//! Coupons (优惠券): a template says what a coupon takes off (¥X off, 49-20,
//! 8.5折, a gift), how long an issued one is valid, how many one customer
//! may hold, how many exist and in which stores they count. [`check`] says
//! what a coupon takes off an order, or why it does not apply.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | templates, validity, the check at a counter |
//! | `points.rs` | points rules and the FIFO points ledger |

pub mod points;

use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

pub const MAX_NAME_CHARS: usize = 40;
pub const MAX_GIFT_CHARS: usize = 60;
/// ¥100,000: a coupon bigger than this is a typo.
pub const MAX_VALUE_FEN: i64 = 10_000_000;
pub const MAX_VALID_DAYS: i32 = 3650;
pub const MAX_PER_CUSTOMER: i32 = 100;
pub const MAX_STOCK: i64 = 10_000_000;
pub const MAX_STORES: usize = 500;
const DAY_MS: i64 = 86_400_000;

/// What a coupon gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    /// ¥X off any order (无门槛).
    Cash,
    /// ¥X off an order of at least ¥Y (满Y减X, 49-20).
    Threshold,
    /// Pay a share of the price (8.5折 pays 85%), optionally from ¥Y.
    Discount,
    /// A gift handed over in a store.
    Gift,
}

impl CouponKind {
    pub const ALL: [CouponKind; 4] = [CouponKind::Cash, CouponKind::Threshold, CouponKind::Discount, CouponKind::Gift];

    pub fn as_str(self) -> &'static str {
        match self {
            CouponKind::Cash => "cash",
            CouponKind::Threshold => "threshold",
            CouponKind::Discount => "discount",
            CouponKind::Gift => "gift",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A template as the operator writes it (the API's and the form's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateDraft {
    pub name: String,
    pub kind: CouponKind,
    /// Cash and threshold: fen off.
    #[serde(default)]
    pub value_fen: i64,
    /// Threshold and discount: the least order amount, in fen (0: none).
    #[serde(default)]
    pub min_fen: i64,
    /// Discount: the percent paid, 1..=99 (8.5折 = 85).
    #[serde(default)]
    pub discount_pct: i32,
    /// Gift: what is handed over.
    #[serde(default)]
    pub gift: String,
    /// Fixed validity: from and to (ms). Both or neither.
    #[serde(default)]
    pub valid_from: Option<Millis>,
    #[serde(default)]
    pub valid_to: Option<Millis>,
    /// Relative validity: this many days from issue (when no fixed dates).
    #[serde(default)]
    pub valid_days: Option<i32>,
    /// Coupons of this template one customer may be issued (0: no limit).
    #[serde(default)]
    pub per_customer: i32,
    /// How many may be issued in all (None: no bound).
    #[serde(default)]
    pub stock: Option<i64>,
    /// Stores where it counts (empty: every store, and online).
    #[serde(default)]
    pub store_ids: Vec<i64>,
}

/// When an issued coupon counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Fixed { from: Millis, to: Millis },
    Days(i32),
}

impl Validity {
    /// The window `[from, to)` of a coupon issued at `issued_at`.
    pub fn window(self, issued_at: Millis) -> (Millis, Millis) {
        match self {
            Validity::Fixed { from, to } => (from, to),
            Validity::Days(n) => (issued_at, issued_at.saturating_add(i64::from(n) * DAY_MS)),
        }
    }
}

impl TemplateDraft {
    /// The draft trimmed and checked, every problem at once.
    pub fn validate(&self) -> Result<TemplateDraft, ValidationError> {
        let mut c = Checker::default();
        let name = c.text("name", &self.name, MAX_NAME_CHARS, true);
        let gift = c.text("gift", &self.gift, MAX_GIFT_CHARS, self.kind == CouponKind::Gift);
        let money = |c: &mut Checker, field: &str, v: i64, min: i64| {
            if !(min..=MAX_VALUE_FEN).contains(&v) {
                c.push(field, "out_of_range", format!("{field} is {min}..={MAX_VALUE_FEN} fen"));
            }
        };
        match self.kind {
            CouponKind::Cash => money(&mut c, "value_fen", self.value_fen, 1),
            CouponKind::Threshold => {
                money(&mut c, "value_fen", self.value_fen, 1);
                money(&mut c, "min_fen", self.min_fen, 1);
                if self.value_fen > self.min_fen {
                    c.push("value_fen", "over_threshold", "the amount off is more than the threshold");
                }
            }
            CouponKind::Discount => {
                money(&mut c, "min_fen", self.min_fen, 0);
                if !(1..=99).contains(&self.discount_pct) {
                    c.push("discount_pct", "out_of_range", "the percent paid is 1..=99 (8.5折 = 85)");
                }
            }
            CouponKind::Gift => {}
        }
        match (self.valid_from, self.valid_to, self.valid_days) {
            (Some(f), Some(t), None) if f < t => {}
            (Some(_), Some(_), None) => c.push("valid_to", "before_start", "the end is after the start"),
            (None, None, Some(d)) if (1..=MAX_VALID_DAYS).contains(&d) => {}
            (None, None, Some(_)) => {
                c.push("valid_days", "out_of_range", format!("valid 1..={MAX_VALID_DAYS} days from issue"))
            }
            _ => c.push("valid_days", "validity", "give either fixed dates (from and to) or a number of days"),
        }
        if !(0..=MAX_PER_CUSTOMER).contains(&self.per_customer) {
            c.push("per_customer", "out_of_range", format!("0..={MAX_PER_CUSTOMER} a customer (0: no limit)"));
        }
        if self.stock.is_some_and(|s| !(0..=MAX_STOCK).contains(&s)) {
            c.push("stock", "out_of_range", format!("stock is 0..={MAX_STOCK}"));
        }
        if self.store_ids.len() > MAX_STORES {
            c.push("store_ids", "too_many", format!("at most {MAX_STORES} stores"));
        }
        let mut store_ids = self.store_ids.clone();
        store_ids.sort_unstable();
        store_ids.dedup();
        let keep = |v: i64, used: bool| if used { v } else { 0 };
        c.finish(TemplateDraft {
            name,
            kind: self.kind,
            value_fen: keep(self.value_fen, matches!(self.kind, CouponKind::Cash | CouponKind::Threshold)),
            min_fen: keep(self.min_fen, matches!(self.kind, CouponKind::Threshold | CouponKind::Discount)),
            discount_pct: if self.kind == CouponKind::Discount { self.discount_pct } else { 0 },
            gift: if self.kind == CouponKind::Gift { gift } else { String::new() },
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            valid_days: self.valid_days,
            per_customer: self.per_customer,
            stock: self.stock,
            store_ids,
        })
    }

    /// Once a template has issued coupons, what those coupons promised
    /// stays: the kind, the amount off, the threshold, the percent, the gift
    /// and the validity (an issued coupon reads its terms from its
    /// template). The name (wording), the stock (never below what was
    /// issued), the limit per customer and the stores may still change.
    /// Both drafts checked; every locked field that changed is reported.
    pub fn check_change_after_issue(&self, new: &TemplateDraft, issued: i64) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        if issued > 0 {
            let changed = [
                ("kind", self.kind != new.kind),
                ("value_fen", self.value_fen != new.value_fen),
                ("min_fen", self.min_fen != new.min_fen),
                ("discount_pct", self.discount_pct != new.discount_pct),
                ("gift", self.gift != new.gift),
                (
                    "valid_days",
                    (self.valid_from, self.valid_to, self.valid_days) != (new.valid_from, new.valid_to, new.valid_days),
                ),
            ];
            for (field, _) in changed.into_iter().filter(|(_, ch)| *ch) {
                c.push(
                    field,
                    "locked_after_issue",
                    format!("{issued} coupons were issued with the old terms; make a new template instead"),
                );
            }
        }
        if new.stock.is_some_and(|s| s < issued) {
            c.push("stock", "below_issued", format!("{issued} were issued already"));
        }
        c.finish(())
    }

    /// The validity of a checked draft.
    pub fn validity(&self) -> Validity {
        match (self.valid_from, self.valid_to) {
            (Some(from), Some(to)) => Validity::Fixed { from, to },
            _ => Validity::Days(self.valid_days.unwrap_or(1)),
        }
    }

    /// What a customer reads: "满49减20", "¥10 无门槛", "8.5折", the gift.
    pub fn title(&self) -> String {
        title(self.kind, self.value_fen, self.min_fen, self.discount_pct, &self.gift)
    }
}

fn yuan(fen: i64) -> String {
    if fen % 100 == 0 {
        format!("{}", fen / 100)
    } else {
        format!("{}.{:02}", fen / 100, fen % 100)
    }
}

/// A coupon's short title from its terms.
pub fn title(kind: CouponKind, value_fen: i64, min_fen: i64, discount_pct: i32, gift: &str) -> String {
    match kind {
        CouponKind::Cash => format!("¥{} 无门槛", yuan(value_fen)),
        CouponKind::Threshold => format!("满{}减{}", yuan(min_fen), yuan(value_fen)),
        CouponKind::Discount => {
            let zhe = if discount_pct % 10 == 0 {
                format!("{}", discount_pct / 10)
            } else {
                format!("{}.{}", discount_pct / 10, discount_pct % 10)
            };
            if min_fen > 0 {
                format!("满{}享{zhe}折", yuan(min_fen))
            } else {
                format!("{zhe}折")
            }
        }
        CouponKind::Gift => format!("礼品：{gift}"),
    }
}

/// A coupon's terms as a counter needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub kind: CouponKind,
    pub value_fen: i64,
    pub min_fen: i64,
    pub discount_pct: i32,
    /// Empty: every store.
    pub store_ids: Vec<i64>,
    pub valid_from: Millis,
    pub valid_to: Millis,
}

/// Why a coupon does not apply; the code is stable (API errors, the sidebar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    NotStarted,
    Expired,
    BelowThreshold,
    WrongStore,
    /// Used, revoked or expired already.
    NotIssued,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotStarted => "not_started",
            Refusal::Expired => "expired",
            Refusal::BelowThreshold => "below_threshold",
            Refusal::WrongStore => "wrong_store",
            Refusal::NotIssued => "not_issued",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotStarted => "the coupon is not valid yet",
            Refusal::Expired => "the coupon has expired",
            Refusal::BelowThreshold => "the order is below the coupon's threshold",
            Refusal::WrongStore => "the coupon does not count in this store",
            Refusal::NotIssued => "the coupon is used, revoked or expired",
        }
    }
}

/// What the coupon takes off an order of `amount_fen` in `store_id` (None:
/// online or unknown) at `now`: fen off (0 for a gift, which is handed over).
/// Never more than the amount.
pub fn check(t: &Terms, amount_fen: i64, store_id: Option<i64>, now: Millis) -> Result<i64, Refusal> {
    if now < t.valid_from {
        return Err(Refusal::NotStarted);
    }
    if now >= t.valid_to {
        return Err(Refusal::Expired);
    }
    if !t.store_ids.is_empty() && !store_id.is_some_and(|s| t.store_ids.contains(&s)) {
        return Err(Refusal::WrongStore);
    }
    let amount = amount_fen.max(0);
    match t.kind {
        CouponKind::Cash => Ok(t.value_fen.min(amount)),
        CouponKind::Threshold | CouponKind::Discount if amount < t.min_fen => Err(Refusal::BelowThreshold),
        CouponKind::Threshold => Ok(t.value_fen.min(amount)),
        // Off is rounded down: the customer never pays less than the share.
        CouponKind::Discount => Ok(amount * i64::from(100 - t.discount_pct) / 100),
        CouponKind::Gift => Ok(0),
    }
}

/// Whether a customer holding `held` coupons of a template may get another.
pub fn within_limit(per_customer: i32, held: i64) -> bool {
    per_customer == 0 || held < i64::from(per_customer)
}

/// When to remind a customer of a coupon running out: three days before its
/// end, or at once when less is left of it.
pub fn remind_at(valid_to: Millis, issued_at: Millis) -> Millis {
    (valid_to - 3 * DAY_MS).max(issued_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_terms_are_locked_but_wording_and_stock_are_not() {
        let old = TemplateDraft {
            name: "满49减20".into(),
            kind: CouponKind::Threshold,
            value_fen: 2000,
            min_fen: 4900,
            discount_pct: 0,
            gift: String::new(),
            valid_from: None,
            valid_to: None,
            valid_days: Some(30),
            per_customer: 1,
            stock: Some(10),
            store_ids: vec![],
        };
        let wording =
            TemplateDraft { name: "双11 满49减20".into(), stock: Some(100), per_customer: 2, ..old.clone() };
        assert!(old.check_change_after_issue(&wording, 5).is_ok());
        let face = TemplateDraft { value_fen: 3000, valid_days: Some(60), ..old.clone() };
        let err = old.check_change_after_issue(&face, 5).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["value_fen", "valid_days"]);
        assert!(err.0.iter().all(|e| e.code == "locked_after_issue"));
        assert!(old.check_change_after_issue(&face, 0).is_ok(), "nothing issued: anything goes");
        let low = TemplateDraft { stock: Some(4), ..old.clone() };
        assert_eq!(old.check_change_after_issue(&low, 5).unwrap_err().0[0].code, "below_issued");
    }

    fn draft(kind: CouponKind) -> TemplateDraft {
        TemplateDraft {
            name: " 49-20 ".into(),
            kind,
            value_fen: 2000,
            min_fen: 4900,
            discount_pct: 85,
            gift: "帆布袋".into(),
            valid_from: None,
            valid_to: None,
            valid_days: Some(30),
            per_customer: 1,
            stock: Some(100),
            store_ids: vec![3, 2, 3],
        }
    }

    fn terms(kind: CouponKind) -> Terms {
        let d = draft(kind).validate().expect("valid");
        Terms {
            kind,
            value_fen: d.value_fen,
            min_fen: d.min_fen,
            discount_pct: d.discount_pct,
            store_ids: d.store_ids,
            valid_from: 1000,
            valid_to: 2000,
        }
    }

    #[test]
    fn a_threshold_coupon_takes_its_amount_off_orders_from_the_threshold() {
        let t = terms(CouponKind::Threshold);
        assert_eq!(check(&t, 4900, Some(2), 1500), Ok(2000));
        assert_eq!(check(&t, 4899, Some(2), 1500), Err(Refusal::BelowThreshold));
        assert_eq!(check(&t, 9000, Some(4), 1500), Err(Refusal::WrongStore));
        assert_eq!(check(&t, 9000, None, 1500), Err(Refusal::WrongStore));
        assert_eq!(check(&t, 9000, Some(3), 999), Err(Refusal::NotStarted));
        assert_eq!(check(&t, 9000, Some(3), 2000), Err(Refusal::Expired), "the end is exclusive");
        assert_eq!(draft(CouponKind::Threshold).validate().unwrap().title(), "满49减20");
    }

    #[test]
    fn cash_never_takes_more_than_the_order_and_discounts_round_for_the_brand() {
        let mut t = terms(CouponKind::Cash);
        t.store_ids.clear();
        assert_eq!(check(&t, 1500, None, 1500), Ok(1500));
        assert_eq!(check(&t, 5000, None, 1500), Ok(2000));
        let mut d = terms(CouponKind::Discount);
        d.store_ids.clear();
        assert_eq!(check(&d, 10_000, None, 1500), Ok(1500), "8.5折 takes 15%");
        assert_eq!(check(&d, 4999, None, 1500), Ok(749), "rounded down");
        assert_eq!(check(&d, 100, None, 1500), Err(Refusal::BelowThreshold));
        assert_eq!(draft(CouponKind::Discount).validate().unwrap().title(), "满49享8.5折");
        let mut g = terms(CouponKind::Gift);
        g.store_ids.clear();
        assert_eq!(check(&g, 0, None, 1500), Ok(0));
    }

    #[test]
    fn drafts_keep_only_what_their_kind_uses() {
        let d = draft(CouponKind::Cash).validate().unwrap();
        assert_eq!((d.name.as_str(), d.min_fen, d.discount_pct, d.gift.as_str()), ("49-20", 0, 0, ""));
        assert_eq!(d.store_ids, vec![2, 3]);
        assert_eq!(d.validity(), Validity::Days(30));
        assert_eq!(d.validity().window(5), (5, 5 + 30 * DAY_MS));
    }

    #[test]
    fn bad_drafts_say_every_problem() {
        let mut d = draft(CouponKind::Threshold);
        d.value_fen = 6000;
        d.valid_from = Some(10);
        d.per_customer = -1;
        let e = d.validate().unwrap_err();
        let codes: Vec<&str> = e.0.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["over_threshold", "validity", "out_of_range"]);
        let mut d = draft(CouponKind::Discount);
        d.discount_pct = 100;
        assert_eq!(d.validate().unwrap_err().0[0].field, "discount_pct");
        let mut d = draft(CouponKind::Gift);
        d.gift = " ".into();
        assert_eq!(d.validate().unwrap_err().0[0].field, "gift");
        let mut d = draft(CouponKind::Cash);
        (d.valid_from, d.valid_to, d.valid_days) = (Some(10), Some(5), None);
        assert_eq!(d.validate().unwrap_err().0[0].code, "before_start");
    }

    #[test]
    fn limits_and_reminders() {
        assert!(within_limit(0, 99));
        assert!(within_limit(2, 1));
        assert!(!within_limit(2, 2));
        assert_eq!(remind_at(10 * DAY_MS, 0), 7 * DAY_MS);
        assert_eq!(remind_at(2 * DAY_MS, DAY_MS), DAY_MS);
        for k in CouponKind::ALL {
            assert_eq!(CouponKind::parse(k.as_str()), Some(k));
        }
    }
}
