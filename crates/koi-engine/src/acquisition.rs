//! Acquisition use cases: channel codes (渠道活码) backed by WeCom contact
//! ways, and the jobs that turn an add event into a customer, a follow with
//! its attribution, and a welcome message sent inside its 20 s window.

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::channel::Attachment;
use koi_domain::channel::{
    add_outcome, local_day, members_on_duty, pick_variant, render, same_members, variant_seed, Attribution,
    ChannelCodeDraft, ChannelState, DraftContext, PreviousFollow, Routing, StorePin, WelcomeVars,
    DEFAULT_UTC_OFFSET_MIN,
};
use koi_store::acquisition::{ChannelCodeRow, CodeSettings, CustomerProfile, NewFollow};
use koi_store::events::NewEvent;
use koi_store::jobs::{ClaimedJob, NewJob};
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    AddContactWayRequest, ApiError, Attachment as WecomAttachment, CorpClient, DelContactWayRequest,
    GetExternalContactRequest, Image, Link, MarkTagRequest, MiniProgram, Priority, SendWelcomeMsgRequest, Text,
    UpdateContactWayRequest,
};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Job: fetch a new customer from WeCom and record the add.
pub const ADD_JOB: &str = "acquire.add";
/// Job: send the welcome message of an add.
pub const WELCOME_JOB: &str = "acquire.welcome";
/// Job: re-check who is on duty for a code after an add.
pub const ROUTE_JOB: &str = "acquire.route";
/// Job: mark a code's auto-tags on the customer it brought.
pub const TAG_JOB: &str = "acquire.mark_tags";
/// A welcome code lives this long after the add event.
const WELCOME_TTL_MS: i64 = 20_000;

/// What an add event asks the worker to do.
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TagJob {
    code_id: i64,
    customer_id: i64,
    userid: String,
    external_userid: String,
    tag_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WelcomeJob {
    code_id: i64,
    customer_id: i64,
    staff_id: i64,
    userid: String,
    welcome_code: String,
    deadline: i64,
    variant: usize,
}

/// A customer and their follows, as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    /// 1 WeChat user, 2 WeCom user.
    pub kind: i32,
    pub gender: i32,
    /// The code and store of the customer's first add.
    pub first_code_id: Option<i64>,
    pub first_store_id: Option<i64>,
    pub created_at: i64,
    pub follows: Vec<Follow>,
}

/// A customer × staff relation (好友关系).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Follow {
    pub staff_id: i64,
    pub added_at: i64,
    /// How the customer added the guide, as WeCom says: 1 QR code, 2 phone
    /// search, 3 card share, 4 group chat … (CONTRACT.md §3).
    pub add_way: i32,
    pub state: String,
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    /// Re-added after a deletion, or already a customer of another guide.
    pub returning: bool,
    /// Set when the relation was lost (流失), with who deleted whom:
    /// `customer`, `staff` or `transfer`.
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
}

/// Where a geo code's landing page sends a customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorePick {
    pub store_id: i64,
    pub store_name: String,
    pub address: String,
    /// Metres from the customer; `None` when the location was unknown.
    pub distance_m: Option<f64>,
    /// True when no store was within the radius and the default store is shown.
    pub fallback: bool,
    /// The QR of that store's channel code, to scan or long-press.
    pub qr_code: String,
}

impl From<koi_store::acquisition::FollowRow> for Follow {
    fn from(f: koi_store::acquisition::FollowRow) -> Self {
        Follow {
            staff_id: f.staff_id,
            added_at: f.added_at,
            add_way: f.add_way,
            state: f.state,
            code_id: f.code_id,
            store_id: f.store_id,
            returning: f.is_returning,
            deleted_at: f.deleted_at,
            deleted_by: f.deleted_by,
        }
    }
}

/// A channel code as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelCode {
    pub id: i64,
    pub name: String,
    pub store_id: Option<i64>,
    /// The `state` the contact way carries (attribution).
    pub state: String,
    /// WeCom's contact way id and QR image URL.
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    pub active: bool,
    pub draft: ChannelCodeDraft,
    pub created_at: i64,
}

