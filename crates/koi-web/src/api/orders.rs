//! Orders: post, list, detail, refund, CSV import, the orders report; the
//! shops' integrations (webhook secrets shown once) and the attribution
//! rules. The signed webhook itself is `POST /webhooks/orders/{key}`
//! (`crate::webhooks`), outside `/api/v1`: shops sign, they hold no API key.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::import::ImportReport;
use koi_domain::order::{AttributionSettings, OrderDraft, RefundDraft};
use koi_engine::orders::{
    IngestOutcome, IntegrationCreated, IntegrationView, OrderDetail, OrderListView, OrderQuery, RefundOutcome,
    ReportView,
};
use serde::{Deserialize, Serialize};

/// Orders, newest first, filtered and paged (`total` counts every match).
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = OrderListView), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<OrderQuery>,
) -> Result<Json<OrderListView>, WebError> {
    Ok(Json(state.engine.orders(&who, &q).await?))
}

/// Posts an order. The same `shop_order_id` again is the same order: it
/// counts once (`created: false`), and only a later status (shipped, done)
/// is taken. The customer is found by `customer` keys in the order unionid,
/// phone_hash, external_userid, member_id; an order none names waits and is
/// matched when that customer adds.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = OrderDraft,
    responses((status = 200, body = IngestOutcome), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<OrderDraft>,
) -> Result<Json<IngestOutcome>, WebError> {
    Ok(Json(state.engine.create_order(&who, &draft).await?))
}

/// An order with its items, refunds, keys and attribution (with the rule
/// that decided).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderDetail), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<OrderDetail>, WebError> {
    Ok(Json(state.engine.order(&who, id).await?))
}

/// Refunds an order, fully (`amount_fen` absent: what is left) or in part.
/// Never more than paid (`refund_exceeds_paid`, `already_refunded`); the
/// same `refund_id` again changes nothing (`recorded: false`).
#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "orders", params(("id" = i64, Path)), request_body = RefundDraft,
    responses((status = 200, body = RefundOutcome), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<RefundDraft>,
) -> Result<Json<RefundOutcome>, WebError> {
    Ok(Json(state.engine.refund_order(&who, id, &draft).await?))
}

/// Imports orders from CSV (UTF-8 or GB18030), one row per order line.
/// Columns: shop_order_id (订单号), ordered_at (下单时间: `YYYY-MM-DD HH:MM:SS`
/// Beijing time, or ms), amount and paid (金额, 实付: yuan), store_code,
/// status, sku, name, qty, price (yuan), unionid, phone_hash,
/// external_userid, member_id (会员号), coupon_guide. All or nothing.
#[utoipa::path(post, path = "/orders/import", tag = "orders", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    body: Bytes,
) -> Result<Json<ImportReport>, WebError> {
    Ok(Json(state.engine.import_orders(&who, &body).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// `staff`, `store` or `code`.
    pub by: String,
    /// ms since the epoch, inclusive.
    pub from: i64,
    /// ms since the epoch, exclusive.
    pub to: i64,
}

/// Orders, buyers, first orders and GMV by guide, store or channel code over
/// a range; by code also the first-order rate of the customers it brought.
#[utoipa::path(get, path = "/orders/report", tag = "orders", params(ReportQuery),
    responses((status = 200, body = ReportView), (status = 422, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<ReportQuery>,
) -> Result<Json<ReportView>, WebError> {
    Ok(Json(state.engine.orders_report(&who, &q.by, q.from, q.to).await?))
}

/// The corp's attribution rules (defaults until set).
#[utoipa::path(get, path = "/orders/attribution", tag = "orders",
    responses((status = 200, body = AttributionSettings)))]
pub async fn attribution(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<AttributionSettings>, WebError> {
    Ok(Json(state.engine.attribution_settings(&who).await?))
}

/// Replaces the attribution rules: tried in order, the first that names a
/// guide decides. Orders attributed before keep their guide.
#[utoipa::path(put, path = "/orders/attribution", tag = "orders", request_body = AttributionSettings,
    responses((status = 200, body = AttributionSettings), (status = 422, body = ErrorBody)))]
pub async fn set_attribution(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(s): ApiJson<AttributionSettings>,
) -> Result<Json<AttributionSettings>, WebError> {
    state.engine.set_attribution_settings(&who, &s).await?;
    Ok(Json(state.engine.attribution_settings(&who).await?))
}

/// The shops posting orders to the webhook.
#[utoipa::path(get, path = "/order-integrations", tag = "orders",
    responses((status = 200, body = Vec<IntegrationView>)))]
pub async fn integrations(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<IntegrationView>>, WebError> {
    Ok(Json(state.engine.order_integrations(&who).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IntegrationInput {
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Replace the secret (the answer carries the new one, shown once).
    #[serde(default)]
    pub new_secret: bool,
}

fn yes() -> bool {
    true
}

/// A new integration. Its `secret` is in this answer only: give it to the
/// shop, which signs each post with it.
#[utoipa::path(post, path = "/order-integrations", tag = "orders", request_body = IntegrationInput,
    responses((status = 201, body = IntegrationCreated), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_integration(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<IntegrationInput>,
) -> Result<(StatusCode, Json<IntegrationCreated>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_order_integration(&who, &input.name).await?)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationUpdated {
    /// The new secret when one was asked for (shown once).
    pub secret: Option<String>,
}

/// Renames, switches off or on, or gives a new secret (the old one stops
/// working at once).
#[utoipa::path(put, path = "/order-integrations/{id}", tag = "orders", params(("id" = i64, Path)), request_body = IntegrationInput,
    responses((status = 200, body = IntegrationUpdated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_integration(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<IntegrationInput>,
) -> Result<Json<IntegrationUpdated>, WebError> {
    let secret = state.engine.update_order_integration(&who, id, &input.name, input.active, input.new_secret).await?;
    Ok(Json(IntegrationUpdated { secret }))
}

/// Deletes an integration; its orders stay.
#[utoipa::path(delete, path = "/order-integrations/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_order_integration(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
