//! `/mass-sends`, `/moments`, `/fatigue-cap`: mass messages (群发) to a
//! segment's customers through their guides, moments posts (朋友圈), and
//! the fatigue cap every outreach is decided under. A mass send gives each
//! guide one WeCom task that the guide confirms in the client; koi creates
//! each task once, reminds guides who have not confirmed (at most 3 times,
//! never at night) and reads the results.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::outreach::fatigue::FatigueCap;
use koi_domain::outreach::mass_send::MassSendDraft;
use koi_domain::outreach::moment::MomentDraft;
use koi_engine::outreach::{MassSend, MassSendDetail, MassSendPreview, Moment, MomentDetail};
use serde::Serialize;

/// The corp's mass sends, newest first (at most 200), with their totals.
#[utoipa::path(get, path = "/mass-sends", tag = "outreach",
    responses((status = 200, body = Vec<MassSend>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<MassSend>>, WebError> {
    Ok(Json(state.engine.mass_sends(&who).await?))
}

/// Starts a mass send now, or at `send_at` (ms, ≤ 30 days ahead). To a
/// segment (`{"type": "segment", "segment_id"}`): its customers go each
/// once to the guide the `guide_rule` picks (`latest_follow`,
/// `earliest_follow`, `store_guide`); customers over the fatigue cap are
/// skipped with the reason `fatigue_cap`. To customer groups (`{"type":
/// "groups", "kind", "store_id", "owner_staff_id", "group_ids"}`, each
/// optional; `group_ids` picks groups by id): the active groups matching,
/// each sent by its owner in one WeCom task per owner (chat_type group,
/// restricted to those groups); groups whose owner koi does not know are
/// skipped. WeCom lets a group receive 4 of the corp's mass messages a
/// month: a group past it ends `failed` / `group_quota_used`. 422
/// `invalid_input` names the field: an unknown segment, a text over 4,000
/// bytes, `{name}` in the text (WeCom sends one text to all of a guide's
/// customers), more than 9 attachments, a link title over 128 bytes, an
/// attached material (`{"msgtype": "material", "material_id"}`: its file
/// as a WeCom media, a mini-program card, an article's link) that is not
/// the corp's (`unknown_material`)…
#[utoipa::path(post, path = "/mass-sends", tag = "outreach", request_body = MassSendDraft,
    responses((status = 201, body = MassSendDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<MassSendDraft>,
) -> Result<(StatusCode, Json<MassSendDetail>), WebError> {
    let made = state.engine.create_mass_send(&who, &draft).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// What a draft would come to if sent now: customers (a send to groups:
/// their members), with a guide, over the fatigue cap, guides (owners),
/// groups. Nothing is kept.
#[utoipa::path(post, path = "/mass-sends/preview", tag = "outreach", request_body = MassSendDraft,
    responses((status = 200, body = MassSendPreview), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<MassSendDraft>,
) -> Result<Json<MassSendPreview>, WebError> {
    Ok(Json(state.engine.preview_mass_send(&who, &draft).await?))
}

/// One send: per guide and per store planned, confirmed, sent, not sent,
/// failed, waiting, replies and orders after it; the reasons; the customers
/// not sent (at most 1,000) with why.
#[utoipa::path(get, path = "/mass-sends/{id}", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 200, body = MassSendDetail), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<MassSendDetail>, WebError> {
    Ok(Json(state.engine.mass_send(&who, id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// Guide tasks looked at.
    pub tasks: usize,
}

/// Reminds the guides who have not confirmed now (each task at most 3
/// times in all, koi's automatic reminders included).
#[utoipa::path(post, path = "/mass-sends/{id}/remind", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)))]
pub async fn remind(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Queued>), WebError> {
    let tasks = state.engine.remind_mass_send(&who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { tasks })))
}

/// Reads the guides' results from WeCom now instead of at the next
/// scheduled read.
#[utoipa::path(post, path = "/mass-sends/{id}/refresh", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Queued>), WebError> {
    let tasks = state.engine.refresh_mass_send(&who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { tasks })))
}

/// Settles a guide task of the send whose outcome is `unknown` (an attempt
/// may have reached WeCom without an answer): koi looks it up in WeCom
/// (`get_groupmsg_list_v2`, the guide as creator, a window around the
/// claim). Found, the task is adopted with WeCom's msgid and its results
/// are read; surely not there, it ends `absent` and may be resent. The
/// lookup runs in the background: read the send again for the task's
/// state. 422 `invalid_input` (`task` / `not_unknown`) for a task in any
/// other state; 404 for a task not of this send.
#[utoipa::path(post, path = "/mass-sends/{id}/tasks/{task_id}/settle", tag = "outreach",
    params(("id" = i64, Path), ("task_id" = i64, Path)),
    responses((status = 202, body = MassSendDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn settle_task(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path((id, task_id)): Path<(i64, i64)>,
) -> Result<(StatusCode, Json<MassSendDetail>), WebError> {
    Ok((StatusCode::ACCEPTED, Json(state.engine.settle_mass_send_task(&who, id, task_id).await?)))
}

/// Sends a guide task again that WeCom was found not to have (`absent`):
/// a new claim and one new WeCom task, exactly once. 422 `invalid_input`
/// (`task` / `not_absent`) for any other task, a second resend included.
#[utoipa::path(post, path = "/mass-sends/{id}/tasks/{task_id}/resend", tag = "outreach",
    params(("id" = i64, Path), ("task_id" = i64, Path)),
    responses((status = 202, body = MassSendDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn resend_task(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path((id, task_id)): Path<(i64, i64)>,
) -> Result<(StatusCode, Json<MassSendDetail>), WebError> {
    Ok((StatusCode::ACCEPTED, Json(state.engine.resend_mass_send_task(&who, id, task_id).await?)))
}

/// Cancels a send: a scheduled one never starts, tasks not created yet are
/// never created, created ones are cancelled in WeCom.
#[utoipa::path(post, path = "/mass-sends/{id}/cancel", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 200, body = MassSendDetail), (status = 404, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<MassSendDetail>, WebError> {
    Ok(Json(state.engine.cancel_mass_send(&who, id).await?))
}

/// The fatigue cap: at most `max_touches` touches (mass sends, SOP pushes,
/// campaign notices) per customer in any `window_hours`.
#[utoipa::path(get, path = "/fatigue-cap", tag = "outreach",
    responses((status = 200, body = FatigueCap), (status = 401, body = ErrorBody)))]
pub async fn fatigue_cap(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<FatigueCap>, WebError> {
    Ok(Json(state.engine.fatigue_cap(&who).await?))
}

/// Sets the fatigue cap (max_touches 1..=100, window_hours 1..=2160).
#[utoipa::path(put, path = "/fatigue-cap", tag = "outreach", request_body = FatigueCap,
    responses((status = 200, body = FatigueCap), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_fatigue_cap(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(cap): ApiJson<FatigueCap>,
) -> Result<Json<FatigueCap>, WebError> {
    Ok(Json(state.engine.set_fatigue_cap(&who, &cap).await?))
}

/// The corp's moments posts, newest first, with their totals.
#[utoipa::path(get, path = "/moments", tag = "outreach",
    responses((status = 200, body = Vec<Moment>), (status = 401, body = ErrorBody)))]
pub async fn moments(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Moment>>, WebError> {
    Ok(Json(state.engine.moments(&who).await?))
}

/// Posts a moment: the chosen guides (and the guides of the chosen stores;
/// none: every guide) publish it to their customers carrying the tags.
/// Text ≤ 2,000 characters and 1–9 images, or one link, or one video.
#[utoipa::path(post, path = "/moments", tag = "outreach", request_body = MomentDraft,
    responses((status = 201, body = MomentDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_moment(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<MomentDraft>,
) -> Result<(StatusCode, Json<MomentDetail>), WebError> {
    let made = state.engine.create_moment(&who, &draft).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// One moment: per guide published or not, likes and comments.
#[utoipa::path(get, path = "/moments/{id}", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 200, body = MomentDetail), (status = 404, body = ErrorBody)))]
pub async fn moment(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<MomentDetail>, WebError> {
    Ok(Json(state.engine.moment(&who, id).await?))
}

/// Reads a moment's results from WeCom now.
#[utoipa::path(post, path = "/moments/{id}/refresh", tag = "outreach", params(("id" = i64, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)))]
pub async fn refresh_moment(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Queued>), WebError> {
    state.engine.refresh_moment(&who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { tasks: 1 })))
}
