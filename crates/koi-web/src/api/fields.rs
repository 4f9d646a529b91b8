use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::customer::{FieldDef, ValueRules};
use koi_engine::customers::FieldDefView;

/// The custom fields the corp defined (birthday, skin type, shoe size…).
#[utoipa::path(get, path = "/fields", tag = "customers", responses((status = 200, body = Vec<FieldDefView>)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<FieldDefView>>, WebError> {
    Ok(Json(state.engine.field_defs(&who).await?))
}

/// Defines a field: `{"name":"shoe_size","label":"鞋码","kind":{"number":{"min":30,"max":50}}}`;
/// kinds `{"text":{"max_len":N}}`, `{"number":{"min","max"}}`, `"date"`, `{"choice":{"options":[…]}}`.
#[utoipa::path(post, path = "/fields", tag = "customers", request_body = Object,
    responses((status = 201, body = FieldDefView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(def): ApiJson<FieldDef>,
) -> Result<(StatusCode, Json<FieldDefView>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.define_field(&who, def).await?)))
}

/// Removes a field and every customer's value of it.
#[utoipa::path(delete, path = "/fields/{name}", tag = "customers", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_field(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The rules that compute lifecycle stages, RFM bands and influence.
#[utoipa::path(get, path = "/value-rules", tag = "customers", responses((status = 200, body = Object)))]
pub async fn rules(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<ValueRules>, WebError> {
    Ok(Json(state.engine.value_rules(&who).await?))
}

/// Replaces the value rules (missing parts take their defaults); every
/// customer is recomputed in the background.
#[utoipa::path(put, path = "/value-rules", tag = "customers", request_body = Object,
    responses((status = 202), (status = 422, body = ErrorBody)))]
pub async fn set_rules(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(r): ApiJson<ValueRules>,
) -> Result<StatusCode, WebError> {
    state.engine.set_value_rules(&who, &r).await?;
    Ok(StatusCode::ACCEPTED)
}
