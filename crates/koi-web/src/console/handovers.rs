//! 客户继承 / Handovers: the list with each handover's totals, the form that
//! starts one (the guide and the receivers picked from the staff list, a
//! preview of the counts before starting), a handover's page with its
//! progress per receiver and each customer's result; and 流失报表 / the loss
//! report per store and guide by day, with who gets each store's alerts.
//!
//! The form can move some of a guide's customers rather than all: "search"
//! lists the guide's customers by name and tag with check boxes, and the
//! customers ticked (kept across searches) are the handover's.

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::handover::{HandoverDraft, HandoverKind};
use koi_engine::handover::{Handover, HandoverDetail, HandoverPreview, LossReport, StoreLossRecipients};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "handovers.html")]
struct ListPage {
    c: Chrome,
    handovers: Vec<Handover>,
    form: FormView,
    staff: Vec<Choice>,
    preview: Option<HandoverPreview>,
    /// The tag filter's choices.
    tags: Vec<Choice>,
    /// The guide's customers the search found (id, name, remark or
    /// external id, ticked), and those ticked before but not found now.
    candidates: Vec<(i64, String, String, bool)>,
    kept: Vec<i64>,
    /// A search ran (its results show, even when empty).
    searched: bool,
}

/// Customers one search lists.
const PICK_PAGE: i64 = 200;

#[derive(Template)]
#[template(path = "handover.html")]
struct ShowPage {
    c: Chrome,
    d: HandoverDetail,
    status: String,
    statuses: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "loss_report.html")]
struct LossPage {
    c: Chrome,
    r: LossReport,
    days: i64,
    can_manage: bool,
    recipients: Vec<StoreLossRecipients>,
    staff: Vec<Choice>,
}

impl LossPage {
    fn chosen(&self, store: &StoreLossRecipients, staff: &str) -> bool {
        store.staff_ids.iter().any(|s| s.to_string() == staff)
    }
}

async fn staff_choices(state: &AppState, c: &Console) -> Result<Vec<Choice>, Response> {
    let staff = state.engine.staff_list(c.who()).await.or_page(c)?;
    Ok(staff
        .into_iter()
        .map(|s| {
            let left = if s.active { "" } else { " ✕" };
            Choice { value: s.id.to_string(), label: format!("{} ({}){left}", s.name, s.userid) }
        })
        .collect())
}

async fn list_page(state: &AppState, c: &Console, form: FormView) -> Result<ListPage, Response> {
    let chrome = Chrome::new(state, c, "handovers").await;
    let handovers = state.engine.handovers(c.who()).await.or_page(c)?;
    let staff = staff_choices(state, c).await?;
    let tags = state
        .engine
        .tag_groups(c.who())
        .await
        .or_page(c)?
        .into_iter()
        .flat_map(|g| {
            let group = g.name;
            g.tags.into_iter().map(move |t| Choice { value: t.id, label: format!("{group} / {}", t.name) })
        })
        .collect();
    let kept = form_picked(&form);
    Ok(ListPage { c: chrome, handovers, form, staff, preview: None, tags, candidates: vec![], kept, searched: false })
}

/// The customers ticked on the form.
fn form_picked(form: &FormView) -> Vec<i64> {
    form.values.iter().filter(|(k, _)| k == "customer_id").filter_map(|(_, v)| v.trim().parse().ok()).collect()
}

