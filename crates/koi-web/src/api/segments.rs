use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use koi_engine::customers::{ExportRow, SegmentInput, SegmentResult, SegmentView};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Evaluate {
    /// Text (`tag:VIP AND within:2:5km AND NOT orders>=1`) or JSON
    /// (`{"and":[{"tag":"et…"},{"store":2}]}`).
    pub expr: SegmentInput,
    /// Members to sample (at most 50; default 0).
    #[serde(default)]
    pub sample: usize,
    /// Return every member's customer id.
    #[serde(default)]
    pub ids: bool,
}

/// Evaluates a segment expression exactly on the in-memory index: the count,
/// a sample, and optionally every member's id. A bad expression gets 422
/// `invalid_expression` with `expression.offset` and `expression.token`
/// pointing at the offending part.
#[utoipa::path(post, path = "/segments/evaluate", tag = "segments", request_body = Evaluate,
    responses((status = 200, body = SegmentResult), (status = 422, body = ErrorBody)))]
pub async fn evaluate(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(q): ApiJson<Evaluate>,
) -> Result<Json<SegmentResult>, WebError> {
    Ok(Json(state.engine.evaluate_segment(&who, &q.expr, q.sample, q.ids).await?))
}

/// Saved segments with their exact member counts now.
#[utoipa::path(get, path = "/segments", tag = "segments", responses((status = 200, body = Vec<SegmentView>)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<SegmentView>>, WebError> {
    Ok(Json(state.engine.segments(&who).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SegmentDraft {
    pub name: String,
    pub expr: SegmentInput,
}

#[utoipa::path(post, path = "/segments", tag = "segments", request_body = SegmentDraft,
    responses((status = 201, body = SegmentView), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(d): ApiJson<SegmentDraft>,
) -> Result<(StatusCode, Json<SegmentView>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.save_segment(&who, None, &d.name, &d.expr).await?)))
}

#[utoipa::path(get, path = "/segments/{id}", tag = "segments", params(("id" = i64, Path)),
    responses((status = 200, body = SegmentView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<SegmentView>, WebError> {
    Ok(Json(state.engine.segment(&who, id).await?))
}

#[utoipa::path(put, path = "/segments/{id}", tag = "segments", params(("id" = i64, Path)), request_body = SegmentDraft,
    responses((status = 200, body = SegmentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<SegmentDraft>,
) -> Result<Json<SegmentView>, WebError> {
    Ok(Json(state.engine.save_segment(&who, Some(id), &d.name, &d.expr).await?))
}

#[utoipa::path(delete, path = "/segments/{id}", tag = "segments", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_segment(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a saved segment as CSV (UTF-8 with a BOM, so Excel opens
/// the Chinese names right).
#[utoipa::path(get, path = "/segments/{id}/export", tag = "segments", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, WebError> {
    let seg = state.engine.segment(&who, id).await?;
    let rows = state.engine.export_segment(&who, &SegmentInput::Text(seg.expr)).await?;
    csv_response(&format!("segment-{id}.csv"), &rows)
}

/// Renders export rows as a CSV download.
pub(crate) fn csv_response(filename: &str, rows: &[ExportRow]) -> Result<impl IntoResponse, WebError> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    for r in rows {
        w.serialize(r).map_err(|e| WebError::Internal(e.to_string()))?;
    }
    if rows.is_empty() {
        w.write_record(EXPORT_HEADER).map_err(|e| WebError::Internal(e.to_string()))?;
    }
    let body = w.into_inner().map_err(|e| WebError::Internal(e.to_string()))?;
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    ))
}

/// The header of an empty export (serde writes it with the first row).
const EXPORT_HEADER: [&str; 11] = [
    "id",
    "external_userid",
    "name",
    "stage",
    "rfm",
    "influence",
    "orders",
    "spent",
    "added_at",
    "last_active_at",
    "tags",
];
