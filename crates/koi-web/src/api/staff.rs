use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::import::ImportReport;
use koi_domain::org::{Staff, StaffDraft};

/// All staff (WeCom members) of the corp, by userid.
#[utoipa::path(get, path = "/staff", tag = "staff", responses((status = 200, body = Vec<Staff>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Staff>>, WebError> {
    Ok(Json(state.engine.staff_list(&who).await?))
}

/// Adds a staff member. `userid` is the WeCom userid, unique within the corp.
#[utoipa::path(post, path = "/staff", tag = "staff", request_body = StaffDraft,
    responses((status = 201, body = Staff), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<StaffDraft>,
) -> Result<(StatusCode, Json<Staff>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_staff(&who, draft).await?)))
}

#[utoipa::path(get, path = "/staff/{id}", tag = "staff", params(("id" = i64, Path)),
    responses((status = 200, body = Staff), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Staff>, WebError> {
    Ok(Json(state.engine.staff(&who, id).await?))
}

/// Replaces a staff member's details and store bindings.
#[utoipa::path(put, path = "/staff/{id}", tag = "staff", params(("id" = i64, Path)), request_body = StaffDraft,
    responses((status = 200, body = Staff), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<StaffDraft>,
) -> Result<Json<Staff>, WebError> {
    Ok(Json(state.engine.update_staff(&who, id, draft).await?))
}

/// Imports staff from CSV. Columns: userid, name, mobile, stores (store codes
/// separated by `;`), active. Known userids are updated. All or nothing.
#[utoipa::path(post, path = "/staff/import", tag = "staff", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    body: Bytes,
) -> Result<Json<ImportReport>, WebError> {
    Ok(Json(state.engine.import_staff(&who, &body).await?))
}

/// The job a sync was queued as.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SyncQueued {
    pub job_id: i64,
}

/// Syncs staff with WeCom's address book, in the background: members new to
/// koi are added (active, no store yet), names follow WeCom's, and active
/// members WeCom no longer lists are marked inactive (their customers and
/// history stay). Follow the job at `/jobs`; a `staff.synced` event records
/// what changed.
#[utoipa::path(post, path = "/staff/sync", tag = "staff",
    responses((status = 202, body = SyncQueued), (status = 403, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<(StatusCode, Json<SyncQueued>), WebError> {
    let job_id = state.engine.sync_staff_from_wecom(&who).await?;
    state.wake_worker();
    Ok((StatusCode::ACCEPTED, Json(SyncQueued { job_id })))
}
