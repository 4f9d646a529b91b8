//! `/group-pulls`: tag / segment group pulls (标签拉群). A pull invites a
//! saved segment's customers to a group code through their guides: each
//! customer once, under the guide of their most recent live follow, and one
//! WeCom customer mass-message task per guide that the guide confirms in
//! the client. Results per guide: planned, sent, joined.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::group::pull::{FirstOrderInvite, GroupPullDraft};
use koi_engine::groups::{FirstOrderInviteView, GroupPull, GroupPullDetail};
use serde::Serialize;

/// The corp's pulls, newest first (at most 200), with their totals.
#[utoipa::path(get, path = "/group-pulls", tag = "groups",
    responses((status = 200, body = Vec<GroupPull>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<GroupPull>>, WebError> {
    Ok(Json(state.engine.group_pulls(&who).await?))
}

/// Starts a pull: plans each guide's task and queues its creation in
/// WeCom (`add_msg_template`, once per guide, never twice). 422
/// `invalid_input` for an unknown segment or code, or a segment with no
/// customer who has a guide; nothing is kept then.
#[utoipa::path(post, path = "/group-pulls", tag = "groups", request_body = GroupPullDraft,
    responses((status = 201, body = GroupPullDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<GroupPullDraft>,
) -> Result<(StatusCode, Json<GroupPullDetail>), WebError> {
    let pull = state.engine.create_group_pull(&who, &draft).await?;
    Ok((StatusCode::CREATED, Json(pull)))
}

/// One pull: per guide planned, sent, not sent, failed, waiting (for the
/// guide to confirm) and joined; and the customers not sent, with why.
#[utoipa::path(get, path = "/group-pulls/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = GroupPullDetail), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<GroupPullDetail>, WebError> {
    Ok(Json(state.engine.group_pull(&who, id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Refreshed {
    /// Guide tasks whose results are read now.
    pub reading: usize,
}

/// Reads the guides' send results from WeCom now instead of at the next
/// scheduled read (koi reads them on its own for about four days).
#[utoipa::path(post, path = "/group-pulls/{id}/refresh", tag = "groups", params(("id" = i64, Path)),
    responses((status = 202, body = Refreshed), (status = 404, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Refreshed>), WebError> {
    let reading = state.engine.refresh_group_pull(&who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Refreshed { reading })))
}

/// A group code's invitation after a first order (education → paid, seed
/// 000), with how many customers it invited.
#[utoipa::path(get, path = "/group-codes/{id}/first-order-invite", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = FirstOrderInviteView), (status = 404, body = ErrorBody)))]
pub async fn first_order_invite(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<FirstOrderInviteView>, WebError> {
    Ok(Json(state.engine.first_order_invite(&who, id).await?))
}

/// Sets a code's invitation after a first order: when a customer's first
/// order arrives and they are a present member of a group of one of
/// `from_kinds`, their guide is given a task with `text` and the code's
/// link — once per customer per code.
#[utoipa::path(put, path = "/group-codes/{id}/first-order-invite", tag = "groups", params(("id" = i64, Path)),
    request_body = FirstOrderInvite,
    responses((status = 200, body = FirstOrderInviteView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_first_order_invite(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<FirstOrderInvite>,
) -> Result<Json<FirstOrderInviteView>, WebError> {
    Ok(Json(state.engine.set_first_order_invite(&who, id, &draft).await?))
}
