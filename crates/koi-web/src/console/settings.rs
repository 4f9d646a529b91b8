//! Corp settings: brand name and WeCom credentials, secrets shown masked;
//! and WeChat Pay (the merchant account reward red packets are paid from),
//! whose keys are write-only.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use koi_domain::access::Action;
use koi_domain::org::{Corp, CorpDraft};
use koi_domain::secret::mask;
use koi_engine::pay::{PaySettings, PaySettingsInput};
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
    pay: PaySettings,
    /// The pay form's values and errors (its own form on the page).
    pay_form: FormView,
}

const PAY_FIELDS: [&str; 6] = ["mch_id", "wxappid", "base_url", "act_name", "wishing", "pay_enabled"];

fn pay_values(p: &PaySettings) -> FormView {
    let enabled = if p.enabled { "on" } else { "" };
    FormView::of(
        [
            ("mch_id", p.mch_id.as_str()),
            ("wxappid", p.wxappid.as_str()),
            ("base_url", p.base_url.as_str()),
            ("act_name", p.act_name.as_str()),
            ("wishing", p.wishing.as_str()),
            ("pay_enabled", enabled),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    )
}

async fn page(
    state: &AppState,
    c: &Console,
    corp: &Corp,
    form: FormView,
) -> Result<SettingsPage, axum::response::Response> {
    let pay = state.engine.pay_settings(c.who()).await.or_page(c)?;
    Ok(page_with_pay(state, c, corp, form, pay_values(&pay), pay).await)
}

async fn page_with_pay(
    state: &AppState,
    c: &Console,
    corp: &Corp,
    form: FormView,
    pay_form: FormView,
    pay: PaySettings,
) -> SettingsPage {
    let base = state.config.public_url.trim_end_matches('/');
    SettingsPage {
        c: Chrome::new(state, c, "settings").await,
        callback_url: format!("{base}/wecom/callback/{}", corp.wecom_corp_id),
        masked_secret: mask(&corp.app_secret),
        masked_token: mask(&corp.callback_token),
        masked_key: mask(&corp.encoding_aes_key),
        form,
        pay,
        pay_form,
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
    let mut p = page(&state, &c, &corp, form).await?;
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
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, &corp, form).await?))
        }
    }
}

/// Saves the WeChat Pay settings (a form of its own on the settings page).
pub async fn save_pay(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    forbid_unless_owner(c)?;
    let input = PaySettingsInput {
        enabled: f.get("pay_enabled") == "on",
        mch_id: f.get("mch_id").into(),
        wxappid: f.get("wxappid").into(),
        api_key: f.get("api_key").into(),
        workwx_secret: f.get("workwx_secret").into(),
        base_url: f.get("base_url").into(),
        act_name: f.get("act_name").into(),
        wishing: f.get("wishing").into(),
    };
    match state.engine.save_pay_settings(c.who(), input).await {
        Ok(_) => Ok(see_other("/console/settings?ok=saved#pay-settings")),
        Err(e) => {
            let corp = state.engine.corp(c.who()).await.or_page(c)?;
            let pay = state.engine.pay_settings(c.who()).await.or_page(c)?;
            let values = f.fields.iter().filter(|(k, _)| PAY_FIELDS.contains(&k.as_str())).cloned().collect();
            let pay_form = FormView::failed(values, e.into()).map_err(|e| error_page(c, e))?;
            let form =
                FormView::of(vec![("name".into(), corp.name.clone()), ("corp_id".into(), corp.wecom_corp_id.clone())]);
            let p = page_with_pay(&state, c, &corp, form, pay_form, pay).await;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}
