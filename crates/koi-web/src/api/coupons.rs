//! `/coupon-templates`, `/coupons`, `/points` and `/mall`: coupons (优惠券)
//! with their check and redemption for a POS or a shop, the points ledger
//! (积分) and the points mall.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::coupon::points::PointsRules;
use koi_domain::coupon::TemplateDraft;
use koi_engine::coupons::{Coupon, CouponCheck, CouponIssue, CouponTemplate};
use koi_engine::points::{Exchange, LedgerEntry, MallItem, MallItemDraft, PointsAccount};
use serde::Deserialize;

/// The corp's coupon templates with their conversion (issued → redeemed →
/// order amount).
#[utoipa::path(get, path = "/coupon-templates", tag = "coupons",
    responses((status = 200, body = Vec<CouponTemplate>), (status = 401, body = ErrorBody)))]
pub async fn templates(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<CouponTemplate>>, WebError> {
    Ok(Json(state.engine.coupon_templates(&who).await?))
}

/// Creates a template: `cash` (¥X off), `threshold` (满Y减X), `discount`
/// (`discount_pct` paid, 85 = 8.5折) or `gift`; fixed dates or
/// `valid_days` from issue; `per_customer` (0: no limit); `stock`;
/// `store_ids` (empty: all). 422 names every bad field.
#[utoipa::path(post, path = "/coupon-templates", tag = "coupons", request_body = TemplateDraft,
    responses((status = 201, body = CouponTemplate), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(d): ApiJson<TemplateDraft>,
) -> Result<(StatusCode, Json<CouponTemplate>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_coupon_template(&who, &d).await?)))
}

