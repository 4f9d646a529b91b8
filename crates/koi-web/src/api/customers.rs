use super::ErrorBody;
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use koi_engine::acquisition::Customer;

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct CustomerQuery {
    /// At most 1000; default 100.
    pub limit: Option<i64>,
}

/// The corp's newest customers with their follows and attribution.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerQuery), responses((status = 200, body = Vec<Customer>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CustomerQuery>,
) -> Result<Json<Vec<Customer>>, WebError> {
    Ok(Json(state.engine.customers(&who, q.limit.unwrap_or(100)).await?))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Customer>, WebError> {
    Ok(Json(state.engine.customer(&who, id).await?))
}
