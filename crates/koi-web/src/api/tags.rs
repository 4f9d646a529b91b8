use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::customer::TagRule;
use koi_engine::customers::{BulkOutcome, BulkTarget, TagGroupView, TagRuleView};
use serde::Deserialize;

/// The corp's tag catalogue (标签库) by group, as synced with WeCom, with
/// how many customers carry each tag.
#[utoipa::path(get, path = "/tags", tag = "tags", responses((status = 200, body = Vec<TagGroupView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<TagGroupView>>, WebError> {
    Ok(Json(state.engine.tag_groups(&who).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTags {
    /// An existing group (`et…`)…
    pub group_id: Option<String>,
    /// …or a group to create (or reuse, by name).
    pub group_name: Option<String>,
    /// Tag names, ≤ 30 characters each.
    pub names: Vec<String>,
}

/// Creates tags in WeCom, then in koi. 502 `wecom_refused` when WeCom says
/// no (a name taken, the 3,000-tag limit); nothing is kept then.
#[utoipa::path(post, path = "/tags", tag = "tags", request_body = NewTags,
    responses((status = 201, body = TagGroupView), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(t): ApiJson<NewTags>,
) -> Result<(StatusCode, Json<TagGroupView>), WebError> {
    let g = state.engine.create_tags(&who, t.group_id.as_deref(), t.group_name.as_deref(), &t.names).await?;
    Ok((StatusCode::CREATED, Json(g)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TagRename {
    pub name: String,
}

/// Renames a tag in WeCom, then in koi (WeCom lets an app edit only the
/// tags it made).
#[utoipa::path(put, path = "/tags/{id}", tag = "tags", params(("id" = String, Path)), request_body = TagRename,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<String>,
    ApiJson(t): ApiJson<TagRename>,
) -> Result<StatusCode, WebError> {
    state.engine.rename_tag(&who, &id, &t.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a tag in WeCom, then from koi and from every customer (each gets
/// an untag event on their timeline).
#[utoipa::path(delete, path = "/tags/{id}", tag = "tags", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_tag(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a full sync of the catalogue from WeCom (also done on every
/// `change_external_tag` callback).
#[utoipa::path(post, path = "/tags/sync", tag = "tags", responses((status = 202), (status = 403, body = ErrorBody)))]
pub async fn sync(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<StatusCode, WebError> {
    state.engine.request_tag_sync(&who).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BulkTagging {
    /// `{"segment": "tag:VIP AND store:3"}` or `{"customers": ["wm…", …]}`.
    pub target: BulkTarget,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Tags or untags every customer of a segment or a list; each change lands
/// on the customer's timeline and is pushed to WeCom.
#[utoipa::path(post, path = "/tags/bulk", tag = "tags", request_body = BulkTagging,
    responses((status = 200, body = BulkOutcome), (status = 422, body = ErrorBody)))]
pub async fn bulk(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(b): ApiJson<BulkTagging>,
) -> Result<Json<BulkOutcome>, WebError> {
    Ok(Json(state.engine.bulk_tag(&who, &b.target, &b.add, &b.remove).await?))
}

#[utoipa::path(get, path = "/tag-rules", tag = "tags", responses((status = 200, body = Vec<TagRuleView>)))]
pub async fn rules(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<Vec<TagRuleView>>, WebError> {
    Ok(Json(state.engine.tag_rules(&who).await?))
}

/// Creates a tag rule: on an event, tag automatically.
#[utoipa::path(post, path = "/tag-rules", tag = "tags", request_body = TagRule,
    responses((status = 201, body = TagRuleView), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(rule): ApiJson<TagRule>,
) -> Result<(StatusCode, Json<TagRuleView>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.save_tag_rule(&who, None, rule).await?)))
}

#[utoipa::path(put, path = "/tag-rules/{id}", tag = "tags", params(("id" = i64, Path)), request_body = TagRule,
    responses((status = 200, body = TagRuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(rule): ApiJson<TagRule>,
) -> Result<Json<TagRuleView>, WebError> {
    Ok(Json(state.engine.save_tag_rule(&who, Some(id), rule).await?))
}

#[utoipa::path(delete, path = "/tag-rules/{id}", tag = "tags", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_tag_rule(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
