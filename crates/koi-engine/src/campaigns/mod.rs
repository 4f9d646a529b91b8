//! Fission campaigns (裂变活动): the engine every fission type shares.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the views, and the operator's use cases: create, edit (only what is safe while live), launch / pause / resume / end, enroll customers, the dashboard, invites and the risk report, overrides, CSV |
//! | `entries.rs` | each participant's personal entry: a contact way (task and poster campaigns) or a group join way (group fission) whose `state` names campaign and participant; deleted when the campaign ends (`EntryJob`, `CleanupJob`) |
//! | `invites.rs` | an add or a group join through an entry becomes an invite, checked at once and again when the hold has passed; leavers are cancelled; counts reach tiers |
//! | `rewards.rs` | the reward ledger: issuing (red envelopes through WeChat Pay, exactly once by the ledger row's bill number), the progress message from the guide, redemption in a store |
//! | `migration.rs` | migration campaigns: the old WeChat groups' entries, members who move through them, the hold, the join reward, the dashboard per old group |
//! | `tick.rs` | the timer: scheduled starts and ends, seeding, invites whose hold has passed, entries to delete |
//! | `h5.rs` | the participant's page `/h5/c/{campaign}`: progress, rewards, their entry; what the page saw (device, address, location) |
//!
//! Exactly once: an invite is one row per add or join (a unique key), a
//! reward one row per (participant, tier) that reserves budget and
//! inventory in the transaction that opens it (see `koi_store::campaigns`),
//! and every step is a job whose effects commit with its finish.

mod entries;
mod h5;
mod invites;
mod migration;
mod rewards;
mod tick;

pub(crate) use entries::{CleanupJob, EntryJob};
pub use h5::{ProgressInvite, ProgressPage, VisitInput};
pub(crate) use invites::{record_arrival, record_leave as record_invitee_left, Arrival, CampaignWelcomeJob, Via};
pub(crate) use migration::{record_join as record_move_join, record_leave as record_move_leave, MigrationEntryJob};
pub use migration::{MigrationBoard, OldGroupLine};
pub(crate) use rewards::{NoticeJob, RewardJob};
pub(crate) use tick::CampaignTickJob;

use crate::customers::SegmentInput;
use crate::{actor, random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::{Action, Role};
use koi_domain::campaign::stats::{cost_per_retained, k_factor, rejection_rate, ReasonCount};
use koi_domain::campaign::{CampaignDraft, CampaignKind, CampaignState, RejectReason, Transition};
use koi_domain::ValidationError;
use koi_store::campaigns::{
    BreakdownRow, CampaignRow, CampaignTotals, CampaignWrite, InviteListRow, NewParticipant, ParticipantListRow,
    RewardRow,
};
use koi_store::events::NewEvent;
use koi_store::{now_ms, Tx};
use serde::{Deserialize, Serialize};

/// The reason an invite rejected by an operator (and by no check) keeps.
pub const OVERRIDE_REASON: &str = "override";

/// Rows one list shows.
pub const LIST_LIMIT: i64 = 500;
/// Customers one enrollment takes.
pub const MAX_ENROLL: usize = 10_000;

/// A campaign as the API and console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub kind: CampaignKind,
    pub state: CampaignState,
    pub starts_at: i64,
    pub ends_at: i64,
    /// Money reserved by rewards so far, fen.
    pub spent_fen: i64,
    /// The campaign's H5 page (`/h5/c/{random token}` under koi's public
    /// URL); a participant's link adds `?p=` and their own token.
    pub h5_path: String,
    pub draft: CampaignDraft,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One line of the campaigns list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignSummary {
    pub campaign: Campaign,
    pub totals: Totals,
}

/// A campaign's headline counts.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub participants: i64,
    /// Participants who brought at least one invite.
    pub sharers: i64,
    /// The deepest generation of the invite tree (seeds are 0).
    pub max_depth: i64,
    pub pending: i64,
    pub valid: i64,
    pub rejected: i64,
    pub rewards_issued: i64,
    /// Reached but not issued yet: pending, or withheld for budget or stock.
    pub rewards_waiting: i64,
    pub rewards_failed: i64,
    /// What issued rewards cost, fen.
    pub cost_fen: i64,
    /// Retained new customers per participant.
    pub k_factor: f64,
    pub cost_per_retained_fen: Option<i64>,
    /// Share of decided invites rejected.
    pub rejection_rate: f64,
}

