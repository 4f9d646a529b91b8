//! The SOP timer: one job per corp, queued by the worker's loop every
//! `sop_tick_ms` while the corp has enabled rules or steps waiting (and by
//! an event rule whose step is due at once). In one transaction it records
//! the steps that came due and acts on the due ones:
//!
//! - day N after add: customers added since the rule was enabled (less the
//!   furthest step) get one `pending` fire per step, due N days after their
//!   first add; a step that fell due before the rule was enabled is skipped;
//! - no order for N days: the same, anchored N days after the last order
//!   (a new order and a new lapse is a new occurrence);
//! - weekly and festival: the calendar dates whose step time passed since
//!   the rule's watermark (at most [`CATCH_UP_MS`] back, so a node that was
//!   down does not send last week's pushes), for every customer or group of
//!   the audience;
//! - every pending fire due by now acts: a guide task for the owner, or a
//!   mass message; the fire leaves `pending` in the same transaction.

use super::draft_of;
use crate::jobs::{enqueue, Job, JobCtx, JobResult};
use crate::{Engine, Principal, Result};
use koi_domain::access::Role;
use koi_domain::jobs::priority;
use koi_domain::sop::{
    anchored_due, audience_takes, calendar_occurrences, Audience, SopDraft, SopEvent, StepAction, Trigger, DAY_MS,
};
use koi_store::jobs::JobEnd;
use koi_store::sop::{NewSopFire, NewSopTask, SopFireRow, SopRuleRow};
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Fires acted on per run; more are left for the next run, queued at once.
const FIRE_BATCH: i64 = 500;
/// Candidates recorded per rule step per run.
const FIND_BATCH: i64 = 1000;
/// How far back a calendar rule catches up after koi was down.
pub const CATCH_UP_MS: i64 = DAY_MS;

/// Job: the timer's run for one corp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SopTickJob {}

impl Job for SopTickJob {
    const KIND: &'static str = "sop.tick";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        let more = engine.sop_tick(tx, ctx.corp_id, now_ms()).await?;
        if more {
            enqueue(tx, ctx.corp_id, self).await?; // a full batch: go on at once
        }
        Ok(JobEnd::Done)
    }
}

/// What the timer and the hooks know of a rule.
pub(crate) struct Rule {
    pub row: SopRuleRow,
    pub draft: SopDraft,
}

pub(crate) fn rules_of(rows: Vec<SopRuleRow>) -> Vec<Rule> {
    rows.into_iter()
        .filter_map(|row| match draft_of(&row) {
            Ok(draft) => Some(Rule { row, draft }),
            Err(e) => {
                tracing::warn!(rule = row.id, error = %e, "skipping an unreadable SOP rule");
                None
            }
        })
        .collect()
}

