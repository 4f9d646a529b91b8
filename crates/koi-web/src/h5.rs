//! `/h5`: pages customers open in WeChat. The nearest-store landing page
//! asks for the customer's location and shows the channel code of the
//! nearest store (or the default store). A landing page is reached by its
//! code's random public token, never by the code's id.

use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use koi_engine::acquisition::StorePick;
use koi_engine::EngineError;

/// Customers read these pages in Chinese.
const LANG: Lang = Lang::Zh;

#[derive(Template)]
#[template(path = "h5_locate.html")]
struct LocatePage {
    t: Tr,
    token: String,
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
        Ok(()) => html(&LocatePage { t: Tr(LANG), token }, StatusCode::OK),
        Err(EngineError::NotFound(_)) => html(&MissingPage { t: Tr(LANG) }, StatusCode::NOT_FOUND),
        Err(e) => WebError::from(e).into_response(),
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
    let distance = pick.distance_m.map(|m| crate::fmt::distance(m, LANG));
    Ok(Json(LandingPick { pick, distance }))
}
