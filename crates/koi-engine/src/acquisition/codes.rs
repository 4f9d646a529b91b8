//! Channel codes: made, edited and switched off with their WeCom contact
//! ways; routing that rewrites the ways; the nearest-store landing page.

use super::{code_of, wecom_error, ChannelCode, StorePick};
use crate::jobs::{Job, JobCtx, JobResult};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::channel::{
    local_day, members_on_duty, same_members, ChannelCodeDraft, ChannelState, DraftContext, Routing, StorePin,
    DEFAULT_UTC_OFFSET_MIN,
};
use koi_domain::jobs::priority;
use koi_store::acquisition::{ChannelCodeRow, CodeSettings};
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{AddContactWayRequest, DelContactWayRequest, Priority, UpdateContactWayRequest};
use koi_wecom::ErrCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A visitor's landing visits to one code count once in this window.
pub const LANDING_VISIT_WINDOW_MS: i64 = 3_600_000;

/// The event dedup key of a landing visit: the code, a digest of the
/// visitor (the log keeps no address), and the window it falls in.
fn landing_visit_key(code_id: i64, visitor: &str, now: i64) -> String {
    use sha2::{Digest, Sha256};
    let who = hex::encode(&Sha256::digest(visitor.as_bytes())[..12]);
    format!("landing.visit:{code_id}:{who}:{}", now.div_euclid(LANDING_VISIT_WINDOW_MS))
}

/// Job: re-check who is on duty for a code after an add (a daily cap may
/// have been reached, the round robin moves on).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RouteJob {
    pub code_id: i64,
}

impl Job for RouteJob {
    const KIND: &'static str = "acquire.route";
    const PRIORITY: i32 = priority::ROUTE;
    type Prepared = ();

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<()> {
        if let Some(row) = engine.db.channel_code(ctx.corp_id, self.code_id).await? {
            engine.reroute(&row).await?;
        }
        Ok(())
    }

    async fn record(&self, _: &Engine, _: &JobCtx, _: (), _: &mut Tx) -> JobResult<JobEnd> {
        Ok(JobEnd::Done)
    }
}

/// A validated code and who belongs in its contact way right now.
struct Planned {
    draft: ChannelCodeDraft,
    on_duty: Vec<i64>,
    /// WeCom userids of `on_duty`.
    users: Vec<String>,
}

/// The `state` a code's contact way carries: the code and its store, or the
/// code alone when both ids do not fit WeCom's 30 characters.
fn code_state(id: i64, store_id: Option<i64>) -> Result<String> {
    ChannelState { store_id, ..ChannelState::code(id) }
        .encode()
        .or_else(|_| ChannelState::code(id).encode())
        .map_err(|e| EngineError::Unavailable(e.to_string()))
}

/// The WeCom userids of staff ids, in order; unknown ids are skipped.
fn userids(staff: &[koi_domain::org::Staff], ids: &[i64]) -> Vec<String> {
    ids.iter().filter_map(|id| staff.iter().find(|s| s.id == *id)).map(|s| s.userid.clone()).collect()
}

/// The store a landing page shows for a customer's location (none, or an
/// impossible one, gets the fallback): `(store, metres away, fell back)`.
/// Shared by the channel codes' and the group codes' landing pages.
pub(crate) fn choose_store(
    candidates: &[(i64, f64, f64)],
    location: Option<(f64, f64)>,
    radius_m: u32,
    fallback_store_id: i64,
) -> (i64, Option<f64>, bool) {
    let choice = match location
        .filter(|(lat, lng)| lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0)
    {
        Some(at) => koi_domain::channel::nearest_store(candidates, at, radius_m, fallback_store_id),
        None => koi_domain::channel::StoreChoice::Fallback { store_id: fallback_store_id, nearest_m: None },
    };
    match choice {
        koi_domain::channel::StoreChoice::Nearest { store_id, distance_m } => (store_id, Some(distance_m), false),
        koi_domain::channel::StoreChoice::Fallback { store_id, .. } => (store_id, None, true),
    }
}

