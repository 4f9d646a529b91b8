//! Adds and deletions: the customer fetched from WeCom, the follow with its
//! attribution, and the customer views the API and console read.

use super::{Customer, Follow, RouteJob, WelcomeJob, WELCOME_TTL_MS};
use crate::campaigns::{record_arrival, record_invitee_left, Arrival, Via};
use crate::customers::tagging::{apply_rules, change_tags};
use crate::customers::Cause;
use crate::jobs::{enqueue, Job, JobCtx, JobResult};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::campaign::EntryOf;
use koi_domain::channel::{
    add_outcome, pick_variant, stale_add, variant_seed, Attribution, ChannelCodeDraft, ChannelState, PreviousFollow,
};
use koi_domain::customer::Happening;
use koi_domain::jobs::priority;
use koi_store::acquisition::{CustomerProfile, NewFollow};
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{GetExternalContactRequest, Priority};
use serde::{Deserialize, Serialize};

/// Job: fetch a new customer from WeCom and record the add (enqueued by the
/// callback pipeline).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AddJob {
    pub userid: String,
    pub external_userid: String,
    pub state: String,
    pub welcome_code: Option<String>,
    pub received_at: i64,
    /// Ms since the epoch of the event itself.
    pub occurred_at: i64,
}

/// What WeCom's `follow_user` entry of the adding guide says.
#[derive(Debug, Clone, Default)]
pub(crate) struct FollowNote {
    /// WeCom lists this relation now.
    listed: bool,
    add_way: i32,
    remark: String,
    mobiles: Vec<String>,
}

impl Job for AddJob {
    const KIND: &'static str = "acquire.add";
    const PRIORITY: i32 = priority::ADD;
    /// The customer as WeCom has them, and what the guide's side says:
    /// how they added the guide (`add_way`: QR, search, card share…), the
    /// remark and the phones.
    type Prepared = (CustomerProfile, FollowNote);

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Self::Prepared> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let req = GetExternalContactRequest { external_userid: self.external_userid.clone(), cursor: None };
        let got = client.get_external_contact(&req, Priority::Interactive).await?;
        // WeCom's truth about this relation; a contact way means a QR (1) when
        // the follow is not listed yet.
        let mine = got.follow_user.iter().find(|f| f.userid == self.userid);
        let note = FollowNote {
            listed: mine.is_some(),
            add_way: mine.map_or(1, |f| f.add_way),
            remark: mine.map(|f| f.remark.clone()).unwrap_or_default(),
            mobiles: mine.map(|f| f.remark_mobiles.clone()).unwrap_or_default(),
        };
        let c = got.external_contact;
        let profile = CustomerProfile {
            external_userid: self.external_userid.clone(),
            name: c.name,
            avatar: c.avatar.unwrap_or_default(),
            kind: c.kind,
            gender: c.gender,
            unionid: c.unionid.unwrap_or_default(),
        };
        Ok((profile, note))
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, prepared: Self::Prepared, tx: &mut Tx) -> JobResult<JobEnd> {
        let (profile, note) = prepared;
        record_add(ctx.corp_id, self, &profile, &note, tx).await?;
        Ok(JobEnd::Done)
    }
}

impl Engine {
    pub async fn customer(&self, who: &Principal, id: i64) -> Result<Customer> {
        require(who, Action::ViewCustomers)?;
        let row = self.db.customer(who.corp_id, id).await?.ok_or(EngineError::NotFound("customer"))?;
        let follows = self.db.follows_of(who.corp_id, row.id).await?;
        let whole_corp = who.store_scope().is_none();
        let visible = match (who.role, who.staff_id) {
            // A guide sees the customers they follow now.
            (koi_domain::access::Role::Guide, Some(staff)) => {
                follows.iter().any(|f| f.staff_id == staff && f.deleted_at.is_none())
            }
            _ => whole_corp || follows.iter().any(|f| f.store_id.is_some_and(|s| who.sees_store(s))),
        };
        if !visible {
            return Err(EngineError::NotFound("customer"));
        }
        Ok(Customer::of(row, follows.into_iter().map(Follow::from).collect()))
    }

