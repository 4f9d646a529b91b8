//! `/group-codes`: group live codes (群活码). A rotating code is one QR (a
//! WeCom join way) over a series of groups that koi rotates as they fill; a
//! nearest-store code's landing page shows the nearest store's group code.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use koi_domain::group::GroupCodeDraft;
use koi_engine::groups::{GroupCode, GroupCodeDetail};

/// The corp's group codes with their rotation status: free places left
/// (`room`), the `warning` (low_room, last_group, full) and whether the code
/// is `full`. A store manager sees their stores' codes.
#[utoipa::path(get, path = "/group-codes", tag = "groups",
    responses((status = 200, body = Vec<GroupCode>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<GroupCode>>, WebError> {
    Ok(Json(state.engine.group_codes(&who).await?))
}

/// Creates a code. A rotating code's join way is made in WeCom first
/// (listing the first five groups with room, carrying the code's `state`);
/// when WeCom refuses, 502 `wecom_refused` and nothing is kept.
#[utoipa::path(post, path = "/group-codes", tag = "groups", request_body = GroupCodeDraft,
    responses((status = 201, body = GroupCodeDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<GroupCodeDraft>,
) -> Result<(StatusCode, Json<GroupCodeDetail>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_group_code(&who, draft).await?)))
}

/// One code with each group's rotation status, in the operator's order:
/// members, QR joins, joins through the code, and its state (open: listed
/// in the join way; standby; full; dismissed).
#[utoipa::path(get, path = "/group-codes/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = GroupCodeDetail), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<GroupCodeDetail>, WebError> {
    Ok(Json(state.engine.group_code(&who, id).await?))
}

/// Replaces a code's settings; a rotating code's join way is updated in
/// WeCom first (the QR stays the same). 502 `wecom_refused` changes nothing.
#[utoipa::path(put, path = "/group-codes/{id}", tag = "groups", params(("id" = i64, Path)), request_body = GroupCodeDraft,
    responses((status = 200, body = GroupCodeDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<GroupCodeDraft>,
) -> Result<Json<GroupCodeDetail>, WebError> {
    Ok(Json(state.engine.update_group_code(&who, id, draft).await?))
}

/// Deletes a code and its WeCom join way (a printed QR stops taking joins);
/// the groups stay. 422 `invalid_input` when a nearest-store code shows it.
#[utoipa::path(delete, path = "/group-codes/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_group_code(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The code's QR as a PNG: the join way (rotating) or the landing page
/// under koi's public URL (nearest-store).
#[utoipa::path(get, path = "/group-codes/{id}/qr.png", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn qr_png(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let code = state.engine.group_code(&who, id).await?.code;
    let url = printed_url(&state, &code).ok_or(WebError::NotFound)?;
    let png = crate::qr::png(&url, 10).map_err(WebError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// What a group code's QR encodes: a nearest-store code's landing page,
/// any other code's WeCom join way.
pub(crate) fn printed_url(state: &AppState, code: &GroupCode) -> Option<String> {
    let base = state.config.public_url.trim_end_matches('/');
    code.landing_path.as_ref().map(|p| format!("{base}{p}")).or_else(|| code.qr_code.clone().filter(|q| !q.is_empty()))
}
