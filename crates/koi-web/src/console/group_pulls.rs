//! 标签拉群 / Group pulls: the list with each pull's totals, the form that
//! starts one (a saved segment and a group code picked from lists, the
//! invitation text), and a pull's page with its numbers per guide and the
//! customers not sent. Also the group code page's invitation after a first
//! order (saved here, shown on the code's page).

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
use koi_domain::group::pull::{FirstOrderInvite, GroupPullDraft};
use koi_domain::group::GroupKind;
use koi_engine::groups::{GroupPull, GroupPullDetail};

#[derive(Template)]
#[template(path = "group_pulls.html")]
struct ListPage {
    c: Chrome,
    pulls: Vec<GroupPull>,
    can_manage: bool,
    form: FormView,
    segments: Vec<Choice>,
    codes: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "group_pull.html")]
struct ShowPage {
    c: Chrome,
    d: GroupPullDetail,
    can_manage: bool,
}

async fn list_page(state: &AppState, c: &Console, form: FormView) -> Result<ListPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "group_pulls").await;
    let pulls = state.engine.group_pulls(who).await.or_page(c)?;
    let segments = state
        .engine
        .segments(who)
        .await
        .or_page(c)?
        .into_iter()
        .map(|s| Choice { value: s.id.to_string(), label: format!("{} ({})", s.name, s.count) })
        .collect();
    let codes = state
        .engine
        .group_codes(who)
        .await
        .or_page(c)?
        .into_iter()
        .map(|g| Choice { value: g.id.to_string(), label: g.name })
        .collect();
    Ok(ListPage { c: chrome, pulls, can_manage: who.allows(Action::ManageGroups), form, segments, codes })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn id_field(f: &ConsoleForm, name: &str) -> i64 {
    f.get(name).trim().parse().unwrap_or(0)
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let draft = GroupPullDraft {
        name: f.get("name").into(),
        segment_id: id_field(&f, "segment_id"),
        code_id: id_field(&f, "code_id"),
        text: f.get("text").into(),
    };
    match state.engine.create_group_pull(c.who(), &draft).await {
        Ok(d) => Ok(see_other(&format!("/console/group-pulls/{}?ok=created", d.pull.id))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form).await?))
        }
    }
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let d = state.engine.group_pull(c.who(), id).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "group_pulls").await.flash_from(n.ok.as_deref());
    Ok(render(&ShowPage { c: chrome, d, can_manage: c.who().allows(Action::ManageGroups) }))
}

pub async fn refresh(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.refresh_group_pull(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/group-pulls/{id}?ok=queued")))
}

/// The kinds the invitation form offers, with whether each is chosen.
pub struct KindPick {
    pub value: &'static str,
    pub label: String,
    pub checked: bool,
}

pub fn kind_picks(c: &Chrome, chosen: &[GroupKind]) -> Vec<KindPick> {
    GroupKind::ALL
        .iter()
        .map(|k| KindPick {
            value: k.as_str(),
            label: c.t.s(&format!("group_kind_{}", k.as_str())).to_string(),
            checked: chosen.contains(k),
        })
        .collect()
}

/// Saves a code's invitation after a first order from its page.
pub async fn save_first_order_invite(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let draft = FirstOrderInvite {
        enabled: f.get("enabled") == "on",
        from_kinds: f.all("from_kind").filter_map(GroupKind::parse).collect(),
        text: f.get("invite_text").into(),
    };
    // A bad invitation (no kind chosen, no text) gets the error page with
    // its 422 and the fields named; nothing is saved.
    state.engine.set_first_order_invite(c.who(), id, &draft).await.or_page(c)?;
    Ok(see_other(&format!("/console/group-codes/{id}?ok=saved")))
}