impl From<CampaignTotals> for Totals {
    fn from(t: CampaignTotals) -> Self {
        Totals {
            k_factor: k_factor(t.valid, t.participants),
            cost_per_retained_fen: cost_per_retained(t.cost_fen, t.valid),
            rejection_rate: rejection_rate(t.valid, t.rejected),
            participants: t.participants,
            sharers: t.sharers,
            max_depth: t.max_depth,
            pending: t.pending,
            valid: t.valid,
            rejected: t.rejected,
            rewards_issued: t.rewards_issued,
            rewards_waiting: t.rewards_waiting,
            rewards_failed: t.rewards_failed,
            cost_fen: t.cost_fen,
        }
    }
}

/// Per guide or per store.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    pub id: Option<i64>,
    pub name: String,
    pub participants: i64,
    pub valid: i64,
    pub pending: i64,
    pub rejected: i64,
}

impl From<BreakdownRow> for Breakdown {
    fn from(r: BreakdownRow) -> Self {
        Breakdown {
            id: r.key_id,
            name: r.name.unwrap_or_default(),
            participants: r.participants,
            valid: r.valid,
            pending: r.pending,
            rejected: r.rejected,
        }
    }
}

/// Invites of one day (UTC+8), for the chart.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// Ms at the day's 00:00 in Shanghai.
    pub day: i64,
    pub valid: i64,
    pub pending: i64,
    pub rejected: i64,
}

/// The live dashboard of one campaign.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub campaign: Campaign,
    pub totals: Totals,
    /// The risk report: rejected invites by reason.
    pub reasons: Vec<ReasonCount>,
    pub by_guide: Vec<Breakdown>,
    pub by_store: Vec<Breakdown>,
    pub days: Vec<Day>,
    /// The orders attributed to the campaign.
    pub commerce: CampaignCommerce,
}

/// What the campaign sold: the orders attributed to it (its reward coupon
/// paid, or the customer came through it within the corp's window).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignCommerce {
    pub orders: i64,
    pub buyers: i64,
    /// Orders that were their customer's first.
    pub first_orders: i64,
    /// First orders per customer the campaign holds (participants and
    /// valid invites), in percent.
    pub first_order_rate_pct: f64,
    /// Paid less refunded, fen.
    pub gmv_fen: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invite {
    pub id: i64,
    pub inviter_participant_id: i64,
    pub inviter_customer_id: i64,
    pub inviter_name: String,
    /// The invitee's external_userid.
    pub invitee: String,
    pub invitee_customer_id: Option<i64>,
    pub invitee_name: String,
    /// add (added a guide) or join (joined a group).
    pub via: String,
    pub occurred_at: i64,
    /// When the hold passes.
    pub counts_at: i64,
    /// pending, valid or rejected.
    pub state: String,
    pub reason: Option<RejectReason>,
    /// The console user who overrode the verdict.
    pub overridden_by: Option<i64>,
}