impl Engine {
    /// Validates a draft against the corp's stores and staff, and works out
    /// who is on duty when its contact way is made or updated.
    async fn plan_code(&self, who: &Principal, draft: ChannelCodeDraft) -> Result<Planned> {
        let stores = self.db.stores(who.corp_id).await?;
        let pins: Vec<StorePin> = stores.iter().map(StorePin::from).collect();
        let draft = draft.normalized().validate(&DraftContext { now: now_ms(), stores: &pins })?;
        let staff = self.db.staff_list(who.corp_id).await?;
        if let Some(m) = draft.pool.iter().find(|m| !staff.iter().any(|s| s.id == m.staff_id)) {
            return Err(koi_domain::ValidationError::one(
                "pool",
                "unknown_staff",
                format!("no staff member {}", m.staff_id),
            )
            .into());
        }
        if let Some(t) = draft.welcome_coupon {
            if self.db.coupon_template(who.corp_id, t).await?.is_none_or(|t| t.archived) {
                return Err(koi_domain::ValidationError::one(
                    "welcome_coupon",
                    "unknown_template",
                    "no such coupon template",
                )
                .into());
            }
        }
        let on_duty =
            members_on_duty(&draft.pool, &draft.routing, now_ms(), DEFAULT_UTC_OFFSET_MIN, &HashMap::new(), 0);
        let users = userids(&staff, &on_duty);
        Ok(Planned { draft, on_duty, users })
    }

    /// Creates a channel code and its WeCom contact way. The way carries the
    /// code's `state`, so every add through it is attributed to the code.
    pub async fn create_channel_code(&self, who: &Principal, draft: ChannelCodeDraft) -> Result<ChannelCode> {
        require(who, Action::CreateStores)?;
        let Planned { draft, on_duty, users } = self.plan_code(who, draft).await?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let id = tx.insert_channel_code(who.corp_id, &draft.name, draft.store_id, &draft, now).await?;
        tx.commit().await?;
        let state = code_state(id, draft.store_id)?;
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
            Err(e) => Err(e),
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
        let on_duty = serde_json::to_string(&on_duty).expect("a list of ids serialises");
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
        let Planned { draft, on_duty, users } = self.plan_code(who, draft).await?;
        if draft.kind != current.draft.kind {
            return Err(koi_domain::ValidationError::one(
                "kind",
                "immutable",
                "a code cannot change between single and multi",
            )
            .into());
        }
        let state = code_state(id, draft.store_id)?;
        let request = UpdateContactWayRequest {
            config_id,
            remark: Some(draft.remark.clone()),
            skip_verify: Some(draft.skip_verify),
            state: Some(state.clone()),
            user: Some(users),
            ..UpdateContactWayRequest::default()
        };
        let client = self.wecom_for(who.corp_id).await?;
        client.update_contact_way(&request, Priority::Interactive).await.map_err(wecom_error)?;
        let settings = CodeSettings { name: &draft.name, store_id: draft.store_id, draft: &draft, state: &state };
        self.db.update_channel_code(who.corp_id, id, &settings, now_ms()).await?;
        let on_duty = serde_json::to_string(&on_duty).expect("a list of ids serialises");
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
            let client = self.wecom_for(corp_id).await?;
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
        Ok(rows.into_iter().filter(|r| r.store_id.is_none_or(|s| who.sees_store(s))).map(code_of).collect())
    }

    pub async fn channel_code(&self, who: &Principal, id: i64) -> Result<ChannelCode> {
        require(who, Action::ViewStores)?;
        match self.db.channel_code(who.corp_id, id).await? {
            Some(row) if row.store_id.is_none_or(|s| who.sees_store(s)) => Ok(code_of(row)),
            _ => Err(EngineError::NotFound("channel code")),
        }
    }

    /// The active nearest-store code behind a landing page's public token.
    async fn landing_code(&self, token: &str) -> Result<(ChannelCodeRow, u32, i64)> {
        let row = self.db.channel_code_by_token(token).await?.ok_or(EngineError::NotFound("channel code"))?;
        match row.draft.routing {
            Routing::NearestStore { radius_m, fallback_store_id } => Ok((row, radius_m, fallback_store_id)),
            _ => Err(EngineError::NotFound("nearest-store code")),
        }
    }

