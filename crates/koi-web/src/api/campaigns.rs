//! `/campaigns` and `/rewards`: fission campaigns (裂变活动) — task fission,
//! group fission, poster sharing and WeChat-group migration — their
//! participants, invites with the risk report, the live dashboard (a
//! migration's per old group), and the reward ledger.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use koi_domain::campaign::{CampaignDraft, Transition};
use koi_engine::campaigns::{
    Campaign, CampaignSummary, Dashboard, Invite, InviteQuery, MigrationBoard, Participant, Reward,
};
use serde::{Deserialize, Serialize};

/// The corp's campaigns, newest first, with their headline counts.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns",
    responses((status = 200, body = Vec<CampaignSummary>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<CampaignSummary>>, WebError> {
    Ok(Json(state.engine.campaigns(&who).await?))
}

/// Creates a campaign in draft. 422 `invalid_input` names every bad field
/// (thresholds not increasing, a red envelope outside 1–200 yuan, money
/// rewards without a budget, unknown staff, stores or group code, a seed
/// segment that does not parse).
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", request_body = CampaignDraft,
    responses((status = 201, body = Campaign), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<CampaignDraft>,
) -> Result<(StatusCode, Json<Campaign>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_campaign(&who, &draft).await?)))
}

#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Campaign>, WebError> {
    Ok(Json(state.engine.campaign(&who, id).await?))
}

