//! Reward tiers (3 → coupon, 10 → gift, 30 → VIP group) and the rewards a
//! campaign gives. A tier is reached when a participant's valid invites
//! reach its threshold, and is given once: a participant who loses an
//! invite after a paid tier has to replace it before the next tier counts,
//! because the next tier's threshold is a count of valid invites too.

use crate::error::Checker;
use serde::{Deserialize, Serialize};

/// WeChat Pay's bounds on one enterprise red packet (CONTRACT.md §6).
pub const RED_ENVELOPE_MIN_FEN: i64 = 100;
pub const RED_ENVELOPE_MAX_FEN: i64 = 20_000;
pub const MAX_THRESHOLD: u32 = 10_000;
pub const MAX_TITLE_CHARS: usize = 40;
pub const MAX_URL_CHARS: usize = 500;

/// One tier of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tier {
    /// Valid invites that reach it.
    pub threshold: u32,
    pub reward: RewardSpec,
    /// How many of this reward the campaign gives at most (None: no bound
    /// but the budget).
    #[serde(default)]
    pub inventory: Option<u32>,
}

/// What a reward is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// A coupon link (the coupon module's coupon once it exists).
    Coupon,
    Points,
    /// A WeChat Pay enterprise red packet.
    RedEnvelope,
    /// A physical gift, picked up in a store with a redemption code.
    Gift,
    /// An invitation to a group code's groups (the VIP group).
    Group,
}

impl RewardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Coupon => "coupon",
            RewardKind::Points => "points",
            RewardKind::RedEnvelope => "red_envelope",
            RewardKind::Gift => "gift",
            RewardKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "coupon" => RewardKind::Coupon,
            "points" => RewardKind::Points,
            "red_envelope" => RewardKind::RedEnvelope,
            "gift" => RewardKind::Gift,
            "group" => RewardKind::Group,
            _ => return None,
        })
    }

    /// Whether a reward of this kind can be taken back while unused (a
    /// paid red packet cannot).
    pub fn revocable(self) -> bool {
        !matches!(self, RewardKind::RedEnvelope)
    }

    /// Whether the customer gets a code to show in a store or at checkout.
    pub fn has_code(self) -> bool {
        matches!(self, RewardKind::Coupon | RewardKind::Gift)
    }
}

/// A reward as the operator sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RewardSpec {
    pub kind: RewardKind,
    /// What the customer reads: "满49减20", "帆布袋", "VIP群".
    #[serde(default)]
    pub title: String,
    /// Red envelopes: the amount. Points: the points.
    #[serde(default)]
    pub amount: i64,
    /// Coupons: the coupon's link (a coupon of another system), unless…
    #[serde(default)]
    pub url: String,
    /// …coupons: the koi coupon template a reached tier issues, once per
    /// participant and tier.
    #[serde(default)]
    pub coupon_template_id: Option<i64>,
    /// Group rewards: the group code invited to.
    #[serde(default)]
    pub group_code_id: Option<i64>,
    /// What one costs the brand, in fen, counted against the budget (a red
    /// envelope costs its amount whatever this says).
    #[serde(default)]
    pub cost_fen: i64,
}

impl RewardSpec {
    pub fn coupon(title: &str, url: &str) -> Self {
        RewardSpec {
            kind: RewardKind::Coupon,
            title: title.into(),
            amount: 0,
            url: url.into(),
            group_code_id: None,
            coupon_template_id: None,
            cost_fen: 0,
        }
    }

    pub fn red_envelope(amount_fen: i64) -> Self {
        RewardSpec {
            kind: RewardKind::RedEnvelope,
            title: format!("¥{}.{:02}", amount_fen / 100, amount_fen % 100),
            amount: amount_fen,
            url: String::new(),
            group_code_id: None,
            coupon_template_id: None,
            cost_fen: amount_fen,
        }
    }

    pub fn gift(title: &str, cost_fen: i64) -> Self {
        RewardSpec {
            kind: RewardKind::Gift,
            title: title.into(),
            amount: 0,
            url: String::new(),
            group_code_id: None,
            coupon_template_id: None,
            cost_fen,
        }
    }

    pub fn points(points: i64) -> Self {
        RewardSpec {
            kind: RewardKind::Points,
            title: format!("{points} 积分"),
            amount: points,
            url: String::new(),
            group_code_id: None,
            coupon_template_id: None,
            cost_fen: 0,
        }
    }

    /// What one reward takes from the budget.
    pub fn cost_fen(&self) -> i64 {
        match self.kind {
            RewardKind::RedEnvelope => self.amount,
            _ => self.cost_fen,
        }
    }

