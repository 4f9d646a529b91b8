//! The reward ledger at work: a reached tier opens one row (reserving its
//! budget and inventory, see `koi_store::campaigns`), [`RewardJob`] issues
//! it, and [`NoticeJob`] tells the participant through their guide.
//!
//! A red envelope is paid with the row's bill number (`billno`, fixed when
//! the row opens): a retry after a crash or on a second node asks WeChat Pay
//! with the same number and learns the first payment's outcome instead of
//! paying again. Coupons and gifts carry a redemption code made with the
//! row. A coupon tier naming a koi coupon template issues a real coupon
//! with that code, and points go on the points ledger, both in the reward
//! job's transaction ([`book`]), so once per participant and tier.

use super::invites::reward_title;
use super::{campaign_of, Campaign, Reward};
use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::pay::{PayError, PayOutcome, RedPacket};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::campaign::{RewardKind, RewardSpec};
use koi_domain::jobs::priority;
use koi_domain::ValidationError;
use koi_store::campaigns::{NewReward, Opened};
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{AddMsgTemplateRequest, Attachment, ChatType, Link, Priority, Text};
use serde::{Deserialize, Serialize};

/// Letters of a redemption code: no 0/O or 1/I to misread at a counter.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const CODE_LEN: usize = 12;
/// WeChat Pay's bound on a red packet's activity name.
const ACT_NAME_CHARS: usize = 32;

/// A fresh redemption code: 12 of 32 letters, 60 bits, unguessable.
fn redemption_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// WeChat Pay's idempotency key of a reward: fixed by the ledger row
/// (campaign, participant, tier), at most 28 characters.
fn billno(campaign_id: i64, participant_id: i64, tier: i32) -> String {
    format!("koi{campaign_id}p{participant_id}t{tier}")
}

/// Opens a participant's reward for a tier and queues its issuing; a row
/// that exists already, or one withheld for budget or stock, queues nothing.
pub(crate) async fn open(
    tx: &mut Tx,
    corp_id: i64,
    c: &Campaign,
    participant_id: i64,
    customer_id: i64,
    tier: i32,
    spec: &RewardSpec,
) -> Result<()> {
    let code = spec.kind.has_code().then(redemption_code);
    let billno = billno(c.id, participant_id, tier);
    let title = reward_title(spec);
    let r = NewReward {
        corp_id,
        campaign_id: c.id,
        participant_id,
        customer_id,
        tier,
        kind: spec.kind.as_str(),
        title: &title,
        amount: spec.amount,
        cost_fen: spec.cost_fen(),
        code: code.as_deref(),
        billno: &billno,
        now: now_ms(),
    };
    if let Opened::Reserved(reward_id) = tx.open_reward(&r).await? {
        enqueue(tx, corp_id, &RewardJob { reward_id }).await?;
    }
    Ok(())
}

/// Job: issue one reward of the ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RewardJob {
    pub reward_id: i64,
}

/// What issuing came to.
pub(crate) enum Issue {
    /// Issued; WeChat Pay's reference for a red envelope.
    Issued(String),
    /// Refused for good (limits, not configured): the row shows why.
    Failed(String),
    /// Not pending any more (revoked, issued by an earlier attempt).
    Gone,
}