/// Replaces a campaign's settings. A running or paused campaign takes only
/// what is safe (wording, a later end, more budget, staff or inventory);
/// anything else is 422 with the field `locked`.
#[utoipa::path(put, path = "/campaigns/{id}", tag = "campaigns", params(("id" = i64, Path)), request_body = CampaignDraft,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<CampaignDraft>,
) -> Result<Json<Campaign>, WebError> {
    Ok(Json(state.engine.update_campaign(&who, id, &draft).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TransitionBody {
    /// launch (draft → scheduled, or running when the window has begun),
    /// pause, resume or end.
    pub action: Transition,
}

/// Moves a campaign along its life. 422 `invalid_input` (`state`) when the
/// campaign is not in a state that allows the action.
#[utoipa::path(post, path = "/campaigns/{id}/transition", tag = "campaigns", params(("id" = i64, Path)),
    request_body = TransitionBody,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transition(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<TransitionBody>,
) -> Result<Json<Campaign>, WebError> {
    let c = state.engine.campaign_transition(&who, id, body.action).await?;
    state.wake_worker();
    Ok(Json(c))
}

/// The live dashboard: participants, invites (valid / pending / rejected by
/// reason), K-factor, invite depth, rewards issued and their cost, cost per
/// retained new customer, per guide and per store, invites per day.
#[utoipa::path(get, path = "/campaigns/{id}/dashboard", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Dashboard), (status = 404, body = ErrorBody)))]
pub async fn dashboard(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Dashboard>, WebError> {
    Ok(Json(state.engine.campaign_dashboard(&who, id).await?))
}

/// A migration campaign's dashboard: per old WeChat group, its entry (the
/// join QR to post in the old group), members who entered through it, moved
/// (stayed the hold), still in hold, left within the hold, and join rewards
/// issued; the totals and the share of the declared members moved. 404 for
/// a campaign of another kind.
#[utoipa::path(get, path = "/campaigns/{id}/migration", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = MigrationBoard), (status = 404, body = ErrorBody)))]
pub async fn migration(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<MigrationBoard>, WebError> {
    Ok(Json(state.engine.migration_board(&who, id).await?))
}

/// Invites, newest first (at most 500); filter by `state`, `reason` or one
/// participant. A rejected invite keeps its reason.
#[utoipa::path(get, path = "/campaigns/{id}/invites", tag = "campaigns", params(("id" = i64, Path), InviteQuery),
    responses((status = 200, body = Vec<Invite>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn invites(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    Query(q): Query<InviteQuery>,
) -> Result<Json<Vec<Invite>>, WebError> {
    Ok(Json(state.engine.campaign_invites(&who, id, &q).await?))
}

/// Every invite as CSV (UTF-8 with a byte-order mark, for Excel).
#[utoipa::path(get, path = "/campaigns/{id}/invites.csv", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn invites_csv(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, WebError> {
    let rows = state.engine.campaign_csv(&who, id).await?;
    csv_download(&format!("campaign-{id}-invites.csv"), &rows)
}

/// Rows as a CSV download.
pub(crate) fn csv_download(filename: &str, rows: &[Vec<String>]) -> Result<impl IntoResponse, WebError> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    for r in rows {
        w.write_record(r).map_err(|e| WebError::Internal(e.to_string()))?;
    }
    let body = w.into_inner().map_err(|e| WebError::Internal(e.to_string()))?;
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OverrideBody {
    /// true counts the invite; false rejects it (`override` when it had no reason).
    pub valid: bool,
}

/// Overrides an invite's verdict (the risk report's button); the
/// participant's tiers follow at once.
#[utoipa::path(post, path = "/campaigns/{id}/invites/{invite_id}/override", tag = "campaigns",
    params(("id" = i64, Path), ("invite_id" = i64, Path)), request_body = OverrideBody,
    responses((status = 200, body = Invite), (status = 404, body = ErrorBody)))]
pub async fn override_invite(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path((id, invite_id)): Path<(i64, i64)>,
    ApiJson(body): ApiJson<OverrideBody>,
) -> Result<Json<Invite>, WebError> {
    let invite = state.engine.override_invite(&who, id, invite_id, body.valid).await?;
    state.wake_worker();
    Ok(Json(invite))
}

/// Participants, the most valid invites first (at most 500).
#[utoipa::path(get, path = "/campaigns/{id}/participants", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Participant>), (status = 404, body = ErrorBody)))]
pub async fn participants(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Participant>>, WebError> {
    Ok(Json(state.engine.campaign_participants(&who, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EnrollBody {
    /// koi customer ids (at most 10,000); customers without a live follow are skipped.
    pub customer_ids: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    /// Customers newly taking part.
    pub enrolled: usize,
}

/// Enrolls customers by hand: each gets a personal entry and a message from
/// their guide with their page.
#[utoipa::path(post, path = "/campaigns/{id}/participants", tag = "campaigns", params(("id" = i64, Path)),
    request_body = EnrollBody,
    responses((status = 200, body = Enrolled), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<EnrollBody>,
) -> Result<Json<Enrolled>, WebError> {
    let enrolled = state.engine.enroll_participants(&who, id, &body.customer_ids).await?;
    state.wake_worker();
    Ok(Json(Enrolled { enrolled }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RewardQuery {
    pub participant_id: Option<i64>,
}

/// The campaign's reward ledger (at most 500 rows, newest first).
#[utoipa::path(get, path = "/campaigns/{id}/rewards", tag = "campaigns", params(("id" = i64, Path), RewardQuery),
    responses((status = 200, body = Vec<Reward>), (status = 404, body = ErrorBody)))]
pub async fn rewards(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    Query(q): Query<RewardQuery>,
) -> Result<Json<Vec<Reward>>, WebError> {
    Ok(Json(state.engine.campaign_rewards(&who, id, q.participant_id).await?))
}

/// Tries a failed (WeChat Pay refused) or withheld (budget or stock used up)
/// reward again, with the same bill number.
#[utoipa::path(post, path = "/rewards/{id}/retry", tag = "campaigns", params(("id" = i64, Path)),
    responses((status = 200, body = Reward), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retry_reward(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Reward>, WebError> {
    let r = state.engine.retry_reward(&who, id).await?;
    state.wake_worker();
    Ok(Json(r))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RedeemBody {
    /// The 12-letter redemption code the customer shows.
    pub code: String,
    /// The store handing the gift out.
    #[serde(default)]
    pub store_id: Option<i64>,
}

/// Hands out a gift or coupon reward by its code, once: a second try is
/// 409 `conflict`, an unknown code 404, a reward not issued (revoked,
/// pending) 422.
#[utoipa::path(post, path = "/rewards/redeem", tag = "campaigns", request_body = RedeemBody,
    responses((status = 200, body = Reward), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn redeem(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(body): ApiJson<RedeemBody>,
) -> Result<Json<Reward>, WebError> {
    Ok(Json(state.engine.redeem_reward(&who, &body.code, body.store_id).await?))
}
