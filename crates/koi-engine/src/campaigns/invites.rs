//! Invites: an add (task and poster campaigns) or a group join (group
//! fission) through a participant's entry. Checked at once (self-invite,
//! ring, clique, re-add, not new, velocity), then again when the hold has passed
//! (stayed, cluster, geofence). A leave within the hold cancels the invite.
//! Every change of a participant's count of valid invites goes through
//! [`after_count_change`], which opens the tiers reached and revokes unused
//! rewards of tiers no longer reached.

use super::rewards::open;
use super::{campaign_of, tier_no, Campaign};
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{random_hex, Engine, Result};
use koi_domain::campaign::risk::{check_add, check_count, common_neighbours, is_ancestor, AddFacts, CountFacts};
use koi_domain::campaign::tiers::tiers_due;
use koi_domain::campaign::{state_at, CampaignKind, EntryOf, RewardSpec};
use koi_domain::channel::distance_m;
use koi_domain::jobs::priority;
use koi_store::campaigns::{InviteRow, NewInvite, NewParticipant};
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{Attachment, Link, Priority, SendWelcomeMsgRequest, Text};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Ancestors looked at for a ring: far deeper than any real invite tree.
const MAX_RING_DEPTH: usize = 64;
/// Invites one timer run decides.
pub(crate) const DUE_BATCH: i64 = 500;

/// How the invitee came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Added this guide (staff id).
    Add { staff_id: i64 },
    /// Joined this group (koi group id).
    Join { group_id: i64 },
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Add { .. } => "add",
            Via::Join { .. } => "join",
        }
    }
}

/// An add or a join through a participant's entry.
#[derive(Debug, Clone)]
pub(crate) struct Arrival<'a> {
    pub entry: EntryOf,
    pub via: Via,
    /// The invitee's external_userid.
    pub invitee_key: &'a str,
    pub invitee_customer_id: Option<i64>,
    pub unionid: &'a str,
    /// The invitee followed some staff of the corp before this add or join.
    pub followed_before: bool,
    pub occurred_at: i64,
    /// An add's welcome code, with the guide's userid and the deadline.
    pub welcome: Option<(String, String, i64)>,
}

