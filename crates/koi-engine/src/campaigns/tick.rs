//! The campaign timer: one job per corp, queued by the worker's loop every
//! `campaign_tick_ms` while the corp has campaigns in motion. It moves
//! scheduled campaigns to running and live ones past their end to ended,
//! enrolls a campaign's seed audience once when it starts running, queues
//! the deletion of an ended campaign's entries, queues a running
//! migration's old groups' entries, and decides the invites and migration
//! moves whose hold has passed.

use super::invites::{settle_due, DUE_BATCH};
use super::{campaign_of, CleanupJob};
use crate::jobs::{enqueue, Job, JobCtx, JobResult};
use crate::Engine;
use koi_domain::campaign::{state_at, CampaignState};
use koi_domain::jobs::priority;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// Job: the timer's run for one corp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CampaignTickJob {}

impl Job for CampaignTickJob {
    const KIND: &'static str = "campaigns.tick";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    async fn prepare(&self, _: &Engine, _: &JobCtx) -> JobResult<()> {
        Ok(())
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, _: (), tx: &mut Tx) -> JobResult<JobEnd> {
        let corp = ctx.corp_id;
        let now = now_ms();
        for row in tx.campaigns_in_motion(corp).await? {
            let c = campaign_of(&row)?;
            let to = state_at(c.state, (c.starts_at, c.ends_at), now);
            if to != c.state && tx.set_campaign_state(c.id, c.state.as_str(), to.as_str(), now).await? {
                let payload = serde_json::json!({ "campaign_id": c.id, "from": c.state, "to": to });
                let e = NewEvent {
                    corp_id: corp,
                    kind: "campaign.state_changed",
                    subject: &format!("campaign:{}", c.id),
                    actor: "koi",
                    payload: &payload.to_string(),
                    dedup_key: Some(&format!("campaign.state:{}:{}", c.id, to.as_str())),
                    occurred_at: now,
                };
                tx.append_event(&e, now).await?;
            }
            if to == CampaignState::Running {
                super::migration::queue_entries(tx, corp, &c).await?;
            }
            if to == CampaignState::Running && row.seeded_at.is_none() && tx.mark_campaign_seeded(c.id, now).await? {
                let seeds = engine.seed_customers(corp, &c).await?;
                engine.enroll(tx, corp, &c, &seeds, "seed").await?;
            }
            if to == CampaignState::Ended
                && row.cleaned_at.is_none()
                && !engine.db.has_pending_job(corp, CleanupJob::KIND).await?
            {
                enqueue(tx, corp, &CleanupJob { campaign_id: c.id }).await?;
            }
        }
        let moves = super::migration::settle_due(tx, corp, now).await? as i64;
        if settle_due(tx, corp, now).await? as i64 == DUE_BATCH || moves >= super::migration::MOVE_BATCH {
            enqueue(tx, corp, self).await?; // more are due: go on at once
        }
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Queues a timer run for every corp with campaigns in motion (none
    /// for a corp whose run still waits).
    pub async fn schedule_campaign_ticks(&self) {
        let corps = match self.db.corps_with_campaign_work().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "campaign timer: cannot list corps"),
        };
        for corp_id in corps {
            match self.db.has_pending_job(corp_id, CampaignTickJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &CampaignTickJob {}).await {
                        tracing::warn!(corp = corp_id, error = %e, "campaign timer: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "campaign timer: cannot look at the queue"),
            }
        }
    }
}
