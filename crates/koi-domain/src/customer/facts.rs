//! The behavioural facts of one customer, kept as counters on the customer
//! row, and the events that move them. Counters rather than an event scan:
//! the stage, the bands and the segments read them for millions of
//! customers, and an event log is for analytics, not for this.

use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

/// Longest name a behaviour may carry (a poll, an answer, a material…).
pub const MAX_LABEL_CHARS: usize = 64;
/// Largest single order, in fen (one hundred million yuan): anything bigger
/// is a POS bug or a unit mistake (yuan sent as fen × 100), not a sale.
pub const MAX_ORDER_FEN: i64 = 100_000_000 * 100;

/// What koi has seen a customer do, as counters. `Default` is a customer
/// added at the epoch who has done nothing yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Activity {
    /// The first add.
    pub added_at: Millis,
    /// The last engagement of any kind (see [`Behaviour::is_engagement`]).
    pub last_active_at: Option<Millis>,
    pub orders: u32,
    /// Spent net of refunds, never below zero.
    pub spent_fen: i64,
    pub first_order_at: Option<Millis>,
    pub last_order_at: Option<Millis>,
    /// Friends this customer brought in (fission: an add attributed to them).
    pub friends_brought: u32,
    pub groups_joined: u32,
    pub shares: u32,
}

/// A behavioural event reported to koi (by WeCom callbacks, by the brand's
/// shop/POS through the API, by campaigns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    /// `amount_fen` is 1..=[`MAX_ORDER_FEN`].
    OrderPlaced {
        amount_fen: i64,
    },
    /// Reduces spent (not below 0). A partial refund leaves the order
    /// counted, as it was placed; `whole` (the last fen of an order given
    /// back) takes the order off the count too, so its stage and bands fall
    /// back.
    OrderRefunded {
        amount_fen: i64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        whole: bool,
    },
    /// The kind of group the operator gave it: `vip`, `store`, `campaign`, ….
    GroupJoined {
        group_kind: String,
    },
    PollAnswered {
        poll: String,
        answer: String,
    },
    MaterialOpened {
        material: String,
    },
    CampaignJoined {
        campaign: String,
    },
    MessageReplied,
    Shared {
        what: String,
    },
    FriendBrought,
}

impl Behaviour {
    /// The serde tag: `order_placed`, `group_joined`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Behaviour::OrderPlaced { .. } => "order_placed",
            Behaviour::OrderRefunded { .. } => "order_refunded",
            Behaviour::GroupJoined { .. } => "group_joined",
            Behaviour::PollAnswered { .. } => "poll_answered",
            Behaviour::MaterialOpened { .. } => "material_opened",
            Behaviour::CampaignJoined { .. } => "campaign_joined",
            Behaviour::MessageReplied => "message_replied",
            Behaviour::Shared { .. } => "shared",
            Behaviour::FriendBrought => "friend_brought",
        }
    }

    /// Checks an event reported from outside: names 1..=64 characters after
    /// trimming, amounts 1..=[`MAX_ORDER_FEN`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        match self {
            Behaviour::OrderPlaced { amount_fen } | Behaviour::OrderRefunded { amount_fen, .. } => {
                if !(1..=MAX_ORDER_FEN).contains(amount_fen) {
                    c.push("amount_fen", "out_of_range", format!("amount must be 1..={MAX_ORDER_FEN} fen"));
                }
            }
            Behaviour::GroupJoined { group_kind } => label(&mut c, "group_kind", group_kind),
            Behaviour::PollAnswered { poll, answer } => {
                label(&mut c, "poll", poll);
                label(&mut c, "answer", answer);
            }
            Behaviour::MaterialOpened { material } => label(&mut c, "material", material),
            Behaviour::CampaignJoined { campaign } => label(&mut c, "campaign", campaign),
            Behaviour::Shared { what } => label(&mut c, "what", what),
            Behaviour::MessageReplied | Behaviour::FriendBrought => {}
        }
        c.finish(())
    }

    /// Whether the event shows the customer is alive. A refund is the shop's
    /// bookkeeping, not the customer engaging, so it does not count.
    pub fn is_engagement(&self) -> bool {
        !matches!(self, Behaviour::OrderRefunded { .. })
    }
}

/// A name carried by a behaviour or a trigger: trimmed, 1..=64 characters.
pub(crate) fn label(c: &mut Checker, field: &str, value: &str) {
    c.text(field, value, MAX_LABEL_CHARS, true);
}

impl Activity {
    /// A customer first added at `at`.
    pub fn added(at: Millis) -> Activity {
        Activity { added_at: at, ..Activity::default() }
    }