    /// Marks the follow lost when either side deleted the other.
    pub(crate) async fn record_deletion(
        &self,
        corp_id: i64,
        userid: &str,
        external_userid: &str,
        by: &str,
        at: i64,
        tx: &mut Tx,
    ) -> Result<()> {
        let (Some(staff_id), Some(customer_id)) =
            (tx.staff_id_by_userid(corp_id, userid).await?, tx.customer_id(corp_id, external_userid).await?)
        else {
            return Ok(());
        };
        let follow = tx.follow(corp_id, customer_id, staff_id).await?;
        if tx.mark_follow_deleted(corp_id, customer_id, staff_id, by, at).await? {
            // The code and store of the lost follow, so churn can be counted
            // per code even after the customer comes back.
            let (code_id, store_id) = follow.map_or((None, None), |f| (f.code_id, f.store_id));
            let payload = serde_json::json!({
                "staff_id": staff_id, "userid": userid, "deleted_by": by, "code_id": code_id, "store_id": store_id,
            });
            let ev = NewEvent {
                corp_id,
                kind: "customer.lost",
                subject: &format!("customer:{customer_id}"),
                actor: "wecom",
                payload: &payload.to_string(),
                dedup_key: None,
                occurred_at: at,
            };
            tx.append_event(&ev, now_ms()).await?;
            record_invitee_left(tx, corp_id, external_userid, Via::Add { staff_id }, at).await?;
            if by == "customer" {
                // The customer deleted the guide: the loss alert (a handover's end is no loss).
                crate::handover::record_loss(tx, corp_id, customer_id, staff_id, store_id, at).await?;
            }
        }
        Ok(())
    }
}

