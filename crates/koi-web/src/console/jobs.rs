//! Background jobs and dead letters.

use super::{render, see_other, Chrome, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::fmt::datetime;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use koi_domain::access::Action;
use koi_domain::jobs::JobState;

pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: &'static str,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: String,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    c: Chrome,
    filter: String,
    counts: Vec<(&'static str, i64)>,
    jobs: Vec<JobRow>,
}

#[derive(serde::Deserialize)]
pub struct Filter {
    state: Option<String>,
    ok: Option<String>,
}

pub async fn list(State(state): State<AppState>, c: Console, Query(q): Query<Filter>) -> Page {
    let filter = q.state.as_deref().and_then(JobState::parse);
    let jobs = state.engine.jobs(c.who(), filter, 200).await.or_page(&c)?;
    let counts = state.engine.job_counts(c.who()).await.or_page(&c)?;
    let page = JobsPage {
        c: Chrome::new(&state, &c, "jobs").await.flash_from(Notice { ok: q.ok }.ok.as_deref()),
        filter: filter.map(|s| s.as_str().to_string()).unwrap_or_default(),
        counts: counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect(),
        jobs: jobs
            .into_iter()
            .map(|j| JobRow {
                id: j.id,
                kind: j.kind,
                state: j.state.as_str(),
                attempts: j.attempts,
                max_attempts: j.max_attempts,
                run_at: datetime(j.run_at),
                last_error: j.last_error.unwrap_or_default(),
            })
            .collect(),
    };
    Ok(render(&page))
}

pub async fn retry(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.retry_job(f.console.who(), id).await.or_page(&f.console)?;
    state.wake_worker();
    Ok(see_other("/console/jobs?ok=retried"))
}

/// Queues one self-test job, so an operator can see the queue work (or,
/// with `fail=1`, see a dead letter appear).
pub async fn selftest(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    if !c.who().allows(Action::RetryJobs) {
        return Err(super::error_page(c, koi_engine::EngineError::Forbidden.into()));
    }
    state.engine.enqueue_selftest(c.who().corp_id, 1, f.get("fail") == "1").await.or_page(c)?;
    state.wake_worker();
    Ok(see_other("/console/jobs?ok=queued"))
}
