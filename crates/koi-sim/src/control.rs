//! The control API under `/sim/`: what people do in the WeChat and WeCom
//! apps (scan, join, delete, confirm), what a test does to WeCom itself
//! (advance the clock, inject faults, revoke tokens) and what a test reads
//! back (what koi sent, which callbacks went out). Routes are listed in the
//! crate documentation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::Faults;
use crate::population::{self, ScenarioError};
use crate::state::{lock, Corp, SimState};
use crate::world::{ActionError, NewCustomer};

/// A control-API failure: `{"error":{"code","message"}}` with a 4xx status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("unknown corp {0}")]
    UnknownCorp(String),
    #[error("unknown merchant {0}")]
    UnknownMerchant(String),
    #[error("{0}")]
    BadRequest(String),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ControlError::Action(e) => (StatusCode::CONFLICT, e.code()),
            ControlError::Scenario(_) => (StatusCode::BAD_REQUEST, "bad_scenario"),
            ControlError::UnknownCorp(_) => (StatusCode::NOT_FOUND, "unknown_corp"),
            ControlError::UnknownMerchant(_) => (StatusCode::NOT_FOUND, "unknown_merchant"),
            ControlError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        (status, Json(json!({ "error": { "code": code, "message": self.to_string() } }))).into_response()
    }
}

type Shared = State<Arc<SimState>>;
type Answer = Result<Json<Value>, ControlError>;

