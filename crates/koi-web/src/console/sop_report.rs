//! 执行报表 / The SOP report page: per guide and per store, the guide
//! tasks SOP rules planned, done and overdue, and the steps skipped for
//! their customers, over a window, for one rule or all.

use super::{render, Chrome, OrPage, Page};
use crate::auth::Console;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use koi_engine::sop::report::SopReport;
use koi_engine::sop::Sop;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "sop_report.html")]
struct ReportPage {
    c: Chrome,
    r: SopReport,
    rules: Vec<Sop>,
    rule: String,
    days: i64,
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    rule_id: String,
    days: Option<i64>,
}

/// `GET /console/sops/report?rule_id&days`: planned, done, overdue and
/// skipped SOP work per guide and per store.
pub async fn report(State(state): State<AppState>, c: Console, Query(q): Query<ReportQuery>) -> Page {
    let rule_id = q.rule_id.trim().parse::<i64>().ok().filter(|id| *id > 0);
    let days = q.days.unwrap_or(30);
    let r = state.engine.sop_report(c.who(), rule_id, days).await.or_page(&c)?;
    let rules = state.engine.sops(c.who()).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "sops").await;
    let rule = rule_id.map(|id| id.to_string()).unwrap_or_default();
    Ok(render(&ReportPage { c: chrome, r, rules, rule, days }))
}
