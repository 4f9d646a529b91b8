//! Migration campaigns (微信群迁移, seed 001's UR): the old WeChat groups'
//! entries, members who join through them, the hold, the join reward, and
//! the dashboard per old group.
//!
//! Each old group has a group join way over the target group code's groups
//! whose `state` names it (`km…`, [`koi_domain::campaign::migration`]); the
//! operator posts its QR in the old group. A join through it is a *move*:
//! one per member and campaign (a re-join or a second old group's entry
//! adds nothing), in hold until the campaign's hold has passed, then moved
//! (still in the group) or left. A moved member koi knows as a customer gets
//! the join reward through the reward ledger — a participant row of their
//! own (source `migration`) and its tier 0 — so once, within the budget and
//! inventory, issued by the reward job (a koi coupon of the template, or
//! points). A member koi does not know yet is rewarded once they are a
//! customer (added a guide), on a later timer run.

use super::entries::{make_join_way, Made};
use super::rewards::open;
use super::{campaign_of, Campaign};
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::campaign::migration::{entry_state, settle, share};
use koi_domain::campaign::{state_at, CampaignKind};
use koi_domain::jobs::priority;
use koi_store::campaign_moves::NewMove;
use koi_store::campaigns::NewParticipant;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// Moves one timer run decides, and moved members it rewards.
pub(crate) const MOVE_BATCH: i64 = 500;

/// One old group on the migration dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OldGroupLine {
    pub id: i64,
    pub name: String,
    /// Members the operator declared.
    pub declared_size: i64,
    /// Its entry: none, queued, ready, failed or deleted.
    pub entry_state: String,
    /// Its entry's QR image (WeCom's), to post in the old group.
    pub qr_code: Option<String>,
    /// Members who joined through its entry.
    pub entered: i64,
    /// Stayed the hold.
    pub moved: i64,
    /// Joined; the hold has not passed.
    pub in_hold: i64,
    /// Left the group within the hold.
    pub left: i64,
    /// Join rewards issued to its moved members.
    pub rewards_issued: i64,
    /// moved / declared_size.
    pub share_moved: f64,
}

/// A migration campaign's dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MigrationBoard {
    pub campaign_id: i64,
    pub old_groups: Vec<OldGroupLine>,
    /// Members declared across the old groups.
    pub declared: i64,
    pub entered: i64,
    pub moved: i64,
    pub in_hold: i64,
    pub left: i64,
    pub rewards_issued: i64,
    /// Share of the declared members moved.
    pub share_moved: f64,
}

/// Makes the campaign's old groups those of its draft (by position).
pub(crate) async fn sync_old_groups(
    tx: &mut Tx,
    corp_id: i64,
    id: i64,
    c: &koi_domain::campaign::CampaignDraft,
) -> Result<()> {
    let groups: Vec<(&str, i32)> =
        c.old_groups.iter().map(|g| (g.name.as_str(), i32::try_from(g.size).unwrap_or(i32::MAX))).collect();
    tx.sync_old_groups(corp_id, id, &groups, now_ms()).await?;
    Ok(())
}

/// Queues the entries of a running migration's old groups that have none
/// (at launch, and for old groups added while it runs).
pub(crate) async fn queue_entries(tx: &mut Tx, corp_id: i64, c: &Campaign) -> Result<()> {
    if c.kind != CampaignKind::Migration {
        return Ok(());
    }
    for old_group_id in tx.queue_old_group_entries(c.id).await? {
        enqueue(tx, corp_id, &MigrationEntryJob { old_group_id }).await?;
    }
    Ok(())
}

/// A join through an old group's entry (`old_group_id` from its `state`):
/// a move in hold, unless the member moved in this campaign before or the
/// campaign does not take joins now. Idempotent.
pub(crate) async fn record_join(
    tx: &mut Tx,
    corp_id: i64,
    old_group_id: i64,
    group_id: i64,
    member_key: &str,
    customer_id: Option<i64>,
    at: i64,
) -> Result<()> {
    let Some(old) = tx.old_group_in_tx(old_group_id).await?.filter(|o| o.corp_id == corp_id) else {
        tracing::warn!(old_group = old_group_id, "a migration entry names no old group of the corp");
        return Ok(());
    };
    let Some(row) = tx.campaign_in_tx(corp_id, old.campaign_id).await? else { return Ok(()) };
    let c = campaign_of(&row)?;
    let running = state_at(c.state, (c.starts_at, c.ends_at), at).takes_invites() && at >= c.starts_at;
    if c.kind != CampaignKind::Migration || !running {
        return Ok(());
    }
    let m = NewMove {
        corp_id,
        campaign_id: c.id,
        old_group_id,
        member_key,
        customer_id,
        group_id,
        joined_at: at,
        counts_at: at + c.draft.risk.hold_secs * 1000,
    };
    let Some(move_id) = tx.insert_move(&m).await? else { return Ok(()) };
    if let Some(customer_id) = customer_id {
        let payload = serde_json::json!({
            "campaign_id": c.id, "move_id": move_id, "old_group": old.name, "group_id": group_id,
        });
        let e = NewEvent {
            corp_id,
            kind: "campaign.moved_in",
            subject: &format!("customer:{customer_id}"),
            actor: "wecom",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("campaign.moved_in:{move_id}")),
            occurred_at: at,
        };
        tx.append_event(&e, now_ms()).await?;
    }
    Ok(())
}