impl From<InviteListRow> for Invite {
    fn from(r: InviteListRow) -> Self {
        Invite {
            id: r.id,
            inviter_participant_id: r.inviter_id,
            inviter_customer_id: r.inviter_customer_id,
            inviter_name: r.inviter_name,
            invitee: r.invitee_key,
            invitee_customer_id: r.invitee_customer_id,
            invitee_name: r.invitee_name.unwrap_or_default(),
            via: r.via,
            occurred_at: r.occurred_at,
            counts_at: r.counts_at,
            state: r.state,
            reason: RejectReason::parse(&r.reason),
            overridden_by: r.overridden_by,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Participant {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub guide: String,
    pub store: String,
    /// Generation in the invite tree (seeds are 0).
    pub depth: i32,
    /// seed, invite or manual.
    pub source: String,
    /// Their entry: none, queued, ready, failed or deleted.
    pub entry_state: String,
    pub valid: i32,
    pub pending: i64,
    pub rejected: i64,
    pub joined_at: i64,
    /// Their entry's QR image (WeCom's), once made.
    pub qr_code: Option<String>,
    /// Their H5 page (`/h5/c/{campaign}?p={their token}`, under koi's public URL).
    pub page_path: String,
    /// Their entry's WeCom config id (contact way or join way), once made.
    pub entry_config_id: Option<String>,
}

impl Participant {
    fn of(r: ParticipantListRow, c: &Campaign) -> Self {
        Participant {
            page_path: format!("{}?p={}", c.h5_path, r.token),
            qr_code: r.qr_code.filter(|q| !q.is_empty()),
            entry_config_id: r.config_id,
            id: r.id,
            customer_id: r.customer_id,
            name: r.customer_name,
            guide: r.staff_name.unwrap_or_default(),
            store: r.store_name.unwrap_or_default(),
            depth: r.depth,
            source: r.source,
            entry_state: r.entry_state,
            valid: r.valid,
            pending: r.pending,
            rejected: r.rejected,
            joined_at: r.joined_at,
        }
    }
}

/// One row of the reward ledger.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reward {
    pub id: i64,
    pub participant_id: i64,
    pub customer_id: i64,
    /// 0: the friend's reward; 1…: the tiers in order.
    pub tier: i32,
    pub kind: String,
    pub title: String,
    pub amount: i64,
    pub cost_fen: i64,
    /// The redemption code (gifts, coupons).
    pub code: Option<String>,
    /// pending, issued, redeemed, failed, withheld or revoked.
    pub state: String,
    pub error: String,
    /// The progress message: '' (not yet), sending, sent or failed.
    pub notice: String,
    pub issued_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    pub created_at: i64,
}

impl From<RewardRow> for Reward {
    fn from(r: RewardRow) -> Self {
        Reward {
            id: r.id,
            participant_id: r.participant_id,
            customer_id: r.customer_id,
            tier: r.tier,
            kind: r.kind,
            title: r.title,
            amount: r.amount,
            cost_fen: r.cost_fen,
            code: r.code,
            state: r.state,
            error: r.error,
            notice: r.notice,
            issued_at: r.issued_at,
            redeemed_at: r.redeemed_at,
            created_at: r.created_at,
        }
    }
}

/// Which invites a list shows.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct InviteQuery {
    /// pending, valid or rejected.
    pub state: Option<String>,
    /// A reject reason (`cluster`, `left_early`, …).
    pub reason: Option<String>,
    /// One participant's invites.
    pub participant_id: Option<i64>,
}

pub(crate) fn campaign_of(row: &CampaignRow) -> Result<Campaign> {
    let draft: CampaignDraft = serde_json::from_str(&row.draft)
        .map_err(|e| EngineError::Unavailable(format!("campaign {} has an unreadable draft: {e}", row.id)))?;
    Ok(Campaign {
        id: row.id,
        name: row.name.clone(),
        kind: CampaignKind::parse(&row.kind).unwrap_or_default(),
        state: CampaignState::parse(&row.state).unwrap_or(CampaignState::Ended),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        spent_fen: row.spent_fen,
        h5_path: format!("/h5/c/{}", row.public_token),
        draft,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The principal koi acts as when time, not a person, starts a campaign.
pub(crate) fn system(corp_id: i64) -> Principal {
    Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None }
}

impl Engine {
    pub async fn campaigns(&self, who: &Principal) -> Result<Vec<CampaignSummary>> {
        require(who, Action::ViewCampaigns)?;
        let mut out = vec![];
        for row in self.db.campaigns(who.corp_id).await? {
            let totals = self.db.campaign_totals(who.corp_id, row.id).await?.into();
            out.push(CampaignSummary { campaign: campaign_of(&row)?, totals });
        }
        Ok(out)
    }

    pub async fn campaign(&self, who: &Principal, id: i64) -> Result<Campaign> {
        require(who, Action::ViewCampaigns)?;
        campaign_of(&self.campaign_row(who.corp_id, id).await?)
    }

    async fn campaign_row(&self, corp_id: i64, id: i64) -> Result<CampaignRow> {
        self.db.campaign(corp_id, id).await?.ok_or(EngineError::NotFound("campaign"))
    }

    /// A new campaign, in draft.
    pub async fn create_campaign(&self, who: &Principal, draft: &CampaignDraft) -> Result<Campaign> {
        require(who, Action::ManageCampaigns)?;
        let d = draft.validate()?;
        self.check_campaign_refs(who, &d).await?;
        let json = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let now = now_ms();
        let w = write_of(&d, &json, now);
        let mut tx = self.db.begin().await?;
        let id = tx.insert_campaign(who.corp_id, &w, &random_hex(16)).await?;
        set_inventories(&mut tx, id, &d).await?;
        migration::sync_old_groups(&mut tx, who.corp_id, id, &d).await?;
        log(&mut tx, who, "campaign.created", id, &d.name).await?;
        tx.commit().await?;
        self.campaign(who, id).await
    }

    /// Replaces a campaign's draft: anything in a draft or scheduled
    /// campaign; only what is safe in a running or paused one.
    pub async fn update_campaign(&self, who: &Principal, id: i64, draft: &CampaignDraft) -> Result<Campaign> {
        require(who, Action::ManageCampaigns)?;
        let d = draft.validate()?;
        self.check_campaign_refs(who, &d).await?;
        let json = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let mut tx = self.db.begin().await?;
        let row = tx.campaign_for_update(who.corp_id, id).await?.ok_or(EngineError::NotFound("campaign"))?;
        let old = campaign_of(&row)?;
        match old.state {
            CampaignState::Running | CampaignState::Paused => old.draft.check_live_edit(&d)?,
            CampaignState::Ended => {
                return Err(ValidationError::one("state", "ended", "an ended campaign cannot change").into())
            }
            CampaignState::Draft | CampaignState::Scheduled => {}
        }
        tx.update_campaign(who.corp_id, id, &write_of(&d, &json, now_ms())).await?;
        set_inventories(&mut tx, id, &d).await?;
        migration::sync_old_groups(&mut tx, who.corp_id, id, &d).await?;
        if old.state.takes_invites() {
            // Old groups added to a running migration get their entries now.
            let c = campaign_of(&tx.campaign_in_tx(who.corp_id, id).await?.ok_or(EngineError::NotFound("campaign"))?)?;
            migration::queue_entries(&mut tx, who.corp_id, &c).await?;
        }
        log(&mut tx, who, "campaign.updated", id, &d.name).await?;
        tx.commit().await?;
        self.campaign(who, id).await
    }

    /// Launches, pauses, resumes or ends a campaign. Launching a campaign
    /// whose window has begun runs it at once; the timer does the rest.
    pub async fn campaign_transition(&self, who: &Principal, id: i64, t: Transition) -> Result<Campaign> {
        require(who, Action::ManageCampaigns)?;
        let mut tx = self.db.begin().await?;
        let row = tx.campaign_for_update(who.corp_id, id).await?.ok_or(EngineError::NotFound("campaign"))?;
        let c = campaign_of(&row)?;
        let now = now_ms();
        let to = t
            .apply(c.state, (c.starts_at, c.ends_at), now)
            .map_err(|e| EngineError::Invalid(ValidationError::one("state", "not_allowed", e.to_string())))?;
        tx.set_campaign_state(id, c.state.as_str(), to.as_str(), now).await?;
        log(&mut tx, who, &format!("campaign.{}", t.as_str()), id, &c.name).await?;
        // The timer seeds a running campaign and cleans an ended one; run it now.
        crate::jobs::enqueue(&mut tx, who.corp_id, &CampaignTickJob {}).await?;
        tx.commit().await?;
        self.campaign(who, id).await
    }

    /// The live dashboard.
    pub async fn campaign_dashboard(&self, who: &Principal, id: i64) -> Result<Dashboard> {
        let campaign = self.campaign(who, id).await?;
        let corp = who.corp_id;
        let totals: Totals = self.db.campaign_totals(corp, id).await?.into();
        let sold = self.db.campaign_orders(corp, id).await?;
        let audience = totals.participants + totals.valid;
        let commerce = CampaignCommerce {
            orders: sold.orders,
            buyers: sold.buyers,
            first_orders: sold.first_orders,
            first_order_rate_pct: if audience > 0 {
                (sold.first_orders as f64 * 1000.0 / audience as f64).round() / 10.0
            } else {
                0.0
            },
            gmv_fen: sold.gmv_fen,
        };
        let reasons = self
            .db
            .campaign_reasons(corp, id)
            .await?
            .into_iter()
            .map(|(reason, invites)| ReasonCount { reason, invites })
            .collect();
        let by_guide = self.db.campaign_breakdown(corp, id, false).await?.into_iter().map(Breakdown::from).collect();
        let by_store = self.db.campaign_breakdown(corp, id, true).await?.into_iter().map(Breakdown::from).collect();
        let days = self
            .db
            .campaign_days(corp, id)
            .await?
            .into_iter()
            .map(|d| Day { day: d.day, valid: d.valid, pending: d.pending, rejected: d.rejected })
            .collect();
        Ok(Dashboard { campaign, totals, reasons, by_guide, by_store, days, commerce })
    }

    pub async fn campaign_invites(&self, who: &Principal, id: i64, q: &InviteQuery) -> Result<Vec<Invite>> {
        require(who, Action::ViewCampaigns)?;
        self.campaign_row(who.corp_id, id).await?;
        let state = q.state.as_deref().filter(|s| !s.is_empty());
        if state.is_some_and(|s| !["pending", "valid", "rejected"].contains(&s)) {
            return Err(ValidationError::one("state", "unknown_state", "state is pending, valid or rejected").into());
        }
        let reason = q.reason.as_deref().filter(|s| !s.is_empty());
        // `override` is the reason an operator's rejection leaves; the risk report lists it too.
        if reason.is_some_and(|r| r != OVERRIDE_REASON && RejectReason::parse(r).is_none()) {
            return Err(ValidationError::one("reason", "unknown_reason", "no such reject reason").into());
        }
        let rows = self.db.campaign_invites(who.corp_id, id, state, reason, q.participant_id, LIST_LIMIT).await?;
        Ok(rows.into_iter().map(Invite::from).collect())
    }

    pub async fn campaign_participants(&self, who: &Principal, id: i64) -> Result<Vec<Participant>> {
        require(who, Action::ViewCampaigns)?;
        let c = campaign_of(&self.campaign_row(who.corp_id, id).await?)?;
        let rows = self.db.campaign_participants(who.corp_id, id, LIST_LIMIT).await?;
        Ok(rows.into_iter().map(|r| Participant::of(r, &c)).collect())
    }

    pub async fn campaign_rewards(&self, who: &Principal, id: i64, participant_id: Option<i64>) -> Result<Vec<Reward>> {
        require(who, Action::ViewCampaigns)?;
        self.campaign_row(who.corp_id, id).await?;
        let rows = self.db.campaign_rewards(who.corp_id, id, participant_id, LIST_LIMIT).await?;
        Ok(rows.into_iter().map(Reward::from).collect())
    }

    /// Enrolls customers by hand (or from a segment at launch): each gets a
    /// participant row and their personal entry. Returns how many are new.
    pub async fn enroll_participants(&self, who: &Principal, id: i64, customer_ids: &[i64]) -> Result<usize> {
        require(who, Action::ManageCampaigns)?;
        if customer_ids.len() > MAX_ENROLL {
            return Err(
                ValidationError::one("customer_ids", "too_many", format!("at most {MAX_ENROLL} at once")).into()
            );
        }
        let row = self.campaign_row(who.corp_id, id).await?;
        let c = campaign_of(&row)?;
        if c.state == CampaignState::Ended {
            return Err(ValidationError::one("state", "ended", "an ended campaign takes no participants").into());
        }
        let mut tx = self.db.begin().await?;
        let n = self.enroll(&mut tx, who.corp_id, &c, customer_ids, "manual").await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Enrolls customers koi knows (others are skipped), with their guide
    /// (the latest live follow) and store, and queues their entries.
    pub(crate) async fn enroll(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        c: &Campaign,
        customer_ids: &[i64],
        source: &str,
    ) -> Result<usize> {
        let now = now_ms();
        let mut n = 0;
        for &customer_id in customer_ids {
            let Some((staff_id, store_id)) = tx.latest_follow_of(corp_id, customer_id).await? else { continue };
            let p = NewParticipant {
                corp_id,
                campaign_id: c.id,
                customer_id,
                parent_id: None,
                depth: 0,
                staff_id: Some(staff_id),
                store_id,
                source,
                token: &random_hex(16),
                now,
            };
            if let Some(pid) = tx.insert_participant(&p).await? {
                n += 1;
                entries::queue_entry(tx, corp_id, pid).await?;
                crate::jobs::enqueue(tx, corp_id, &NoticeJob { participant_id: pid, reward_id: None }).await?;
            }
        }
        Ok(n)
    }

    /// The seed audience of a campaign: the segment's customers.
    pub(crate) async fn seed_customers(&self, corp_id: i64, c: &Campaign) -> Result<Vec<i64>> {
        if c.draft.seed_segment.is_empty() {
            return Ok(vec![]);
        }
        let input = SegmentInput::Text(c.draft.seed_segment.clone());
        self.segment_customer_ids(&system(corp_id), &input).await
    }

    /// Overrides an invite's verdict (the risk report's button): valid
    /// counts it (and may reach a tier), rejected takes it out.
    pub async fn override_invite(&self, who: &Principal, id: i64, invite_id: i64, valid: bool) -> Result<Invite> {
        require(who, Action::ManageCampaigns)?;
        let row = self.campaign_row(who.corp_id, id).await?;
        let c = campaign_of(&row)?;
        let mut tx = self.db.begin().await?;
        let inv = tx.invite_in_tx(who.corp_id, invite_id).await?.filter(|i| i.campaign_id == id);
        let inv = inv.ok_or(EngineError::NotFound("invite"))?;
        let (state, reason) = if valid { ("valid", String::new()) } else { ("rejected", inv.reason.clone()) };
        let reason = if !valid && reason.is_empty() { OVERRIDE_REASON.to_string() } else { reason };
        let by = who.user_id.unwrap_or(0);
        tx.decide_invite(invite_id, state, &reason, true, Some(by), now_ms()).await?;
        invites::after_count_change(&mut tx, who.corp_id, &c, inv.inviter_id).await?;
        log(&mut tx, who, "campaign.invite_overridden", id, &format!("invite {invite_id} → {state}")).await?;
        tx.commit().await?;
        let rows = self.db.campaign_invites(who.corp_id, id, None, None, Some(inv.inviter_id), LIST_LIMIT).await?;
        rows.into_iter().find(|r| r.id == invite_id).map(Invite::from).ok_or(EngineError::NotFound("invite"))
    }

    /// The invites as CSV rows (header first).
    pub async fn campaign_csv(&self, who: &Principal, id: i64) -> Result<Vec<Vec<String>>> {
        require(who, Action::ViewCampaigns)?;
        self.campaign_row(who.corp_id, id).await?;
        let rows = self.db.campaign_invites(who.corp_id, id, None, None, None, i64::MAX).await?;
        let mut out = vec![[
            "invite_id",
            "inviter_customer_id",
            "inviter_name",
            "invitee",
            "invitee_customer_id",
            "invitee_name",
            "via",
            "occurred_at",
            "counts_at",
            "state",
            "reason",
        ]
        .map(String::from)
        .to_vec()];
        for r in rows {
            out.push(vec![
                r.id.to_string(),
                r.inviter_customer_id.to_string(),
                r.inviter_name,
                r.invitee_key,
                r.invitee_customer_id.map(|c| c.to_string()).unwrap_or_default(),
                r.invitee_name.unwrap_or_default(),
                r.via,
                r.occurred_at.to_string(),
                r.counts_at.to_string(),
                r.state,
                r.reason,
            ]);
        }
        Ok(out)
    }

    /// What the draft names exists in the corp.
    async fn check_campaign_refs(&self, who: &Principal, d: &CampaignDraft) -> Result<()> {
        let corp = who.corp_id;
        for &s in &d.staff_ids {
            if self.db.staff(corp, s).await?.is_none() {
                return Err(ValidationError::one("staff_ids", "unknown_staff", format!("no staff {s}")).into());
            }
        }
        for &s in &d.store_ids {
            if self.db.store(corp, s).await?.is_none() {
                return Err(ValidationError::one("store_ids", "unknown_store", format!("no store {s}")).into());
            }
        }
        let codes = d.group_code_id.into_iter().chain(d.tiers.iter().filter_map(|t| t.reward.group_code_id));
        for code in codes {
            match self.db.group_code(corp, code).await? {
                Some(c) if c.config_id.is_some() => {}
                _ => {
                    return Err(ValidationError::one(
                        "group_code_id",
                        "unknown_group_code",
                        format!("no rotating group code {code}"),
                    )
                    .into())
                }
            }
        }
        let templates = d.tiers.iter().map(|t| &t.reward).chain(d.invitee_reward.as_ref());
        for t in templates.filter_map(|r| r.coupon_template_id) {
            if self.db.coupon_template(corp, t).await?.is_none_or(|t| t.archived) {
                let msg = format!("no coupon template {t}");
                return Err(ValidationError::one("coupon_template_id", "unknown_template", msg).into());
            }
        }
        if let Some(t) = d.poster_template_id {
            if self.db.poster_template(corp, t).await?.is_none() {
                let msg = format!("no poster template {t}");
                return Err(ValidationError::one("poster_template_id", "unknown_template", msg).into());
            }
        }
        if !d.seed_segment.is_empty() {
            // Parses and names only what exists (the index's names).
            self.segment_customer_ids(&system(corp), &SegmentInput::Text(d.seed_segment.clone())).await?;
        }
        Ok(())
    }
}

fn write_of<'a>(d: &'a CampaignDraft, json: &'a str, now: i64) -> CampaignWrite<'a> {
    CampaignWrite {
        name: &d.name,
        kind: d.kind.as_str(),
        starts_at: d.starts_at,
        ends_at: d.ends_at,
        draft: json,
        budget_fen: d.budget_fen,
        now,
    }
}

/// Tier 0 is the friend's reward; tiers count from 1.
async fn set_inventories(tx: &mut Tx, id: i64, d: &CampaignDraft) -> Result<()> {
    tx.set_tier_inventory(id, 0, None).await?;
    for (i, t) in d.tiers.iter().enumerate() {
        let inv = t.inventory.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        tx.set_tier_inventory(id, tier_no(i), inv).await?;
    }
    Ok(())
}

/// The ledger's number of the tier at `index` of the draft.
pub(crate) fn tier_no(index: usize) -> i32 {
    i32::try_from(index + 1).unwrap_or(i32::MAX)
}

async fn log(tx: &mut Tx, who: &Principal, kind: &str, id: i64, what: &str) -> Result<()> {
    let now = now_ms();
    let payload = serde_json::json!({ "campaign_id": id, "what": what });
    let e = NewEvent {
        corp_id: who.corp_id,
        kind,
        subject: &format!("campaign:{id}"),
        actor: &actor(who),
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}
