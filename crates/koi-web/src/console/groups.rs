//! 社群 / Groups: the corp's customer groups with filters (kind, store,
//! owner, status, size, activity), the group metrics by kind or store with
//! SVG charts, one group with its members and its last 30 days, an
//! operator's kind and store, and a sync with WeCom.

use super::{render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use koi_domain::access::Action;
use koi_domain::group::DayMetrics;
use koi_domain::group::{GroupEdit, GroupKind};
use koi_engine::groups::{Group, GroupMember, GroupQuery, MetricsQuery, MetricsReport, MetricsRow};
use std::collections::HashMap;

/// A choice in a select: its value and its words.
pub struct Choice {
    pub value: String,
    pub label: String,
}

pub struct GroupLine {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub kind: String,
    pub store: String,
    pub members: i32,
    pub dismissed: bool,
    pub created: String,
}

pub struct MemberLine {
    pub userid: String,
    pub name: String,
    pub customer: bool,
    pub customer_id: Option<i64>,
    pub joined: String,
    pub scene: String,
    pub left: Option<String>,
}

/// One row of the metrics table, numbers formatted.
pub struct MetricLine {
    pub key: String,
    pub label: String,
    pub members_end: i64,
    pub joins: i64,
    pub leaves: i64,
    pub net: i64,
    pub speakers: i64,
    pub messages: i64,
    pub activity: String,
    pub joined_customers: i64,
    pub converted: i64,
    pub conversion: String,
}

/// The metrics section: a table of keys and two charts of their sum by day.
pub struct MetricsView {
    pub by: String,
    pub from: String,
    pub to: String,
    pub lines: Vec<MetricLine>,
    pub flow: String,
    pub talk: String,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct ListPage {
    c: Chrome,
    groups: Vec<GroupLine>,
    kinds: Vec<Choice>,
    stores: Vec<Choice>,
    kind: String,
    store: String,
    owner: String,
    status: String,
    min_members: String,
    max_members: String,
    min_activity: String,
    max_activity: String,
    /// The metrics tab, when open.
    metrics: Option<MetricsView>,
    can_manage: bool,
}

#[derive(Template)]
#[template(path = "group.html")]
struct DetailPage {
    c: Chrome,
    group: GroupLine,
    chat_id: String,
    notice: String,
    synced: String,
    members: Vec<MemberLine>,
    present: usize,
    /// The last 30 days: totals and the two charts.
    recent: Option<MetricLine>,
    flow: String,
    talk: String,
    kinds: Vec<Choice>,
    stores: Vec<Choice>,
    can_manage: bool,
    form: FormView,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    store: Option<String>,
    owner: Option<String>,
    status: Option<String>,
    min_members: Option<String>,
    max_members: Option<String>,
    min_activity: Option<String>,
    max_activity: Option<String>,
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    ok: Option<String>,
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn metric_line(chrome: &Chrome, by: &str, r: &MetricsRow) -> MetricLine {
    let label = match by {
        "kind" => kind_words(chrome, &r.label),
        "store" if r.key.is_empty() => chrome.t.s("group_no_store_label").to_string(),
        _ => r.label.clone(),
    };
    let t = &r.totals;
    MetricLine {
        key: r.key.clone(),
        label,
        members_end: t.members_end,
        joins: t.joins,
        leaves: t.leaves,
        net: t.net,
        speakers: t.speakers,
        messages: t.messages,
        activity: percent(t.activity_rate),
        joined_customers: t.joined_customers,
        converted: t.converted,
        conversion: percent(t.conversion_rate),
    }
}

/// Every row's days added up, day by day (the rows share the window).
fn summed_days(report: &MetricsReport) -> Vec<DayMetrics> {
    let mut days: Vec<DayMetrics> = report.rows.first().map(|r| r.days.clone()).unwrap_or_default();
    for r in report.rows.iter().skip(1) {
        for (sum, d) in days.iter_mut().zip(&r.days) {
            sum.members += d.members;
            sum.joins += d.joins;
            sum.leaves += d.leaves;
            sum.net += d.net;
            sum.speakers += d.speakers;
            sum.messages += d.messages;
        }
    }
    days
}

fn metrics_view(chrome: &Chrome, report: &MetricsReport) -> MetricsView {
    let days = summed_days(report);
    MetricsView {
        by: report.by.clone(),
        from: report.from.clone(),
        to: report.to.clone(),
        lines: report.rows.iter().map(|r| metric_line(chrome, &report.by, r)).collect(),
        flow: crate::chart::group_flow(&days),
        talk: crate::chart::group_talk(&days),
    }
}

fn kind_words(c: &Chrome, kind: &str) -> String {
    c.t.s(&format!("group_kind_{kind}")).to_string()
}

fn kinds(c: &Chrome) -> Vec<Choice> {
    GroupKind::ALL.iter().map(|k| Choice { value: k.as_str().into(), label: kind_words(c, k.as_str()) }).collect()
}

async fn store_names(state: &AppState, c: &Console) -> Result<HashMap<i64, String>, axum::response::Response> {
    let stores = state.engine.stores(c.who()).await.or_page(c)?;
    Ok(stores.into_iter().map(|s| (s.id, s.name)).collect())
}

fn line(chrome: &Chrome, g: &Group, stores: &HashMap<i64, String>) -> GroupLine {
    GroupLine {
        id: g.id,
        name: if g.name.is_empty() { g.chat_id.clone() } else { g.name.clone() },
        owner: g.owner_userid.clone(),
        kind: kind_words(chrome, &g.kind),
        store: g.store_id.and_then(|s| stores.get(&s).cloned()).unwrap_or_default(),
        members: g.members,
        dismissed: g.status == "dismissed",
        created: if g.created_at > 0 { crate::fmt::datetime(g.created_at) } else { String::new() },
    }
}

fn store_choices(stores: &HashMap<i64, String>) -> Vec<Choice> {
    let mut v: Vec<Choice> = stores.iter().map(|(id, n)| Choice { value: id.to_string(), label: n.clone() }).collect();
    v.sort_by(|a, b| a.label.cmp(&b.label));
    v
}

pub async fn list(State(state): State<AppState>, c: Console, Query(q): Query<ListQuery>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(&state, &c, "groups").await.flash_from(q.ok.as_deref());
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let store = text(&q.store);
    let number = |v: &Option<String>| text(v).and_then(|s| s.parse::<f64>().ok());
    let query = GroupQuery {
        kind: text(&q.kind),
        store_id: store.as_deref().and_then(|s| s.parse().ok()),
        owner: text(&q.owner),
        status: text(&q.status),
        min_members: number(&q.min_members).map(|n| n as i32),
        max_members: number(&q.max_members).map(|n| n as i32),
        min_activity: number(&q.min_activity),
        max_activity: number(&q.max_activity),
    };
    let groups = state.engine.groups(who, &query).await.or_page(&c)?;
    let stores = store_names(&state, &c).await?;
    // The metrics tab reads every group's joins, leaves and messages of
    // the window: only when asked for (`by`), not on every list.
    let metrics = match text(&q.by) {
        None => None,
        Some(by) => {
            let mq = MetricsQuery {
                by: Some(by),
                from: text(&q.from),
                to: text(&q.to),
                kind: query.kind.clone(),
                store_id: query.store_id,
                group_id: None,
            };
            Some(metrics_view(&chrome, &state.engine.group_metrics(who, &mq).await.or_page(&c)?))
        }
    };
    let keep = |v: &Option<String>| text(v).unwrap_or_default();
    let p = ListPage {
        min_members: keep(&q.min_members),
        max_members: keep(&q.max_members),
        min_activity: keep(&q.min_activity),
        max_activity: keep(&q.max_activity),
        metrics,
        groups: groups.iter().map(|g| line(&chrome, g, &stores)).collect(),
        kinds: kinds(&chrome),
        stores: store_choices(&stores),
        kind: query.kind.unwrap_or_default(),
        store: store.unwrap_or_default(),
        owner: query.owner.unwrap_or_default(),
        status: query.status.unwrap_or_default(),
        can_manage: who.allows(Action::ManageGroups),
        c: chrome,
    };
    Ok(render(&p))
}

async fn detail(
    state: &AppState,
    c: &Console,
    id: i64,
    form: Option<FormView>,
) -> Result<DetailPage, axum::response::Response> {
    let d = state.engine.group(c.who(), id).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "groups").await;
    let stores = store_names(state, c).await?;
    let scene = |s: i32| match s {
        1 => chrome.t.s("join_invited").to_string(),
        2 => chrome.t.s("join_link").to_string(),
        3 => chrome.t.s("join_qr").to_string(),
        _ => String::new(),
    };
    let members: Vec<MemberLine> = d
        .members
        .iter()
        .map(|m: &GroupMember| MemberLine {
            userid: m.userid.clone(),
            name: m.name.clone(),
            customer: m.member_type == "customer",
            customer_id: m.customer_id,
            joined: crate::fmt::datetime(m.join_time.saturating_mul(1000)),
            scene: scene(m.join_scene),
            left: m.left_at.map(crate::fmt::datetime),
        })
        .collect();
    let form = form.unwrap_or_else(|| {
        FormView::of(vec![
            ("kind".into(), d.group.kind.clone()),
            ("store_id".into(), d.group.store_id.map(|s| s.to_string()).unwrap_or_default()),
        ])
    });
    Ok(DetailPage {
        group: line(&chrome, &d.group, &stores),
        chat_id: d.group.chat_id.clone(),
        notice: d.group.notice.clone(),
        synced: if d.group.synced_at > 0 { crate::fmt::datetime(d.group.synced_at) } else { String::new() },
        present: members.iter().filter(|m| m.left.is_none()).count(),
        members,
        recent: d.metrics.as_ref().map(|r| metric_line(&chrome, "group", r)),
        flow: d.metrics.as_ref().map(|r| crate::chart::group_flow(&r.days)).unwrap_or_default(),
        talk: d.metrics.as_ref().map(|r| crate::chart::group_talk(&r.days)).unwrap_or_default(),
        kinds: kinds(&chrome),
        stores: store_choices(&stores),
        can_manage: c.who().allows(Action::ManageGroups),
        form,
        c: chrome,
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let mut p = detail(&state, &c, id, None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// Sets the group's kind and store from the detail page's form.
pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let store = f.get("store_id").trim();
    let store_id = if store.is_empty() {
        Some(None)
    } else {
        match store.parse() {
            Ok(s) => Some(Some(s)),
            // Not a number names no store: the engine's store check says so.
            Err(_) => Some(Some(-1)),
        }
    };
    let edit = GroupEdit { kind: Some(f.get("kind").to_string()), store_id };
    match state.engine.update_group(c.who(), id, &edit).await {
        Ok(_) => Ok(see_other(&format!("/console/groups/{id}?ok=saved"))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| super::error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &detail(&state, c, id, Some(form)).await?))
        }
    }
}

/// Queues a full sync with WeCom; the jobs page shows it run.
pub async fn sync(State(state): State<AppState>, f: ConsoleForm) -> Page {
    state.engine.sync_groups(f.console.who()).await.or_page(&f.console)?;
    state.wake_worker();
    Ok(see_other("/console/groups?ok=sync_queued"))
}
