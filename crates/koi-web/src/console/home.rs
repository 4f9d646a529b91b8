use super::{render, Chrome, OrPage, Page};
use crate::auth::Console;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use koi_domain::access::Action;
use koi_domain::jobs::JobState;
use koi_engine::reports::HomeNumbers;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    c: Chrome,
    stores: usize,
    staff: usize,
    dead_jobs: Option<i64>,
    /// Adds, losses and the per-store ranking, for roles that see customers.
    numbers: Option<HomeNumbers>,
}

pub async fn show(State(state): State<AppState>, c: Console) -> Page {
    let e = &state.engine;
    let who = c.who();
    let stores = if who.allows(Action::ViewStores) { e.stores(who).await.or_page(&c)?.len() } else { 0 };
    let staff = if who.allows(Action::ViewStaff) { e.staff_list(who).await.or_page(&c)?.len() } else { 0 };
    let dead_jobs = if who.allows(Action::ViewJobs) {
        let counts = e.job_counts(who).await.or_page(&c)?;
        counts.iter().find(|(s, _)| *s == JobState::Dead).map(|(_, n)| *n)
    } else {
        None
    };
    let numbers = if who.allows(Action::ViewCustomers) { Some(e.home_numbers(who).await.or_page(&c)?) } else { None };
    Ok(render(&Home { c: Chrome::new(&state, &c, "home").await, stores, staff, dead_jobs, numbers }))
}
