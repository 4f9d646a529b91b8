//! Event rules, hooked where the events are recorded — tagging
//! (`customers/tagging.rs`), behaviour (`customers/behaviour.rs`: the first
//! order), the lifecycle (`customers/mod.rs`: a stage change) and groups
//! (`groups/mod.rs`: a join) — in the transaction that records the event:
//! each matching rule's steps are recorded as fires (once per customer and
//! step), and the timer is queued when one is due at once.

use super::tick::{record_fire, rules_of, SopTickJob};
use crate::jobs::{enqueue, Job};
use crate::Result;
use koi_domain::sop::{anchored_due, audience_takes, Happened, SopEvent, Trigger};
use koi_store::{now_ms, Tx};

/// Records the steps of the corp's event rules that `h` triggers for a
/// customer. Cheap when the corp has no event rules (one indexed read).
pub(crate) async fn on_happened(tx: &mut Tx, corp_id: i64, customer_id: i64, h: &Happened<'_>) -> Result<()> {
    let rows = tx.enabled_sop_rules(corp_id, &["event"]).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tags: Option<Vec<String>> = None;
    let mut due_now = false;
    for r in rules_of(rows) {
        let Trigger::Event { event } = &r.draft.trigger else { continue };
        if matches!(event, SopEvent::NoOrderFor { .. }) || !event.matches(h) {
            continue;
        }
        if tags.is_none() {
            tags = Some(tx.sop_customer_tags(corp_id, customer_id).await?);
        }
        if !audience_takes(&r.draft.audience, tags.as_deref().unwrap_or_default()) {
            continue;
        }
        for (i, step) in r.draft.steps.iter().enumerate() {
            let due = anchored_due(now, step);
            if record_fire(tx, corp_id, r.row.id, i, "customer", customer_id, 0, due, i64::MIN, now).await?.is_some() {
                due_now |= due <= now;
            }
        }
    }
    if due_now && !tx.has_queued_job(corp_id, SopTickJob::KIND).await? {
        enqueue(tx, corp_id, &SopTickJob {}).await?;
    }
    Ok(())
}
