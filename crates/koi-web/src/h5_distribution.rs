//! `/h5/d/{token}` (a distributor's share link), `/h5/earnings?k=` (a
//! customer's earnings page) and `/h5/earnings/poster.jpg?k=&product=` (a
//! distributor's product poster): the distribution pages customers open in
//! WeChat. All are reached by unguessable tokens, never by a customer's id.

use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use koi_engine::distribution::{EarningsPage, SharePage};
use koi_engine::EngineError;

const LANG: Lang = Lang::Zh;

#[derive(Template)]
#[template(path = "h5_share.html")]
struct ShareView {
    t: Tr,
    page: SharePage,
}

#[derive(Template)]
#[template(path = "h5_earnings.html")]
struct EarningsView {
    t: Tr,
    page: EarningsPage,
    k: String,
    /// The share link as a QR (SVG).
    qr_svg: Option<String>,
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

fn missing(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(_) => html(&MissingPage { t: Tr(LANG) }, StatusCode::NOT_FOUND),
        e => WebError::from(e).into_response(),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct CustomerKey {
    k: String,
}

/// The share link's landing: who invites, their QR to add a guide; a
/// visitor with their own link (`?k=`) is recorded as brought by them.
pub async fn share(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(key): Query<CustomerKey>,
) -> Response {
    match state.engine.distributor_share_page(&token, Some(&key.k)).await {
        Ok(page) => html(&ShareView { t: Tr(LANG), page }, StatusCode::OK),
        Err(e) => missing(e),
    }
}

/// The customer's earnings: share link and QR, the customers they
/// brought on both levels, commission pending, settled and paid, payouts.
pub async fn earnings(State(state): State<AppState>, Query(key): Query<CustomerKey>) -> Response {
    match state.engine.earnings_page(&key.k).await {
        Ok(page) => {
            let qr_svg = page.distributor.as_ref().and_then(|d| crate::qr::svg(&d.share_url).ok());
            html(&EarningsView { t: Tr(LANG), page, k: key.k, qr_svg }, StatusCode::OK)
        }
        Err(e) => missing(e),
    }
}

/// "Become a distributor" from the earnings page.
pub async fn join(State(state): State<AppState>, Query(key): Query<CustomerKey>) -> Response {
    match state.engine.opt_in_by_link(&key.k).await {
        Ok(()) => Redirect::to(&format!("/h5/earnings?k={}", key.k)).into_response(),
        Err(e) => missing(e),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PosterKey {
    k: String,
    product: String,
}

/// A distributor's poster of one product (750×1334 JPEG): the product, their
/// name and the QR of their share link. 404 for a link that is not an
/// active distributor's, or a product that is not theirs to share.
pub async fn poster(State(state): State<AppState>, Query(key): Query<PosterKey>) -> Response {
    let Ok(product) = key.product.parse::<i64>() else {
        return missing(EngineError::NotFound("product"));
    };
    match state.engine.distributor_poster(&key.k, product).await {
        Ok(jpeg) => crate::api::posters::jpeg_response(jpeg.as_ref().clone()),
        Err(e) => missing(e),
    }
}