impl Engine {
    /// One run of the timer for a corp, in `tx`. Returns whether a batch
    /// was full (there is more to do now).
    pub(crate) async fn sop_tick(&self, tx: &mut Tx, corp_id: i64, now: i64) -> Result<bool> {
        let rules = rules_of(tx.enabled_sop_rules(corp_id, &["after_add", "weekly", "festival", "event"]).await?);
        let mut more = false;
        for r in &rules {
            let enabled_at = r.row.enabled_at.unwrap_or(r.row.created_at);
            match &r.draft.trigger {
                Trigger::AfterAdd => {
                    for (i, step) in r.draft.steps.iter().enumerate() {
                        let lookback = (i64::from(step.day) + 1) * DAY_MS;
                        let found = tx
                            .sop_after_add_candidates(
                                corp_id,
                                r.row.id,
                                i as i32,
                                enabled_at - lookback,
                                now,
                                &[],
                                FIND_BATCH,
                            )
                            .await?;
                        more |= found.len() as i64 == FIND_BATCH;
                        for (customer, added_at) in found {
                            let due = anchored_due(added_at, step);
                            record_fire(tx, corp_id, r.row.id, i, "customer", customer, 0, due, enabled_at, now)
                                .await?;
                        }
                    }
                }
                Trigger::Event { event: SopEvent::NoOrderFor { days } } => {
                    let lapse = i64::from(*days) * DAY_MS;
                    for (i, step) in r.draft.steps.iter().enumerate() {
                        let found = tx
                            .sop_no_order_candidates(
                                corp_id,
                                r.row.id,
                                i as i32,
                                enabled_at - lapse - DAY_MS,
                                now - lapse,
                                &[],
                                FIND_BATCH,
                            )
                            .await?;
                        more |= found.len() as i64 == FIND_BATCH;
                        for (customer, last_order) in found {
                            let due = anchored_due(last_order + lapse, step);
                            record_fire(tx, corp_id, r.row.id, i, "customer", customer, last_order, due, enabled_at, now)
                                .await?;
                        }
                    }
                }
                Trigger::Weekly { .. } | Trigger::Festival { .. } => {
                    let from = r.row.checked_until.unwrap_or(enabled_at).max(now - CATCH_UP_MS);
                    for (i, step) in r.draft.steps.iter().enumerate() {
                        for (occurrence, due) in calendar_occurrences(&r.draft.trigger, step, from, now) {
                            self.fire_audience(tx, corp_id, r, i, occurrence, due, now).await?;
                        }
                    }
                    tx.set_sop_checked_until(r.row.id, now).await?;
                }
                Trigger::Event { .. } => {} // recorded by the hooks
            }
        }
        let by_id: HashMap<i64, &Rule> = rules.iter().map(|r| (r.row.id, r)).collect();
        let due = tx.due_sop_fires(corp_id, now, FIRE_BATCH).await?;
        more |= due.len() as i64 == FIRE_BATCH;
        for f in due {
            let (state, note) = match by_id.get(&f.rule_id) {
                Some(r) => self.act(tx, corp_id, r, &f, now).await?,
                None => ("skipped", "rule_disabled".to_string()),
            };
            // Conditional: another node's run that got here first wins, and
            // this one's task (same fire) is refused by its unique key.
            tx.finish_sop_fire(f.id, state, &note, now).await?;
        }
        Ok(more)
    }

