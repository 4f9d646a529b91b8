//! Console users (owners only).

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Role;
use koi_domain::org::Store;
use koi_engine::users::UserInput;

pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub stores: String,
    pub store_ids: Vec<i64>,
    pub active: bool,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserRow>,
    roles: Vec<&'static str>,
    store_choices: Vec<Store>,
    form: FormView,
}

async fn page(state: &AppState, c: &Console, form: FormView) -> Result<UsersPage, Response> {
    let who = c.who();
    let users = state.engine.users(who).await.or_page(c)?;
    let stores = state.engine.stores(who).await.or_page(c)?;
    let users = users
        .into_iter()
        .map(|u| UserRow {
            stores: stores
                .iter()
                .filter(|s| u.store_ids.contains(&s.id))
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join("、"),
            is_me: Some(u.id) == who.user_id,
            store_ids: u.store_ids.clone(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str(),
            active: u.active,
        })
        .collect();
    Ok(UsersPage {
        c: Chrome::new(state, c, "users").await,
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        store_choices: stores,
        form,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, FormView::of(vec![("role".into(), "hq_operator".into())])).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let input = UserInput {
        username: f.get("username").into(),
        display_name: f.get("display_name").into(),
        password: f.get("password").into(),
        role: f.get("role").into(),
        store_ids: f.all("store_ids").filter_map(|v| v.parse().ok()).collect(),
    };
    match state.engine.create_user(c.who(), &input).await {
        Ok(_) => Ok(see_other("/console/users?ok=created")),
        Err(e) => {
            // Never echo a password back into the page.
            let values = f.fields.iter().filter(|(k, _)| k != "password").cloned().collect();
            let form = FormView::failed(values, e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form).await?))
        }
    }
}

pub async fn set_active(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.set_user_active(c.who(), id, f.get("active") == "1").await.or_page(c)?;
    Ok(see_other("/console/users?ok=saved"))
}

/// An owner sets another user's password; the user's sessions end.
pub async fn reset_password(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.reset_password(c.who(), id, f.get("password")).await {
        Ok(()) => Ok(see_other("/console/users?ok=password_reset")),
        Err(e) => {
            // The new-user form stays closed: the error is the reset's.
            let form = FormView::failed(Vec::new(), e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form).await?))
        }
    }
}

/// An owner gives another user a new role; the user's sessions end.
pub async fn change_role(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let stores: Vec<i64> = f.all("store_ids").filter_map(|v| v.parse().ok()).collect();
    match state.engine.change_user_role(c.who(), id, f.get("role"), &stores).await {
        Ok(()) => Ok(see_other("/console/users?ok=role_changed")),
        Err(e) => {
            let form = FormView::failed(Vec::new(), e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form).await?))
        }
    }
}