impl Job for RewardJob {
    const KIND: &'static str = "campaigns.reward";
    const PRIORITY: i32 = priority::TAGS;
    const MAX_ATTEMPTS: i32 = 12;
    type Prepared = Issue;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Issue> {
        let Some(r) = engine.db.reward(ctx.corp_id, self.reward_id).await? else { return Ok(Issue::Gone) };
        if r.state != "pending" {
            return Ok(Issue::Gone);
        }
        match RewardKind::parse(&r.kind) {
            Some(RewardKind::RedEnvelope) => {
                let row = engine.db.campaign(ctx.corp_id, r.campaign_id).await?;
                let c = campaign_of(&row.ok_or_else(|| JobError::Done("the campaign is gone".into()))?)?;
                let customer = engine.db.customer(ctx.corp_id, r.customer_id).await?;
                let customer = customer.ok_or_else(|| JobError::Done("the customer is gone".into()))?;
                engine.pay_envelope(ctx.corp_id, &c, &r, &customer.external_userid).await
            }
            Some(_) => Ok(Issue::Issued(String::new())),
            None => Ok(Issue::Failed(format!("unknown reward kind {:?}", r.kind))),
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, issue: Issue, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        match issue {
            Issue::Gone => Ok(JobEnd::Done),
            Issue::Issued(pay_ref) => {
                if tx.set_reward_state(self.reward_id, &["pending"], "issued", "", Some(&pay_ref), now).await? {
                    let Some(r) = tx.reward_in_tx(self.reward_id).await? else { return Ok(JobEnd::Done) };
                    if let Err(why) = book(tx, ctx.corp_id, &r, now).await? {
                        tx.set_reward_state(r.id, &["issued"], "failed", &why, None, now).await?;
                        return Ok(JobEnd::Refused(why));
                    }
                    let notice = NoticeJob { participant_id: r.participant_id, reward_id: Some(r.id) };
                    enqueue(tx, ctx.corp_id, &notice).await?;
                }
                Ok(JobEnd::Done)
            }
            Issue::Failed(why) => {
                tx.set_reward_state(self.reward_id, &["pending"], "failed", &why, None, now).await?;
                Ok(JobEnd::Refused(why))
            }
        }
    }
}

/// Books an issued reward in koi's own ledgers, in the reward job's
/// transaction (so once per participant and tier): a coupon tier naming a
/// template issues a real coupon carrying the reward's code; points go on
/// the points ledger. `Err(why)` when the coupon cannot be issued (the
/// template's stock or limit).
async fn book(tx: &mut Tx, corp_id: i64, r: &koi_store::campaigns::RewardRow, now: i64) -> Result<Result<(), String>> {
    let source_ref = format!("reward:{}", r.id);
    match RewardKind::parse(&r.kind) {
        Some(RewardKind::Coupon) => {
            let Some(row) = tx.campaign_in_tx(corp_id, r.campaign_id).await? else { return Ok(Ok(())) };
            let c = campaign_of(&row)?;
            let spec = match r.tier {
                0 => c.draft.invitee_reward.as_ref(),
                n => usize::try_from(n - 1).ok().and_then(|i| c.draft.tiers.get(i)).map(|t| &t.reward),
            };
            let Some(template_id) = spec.and_then(|s| s.coupon_template_id) else { return Ok(Ok(())) };
            let Some(t) = tx.coupon_template_in_tx(corp_id, template_id).await? else {
                return Ok(Err("the coupon template is gone".into()));
            };
            let by = format!("campaign:{}", r.campaign_id);
            let issued = crate::coupons::issue_in(
                tx,
                corp_id,
                &t,
                r.customer_id,
                "campaign",
                &source_ref,
                &by,
                r.code.as_deref(),
                now,
            )
            .await?;
            Ok(match issued {
                koi_store::coupons::Issued::Coupon(_) | koi_store::coupons::Issued::Existed => Ok(()),
                koi_store::coupons::Issued::OverLimit => Err("the customer holds the coupon's limit".into()),
                koi_store::coupons::Issued::OutOfStock => Err("the coupon template's stock is used up".into()),
            })
        }
        Some(RewardKind::Points) => {
            let by = format!("campaign:{}", r.campaign_id);
            let kind = koi_domain::coupon::points::EntryKind::Campaign;
            crate::points::earn_in(tx, corp_id, r.customer_id, r.amount, kind, &r.title, &source_ref, 0, &by, now)
                .await?;
            Ok(Ok(()))
        }
        _ => Ok(Ok(())),
    }
}

impl Engine {
    /// Pays a red envelope reward with its ledger row's bill number. An
    /// unknown outcome retries the job with the same number; a refusal
    /// (limits, no balance, not configured) fails the row with WeChat's
    /// reason, for the operator to retry once fixed.
    pub(crate) async fn pay_envelope(
        &self,
        corp_id: i64,
        c: &Campaign,
        r: &koi_store::campaigns::RewardRow,
        external_userid: &str,
    ) -> JobResult<Issue> {
        let req = RedPacket {
            billno: r.billno.clone(),
            external_userid: external_userid.to_string(),
            amount_fen: r.amount,
            wishing: String::new(),
            act_name: c.name.chars().take(ACT_NAME_CHARS).collect(),
        };
        match self.pay_red_packet(corp_id, &req).await {
            Ok(PayOutcome::Paid { send_listid, .. }) => Ok(Issue::Issued(send_listid)),
            Err(e @ PayError::RetrySameBillno(_)) => Err(e.into()),
            Err(e) => Ok(Issue::Failed(e.to_string())),
        }
    }

