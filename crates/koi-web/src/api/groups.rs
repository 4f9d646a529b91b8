//! `/groups`: the corp's customer groups (客户群) as koi keeps them in step
//! with WeCom, their members, and what koi adds (a kind and a store).

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::group::GroupEdit;
use koi_engine::groups::{Group, GroupDetail, GroupQuery, MetricsQuery, MetricsReport};

/// The corp's groups, newest first (at most 1,000). A store manager sees the
/// groups of their stores. Filters: kind, store, owner, status, size
/// (`min_members`, `max_members`) and activity over the last 30 days
/// (`min_activity`, `max_activity`, percent). An unknown `kind` or
/// `status`, or an activity outside 0–100, is `invalid_input`.
#[utoipa::path(get, path = "/groups", tag = "groups", params(GroupQuery),
    responses((status = 200, body = Vec<Group>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<GroupQuery>,
) -> Result<Json<Vec<Group>>, WebError> {
    Ok(Json(state.engine.groups(&who, &q).await?))
}

/// Group metrics by brand-local day (Asia/Shanghai), per group, per kind or
/// per store (`by`), over `from`..=`to` (default the last 30 days; at most
/// 366): members at the end of each day, joins, leaves, net, speakers,
/// messages, activity rate (the share of members who spoke; campaign
/// participation does not count yet), and the window's joined → first
/// order conversion. Filter with `group_id`, `kind`, `store_id`. A store
/// manager sees their stores' groups. Bad `by`, dates or kind are
/// `invalid_input`.
#[utoipa::path(get, path = "/groups/metrics", tag = "groups", params(MetricsQuery),
    responses((status = 200, body = MetricsReport), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<MetricsQuery>,
) -> Result<Json<MetricsReport>, WebError> {
    Ok(Json(state.engine.group_metrics(&who, &q).await?))
}

/// One group with its members: present members first, then past stays
/// (`left_at` set). A customer who left and came back has two stays.
/// `metrics` holds its last 30 days, day by day.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = GroupDetail), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<GroupDetail>, WebError> {
    Ok(Json(state.engine.group(&who, id).await?))
}

/// Sets a group's kind (paid, unpaid, education, vip, store, custom) and
/// store (`null` for none); a field left out is kept. Joins recorded after
/// the change carry the new kind (tag rules "joined a group of kind Y").
#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", params(("id" = i64, Path)), request_body = GroupEdit,
    responses((status = 200, body = GroupDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(edit): ApiJson<GroupEdit>,
) -> Result<Json<GroupDetail>, WebError> {
    Ok(Json(state.engine.update_group(&who, id, &edit).await?))
}

/// Syncs every group with WeCom, in the background: lists the corp's groups
/// (`groupchat/list`) and reads each (`groupchat/get`); members who joined
/// or left since become customer events, and a group WeCom no longer has
/// ends dismissed. Follow the jobs at `/jobs`. Callbacks keep groups in step
/// between syncs.
#[utoipa::path(post, path = "/groups/sync", tag = "groups",
    responses((status = 202, body = super::staff::SyncQueued), (status = 403, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<(StatusCode, Json<super::staff::SyncQueued>), WebError> {
    let job_id = state.engine.sync_groups(&who).await?;
    state.wake_worker();
    Ok((StatusCode::ACCEPTED, Json(super::staff::SyncQueued { job_id })))
}
