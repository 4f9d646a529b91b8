//! Staff list, create, edit and CSV import.

use super::{
    csv_download, error_page, read_upload, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page,
};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::import::{ImportReport, RowError};
use koi_domain::org::{StaffDraft, Store};
use koi_engine::EngineError;

pub struct StaffRow {
    pub id: i64,
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub stores: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    c: Chrome,
    staff: Vec<StaffRow>,
    store_choices: Vec<Store>,
    can_import: bool,
    form: FormView,
    report: Option<ImportReport>,
    row_errors: Vec<RowError>,
}

#[derive(Template)]
#[template(path = "staff_edit.html")]
struct EditPage {
    c: Chrome,
    id: i64,
    store_choices: Vec<Store>,
    form: FormView,
}

fn new_member_form() -> FormView {
    FormView::of(vec![("active".into(), "1".into())])
}

async fn page(
    state: &AppState,
    c: &Console,
    form: FormView,
    report: Option<ImportReport>,
    row_errors: Vec<RowError>,
) -> Result<StaffPage, Response> {
    let who = c.who();
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = state.engine.staff_list(who).await.or_page(c)?;
    let staff = staff
        .into_iter()
        .map(|m| StaffRow {
            stores: stores
                .iter()
                .filter(|s| m.store_ids.contains(&s.id))
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join("、"),
            id: m.id,
            userid: m.userid,
            name: m.name,
            mobile: m.mobile,
            active: m.active,
        })
        .collect();
    Ok(StaffPage {
        c: Chrome::new(state, c, "staff").await,
        staff,
        store_choices: stores,
        can_import: who.allows(Action::ImportStaff),
        form,
        report,
        row_errors,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, new_member_form(), None, vec![]).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn draft(f: &ConsoleForm) -> StaffDraft {
    StaffDraft {
        userid: f.get("userid").into(),
        name: f.get("name").into(),
        mobile: f.get("mobile").into(),
        active: f.get("active") == "1",
        // A value that is not a number cannot name a store; dropping it lets
        // the store check report the rest.
        store_ids: f.all("store_ids").filter_map(|v| v.parse().ok()).collect(),
    }
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.create_staff(c.who(), draft(&f)).await {
        Ok(_) => Ok(see_other("/console/staff?ok=created")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form, None, vec![]).await?))
        }
    }
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let m = state.engine.staff(c.who(), id).await.or_page(&c)?;
    let mut values =
        vec![("userid".to_string(), m.userid), ("name".to_string(), m.name), ("mobile".to_string(), m.mobile)];
    if m.active {
        values.push(("active".into(), "1".into()));
    }
    values.extend(m.store_ids.iter().map(|s| ("store_ids".to_string(), s.to_string())));
    let store_choices = state.engine.stores(c.who()).await.or_page(&c)?;
    Ok(render(&EditPage { c: Chrome::new(&state, &c, "staff").await, id, store_choices, form: FormView::of(values) }))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.update_staff(c.who(), id, draft(&f)).await {
        Ok(_) => Ok(see_other("/console/staff?ok=saved")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            let store_choices = state.engine.stores(c.who()).await.or_page(c)?;
            let p = EditPage { c: Chrome::new(&state, c, "staff").await, id, store_choices, form };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

pub async fn import(State(state): State<AppState>, c: Console, upload: Multipart) -> Page {
    let bytes = read_upload(&c, upload).await?;
    match state.engine.import_staff(c.who(), &bytes).await {
        Ok(report) => Ok(render(&page(&state, &c, new_member_form(), Some(report), vec![]).await?)),
        Err(EngineError::ImportRejected(rows)) => {
            let p = page(&state, &c, new_member_form(), None, rows).await?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(error_page(&c, e.into())),
    }
}

/// Queues a sync with WeCom's address book; the jobs page shows it run.
pub async fn sync(State(state): State<AppState>, f: ConsoleForm) -> Page {
    state.engine.sync_staff_from_wecom(f.console.who()).await.or_page(&f.console)?;
    state.wake_worker();
    Ok(see_other("/console/staff?ok=sync_queued"))
}

pub async fn template(_c: Console) -> Response {
    csv_download("staff.csv", "userid,name,mobile,stores,active\nwang.fang,王芳,13800000000,SH-001,是\n")
}