/// Records an arrival as an invite of the campaign its entry names.
/// Idempotent: the same add or join twice is one invite.
pub(crate) async fn record_arrival(tx: &mut Tx, corp_id: i64, a: &Arrival<'_>) -> Result<()> {
    let Some(row) = tx.campaign_in_tx(corp_id, a.entry.campaign_id).await? else {
        tracing::warn!(campaign = a.entry.campaign_id, "an entry names no campaign of the corp");
        return Ok(());
    };
    let c = campaign_of(&row)?;
    let Some(inviter) = tx.participant_of(c.id, a.entry.inviter_customer).await? else {
        tracing::warn!(campaign = c.id, customer = a.entry.inviter_customer, "an entry names no participant");
        return Ok(());
    };
    let risk = &c.draft.risk;
    let running =
        state_at(c.state, (c.starts_at, c.ends_at), a.occurred_at).takes_invites() && a.occurred_at >= c.starts_at;
    let mut ancestors = HashMap::new();
    let mut at = inviter.customer_id;
    for _ in 0..MAX_RING_DEPTH {
        match tx.parent_customer(c.id, at).await? {
            Some(p) => {
                ancestors.insert(at, p);
                at = p;
            }
            None => break,
        }
    }
    // A dense clique: the pair's shared friends across the corp's invite
    // graph, read only when the check is on and the invitee is a customer.
    let shared = match a.invitee_customer_id {
        Some(invitee) if risk.clique_common > 0 && invitee != inviter.customer_id => {
            let mine = tx.invite_neighbours(corp_id, inviter.customer_id).await?;
            let theirs = tx.invite_neighbours(corp_id, invitee).await?;
            common_neighbours(inviter.customer_id, invitee, &mine, &theirs)
        }
        _ => 0,
    };
    let facts = AddFacts {
        running,
        self_invite: a.invitee_customer_id == Some(inviter.customer_id),
        followed_before: a.followed_before,
        invited_before: tx.invited_before(c.id, a.invitee_key, a.unionid, a.occurred_at).await?,
        inviter_last_hour: u32::try_from(
            tx.invites_between(inviter.id, a.occurred_at - 3_600_000, a.occurred_at).await?,
        )
        .unwrap_or(u32::MAX),
        invitee_is_ancestor: a.invitee_customer_id.is_some_and(|invitee| {
            is_ancestor(invitee, inviter.customer_id, |x| ancestors.get(&x).copied(), MAX_RING_DEPTH)
        }),
        common_neighbours: shared,
    };
    let verdict = check_add(risk, &facts);
    let state = match verdict {
        Some(_) => "rejected",
        None if risk.pay_before_hold => "valid",
        None => "pending",
    };
    let (staff_id, group_id) = match a.via {
        Via::Add { staff_id } => (Some(staff_id), None),
        Via::Join { group_id } => (None, Some(group_id)),
    };
    let now = now_ms();
    let reason = verdict.map(|r| r.as_str()).unwrap_or("");
    let new = NewInvite {
        corp_id,
        campaign_id: c.id,
        inviter_id: inviter.id,
        invitee_key: a.invitee_key,
        invitee_customer_id: a.invitee_customer_id,
        unionid: a.unionid,
        via: a.via.as_str(),
        staff_id,
        group_id,
        occurred_at: a.occurred_at,
        counts_at: a.occurred_at + risk.hold_secs * 1000,
        state,
        reason,
        now,
    };
    let Some(invite_id) = tx.insert_invite(&new).await? else {
        return Ok(()); // this very add or join is on record
    };
    if let Some(customer_id) = a.invitee_customer_id {
        let payload = serde_json::json!({
            "campaign_id": c.id, "invite_id": invite_id, "inviter_customer_id": inviter.customer_id,
            "state": state, "reason": reason, "via": a.via.as_str(),
        });
        let e = NewEvent {
            corp_id,
            kind: "campaign.invited",
            subject: &format!("customer:{customer_id}"),
            actor: "wecom",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("campaign.invited:{invite_id}")),
            occurred_at: a.occurred_at,
        };
        tx.append_event(&e, now).await?;
    }
    // The invitee takes part in turn (one generation deeper), unless they
    // invited themselves or came while the campaign was not running.
    let joins = running && !facts.self_invite;
    let invitee_pid = match (a.invitee_customer_id, joins) {
        (Some(customer_id), true) => {
            let follow = tx.latest_follow_of(corp_id, customer_id).await?;
            let p = NewParticipant {
                corp_id,
                campaign_id: c.id,
                customer_id,
                parent_id: Some(inviter.id),
                depth: inviter.depth + 1,
                staff_id: staff_id.or(follow.map(|f| f.0)).or(inviter.staff_id),
                store_id: follow.and_then(|f| f.1).or(inviter.store_id),
                source: "invite",
                token: &random_hex(16),
                now,
            };
            tx.insert_participant(&p).await?
        }
        _ => None,
    };
    if let (Some(pid), Some((code, userid, deadline))) = (invitee_pid, &a.welcome) {
        let w = CampaignWelcomeJob {
            participant_id: pid,
            userid: userid.clone(),
            welcome_code: code.clone(),
            deadline: *deadline,
        };
        enqueue(tx, corp_id, &w).await?;
    }
    // The friend's reward (poster campaigns) comes on a clean add.
    if let (Some(pid), None, Some(spec)) = (invitee_pid, verdict, &c.draft.invitee_reward) {
        if c.kind == CampaignKind::Poster {
            let customer_id = a.invitee_customer_id.unwrap_or_default();
            open(tx, corp_id, &c, pid, customer_id, 0, spec).await?;
        }
    }
    if state == "valid" {
        after_count_change(tx, corp_id, &c, inviter.id).await?;
    }
    Ok(())
}

/// An invitee left (deleted the guide, or left the group): their invites
/// whose hold has not been checked yet are cancelled (`left_early`).
pub(crate) async fn record_leave(tx: &mut Tx, corp_id: i64, invitee_key: &str, via: Via, at: i64) -> Result<()> {
    for inv in tx.watched_invites_of(corp_id, invitee_key, via.as_str()).await? {
        let same = match via {
            Via::Add { staff_id } => inv.staff_id == Some(staff_id),
            Via::Join { group_id } => inv.group_id == Some(group_id),
        };
        // A leave seen before the hold's check cancels the invite, even when
        // koi saw it a little after the hold ended (it read the group late):
        // the check had not found them staying.
        if !same || at < inv.occurred_at {
            continue;
        }
        let was_valid = inv.state == "valid";
        tx.decide_invite(inv.id, "rejected", "left_early", true, None, now_ms()).await?;
        if was_valid {
            let Some(row) = tx.campaign_in_tx(corp_id, inv.campaign_id).await? else { continue };
            after_count_change(tx, corp_id, &campaign_of(&row)?, inv.inviter_id).await?;
        }
    }
    Ok(())
}

