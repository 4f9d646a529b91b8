//! `/h5`: pages customers open in WeChat. The nearest-store landing pages
//! ask for the customer's location and show the code of the nearest store
//! (or the default store): its channel code (`/h5/go/…`, to add a guide) or
//! its group code (`/h5/group/…`, to join the store's group). A landing page
//! is reached by its code's random public token, never by the code's id.

use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use koi_engine::acquisition::StorePick;
use koi_engine::campaigns::{ProgressPage, VisitInput};
use koi_engine::EngineError;

/// Customers read these pages in Chinese.
const LANG: Lang = Lang::Zh;

#[derive(Template)]
#[template(path = "h5_locate.html")]
struct LocatePage {
    t: Tr,
    /// Where the page posts the location.
    locate_url: String,
}

#[derive(Template)]
#[template(path = "h5_missing.html")]
struct MissingPage {
    t: Tr,
}

fn html(page: &impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

/// The landing page; the location is asked for in the browser. An unknown
/// or switched-off code gets a readable page that says so, with a 404.
pub async fn locate_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.engine.landing_exists(&token).await {
        Ok(()) => landing(format!("/h5/go/{token}/locate")),
        Err(e) => missing(e),
    }
}

/// The nearest-store group code's landing page: the same page, showing the
/// picked store's group QR.
pub async fn group_locate_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.engine.group_landing_exists(&token).await {
        Ok(()) => landing(format!("/h5/group/{token}/locate")),
        Err(e) => missing(e),
    }
}

fn landing(locate_url: String) -> Response {
    html(&LocatePage { t: Tr(LANG), locate_url }, StatusCode::OK)
}

