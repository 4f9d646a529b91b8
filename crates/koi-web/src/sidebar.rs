//! `/sidebar`: the guide's sidebar in WeCom's chat toolbar, fit for a phone,
//! and `/m/{token}`: a material's tracked link.
//!
//! The chat is named by `?ctx=` (HMAC-signed corp + guide userid +
//! external_userid + expiry: see `koi_engine::sop::sidebar`); the guide is
//! signed in through WeCom OAuth (`/sidebar/oauth` takes the code back) and
//! carries the `koi_guide` cookie. Writes (tags, tasks, note, a script
//! copied, a material sent) are POSTs with the chat's `ctx` and a CSRF token
//! derived from the session.

use crate::auth::{cookie, lang_of};
use crate::error::WebError;
use crate::i18n::Tr;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use koi_engine::materials::OpenedMaterial;
use koi_engine::sop::sidebar::{SidebarView, GUIDE_SESSION_MS};
use koi_engine::{EngineError, Principal};

pub const GUIDE_COOKIE: &str = "koi_guide";
const STATE_COOKIE: &str = "koi_guide_state";

#[derive(Template)]
#[template(path = "sidebar.html")]
struct SidebarPage {
    t: Tr,
    v: SidebarView,
    ctx: String,
    csrf: String,
    spent: String,
    orders: Vec<(String, String, String)>,
    tasks: Vec<(i64, String, String, String, bool, bool)>,
}

#[derive(Template)]
#[template(path = "sidebar_error.html")]
struct ErrorPage {
    t: Tr,
    message: String,
}

#[derive(serde::Deserialize)]
pub struct CtxQuery {
    #[serde(default)]
    ctx: String,
}

#[derive(serde::Deserialize)]
pub struct OauthQuery {
    #[serde(default)]
    ctx: String,
    /// The WeCom CorpID of a sign-in from the entry page inside WeCom
    /// (`/sidebar/wecom`), which has no chat context yet.
    #[serde(default)]
    corp: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

fn csrf_of(token: &str) -> String {
    koi_engine::auth::token_hash(&format!("koi.sidebar.csrf:{token}"))[..32].to_string()
}

fn error_page(headers: &HeaderMap, status: StatusCode, message: String) -> Response {
    let page = ErrorPage { t: Tr(lang_of(headers)), message };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

fn engine_error(headers: &HeaderMap, e: EngineError) -> Response {
    let t = Tr(lang_of(headers));
    let (status, key) = match &e {
        EngineError::Unauthenticated => (StatusCode::UNAUTHORIZED, "sb_err_context"),
        EngineError::Forbidden => (StatusCode::FORBIDDEN, "sb_err_forbidden"),
        EngineError::NotFound(_) => (StatusCode::NOT_FOUND, "sb_err_not_yours"),
        _ => return WebError::from(e).into_response(),
    };
    error_page(headers, status, t.s(key).to_string())
}

/// The signed-in guide, or `None`.
async fn guide(state: &AppState, headers: &HeaderMap) -> Option<(Principal, String)> {
    let token = cookie(headers, GUIDE_COOKIE)?;
    let who = state.engine.guide_session(token).await.ok()?;
    Some((who, token.to_string()))
}

fn secure(state: &AppState) -> &'static str {
    if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    }
}

/// `GET /sidebar?ctx=`: the page, or WeCom OAuth first.
pub async fn page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<CtxQuery>) -> Response {
    let (corp_id, _) = match state.engine.read_sidebar_context(&q.ctx).await {
        Ok(c) => c,
        Err(e) => return engine_error(&headers, e),
    };
    let Some((who, token)) = guide(&state, &headers).await.filter(|(w, _)| w.corp_id == corp_id) else {
        return sign_in(&state, corp_id, &q.ctx).await;
    };
    let v = match state.engine.sidebar(&who, &q.ctx).await {
        Ok(v) => v,
        Err(e) => return engine_error(&headers, e),
    };
    let t = Tr(lang_of(&headers));
    let orders = v
        .order_history
        .iter()
        .map(|o| {
            let kind = if o.kind == "refunded" { t.s("sb_refunded") } else { t.s("sb_placed") };
            (kind.to_string(), yuan(o.amount_fen), crate::fmt::datetime(o.occurred_at))
        })
        .collect();
    let tasks = v
        .tasks
        .iter()
        .map(|k| {
            (
                k.id,
                k.title.clone(),
                k.target.clone(),
                crate::fmt::datetime(k.due_at),
                k.state == "done",
                k.this_customer,
            )
        })
        .collect();
    let page = SidebarPage { t, spent: yuan(v.spent_fen), orders, tasks, v, ctx: q.ctx, csrf: csrf_of(&token) };
    match page.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, (fen % 100).abs())
}

