//! `/wecom/callback/{corp_id}`: where WeCom verifies koi's URL (GET) and
//! delivers events (POST). `corp_id` is the WeCom CorpID. Errors answer 4xx
//! with koi's JSON error envelope (WeCom only looks at the status).

use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use koi_engine::callback::Signed;

pub async fn verify(
    State(state): State<AppState>,
    Path(corp): Path<String>,
    Query(q): Query<Signed>,
) -> Result<impl IntoResponse, WebError> {
    let echo = state.engine.verify_callback_url(&corp, &q).await?;
    // The plaintext alone: no quotes, no newline.
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], echo))
}

pub async fn receive(
    State(state): State<AppState>,
    Path(corp): Path<String>,
    Query(q): Query<Signed>,
    body: String,
) -> Result<impl IntoResponse, WebError> {
    state.engine.receive_callback(&corp, &q, &body).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "success"))
}
