//! Signing in and out, and the language switch.

use super::{render_with, see_other};
use crate::auth::{cookie, lang_of, ClientAddr, ConsoleForm, LANG_COOKIE, SESSION_COOKIE};
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use koi_engine::EngineError;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: Tr,
    next: String,
    username: String,
    error: Option<&'static str>,
}

#[derive(serde::Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// Only koi's own console pages are valid destinations after login, so the
/// login form cannot be used to bounce users to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("/console//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/console".into(),
    }
}

pub async fn form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.engine.session(token).await.is_ok() {
            return see_other(&safe_next(q.next.as_deref()));
        }
    }
    let page = LoginPage {
        t: Tr(lang_of(&headers)),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
    };
    render_with(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// A sign-in posted from another site (login CSRF: signing a victim into
/// the attacker's account) is refused. Browsers say where a form came from.
fn cross_site(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = value("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (value("origin"), value("host")) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) != Some(host),
        _ => false,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<Credentials>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if cross_site(&headers) {
        tracing::warn!(code = "cross_site", "login refused");
        let page = LoginPage { t: Tr(lang_of(&headers)), next, username: f.username, error: Some("cross_site") };
        return render_with(StatusCode::FORBIDDEN, &page);
    }
    match state.engine.login(&f.username, &f.password, client).await {
        Ok(token) => {
            let secure = if state.config.secure_cookies { "; Secure" } else { "" };
            let max_age = state.engine.settings.session_ttl_ms / 1000;
            let set = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
            ([(header::SET_COOKIE, set)], see_other(&next)).into_response()
        }
        Err(e) => {
            let (status, key) = match e {
                EngineError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
                EngineError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
                other => {
                    tracing::error!(error = %other, "login failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
                }
            };
            tracing::warn!(username = %f.username, code = key, "login refused");
            let page = LoginPage { t: Tr(lang_of(&headers)), next, username: f.username, error: Some(key) };
            render_with(status, &page)
        }
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, form: ConsoleForm) -> Response {
    let _ = form;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = state.engine.logout(token).await {
            tracing::warn!(error = %e, "logout: could not delete the session");
        }
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, clear)], see_other("/console/login")).into_response()
}

#[derive(serde::Deserialize)]
pub struct Switch {
    to: String,
    next: Option<String>,
}

pub async fn switch_lang(Query(q): Query<Switch>) -> Response {
    let lang = Lang::from_cookie(Some(&q.to));
    let set = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000", lang.code());
    ([(header::SET_COOKIE, set)], see_other(&safe_next(q.next.as_deref()))).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_console_pages_are_login_destinations() {
        assert_eq!(safe_next(Some("/console/stores?x=1")), "/console/stores?x=1");
        assert_eq!(safe_next(Some("https://evil.example")), "/console");
        assert_eq!(safe_next(Some("//evil.example")), "/console");
        assert_eq!(safe_next(Some("/console//evil.example")), "/console");
        assert_eq!(safe_next(Some("/console\n")), "/console");
        assert_eq!(safe_next(None), "/console");
    }
}