/// An unknown code gets a readable page that says so, with a 404.
fn missing(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(_) => html(&MissingPage { t: Tr(LANG) }, StatusCode::NOT_FOUND),
        e => WebError::from(e).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct Location {
    lat: Option<f64>,
    lng: Option<f64>,
}

/// The store picked, with its distance written for the customer.
#[derive(serde::Serialize)]
pub struct LandingPick {
    #[serde(flatten)]
    pick: StorePick,
    /// "22 米", "1.4 公里"; `None` when the location was unknown.
    distance: Option<String>,
}

/// Picks the store for a location (or none: the default store).
pub async fn locate(
    State(state): State<AppState>,
    Path(token): Path<String>,
    visitor: Option<axum::Extension<crate::h5_guard::Visitor>>,
    crate::api::ApiJson(at): crate::api::ApiJson<Location>,
) -> Result<Json<LandingPick>, WebError> {
    let location = at.lat.zip(at.lng);
    let visitor = visitor.map_or_else(String::new, |v| v.0 .0);
    let pick = state.engine.locate_store(&token, location, &visitor).await?;
    Ok(Json(LandingPick::of(pick)))
}

/// Picks the store for a location on a group code's landing page.
pub async fn group_locate(
    State(state): State<AppState>,
    Path(token): Path<String>,
    crate::api::ApiJson(at): crate::api::ApiJson<Location>,
) -> Result<Json<LandingPick>, WebError> {
    let pick = state.engine.locate_group_store(&token, at.lat.zip(at.lng)).await?;
    Ok(Json(LandingPick::of(pick)))
}

impl LandingPick {
    fn of(pick: StorePick) -> LandingPick {
        let distance = pick.distance_m.map(|m| crate::fmt::distance(m, LANG));
        LandingPick { pick, distance }
    }
}

#[derive(Template)]
#[template(path = "h5_campaign.html")]
struct CampaignPage {
    t: Tr,
    page: ProgressPage,
    state_text: String,
    next_text: String,
    visit_url: String,
    /// (state, title, state text, code)
    rewards: Vec<(String, String, String, Option<String>)>,
    /// (state, name, what became of it)
    invites: Vec<(String, String, String)>,
}

#[derive(serde::Deserialize)]
pub struct ParticipantKey {
    #[serde(default)]
    p: String,
}

/// What the guard saw of a request: the device (the visitor cookie, when
/// the browser kept it) and the client address.
fn seen(
    visitor: Option<axum::Extension<crate::h5_guard::Visitor>>,
    addr: Option<axum::Extension<crate::h5_guard::ClientAddr>>,
) -> (String, String) {
    let device = visitor.and_then(|v| v.0 .0.strip_prefix("cookie:").map(str::to_string)).unwrap_or_default();
    (device, addr.map(|a| a.0 .0).unwrap_or_default())
}

/// A participant's campaign page (`/h5/c/{campaign}?p={participant}`):
/// progress, rewards, their entry to share. The visit is recorded (device
/// and address) for the risk checks.
pub async fn campaign_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(key): Query<ParticipantKey>,
    visitor: Option<axum::Extension<crate::h5_guard::Visitor>>,
    addr: Option<axum::Extension<crate::h5_guard::ClientAddr>>,
) -> Response {
    let page = match state.engine.campaign_page(&token, &key.p).await {
        Ok(p) => p,
        Err(e) => return missing(e),
    };
    let (device, address) = seen(visitor, addr);
    let visit = VisitInput { device, lat: None, lng: None };
    if let Err(e) = state.engine.record_campaign_visit(&token, &key.p, &visit, &address).await {
        tracing::warn!(error = %e, "campaign page: the visit was not recorded");
    }
    state.wake_worker();
    let t = Tr(LANG);
    let reason_text = |r: &Option<String>| r.as_deref().map(|r| t.s(&format!("c_reason_{r}")).to_string());
    let invites = page
        .invites
        .iter()
        .map(|i| {
            let what = reason_text(&i.reason).unwrap_or_else(|| t.s(&format!("c_invite_{}", i.state)).to_string());
            (i.state.clone(), if i.name.is_empty() { t.s("c_h5_friend").to_string() } else { i.name.clone() }, what)
        })
        .collect();
    let rewards = page
        .rewards
        .iter()
        .map(|r| (r.state.clone(), r.title.clone(), t.s(&format!("c_reward_{}", r.state)).to_string(), r.code.clone()))
        .collect();
    let view = CampaignPage {
        t,
        state_text: t.s(&format!("c_state_{}", page.campaign_state)).to_string(),
        next_text: t.s("c_h5_next").to_string(),
        visit_url: format!("/h5/c/{token}/visit?p={}", key.p),
        rewards,
        invites,
        page,
    };
    html(&view, StatusCode::OK)
}

/// A participant's personal poster (`/h5/c/{campaign}/poster.jpg?p=…`), a
/// 750×1334 JPEG to save and forward; 404 until their entry is ready.
pub async fn campaign_poster(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(key): Query<ParticipantKey>,
) -> Response {
    match state.engine.campaign_poster(&token, &key.p).await {
        Ok(jpeg) => crate::api::posters::jpeg_response(jpeg.as_ref().clone()),
        Err(e) => missing(e),
    }
}

/// What the participant's page saw: a location the customer chose to share.
pub async fn campaign_visit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(key): Query<ParticipantKey>,
    visitor: Option<axum::Extension<crate::h5_guard::Visitor>>,
    addr: Option<axum::Extension<crate::h5_guard::ClientAddr>>,
    crate::api::ApiJson(at): crate::api::ApiJson<Location>,
) -> Result<StatusCode, WebError> {
    let (device, address) = seen(visitor, addr);
    let visit = VisitInput { device, lat: at.lat, lng: at.lng };
    state.engine.record_campaign_visit(&token, &key.p, &visit, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Template)]
#[template(path = "h5_wallet.html")]
struct WalletPage {
    t: Tr,
    wallet: koi_engine::points::Wallet,
    /// (code, title, name, state, state text, "valid until", QR svg)
    coupons: Vec<(String, String, String, String, String, String, String)>,
    /// (when, what, points signed)
    ledger: Vec<(String, String, String)>,
    /// (order id, what the customer reads)
    reviewable: Vec<(i64, String)>,
    exchange_url: String,
    checkin_url: String,
    review_url: String,
}