    /// Whether a landing page exists: an active nearest-store code has this
    /// public token. Public: customers are not signed in.
    pub async fn landing_exists(&self, token: &str) -> Result<()> {
        self.landing_code(token).await.map(|_| ())
    }

    /// The landing page of a nearest-store code: the customer's location
    /// picks the nearest store within the radius (else the fallback store),
    /// whose own channel code is shown. Each call is a landing visit on the
    /// code's statistics. Public: customers are not signed in, and reach the
    /// code by its random public token only. `visitor` names who asks (the
    /// H5 layer's visitor cookie or client address): a landing visit counts
    /// once per visitor per code per [`LANDING_VISIT_WINDOW_MS`], so repeated
    /// asks do not inflate visits.
    pub async fn locate_store(&self, token: &str, location: Option<(f64, f64)>, visitor: &str) -> Result<StorePick> {
        let (row, radius_m, fallback_store_id) = self.landing_code(token).await?;
        let stores = self.db.stores(row.corp_id).await?;
        let candidates: Vec<(i64, f64, f64)> = stores.iter().filter_map(|s| Some((s.id, s.lat?, s.lng?))).collect();
        let (store_id, distance_m, fallback) = choose_store(&candidates, location, radius_m, fallback_store_id);
        let store = stores.iter().find(|s| s.id == store_id).ok_or(EngineError::NotFound("store"))?;
        let codes = self.db.channel_codes(row.corp_id).await?;
        let qr_code = codes
            .iter()
            .filter(|c| c.active && c.store_id == Some(store_id) && c.id != row.id)
            .find_map(|c| c.qr_code.clone().filter(|q| !q.is_empty()))
            .ok_or(EngineError::NotFound("a channel code for that store"))?;
        let now = now_ms();
        let payload = serde_json::json!({ "code_id": row.id, "store_id": store_id, "fallback": fallback, "distance_m": distance_m });
        let visit_key = (!visitor.is_empty()).then(|| landing_visit_key(row.id, visitor, now));
        let e = NewEvent {
            corp_id: row.corp_id,
            kind: "landing.visit",
            subject: &format!("channel_code:{}", row.id),
            actor: "customer",
            payload: &payload.to_string(),
            dedup_key: visit_key.as_deref(),
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

    /// Rewrites a code's contact way when the members on duty changed (a
    /// daily cap reached, working hours begun or ended, the next member in
    /// a round robin). WeCom itself only picks at random among the members
    /// listed, so this is how koi's routing takes effect. Returns whether
    /// the way changed.
    pub(crate) async fn reroute(&self, row: &ChannelCodeRow) -> Result<bool> {
        let draft = &row.draft;
        let Some(config_id) = row.config_id.clone().filter(|_| draft.needs_routing() && row.active) else {
            return Ok(false);
        };
        let now = now_ms();
        let offset = DEFAULT_UTC_OFFSET_MIN;
        let midnight = local_day(now, offset) * 86_400_000 - i64::from(offset) * 60_000;
        let (today, all) = self.db.code_adds(row.corp_id, row.id, midnight).await?;
        let adds_today: HashMap<i64, u32> = today.into_iter().map(|(s, n)| (s, n as u32)).collect();
        let wanted = members_on_duty(&draft.pool, &draft.routing, now, offset, &adds_today, all as u64);
        let current: Vec<i64> = serde_json::from_str(&row.on_duty).unwrap_or_default();
        if same_members(&current, &wanted) {
            return Ok(false);
        }
        let staff = self.db.staff_list(row.corp_id).await?;
        let users = userids(&staff, &wanted);
        let req = UpdateContactWayRequest { config_id, user: Some(users), ..UpdateContactWayRequest::default() };
        let client = self.wecom_for(row.corp_id).await?;
        client.update_contact_way(&req, Priority::Interactive).await.map_err(wecom_error)?;
        let json = serde_json::to_string(&wanted).expect("a list of ids serialises");
        self.db.set_channel_code_on_duty(row.corp_id, row.id, &json, now_ms()).await?;
        tracing::info!(code = row.id, ?wanted, "contact way rerouted");
        Ok(true)
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
            let expired = row.draft.expires_at.is_some_and(|t| t <= now);
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
}
