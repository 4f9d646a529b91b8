//! Behaviour (orders, group joins, poll answers, material opens, campaign
//! entries, replies, shares, friends brought) and the value koi computes
//! from it: lifecycle stage, RFM bands and influence. One event updates the
//! counters, recomputes the value, fires the tag rules and lands on the
//! timeline — in one transaction. An hourly sweep moves customers whom time
//! alone moves (new → stored, active → stored, RFM recency, "no order for N
//! days").

use super::tagging::{active_rules, apply_rules};
use super::{activity_of, set_counters_of};
use crate::jobs::{Job, JobCtx, JobResult};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::customer::{Behaviour, Happening};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// Job: recompute stages, RFM and the time-based tag rules of a corp (the
/// value rules or a time-based tag rule changed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SweepJob {}

impl Job for SweepJob {
    const KIND: &'static str = "customers.sweep";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    /// Pages through the corp a transaction per page, so the change log's
    /// readers never wait on one long transaction.
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<()> {
        engine.sweep_customers(ctx.corp_id).await?;
        Ok(())
    }

    async fn record(&self, _: &Engine, _: &JobCtx, _: (), _: &mut Tx) -> JobResult<JobEnd> {
        Ok(JobEnd::Done)
    }
}

/// What recording a behaviour did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BehaviourOutcome {
    /// False when the same `ref` was recorded before (nothing changed).
    pub recorded: bool,
    /// The customer's lifecycle stage afterwards.
    pub stage: String,
}

/// Customers per sweep transaction.
const SWEEP_PAGE: i64 = 500;

impl Engine {
    /// Records one behaviour of a customer. `reference` (the order number,
    /// the poll answer id…) makes a retried report count once.
    pub async fn record_behaviour(
        &self,
        who: &Principal,
        customer_id: i64,
        b: &Behaviour,
        occurred_at: Option<i64>,
        reference: Option<&str>,
    ) -> Result<BehaviourOutcome> {
        require(who, Action::TagCustomers)?;
        b.validate()?;
        if reference.is_some_and(|r| r.is_empty() || r.chars().count() > 128) {
            return Err(koi_domain::ValidationError::one("ref", "too_long", "ref is 1..=128 characters").into());
        }
        self.customer(who, customer_id).await?; // visibility
        let now = now_ms();
        let at = occurred_at.unwrap_or(now);
        if at > now + 5 * 60_000 {
            return Err(
                koi_domain::ValidationError::one("occurred_at", "in_future", "occurred_at is in the future").into()
            );
        }
        let rules = self.value_rules_of(who.corp_id).await?;
        let mut tx = self.db.begin().await?;
        let payload = serde_json::to_value(b).expect("a behaviour is plain data and serialises");
        let dedup = reference.map(|r| format!("behaviour:{customer_id}:{}:{r}", b.kind()));
        let e = NewEvent {
            corp_id: who.corp_id,
            kind: &format!("customer.{}", b.kind()),
            subject: &format!("customer:{customer_id}"),
            actor: &actor(who),
            payload: &payload.to_string(),
            dedup_key: dedup.as_deref(),
            occurred_at: at,
        };
        if tx.append_event(&e, now).await?.is_none() {
            let row = tx.customer_activity(who.corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
            return Ok(BehaviourOutcome { recorded: false, stage: row.stage });
        }
        let stage = self.apply_behaviour(&mut tx, who.corp_id, customer_id, b, at, &rules).await?;
        tx.commit().await?;
        Ok(BehaviourOutcome { recorded: true, stage })
    }

    /// Counters, value and rules for one behaviour, inside `tx` (see
    /// [`apply_behaviour_in`]).
    pub(crate) async fn apply_behaviour(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        customer_id: i64,
        b: &Behaviour,
        at: i64,
        rules: &koi_domain::customer::ValueRules,
    ) -> Result<String> {
        apply_behaviour_in(tx, corp_id, customer_id, b, at, rules).await
    }

    /// Recomputes every customer of the corp whom time alone may move, and
    /// applies the time-based tag rules. Idempotent; safe on several nodes.
    pub async fn sweep_customers(&self, corp_id: i64) -> Result<u64> {
        let rules = self.value_rules_of(corp_id).await?;
        let mut after = 0;
        let mut changed = 0;
        loop {
            let page = self.db.activity_page(corp_id, after, SWEEP_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let now = now_ms();
            let mut tx = self.db.begin().await?;
            let tag_rules = active_rules(&mut tx, corp_id).await?;
            for row in page {
                let (id, activity) = (row.id, activity_of(&row));
                changed += u64::from(self.refresh_value(&mut tx, corp_id, row, false, &rules, now).await?.0);
                self.apply_due_rules(&mut tx, corp_id, id, &activity, &tag_rules, now).await?;
            }
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Sweeps every corp (the worker's hourly timer).
    pub(crate) async fn sweep_all(&self) {
        let corps = match self.db.corps().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "listing corps for the sweep failed"),
        };
        for corp in corps {
            match self.sweep_customers(corp.id).await {
                Ok(n) if n > 0 => tracing::info!(corp = corp.id, changed = n, "customer sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(corp = corp.id, error = %e, "customer sweep failed"),
            }
        }
    }
}

/// Counters, value and rules for one behaviour, inside `tx`. Returns the
/// stage afterwards.
pub(crate) async fn apply_behaviour_in(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    b: &Behaviour,
    at: i64,
    rules: &koi_domain::customer::ValueRules,
) -> Result<String> {
    let mut row = tx.customer_activity(corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
    let after = activity_of(&row).apply(b, at);
    set_counters_of(&mut row, &after);
    let (_, stage) = super::refresh_value_in(tx, corp_id, row, true, rules, now_ms()).await?;
    apply_rules(tx, corp_id, customer_id, &Happening::Behaved(b, &after)).await?;
    if matches!(b, Behaviour::OrderPlaced { .. }) && after.orders == 1 {
        crate::groups::invite_after_first_order(tx, corp_id, customer_id).await?;
    }
    Ok(stage.as_str().to_string())
}

/// Records one behaviour inside `tx` the way [`Engine::record_behaviour`]
/// does — the event on the timeline, then counters, value and tag rules —
/// for use cases that already hold a transaction (orders). `reference`
/// makes a repeat count once: `None` back when it was on record already,
/// else the stage afterwards.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_behaviour_in(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    b: &Behaviour,
    at: i64,
    reference: &str,
    actor: &str,
    rules: &koi_domain::customer::ValueRules,
) -> Result<Option<String>> {
    let payload = serde_json::to_value(b).expect("a behaviour is plain data and serialises");
    let dedup = format!("behaviour:{customer_id}:{}:{reference}", b.kind());
    let e = NewEvent {
        corp_id,
        kind: &format!("customer.{}", b.kind()),
        subject: &format!("customer:{customer_id}"),
        actor,
        payload: &payload.to_string(),
        dedup_key: Some(&dedup),
        occurred_at: at,
    };
    if tx.append_event(&e, now_ms()).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(apply_behaviour_in(tx, corp_id, customer_id, b, at, rules).await?))
}
