//! Customers beyond the add: the tag catalogue synced with WeCom, tagging
//! (by hand, in bulk, by rules), behaviour and the value computed from it
//! (lifecycle stage, RFM, influence), custom fields, the profile page — and
//! segments over all of it.
//!
//! | file | room for |
//! |---|---|
//! | `tags.rs` | the catalogue: create, rename, delete through WeCom; sync from it |
//! | `tagging.rs` | tagging customers: one, in bulk, by rules; `mark_tag` jobs; pulling WeCom's tags |
//! | `behaviour.rs` | behaviour events, lifecycle stage, RFM, influence; the sweep |
//! | `fields.rs` | custom field definitions and values; the value rules |
//! | `profile.rs` | the customer profile (console page and API) |
//! | `links.rs` | a customer's own link to koi's H5 pages (wallet, checkout, earnings) |
//! | `segments.rs` | the in-memory segment index per corp and the names expressions may use, kept current; segment use cases |

mod behaviour;
mod fields;
mod links;
mod profile;
pub(crate) mod segments;
pub(crate) mod tagging;
mod tags;

pub use behaviour::BehaviourOutcome;
pub use fields::FieldDefView;
pub(crate) use links::customer_link_in;
pub use links::CustomerLink;
pub use profile::{CustomerProfileView, OrderLine, ProfileTag, TimelineEntry};
pub use segments::{ExportRow, SegmentInput, SegmentResult, SegmentView};
pub use tagging::{BulkOutcome, BulkTarget, Cause, BULK_INLINE};
pub use tags::{TagGroupView, TagRuleView, TagView};

pub(crate) use behaviour::{record_behaviour_in, SweepJob};
pub(crate) use tagging::{BulkJob, MarkJob, PullJob};
pub(crate) use tags::TagSyncJob;

use crate::{Engine, EngineError, Result};
use koi_domain::customer::{Activity, ValueRules};
use koi_domain::segment::Stage;
use koi_store::customers::ActivityRow;
use koi_store::Tx;

/// Where the corp's [`ValueRules`] live in `corp_settings`.
pub(crate) const VALUE_RULES_KEY: &str = "value_rules";

/// The counters of a customer row as the domain sees them.
fn activity_of(r: &ActivityRow) -> Activity {
    let count = |n: i32| n.max(0) as u32;
    Activity {
        added_at: r.added_at,
        last_active_at: r.last_active_at,
        orders: count(r.orders),
        spent_fen: r.spent_fen,
        first_order_at: r.first_order_at,
        last_order_at: r.last_order_at,
        friends_brought: count(r.friends_brought),
        groups_joined: count(r.groups_joined),
        shares: count(r.shares),
    }
}

/// Writes the domain's counters back onto the row.
pub(crate) fn set_counters_of(r: &mut ActivityRow, a: &Activity) {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    r.last_active_at = a.last_active_at;
    r.orders = count(a.orders);
    r.spent_fen = a.spent_fen;
    r.first_order_at = a.first_order_at;
    r.last_order_at = a.last_order_at;
    r.friends_brought = count(a.friends_brought);
    r.groups_joined = count(a.groups_joined);
    r.shares = count(a.shares);
}

impl Engine {
    /// The corp's value rules (defaults until an operator changes them).
    pub(crate) async fn value_rules_of(&self, corp_id: i64) -> Result<ValueRules> {
        match self.db.corp_setting(corp_id, VALUE_RULES_KEY).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Unavailable(format!("stored value rules of corp {corp_id}: {e}"))),
            None => Ok(ValueRules::default()),
        }
    }

    /// Recomputes stage, RFM and influence of one customer from its
    /// counters (see [`refresh_value_in`]).
    pub(crate) async fn refresh_value(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        row: ActivityRow,
        counters_changed: bool,
        rules: &ValueRules,
        now: i64,
    ) -> Result<(bool, Stage)> {
        refresh_value_in(tx, corp_id, row, counters_changed, rules, now).await
    }
}

/// Recomputes stage, RFM and influence of one customer from its
/// counters; stores them (and the counters) and puts a stage change on
/// the timeline. Returns whether anything was written, and the stage.
pub(crate) async fn refresh_value_in(
    tx: &mut Tx,
    corp_id: i64,
    mut row: ActivityRow,
    counters_changed: bool,
    rules: &ValueRules,
    now: i64,
) -> Result<(bool, Stage)> {
    let koi_domain::customer::Assessment { stage, reason, influence, rfm } = rules.assess(&activity_of(&row), now);
    let [r, f, m] = rfm.map(|b| b.map(i32::from));
    let before_stage = Stage::from_name(&row.stage).unwrap_or_default();
    let value_changed = before_stage != stage
        || (row.rfm_r, row.rfm_f, row.rfm_m) != (r, f, m)
        || row.influence != i32::try_from(influence).unwrap_or(i32::MAX);
    if !value_changed && !counters_changed {
        return Ok((false, stage));
    }
    row.stage = stage.as_str().to_string();
    (row.rfm_r, row.rfm_f, row.rfm_m) = (r, f, m);
    row.influence = i32::try_from(influence).unwrap_or(i32::MAX);
    tx.set_customer_activity(corp_id, &row).await?;
    if before_stage != stage {
        let payload = serde_json::json!({
            "from": before_stage.as_str(), "to": stage.as_str(), "reason": reason.to_string(), "why": reason,
        });
        let event = koi_store::events::NewEvent {
            corp_id,
            kind: "customer.stage_changed",
            subject: &format!("customer:{}", row.id),
            actor: "system",
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&event, now).await?;
        let h = koi_domain::sop::Happened::StageChanged(stage.as_str());
        crate::sop::on_happened(tx, corp_id, row.id, &h).await?;
    }
    Ok((true, stage))
}
