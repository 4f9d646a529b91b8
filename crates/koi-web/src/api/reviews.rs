//! A customer's review of a done order, posted by the shop (the customer
//! reviews from their H5 page too: `/h5/wallet/review`). Once an order; it
//! earns the review points of the points rules.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_engine::points::Review;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewDraft {
    /// 1..=5 stars.
    pub rating: i32,
    /// What the customer says (at most 500 characters).
    #[serde(default)]
    pub body: String,
}

/// Posts the customer's review of a done order: once an order (409
/// `already_reviewed`); an order not done yet is 422 `order_not_done`, one
/// without its customer 422 `unmatched_order`.
#[utoipa::path(post, path = "/orders/{id}/review", tag = "orders", params(("id" = i64, Path)), request_body = ReviewDraft,
    responses((status = 201, body = Review), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<ReviewDraft>,
) -> Result<(StatusCode, Json<Review>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.review_order(&who, id, d.rating, &d.body).await?)))
}

/// The order's review, or 404 when it has none.
#[utoipa::path(get, path = "/orders/{id}/review", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = Review), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Review>, WebError> {
    let r = state.engine.order_review(&who, id).await?;
    Ok(Json(r.ok_or(koi_engine::EngineError::NotFound("review"))?))
}
