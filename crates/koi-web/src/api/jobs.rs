use super::ErrorBody;
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use koi_domain::jobs::JobState;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct JobQuery {
    /// queued, running, done, refused (WeCom refused it for good; the reason
    /// is in `last_error`) or dead.
    pub state: Option<JobState>,
    /// At most 500; default 100.
    pub limit: Option<i64>,
}

/// The corp's newest background jobs; `state=dead` lists dead letters and
/// `state=refused` what WeCom refused for good (e.g. a tag push for a
/// customer WeCom no longer knows), with the reason in `last_error`.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobQuery), responses((status = 200, body = Vec<Job>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<JobQuery>,
) -> Result<Json<Vec<Job>>, WebError> {
    let jobs = state.engine.jobs(&who, q.state, q.limit.unwrap_or(100)).await?;
    Ok(Json(
        jobs.into_iter()
            .map(|j| Job {
                id: j.id,
                kind: j.kind,
                state: j.state,
                attempts: j.attempts,
                max_attempts: j.max_attempts,
                run_at: j.run_at,
                last_error: j.last_error,
                created_at: j.created_at,
                updated_at: j.updated_at,
            })
            .collect(),
    ))
}

/// Puts a dead letter or a refused job back in the queue with fresh attempts.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    state.engine.retry_job(&who, id).await?;
    state.wake_worker();
    Ok(StatusCode::NO_CONTENT)
}
