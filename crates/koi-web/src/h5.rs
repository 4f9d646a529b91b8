//! `/h5`: pages customers open in WeChat. The nearest-store landing page
//! asks for the customer's location and shows the channel code of the
//! nearest store (or the default store).

use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use koi_engine::acquisition::StorePick;

#[derive(Template)]
#[template(path = "h5_locate.html")]
struct LocatePage {
    code_id: i64,
}

/// The landing page; the location is asked for in the browser.
pub async fn locate_page(Path(code_id): Path<i64>) -> Response {
    match (LocatePage { code_id }).render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct Location {
    lat: Option<f64>,
    lng: Option<f64>,
}

/// Picks the store for a location (or none: the default store).
pub async fn locate(
    State(state): State<AppState>,
    Path(code_id): Path<i64>,
    visitor: Option<axum::Extension<crate::h5_guard::Visitor>>,
    crate::api::ApiJson(at): crate::api::ApiJson<Location>,
) -> Result<Json<StorePick>, WebError> {
    let location = at.lat.zip(at.lng);
    let visitor = visitor.map_or_else(String::new, |v| v.0 .0);
    Ok(Json(state.engine.locate_store(code_id, location, &visitor).await?))
}
