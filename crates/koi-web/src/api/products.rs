//! `/products` and `/checkouts`: the light catalogue sold through the H5
//! shop, the checkouts customers made, and refunds through WeChat Pay.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::product::ProductDraft;
use koi_engine::checkout::{Checkout, CheckoutQuery, Product, RefundInput};

/// The corp's products, newest first, with their stock and availability.
#[utoipa::path(get, path = "/products", tag = "products",
    responses((status = 200, body = Vec<Product>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Product>>, WebError> {
    Ok(Json(state.engine.products(&who).await?))
}

/// Creates a product; its H5 page (`page_path`) works at once. 422
/// `invalid_input` names every bad field (a bundle that is no discount, a
/// sale that ends before it starts, an unknown store); 409 for a SKU the
/// corp has already.
#[utoipa::path(post, path = "/products", tag = "products", request_body = ProductDraft,
    responses((status = 201, body = Product), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<ProductDraft>,
) -> Result<(StatusCode, Json<Product>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_product(&who, &draft).await?)))
}

#[utoipa::path(get, path = "/products/{id}", tag = "products", params(("id" = i64, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Product>, WebError> {
    Ok(Json(state.engine.product(&who, id).await?))
}

/// Replaces a product. `stock` is what is left to sell now; checkouts
/// waiting for payment keep the items they hold.
#[utoipa::path(put, path = "/products/{id}", tag = "products", params(("id" = i64, Path)), request_body = ProductDraft,
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<ProductDraft>,
) -> Result<Json<Product>, WebError> {
    Ok(Json(state.engine.update_product(&who, id, &draft).await?))
}

/// Checkouts, newest first (at most 500), optionally of one state.
#[utoipa::path(get, path = "/checkouts", tag = "products", params(CheckoutQuery),
    responses((status = 200, body = Vec<Checkout>), (status = 422, body = ErrorBody)))]
pub async fn checkouts(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CheckoutQuery>,
) -> Result<Json<Vec<Checkout>>, WebError> {
    Ok(Json(state.engine.checkouts(&who, &q).await?))
}

/// One checkout with its lines and refunds.
#[utoipa::path(get, path = "/checkouts/{id}", tag = "products", params(("id" = i64, Path)),
    responses((status = 200, body = Checkout), (status = 404, body = ErrorBody)))]
pub async fn checkout(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Checkout>, WebError> {
    Ok(Json(state.engine.checkout(&who, id).await?))
}

/// Refunds a paid checkout through WeChat Pay: everything left (no
/// `amount_fen`) or part of it. The refund shows `pending` until WeChat Pay
/// answers, then `done` (the checkout becomes `part_refunded` or
/// `refunded`, and its order is refunded) or `failed`. 422 `invalid_input`
/// for a checkout not paid or an amount over what is left.
#[utoipa::path(post, path = "/checkouts/{id}/refunds", tag = "products", params(("id" = i64, Path)),
    request_body = RefundInput,
    responses((status = 202, body = Checkout), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<RefundInput>,
) -> Result<(StatusCode, Json<Checkout>), WebError> {
    let k = state.engine.refund_checkout(&who, id, &input).await?;
    state.wake_worker();
    Ok((StatusCode::ACCEPTED, Json(k)))
}