/// Sends the guide to WeCom OAuth; the state is kept in a cookie and checked on the way back.
async fn sign_in(state: &AppState, corp_id: i64, ctx: &str) -> Response {
    sign_in_back(state, corp_id, ("ctx", ctx)).await
}

/// [`sign_in`], coming back with `back` (`ctx` or `corp`) on the way back's query.
async fn sign_in_back(state: &AppState, corp_id: i64, back: (&str, &str)) -> Response {
    let nonce = koi_engine::auth::new_token()[..24].to_string();
    let back = format!(
        "{}/sidebar/oauth?{}",
        state.engine.settings.public_url.trim_end_matches('/'),
        serde_urlencoded::to_string([back]).unwrap_or_default()
    );
    match state.engine.guide_oauth_url(corp_id, &back, &nonce).await {
        Ok(url) => (
            [(
                header::SET_COOKIE,
                format!("{STATE_COOKIE}={nonce}; Path=/sidebar; Max-Age=600; HttpOnly; SameSite=Lax{}", secure(state)),
            )],
            Redirect::to(&url),
        )
            .into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// `GET /sidebar/oauth?code&state&ctx`: WeCom's way back; signs the guide in.
pub async fn oauth(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<OauthQuery>) -> Response {
    let t = Tr(lang_of(&headers));
    if q.state.is_empty() || cookie(&headers, STATE_COOKIE) != Some(q.state.as_str()) {
        return error_page(&headers, StatusCode::BAD_REQUEST, t.s("sb_err_state").to_string());
    }
    let from_wecom = q.ctx.is_empty() && !q.corp.is_empty();
    let corp_id = if from_wecom {
        match state.engine.corp_of_wecom_id(&q.corp).await {
            Ok(c) => c,
            Err(e) => return engine_error(&headers, e),
        }
    } else {
        match state.engine.read_sidebar_context(&q.ctx).await {
            Ok((c, _)) => c,
            Err(e) => return engine_error(&headers, e),
        }
    };
    match state.engine.guide_sign_in(corp_id, &q.code).await {
        Ok(s) => {
            let next = if from_wecom {
                format!("/sidebar/wecom?{}", serde_urlencoded::to_string([("corp", &q.corp)]).unwrap_or_default())
            } else {
                format!("/sidebar?{}", serde_urlencoded::to_string([("ctx", &q.ctx)]).unwrap_or_default())
            };
            let max_age = GUIDE_SESSION_MS / 1000;
            let set = format!(
                "{GUIDE_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
                s.token,
                secure(&state)
            );
            let clear = format!("{STATE_COOKIE}=; Path=/sidebar; Max-Age=0; HttpOnly; SameSite=Lax{}", secure(&state));
            let mut res = Redirect::to(&next).into_response();
            res.headers_mut().append(header::SET_COOKIE, set.parse().expect("a cookie header"));
            res.headers_mut().append(header::SET_COOKIE, clear.parse().expect("a cookie header"));
            res
        }
        Err(e) => engine_error(&headers, e),
    }
}

/// A write from the page: its fields, checked for the session's CSRF token.
struct Write {
    who: Principal,
    ctx: String,
    fields: Vec<(String, String)>,
}

impl Write {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

async fn write(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Write, WebError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| WebError::bad_request("malformed_form", e.to_string()))?;
    let (who, token) = guide(state, headers).await.ok_or(EngineError::Unauthenticated)?;
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    if csrf != Some(csrf_of(&token).as_str()) {
        return Err(WebError::Csrf);
    }
    let ctx = fields.iter().find(|(k, _)| k == "ctx").map(|(_, v)| v.clone()).unwrap_or_default();
    Ok(Write { who, ctx, fields })
}

fn back(ctx: &str) -> Response {
    Redirect::to(&format!("/sidebar?{}", serde_urlencoded::to_string([("ctx", ctx)]).unwrap_or_default()))
        .into_response()
}

/// `POST /sidebar/tags`: the tags ticked (`tag` fields) become the
/// customer's, through the tagging use case (one change, pushed to WeCom).
pub async fn tags(State(state): State<AppState>, headers: HeaderMap, RawForm(body): RawForm) -> Response {
    let r = async {
        let w = write(&state, &headers, &body).await?;
        let (customer_id, _) = state.engine.sidebar_customer(&w.who, &w.ctx).await?;
        let v = state.engine.sidebar(&w.who, &w.ctx).await?;
        let want: std::collections::BTreeSet<&str> =
            w.fields.iter().filter(|(k, _)| k == "tag").map(|(_, v)| v.as_str()).collect();
        let add: Vec<String> =
            v.tags.iter().filter(|t| !t.on && want.contains(t.id.as_str())).map(|t| t.id.clone()).collect();
        let remove: Vec<String> =
            v.tags.iter().filter(|t| t.on && !want.contains(t.id.as_str())).map(|t| t.id.clone()).collect();
        if !add.is_empty() || !remove.is_empty() {
            state.engine.tag_customer(&w.who, customer_id, &add, &remove).await?;
            state.wake_worker();
        }
        Ok::<_, WebError>(back(&w.ctx))
    };
    r.await.unwrap_or_else(|e| e.into_response())
}

/// `POST /sidebar/tasks/{id}`: `done=1` marks a task done, `done=0` undoes it.
pub async fn task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(body): RawForm,
) -> Response {
    let r = async {
        let w = write(&state, &headers, &body).await?;
        state.engine.set_guide_task_done(&w.who, id, w.get("done") != Some("0")).await?;
        Ok::<_, WebError>(back(&w.ctx))
    };
    r.await.unwrap_or_else(|e| e.into_response())
}

/// `POST /sidebar/note`: the guide's note on the customer.
pub async fn note(State(state): State<AppState>, headers: HeaderMap, RawForm(body): RawForm) -> Response {
    let r = async {
        let w = write(&state, &headers, &body).await?;
        let (customer_id, _) = state.engine.sidebar_customer(&w.who, &w.ctx).await?;
        state.engine.set_customer_note(&w.who, customer_id, w.get("note").unwrap_or_default()).await?;
        Ok::<_, WebError>(back(&w.ctx))
    };
    r.await.unwrap_or_else(|e| e.into_response())
}

/// `POST /sidebar/coupons/redeem`: the guide redeems a coupon the customer
/// shows (its `code`) against the shop's `order_ref`; redeeming again with
/// the same order changes nothing.
pub async fn redeem(State(state): State<AppState>, headers: HeaderMap, RawForm(body): RawForm) -> Response {
    let r = async {
        let w = write(&state, &headers, &body).await?;
        state.engine.sidebar_customer(&w.who, &w.ctx).await?;
        let (code, order_ref) = (w.get("code").unwrap_or_default(), w.get("order_ref").unwrap_or_default());
        state.engine.redeem_coupon(&w.who, code, None, order_ref, None).await?;
        Ok::<_, WebError>(back(&w.ctx))
    };
    r.await.unwrap_or_else(|e| e.into_response())
}

/// `POST /sidebar/scripts/{id}` → `{text}`: the script for this customer, counted as used.
pub async fn script(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(body): RawForm,
) -> Result<Json<serde_json::Value>, WebError> {
    let w = write(&state, &headers, &body).await?;
    let (customer_id, _) = state.engine.sidebar_customer(&w.who, &w.ctx).await?;
    let text = state.engine.use_script(&w.who, id, customer_id).await?;
    Ok(Json(serde_json::json!({ "text": text })))
}

/// `POST /sidebar/materials/{id}` → the tracked link to send this customer.
pub async fn material(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawForm(body): RawForm,
) -> Result<Json<koi_engine::materials::SentMaterial>, WebError> {
    let w = write(&state, &headers, &body).await?;
    let (customer_id, _) = state.engine.sidebar_customer(&w.who, &w.ctx).await?;
    Ok(Json(state.engine.send_material(&w.who, customer_id, id).await?))
}

/// `GET /m/{token}`: a tracked link; redirects to the material, or serves
/// its uploaded file.
pub async fn open_link(State(state): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    match state.engine.open_material_link(&token).await {
        Ok(OpenedMaterial::Redirect(url)) => {
            ([(header::CACHE_CONTROL, "no-store")], Redirect::to(&url)).into_response()
        }
        Ok(OpenedMaterial::File(f)) => file_response(f, "no-store"),
        Err(EngineError::NotFound(_)) => {
            error_page(&headers, StatusCode::NOT_FOUND, Tr(lang_of(&headers)).s("sb_err_link").to_string())
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

/// A material's file as the answer: its type, its name for a download, and
/// no sniffing (the type was read from the content when it was uploaded).
fn file_response(f: koi_engine::materials::MaterialFile, cache: &'static str) -> Response {
    let disposition = format!("inline; filename*=UTF-8''{}", percent(&f.filename));
    (
        [
            (header::CONTENT_TYPE, f.content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, cache.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        f.bytes,
    )
        .into_response()
}

/// RFC 5987 percent-encoding of a file name.
fn percent(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /materials/file/{id}/{key}`: a material's uploaded file at its own
/// address (the key changes with the file, so it may be cached).
pub async fn material_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, key)): Path<(i64, String)>,
) -> Response {
    match state.engine.public_material_file(id, &key).await {
        Ok(f) => file_response(f, "public, max-age=86400, immutable"),
        Err(EngineError::NotFound(_)) => {
            error_page(&headers, StatusCode::NOT_FOUND, Tr(lang_of(&headers)).s("sb_err_link").to_string())
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "sidebar_wecom.html")]
struct WecomEntryPage {
    t: Tr,
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct WecomQuery {
    /// The corp's WeCom CorpID (the sidebar's address configured in WeCom names it).
    #[serde(default)]
    corp: String,
}

/// Scripts the entry page may load: koi's, and the JS-SDK from WeChat's
/// and WeCom's hosts (loaded only inside the WeCom client).
const WECOM_ENTRY_CSP: &str = "default-src 'none'; script-src 'self' https://res.wx.qq.com \
    https://open.work.weixin.qq.com; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; \
    base-uri 'none'; form-action 'self'";

/// `GET /sidebar/wecom?corp=`: the sidebar's address inside WeCom. Signs
/// the guide in through WeCom OAuth, then the page asks the JS-SDK for the
/// chat's customer (`getCurExternalContact`) and opens the sidebar on a
/// chat context koi makes for it (`POST /sidebar/enter`). Outside WeCom it
/// says to open the sidebar from a chat; there the signed `?ctx=` is used.
pub async fn wecom_entry(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<WecomQuery>) -> Response {
    let corp_id = match state.engine.corp_of_wecom_id(&q.corp).await {
        Ok(c) => c,
        Err(e) => return engine_error(&headers, e),
    };
    let Some((_, token)) = guide(&state, &headers).await.filter(|(w, _)| w.corp_id == corp_id) else {
        return sign_in_back(&state, corp_id, ("corp", &q.corp)).await;
    };
    let page = WecomEntryPage { t: Tr(lang_of(&headers)), csrf: csrf_of(&token) };
    match page.render() {
        Ok(html) => {
            ([(header::CONTENT_SECURITY_POLICY, WECOM_ENTRY_CSP), (header::CACHE_CONTROL, "no-store")], Html(html))
                .into_response()
        }
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct JsapiQuery {
    #[serde(default)]
    url: String,
}

/// `GET /sidebar/jsapi?url=` → the `wx.config` / `wx.agentConfig`
/// signatures of a koi page, for the signed-in guide.
pub async fn jsapi(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<JsapiQuery>,
) -> Result<Json<koi_engine::sop::jsapi::JsapiConfig>, WebError> {
    let (who, _) = guide(&state, &headers).await.ok_or(EngineError::Unauthenticated)?;
    Ok(Json(state.engine.jsapi_config(&who, &q.url).await?))
}

/// `POST /sidebar/enter` (`csrf`, `external_userid`) → `{url}`: the sidebar
/// of the chat's customer, named by the JS-SDK; 404 unless the guide
/// follows them.
pub async fn enter(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Result<Json<serde_json::Value>, WebError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|e| WebError::bad_request("malformed_form", e.to_string()))?;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (who, token) = guide(&state, &headers).await.ok_or(EngineError::Unauthenticated)?;
    if get("csrf") != Some(csrf_of(&token).as_str()) {
        return Err(WebError::Csrf);
    }
    let ctx = state.engine.sidebar_context_of_chat(&who, get("external_userid").unwrap_or_default()).await?;
    let url = format!("/sidebar?{}", serde_urlencoded::to_string([("ctx", ctx.as_str())]).unwrap_or_default());
    Ok(Json(serde_json::json!({ "url": url })))
}
