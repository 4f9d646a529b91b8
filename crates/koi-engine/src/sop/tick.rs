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
/// The touch source (fatigue cap) and guide-task purpose of SOP pushes.
pub const SOP_SOURCE: &str = "sop";
/// A step due this little before its rule was enabled still fires: WeCom
/// stamps an add in whole seconds, so a customer who adds a guide the
/// moment a rule is enabled is not left out.
const ENABLE_GRACE_MS: i64 = 60_000;
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
                                // Customers are found within a run of their add; the
                                // window covers a timer that was down (a day) and, when
                                // the rule was just enabled, adds whose step is still due.
                                (enabled_at - lookback).max(now - CATCH_UP_MS - lookback),
                                now,
                                &[],
                                FIND_BATCH,
                            )
                            .await?;
                        more |= found.len() as i64 == FIND_BATCH;
                        for (customer, added_at) in found {
                            let due = anchored_due(added_at, step);
                            let not_before = enabled_at - ENABLE_GRACE_MS;
                            record_fire(tx, corp_id, r.row.id, i, "customer", customer, 0, due, not_before, now)
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
                                (enabled_at - lapse - DAY_MS).max(now - lapse - CATCH_UP_MS - DAY_MS),
                                now - lapse,
                                &[],
                                FIND_BATCH,
                            )
                            .await?;
                        more |= found.len() as i64 == FIND_BATCH;
                        for (customer, last_order) in found {
                            let due = anchored_due(last_order + lapse, step);
                            let not_before = enabled_at - ENABLE_GRACE_MS;
                            record_fire(
                                tx, corp_id, r.row.id, i, "customer", customer, last_order, due, not_before, now,
                            )
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

    /// Records a calendar occurrence's step for its targets: each group of
    /// a group audience; for customers, one task per guide who follows some
    /// of them, or one mass send to the rule's segment.
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
        let rule = r.row.id;
        let action = &r.draft.steps[step].action;
        match (&r.draft.audience, action) {
            (Audience::Groups { group_ids }, _) => {
                for &g in group_ids {
                    record_fire(tx, corp_id, rule, step, "group", g, occurrence, due, i64::MIN, now).await?;
                }
            }
            (Audience::Customers { segment_id, .. }, StepAction::MassMessage { .. }) => {
                let segment = segment_id.unwrap_or(0);
                record_fire(tx, corp_id, rule, step, "segment", segment, occurrence, due, i64::MIN, now).await?;
            }
            (Audience::Customers { tag_ids, segment_id: Some(segment) }, StepAction::GuideTask { .. }) => {
                let Some(seg) = self.db.segment(corp_id, *segment).await? else { return Ok(()) };
                let system = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
                let ids =
                    self.segment_customer_ids(&system, &crate::customers::SegmentInput::Text(seg.expr.clone())).await?;
                let mut guides = std::collections::BTreeSet::new();
                for c in ids {
                    if !tag_ids.is_empty()
                        && !audience_takes(&r.draft.audience, &tx.sop_customer_tags(corp_id, c).await?)
                    {
                        continue;
                    }
                    guides.extend(tx.owner_staff_of_customer(corp_id, c).await?);
                }
                for g in guides {
                    record_fire(tx, corp_id, rule, step, "staff", g, occurrence, due, i64::MIN, now).await?;
                }
            }
            (Audience::Customers { tag_ids, segment_id: None }, StepAction::GuideTask { .. }) => {
                for g in tx.sop_audience_guides(corp_id, tag_ids).await? {
                    record_fire(tx, corp_id, rule, step, "staff", g, occurrence, due, i64::MIN, now).await?;
                }
            }
        }
        Ok(())
    }

    /// What a due fire does: `(state, note)` for its row.
    async fn act(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        r: &Rule,
        f: &SopFireRow,
        now: i64,
    ) -> Result<(&'static str, String)> {
        let Some(step) = r.draft.steps.get(f.step as usize) else {
            return Ok(("skipped", "step_removed".into()));
        };
        let (customer_id, group_id, staff) = match f.target_kind.as_str() {
            "group" => (None, Some(f.target_id), tx.owner_staff_of_group(corp_id, f.target_id).await?),
            "staff" => (None, None, Some(f.target_id)),
            "segment" => (None, None, None),
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
            StepAction::MassMessage { text, material_id } => match (f.target_kind.as_str(), customer_id) {
                ("segment", _) => self.sop_mass_send(tx, corp_id, r, f, text, *material_id).await,
                (_, Some(customer)) => {
                    let Some(staff_id) = staff else { return Ok(("skipped", "no_guide".into())) };
                    self.sop_push(tx, corp_id, f, customer, staff_id, text, *material_id, now).await
                }
                _ => Ok(("skipped", "customers_only".into())),
            },
        }
    }

    /// A weekly or festival mass message: one mass send to the rule's
    /// segment through the mass-send module (which admits each customer
    /// through the fatigue cap and splits them by guide).
    async fn sop_mass_send(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        r: &Rule,
        f: &SopFireRow,
        text: &str,
        material_id: Option<i64>,
    ) -> Result<(&'static str, String)> {
        use koi_domain::outreach::mass_send::{Audience as To, MassAttachment, MassContent, MassSendDraft};
        let mut attachments = Vec::new();
        if let Some(m) = material_id {
            if tx.material_has_file(corp_id, m).await? {
                // Sent as the file itself (a WeCom media), not as a link.
                let media_id = crate::outreach::guide_tasks::MATERIAL_REF.to_string() + &m.to_string();
                attachments.push(MassAttachment::File { media_id });
            } else if let Some(m) = tx.sop_material(corp_id, m).await? {
                attachments.push(MassAttachment::Link {
                    title: m.title,
                    url: m.url,
                    desc: m.description,
                    picurl: String::new(),
                });
            }
        }
        // Variables are per customer; a send to a segment says them generically.
        let text = koi_domain::sop::script::render(text, &koi_domain::sop::script::Vars::default());
        let draft = MassSendDraft {
            name: r.row.name.chars().take(60).collect(),
            audience: To::Segment { segment_id: f.target_id },
            content: MassContent { text, attachments },
            guide_rule: Default::default(),
            send_at: None,
        };
        match crate::outreach::mass_send::create_in(tx, corp_id, &draft, &format!("sop:{}", r.row.id)).await {
            Ok(id) => Ok(("done", format!("mass_send:{id}"))),
            Err(crate::EngineError::Invalid(e)) => Ok(("skipped", format!("invalid: {e}"))),
            Err(e) => Err(e),
        }
    }

    /// A per-customer automatic message: admitted by the fatigue cap, then
    /// one WeCom task from the customer's guide (through the mass-message
    /// guide task, created once), with the material as a tracked link.
    #[allow(clippy::too_many_arguments)]
    async fn sop_push(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        f: &SopFireRow,
        customer_id: i64,
        staff_id: i64,
        text: &str,
        material_id: Option<i64>,
        now: i64,
    ) -> Result<(&'static str, String)> {
        let reference = format!("sop_fire:{}", f.id);
        let admitted =
            crate::outreach::fatigue::admit(tx, corp_id, &[customer_id], SOP_SOURCE, &reference, now).await?;
        if let Some((_, why)) = admitted.skipped.first() {
            return Ok(("skipped", why.as_str().to_string()));
        }
        let (Some(sender), Some((ext, name))) =
            (tx.sop_staff_userid(corp_id, staff_id).await?, tx.sop_customer_ident(corp_id, customer_id).await?)
        else {
            return Ok(("skipped", "no_guide".into()));
        };
        let vars = koi_domain::sop::script::Vars { name: &name, guide: "", store: "" };
        let mut content =
            crate::outreach::GuideContent { text: koi_domain::sop::script::render(text, &vars), ..Default::default() };
        if let Some(m) = material_id {
            if tx.material_has_file(corp_id, m).await? {
                // Sent as the file itself (a WeCom media), not as a link.
                content.attachments.push(crate::outreach::guide_tasks::material_attachment(m));
            } else if let Some(m) = tx.sop_material(corp_id, m).await? {
                let token = crate::random_hex(12);
                tx.insert_material_link(&token, corp_id, m.id, customer_id, Some(staff_id), now).await?;
                let url = format!("{}/m/{token}", self.settings.public_url.trim_end_matches('/'));
                content.link = Some(crate::outreach::GuideLink { title: m.title, desc: m.description, url });
            }
        }
        let json = serde_json::to_string(&content).expect("content serialises");
        let recipients = [(customer_id, ext)];
        let t = koi_store::outreach::NewGuideTask {
            corp_id,
            purpose: SOP_SOURCE,
            purpose_id: f.id,
            staff_id,
            sender: &sender,
            part: 0,
            content: &json,
            recipients: &recipients,
            now,
        };
        crate::outreach::guide_tasks::plan_guide_task(tx, &t).await?;
        Ok(("done", String::new()))
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
