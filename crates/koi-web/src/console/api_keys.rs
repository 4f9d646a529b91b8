//! API keys (owners only). A new key is shown once, right after it is made.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::fmt::{datetime, opt_datetime};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Role;

pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub role: &'static str,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    c: Chrome,
    keys: Vec<KeyRow>,
    new_token: Option<String>,
    form: FormView,
}

async fn page(state: &AppState, c: &Console, new_token: Option<String>, form: FormView) -> Result<KeysPage, Response> {
    let keys = state.engine.api_keys(c.who()).await.or_page(c)?;
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            role: k.role.as_str(),
            created: datetime(k.created_at),
            last_used: opt_datetime(k.last_used_at),
            revoked: k.revoked_at.is_some(),
        })
        .collect();
    Ok(KeysPage { c: Chrome::new(state, c, "api_keys").await, keys, new_token, form })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, None, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let role = Role::parse(f.get("role")).unwrap_or(Role::HqOperator);
    match state.engine.issue_api_key(c.who(), f.get("name"), role).await {
        // Rendered directly rather than redirected: the token must not land
        // in a URL or a browser history entry.
        Ok(issued) => Ok(render(&page(&state, c, Some(issued.token), FormView::default()).await?)),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, None, form).await?))
        }
    }
}

pub async fn revoke(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.revoke_api_key(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/api-keys?ok=revoked"))
}
