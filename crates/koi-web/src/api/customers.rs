use super::ErrorBody;
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use koi_engine::acquisition::Customer;
use koi_store::reports::CustomerFilter;

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct CustomerQuery {
    /// Customers who came through this channel code.
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    /// Customers of this guide.
    pub staff_id: Option<i64>,
    /// `true` returning customers only, `false` new ones only.
    pub returning: Option<bool>,
    /// Only customers with a lost follow (流失).
    #[serde(default)]
    pub lost: bool,
    /// Page number from 0.
    pub page: Option<i64>,
    /// At most 200; default 100.
    pub limit: Option<i64>,
}

/// The corp's customers, newest first, with their follows and attribution,
/// filtered like the console's customer list.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = Vec<Customer>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CustomerQuery>,
) -> Result<Json<Vec<Customer>>, WebError> {
    let filter = CustomerFilter {
        code_id: q.code_id,
        store_id: q.store_id,
        staff_id: q.staff_id,
        returning: q.returning,
        lost: q.lost,
        scope: None, // the engine narrows it to the caller's stores
    };
    let page = state.engine.customer_page(&who, filter, q.page.unwrap_or(0), q.limit.unwrap_or(100)).await?;
    Ok(Json(page.customers))
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
