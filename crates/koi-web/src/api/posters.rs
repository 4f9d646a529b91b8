//! `/poster-templates`: personal poster templates (海报模板). A template is
//! a 750×1334 canvas — an uploaded background (PNG or JPEG, base64 in the
//! JSON) or a solid colour — and layers at fixed places: the participant's
//! QR code, round avatar, nickname and free text.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use koi_engine::posters::{BackgroundChange, Layout, PosterTemplate, PosterTemplateDraft, MAX_BACKGROUND_BYTES};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Room for a 5 MiB background in base64 and the rest of the JSON.
pub(crate) const BODY_LIMIT: usize = MAX_BACKGROUND_BYTES / 3 * 4 + 256 * 1024;

/// A template as written: name, layout and optionally a background.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PosterTemplateInput {
    pub name: String,
    pub layout: Layout,
    /// A PNG or JPEG (at most 5 MiB, 6000 pixels a side), base64. Left out
    /// on an edit, the background stays as it is.
    #[serde(default)]
    pub background_base64: Option<String>,
    /// On an edit: drop the background image (the layout's colour shows).
    #[serde(default)]
    pub remove_background: bool,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(preview))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// The upload's bytes; 413 `payload_too_large` past 5 MiB, 400
/// `invalid_base64` when it does not decode.
pub(crate) fn background_bytes(b64: &str) -> Result<Vec<u8>, WebError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| WebError::bad_request("invalid_base64", format!("background_base64: {e}")))?;
    check_size(bytes)
}

pub(crate) fn check_size(bytes: Vec<u8>) -> Result<Vec<u8>, WebError> {
    if bytes.len() > MAX_BACKGROUND_BYTES {
        return Err(WebError::PayloadTooLarge(format!(
            "the background is {} bytes, at most {} MiB",
            bytes.len(),
            MAX_BACKGROUND_BYTES / 1024 / 1024
        )));
    }
    Ok(bytes)
}

/// The corp's poster templates.
#[utoipa::path(get, path = "/poster-templates", tag = "posters",
    responses((status = 200, body = Vec<PosterTemplate>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<PosterTemplate>>, WebError> {
    Ok(Json(state.engine.poster_templates(&who).await?))
}

/// Creates a template. The layout is checked (every layer inside the
/// canvas: 422 `invalid_input` naming `layout.layers.N.x`) and the
/// background decoded (422 `invalid_input` on `background` when it is not a
/// readable PNG or JPEG; 413 `payload_too_large` over 5 MiB) before
/// anything is kept.
#[utoipa::path(post, path = "/poster-templates", tag = "posters", request_body = PosterTemplateInput,
    responses((status = 201, body = PosterTemplate), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<PosterTemplateInput>,
) -> Result<(StatusCode, Json<PosterTemplate>), WebError> {
    let background = input.background_base64.as_deref().map(background_bytes).transpose()?;
    let draft = PosterTemplateDraft { name: input.name, layout: input.layout };
    Ok((StatusCode::CREATED, Json(state.engine.create_poster_template(&who, draft, background).await?)))
}

#[utoipa::path(get, path = "/poster-templates/{id}", tag = "posters", params(("id" = i64, Path)),
    responses((status = 200, body = PosterTemplate), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<PosterTemplate>, WebError> {
    Ok(Json(state.engine.poster_template(&who, id).await?))
}

/// Replaces a template's name and layout; the background is replaced when
/// `background_base64` is given, dropped with `remove_background`, else
/// kept. The version moves on: posters are rendered anew.
#[utoipa::path(put, path = "/poster-templates/{id}", tag = "posters", params(("id" = i64, Path)),
    request_body = PosterTemplateInput,
    responses((status = 200, body = PosterTemplate), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<PosterTemplateInput>,
) -> Result<Json<PosterTemplate>, WebError> {
    let background = match (input.background_base64.as_deref(), input.remove_background) {
        (Some(b64), _) => BackgroundChange::Set(background_bytes(b64)?),
        (None, true) => BackgroundChange::Remove,
        (None, false) => BackgroundChange::Keep,
    };
    let draft = PosterTemplateDraft { name: input.name, layout: input.layout };
    Ok(Json(state.engine.update_poster_template(&who, id, draft, background).await?))
}

#[utoipa::path(delete, path = "/poster-templates/{id}", tag = "posters", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_poster_template(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The template rendered as a participant's poster (nickname 小锦鲤🐟, a
/// placeholder avatar, a sample QR): a 750×1334 JPEG.
#[utoipa::path(get, path = "/poster-templates/{id}/preview.jpg", tag = "posters", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let jpeg = state.engine.poster_preview(&who, id).await?;
    Ok(jpeg_response(jpeg.as_ref().clone()))
}

pub(crate) fn jpeg_response(jpeg: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg).into_response()
}