    /// Hands out a gift or coupon in a store by its redemption code, at most
    /// once however many counters try at the same time.
    pub async fn redeem_reward(&self, who: &Principal, code: &str, store_id: Option<i64>) -> Result<Reward> {
        require(who, Action::RedeemRewards)?;
        let code = code.trim().to_uppercase();
        if let Some(s) = store_id {
            if !who.sees_store(s) {
                return Err(EngineError::Forbidden);
            }
        }
        let found = self.db.reward_by_code(who.corp_id, &code).await?.ok_or(EngineError::NotFound("reward"))?;
        let mut tx = self.db.begin().await?;
        let redeemed = tx.redeem_reward(who.corp_id, &code, store_id, now_ms()).await?;
        tx.commit().await?;
        match redeemed {
            Some(r) => Ok(r.into()),
            None if found.state == "redeemed" || found.state == "issued" => {
                Err(EngineError::Conflict { what: "a redemption of this code" })
            }
            None => Err(ValidationError::one(
                "code",
                "not_redeemable",
                format!("this reward is {}, not issued", found.state),
            )
            .into()),
        }
    }

    /// Tries a failed or withheld reward again (after a top-up, a bigger
    /// budget or more stock).
    pub async fn retry_reward(&self, who: &Principal, reward_id: i64) -> Result<Reward> {
        require(who, Action::ManageCampaigns)?;
        let r = self.db.reward(who.corp_id, reward_id).await?.ok_or(EngineError::NotFound("reward"))?;
        let mut tx = self.db.begin().await?;
        let now = now_ms();
        let queued = match r.state.as_str() {
            "failed" => tx.set_reward_state(r.id, &["failed"], "pending", "", None, now).await?,
            "withheld" => tx.reopen_reward(&r, now).await?,
            _ => false,
        };
        if !queued {
            let why = match r.state.as_str() {
                "withheld" => "the budget or the tier's inventory is still used up",
                _ => "only a failed or withheld reward can be retried",
            };
            return Err(ValidationError::one("state", "not_retryable", why).into());
        }
        enqueue(&mut tx, who.corp_id, &RewardJob { reward_id }).await?;
        tx.commit().await?;
        Ok(self.db.reward(who.corp_id, reward_id).await?.ok_or(EngineError::NotFound("reward"))?.into())
    }
}

/// Job: a message from the participant's guide — the invitation to take
/// part (no reward), or a reward reached. Sent at most once: claimed in a
/// commit of its own before the call; a call that may have reached WeCom
/// leaves it claimed, and a retry that finds it claimed does not send again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NoticeJob {
    pub participant_id: i64,
    pub reward_id: Option<i64>,
}

pub(crate) enum Noticed {
    /// Sent to this customer: a touch for the fatigue cap.
    Sent(i64),
    Failed(String),
    /// Claimed by an earlier attempt whose outcome is unknown, or not wanted.
    Skipped,
}

