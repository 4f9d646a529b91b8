//! Corp settings: brand name and WeCom credentials, secrets shown masked.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use koi_domain::access::Action;
use koi_domain::org::{Corp, CorpDraft};
use koi_domain::secret::mask;
use koi_engine::EngineError;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    callback_url: String,
    masked_secret: String,
    masked_token: String,
    masked_key: String,
    form: FormView,
}

async fn page(state: &AppState, c: &Console, corp: &Corp, form: FormView) -> SettingsPage {
    let base = state.config.public_url.trim_end_matches('/');
    SettingsPage {
        c: Chrome::new(state, c, "settings").await,
        callback_url: format!("{base}/wecom/callback/{}", corp.wecom_corp_id),
        masked_secret: mask(&corp.app_secret),
        masked_token: mask(&corp.callback_token),
        masked_key: mask(&corp.encoding_aes_key),
        form,
    }
}

fn forbid_unless_owner(c: &Console) -> Result<(), axum::response::Response> {
    if c.who().allows(Action::EditCorpSettings) {
        Ok(())
    } else {
        Err(error_page(c, EngineError::Forbidden.into()))
    }
}

pub async fn show(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    forbid_unless_owner(&c)?;
    let corp = state.engine.corp(c.who()).await.or_page(&c)?;
    let form = FormView::of(vec![("name".into(), corp.name.clone()), ("corp_id".into(), corp.wecom_corp_id.clone())]);
    let mut p = page(&state, &c, &corp, form).await;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn save(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    forbid_unless_owner(c)?;
    let draft = CorpDraft {
        name: f.get("name").into(),
        wecom_corp_id: f.get("corp_id").into(),
        app_secret: f.get("secret").into(),
        callback_token: f.get("token").into(),
        encoding_aes_key: f.get("aes_key").into(),
    };
    match state.engine.update_corp(c.who(), draft).await {
        Ok(()) => Ok(see_other("/console/settings?ok=saved")),
        Err(e) => {
            let corp = state.engine.corp(c.who()).await.or_page(c)?;
            let values = f.fields.iter().filter(|(k, _)| k == "name" || k == "corp_id").cloned().collect();
            let form = FormView::failed(values, e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, &corp, form).await))
        }
    }
}
