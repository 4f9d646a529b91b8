//! `/handovers`: handing a guide's customers and groups to other guides
//! (离职继承 / 在职继承) with WeCom's transfer APIs, and `/loss-report`: the
//! customers who deleted their guide, per day, store and guide, with the
//! alerts sent.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::handover::HandoverDraft;
use koi_engine::handover::{Handover, HandoverDetail, HandoverPreview, LossReport, StoreLossRecipients};
use serde::{Deserialize, Serialize};

/// The corp's handovers, newest first (at most 200), with their totals.
#[utoipa::path(get, path = "/handovers", tag = "handovers",
    responses((status = 200, body = Vec<Handover>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Handover>>, WebError> {
    Ok(Json(state.engine.handovers(&who).await?))
}

/// What a handover would do — customers per receiver, customers skipped
/// because WeCom allows two handovers in 90 days, groups — without doing it.
#[utoipa::path(post, path = "/handovers/preview", tag = "handovers", request_body = HandoverDraft,
    responses((status = 200, body = HandoverPreview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<HandoverDraft>,
) -> Result<Json<HandoverPreview>, WebError> {
    Ok(Json(state.engine.preview_handover(&who, &draft).await?))
}

/// Starts a handover: `transfer_customer` (on_job, with `message`) or
/// `resigned/transfer_customer` (on_leave) in batches of 100, each sent
/// once; WeCom's results are read until every customer is final, and
/// accepted customers move to the receiver in koi. 422 `invalid_input` for
/// an unknown guide, a receiver who is the guide, a message on an on-leave
/// handover, or a guide with nothing to hand over; nothing is kept then.
#[utoipa::path(post, path = "/handovers", tag = "handovers", request_body = HandoverDraft,
    responses((status = 201, body = HandoverDetail), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<HandoverDraft>,
) -> Result<(StatusCode, Json<HandoverDetail>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_handover(&who, &draft).await?)))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ItemQuery {
    /// Only customers in this status (planned, sending, waiting, accepted,
    /// refused, receiver_full, over_limit, failed, unknown).
    pub status: Option<String>,
}

/// A handover: totals per receiver, each customer with WeCom's result and
/// reason (at most 2,000), and its groups.
#[utoipa::path(get, path = "/handovers/{id}", tag = "handovers", params(("id" = i64, Path), ItemQuery),
    responses((status = 200, body = HandoverDetail), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    Query(q): Query<ItemQuery>,
) -> Result<Json<HandoverDetail>, WebError> {
    Ok(Json(state.engine.handover(&who, id, q.status.as_deref().filter(|s| !s.is_empty())).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub queued: bool,
}

/// Reads WeCom's results now instead of at the next scheduled read (koi
/// reads them on its own for three days).
#[utoipa::path(post, path = "/handovers/{id}/refresh", tag = "handovers", params(("id" = i64, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Queued>), WebError> {
    state.engine.refresh_handover(&who, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued: true })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// Days back from today (Asia/Shanghai), 1..=92; default 30.
    pub days: Option<i64>,
}

/// Customers who deleted their guide, per day, store and guide, with totals
/// and the latest alerts; a store manager sees their stores.
#[utoipa::path(get, path = "/loss-report", tag = "handovers", params(ReportQuery),
    responses((status = 200, body = LossReport), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn loss_report(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<ReportQuery>,
) -> Result<Json<LossReport>, WebError> {
    Ok(Json(state.engine.loss_report(&who, q.days.unwrap_or(30)).await?))
}

/// Who gets each store's loss alerts and daily summary (besides the guide).
#[utoipa::path(get, path = "/loss-report/recipients", tag = "handovers",
    responses((status = 200, body = Vec<StoreLossRecipients>), (status = 403, body = ErrorBody)))]
pub async fn recipients(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<StoreLossRecipients>>, WebError> {
    Ok(Json(state.engine.loss_recipients(&who).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecipientsBody {
    /// Staff members (WeCom members) who get the store's alerts; at most 20.
    pub staff_ids: Vec<i64>,
}

/// Sets who gets a store's loss alerts and daily summary.
#[utoipa::path(put, path = "/loss-report/recipients/{store_id}", tag = "handovers", params(("store_id" = i64, Path)),
    request_body = RecipientsBody,
    responses((status = 200, body = StoreLossRecipients), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_recipients(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(store_id): Path<i64>,
    ApiJson(body): ApiJson<RecipientsBody>,
) -> Result<Json<StoreLossRecipients>, WebError> {
    Ok(Json(state.engine.set_loss_recipients(&who, store_id, &body.staff_ids).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SummaryBody {
    /// `YYYY-MM-DD` (Asia/Shanghai).
    pub day: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SummariesMade {
    /// Store summaries made now (each store's summary of a day is sent once).
    pub made: usize,
}

/// Sends the stores' loss summaries of a day now (koi sends the day
/// before's every morning at 09:00 Asia/Shanghai); a store's summary of a
/// day goes out once.
#[utoipa::path(post, path = "/loss-report/summaries", tag = "handovers", request_body = SummaryBody,
    responses((status = 202, body = SummariesMade), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_summaries(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(body): ApiJson<SummaryBody>,
) -> Result<(StatusCode, Json<SummariesMade>), WebError> {
    let made = state.engine.send_loss_summaries(&who, &body.day).await?;
    Ok((StatusCode::ACCEPTED, Json(SummariesMade { made })))
}