    /// Records a calendar occurrence's step for every target of the audience.
    #[allow(clippy::too_many_arguments)]
    async fn fire_audience(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        r: &Rule,
        step: usize,
        occurrence: i64,
        due: i64,
        now: i64,
    ) -> Result<()> {
        match &r.draft.audience {
            Audience::Groups { group_ids } => {
                for &g in group_ids {
                    record_fire(tx, corp_id, r.row.id, step, "group", g, occurrence, due, i64::MIN, now).await?;
                }
            }
            Audience::Customers { tag_ids, segment_id: Some(segment) } => {
                let Some(seg) = self.db.segment(corp_id, *segment).await? else { return Ok(()) };
                let system = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
                let ids = self
                    .segment_customer_ids(&system, &crate::customers::SegmentInput::Text(seg.expr.clone()))
                    .await?;
                for c in ids {
                    if tag_ids.is_empty() || audience_takes(&r.draft.audience, &tx.sop_customer_tags(corp_id, c).await?)
                    {
                        record_fire(tx, corp_id, r.row.id, step, "customer", c, occurrence, due, i64::MIN, now)
                            .await?;
                    }
                }
            }
            Audience::Customers { tag_ids, segment_id: None } => {
                let mut after = 0;
                loop {
                    let page = tx.sop_audience_page(corp_id, after, tag_ids, FIND_BATCH).await?;
                    let Some(&last) = page.last() else { break };
                    after = last;
                    for c in page {
                        record_fire(tx, corp_id, r.row.id, step, "customer", c, occurrence, due, i64::MIN, now)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// What a due fire does: `(state, note)` for its row.
    async fn act(&self, tx: &mut Tx, corp_id: i64, r: &Rule, f: &SopFireRow, now: i64) -> Result<(&'static str, String)> {
        let Some(step) = r.draft.steps.get(f.step as usize) else {
            return Ok(("skipped", "step_removed".into()));
        };
        let (customer_id, group_id, staff) = match f.target_kind.as_str() {
            "group" => (None, Some(f.target_id), tx.owner_staff_of_group(corp_id, f.target_id).await?),
            _ => {
                if !r.draft.trigger.is_calendar()
                    && !audience_takes(&r.draft.audience, &tx.sop_customer_tags(corp_id, f.target_id).await?)
                {
                    return Ok(("skipped", "not_in_audience".into()));
                }
                (Some(f.target_id), None, tx.owner_staff_of_customer(corp_id, f.target_id).await?)
            }
        };
        match &step.action {
            StepAction::GuideTask { title, script_id, material_id } => {
                let Some(staff_id) = staff else { return Ok(("skipped", "no_guide".into())) };
                let t = NewSopTask {
                    corp_id,
                    staff_id,
                    customer_id,
                    group_id,
                    rule_id: Some(r.row.id),
                    fire_id: Some(f.id),
                    title,
                    script_id: *script_id,
                    material_id: *material_id,
                    due_at: f.due_at,
                    now,
                };
                tx.insert_sop_task(&t).await?;
                Ok(("done", String::new()))
            }
            StepAction::MassMessage { text, material_id } => {
                let Some(customer_id) = customer_id else { return Ok(("skipped", "customers_only".into())) };
                self.sop_mass_message(tx, corp_id, r.row.id, f.id, customer_id, text, *material_id, now).await
            }
        }
    }

    /// The automatic mass message of a step: not built in this branch (it
    /// comes with the mass-send module); the fire is skipped with the reason.
    #[allow(clippy::too_many_arguments)]
    async fn sop_mass_message(
        &self,
        _tx: &mut Tx,
        _corp_id: i64,
        _rule_id: i64,
        _fire_id: i64,
        _customer_id: i64,
        _text: &str,
        _material_id: Option<i64>,
        _now: i64,
    ) -> Result<(&'static str, String)> {
        Ok(("skipped", "mass_message_not_available".into()))
    }

    /// Queues a timer run for every corp with SOP work (none for a corp
    /// whose run still waits).
    pub async fn schedule_sop_ticks(&self) {
        let corps = match self.db.corps_with_sop_work().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "SOP timer: cannot list corps"),
        };
        for corp_id in corps {
            match self.db.has_pending_job(corp_id, SopTickJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &SopTickJob {}).await {
                        tracing::warn!(corp = corp_id, error = %e, "SOP timer: cannot queue");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "SOP timer: cannot check the queue"),
            }
        }
    }

    /// Runs the SOP timer for a corp now, outside the worker (tests, `koi
    /// demo`). Returns whether more was left.
    pub async fn run_sop_tick(&self, corp_id: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let more = self.sop_tick(&mut tx, corp_id, now_ms()).await?;
        tx.commit().await?;
        Ok(more)
    }
}

/// Records a step for a target and occurrence once; a step that fell due
/// before `not_before` (the rule was enabled after it) is recorded skipped.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_fire(
    tx: &mut Tx,
    corp_id: i64,
    rule_id: i64,
    step: usize,
    target_kind: &str,
    target_id: i64,
    occurrence: i64,
    due_at: i64,
    not_before: i64,
    now: i64,
) -> Result<Option<i64>> {
    let f = NewSopFire { corp_id, rule_id, step: step as i32, target_kind, target_id, occurrence, due_at, now };
    let id = tx.insert_sop_fire(&f).await?;
    if let Some(id) = id {
        if due_at < not_before {
            tx.finish_sop_fire(id, "skipped", "due_before_enabled", now).await?;
        }
    }
    Ok(id)
}