/// A member left a group: their moves into it still in hold end `left`.
pub(crate) async fn record_leave(tx: &mut Tx, corp_id: i64, member_key: &str, group_id: i64, at: i64) -> Result<()> {
    for m in tx.moves_in_hold_of(corp_id, member_key, group_id).await? {
        if at >= m.joined_at {
            tx.decide_move(m.id, "left", now_ms()).await?;
        }
    }
    Ok(())
}

/// Decides the corp's moves whose hold has passed, then opens the join
/// reward of moved members koi knows as customers; returns how many moves
/// and rewards it handled.
pub(crate) async fn settle_due(tx: &mut Tx, corp_id: i64, now: i64) -> Result<usize> {
    let due = tx.due_moves(corp_id, now, MOVE_BATCH).await?;
    for m in &due {
        let state = settle(tx.member_present(m.group_id, &m.member_key).await?);
        tx.decide_move(m.id, state.as_str(), now).await?;
    }
    let to_reward = tx.moves_to_reward(corp_id, MOVE_BATCH).await?;
    let mut campaigns: std::collections::HashMap<i64, Campaign> = std::collections::HashMap::new();
    for (m, customer_id) in &to_reward {
        let c = match campaigns.entry(m.campaign_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some(row) = tx.campaign_in_tx(corp_id, m.campaign_id).await? else { continue };
                e.insert(campaign_of(&row)?)
            }
        };
        let follow = tx.latest_follow_of(corp_id, *customer_id).await?;
        let p = NewParticipant {
            corp_id,
            campaign_id: c.id,
            customer_id: *customer_id,
            parent_id: None,
            depth: 0,
            staff_id: follow.map(|f| f.0),
            store_id: follow.and_then(|f| f.1),
            source: "migration",
            token: &random_hex(16),
            now,
        };
        let pid = match tx.insert_participant(&p).await? {
            Some(pid) => pid,
            None => match tx.participant_of(c.id, *customer_id).await? {
                Some(p) => p.id,
                None => continue,
            },
        };
        if !tx.set_move_participant(m.id, *customer_id, pid).await? {
            continue;
        }
        if let Some(spec) = &c.draft.invitee_reward {
            open(tx, corp_id, c, pid, *customer_id, 0, spec).await?;
        }
    }
    Ok(due.len() + to_reward.len())
}

/// Job: make one old group's entry (a group join way) in WeCom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MigrationEntryJob {
    pub old_group_id: i64,
}

impl Job for MigrationEntryJob {
    const KIND: &'static str = "campaigns.migration_entry";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Made;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Made> {
        let corp = ctx.corp_id;
        let Some(old) = engine.db.old_group(corp, self.old_group_id).await? else { return Ok(Made::Gone) };
        if old.entry_state != "queued" {
            return Ok(Made::Gone);
        }
        let row = engine.db.campaign(corp, old.campaign_id).await?;
        let c = campaign_of(&row.ok_or_else(|| JobError::Done("the campaign is gone".into()))?)?;
        if !c.state.is_live() {
            return Ok(Made::Gone);
        }
        let code_id = c.draft.group_code_id.ok_or_else(|| JobError::GiveUp("no group code".into()))?;
        let remark = format!("迁移{}·{}", c.id, old.name.chars().take(20).collect::<String>());
        make_join_way(engine, corp, code_id, remark, entry_state(old.id)).await
    }

    async fn record(&self, _: &Engine, _: &JobCtx, made: Made, tx: &mut Tx) -> JobResult<JobEnd> {
        let id = self.old_group_id;
        match made {
            Made::Gone => {}
            Made::Way { config_id, qr_code } => {
                tx.set_old_group_entry(id, &["queued"], "ready", Some(&config_id), Some(&qr_code), "").await?;
            }
            Made::Refused(why) => {
                tx.set_old_group_entry(id, &["queued"], "failed", None, None, &why).await?;
                return Ok(JobEnd::Refused(why));
            }
        }
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// A migration campaign's dashboard: per old group, members entered,
    /// moved, in hold, left and rewarded; the totals and the share moved.
    pub async fn migration_board(&self, who: &Principal, id: i64) -> Result<MigrationBoard> {
        require(who, Action::ViewCampaigns)?;
        let c = self.campaign(who, id).await?;
        if c.kind != CampaignKind::Migration {
            return Err(EngineError::NotFound("migration campaign"));
        }
        let rows = self.db.migration_board(who.corp_id, id).await?;
        let old_groups: Vec<OldGroupLine> = rows
            .into_iter()
            .map(|r| OldGroupLine {
                share_moved: share(r.moved, i64::from(r.declared_size)),
                id: r.id,
                name: r.name,
                declared_size: i64::from(r.declared_size),
                entry_state: r.entry_state,
                qr_code: r.qr_code.filter(|q| !q.is_empty()),
                entered: r.entered,
                moved: r.moved,
                in_hold: r.in_hold,
                left: r.left,
                rewards_issued: r.rewards_issued,
            })
            .collect();
        let sum = |f: fn(&OldGroupLine) -> i64| old_groups.iter().map(f).sum::<i64>();
        let (declared, moved) = (sum(|g| g.declared_size), sum(|g| g.moved));
        Ok(MigrationBoard {
            campaign_id: id,
            declared,
            entered: sum(|g| g.entered),
            moved,
            in_hold: sum(|g| g.in_hold),
            left: sum(|g| g.left),
            rewards_issued: sum(|g| g.rewards_issued),
            share_moved: share(moved, declared),
            old_groups,
        })
    }
}