    /// Applies one event at `at`; returns the new activity (pure).
    ///
    /// Events may arrive out of order (a POS batch after a callback), so
    /// "last" times only move forward and the first order only backward.
    /// Counters saturate, and an amount outside its range (which
    /// [`Behaviour::validate`] refuses) is clamped rather than trusted.
    pub fn apply(&self, b: &Behaviour, at: Millis) -> Activity {
        let mut a = self.clone();
        match b {
            Behaviour::OrderPlaced { amount_fen } => {
                a.orders = a.orders.saturating_add(1);
                a.spent_fen = a.spent_fen.saturating_add((*amount_fen).clamp(0, MAX_ORDER_FEN));
                a.first_order_at = Some(a.first_order_at.map_or(at, |t| t.min(at)));
                a.last_order_at = Some(a.last_order_at.map_or(at, |t| t.max(at)));
            }
            Behaviour::OrderRefunded { amount_fen, whole } => {
                a.spent_fen = a.spent_fen.saturating_sub((*amount_fen).max(0)).max(0);
                if *whole {
                    a.orders = a.orders.saturating_sub(1);
                    if a.orders == 0 {
                        (a.first_order_at, a.last_order_at) = (None, None);
                    }
                }
            }
            Behaviour::GroupJoined { .. } => a.groups_joined = a.groups_joined.saturating_add(1),
            Behaviour::Shared { .. } => a.shares = a.shares.saturating_add(1),
            Behaviour::FriendBrought => a.friends_brought = a.friends_brought.saturating_add(1),
            Behaviour::PollAnswered { .. }
            | Behaviour::MaterialOpened { .. }
            | Behaviour::CampaignJoined { .. }
            | Behaviour::MessageReplied => {}
        }
        if b.is_engagement() {
            a.last_active_at = Some(a.last_active_at.map_or(at, |t| t.max(at)));
        }
        a
    }

    /// Influence score = friends_brought·friend + groups_joined·group + shares·share,
    /// saturating at `u32::MAX`.
    pub fn influence(&self, w: &InfluenceWeights) -> u32 {
        let score = u64::from(self.friends_brought) * u64::from(w.friend)
            + u64::from(self.groups_joined) * u64::from(w.group)
            + u64::from(self.shares) * u64::from(w.share);
        u32::try_from(score).unwrap_or(u32::MAX)
    }
}

/// How much each kind of reach counts towards influence. A brought friend
/// weighs most: it is the fission the seeds pay rewards for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct InfluenceWeights {
    pub friend: u32,
    pub group: u32,
    pub share: u32,
}

impl Default for InfluenceWeights {
    fn default() -> Self {
        Self { friend: 5, group: 1, share: 2 }
    }
}

/// Highest weight: beyond this one share would outweigh any sane threshold.
const MAX_WEIGHT: u32 = 1000;