/// Decides the corp's invites whose hold has passed; returns how many.
pub(crate) async fn settle_due(tx: &mut Tx, corp_id: i64, now: i64) -> Result<usize> {
    let due = tx.due_invites(corp_id, now, DUE_BATCH).await?;
    if due.is_empty() {
        return Ok(0); // most timer runs: no store read
    }
    let mut campaigns: HashMap<i64, Campaign> = HashMap::new();
    let stores = tx.store_points(corp_id).await?;
    for inv in &due {
        let c = match campaigns.entry(inv.campaign_id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some(row) = tx.campaign_in_tx(corp_id, inv.campaign_id).await? else { continue };
                e.insert(campaign_of(&row)?)
            }
        };
        let c = &*c;
        let facts = count_facts(tx, corp_id, c, inv, &stores).await?;
        let (state, reason) = match check_count(&c.draft.risk, &facts) {
            Some(r) => ("rejected", r.as_str()),
            None => ("valid", ""),
        };
        tx.decide_invite(inv.id, state, reason, true, None, now).await?;
        if state == "valid" || inv.state == "valid" {
            after_count_change(tx, corp_id, c, inv.inviter_id).await?;
        }
    }
    Ok(due.len())
}

async fn count_facts(
    tx: &mut Tx,
    corp_id: i64,
    c: &Campaign,
    inv: &InviteRow,
    stores: &[(i64, f64, f64)],
) -> Result<CountFacts> {
    let stayed = match (inv.via.as_str(), inv.invitee_customer_id, inv.staff_id, inv.group_id) {
        ("add", Some(customer_id), Some(staff_id), _) => {
            tx.follow(corp_id, customer_id, staff_id).await?.is_some_and(|f| f.deleted_at.is_none())
        }
        ("join", _, _, Some(group_id)) => tx.member_present(group_id, &inv.invitee_key).await?,
        _ => false,
    };
    let invitee = match inv.invitee_customer_id {
        Some(customer_id) => tx.participant_of(c.id, customer_id).await?,
        None => None,
    };
    let (cluster_size, location) = match &invitee {
        Some(p) => (tx.invitee_cluster(c.id, inv.inviter_id, p.id).await?, tx.participant_location(p.id).await?),
        None => (0, None),
    };
    let fenced: Vec<(f64, f64)> = stores
        .iter()
        .filter(|(id, _, _)| c.draft.store_ids.is_empty() || c.draft.store_ids.contains(id))
        .map(|&(_, lat, lng)| (lat, lng))
        .collect();
    let nearest_store_m = location.and_then(|here| {
        fenced.iter().map(|&s| distance_m(here, s)).min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
    });
    Ok(CountFacts { stayed, cluster_size: u32::try_from(cluster_size).unwrap_or(u32::MAX), nearest_store_m })
}

/// After a participant's count of valid invites changed: opens the tiers
/// now reached (once each), reopens revoked ones reached again, and takes
/// back unused revocable rewards of tiers no longer reached. A paid red
/// packet stays paid: the participant has to replace the lost invite,
/// since the next tier counts valid invites too.
pub(crate) async fn after_count_change(tx: &mut Tx, corp_id: i64, c: &Campaign, participant_id: i64) -> Result<()> {
    let valid = u32::try_from(tx.recount_valid(participant_id).await?).unwrap_or(0);
    let Some(p) = tx.participant_in_tx(participant_id).await? else { return Ok(()) };
    let rows = tx.rewards_of_participant(participant_id).await?;
    let now = now_ms();
    for r in &rows {
        let Some(tier) = usize::try_from(r.tier - 1).ok().and_then(|i| c.draft.tiers.get(i)) else { continue };
        let reached = valid >= tier.threshold;
        // A red packet is never taken back, not even one still being paid:
        // its job may have paid already, and its cost stays reserved.
        let revocable = tier.reward.kind.revocable() && (r.state == "pending" || r.state == "issued");
        if !reached && revocable {
            tx.release_reward(r).await?;
            let why = "the invites that reached it left within the hold";
            tx.set_reward_state(r.id, &["pending", "issued"], "revoked", why, None, now).await?;
            // Its koi coupon, if it issued one, goes with it while unused.
            tx.revoke_coupon_of_source(corp_id, &format!("reward:{}", r.id), now).await?;
        } else if reached && r.state == "revoked" && tx.reopen_reward(r, now).await? {
            enqueue(tx, corp_id, &super::RewardJob { reward_id: r.id }).await?;
        }
    }
    let given: Vec<usize> = rows.iter().filter_map(|r| usize::try_from(r.tier - 1).ok()).collect();
    for i in tiers_due(&c.draft.tiers, valid, &given) {
        open(tx, corp_id, c, participant_id, p.customer_id, tier_no(i), &c.draft.tiers[i].reward).await?;
    }
    Ok(())
}

