//! What a code prints as: its QR as SVG or PNG, and a poster page sized for
//! the printer.

use crate::auth::Console;
use crate::console::{error_page, render, Chrome, OrPage, Page};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use koi_engine::acquisition::ChannelCode;

#[derive(Template)]
#[template(path = "channel_code_poster.html")]
struct PosterPage {
    c: Chrome,
    code_id: i64,
    brand: String,
    store: String,
    code_name: String,
    qr_svg: String,
}

/// What the code's QR encodes (its landing page or its contact way), or a
/// not-found page when WeCom never gave a contact way.
async fn qr_url(state: &AppState, c: &Console, id: i64) -> Result<(ChannelCode, String), Response> {
    let code = state.engine.channel_code(c.who(), id).await.or_page(c)?;
    match super::printed_url(state, &code) {
        Some(url) => Ok((code, url)),
        None => Err(error_page(c, WebError::NotFound)),
    }
}

fn download(kind: &'static str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

pub async fn qr_svg(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (_, url) = qr_url(&state, &c, id).await?;
    let svg = crate::qr::svg(&url).map_err(WebError::Internal).or_page(&c)?;
    Ok(download("image/svg+xml", format!("channel-code-{id}.svg"), svg.into_bytes()))
}

pub async fn qr_png(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (_, url) = qr_url(&state, &c, id).await?;
    // 10 px a module: about 450 px square, sharp on a printed A6 card.
    let png = crate::qr::png(&url, 10).map_err(WebError::Internal).or_page(&c)?;
    Ok(download("image/png", format!("channel-code-{id}.png"), png))
}

pub async fn poster(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (code, url) = qr_url(&state, &c, id).await?;
    let store = match code.store_id {
        Some(s) => state.engine.store(c.who(), s).await.map(|s| s.name).unwrap_or_default(),
        None => String::new(),
    };
    let page = PosterPage {
        brand: state.engine.corp_name(c.who()).await.unwrap_or_default(),
        c: Chrome::new(&state, &c, "channel_codes").await,
        code_id: id,
        store,
        code_name: code.name,
        qr_svg: crate::qr::svg(&url).map_err(WebError::Internal).or_page(&c)?,
    };
    Ok(render(&page))
}
