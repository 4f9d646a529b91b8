use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::import::ImportReport;
use koi_domain::org::{Store, StoreDraft};

/// All stores of the corp, by code.
#[utoipa::path(get, path = "/stores", tag = "stores", responses((status = 200, body = Vec<Store>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Store>>, WebError> {
    Ok(Json(state.engine.stores(&who).await?))
}

/// Creates a store. `code` is unique within the corp.
#[utoipa::path(post, path = "/stores", tag = "stores", request_body = StoreDraft,
    responses((status = 201, body = Store), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<StoreDraft>,
) -> Result<(StatusCode, Json<Store>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_store(&who, draft).await?)))
}

#[utoipa::path(get, path = "/stores/{id}", tag = "stores", params(("id" = i64, Path)),
    responses((status = 200, body = Store), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Store>, WebError> {
    Ok(Json(state.engine.store(&who, id).await?))
}

/// Replaces a store's details.
#[utoipa::path(put, path = "/stores/{id}", tag = "stores", params(("id" = i64, Path)), request_body = StoreDraft,
    responses((status = 200, body = Store), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<StoreDraft>,
) -> Result<Json<Store>, WebError> {
    Ok(Json(state.engine.update_store(&who, id, draft).await?))
}

/// Imports stores from CSV (UTF-8 or GB18030). Columns: code, name, address,
/// lat, lng, region, kind (Chinese headers such as 门店编码 also work). Known
/// codes are updated. All or nothing: any bad row rejects the whole file
/// with every bad row listed.
#[utoipa::path(post, path = "/stores/import", tag = "stores", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    body: Bytes,
) -> Result<Json<ImportReport>, WebError> {
    Ok(Json(state.engine.import_stores(&who, &body).await?))
}