fn code_of(row: ChannelCodeRow) -> Result<ChannelCode> {
    let draft =
        serde_json::from_str(&row.draft).map_err(|e| EngineError::Unavailable(format!("code {}: {e}", row.id)))?;
    Ok(ChannelCode {
        id: row.id,
        name: row.name,
        store_id: row.store_id,
        state: row.state,
        config_id: row.config_id,
        qr_code: row.qr_code,
        active: row.active,
        draft,
        created_at: row.created_at,
    })
}

fn wecom_error(e: ApiError) -> EngineError {
    EngineError::Unavailable(format!("WeCom: {e}"))
}

impl Engine {
    /// A WeCom client for the corp, with its app secret.
    pub(crate) async fn wecom_for(&self, corp_id: i64) -> std::result::Result<CorpClient, String> {
        let corp = self.db.corp(corp_id).await.map_err(|e| e.to_string())?.ok_or("the corp is gone")?;
        Ok(self.wecom.corp(&corp.wecom_corp_id, &corp.app_secret))
    }

    /// Creates a channel code and its WeCom contact way. The way carries the
    /// code's `state`, so every add through it is attributed to the code.
    pub async fn create_channel_code(&self, who: &Principal, draft: ChannelCodeDraft) -> Result<ChannelCode> {
        require(who, Action::CreateStores)?;
        let stores = self.db.stores(who.corp_id).await?;
        let pins: Vec<StorePin> = stores.iter().map(StorePin::from).collect();
        let draft = draft.validate(&DraftContext { now: now_ms(), stores: &pins })?;
        let staff = self.db.staff_list(who.corp_id).await?;
        let userid_of: HashMap<i64, &str> = staff.iter().map(|s| (s.id, s.userid.as_str())).collect();
        if let Some(m) = draft.pool.iter().find(|m| !userid_of.contains_key(&m.staff_id)) {
            return Err(koi_domain::ValidationError::one(
                "pool",
                "unknown_staff",
                format!("no staff member {}", m.staff_id),
            )
            .into());
        }
        let on_duty =
            members_on_duty(&draft.pool, &draft.routing, now_ms(), DEFAULT_UTC_OFFSET_MIN, &HashMap::new(), 0);
        let users: Vec<String> = on_duty.iter().filter_map(|id| userid_of.get(id)).map(|u| u.to_string()).collect();
        let json = serde_json::to_string(&draft).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let id = tx.insert_channel_code(who.corp_id, &draft.name, draft.store_id, &json, now).await?;
        tx.commit().await?;
        let state = ChannelState { store_id: draft.store_id, ..ChannelState::code(id) };
        let state = state
            .encode()
            .or_else(|_| ChannelState::code(id).encode())
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let request = AddContactWayRequest {
            kind: i32::from(draft.kind.wecom_type()),
            scene: 2,
            remark: (!draft.remark.is_empty()).then(|| draft.remark.clone()),
            skip_verify: Some(draft.skip_verify),
            state: Some(state.clone()),
            user: Some(users),
            ..AddContactWayRequest::default()
        };
        let made = match self.wecom_for(who.corp_id).await {
            Ok(client) => client.add_contact_way(&request, Priority::Interactive).await.map_err(wecom_error),
            Err(e) => Err(EngineError::Unavailable(e)),
        };
        let way = match made {
            Ok(way) => way,
            Err(e) => {
                // Nothing half-made: without its contact way a code is no code.
                self.db.delete_channel_code(who.corp_id, id).await?;
                return Err(e);
            }
        };
        let qr = way.qr_code.unwrap_or_default();
        self.db.set_channel_code_wecom(who.corp_id, id, &state, &way.config_id, &qr, now_ms()).await?;
        let on_duty = serde_json::to_string(&on_duty).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        self.db.set_channel_code_on_duty(who.corp_id, id, &on_duty, now_ms()).await?;
        self.audit(who, "channel_code.created", format!("channel_code:{id}")).await?;
        self.channel_code(who, id).await
    }

