//! `/group-codes`: group live codes (群活码). A rotating code is one QR (a
//! WeCom join way) over a series of groups that koi rotates as they fill; a
//! nearest-store code's landing page shows the nearest store's group code.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use koi_domain::group::GroupCodeDraft;
use koi_engine::groups::{GroupCode, GroupCodeDetail, GroupPosterRequest};

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

/// What a group code's poster is drawn with.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PosterQuery {
    /// A poster template of the corp (`/poster-templates`); none: the
    /// built-in layout (title, store, a large QR, what to do).
    pub template_id: Option<i64>,
    /// The title (at most 40 characters); none: the code's name.
    pub title: Option<String>,
    /// zh (default) or en: the language of the built-in layout's lines.
    pub lang: Option<String>,
}

/// The code's printable poster as a 750×1334 JPEG: its QR (a rotating
/// code's join way, read out of WeCom's QR image and drawn anew; a
/// nearest-store code's landing page), the title and the store, on the
/// template given or the built-in layout. A template's nickname layer shows
/// the title; its texts may use `{title}`, `{store}` and `{code}`.
#[utoipa::path(get, path = "/group-codes/{id}/poster", tag = "groups", params(("id" = i64, Path), PosterQuery),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn poster(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    Query(q): Query<PosterQuery>,
) -> Result<Response, WebError> {
    let t = crate::i18n::Tr(crate::i18n::Lang::from_cookie(q.lang.as_deref()));
    let texts = [("hint", t.s("gc_poster_hint")), ("sub", t.s("gc_poster_sub"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = GroupPosterRequest { template_id: q.template_id, title: q.title.unwrap_or_default(), texts };
    let jpeg = state.engine.group_code_poster(&who, id, req).await?;
    let disposition = format!("inline; filename=\"group-code-{id}.jpg\"");
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        jpeg.as_ref().clone(),
    )
        .into_response())
}

/// What a group code's QR encodes: a nearest-store code's landing page,
/// any other code's WeCom join way.
pub(crate) fn printed_url(state: &AppState, code: &GroupCode) -> Option<String> {
    let base = state.config.public_url.trim_end_matches('/');
    code.landing_path.as_ref().map(|p| format!("{base}{p}")).or_else(|| code.qr_code.clone().filter(|q| !q.is_empty()))
}