/// Job: greet an invitee with the campaign's welcome and a link to their
/// own page (their poster and progress), inside the 20 s window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CampaignWelcomeJob {
    pub participant_id: i64,
    pub userid: String,
    pub welcome_code: String,
    pub deadline: i64,
}

impl Job for CampaignWelcomeJob {
    const KIND: &'static str = "campaigns.welcome";
    const PRIORITY: i32 = priority::WELCOME;
    const MAX_ATTEMPTS: i32 = 20;
    type Prepared = &'static str;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<&'static str> {
        if now_ms() >= self.deadline {
            return Ok("expired");
        }
        let p = engine.db.participant(ctx.corp_id, self.participant_id).await?;
        let p = p.ok_or_else(|| JobError::Done("the participant is gone".into()))?;
        let row = engine.db.campaign(ctx.corp_id, p.campaign_id).await?;
        let c = campaign_of(&row.ok_or_else(|| JobError::Done("the campaign is gone".into()))?)?;
        let link = Link {
            title: c.name.clone(),
            picurl: None,
            desc: Some(invite_line(&c)),
            url: engine.participant_url(&c, &p.token),
            media_id: None,
        };
        let req = SendWelcomeMsgRequest {
            welcome_code: self.welcome_code.clone(),
            text: (!c.draft.welcome.is_empty()).then(|| Text::new(c.draft.welcome.clone())),
            attachments: Some(vec![Attachment::Link { link }]),
        };
        let left = std::time::Duration::from_millis((self.deadline - now_ms()).max(0) as u64);
        let priority = Priority::Welcome { deadline: koi_wecom::client::Instant::now() + left };
        let client = engine.wecom_for(ctx.corp_id).await?;
        match client.send_welcome_msg(&req, priority).await {
            Ok(()) => Ok("sent"),
            Err(e) if e.is(ErrCode::WELCOME_ALREADY_SENT) => Ok("already_sent"),
            Err(e) if e.is(ErrCode::WELCOME_CODE_INVALID) => Ok("expired"),
            Err(e) => Err(e.into()),
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, outcome: &'static str, tx: &mut Tx) -> JobResult<JobEnd> {
        let Some(p) = tx.participant_in_tx(self.participant_id).await? else { return Ok(JobEnd::Done) };
        let kind = if outcome == "sent" { "welcome.sent" } else { "welcome.not_sent" };
        let payload = serde_json::json!({ "outcome": outcome, "campaign_id": p.campaign_id, "userid": self.userid });
        let now = now_ms();
        let e = NewEvent {
            corp_id: ctx.corp_id,
            kind,
            subject: &format!("customer:{}", p.customer_id),
            actor: "koi",
            payload: &payload.to_string(),
            dedup_key: Some(&format!("{kind}:{}", ctx.id)),
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
        Ok(JobEnd::Done)
    }
}

/// "Invite 3 friends: 满49减20" — the first tier, for a link's description.
pub(crate) fn invite_line(c: &Campaign) -> String {
    match (c.draft.tiers.first(), &c.draft.invitee_reward) {
        (Some(t), _) => format!("邀请 {} 位好友，得 {}", t.threshold, reward_title(&t.reward)),
        (None, Some(r)) => format!("好友添加即得 {}", reward_title(r)),
        (None, None) => c.name.clone(),
    }
}

pub(crate) fn reward_title(r: &RewardSpec) -> String {
    if r.title.is_empty() {
        r.kind.as_str().to_string()
    } else {
        r.title.clone()
    }
}

impl Engine {
    /// A participant's page under koi's public URL.
    pub(crate) fn participant_url(&self, c: &Campaign, token: &str) -> String {
        format!("{}{}?p={token}", self.settings.public_url.trim_end_matches('/'), c.h5_path)
    }
}