    /// Replaces a code's settings and updates its contact way (members,
    /// skip-verify, remark, and the state when the store changed).
    pub async fn update_channel_code(&self, who: &Principal, id: i64, draft: ChannelCodeDraft) -> Result<ChannelCode> {
        require(who, Action::CreateStores)?;
        let current = self.channel_code(who, id).await?;
        let config_id = current.config_id.clone().ok_or(EngineError::NotFound("channel code"))?;
        if !current.active {
            return Err(koi_domain::ValidationError::one("active", "inactive_code", "the code is switched off").into());
        }
        let stores = self.db.stores(who.corp_id).await?;
        let pins: Vec<StorePin> = stores.iter().map(StorePin::from).collect();
        let draft = draft.validate(&DraftContext { now: now_ms(), stores: &pins })?;
        if draft.kind != current.draft.kind {
            return Err(koi_domain::ValidationError::one(
                "kind",
                "immutable",
                "a code cannot change between single and multi",
            )
            .into());
        }
        let staff = self.db.staff_list(who.corp_id).await?;
        let userid_of: HashMap<i64, &str> = staff.iter().map(|s| (s.id, s.userid.as_str())).collect();
        if let Some(m) = draft.pool.iter().find(|m| !userid_of.contains_key(&m.staff_id)) {
            return Err(koi_domain::ValidationError::one(
                "pool",
                "unknown_staff",
                format!("no staff member {}", m.staff_id),
            )
            .into());
        }
        let on_duty =
            members_on_duty(&draft.pool, &draft.routing, now_ms(), DEFAULT_UTC_OFFSET_MIN, &HashMap::new(), 0);
        let state = ChannelState { store_id: draft.store_id, ..ChannelState::code(id) };
        let state = state
            .encode()
            .or_else(|_| ChannelState::code(id).encode())
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let request = UpdateContactWayRequest {
            config_id,
            remark: Some(draft.remark.clone()),
            skip_verify: Some(draft.skip_verify),
            state: Some(state.clone()),
            user: Some(on_duty.iter().filter_map(|id| userid_of.get(id)).map(|u| u.to_string()).collect()),
            ..UpdateContactWayRequest::default()
        };
        let client = self.wecom_for(who.corp_id).await.map_err(EngineError::Unavailable)?;
        client.update_contact_way(&request, Priority::Interactive).await.map_err(wecom_error)?;
        let json = serde_json::to_string(&draft).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let settings = CodeSettings { name: &draft.name, store_id: draft.store_id, draft: &json, state: &state };
        self.db.update_channel_code(who.corp_id, id, &settings, now_ms()).await?;
        let on_duty = serde_json::to_string(&on_duty).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        self.db.set_channel_code_on_duty(who.corp_id, id, &on_duty, now_ms()).await?;
        self.audit(who, "channel_code.updated", format!("channel_code:{id}")).await?;
        self.channel_code(who, id).await
    }