#[utoipa::path(get, path = "/coupon-templates/{id}", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = CouponTemplate), (status = 404, body = ErrorBody)))]
pub async fn template(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CouponTemplate>, WebError> {
    Ok(Json(state.engine.coupon_template(&who, id).await?))
}

/// Replaces a template's terms; coupons issued before keep their validity.
#[utoipa::path(put, path = "/coupon-templates/{id}", tag = "coupons", params(("id" = i64, Path)),
    request_body = TemplateDraft,
    responses((status = 200, body = CouponTemplate), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_template(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<TemplateDraft>,
) -> Result<Json<CouponTemplate>, WebError> {
    Ok(Json(state.engine.update_coupon_template(&who, id, &d).await?))
}

/// Archives a template: no more issuing; issued coupons stay valid.
#[utoipa::path(delete, path = "/coupon-templates/{id}", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = CouponTemplate), (status = 404, body = ErrorBody)))]
pub async fn archive_template(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CouponTemplate>, WebError> {
    Ok(Json(state.engine.archive_coupon_template(&who, id, true).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IssueBody {
    pub template_id: i64,
    /// One customer, by hand…
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// …or a saved segment's customers (a background issue).
    #[serde(default)]
    pub segment_id: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IssueAnswer {
    Coupon(Coupon),
    Issue(CouponIssue),
}

/// Issues coupons: to one customer (201 with the coupon; 422 `over_limit`
/// or `out_of_stock`), or to a segment (202 with the issue, which runs in
/// the background: each customer once, within the limit and the stock).
#[utoipa::path(post, path = "/coupons/issue", tag = "coupons", request_body = IssueBody,
    responses((status = 201, body = IssueAnswer), (status = 202, body = IssueAnswer), (status = 422, body = ErrorBody)))]
pub async fn issue(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(b): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<IssueAnswer>), WebError> {
    match (b.customer_id, b.segment_id) {
        (Some(c), None) => {
            let k = state.engine.issue_coupon(&who, b.template_id, c).await?;
            Ok((StatusCode::CREATED, Json(IssueAnswer::Coupon(k))))
        }
        (None, Some(s)) => {
            let i = state.engine.issue_coupons_to_segment(&who, b.template_id, s).await?;
            state.wake_worker();
            Ok((StatusCode::ACCEPTED, Json(IssueAnswer::Issue(i))))
        }
        _ => Err(koi_engine::EngineError::Invalid(koi_domain::ValidationError::one(
            "customer_id",
            "one_target",
            "give either customer_id or segment_id",
        ))
        .into()),
    }
}

/// Segment issues, newest first.
#[utoipa::path(get, path = "/coupons/issues", tag = "coupons",
    responses((status = 200, body = Vec<CouponIssue>)))]
pub async fn issues(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<CouponIssue>>, WebError> {
    Ok(Json(state.engine.coupon_issues(&who).await?))
}

#[utoipa::path(get, path = "/coupons/issues/{id}", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 200, body = CouponIssue), (status = 404, body = ErrorBody)))]
pub async fn issue_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CouponIssue>, WebError> {
    Ok(Json(state.engine.coupon_issue(&who, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CouponQuery {
    pub customer_id: Option<i64>,
    pub template_id: Option<i64>,
    /// issued, redeemed (the redemption log, newest redemption first),
    /// expired or revoked.
    pub state: Option<String>,
}

/// Coupons, newest first (at most 500).
#[utoipa::path(get, path = "/coupons", tag = "coupons", params(CouponQuery),
    responses((status = 200, body = Vec<Coupon>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CouponQuery>,
) -> Result<Json<Vec<Coupon>>, WebError> {
    Ok(Json(state.engine.coupons(&who, q.customer_id, q.template_id, q.state.as_deref()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckBody {
    pub code: String,
    #[serde(default)]
    pub store_id: Option<i64>,
    /// The order's amount, fen.
    pub amount_fen: i64,
}

/// What a coupon would take off an order; changes nothing. 404 for an
/// unknown code.
#[utoipa::path(post, path = "/coupons/check", tag = "coupons", request_body = CheckBody,
    responses((status = 200, body = CouponCheck), (status = 404, body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(b): ApiJson<CheckBody>,
) -> Result<Json<CouponCheck>, WebError> {
    Ok(Json(state.engine.check_coupon(&who, &b.code, b.store_id, b.amount_fen).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RedeemBody {
    pub code: String,
    /// The shop's order id: redeeming again with it answers the same.
    pub order_ref: String,
    #[serde(default)]
    pub store_id: Option<i64>,
    /// The order's amount, fen (checked against the threshold).
    #[serde(default)]
    pub amount_fen: Option<i64>,
}

/// Redeems a coupon on an order, at most once however many counters try
/// at the same time: 409 `already_redeemed` when another order has it;
/// the same `order_ref` again is 200 with the same redemption; 422 with the
/// refusal (`expired`, `below_threshold`, `wrong_store`, `not_issued`…).
#[utoipa::path(post, path = "/coupons/redeem", tag = "coupons", request_body = RedeemBody,
    responses((status = 200, body = Coupon), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn redeem(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(b): ApiJson<RedeemBody>,
) -> Result<Json<Coupon>, WebError> {
    Ok(Json(state.engine.redeem_coupon(&who, &b.code, b.store_id, &b.order_ref, b.amount_fen).await?))
}

/// Revokes an issued coupon.
#[utoipa::path(post, path = "/coupons/{id}/revoke", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.revoke_coupon(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/points/rules", tag = "points",
    responses((status = 200, body = PointsRules)))]
pub async fn points_rules(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<PointsRules>, WebError> {
    Ok(Json(state.engine.points_rules(&who).await?))
}

/// Sets the points rules: points per yuan paid, for a check-in, for a
/// review, and how many days points last (0: forever).
#[utoipa::path(put, path = "/points/rules", tag = "points", request_body = PointsRules,
    responses((status = 200, body = PointsRules), (status = 422, body = ErrorBody)))]
pub async fn set_points_rules(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(r): ApiJson<PointsRules>,
) -> Result<Json<PointsRules>, WebError> {
    Ok(Json(state.engine.set_points_rules(&who, &r).await?))
}

/// The corp's latest ledger entries (at most 500).
#[utoipa::path(get, path = "/points/ledger", tag = "points",
    responses((status = 200, body = Vec<LedgerEntry>)))]
pub async fn ledger(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<LedgerEntry>>, WebError> {
    Ok(Json(state.engine.points_ledger(&who).await?))
}

/// A customer's balance (the sum of the ledger) and ledger.
#[utoipa::path(get, path = "/customers/{id}/points", tag = "points", params(("id" = i64, Path)),
    responses((status = 200, body = PointsAccount), (status = 404, body = ErrorBody)))]
pub async fn account(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<PointsAccount>, WebError> {
    Ok(Json(state.engine.points_account(&who, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AdjustBody {
    /// Signed; never takes the balance below zero (422 `insufficient_points`).
    pub points: i64,
    pub reason: String,
}

/// Adds or takes points by hand, with a reason.
#[utoipa::path(post, path = "/customers/{id}/points", tag = "points", params(("id" = i64, Path)),
    request_body = AdjustBody,
    responses((status = 200, body = PointsAccount), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<AdjustBody>,
) -> Result<Json<PointsAccount>, WebError> {
    Ok(Json(state.engine.adjust_points(&who, id, b.points, &b.reason).await?))
}

#[utoipa::path(get, path = "/mall/items", tag = "points",
    responses((status = 200, body = Vec<MallItem>)))]
pub async fn items(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<MallItem>>, WebError> {
    Ok(Json(state.engine.mall_items(&who).await?))
}

/// Adds a mall item: a coupon (`template_id`) or a gift, for `points`,
/// with a `stock` (none: no bound).
#[utoipa::path(post, path = "/mall/items", tag = "points", request_body = MallItemDraft,
    responses((status = 201, body = MallItem), (status = 422, body = ErrorBody)))]
pub async fn create_item(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(d): ApiJson<MallItemDraft>,
) -> Result<(StatusCode, Json<MallItem>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_mall_item(&who, &d).await?)))
}

#[utoipa::path(put, path = "/mall/items/{id}", tag = "points", params(("id" = i64, Path)), request_body = MallItemDraft,
    responses((status = 200, body = MallItem), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_item(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<MallItemDraft>,
) -> Result<Json<MallItem>, WebError> {
    Ok(Json(state.engine.update_mall_item(&who, id, &d).await?))
}

/// Exchanges, newest first (customers make them in their wallet).
#[utoipa::path(get, path = "/mall/exchanges", tag = "points",
    responses((status = 200, body = Vec<Exchange>)))]
pub async fn exchanges(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<Exchange>>, WebError> {
    Ok(Json(state.engine.mall_exchanges(&who).await?))
}
