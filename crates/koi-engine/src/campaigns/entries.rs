//! Personal entries: each participant's own QR, so every add and group join
//! names its inviter. A task or poster campaign gives a contact way (the
//! participant's guide when the guide is in the campaign's staff pool, else
//! the pool); a group fission gives a group join way over the group code's
//! groups. Either carries the `state` `k1c0a{campaign}i{customer}` (code 0:
//! no channel code). Entries are made when a participant joins (seeds,
//! enrolled customers) or first opens their page (invitees), and deleted
//! when the campaign ends: WeCom allows 500,000 API-made ways per corp,
//! shared with group codes.
//!
//! A way WeCom made but koi did not record (a crash between the two) is
//! left in WeCom; the retry makes another. Only recorded ways are deleted.

use super::campaign_of;
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{Engine, Result};
use koi_domain::campaign::CampaignKind;
use koi_domain::channel::ChannelState;
use koi_domain::group::GroupCodeDraft;
use koi_domain::jobs::priority;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    AddContactWayRequest, AddJoinWayRequest, DelContactWayRequest, DelJoinWayRequest, GetJoinWayRequest, Priority,
    CONTACT_WAY_MULTI, CONTACT_WAY_SINGLE, SCENE_QR,
};
use serde::{Deserialize, Serialize};

/// Entries one cleanup run deletes.
const CLEANUP_BATCH: i64 = 200;

/// Queues the making of a participant's entry (unless made or being made).
pub(crate) async fn queue_entry(tx: &mut Tx, corp_id: i64, participant_id: i64) -> Result<()> {
    if tx.set_entry(participant_id, &["none", "failed"], "queued", None, None, "").await? {
        enqueue(tx, corp_id, &EntryJob { participant_id }).await?;
    }
    Ok(())
}

/// Job: make one participant's entry in WeCom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EntryJob {
    pub participant_id: i64,
}

pub(crate) enum Made {
    Way { config_id: String, qr_code: String },
    Refused(String),
    Gone,
}

