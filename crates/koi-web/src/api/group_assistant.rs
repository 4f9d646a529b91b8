//! `/group-rules`, `/group-welcomes`, `/group-assistant`: the group assistant
//! (群助手). Keyword rules answer what customers say in groups (read from
//! the session-archive feed); a sensitive word alerts the group's owner;
//! group welcome templates live in WeCom and greet joiners of the groups
//! whose owners chose them.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::group::assistant::{ReplyRuleDraft, WelcomeTemplateDraft};
use koi_engine::groups::assistant::{AssistantSettings, GroupAlert, GroupReply, GroupReplyRule, GroupWelcome};

/// The corp's keyword rules, in the order they are tried (priority, then age).
#[utoipa::path(get, path = "/group-rules", tag = "group assistant",
    responses((status = 200, body = Vec<GroupReplyRule>), (status = 403, body = ErrorBody)))]
pub async fn rules(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<GroupReplyRule>>, WebError> {
    Ok(Json(state.engine.group_reply_rules(&who).await?))
}

/// Adds a keyword rule. `scope` (kinds, store_ids, group_ids; all empty for
/// every group), `match_kind` contains / exact / wildcard (`*`, `?`; no
/// regex), `keywords`, `reply` (text and/or a link), `quiet_hours`
/// (`{start, end}` HH:MM in Asia/Shanghai), `cooldown_minutes` (once per
/// customer per N minutes), `enabled`, `priority` (lower first). A reply is
/// a group mass-message task from the group's owner, who confirms it in
/// their WeCom client.
#[utoipa::path(post, path = "/group-rules", tag = "group assistant", request_body = ReplyRuleDraft,
    responses((status = 201, body = GroupReplyRule), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<ReplyRuleDraft>,
) -> Result<(StatusCode, Json<GroupReplyRule>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_group_reply_rule(&who, &draft).await?)))
}

#[utoipa::path(get, path = "/group-rules/{id}", tag = "group assistant", params(("id" = i64, Path)),
    responses((status = 200, body = GroupReplyRule), (status = 404, body = ErrorBody)))]
pub async fn rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<GroupReplyRule>, WebError> {
    Ok(Json(state.engine.group_reply_rule(&who, id).await?))
}

/// Replaces a rule (the whole rule, as when creating it).
#[utoipa::path(put, path = "/group-rules/{id}", tag = "group assistant", params(("id" = i64, Path)),
    request_body = ReplyRuleDraft,
    responses((status = 200, body = GroupReplyRule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<ReplyRuleDraft>,
) -> Result<Json<GroupReplyRule>, WebError> {
    Ok(Json(state.engine.update_group_reply_rule(&who, id, &draft).await?))
}

/// Retires a rule; the replies it made keep naming it.
#[utoipa::path(delete, path = "/group-rules/{id}", tag = "group assistant", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_group_reply_rule(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest replies first (at most 200), held-back matches too: `state`
/// queued, sent, refused, quiet (said in quiet hours) or cooldown.
#[utoipa::path(get, path = "/group-assistant/replies", tag = "group assistant",
    responses((status = 200, body = Vec<GroupReply>), (status = 403, body = ErrorBody)))]
pub async fn replies(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<GroupReply>>, WebError> {
    Ok(Json(state.engine.group_replies(&who).await?))
}

/// The newest sensitive-word alerts first (at most 200), with the group,
/// the sender and what they said.
#[utoipa::path(get, path = "/group-assistant/alerts", tag = "group assistant",
    responses((status = 200, body = Vec<GroupAlert>), (status = 403, body = ErrorBody)))]
pub async fn alerts(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<GroupAlert>>, WebError> {
    Ok(Json(state.engine.group_alerts(&who).await?))
}

/// The assistant's settings: whether koi reads the session-archive feed
/// (every minute), the AgentId of koi's app (alerts go to owners as its app
/// messages), and the sensitive words.
#[utoipa::path(get, path = "/group-assistant", tag = "group assistant",
    responses((status = 200, body = AssistantSettings), (status = 403, body = ErrorBody)))]
pub async fn settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<AssistantSettings>, WebError> {
    Ok(Json(state.engine.group_assistant_settings(&who).await?))
}

/// Replaces the settings. Words are trimmed and de-duplicated (≤500, each
/// ≤30 characters).
#[utoipa::path(put, path = "/group-assistant", tag = "group assistant", request_body = AssistantSettings,
    responses((status = 200, body = AssistantSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn save_settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(s): ApiJson<AssistantSettings>,
) -> Result<Json<AssistantSettings>, WebError> {
    Ok(Json(state.engine.save_group_assistant_settings(&who, &s).await?))
}

/// Reads the feed now, in the background (the `groups.read_feed` job).
#[utoipa::path(post, path = "/group-assistant/read-feed", tag = "group assistant",
    responses((status = 202, body = super::staff::SyncQueued), (status = 403, body = ErrorBody)))]
pub async fn read_feed(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<(StatusCode, Json<super::staff::SyncQueued>), WebError> {
    let job_id = state.engine.read_group_feed(&who).await?;
    state.wake_worker();
    Ok((StatusCode::ACCEPTED, Json(super::staff::SyncQueued { job_id })))
}

/// The corp's group welcome templates, each with the active groups it is
/// meant for.
#[utoipa::path(get, path = "/group-welcomes", tag = "group assistant",
    responses((status = 200, body = Vec<GroupWelcome>), (status = 403, body = ErrorBody)))]
pub async fn welcomes(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<GroupWelcome>>, WebError> {
    Ok(Json(state.engine.group_welcomes(&who).await?))
}

/// Makes a group welcome template in WeCom (`group_welcome_template/add`):
/// `text` (≤4000 bytes; a live-stream time, say) and at most one
/// `attachment` (`{"type":"link",title,url,desc}` for a coupon,
/// `{"type":"image",pic_url}` or a mini-program), and the groups it is meant
/// for (`scope`). WeCom has no API that sets a group's welcome: each group's
/// owner picks the template for their group in the WeCom client.
#[utoipa::path(post, path = "/group-welcomes", tag = "group assistant", request_body = WelcomeTemplateDraft,
    responses((status = 201, body = GroupWelcome), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn create_welcome(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(draft): ApiJson<WelcomeTemplateDraft>,
) -> Result<(StatusCode, Json<GroupWelcome>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_group_welcome(&who, &draft).await?)))
}

#[utoipa::path(get, path = "/group-welcomes/{id}", tag = "group assistant", params(("id" = i64, Path)),
    responses((status = 200, body = GroupWelcome), (status = 404, body = ErrorBody)))]
pub async fn welcome(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<GroupWelcome>, WebError> {
    Ok(Json(state.engine.group_welcome(&who, id).await?))
}

/// Replaces a template in WeCom (`group_welcome_template/edit`) and koi.
#[utoipa::path(put, path = "/group-welcomes/{id}", tag = "group assistant", params(("id" = i64, Path)),
    request_body = WelcomeTemplateDraft,
    responses((status = 200, body = GroupWelcome), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_welcome(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(draft): ApiJson<WelcomeTemplateDraft>,
) -> Result<Json<GroupWelcome>, WebError> {
    Ok(Json(state.engine.update_group_welcome(&who, id, &draft).await?))
}

/// Deletes a template in WeCom (`group_welcome_template/del`) and koi.
#[utoipa::path(delete, path = "/group-welcomes/{id}", tag = "group assistant", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_welcome(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_group_welcome(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