/// Lists the guide's customers matching the search, keeping the ticks.
async fn search_page(state: &AppState, f: &ConsoleForm) -> Page {
    let c = &f.console;
    let mut page = list_page(state, c, FormView::of(f.fields.clone())).await?;
    let staff_id = id_field(f, "from_staff_id");
    if staff_id > 0 {
        let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let filter = koi_engine::reports::CustomerFilter {
            staff_id: Some(staff_id),
            search: text(f.get("pick_q")),
            tag_id: text(f.get("pick_tag")),
            ..Default::default()
        };
        let found = state.engine.customer_page(c.who(), filter, 0, PICK_PAGE).await.or_page(c)?;
        page.candidates = found
            .customers
            .into_iter()
            .map(|cu| {
                let remark = cu
                    .follows
                    .iter()
                    .find(|fo| fo.staff_id == staff_id)
                    .map(|fo| fo.remark.clone())
                    .filter(|r| !r.is_empty())
                    .unwrap_or(cu.external_userid);
                (cu.id, cu.name, remark, page.kept.contains(&cu.id))
            })
            .collect();
        let shown: Vec<i64> = page.candidates.iter().map(|x| x.0).collect();
        page.kept.retain(|id| !shown.contains(id));
    }
    page.searched = true;
    Ok(render(&page))
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn id_field(f: &ConsoleForm, name: &str) -> i64 {
    f.get(name).trim().parse().unwrap_or(0)
}

fn draft_of(f: &ConsoleForm) -> HandoverDraft {
    HandoverDraft {
        kind: HandoverKind::parse(f.get("kind")).unwrap_or(HandoverKind::OnLeave),
        from_staff_id: id_field(f, "from_staff_id"),
        receiver_ids: f.all("receiver_id").filter_map(|v| v.trim().parse().ok()).collect(),
        customer_ids: f.all("customer_id").filter_map(|v| v.trim().parse().ok()).collect(),
        include_groups: f.get("include_groups") == "on",
        message: f.get("message").into(),
    }
}

/// Previews (the "preview" button) or starts a handover.
pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let draft = draft_of(&f);
    if f.get("action") == "search" {
        return search_page(&state, &f).await;
    }
    if f.get("action") == "preview" {
        return match state.engine.preview_handover(c.who(), &draft).await {
            Ok(p) => {
                let mut page = list_page(&state, c, FormView::of(f.fields.clone())).await?;
                page.preview = Some(p);
                Ok(render(&page))
            }
            Err(e) => failed(&state, &f, e).await,
        };
    }
    match state.engine.create_handover(c.who(), &draft).await {
        Ok(d) => Ok(see_other(&format!("/console/handovers/{}?ok=created", d.handover.id))),
        Err(e) => failed(&state, &f, e).await,
    }
}

async fn failed(state: &AppState, f: &ConsoleForm, e: koi_engine::EngineError) -> Page {
    let c = &f.console;
    let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(state, c, form).await?))
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    pub ok: Option<String>,
    pub status: Option<String>,
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(q): Query<ShowQuery>) -> Page {
    let status = q.status.clone().unwrap_or_default();
    let d = state.engine.handover(c.who(), id, Some(status.as_str()).filter(|s| !s.is_empty())).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "handovers").await.flash_from(q.ok.as_deref());
    let statuses = koi_domain::handover::ItemStatus::ALL.iter().map(|s| s.as_str()).collect();
    Ok(render(&ShowPage { c: chrome, d, status, statuses }))
}

pub async fn refresh(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.refresh_handover(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/handovers/{id}?ok=queued")))
}

#[derive(Deserialize, Default)]
pub struct LossQuery {
    pub ok: Option<String>,
    pub days: Option<i64>,
}

pub async fn loss_report(State(state): State<AppState>, c: Console, Query(q): Query<LossQuery>) -> Page {
    let days = q.days.unwrap_or(30);
    let r = state.engine.loss_report(c.who(), days).await.or_page(&c)?;
    let can_manage = c.who().allows(Action::ManageHandovers);
    let (recipients, staff) = if can_manage {
        (state.engine.loss_recipients(c.who()).await.or_page(&c)?, staff_choices(&state, &c).await?)
    } else {
        (vec![], vec![])
    };
    let chrome = Chrome::new(&state, &c, "loss_report").await.flash_from(q.ok.as_deref());
    Ok(render(&LossPage { c: chrome, r, days, can_manage, recipients, staff }))
}

pub async fn save_recipients(State(state): State<AppState>, Path(store_id): Path<i64>, f: ConsoleForm) -> Page {
    let ids: Vec<i64> = f.all("staff_id").filter_map(|v| v.trim().parse().ok()).collect();
    state.engine.set_loss_recipients(f.console.who(), store_id, &ids).await.or_page(&f.console)?;
    Ok(see_other("/console/loss-report?ok=saved"))
}