    /// Switches a code off: its contact way is deleted in WeCom (a printed
    /// QR stops adding customers), its history stays.
    pub async fn deactivate_channel_code(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::CreateStores)?;
        let code = self.channel_code(who, id).await?;
        self.switch_off(who.corp_id, id, code.config_id.as_deref()).await?;
        self.audit(who, "channel_code.deactivated", format!("channel_code:{id}")).await
    }

    async fn switch_off(&self, corp_id: i64, id: i64, config_id: Option<&str>) -> Result<()> {
        if let Some(config_id) = config_id {
            let client = self.wecom_for(corp_id).await.map_err(EngineError::Unavailable)?;
            let req = DelContactWayRequest { config_id: config_id.to_string() };
            match client.del_contact_way(&req, Priority::Interactive).await {
                // Already gone in WeCom (41044): switching off is what we want.
                Err(e) if !e.is(ErrCode(41044)) => return Err(wecom_error(e)),
                _ => {}
            }
        }
        self.db.set_channel_code_active(corp_id, id, false, now_ms()).await?;
        Ok(())
    }

    pub async fn channel_codes(&self, who: &Principal) -> Result<Vec<ChannelCode>> {
        require(who, Action::ViewStores)?;
        let rows = self.db.channel_codes(who.corp_id).await?;
        rows.into_iter().filter(|r| r.store_id.is_none_or(|s| who.sees_store(s))).map(code_of).collect()
    }

    pub async fn channel_code(&self, who: &Principal, id: i64) -> Result<ChannelCode> {
        require(who, Action::ViewStores)?;
        match self.db.channel_code(who.corp_id, id).await? {
            Some(row) if row.store_id.is_none_or(|s| who.sees_store(s)) => code_of(row),
            _ => Err(EngineError::NotFound("channel code")),
        }
    }

    /// The corp's newest customers with their follows; a store manager sees
    /// the customers followed in their stores.
    pub async fn customers(&self, who: &Principal, limit: i64) -> Result<Vec<Customer>> {
        require(who, Action::ViewCustomers)?;
        let rows = self.db.customers(who.corp_id, limit.clamp(1, 1000)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(c) = self.customer_view(who, row).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub async fn customer(&self, who: &Principal, id: i64) -> Result<Customer> {
        require(who, Action::ViewCustomers)?;
        let row = self.db.customer(who.corp_id, id).await?.ok_or(EngineError::NotFound("customer"))?;
        self.customer_view(who, row).await?.ok_or(EngineError::NotFound("customer"))
    }

    async fn customer_view(&self, who: &Principal, c: koi_store::acquisition::CustomerRow) -> Result<Option<Customer>> {
        let follows = self.db.follows_of(who.corp_id, c.id).await?;
        let whole_corp = matches!(who.role, koi_domain::access::Role::Owner | koi_domain::access::Role::HqOperator);
        let visible = whole_corp || follows.iter().any(|f| f.store_id.is_some_and(|s| who.sees_store(s)));
        if !visible {
            return Ok(None);
        }
        Ok(Some(Customer {
            id: c.id,
            external_userid: c.external_userid,
            name: c.name,
            avatar: c.avatar,
            kind: c.kind,
            gender: c.gender,
            first_code_id: c.first_code_id,
            first_store_id: c.first_store_id,
            created_at: c.created_at,
            follows: follows.into_iter().map(Follow::from).collect(),
        }))
    }

    /// The landing page of a nearest-store code: the customer's location
    /// picks the nearest store within the radius (else the fallback store),
    /// whose own channel code is shown. Each call is a landing visit on the
    /// code's statistics. Public: customers are not signed in.
    pub async fn locate_store(&self, code_id: i64, location: Option<(f64, f64)>) -> Result<StorePick> {
        let row = self.db.channel_code_any_corp(code_id).await?.ok_or(EngineError::NotFound("channel code"))?;
        let draft: ChannelCodeDraft =
            serde_json::from_str(&row.draft).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let Routing::NearestStore { radius_m, fallback_store_id } = draft.routing else {
            return Err(EngineError::NotFound("nearest-store code"));
        };
        let stores = self.db.stores(row.corp_id).await?;
        let candidates: Vec<(i64, f64, f64)> = stores.iter().filter_map(|s| Some((s.id, s.lat?, s.lng?))).collect();
        let choice = match location
            .filter(|(lat, lng)| lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0)
        {
            Some(at) => koi_domain::channel::nearest_store(&candidates, at, radius_m, fallback_store_id),
            None => koi_domain::channel::StoreChoice::Fallback { store_id: fallback_store_id, nearest_m: None },
        };
        let (store_id, distance_m, fallback) = match choice {
            koi_domain::channel::StoreChoice::Nearest { store_id, distance_m } => (store_id, Some(distance_m), false),
            koi_domain::channel::StoreChoice::Fallback { store_id, .. } => (store_id, None, true),
        };
        let store = stores.iter().find(|s| s.id == store_id).ok_or(EngineError::NotFound("store"))?;
        let codes = self.db.channel_codes(row.corp_id).await?;
        let qr_code = codes
            .iter()
            .filter(|c| c.active && c.store_id == Some(store_id) && c.id != row.id)
            .find_map(|c| c.qr_code.clone().filter(|q| !q.is_empty()))
            .ok_or(EngineError::NotFound("a channel code for that store"))?;
        let now = now_ms();
        let payload = serde_json::json!({ "code_id": row.id, "store_id": store_id, "fallback": fallback, "distance_m": distance_m });
        let e = NewEvent {
            corp_id: row.corp_id,
            kind: "landing.visit",
            subject: &format!("channel_code:{}", row.id),
            actor: "customer",
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        self.db.append_event(&e, now).await?;
        Ok(StorePick {
            store_id,
            store_name: store.name.clone(),
            address: store.address.clone(),
            distance_m,
            fallback,
            qr_code,
        })
    }

    /// Fetches the customer an add job is about, before its transaction,
    /// with how they added the guide (`add_way`: QR, search, card share…).
    pub(crate) async fn fetch_customer(&self, job: &ClaimedJob) -> std::result::Result<(CustomerProfile, i32), String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let add: AddJob = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        let client = self.wecom_for(corp_id).await?;
        let req = GetExternalContactRequest { external_userid: add.external_userid.clone(), cursor: None };
        let got = client.get_external_contact(&req, Priority::Interactive).await.map_err(|e| e.to_string())?;
        // WeCom's truth about this relation; a contact way means a QR (1) when
        // the follow is not listed yet.
        let add_way = got.follow_user.iter().find(|f| f.userid == add.userid).map_or(1, |f| f.add_way);
        let c = got.external_contact;
        let profile = CustomerProfile {
            external_userid: add.external_userid,
            name: c.name,
            avatar: c.avatar.unwrap_or_default(),
            kind: c.kind,
            gender: c.gender,
            unionid: c.unionid.unwrap_or_default(),
        };
        Ok((profile, add_way))
    }

    /// Records an add: the customer, the follow with its attribution, the
    /// event, and the welcome to send. Idempotent: the same add twice
    /// refreshes the same rows and sends at most one welcome (WeCom refuses a
    /// second use of a welcome code).
    pub(crate) async fn record_add(
        &self,
        job: &ClaimedJob,
        profile: &CustomerProfile,
        add_way: i32,
        tx: &mut Tx,
    ) -> std::result::Result<(), String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let add: AddJob = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        let e = |e: koi_store::StoreError| e.to_string();
        let Some(staff_id) = tx.staff_id_by_userid(corp_id, &add.userid).await.map_err(e)? else {
            // A member koi does not know yet (staff sync is a later step):
            // nothing to attribute to; the callback stays on the event log.
            tracing::warn!(userid = %add.userid, "add for an unknown staff member");
            return Ok(());
        };
        let (code, code_id, store_id) = match ChannelState::decode(&add.state) {
            Attribution::Channel(s) => {
                let code = tx.channel_code(corp_id, s.code_id).await.map_err(e)?;
                let store = s.store_id.or(code.as_ref().and_then(|c| c.store_id));
                (code, Some(s.code_id), store)
            }
            Attribution::Unknown { .. } => (None, None, None),
        };
        let now = now_ms();
        let existing = tx.customer_id(corp_id, &add.external_userid).await.map_err(e)?;
        let previous = match existing {
            Some(cid) => tx.follow(corp_id, cid, staff_id).await.map_err(e)?,
            None => None,
        };
        let followed_before = match existing {
            Some(cid) => tx.customer_followed_before(corp_id, cid).await.map_err(e)?,
            None => false,
        };
        let outcome =
            add_outcome(previous.as_ref().map(|f| PreviousFollow { deleted_at: f.deleted_at }), followed_before);
        let (customer_id, _) = tx.upsert_customer(corp_id, profile, code_id, store_id, now).await.map_err(e)?;
        if previous.as_ref().is_some_and(|f| f.deleted_at.is_none() && f.added_at == add.occurred_at) {
            return Ok(()); // this very add is on record already
        }
        let follow = NewFollow {
            corp_id,
            customer_id,
            staff_id,
            added_at: add.occurred_at,
            add_way,
            state: &add.state,
            code_id,
            store_id,
            returning: outcome.returning,
        };
        tx.upsert_follow(&follow, now).await.map_err(e)?;
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
        tx.append_event(&event, now).await.map_err(e)?;
        let draft: Option<ChannelCodeDraft> = code.as_ref().and_then(|c| serde_json::from_str(&c.draft).ok());
        if let (Some(draft), Some(code_id)) = (&draft, code_id) {
            if needs_routing(draft) {
                let payload = serde_json::json!({ "code_id": code_id }).to_string();
                let job = NewJob { priority: 5, ..NewJob::new(Some(corp_id), ROUTE_JOB, &payload, now) };
                tx.enqueue(&job, now).await.map_err(e)?;
            }
            if !draft.auto_tag_ids.is_empty() {
                let t = TagJob {
                    code_id,
                    customer_id,
                    userid: add.userid.clone(),
                    external_userid: add.external_userid.clone(),
                    tag_ids: draft.auto_tag_ids.clone(),
                };
                let payload = serde_json::to_string(&t).map_err(|e| e.to_string())?;
                let job = NewJob { priority: 50, ..NewJob::new(Some(corp_id), TAG_JOB, &payload, now) };
                tx.enqueue(&job, now).await.map_err(e)?;
            }
        }
        if let (Some(draft), Some(code_id), Some(welcome_code)) = (draft, code_id, add.welcome_code) {
            if let Some(variant) = pick_variant(&draft.welcome, variant_seed(&add.external_userid, code_id)) {
                let w = WelcomeJob {
                    code_id,
                    customer_id,
                    staff_id,
                    userid: add.userid.clone(),
                    welcome_code,
                    deadline: add.received_at + WELCOME_TTL_MS,
                    variant,
                };
                let payload = serde_json::to_string(&w).map_err(|e| e.to_string())?;
                // First in line: a welcome code dies 20 s after the add.
                let job =
                    NewJob { priority: 0, max_attempts: 20, ..NewJob::new(Some(corp_id), WELCOME_JOB, &payload, now) };
                tx.enqueue(&job, now).await.map_err(e)?;
            }
        }
        Ok(())
    }

    /// Sends a welcome, before its transaction. Returns what to record.
    pub(crate) async fn send_welcome(&self, job: &ClaimedJob) -> std::result::Result<serde_json::Value, String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let w: WelcomeJob = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        let now = now_ms();
        if now >= w.deadline {
            return Ok(serde_json::json!({ "outcome": "expired", "customer_id": w.customer_id, "code_id": w.code_id }));
        }
        let code =
            self.db.channel_code(corp_id, w.code_id).await.map_err(|e| e.to_string())?.ok_or("the code is gone")?;
        let draft: ChannelCodeDraft = serde_json::from_str(&code.draft).map_err(|e| e.to_string())?;
        let variant = draft.welcome.get(w.variant).ok_or("the welcome variant is gone")?;
        let customer = self.db.customer(corp_id, w.customer_id).await.map_err(|e| e.to_string())?;
        let staff = self.db.staff(corp_id, w.staff_id).await.map_err(|e| e.to_string())?;
        let store = match code.store_id {
            Some(s) => self.db.store(corp_id, s).await.map_err(|e| e.to_string())?.map(|s| s.name),
            None => None,
        };
        let vars = WelcomeVars {
            customer_name: customer.map(|c| c.name).unwrap_or_default(),
            guide_name: staff.map(|s| s.name).unwrap_or_default(),
            store_name: store.unwrap_or_default(),
        };
        let text = render(&variant.text, &vars);
        let attachments: Vec<WecomAttachment> = variant.attachments.iter().map(wecom_attachment).collect();
        let req = SendWelcomeMsgRequest {
            welcome_code: w.welcome_code.clone(),
            text: (!text.is_empty()).then(|| Text::new(text)),
            attachments: (!attachments.is_empty()).then_some(attachments),
        };
        let left = std::time::Duration::from_millis((w.deadline - now).max(0) as u64);
        let priority = Priority::Welcome { deadline: koi_wecom::client::Instant::now() + left };
        let client = self.wecom_for(corp_id).await?;
        let outcome = match client.send_welcome_msg(&req, priority).await {
            Ok(()) => "sent",
            Err(e) if e.is(ErrCode::WELCOME_ALREADY_SENT) => "already_sent",
            Err(e) if e.is(ErrCode::WELCOME_CODE_INVALID) => "expired",
            // 41096 (another app is sending) and transient failures: retry
            // while the code lives; the job backs off 1 s, 2 s, 4 s…
            Err(e) => return Err(e.to_string()),
        };
        Ok(serde_json::json!({
            "outcome": outcome, "customer_id": w.customer_id, "code_id": w.code_id, "variant": w.variant,
            "userid": w.userid,
        }))
    }

    /// Rewrites a code's contact way when the members on duty changed (a
    /// daily cap reached, working hours begun or ended, the next member in
    /// a round robin). WeCom itself only picks at random among the members
    /// listed, so this is how koi's routing takes effect. Returns whether
    /// the way changed.
    pub(crate) async fn reroute(&self, row: &ChannelCodeRow) -> std::result::Result<bool, String> {
        let draft: ChannelCodeDraft = serde_json::from_str(&row.draft).map_err(|e| e.to_string())?;
        let Some(config_id) = row.config_id.clone().filter(|_| needs_routing(&draft) && row.active) else {
            return Ok(false);
        };
        let now = now_ms();
        let offset = DEFAULT_UTC_OFFSET_MIN;
        let midnight = local_day(now, offset) * 86_400_000 - i64::from(offset) * 60_000;
        let (today, all) = self.db.code_adds(row.corp_id, row.id, midnight).await.map_err(|e| e.to_string())?;
        let adds_today: HashMap<i64, u32> = today.into_iter().map(|(s, n)| (s, n as u32)).collect();
        let wanted = members_on_duty(&draft.pool, &draft.routing, now, offset, &adds_today, all as u64);
        let current: Vec<i64> = serde_json::from_str(&row.on_duty).unwrap_or_default();
        if same_members(&current, &wanted) {
            return Ok(false);
        }
        let staff = self.db.staff_list(row.corp_id).await.map_err(|e| e.to_string())?;
        let users: Vec<String> =
            wanted.iter().filter_map(|id| staff.iter().find(|s| s.id == *id)).map(|s| s.userid.clone()).collect();
        let req = UpdateContactWayRequest { config_id, user: Some(users), ..UpdateContactWayRequest::default() };
        let client = self.wecom_for(row.corp_id).await?;
        client.update_contact_way(&req, Priority::Interactive).await.map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&wanted).map_err(|e| e.to_string())?;
        self.db.set_channel_code_on_duty(row.corp_id, row.id, &json, now_ms()).await.map_err(|e| e.to_string())?;
        tracing::info!(code = row.id, ?wanted, "contact way rerouted");
        Ok(true)
    }

    /// The route job: re-check one code after an add.
    pub(crate) async fn reroute_after_add(&self, job: &ClaimedJob) -> std::result::Result<(), String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
        let code_id = payload["code_id"].as_i64().ok_or("no code_id")?;
        if let Some(row) = self.db.channel_code(corp_id, code_id).await.map_err(|e| e.to_string())? {
            self.reroute(&row).await?;
        }
        Ok(())
    }

    /// The routing timer: working hours begin and end, and caps reset at
    /// midnight, with no add to trigger a check.
    pub async fn reroute_all(&self) {
        let rows = match self.db.active_channel_codes().await {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(error = %e, "routing timer: cannot list codes"),
        };
        let now = now_ms();
        for row in rows {
            // A temporary code ends at its expiry: koi deletes the way itself.
            let expired = serde_json::from_str::<ChannelCodeDraft>(&row.draft)
                .ok()
                .and_then(|d| d.expires_at)
                .is_some_and(|t| t <= now);
            if expired {
                match self.switch_off(row.corp_id, row.id, row.config_id.as_deref()).await {
                    Ok(()) => tracing::info!(code = row.id, "temporary code expired"),
                    Err(e) => tracing::warn!(code = row.id, error = %e, "expiring a code failed"),
                }
                continue;
            }
            if let Err(e) = self.reroute(&row).await {
                tracing::warn!(code = row.id, error = %e, "routing timer: reroute failed");
            }
        }
    }

    /// Marks a code's auto-tags in WeCom, before its transaction.
    pub(crate) async fn mark_code_tags(&self, job: &ClaimedJob) -> std::result::Result<serde_json::Value, String> {
        let corp_id = job.corp_id.ok_or("the job has no corp")?;
        let t: TagJob = serde_json::from_str(&job.payload).map_err(|e| format!("bad payload: {e}"))?;
        let req = MarkTagRequest {
            userid: t.userid.clone(),
            external_userid: t.external_userid.clone(),
            add_tag: Some(t.tag_ids.clone()),
            remove_tag: None,
        };
        let client = self.wecom_for(corp_id).await?;
        client.mark_tag(&req, Priority::Bulk).await.map_err(|e| e.to_string())?;
        Ok(
            serde_json::json!({ "customer_id": t.customer_id, "code_id": t.code_id, "tag_ids": t.tag_ids, "cause": "channel_code" }),
        )
    }

    /// Puts the tagging on the customer's timeline, with its cause.
    pub(crate) async fn record_tags(
        &self,
        job: &ClaimedJob,
        result: &serde_json::Value,
        tx: &mut Tx,
    ) -> std::result::Result<(), String> {
        on_timeline(job, "customer.tagged", result, tx).await
    }

    pub(crate) async fn record_welcome(
        &self,
        job: &ClaimedJob,
        result: &serde_json::Value,
        tx: &mut Tx,
    ) -> std::result::Result<(), String> {
        let kind = match result["outcome"].as_str() {
            Some("sent") => "welcome.sent",
            _ => "welcome.not_sent",
        };
        on_timeline(job, kind, result, tx).await
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
    ) -> std::result::Result<(), String> {
        let e = |e: koi_store::StoreError| e.to_string();
        let (Some(staff_id), Some(customer_id)) = (
            tx.staff_id_by_userid(corp_id, userid).await.map_err(e)?,
            tx.customer_id(corp_id, external_userid).await.map_err(e)?,
        ) else {
            return Ok(());
        };
        let follow = tx.follow(corp_id, customer_id, staff_id).await.map_err(e)?;
        if tx.mark_follow_deleted(corp_id, customer_id, staff_id, by, at).await.map_err(e)? {
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
            tx.append_event(&ev, now_ms()).await.map_err(e)?;
        }
        Ok(())
    }
}

