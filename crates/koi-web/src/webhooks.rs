//! Webhooks other systems post to koi, signed rather than keyed:
//! `POST /webhooks/orders/{key}` takes a shop's orders and refunds (the
//! signature scheme is in `koi_engine::orders` and the README).

use crate::error::WebError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use koi_engine::orders::{WebhookOutcome, SIGNATURE_HEADER};

/// Verifies the signature over the raw body, then ingests. A forged or
/// stale post is 401 (`bad_signature`, `stale_timestamp`,
/// `unknown_integration`) and changes nothing.
pub async fn orders(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOutcome>, WebError> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(Json(state.engine.receive_order_webhook(&key, signature, &body).await?))
}
