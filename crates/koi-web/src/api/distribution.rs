//! `/distribution`: two-level distribution (分销) — settings (rates, the
//! refund window, payout bounds), distributors and their earnings,
//! commissions, the order report for shops whose orders do not come
//! through koi, and payout batches paid through WeChat Pay.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::distribution::DistributionSettings;
use koi_engine::distribution::{
    Commission, CommissionOrder, CommissionQuery, CommissionRefund, Distributor, DistributorPatch, OptIn, Payout,
    PayoutBatch, PayoutRun,
};
use serde::Deserialize;

#[utoipa::path(get, path = "/distribution/settings", tag = "distribution",
    responses((status = 200, body = DistributionSettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<DistributionSettings>, WebError> {
    Ok(Json(state.engine.distribution_settings(&who).await?))
}

/// Replaces the settings. 422 `invalid_input` names every bad field
/// (rates outside 0–10000 basis points or the two levels over 100 %, a
/// window over 90 days, a minimum payout under WeChat's ¥0.30, a rule
/// naming both or neither of sku and campaign, an unknown campaign).
#[utoipa::path(put, path = "/distribution/settings", tag = "distribution", request_body = DistributionSettings,
    responses((status = 200, body = DistributionSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<DistributionSettings>,
) -> Result<Json<DistributionSettings>, WebError> {
    Ok(Json(state.engine.save_distribution_settings(&who, input).await?))
}

/// Distributors, newest first, with the customers they brought (level 1
/// and 2) and their pending, settled and paid commission.
#[utoipa::path(get, path = "/distribution/distributors", tag = "distribution",
    responses((status = 200, body = Vec<Distributor>), (status = 403, body = ErrorBody)))]
pub async fn distributors(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<Distributor>>, WebError> {
    Ok(Json(state.engine.distributors(&who).await?))
}

/// Makes a customer a distributor (they opted in); the same customer again
/// answers their existing row. 404 for an unknown customer.
#[utoipa::path(post, path = "/distribution/distributors", tag = "distribution", request_body = OptIn,
    responses((status = 201, body = Distributor), (status = 404, body = ErrorBody)))]
pub async fn opt_in(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<OptIn>,
) -> Result<(StatusCode, Json<Distributor>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.opt_in_distributor(&who, input).await?)))
}

#[utoipa::path(get, path = "/distribution/distributors/{id}", tag = "distribution", params(("id" = i64, Path)),
    responses((status = 200, body = Distributor), (status = 404, body = ErrorBody)))]
pub async fn distributor(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Distributor>, WebError> {
    Ok(Json(state.engine.distributor(&who, id).await?))
}

/// Turns a distributor off (orders of their referrals earn nothing while
/// off) or on.
#[utoipa::path(patch, path = "/distribution/distributors/{id}", tag = "distribution", params(("id" = i64, Path)),
    request_body = DistributorPatch,
    responses((status = 200, body = Distributor), (status = 404, body = ErrorBody)))]
pub async fn patch_distributor(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(patch): ApiJson<DistributorPatch>,
) -> Result<Json<Distributor>, WebError> {
    Ok(Json(state.engine.set_distributor_active(&who, id, patch).await?))
}

/// Commissions, newest first (at most 500); filter by distributor, state
/// or order.
#[utoipa::path(get, path = "/distribution/commissions", tag = "distribution", params(CommissionQuery),
    responses((status = 200, body = Vec<Commission>), (status = 422, body = ErrorBody)))]
pub async fn commissions(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CommissionQuery>,
) -> Result<Json<Vec<Commission>>, WebError> {
    Ok(Json(state.engine.commissions(&who, &q).await?))
}

/// Reports a paid order for commission — the way a shop whose orders do
/// not come through koi's orders says a referred customer bought. The
/// buyer's referrer earns level 1 and their referrer level 2, at the
/// product's, the distributor's campaign's or the default rate; pending
/// until the refund window passes. The same `order_ref` again earns
/// nothing more. Answers the order's commissions (none when nobody
/// brought the buyer).
#[utoipa::path(post, path = "/distribution/orders", tag = "distribution", request_body = CommissionOrder,
    responses((status = 200, body = Vec<Commission>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report_order(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(order): ApiJson<CommissionOrder>,
) -> Result<Json<Vec<Commission>>, WebError> {
    Ok(Json(state.engine.record_commission_order(&who, order).await?))
}

/// Reports a refund of a reported order: `refunded_fen` is the order's
/// whole refunded amount so far. Pending commission is cut in proportion
/// (cancelled when all came back); settled commission stays.
#[utoipa::path(post, path = "/distribution/orders/{order_ref}/refund", tag = "distribution",
    params(("order_ref" = String, Path)), request_body = CommissionRefund,
    responses((status = 200, body = Vec<Commission>), (status = 422, body = ErrorBody)))]
pub async fn report_refund(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(order_ref): Path<String>,
    ApiJson(refund): ApiJson<CommissionRefund>,
) -> Result<Json<Vec<Commission>>, WebError> {
    Ok(Json(state.engine.record_commission_refund(&who, &order_ref, refund).await?))
}

/// Runs a payout batch: settles commission whose window has passed, then
/// one WeChat Pay transfer (企业付款到零钱) a distributor whose settled
/// commission reaches the minimum, paid in the background, each exactly
/// once. 409 when another batch took the same commission at the same time.
#[utoipa::path(post, path = "/distribution/payouts/run", tag = "distribution",
    responses((status = 200, body = PayoutRun), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn run_payouts(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<PayoutRun>, WebError> {
    let run = state.engine.run_payouts(&who).await?;
    state.wake_worker();
    Ok(Json(run))
}

#[utoipa::path(get, path = "/distribution/payout-batches", tag = "distribution",
    responses((status = 200, body = Vec<PayoutBatch>), (status = 403, body = ErrorBody)))]
pub async fn batches(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<PayoutBatch>>, WebError> {
    Ok(Json(state.engine.payout_batches(&who).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(default)]
pub struct PayoutQuery {
    /// Only this batch's payouts.
    pub batch_id: Option<i64>,
}

/// Payouts, newest first, each with its state, WeChat's payment id or the
/// reason it failed.
#[utoipa::path(get, path = "/distribution/payouts", tag = "distribution", params(PayoutQuery),
    responses((status = 200, body = Vec<Payout>), (status = 403, body = ErrorBody)))]
pub async fn payouts(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<PayoutQuery>,
) -> Result<Json<Vec<Payout>>, WebError> {
    Ok(Json(state.engine.payouts(&who, q.batch_id).await?))
}

#[utoipa::path(get, path = "/distribution/payouts/{id}", tag = "distribution", params(("id" = i64, Path)),
    responses((status = 200, body = Payout), (status = 404, body = ErrorBody)))]
pub async fn payout(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Payout>, WebError> {
    Ok(Json(state.engine.payout(&who, id).await?))
}
