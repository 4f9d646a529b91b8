//! `/sops`, `/scripts`, `/materials`: SOP rules (标准作业流程), the script
//! library (话术) and the material centre (素材) with its tracking; and
//! `/sidebar/context`, which mints the guide sidebar's signed chat context
//! (what WeCom's JS-SDK gives the page; for the simulator and tests).

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::sop::script::{MaterialDraft, ScriptDraft};
use koi_domain::sop::SopDraft;
use koi_engine::materials::{Material, Script, SentMaterial};
use koi_engine::sop::{Sop, SopFire, SopTask, SopTemplate};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(set_enabled))
        .routes(routes!(fires))
        .routes(routes!(tasks))
        .routes(routes!(templates))
        .routes(routes!(enable_template))
        .routes(routes!(scripts, create_script))
        .routes(routes!(get_script, update_script, delete_script))
        .routes(routes!(materials, create_material))
        .routes(routes!(get_material, update_material))
        .routes(routes!(send_material))
        .routes(routes!(sidebar_context))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SopInput {
    #[serde(flatten)]
    pub draft: SopDraft,
    /// Enable at once (create only; default false).
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EnabledInput {
    pub enabled: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// Words in the title, body or keywords.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub folder: String,
}

/// The corp's SOP rules with their counts (pending, done, skipped, tasks done).
#[utoipa::path(get, path = "/sops", tag = "sops",
    responses((status = 200, body = Vec<Sop>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Vec<Sop>>, WebError> {
    Ok(Json(state.engine.sops(&who).await?))
}

/// Creates a rule: a trigger (`after_add`, `weekly` with weekdays,
/// `festival` with festival keys and brand days, `event` with `tagged`,
/// `first_order`, `stage_changed`, `no_order_for`, `joined_group`), an
/// audience (customers narrowed by tags or a segment; groups) and 1..=10
/// steps (`day`, `at` "HH:MM" Asia/Shanghai, and an action: `guide_task`
/// or `mass_message`). Unknown tags, segments, groups, scripts or
/// materials are 422 `invalid_input`.
#[utoipa::path(post, path = "/sops", tag = "sops", request_body = SopInput,
    responses((status = 201, body = Sop), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<SopInput>,
) -> Result<(StatusCode, Json<Sop>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.create_sop(&who, input.draft, input.enabled).await?)))
}

#[utoipa::path(get, path = "/sops/{id}", tag = "sops", params(("id" = i64, Path)),
    responses((status = 200, body = Sop), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Sop>, WebError> {
    Ok(Json(state.engine.sop(&who, id).await?))
}

/// Replaces a rule's name, trigger, audience and steps (`enabled` is ignored here).
#[utoipa::path(put, path = "/sops/{id}", tag = "sops", params(("id" = i64, Path)), request_body = SopInput,
    responses((status = 200, body = Sop), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<SopInput>,
) -> Result<Json<Sop>, WebError> {
    Ok(Json(state.engine.update_sop(&who, id, input.draft).await?))
}

/// Enables a rule from now on, or disables it (its waiting steps are skipped).
#[utoipa::path(put, path = "/sops/{id}/enabled", tag = "sops", params(("id" = i64, Path)), request_body = EnabledInput,
    responses((status = 200, body = Sop), (status = 404, body = ErrorBody)))]
pub async fn set_enabled(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<EnabledInput>,
) -> Result<Json<Sop>, WebError> {
    Ok(Json(state.engine.set_sop_enabled(&who, id, input.enabled).await?))
}

/// The latest 200 fires of a rule: each step for each customer or group,
/// when it is due and what became of it.
#[utoipa::path(get, path = "/sops/{id}/fires", tag = "sops", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SopFire>), (status = 404, body = ErrorBody)))]
pub async fn fires(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<SopFire>>, WebError> {
    Ok(Json(state.engine.sop_fires(&who, id).await?))
}

/// The latest 200 tasks the rule gave guides (todo or done).
#[utoipa::path(get, path = "/sops/{id}/tasks", tag = "sops", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SopTask>), (status = 404, body = ErrorBody)))]
pub async fn tasks(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<SopTask>>, WebError> {
    Ok(Json(state.engine.sop_tasks(&who, id).await?))
}

/// Ready rule sets (the "periodic hot products" rhythm).
#[utoipa::path(get, path = "/sops/templates", tag = "sops", responses((status = 200, body = Vec<SopTemplate>)))]
pub async fn templates(State(state): State<AppState>, ApiCaller(_who): ApiCaller) -> Json<Vec<SopTemplate>> {
    Json(state.engine.sop_templates())
}

/// Creates a template's rules, enabled.
#[utoipa::path(post, path = "/sops/templates/{key}", tag = "sops", params(("key" = String, Path)),
    responses((status = 201, body = Vec<Sop>), (status = 404, body = ErrorBody)))]
pub async fn enable_template(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(key): Path<String>,
) -> Result<(StatusCode, Json<Vec<Sop>>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.enable_sop_template(&who, &key).await?)))
}