impl Job for EntryJob {
    const KIND: &'static str = "campaigns.entry";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Made;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Made> {
        let corp = ctx.corp_id;
        let Some(p) = engine.db.participant(corp, self.participant_id).await? else { return Ok(Made::Gone) };
        if p.entry_state != "queued" {
            return Ok(Made::Gone);
        }
        let row = engine.db.campaign(corp, p.campaign_id).await?;
        let c = campaign_of(&row.ok_or_else(|| JobError::Done("the campaign is gone".into()))?)?;
        if !c.state.is_live() {
            return Ok(Made::Gone);
        }
        let state =
            ChannelState { campaign_id: Some(c.id), inviter_customer: Some(p.customer_id), ..ChannelState::code(0) };
        let state = state.encode().map_err(|e| JobError::GiveUp(e.to_string()))?;
        if c.kind == CampaignKind::Group {
            let code_id = c.draft.group_code_id.ok_or_else(|| JobError::GiveUp("no group code".into()))?;
            return make_join_way(engine, corp, code_id, format!("裂变{}", c.id), state).await;
        }
        let client = engine.wecom_for(corp).await?;
        let made = {
            let mut userids = vec![];
            for &s in &c.draft.staff_ids {
                if let Some(staff) = engine.db.staff(corp, s).await? {
                    userids.push((s, staff.userid));
                }
            }
            let own = p.staff_id.and_then(|g| userids.iter().find(|(s, _)| *s == g)).map(|(_, u)| u.clone());
            let (kind, user) = match own {
                Some(u) => (CONTACT_WAY_SINGLE, vec![u]),
                None => (CONTACT_WAY_MULTI, userids.into_iter().map(|(_, u)| u).collect()),
            };
            let req = AddContactWayRequest {
                kind,
                scene: SCENE_QR,
                remark: Some(format!("裂变{}", c.id)),
                skip_verify: Some(true),
                state: Some(state),
                user: Some(user),
                ..AddContactWayRequest::default()
            };
            client
                .add_contact_way(&req, Priority::Bulk)
                .await
                .map(|a| Made::Way { config_id: a.config_id, qr_code: a.qr_code.unwrap_or_default() })
        };
        match made {
            Ok(m) => Ok(m),
            Err(e) if e.is_final() => Ok(Made::Refused(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    async fn record(&self, _: &Engine, _: &JobCtx, made: Made, tx: &mut Tx) -> JobResult<JobEnd> {
        match made {
            Made::Gone => {}
            Made::Way { config_id, qr_code } => {
                tx.set_entry(self.participant_id, &["queued"], "ready", Some(&config_id), Some(&qr_code), "").await?;
            }
            Made::Refused(why) => {
                tx.set_entry(self.participant_id, &["queued"], "failed", None, None, &why).await?;
                return Ok(JobEnd::Refused(why));
            }
        }
        Ok(JobEnd::Done)
    }
}

/// Makes a group join way over a group code's groups whose joins carry
/// `state`, and reads its QR: a group fission participant's entry, or a
/// migration's old group's.
pub(crate) async fn make_join_way(
    engine: &Engine,
    corp: i64,
    code_id: i64,
    remark: String,
    state: String,
) -> JobResult<Made> {
    let code = engine.db.group_code(corp, code_id).await?;
    let code = code.ok_or_else(|| JobError::GiveUp("the campaign's group code is gone".into()))?;
    let listed: Vec<String> = serde_json::from_str(&code.listed).unwrap_or_default();
    let settings: GroupCodeDraft = serde_json::from_str(&code.settings).unwrap_or_default();
    let req = AddJoinWayRequest {
        scene: SCENE_QR,
        remark: Some(remark),
        auto_create_room: Some(i32::from(settings.auto_create_room)),
        room_base_name: settings.auto_create_room.then(|| settings.room_base_name.clone()),
        room_base_id: settings.room_base_id,
        chat_id_list: listed,
        state: Some(state),
    };
    let client = engine.wecom_for(corp).await?;
    match client.add_join_way(&req, Priority::Bulk).await {
        Ok(a) => {
            let get = GetJoinWayRequest { config_id: a.config_id.clone() };
            let qr = client.get_join_way(&get, Priority::Bulk).await?.join_way.qr_code.unwrap_or_default();
            Ok(Made::Way { config_id: a.config_id, qr_code: qr })
        }
        Err(e) if e.is_final() => Ok(Made::Refused(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Job: delete an ended campaign's entries from WeCom, a batch a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CleanupJob {
    pub campaign_id: i64,
}

/// What a cleanup run deleted: participants' entries, or a migration's old
/// groups' entries; and whether more are left.
pub(crate) struct Cleaned {
    participants: Vec<i64>,
    old_groups: Vec<i64>,
    more: bool,
}

impl Job for CleanupJob {
    const KIND: &'static str = "campaigns.cleanup";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Cleaned;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Cleaned> {
        let corp = ctx.corp_id;
        let none = Cleaned { participants: vec![], old_groups: vec![], more: false };
        let Some(row) = engine.db.campaign(corp, self.campaign_id).await? else { return Ok(none) };
        let kind = CampaignKind::parse(&row.kind).unwrap_or_default();
        let migration = kind == CampaignKind::Migration;
        let group = kind == CampaignKind::Group || migration;
        // (id, config id) of each entry to delete: participants' or old groups'.
        let batch: Vec<(i64, Option<String>)> = if migration {
            let rows = engine.db.old_group_entries_to_delete(self.campaign_id, CLEANUP_BATCH).await?;
            rows.into_iter().map(|o| (o.id, o.config_id)).collect()
        } else {
            let rows = engine.db.entries_to_delete(self.campaign_id, CLEANUP_BATCH).await?;
            rows.into_iter().map(|p| (p.id, p.config_id)).collect()
        };
        let client = engine.wecom_for(corp).await?;
        let mut gone = vec![];
        for (id, config_id) in &batch {
            let Some(config_id) = config_id.clone() else { continue };
            let done = if group {
                client.del_join_way(&DelJoinWayRequest { config_id }, Priority::Bulk).await
            } else {
                client.del_contact_way(&DelContactWayRequest { config_id }, Priority::Bulk).await
            };
            match done {
                // A way someone deleted in WeCom already is gone too.
                Ok(()) => gone.push(*id),
                Err(e) if e.is_final() => gone.push(*id),
                Err(e) if gone.is_empty() => return Err(e.into()),
                Err(_) => break, // record what is done; the next run goes on
            }
        }
        let more = batch.len() as i64 == CLEANUP_BATCH || gone.len() < batch.len();
        Ok(if migration {
            Cleaned { participants: vec![], old_groups: gone, more }
        } else {
            Cleaned { participants: gone, old_groups: vec![], more }
        })
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, done: Cleaned, tx: &mut Tx) -> JobResult<JobEnd> {
        for pid in done.participants {
            tx.set_entry(pid, &["ready", "queued", "failed"], "deleted", None, None, "").await?;
        }
        for id in done.old_groups {
            tx.set_old_group_entry(id, &["ready", "queued", "failed"], "deleted", None, None, "").await?;
        }
        if done.more {
            enqueue(tx, ctx.corp_id, self).await?;
        } else {
            tx.mark_campaign_cleaned(self.campaign_id, now_ms()).await?;
        }
        Ok(JobEnd::Done)
    }
}
