//! What koi knows about one customer beyond the friend relation, and the
//! rules an operator sets to read it: behavioural counters, the lifecycle
//! stage (引流 → 蓄水 → 活水 → 养鱼 → 养大鱼), RFM bands, tag rules that tag
//! by behaviour, custom fields, and WeCom's corp tag limits.
//!
//! Everything is a pure function of the counters and the clock: the engine
//! folds each reported [`Behaviour`] into the customer's [`Activity`], then
//! asks [`ValueRules`] for the stage and bands and [`fire`] for the tags.
//!
//! | file | room for |
//! |---|---|
//! | `mod.rs` | [`ValueRules`]: the per-corp rule set the engine stores as JSON |
//! | `filter.rs` | [`CustomerFilter`]: which customers a list shows |
//! | `facts.rs` | [`Activity`] counters, the [`Behaviour`] events that move them, influence |
//! | `lifecycle.rs` | [`StageRules`]: the five stages with operator-readable reasons |
//! | `rfm.rs` | [`RfmRules`]: recency, frequency and monetary bands |
//! | `tagrule.rs` | [`TagRule`], [`Trigger`], [`Happening`] and [`fire`] |
//! | `fields.rs` | custom fields: [`FieldDef`] and value normalisation |
//! | `tags.rs` | corp tag names and the WeCom reconcile [`diff_tags`] |

mod facts;
mod fields;
mod filter;
mod lifecycle;
mod rfm;
mod tagrule;
mod tags;

pub use facts::{Activity, Behaviour, InfluenceWeights, MAX_LABEL_CHARS, MAX_ORDER_FEN};
pub use fields::{validate_fields, FieldDef, FieldKind, MAX_FIELDS};
pub use filter::CustomerFilter;
pub use lifecycle::{StageReason, StageRules};
pub use rfm::RfmRules;
pub use tagrule::{due_rules, fire, Happening, TagRule, Trigger, MAX_RULE_TAGS};
pub use tags::{diff_tags, validate_tag_name, TagDiff, TagSnapshot, MAX_CORP_TAGS, MAX_TAG_NAME};

use crate::error::Checker;
use crate::segment::Stage;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};

pub(crate) const DAY_MS: i64 = 86_400_000;

/// Whole days from `then` to `now`, never negative: a clock that runs a
/// little behind the event's reporter must not make a customer "-1 days" old.
pub(crate) fn days_since(then: Millis, now: Millis) -> i64 {
    now.saturating_sub(then).max(0) / DAY_MS
}

/// Whether `then` lies less than `days` days before `now` (or after it).
pub(crate) fn within_days(then: Millis, now: Millis, days: u32) -> bool {
    now.saturating_sub(then) < i64::from(days) * DAY_MS
}

/// The rules one corp reads its customers by. Stored per corp as JSON;
/// every part has `#[serde(default)]`, so `{}` or `{"stages":{"new_days":3}}`
/// is a complete rule set and older JSON keeps loading when fields are added.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ValueRules {
    pub stages: StageRules,
    pub rfm: RfmRules,
    pub influence: InfluenceWeights,
}

/// One customer read through [`ValueRules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub stage: Stage,
    /// Why, as data (its `Display` is the English `orders 3 ≥ 3`).
    pub reason: StageReason,
    pub influence: u32,
    /// `[r, f, m]` bands, see [`RfmRules::score`].
    pub rfm: [Option<u8>; 3],
}

impl ValueRules {
    /// Checks every part, reporting fields as `stages.new_days`, `rfm.frequency`, ….
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.stages.check(&mut c, "stages.");
        self.rfm.check(&mut c, "rfm.");
        self.influence.check(&mut c, "influence.");
        c.finish(())
    }

    /// Stage, reason, influence and RFM bands of one customer at `now`.
    pub fn assess(&self, a: &Activity, now: Millis) -> Assessment {
        let influence = a.influence(&self.influence);
        let (stage, reason) = self.stages.assess(a, influence, now);
        Assessment { stage, reason, influence, rfm: self.rfm.score(a, now) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_json_fills_defaults() {
        let r: ValueRules = serde_json::from_value(json!({})).unwrap();
        assert_eq!(r, ValueRules::default());
        let r: ValueRules =
            serde_json::from_value(json!({"stages": {"new_days": 3}, "influence": {"friend": 10}})).unwrap();
        assert_eq!(r.stages, StageRules { new_days: 3, ..StageRules::default() });
        assert_eq!(r.influence, InfluenceWeights { friend: 10, ..InfluenceWeights::default() });
        assert_eq!(r.rfm, RfmRules::default());
        let back: ValueRules = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn validate_reports_every_part_with_its_path() {
        assert!(ValueRules::default().validate().is_ok());
        let bad = ValueRules {
            stages: StageRules { new_days: 0, ..StageRules::default() },
            rfm: RfmRules { frequency: [2, 2, 5, 10], ..RfmRules::default() },
            influence: InfluenceWeights { friend: 1_000_000, ..InfluenceWeights::default() },
        };
        let fields: Vec<_> = bad.validate().unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("stages.new_days".to_string(), "out_of_range".to_string()),
                ("rfm.frequency".to_string(), "not_increasing".to_string()),
                ("influence.friend".to_string(), "out_of_range".to_string()),
            ]
        );
    }

    #[test]
    fn assess_uses_the_corps_weights() {
        let a = Activity { orders: 1, friends_brought: 3, last_order_at: Some(0), ..Activity::default() };
        let r = ValueRules::default();
        let got = r.assess(&a, DAY_MS);
        assert_eq!((got.stage, got.influence), (Stage::Converted, 15));
        let r = ValueRules { influence: InfluenceWeights { friend: 7, ..InfluenceWeights::default() }, ..r };
        let got = r.assess(&a, DAY_MS);
        assert_eq!(
            (got.stage, got.influence, got.reason.to_string().as_str()),
            (Stage::Super, 21, "influence 21 ≥ 20")
        );
        assert_eq!(got.rfm, [Some(5), Some(1), Some(1)]);
    }

    #[test]
    fn days_never_run_backwards() {
        assert_eq!(days_since(10 * DAY_MS, 0), 0);
        assert_eq!(days_since(0, 3 * DAY_MS - 1), 2);
        assert!(within_days(0, 7 * DAY_MS - 1, 7));
        assert!(!within_days(0, 7 * DAY_MS, 7));
        assert!(within_days(DAY_MS, 0, 1));
    }
}