/// Records an add: the customer, the follow with its attribution, the
/// event, and the welcome to send. Idempotent: the same add twice refreshes
/// the same rows and sends at most one welcome (WeCom refuses a second use
/// of a welcome code).
async fn record_add(
    corp_id: i64,
    add: &AddJob,
    profile: &CustomerProfile,
    note: &FollowNote,
    tx: &mut Tx,
) -> Result<()> {
    let Some(staff_id) = tx.staff_id_by_userid(corp_id, &add.userid).await? else {
        // A member koi does not know yet (staff sync is a later step):
        // nothing to attribute to; the callback stays on the event log.
        tracing::warn!(userid = %add.userid, "add for an unknown staff member");
        return Ok(());
    };
    let attribution = ChannelState::decode(&add.state);
    // A campaign participant's entry names the campaign and the inviter.
    let entry = match &attribution {
        Attribution::Channel(s) => EntryOf::of(s),
        Attribution::Unknown { .. } => None,
    };
    let (code, code_id, store_id) = match attribution {
        // Code 0: a campaign entry, no channel code behind it.
        Attribution::Channel(s) if s.code_id == 0 => (None, None, s.store_id),
        Attribution::Channel(s) => {
            let code = tx.channel_code(corp_id, s.code_id).await?;
            let store = s.store_id.or(code.as_ref().and_then(|c| c.store_id));
            (code, Some(s.code_id), store)
        }
        Attribution::Unknown { .. } => (None, None, None),
    };
    let now = now_ms();
    let existing = tx.customer_id(corp_id, &add.external_userid).await?;
    let previous = match existing {
        Some(cid) => tx.follow(corp_id, cid, staff_id).await?,
        None => None,
    };
    let followed_before = match existing {
        Some(cid) => tx.customer_followed_before(corp_id, cid).await?,
        None => false,
    };
    let outcome = add_outcome(previous.as_ref().map(|f| PreviousFollow { deleted_at: f.deleted_at }), followed_before);
    let (customer_id, _) = tx.upsert_customer(corp_id, profile, code_id, store_id, add.occurred_at, now).await?;
    if previous.as_ref().is_some_and(|f| f.deleted_at.is_none() && f.added_at == add.occurred_at) {
        return Ok(()); // this very add is on record already
    }
    if previous.as_ref().is_some_and(|f| stale_add(note.listed, f.deleted_at, add.occurred_at)) {
        // A late or retried add of a follow that ended after it and that
        // WeCom no longer lists: it changes nothing.
        tracing::info!(external_userid = %add.external_userid, userid = %add.userid, "stale add of an ended follow");
        return Ok(());
    }
    let follow = NewFollow {
        corp_id,
        customer_id,
        staff_id,
        added_at: add.occurred_at,
        add_way: note.add_way,
        state: &add.state,
        code_id,
        store_id,
        returning: outcome.returning,
    };
    let follow_id = tx.upsert_follow(&follow, now).await?;
    // An add through a distributor's contact way: the distributor brought them.
    crate::distribution::on_add(tx, corp_id, &add.state, customer_id).await?;
    tx.set_follow_remark(follow_id, &note.remark, &note.mobiles).await?;
    let payload = serde_json::json!({
        "code_id": code_id, "store_id": store_id, "staff_id": staff_id, "userid": add.userid,
        "new_customer": outcome.new_customer, "returning": outcome.returning, "state": add.state,
    });
    let event = NewEvent {
        corp_id,
        kind: "customer.added",
        subject: &format!("customer:{customer_id}"),
        actor: "wecom",
        payload: &payload.to_string(),
        dedup_key: Some(&format!("add:{}:{}:{}", add.external_userid, add.userid, add.occurred_at)),
        occurred_at: add.occurred_at,
    };
    tx.append_event(&event, now).await?;
    let draft: Option<&ChannelCodeDraft> = code.as_ref().map(|c| &c.draft);
    if let (Some(draft), Some(code_id)) = (&draft, code_id) {
        if draft.needs_routing() {
            enqueue(tx, corp_id, &RouteJob { code_id }).await?;
        }
        if !draft.auto_tag_ids.is_empty() {
            let cause = Cause::Code { code_id };
            change_tags(tx, corp_id, customer_id, &draft.auto_tag_ids, &[], &cause).await?;
        }
    }
    apply_rules(tx, corp_id, customer_id, &Happening::Added { code_id }).await?;
    // Orders placed before the customer added (their shop keys now name them).
    crate::orders::match_waiting_in(tx, corp_id, customer_id, &profile.unionid, &add.external_userid).await?;
    // The code's welcome coupon: one an add (this add's time names it, so
    // the same add again issues nothing); the welcome links to the wallet.
    let mut wallet_url = None;
    if let (Some(draft), Some(code_id)) = (draft, code_id) {
        if let Some(t) = draft.welcome_coupon {
            let source_ref = format!("welcome:{code_id}:{}", add.occurred_at);
            let issued =
                crate::coupons::issue_automatically(tx, corp_id, t, customer_id, "welcome", &source_ref, now).await?;
            // Only a coupon that was issued is announced (a refusal is on the timeline).
            if issued.is_some() {
                let token = crate::customers::customer_link_in(tx, corp_id, customer_id).await?;
                wallet_url = Some(format!("/h5/wallet?k={token}"));
            }
        }
    }
    if let (Some(draft), Some(code_id), Some(welcome_code)) = (draft, code_id, add.welcome_code.clone()) {
        if let Some(variant) = pick_variant(&draft.welcome, variant_seed(&add.external_userid, code_id)) {
            let w = WelcomeJob {
                code_id,
                customer_id,
                staff_id,
                userid: add.userid.clone(),
                welcome_code,
                deadline: add.received_at + WELCOME_TTL_MS,
                variant,
                wallet_url: wallet_url.clone(),
            };
            enqueue(tx, corp_id, &w).await?;
        }
    }
    if let Some(entry) = entry {
        let arrival = Arrival {
            entry,
            via: Via::Add { staff_id },
            invitee_key: &add.external_userid,
            invitee_customer_id: Some(customer_id),
            unionid: &profile.unionid,
            followed_before: !outcome.new_customer,
            occurred_at: add.occurred_at,
            welcome: add.welcome_code.clone().map(|w| (w, add.userid.clone(), add.received_at + WELCOME_TTL_MS)),
        };
        record_arrival(tx, corp_id, &arrival).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Adds and deletions that arrive out of order, on both databases.
    use super::*;
    use crate::Settings;
    use koi_store::scratch::ScratchDb;

    fn add_at(at: i64) -> AddJob {
        AddJob {
            userid: "guide.li".into(),
            external_userid: "wmLATEADD".into(),
            state: String::new(),
            welcome_code: None,
            received_at: at,
            occurred_at: at,
        }
    }

    async fn live(db: &koi_store::Db, corp: i64) -> (bool, i64) {
        let c = db.begin().await.unwrap().customer_id(corp, "wmLATEADD").await.unwrap().expect("the customer");
        let f = db.follows_of(corp, c).await.unwrap().pop().expect("the follow");
        (f.deleted_at.is_none(), f.added_at)
    }

    /// Added at 1,000, deleted at 2,000; the add arrives again at the end
    /// (a late retry; WeCom no longer lists the follow): it stays ended. A
    /// re-add in the second of the deletion, which WeCom lists, and one at
    /// 3,000 make it live.
    async fn a_late_add_does_not_revive_a_follow_deleted_after_it(db: &koi_store::Db) {
        let engine = Engine::new(db.clone(), Settings::default());
        let d = koi_domain::org::CorpDraft {
            name: "late".into(),
            wecom_corp_id: "wwLATEADD".into(),
            app_secret: "s".into(),
            callback_token: "t".into(),
            encoding_aes_key: "k".repeat(43),
        };
        let corp = db.create_corp(&d, now_ms()).await.unwrap();
        let staff = koi_domain::org::StaffDraft { userid: "guide.li".into(), name: "李".into(), ..Default::default() };
        let mut tx = db.begin().await.unwrap();
        tx.insert_staff(corp, &staff, 0).await.unwrap();
        let profile =
            CustomerProfile { external_userid: "wmLATEADD".into(), name: "晚到".into(), ..Default::default() };
        let qr = FollowNote { listed: true, add_way: 1, ..FollowNote::default() };
        let gone = FollowNote { listed: false, ..qr.clone() };
        record_add(corp, &add_at(1_000), &profile, &qr, &mut tx).await.unwrap();
        engine.record_deletion(corp, "guide.li", "wmLATEADD", "customer", 2_000, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(live(db, corp).await, (false, 1_000));

        let mut tx = db.begin().await.unwrap();
        record_add(corp, &add_at(1_000), &profile, &gone, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(live(db, corp).await, (false, 1_000), "the late add changed nothing");

        // A re-add in the very second of the deletion: WeCom lists it again.
        let mut tx = db.begin().await.unwrap();
        record_add(corp, &add_at(2_000), &profile, &qr, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(live(db, corp).await, (true, 2_000), "a re-add WeCom lists counts");
        let mut tx = db.begin().await.unwrap();
        engine.record_deletion(corp, "guide.li", "wmLATEADD", "customer", 2_500, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(live(db, corp).await, (false, 2_000));

        let mut tx = db.begin().await.unwrap();
        record_add(corp, &add_at(3_000), &profile, &qr, &mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(live(db, corp).await, (true, 3_000), "a re-add after the deletion counts");
    }

    #[tokio::test]
    async fn a_late_add_does_not_revive_a_follow_deleted_after_it_sqlite() {
        let s = ScratchDb::sqlite().await.unwrap();
        a_late_add_does_not_revive_a_follow_deleted_after_it(&s.db).await;
    }

    #[tokio::test]
    async fn a_late_add_does_not_revive_a_follow_deleted_after_it_postgres() {
        let s = ScratchDb::postgres().await.unwrap();
        a_late_add_does_not_revive_a_follow_deleted_after_it(&s.db).await;
    }
}