/// A welcome attachment as WeCom takes it. A coupon is koi's own page,
/// sent as a link card.
fn wecom_attachment(a: &Attachment) -> WecomAttachment {
    match a {
        Attachment::Image { url, media_id } => {
            WecomAttachment::Image { image: Image { media_id: media_id.clone(), pic_url: url.clone() } }
        }
        Attachment::Link { title, url, desc, pic_url } => WecomAttachment::Link {
            link: Link {
                title: title.clone(),
                picurl: (!pic_url.is_empty()).then(|| pic_url.clone()),
                desc: (!desc.is_empty()).then(|| desc.clone()),
                url: url.clone(),
                media_id: None,
            },
        },
        Attachment::Miniprogram { title, appid, page, pic_media_id } => WecomAttachment::Miniprogram {
            miniprogram: MiniProgram {
                title: title.clone(),
                pic_media_id: pic_media_id.clone(),
                appid: appid.clone(),
                page: page.clone(),
            },
        },
        Attachment::CouponLink { title, url } => WecomAttachment::Link {
            link: Link { title: title.clone(), picurl: None, desc: None, url: url.clone(), media_id: None },
        },
    }
}

/// Whether koi must manage the way's member list itself: WeCom only picks at
/// random among the members it is given.
fn needs_routing(d: &ChannelCodeDraft) -> bool {
    !matches!(d.routing, Routing::WecomRandom)
        || d.pool.iter().any(|m| m.daily_cap.is_some() || m.hours.is_some() || m.backup)
}

/// Records what a job did to a customer on their timeline, once per job.
async fn on_timeline(
    job: &ClaimedJob,
    kind: &str,
    result: &serde_json::Value,
    tx: &mut Tx,
) -> std::result::Result<(), String> {
    let corp_id = job.corp_id.ok_or("the job has no corp")?;
    let customer = result["customer_id"].as_i64().unwrap_or_default();
    let now = now_ms();
    let e = NewEvent {
        corp_id,
        kind,
        subject: &format!("customer:{customer}"),
        actor: "koi",
        payload: &result.to_string(),
        dedup_key: Some(&format!("{kind}:{}", job.id)),
        occurred_at: now,
    };
    tx.append_event(&e, now).await.map_err(|e| e.to_string())?;
    Ok(())
}