fn corp(state: &SimState, corp_id: Option<&str>) -> Result<Arc<Corp>, ControlError> {
    state.corp(corp_id).cloned().ok_or_else(|| ControlError::UnknownCorp(corp_id.unwrap_or_default().to_owned()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Json<Value> {
    Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// The last path segment of a `/sim/qr/{config_id}` URL, or the id itself.
fn config_id_of(config_id: Option<String>, qr_code: Option<String>) -> Result<String, ControlError> {
    config_id
        .or_else(|| qr_code.and_then(|url| url.rsplit('/').next().map(str::to_owned)))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ControlError::BadRequest("config_id or qr_code required".to_owned()))
}

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/sim/qr/{config_id}", get(qr_image))
        .route("/sim/avatar/{id}", get(avatar_image))
        .route("/sim/qr/{config_id}/info", get(qr))
        .route("/sim/scan", post(scan))
        .route("/sim/join", post(join))
        .route("/sim/join/bulk", post(join_bulk))
        .route("/sim/group/create", post(group_create))
        .route("/sim/group/leave", post(group_leave))
        .route("/sim/group/dismiss", post(group_dismiss))
        .route("/sim/group/say", post(group_say))
        .route("/sim/group/welcome", post(group_welcome_bind))
        .route("/sim/customer/delete_staff", post(customer_deletes_staff))
        .route("/sim/staff/delete_customer", post(staff_deletes_customer))
        .route("/sim/staff/edit_customer", post(staff_edits_customer))
        .route("/sim/directory/upsert", post(directory_upsert))
        .route("/sim/directory/remove", post(directory_remove))
        .route("/sim/tag/event", post(tag_event))
        .route("/sim/transfer/refuse", post(transfer_refuse))
        .route("/sim/mass/confirm", post(mass_confirm))
        .route("/sim/moment/publish", post(moment_publish))
        .route("/sim/moments", get(|State(s): Shared| async move { to_json(&s.moments()) }))
        .route("/sim/clock", get(clock))
        .route("/sim/clock/advance", post(clock_advance))
        .route("/sim/corps/{corp_id}/faults", get(faults_get).put(faults_put))
        .route("/sim/corps/{corp_id}/callback_url", axum::routing::put(callback_url_put))
        .route("/sim/corps/{corp_id}/archive", axum::routing::put(archive_put))
        .route("/sim/tokens/invalidate", post(tokens_invalidate))
        .route("/sim/welcome_messages", get(|State(s): Shared| async move { to_json(&s.welcome_messages()) }))
        .route("/sim/tags_marked", get(|State(s): Shared| async move { to_json(&s.tags_marked()) }))
        .route("/sim/remarks", get(|State(s): Shared| async move { to_json(&s.remarks()) }))
        .route("/sim/mass_tasks", get(|State(s): Shared| async move { to_json(&s.mass_tasks()) }))
        .route("/sim/contact_ways", get(|State(s): Shared| async move { to_json(&s.contact_ways()) }))
        .route("/sim/group_welcomes", get(|State(s): Shared| async move { to_json(&s.group_welcomes()) }))
        .route("/sim/app_messages", get(|State(s): Shared| async move { to_json(&s.app_messages()) }))
        .route("/sim/groups", get(|State(s): Shared| async move { to_json(&s.groups()) }))
        .route("/sim/callbacks", get(|State(s): Shared| async move { to_json(&s.callbacks()) }))
        .route("/sim/scenario", post(scenario_start))
        .route("/sim/scenario/reports", get(|State(s): Shared| async move { to_json(&s.scenario_reports()) }))
}

/// The QR image of a way, as a browser loads WeCom's `qr_code` URL (an
/// `<img>` on a landing page): a PNG that encodes the URL itself, which is
/// what `/sim/scan` takes.
async fn qr_image(State(state): Shared, Path(config_id): Path<String>) -> Result<Response, ControlError> {
    let url = state.corps.iter().find_map(|c| {
        let world = lock(&c.world);
        let way = world.contact_ways.get(&config_id).map(|w| w.qr_code.clone());
        way.or_else(|| world.join_ways.get(&config_id).map(|w| w.qr_code.clone()))
    });
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Err(ActionError::UnknownContactWay(config_id).into());
    };
    let png = crate::qr::png(&url).map_err(ControlError::BadRequest)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// A customer's avatar, as WeChat's CDN serves one: a 132×132 picture,
/// here a PNG drawn from the id alone (the same id, the same picture;
/// nothing bundled).
async fn avatar_image(Path(id): Path<String>) -> Result<Response, ControlError> {
    let png = crate::avatar::png(&id).map_err(ControlError::BadRequest)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn qr(State(state): Shared, Path(config_id): Path<String>) -> Answer {
    for c in &state.corps {
        let world = lock(&c.world);
        if let Some(w) = world.contact_ways.get(&config_id) {
            return Ok(Json(
                json!({ "kind": "contact_way", "corp_id": c.corp_id, "config_id": config_id, "state": w.state }),
            ));
        }
        if let Some(w) = world.join_ways.get(&config_id) {
            return Ok(Json(
                json!({ "kind": "join_way", "corp_id": c.corp_id, "config_id": config_id, "state": w.state }),
            ));
        }
    }
    Err(ActionError::UnknownContactWay(config_id).into())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemberReq {
    corp_id: Option<String>,
    userid: String,
    name: String,
    department: Option<u64>,
}

/// An admin adds a member to the address book or renames one.
async fn directory_upsert(State(state): Shared, Json(req): Json<MemberReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    if req.userid.is_empty() || req.name.is_empty() {
        return Err(ControlError::BadRequest("userid and name required".to_owned()));
    }
    let added = state.act(&corp, |w| match w.staff.iter_mut().find(|s| s.userid == req.userid) {
        Some(s) => {
            s.name = req.name.clone();
            s.department = req.department.unwrap_or(s.department);
            false
        }
        None => {
            w.staff.push(crate::config::SimStaff::new(&req.userid, &req.name, req.department.unwrap_or(1)));
            true
        }
    });
    Ok(Json(json!({ "userid": req.userid, "added": added })))
}

/// An admin removes a member from the address book (they left the company).
async fn directory_remove(State(state): Shared, Json(req): Json<MemberReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let removed = state.act(&corp, |w| {
        let before = w.staff.len();
        w.staff.retain(|s| s.userid != req.userid);
        before != w.staff.len()
    });
    Ok(Json(json!({ "userid": req.userid, "removed": removed })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScanReq {
    corp_id: Option<String>,
    config_id: Option<String>,
    qr_code: Option<String>,
    customer: NewCustomer,
    /// Report the add as half done (add_half_external_contact).
    half: bool,
}

async fn scan(State(state): Shared, Json(req): Json<ScanReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let config_id = config_id_of(req.config_id, req.qr_code)?;
    let now = state.clock.now_ms();
    let outcome = state.act(&corp, |w| w.scan(&config_id, &req.customer, None, req.half, now, &state.limits))?;
    Ok(to_json(&outcome))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JoinReq {
    corp_id: Option<String>,
    /// Through a join way (QR scan) ...
    config_id: Option<String>,
    qr_code: Option<String>,
    /// ... or straight into a group.
    chat_id: Option<String>,
    /// 1 invited, 2 link, 3 QR (direct joins; default 1).
    join_scene: Option<u8>,
    invitor: Option<String>,
    state: Option<String>,
    customer: NewCustomer,
}

async fn join(State(state): Shared, Json(req): Json<JoinReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let now = state.clock.now_s();
    let limits = &state.limits;
    if let Some(chat_id) = req.chat_id.clone() {
        let outcome = state.act(&corp, |w| {
            let (ext, _) = if req.customer.external_userid.as_deref().is_some_and(|id| w.is_staff(id)) {
                (req.customer.external_userid.clone().unwrap_or_default(), false)
            } else {
                w.ensure_customer(&req.customer)
            };
            w.join_group(
                &chat_id,
                &ext,
                req.join_scene.unwrap_or(1),
                req.invitor.clone(),
                req.state.clone(),
                now,
                limits,
            )
            .map(|()| crate::world::JoinOutcome {
                chat_id: chat_id.clone(),
                external_userid: ext,
                created_room: false,
            })
        })?;
        return Ok(to_json(&outcome));
    }
    let config_id = config_id_of(req.config_id, req.qr_code)?;
    let outcome = state.act(&corp, |w| w.join_via_way(&config_id, &req.customer, now, limits))?;
    Ok(to_json(&outcome))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkJoinReq {
    corp_id: Option<String>,
    config_id: Option<String>,
    qr_code: Option<String>,
    /// New customers who scan the join way, one after another.
    count: usize,
}

/// Many new customers scan one join way, as a busy poster would: each joins
/// the first listed group with room (or a room WeCom opens). Stops at the
/// first scan that finds every group full; answers who joined where.
async fn join_bulk(State(state): Shared, Json(req): Json<BulkJoinReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let config_id = config_id_of(req.config_id, req.qr_code)?;
    if req.count > 10_000 {
        return Err(ControlError::BadRequest("count is at most 10000".to_owned()));
    }
    let now = state.clock.now_s();
    let (joined, by_chat, full) = state.act(&corp, |w| {
        let mut by_chat = std::collections::BTreeMap::<String, usize>::new();
        let mut joined = Vec::new();
        for _ in 0..req.count {
            match w.join_via_way(&config_id, &NewCustomer::default(), now, &state.limits) {
                Ok(o) => {
                    *by_chat.entry(o.chat_id.clone()).or_default() += 1;
                    joined.push(o);
                }
                Err(ActionError::GroupFull(_)) => return Ok((joined, by_chat, true)),
                Err(e) => return Err(e),
            }
        }
        Ok((joined, by_chat, false))
    })?;
    Ok(Json(json!({ "joined": joined, "by_chat": by_chat, "full": full })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GroupReq {
    corp_id: Option<String>,
    chat_id: String,
    owner: String,
    name: String,
    userid: String,
    /// Customers or members invited at creation.
    members: Vec<String>,
}

async fn group_create(State(state): Shared, Json(req): Json<GroupReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let now = state.clock.now_s();
    let chat_id = state.act(&corp, |w| -> Result<String, ActionError> {
        let chat_id = w.create_group(&req.owner, &req.name, now)?;
        for m in &req.members {
            w.join_group(&chat_id, m, 1, Some(req.owner.clone()), None, now, &state.limits)?;
        }
        Ok(chat_id)
    })?;
    Ok(Json(json!({ "chat_id": chat_id })))
}

async fn group_leave(State(state): Shared, Json(req): Json<GroupReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.leave_group(&req.chat_id, &req.userid))?;
    Ok(Json(json!({})))
}

async fn group_dismiss(State(state): Shared, Json(req): Json<GroupReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.dismiss_group(&req.chat_id))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SayReq {
    corp_id: Option<String>,
    chat_id: String,
    /// The member who speaks: a customer's external_userid or a userid.
    from: String,
    text: Option<String>,
    image: Option<crate::chat::ImageBody>,
    link: Option<crate::chat::LinkBody>,
}

/// A member says something in a group: it lands in the session archive.
async fn group_say(State(state): Shared, Json(req): Json<SayReq>) -> Answer {
    use crate::chat::{Said, TextBody};
    let corp = corp(&state, req.corp_id.as_deref())?;
    let said = match (req.text, req.image, req.link) {
        (Some(content), None, None) => Said::Text { text: TextBody { content } },
        (None, Some(image), None) => Said::Image { image },
        (None, None, Some(link)) => Said::Link { link },
        _ => return Err(ControlError::BadRequest("give exactly one of text, image or link".to_owned())),
    };
    let now = state.clock.now_ms();
    let seq = state.act(&corp, |w| w.say(&req.chat_id, &req.from, said, now))?;
    Ok(Json(json!({ "seq": seq })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BindReq {
    corp_id: Option<String>,
    chat_id: String,
    template_id: String,
}

/// The owner picks a group welcome template for the group in their client.
async fn group_welcome_bind(State(state): Shared, Json(req): Json<BindReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.bind_group_welcome(&req.chat_id, &req.template_id))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArchiveReq {
    enabled: bool,
}

/// Turns the session archive on or off for the corp.
async fn archive_put(State(state): Shared, Path(corp_id): Path<String>, Json(req): Json<ArchiveReq>) -> Answer {
    let corp = state.corp_by_id(&corp_id).ok_or(ControlError::UnknownCorp(corp_id.clone()))?;
    state.act(corp, |w| w.chat.archive_enabled = req.enabled);
    Ok(Json(json!({ "enabled": req.enabled })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RelationReq {
    corp_id: Option<String>,
    userid: String,
    external_userid: String,
    remark: Option<String>,
}

async fn customer_deletes_staff(State(state): Shared, Json(req): Json<RelationReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let now = state.clock.now_s();
    state.act(&corp, |w| w.customer_deletes(&req.external_userid, &req.userid, now))?;
    Ok(Json(json!({})))
}

async fn staff_deletes_customer(State(state): Shared, Json(req): Json<RelationReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.staff_deletes(&req.userid, &req.external_userid))?;
    Ok(Json(json!({})))
}

async fn staff_edits_customer(State(state): Shared, Json(req): Json<RelationReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.staff_edits(&req.userid, &req.external_userid, req.remark.clone()))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TagEventReq {
    corp_id: Option<String>,
    /// create, update, delete or shuffle.
    change: String,
    id: String,
    /// tag or tag_group.
    tag_type: String,
}

/// An admin changed a tag in the admin console: only the callback, since
/// console-made tags are outside the app's reach.
async fn tag_event(State(state): Shared, Json(req): Json<TagEventReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    if !matches!(req.change.as_str(), "create" | "update" | "delete" | "shuffle") {
        return Err(ControlError::BadRequest("change must be create, update, delete or shuffle".to_owned()));
    }
    state.act(&corp, |w| {
        w.outbox.push(crate::callback::SimEvent::Tag {
            change: req.change.clone(),
            id: req.id.clone(),
            tag_type: req.tag_type.clone(),
        })
    });
    Ok(Json(json!({})))
}

async fn transfer_refuse(State(state): Shared, Json(req): Json<RelationReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    state.act(&corp, |w| w.refuse_transfer(&req.external_userid))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmReq {
    corp_id: Option<String>,
    msgid: String,
    /// Only this member confirms; everyone when absent.
    userid: Option<String>,
}

async fn mass_confirm(State(state): Shared, Json(req): Json<ConfirmReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let now = state.clock.now_s();
    let sent = state.act(&corp, |w| w.confirm_mass(&req.msgid, req.userid.as_deref(), now, &state.limits))?;
    Ok(Json(json!({ "sent": sent })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PublishReq {
    corp_id: Option<String>,
    /// The moment's jobid or moment_id.
    id: String,
    /// Only this member publishes; everyone asked when absent.
    userid: Option<String>,
}

async fn moment_publish(State(state): Shared, Json(req): Json<PublishReq>) -> Answer {
    let corp = corp(&state, req.corp_id.as_deref())?;
    let now = state.clock.now_s();
    let published = state.act(&corp, |w| w.publish_moment(&req.id, req.userid.as_deref(), now));
    Ok(Json(json!({ "published": published })))
}

async fn clock(State(state): Shared) -> Json<Value> {
    Json(json!({ "now": state.clock.now_s(), "now_ms": state.clock.now_ms(), "speed": state.clock.speed() }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AdvanceReq {
    seconds: f64,
}

async fn clock_advance(State(state): Shared, Json(req): Json<AdvanceReq>) -> Answer {
    if !(req.seconds.is_finite() && req.seconds >= 0.0) {
        return Err(ControlError::BadRequest("seconds must be a non-negative number".to_owned()));
    }
    state.clock.advance_ms((req.seconds * 1000.0) as i64);
    // Handovers whose wait is over complete now, not at the next API call.
    for c in &state.corps {
        state.act(c, |_| ());
    }
    Ok(Json(json!({ "now": state.clock.now_s() })))
}

async fn faults_get(State(state): Shared, Path(corp_id): Path<String>) -> Answer {
    let corp = state.corp_by_id(&corp_id).ok_or(ControlError::UnknownCorp(corp_id.clone()))?;
    Ok(to_json(&corp.faults()))
}

async fn faults_put(State(state): Shared, Path(corp_id): Path<String>, Json(faults): Json<Faults>) -> Answer {
    let corp = state.corp_by_id(&corp_id).ok_or(ControlError::UnknownCorp(corp_id.clone()))?;
    corp.set_faults(faults);
    Ok(to_json(&corp.faults()))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UrlReq {
    url: Option<String>,
}

async fn callback_url_put(State(state): Shared, Path(corp_id): Path<String>, Json(req): Json<UrlReq>) -> Answer {
    let corp = state.corp_by_id(&corp_id).ok_or(ControlError::UnknownCorp(corp_id.clone()))?;
    corp.set_callback_url(req.url.filter(|u| !u.is_empty()));
    Ok(Json(json!({ "url": corp.callback_url() })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InvalidateReq {
    corp_id: Option<String>,
}

async fn tokens_invalidate(State(state): Shared, body: Option<Json<InvalidateReq>>) -> Answer {
    let corp_id = body.and_then(|Json(b)| b.corp_id);
    let index = match corp_id.as_deref() {
        Some(id) => Some(state.corp_by_id(id).ok_or_else(|| ControlError::UnknownCorp(id.to_owned()))?.index),
        None => None,
    };
    Ok(Json(json!({ "invalidated": state.invalidate_tokens(index) })))
}

/// Starts a TOML scenario in the background; its report lands in
/// `GET /sim/scenario/reports`.
async fn scenario_start(State(state): Shared, body: String) -> Result<(StatusCode, Json<Value>), ControlError> {
    let scenario = population::scenario_from_toml(&body)?;
    if state.corp(scenario.corp_id.as_deref()).is_none() {
        return Err(ControlError::UnknownCorp(scenario.corp_id.unwrap_or_default()));
    }
    tokio::spawn(async move {
        if let Err(error) = population::run(&state, &scenario).await {
            tracing::warn!(%error, "scenario failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "started": true }))))
}