impl NoticeJob {
    async fn claim(&self, engine: &Engine, from: &str, to: &str) -> Result<bool> {
        let mut tx = engine.db.begin().await?;
        let ok = tx.set_notice(self.reward_id, self.participant_id, from, to).await?;
        tx.commit().await?;
        Ok(ok)
    }
}

impl Job for NoticeJob {
    const KIND: &'static str = "campaigns.notice";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Noticed;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Noticed> {
        let corp = ctx.corp_id;
        let p = engine.db.participant(corp, self.participant_id).await?;
        let p = p.ok_or_else(|| JobError::Done("the participant is gone".into()))?;
        let row = engine.db.campaign(corp, p.campaign_id).await?;
        let c = campaign_of(&row.ok_or_else(|| JobError::Done("the campaign is gone".into()))?)?;
        let reward = match self.reward_id {
            Some(id) => Some(engine.db.reward(corp, id).await?.ok_or_else(|| JobError::Done("no reward".into()))?),
            None => None,
        };
        let claimed_state = reward.as_ref().map_or(p.notice.as_str(), |r| r.notice.as_str());
        if !claimed_state.is_empty() {
            return Ok(Noticed::Skipped);
        }
        let (Some(staff_id), Some(customer)) = (p.staff_id, engine.db.customer(corp, p.customer_id).await?) else {
            return Ok(Noticed::Failed("the participant has no guide".into()));
        };
        let staff = engine.db.staff(corp, staff_id).await?.ok_or_else(|| JobError::Done("no guide".into()))?;
        let url = engine.participant_url(&c, &p.token);
        let text = match &reward {
            None => format!("{}：{}", c.name, super::invites::invite_line(&c)),
            Some(r) => {
                let mut t = format!("恭喜！你在「{}」中获得：{}", c.name, r.title);
                if let Some(code) = &r.code {
                    t.push_str(&format!("（兑换码 {code}）"));
                }
                t
            }
        };
        let link = Link { title: c.name.clone(), picurl: None, desc: None, url, media_id: None };
        let req = AddMsgTemplateRequest {
            chat_type: Some(ChatType::Single),
            external_userid: Some(vec![customer.external_userid.clone()]),
            sender: Some(staff.userid.clone()),
            text: Some(Text::new(text)),
            attachments: Some(vec![Attachment::Link { link }]),
            ..AddMsgTemplateRequest::default()
        };
        if !self.claim(engine, "", "sending").await? {
            return Ok(Noticed::Skipped);
        }
        let client = engine.wecom_for(corp).await?;
        match client.add_msg_template(&req, Priority::Bulk).await {
            Ok(_) => Ok(Noticed::Sent(p.customer_id)),
            Err(e) if e.may_have_acted() => Err(e.into()),
            Err(e) => {
                self.claim(engine, "sending", "").await?;
                if e.is_final() {
                    Ok(Noticed::Failed(e.to_string()))
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, n: Noticed, tx: &mut Tx) -> JobResult<JobEnd> {
        let to = match &n {
            Noticed::Sent(_) => "sent",
            Noticed::Failed(_) => "failed",
            Noticed::Skipped => return Ok(JobEnd::Done),
        };
        let from = if to == "failed" { "" } else { "sending" };
        tx.set_notice(self.reward_id, self.participant_id, from, to).await?;
        if let Noticed::Sent(customer) = n {
            // Counted by the fatigue cap, never held back by it: a promised
            // reward's notice always goes.
            let reference = format!("{}:{}", self.participant_id, self.reward_id.unwrap_or(0));
            let source = crate::outreach::fatigue::CAMPAIGN_NOTICE_SOURCE;
            crate::outreach::fatigue::record_touch(tx, ctx.corp_id, customer, source, &reference, now_ms()).await?;
        }
        match n {
            Noticed::Failed(why) => Ok(JobEnd::Refused(why)),
            _ => Ok(JobEnd::Done),
        }
    }
}
