//! A distributor's personal contact way: a QR of their guide (the staff
//! member of their newest live follow) whose `state` is `k1d{id}`, so an
//! add through it names the distributor ([`super::on_add`] records the
//! referral). Made by [`DistributorEntryJob`] once a customer becomes a
//! distributor; the share page and the earnings page show it.
//!
//! A way WeCom made but koi did not record (a crash between the two) is
//! left in WeCom; the retry makes another, as campaign entries do.

use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{Engine, Result};
use koi_domain::distribution::entry_state;
use koi_domain::jobs::priority;
use koi_store::jobs::JobEnd;
use koi_store::Tx;
use koi_wecom::client::{AddContactWayRequest, Priority, CONTACT_WAY_SINGLE, SCENE_QR};
use serde::{Deserialize, Serialize};

/// Queues the making of a distributor's contact way, unless made or being made.
pub(crate) async fn queue_entry(tx: &mut Tx, corp_id: i64, distributor_id: i64) -> Result<()> {
    for from in ["none", "failed"] {
        if tx.set_distributor_entry(distributor_id, from, "queued", "", "", "").await? {
            enqueue(tx, corp_id, &DistributorEntryJob { distributor_id }).await?;
            break;
        }
    }
    Ok(())
}

/// Job: make one distributor's contact way in WeCom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DistributorEntryJob {
    pub distributor_id: i64,
}

pub(crate) enum Made {
    Way { config_id: String, qr_code: String },
    Refused(String),
    Gone,
}

impl Job for DistributorEntryJob {
    const KIND: &'static str = "distribution.entry";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Made;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Made> {
        let corp = ctx.corp_id;
        let Some(d) = engine.db.distributor(corp, self.distributor_id).await? else { return Ok(Made::Gone) };
        if d.entry_state != "queued" {
            return Ok(Made::Gone);
        }
        let follows = engine.db.follows_of(corp, d.customer_id).await?;
        let Some(follow) = follows.iter().rev().find(|f| f.deleted_at.is_none()) else {
            return Ok(Made::Refused("the distributor has no guide".into()));
        };
        let staff = engine.db.staff(corp, follow.staff_id).await?;
        let staff = staff.ok_or_else(|| JobError::Done("the guide is gone".into()))?;
        let req = AddContactWayRequest {
            kind: CONTACT_WAY_SINGLE,
            scene: SCENE_QR,
            remark: Some(format!("分销{}", d.id)),
            skip_verify: Some(true),
            state: Some(entry_state(d.id)),
            user: Some(vec![staff.userid]),
            ..AddContactWayRequest::default()
        };
        let client = engine.wecom_for(corp).await?;
        match client.add_contact_way(&req, Priority::Bulk).await {
            Ok(a) => Ok(Made::Way { config_id: a.config_id, qr_code: a.qr_code.unwrap_or_default() }),
            Err(e) if e.is_final() => Ok(Made::Refused(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    async fn record(&self, _: &Engine, _: &JobCtx, made: Made, tx: &mut Tx) -> JobResult<JobEnd> {
        match made {
            Made::Gone => Ok(JobEnd::Done),
            Made::Way { config_id, qr_code } => {
                tx.set_distributor_entry(self.distributor_id, "queued", "ready", &config_id, &qr_code, "").await?;
                Ok(JobEnd::Done)
            }
            Made::Refused(why) => {
                tx.set_distributor_entry(self.distributor_id, "queued", "failed", "", "", &why).await?;
                Ok(JobEnd::Refused(why))
            }
        }
    }
}