#[derive(serde::Deserialize)]
pub struct CustomerKey {
    #[serde(default)]
    k: String,
}

/// The customer's wallet (`/h5/wallet?k={customer link token}`): coupons
/// with their QR, the points balance and history, and the points mall.
pub async fn wallet_page(State(state): State<AppState>, Query(key): Query<CustomerKey>) -> Response {
    let wallet = match state.engine.wallet(&key.k).await {
        Ok(w) => w,
        Err(e) => return missing(e),
    };
    let t = Tr(LANG);
    let day = |ms: i64| crate::fmt::datetime(ms)[..10].to_string();
    let coupons = wallet
        .coupons
        .iter()
        .map(|c| {
            let qr = if c.state == "issued" { crate::qr::svg(&c.code).unwrap_or_default() } else { String::new() };
            (
                c.code.clone(),
                c.title.clone(),
                c.name.clone(),
                c.state.clone(),
                t.s(&format!("cp_state_{}", c.state)).to_string(),
                format!("{} – {}", day(c.valid_from), day(c.valid_to - 1)),
                qr,
            )
        })
        .collect();
    let ledger = wallet
        .ledger
        .iter()
        .map(|e| {
            let what =
                if e.reason.is_empty() { t.s(&format!("pt_kind_{}", e.kind)).to_string() } else { e.reason.clone() };
            (day(e.created_at), what, if e.points > 0 { format!("+{}", e.points) } else { e.points.to_string() })
        })
        .collect();
    let reviewable = wallet
        .reviewable
        .iter()
        .map(|o| {
            let paid = format!("{}.{:02}", o.paid_fen / 100, o.paid_fen % 100);
            (o.order_id, format!("{} · {} · ¥{paid}", day(o.ordered_at), o.shop_order_id))
        })
        .collect();
    let view = WalletPage {
        t,
        coupons,
        ledger,
        reviewable,
        exchange_url: format!("/h5/wallet/exchange?k={}", key.k),
        checkin_url: format!("/h5/wallet/checkin?k={}", key.k),
        review_url: format!("/h5/wallet/review?k={}", key.k),
        wallet,
    };
    html(&view, StatusCode::OK)
}

#[derive(serde::Deserialize)]
pub struct ExchangeBody {
    item_id: i64,
    /// Made by the page once per tap: a double submit is one exchange.
    request_key: String,
}

/// Exchanges points for a mall item from the wallet. JSON only (a form
/// on another site cannot post it without the browser asking first).
pub async fn wallet_exchange(
    State(state): State<AppState>,
    Query(key): Query<CustomerKey>,
    crate::api::ApiJson(b): crate::api::ApiJson<ExchangeBody>,
) -> Result<Json<koi_engine::points::Exchange>, WebError> {
    Ok(Json(state.engine.wallet_exchange(&key.k, b.item_id, &b.request_key).await?))
}

/// Today's check-in from the wallet's button: once an Asia/Shanghai day (a
/// second tap answers the first with `already`). JSON only, like the
/// exchange.
pub async fn wallet_checkin(
    State(state): State<AppState>,
    Query(key): Query<CustomerKey>,
    crate::api::ApiJson(_): crate::api::ApiJson<serde_json::Value>,
) -> Result<Json<koi_engine::points::Checkin>, WebError> {
    Ok(Json(state.engine.wallet_checkin(&key.k).await?))
}

#[derive(serde::Deserialize)]
pub struct ReviewBody {
    order_id: i64,
    rating: i32,
    #[serde(default)]
    body: String,
}

/// The customer reviews one of their done orders from the wallet.
pub async fn wallet_review(
    State(state): State<AppState>,
    Query(key): Query<CustomerKey>,
    crate::api::ApiJson(b): crate::api::ApiJson<ReviewBody>,
) -> Result<(StatusCode, Json<koi_engine::points::Review>), WebError> {
    Ok((StatusCode::CREATED, Json(state.engine.wallet_review(&key.k, b.order_id, b.rating, &b.body).await?)))
}