    pub(crate) fn check(&self, c: &mut Checker, field: &str) {
        let title = c.text(&format!("{field}.title"), &self.title, MAX_TITLE_CHARS, false);
        if self.cost_fen < 0 {
            c.push(&format!("{field}.cost_fen"), "out_of_range", "a cost is not negative");
        }
        match self.kind {
            RewardKind::RedEnvelope => {
                if !(RED_ENVELOPE_MIN_FEN..=RED_ENVELOPE_MAX_FEN).contains(&self.amount) {
                    c.push(
                        &format!("{field}.amount"),
                        "out_of_range",
                        format!("a red envelope is {RED_ENVELOPE_MIN_FEN}..={RED_ENVELOPE_MAX_FEN} fen (WeChat Pay's bounds)"),
                    );
                }
            }
            RewardKind::Points => {
                if !(1..=1_000_000).contains(&self.amount) {
                    c.push(&format!("{field}.amount"), "out_of_range", "points are 1..=1000000");
                }
            }
            RewardKind::Coupon if self.coupon_template_id.is_some() => {}
            RewardKind::Coupon => {
                let url = self.url.trim();
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.chars().count() > MAX_URL_CHARS {
                    c.push(
                        &format!("{field}.url"),
                        "invalid_url",
                        "a coupon is a coupon template or a link (http or https, ≤500 characters)",
                    );
                }
            }
            RewardKind::Gift => {
                if title.is_empty() {
                    c.push(&format!("{field}.title"), "required", "name the gift");
                }
            }
            RewardKind::Group => {
                if self.group_code_id.is_none() {
                    c.push(&format!("{field}.group_code_id"), "required", "choose the group code invited to");
                }
            }
        }
    }
}

pub(crate) fn check(c: &mut Checker, tiers: &[Tier]) {
    if tiers.len() > super::MAX_TIERS {
        c.push("tiers", "too_many", format!("at most {} tiers", super::MAX_TIERS));
    }
    for (i, t) in tiers.iter().enumerate() {
        if !(1..=MAX_THRESHOLD).contains(&t.threshold) {
            c.push(&format!("tiers[{i}].threshold"), "out_of_range", format!("a threshold is 1..={MAX_THRESHOLD}"));
        }
        if i > 0 && t.threshold <= tiers[i - 1].threshold {
            c.push(
                &format!("tiers[{i}].threshold"),
                "not_increasing",
                "each tier needs more invites than the one before",
            );
        }
        if t.inventory == Some(0) {
            c.push(
                &format!("tiers[{i}].inventory"),
                "out_of_range",
                "an inventory of 0 gives nothing; remove the tier",
            );
        }
        t.reward.check(c, &format!("tiers[{i}]"));
    }
}

/// The tiers (by index) a participant with `valid` invites has reached and
/// not been given yet (`given` lists the indexes already given).
pub fn tiers_due(tiers: &[Tier], valid: u32, given: &[usize]) -> Vec<usize> {
    tiers.iter().enumerate().filter(|(i, t)| valid >= t.threshold && !given.contains(i)).map(|(i, _)| i).collect()
}

/// The next tier a participant is working towards, and invites still
/// missing.
pub fn next_tier(tiers: &[Tier], valid: u32) -> Option<(usize, u32)> {
    tiers.iter().enumerate().find(|(_, t)| t.threshold > valid).map(|(i, t)| (i, t.threshold - valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tiers() -> Vec<Tier> {
        vec![
            Tier { threshold: 3, reward: RewardSpec::coupon("满49减20", "https://s/c"), inventory: None },
            Tier { threshold: 10, reward: RewardSpec::gift("帆布袋", 1500), inventory: Some(100) },
            Tier { threshold: 30, reward: RewardSpec::red_envelope(5000), inventory: None },
        ]
    }

    #[test]
    fn tiers_are_given_once_in_order() {
        let t = tiers();
        assert!(tiers_due(&t, 2, &[]).is_empty());
        assert_eq!(tiers_due(&t, 3, &[]), [0]);
        assert_eq!(tiers_due(&t, 12, &[0]), [1]);
        assert_eq!(tiers_due(&t, 31, &[]), [0, 1, 2]);
        assert_eq!(next_tier(&t, 4), Some((1, 6)));
        assert_eq!(next_tier(&t, 30), None);
    }

    #[test]
    fn bad_tiers_are_named() {
        let mut t = tiers();
        t[1].threshold = 3;
        t[2].reward.amount = 50;
        t[0].reward.url = "javascript:alert(1)".into();
        let mut c = Checker::default();
        check(&mut c, &t);
        let fields: Vec<String> = c.finish(()).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["tiers[0].url", "tiers[1].threshold", "tiers[2].amount"]);
    }

    proptest! {
        /// Whatever order counts arrive in, a tier is due only once reached
        /// and never once given.
        #[test]
        fn due_tiers_are_reached_and_new(valid in 0u32..50, given in proptest::collection::vec(0usize..3, 0..3)) {
            let t = tiers();
            for i in tiers_due(&t, valid, &given) {
                prop_assert!(t[i].threshold <= valid);
                prop_assert!(!given.contains(&i));
            }
        }
    }
}