impl InfluenceWeights {
    /// Each weight 0..=1000 (0 switches that reach off).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.check(&mut c, "");
        c.finish(())
    }

    pub(crate) fn check(&self, c: &mut Checker, prefix: &str) {
        for (name, w) in [("friend", self.friend), ("group", self.group), ("share", self.share)] {
            if w > MAX_WEIGHT {
                c.push(&format!("{prefix}{name}"), "out_of_range", format!("weight {w} is not in 0..={MAX_WEIGHT}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn placed(fen: i64) -> Behaviour {
        Behaviour::OrderPlaced { amount_fen: fen }
    }

    fn refunded(fen: i64) -> Behaviour {
        Behaviour::OrderRefunded { amount_fen: fen, whole: false }
    }

    #[test]
    fn wire_form_is_tagged_by_kind() {
        let b: Behaviour = serde_json::from_value(json!({"kind":"order_placed","amount_fen":1990})).unwrap();
        assert_eq!(b, placed(1990));
        let b: Behaviour = serde_json::from_value(json!({"kind":"friend_brought"})).unwrap();
        assert_eq!(b, Behaviour::FriendBrought);
        for b in [
            placed(1),
            refunded(1),
            Behaviour::GroupJoined { group_kind: "vip".into() },
            Behaviour::PollAnswered { poll: "肤质".into(), answer: "干性".into() },
            Behaviour::MaterialOpened { material: "m1".into() },
            Behaviour::CampaignJoined { campaign: "c1".into() },
            Behaviour::MessageReplied,
            Behaviour::Shared { what: "poster".into() },
            Behaviour::FriendBrought,
        ] {
            let v = serde_json::to_value(&b).unwrap();
            assert_eq!(v["kind"], b.kind());
            assert_eq!(serde_json::from_value::<Behaviour>(v).unwrap(), b);
        }
    }

    #[test]
    fn validate_checks_amounts_and_names() {
        assert!(placed(1).validate().is_ok());
        assert!(placed(MAX_ORDER_FEN).validate().is_ok());
        for bad in [placed(0), placed(-5), placed(MAX_ORDER_FEN + 1), refunded(0)] {
            assert_eq!(codes(&bad), ["amount_fen:out_of_range"]);
        }
        let answer = Behaviour::PollAnswered { poll: "  ".into(), answer: "长".repeat(65) };
        assert_eq!(codes(&answer), ["poll:required", "answer:too_long"]);
        assert!(Behaviour::Shared { what: "长".repeat(64) }.validate().is_ok());
        assert!(Behaviour::MessageReplied.validate().is_ok());
    }

    fn codes(b: &Behaviour) -> Vec<String> {
        b.validate().unwrap_err().0.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn orders_count_and_refunds_stop_at_zero() {
        let a = Activity::added(100);
        let a = a.apply(&placed(5000), 200).apply(&placed(3000), 150);
        assert_eq!((a.orders, a.spent_fen), (2, 8000));
        assert_eq!((a.first_order_at, a.last_order_at, a.last_active_at), (Some(150), Some(200), Some(200)));
        let a = a.apply(&refunded(3000), 300);
        assert_eq!((a.orders, a.spent_fen, a.last_active_at), (2, 5000, Some(200)));
        let a = a.apply(&refunded(9000), 400);
        assert_eq!(a.spent_fen, 0);
    }

    #[test]
    fn a_whole_refund_takes_the_order_off_the_count() {
        let whole = |fen| Behaviour::OrderRefunded { amount_fen: fen, whole: true };
        let a = Activity::added(0).apply(&placed(5000), 10).apply(&placed(3000), 20);
        let b = a.apply(&whole(3000), 30);
        assert_eq!((b.orders, b.spent_fen, b.first_order_at), (1, 5000, Some(10)));
        let c = b.apply(&whole(5000), 40);
        assert_eq!((c.orders, c.spent_fen, c.first_order_at, c.last_order_at), (0, 0, None, None));
        assert_eq!(c.apply(&whole(1), 50).orders, 0, "never below zero");
        let v = serde_json::to_value(whole(1)).unwrap();
        assert_eq!(v, json!({"kind": "order_refunded", "amount_fen": 1, "whole": true}));
        assert_eq!(serde_json::to_value(refunded(1)).unwrap(), json!({"kind": "order_refunded", "amount_fen": 1}));
    }

    #[test]
    fn reach_counters_and_engagement() {
        let a = Activity::added(0)
            .apply(&Behaviour::GroupJoined { group_kind: "vip".into() }, 10)
            .apply(&Behaviour::Shared { what: "poster".into() }, 20)
            .apply(&Behaviour::FriendBrought, 30)
            .apply(&Behaviour::FriendBrought, 5)
            .apply(&Behaviour::MessageReplied, 25);
        assert_eq!((a.groups_joined, a.shares, a.friends_brought), (1, 1, 2));
        assert_eq!(a.last_active_at, Some(30));
        assert_eq!(a.orders, 0);
        assert_eq!(a.influence(&InfluenceWeights::default()), 2 * 5 + 1 + 2);
        assert!(!refunded(1).is_engagement());
        assert!(Behaviour::MaterialOpened { material: "m".into() }.is_engagement());
    }

    #[test]
    fn influence_saturates() {
        let a = Activity { friends_brought: u32::MAX, shares: u32::MAX, ..Activity::default() };
        assert_eq!(a.influence(&InfluenceWeights::default()), u32::MAX);
        assert_eq!(a.influence(&InfluenceWeights { friend: 0, group: 0, share: 0 }), 0);
    }

    fn behaviour() -> impl Strategy<Value = Behaviour> {
        prop_oneof![
            any::<i64>().prop_map(placed),
            any::<i64>().prop_map(refunded),
            (0i64..1_000_000).prop_map(placed),
            (0i64..1_000_000).prop_map(refunded),
            Just(Behaviour::FriendBrought),
            Just(Behaviour::MessageReplied),
            Just(Behaviour::GroupJoined { group_kind: "vip".into() }),
        ]
    }

    proptest! {
        #[test]
        fn apply_never_makes_spent_negative_nor_loses_orders(
            events in proptest::collection::vec((behaviour(), any::<i64>()), 0..40),
        ) {
            let mut a = Activity::default();
            for (b, at) in &events {
                let next = a.apply(b, *at);
                prop_assert!(next.spent_fen >= 0);
                prop_assert!(next.orders >= a.orders);
                prop_assert!(next.last_active_at >= a.last_active_at);
                prop_assert_eq!(next.first_order_at.is_some(), next.orders > 0);
                prop_assert!(next.first_order_at <= next.last_order_at);
                a = next;
            }
        }
    }
}
