use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::channel::ChannelCodeDraft;
use koi_engine::acquisition::ChannelCode;

/// The corp's channel codes (渠道活码).
#[utoipa::path(get, path = "/channel-codes", tag = "acquisition", responses((status = 200, body = Vec<ChannelCode>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<ChannelCode>>, WebError> {
    Ok(Json(state.engine.channel_codes(&who).await?))
}

/// Creates a channel code and its WeCom contact way (which carries the
/// code's `state` for attribution). 503 `unavailable` when WeCom refuses;
/// nothing is kept then.
#[utoipa::path(post, path = "/channel-codes", tag = "acquisition", request_body = ChannelCodeDraft,
    responses((status = 201, body = ChannelCode), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<ChannelCodeDraft>,
) -> Result<(StatusCode, Json<ChannelCode>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_channel_code(&who, draft).await?)))
}

#[utoipa::path(get, path = "/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 200, body = ChannelCode), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<ChannelCode>, WebError> {
    Ok(Json(state.engine.channel_code(&who, id).await?))
}

/// Replaces a code's settings and updates its WeCom contact way.
#[utoipa::path(put, path = "/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)), request_body = ChannelCodeDraft,
    responses((status = 200, body = ChannelCode), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<ChannelCodeDraft>,
) -> Result<Json<ChannelCode>, WebError> {
    Ok(Json(state.engine.update_channel_code(&who, id, draft).await?))
}

/// Switches a code off: its contact way is deleted in WeCom; its history stays.
#[utoipa::path(delete, path = "/channel-codes/{id}", tag = "acquisition", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.deactivate_channel_code(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
