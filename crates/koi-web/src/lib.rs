//! koi's HTTP face: `/api/v1` (JSON + OpenAPI) for integrations, `/console`
//! (server-rendered HTML) for people, and `/healthz` for load balancers.
//! Handlers check input, call one engine use case and shape the answer;
//! the work itself lives in `koi-engine`.

// Console handlers answer `Result<Response, Response>` (a page or an error
// page); an axum Response is large, and boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
mod callback;
mod chart;
mod console;
mod error;
mod fmt;
mod h5;
mod h5_distribution;
mod h5_guard;
mod i18n;
pub mod qr;
mod shop;
mod sidebar;
mod webhooks;

pub use api::openapi_document;
pub use error::WebError;

use axum::http::{header, HeaderValue, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use koi_engine::Engine;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when koi is served over HTTPS).
    pub secure_cookies: bool,
    /// The URL people reach koi at, for links shown in the console (callback URL).
    pub public_url: String,
    /// Requests one client address may make to `/h5` per minute (the burst too).
    pub h5_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry: koi
    /// runs behind a reverse proxy that appends it.
    pub trust_forwarded_for: bool,
}

/// A phone opens the landing page and asks for a store once or twice; a
/// poster in a shop's Wi-Fi brings many phones behind one address.
pub const H5_PER_MINUTE_DEFAULT: u32 = 60;

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            public_url: String::new(),
            h5_per_minute: H5_PER_MINUTE_DEFAULT,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<WebConfig>,
    /// Wakes the local job worker when a request enqueues work.
    pub job_wake: Option<Arc<tokio::sync::Notify>>,
}

impl AppState {
    /// Wakes this node's job worker: a request queued work.
    pub(crate) fn wake_worker(&self) {
        if let Some(w) = &self.job_wake {
            w.notify_one();
        }
    }
}

/// Uploads (CSV imports) are the largest bodies koi accepts.
const BODY_LIMIT: usize = koi_engine::org::MAX_IMPORT_BYTES + 64 * 1024;

pub fn router(state: AppState) -> Router {
    let x_request_id = header::HeaderName::from_static("x-request-id");
    let c = &state.config;
    let h5_guard = h5_guard::H5Guard::new(c.h5_per_minute, c.trust_forwarded_for, c.secure_cookies);
    Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/console") }))
        .route("/healthz", get(healthz))
        .nest("/api/v1", api::router())
        .nest("/console", console::router())
        .route(
            "/wecom/callback/{corp}",
            get(callback::verify).post(callback::receive).layer(axum::middleware::map_response(error::json_errors)),
        )
        .route(
            "/webhooks/orders/{key}",
            axum::routing::post(webhooks::orders).layer(axum::middleware::map_response(error::json_errors)),
        )
        .route("/h5/go/{code}", get(h5::locate_page))
        .route("/h5/go/{code}/locate", axum::routing::post(h5::locate))
        .route("/h5/group/{code}", get(h5::group_locate_page))
        .route("/h5/group/{code}/locate", axum::routing::post(h5::group_locate))
        .route("/h5/c/{campaign}", get(h5::campaign_page))
        .route("/h5/c/{campaign}/visit", axum::routing::post(h5::campaign_visit))
        .route("/h5/c/{campaign}/poster.jpg", get(h5::campaign_poster))
        .route("/h5/wallet", get(h5::wallet_page))
        .route("/h5/wallet/exchange", axum::routing::post(h5::wallet_exchange))
        .route("/h5/wallet/checkin", axum::routing::post(h5::wallet_checkin))
        .route("/h5/wallet/review", axum::routing::post(h5::wallet_review))
        .route("/h5/p/{product}", get(shop::product_page))
        .route("/h5/p/{product}/buy", axum::routing::post(shop::buy))
        .route("/h5/checkout/{out_trade_no}", get(shop::checkout_page))
        .route("/h5/checkout/{out_trade_no}/state", get(shop::checkout_state))
        .route("/pay/notify/{corp}", axum::routing::post(shop::notify))
        .route("/pay/refund-notify/{corp}", axum::routing::post(shop::refund_notify))
        .route("/h5/d/{token}", get(h5_distribution::share))
        .route("/h5/earnings", get(h5_distribution::earnings))
        .route("/h5/earnings/join", axum::routing::post(h5_distribution::join))
        .route("/h5/earnings/poster.jpg", get(h5_distribution::poster))
        .route("/static/{file}", get(static_file))
        .route("/sidebar", get(sidebar::page))
        .route("/sidebar/oauth", get(sidebar::oauth))
        .route("/sidebar/wecom", get(sidebar::wecom_entry))
        .route("/sidebar/jsapi", get(sidebar::jsapi))
        .route("/sidebar/enter", axum::routing::post(sidebar::enter))
        .route("/materials/file/{id}/{key}", get(sidebar::material_file))
        .route("/sidebar/tags", axum::routing::post(sidebar::tags))
        .route("/sidebar/tasks/{id}", axum::routing::post(sidebar::task))
        .route("/sidebar/note", axum::routing::post(sidebar::note))
        .route("/sidebar/coupons/redeem", axum::routing::post(sidebar::redeem))
        .route("/sidebar/scripts/{id}", axum::routing::post(sidebar::script))
        .route("/sidebar/materials/{id}", axum::routing::post(sidebar::material))
        .route("/m/{token}", get(sidebar::open_link))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(h5_guard, h5_guard::guard))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-")
                .to_string();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    match state.engine.ping().await {
        Ok(()) => (axum::http::StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database_unavailable" })))
        }
    }
}

/// Stylesheet and script, compiled into the binary.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> axum::response::Response {
    let (body, kind) = match file.as_str() {
        "koi.css" => (include_str!("../static/koi.css"), "text/css; charset=utf-8"),
        "koi.js" => (include_str!("../static/koi.js"), "text/javascript; charset=utf-8"),
        "sidebar-wecom.js" => (include_str!("../static/sidebar-wecom.js"), "text/javascript; charset=utf-8"),
        "h5.js" => (include_str!("../static/h5.js"), "text/javascript; charset=utf-8"),
        "wallet.js" => (include_str!("../static/wallet.js"), "text/javascript; charset=utf-8"),
        "shop.js" => (include_str!("../static/shop.js"), "text/javascript; charset=utf-8"),
        "poster.js" => (include_str!("../static/poster.js"), "text/javascript; charset=utf-8"),
        _ => return WebError::NotFound.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address keys the public pages' rate limit.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