#[utoipa::path(get, path = "/scripts", tag = "scripts", params(SearchQuery),
    responses((status = 200, body = Vec<Script>), (status = 403, body = ErrorBody)))]
pub async fn scripts(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<Script>>, WebError> {
    Ok(Json(state.engine.scripts(&who, &q.q, &q.folder).await?))
}

/// Adds a script. Its body may use `{name}`, `{guide}` and `{store}`; any
/// other variable is 422 `invalid_input` (`unknown_variable`).
#[utoipa::path(post, path = "/scripts", tag = "scripts", request_body = ScriptDraft,
    responses((status = 201, body = Script), (status = 422, body = ErrorBody)))]
pub async fn create_script(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(d): ApiJson<ScriptDraft>,
) -> Result<(StatusCode, Json<Script>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.save_script(&who, None, d).await?)))
}

#[utoipa::path(get, path = "/scripts/{id}", tag = "scripts", params(("id" = i64, Path)),
    responses((status = 200, body = Script), (status = 404, body = ErrorBody)))]
pub async fn get_script(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Script>, WebError> {
    Ok(Json(state.engine.script(&who, id).await?))
}

#[utoipa::path(put, path = "/scripts/{id}", tag = "scripts", params(("id" = i64, Path)), request_body = ScriptDraft,
    responses((status = 200, body = Script), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_script(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<ScriptDraft>,
) -> Result<Json<Script>, WebError> {
    Ok(Json(state.engine.save_script(&who, Some(id), d).await?))
}

#[utoipa::path(delete, path = "/scripts/{id}", tag = "scripts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_script(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.delete_script(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Materials with their stats: `sends` (tracked links made), `opens`
/// (counted once per link per 30 minutes), `openers` (unique customers).
#[utoipa::path(get, path = "/materials", tag = "materials", params(SearchQuery),
    responses((status = 200, body = Vec<Material>), (status = 403, body = ErrorBody)))]
pub async fn materials(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<Material>>, WebError> {
    Ok(Json(state.engine.materials(&who, &q.q, &q.folder).await?))
}

/// Adds a material: `kind` image, poster, article, mini_program, pdf or
/// video; `url` is where an open goes (http or https).
#[utoipa::path(post, path = "/materials", tag = "materials", request_body = MaterialDraft,
    responses((status = 201, body = Material), (status = 422, body = ErrorBody)))]
pub async fn create_material(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(d): ApiJson<MaterialDraft>,
) -> Result<(StatusCode, Json<Material>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.save_material(&who, None, d).await?)))
}

#[utoipa::path(get, path = "/materials/{id}", tag = "materials", params(("id" = i64, Path)),
    responses((status = 200, body = Material), (status = 404, body = ErrorBody)))]
pub async fn get_material(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Material>, WebError> {
    Ok(Json(state.engine.material(&who, id).await?))
}

#[utoipa::path(put, path = "/materials/{id}", tag = "materials", params(("id" = i64, Path)),
    request_body = MaterialDraft,
    responses((status = 200, body = Material), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_material(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(d): ApiJson<MaterialDraft>,
) -> Result<Json<Material>, WebError> {
    Ok(Json(state.engine.save_material(&who, Some(id), d).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendInput {
    pub customer_id: i64,
}

/// Makes a tracked link of the material for one customer (`/m/{token}`
/// under koi's public URL): send it in the chat; its opens are the
/// customer's `material_opened`.
#[utoipa::path(post, path = "/materials/{id}/send", tag = "materials", params(("id" = i64, Path)),
    request_body = SendInput,
    responses((status = 201, body = SentMaterial), (status = 404, body = ErrorBody)))]
pub async fn send_material(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<SendInput>,
) -> Result<(StatusCode, Json<SentMaterial>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.send_material(&who, input.customer_id, id).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContextInput {
    /// The guide's WeCom userid.
    pub userid: String,
    /// The customer's external_userid.
    pub external_userid: String,
    /// Lifetime, 60..=86400 seconds (default 3600).
    #[serde(default)]
    pub ttl_s: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContextOutput {
    /// The value of the sidebar's `?ctx=`.
    pub ctx: String,
    /// `/sidebar?ctx=…`.
    pub path: String,
}

/// Mints the guide sidebar's chat context (the stand-in for WeCom's JS-SDK
/// `getCurExternalContact` outside WeCom): HMAC-signed corp + guide userid +
/// external_userid + expiry. The guide still signs in through WeCom OAuth,
/// and sees the customer only if they follow them.
#[utoipa::path(post, path = "/sidebar/context", tag = "sops", request_body = ContextInput,
    responses((status = 201, body = ContextOutput), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sidebar_context(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<ContextInput>,
) -> Result<(StatusCode, Json<ContextOutput>), WebError> {
    let ttl = input.ttl_s.unwrap_or(3600).saturating_mul(1000);
    let ctx = state.engine.sidebar_context(&who, &input.userid, &input.external_userid, ttl).await?;
    let path = format!("/sidebar?ctx={ctx}");
    Ok((StatusCode::CREATED, Json(ContextOutput { ctx, path })))
}
