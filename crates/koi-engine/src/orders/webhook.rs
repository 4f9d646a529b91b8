//! The shops' signed order webhook, `POST /webhooks/orders/{key}`.
//!
//! The shop signs each post with its integration's secret:
//!
//! ```text
//! X-Koi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//! ```
//!
//! koi answers 401 with a stable code and changes nothing when the header
//! is missing or malformed (`bad_signature`), the signature does not verify
//! (`bad_signature`) or `t` is more than [`WEBHOOK_WINDOW_S`] from koi's
//! clock (`stale_timestamp`: a captured post cannot be replayed later). An
//! unknown or switched-off integration is `unknown_integration` (401 too:
//! the key in the URL is not proof of anything). The body is
//! `{"event":"order","order":{…}}` or
//! `{"event":"refund","shop_order_id":"…","refund":{…}}`.

use super::ingest::{ingest_in, refund_in, IngestOutcome, OrderSource, RefundOutcome};
use crate::{Engine, EngineError, Result};
use koi_domain::order::{OrderDraft, RefundDraft};
use koi_store::now_ms;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "x-koi-signature";
/// How far a post's timestamp may be from koi's clock, either way.
pub const WEBHOOK_WINDOW_S: i64 = 300;

/// HMAC-SHA256 (RFC 2104) with a 64-byte block.
fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for m in msg {
        inner.update(m);
    }
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The header value a shop sends for `body` at `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: i64, body: &[u8]) -> String {
    let t = timestamp_s.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(mac))
}

fn bad(code: &'static str, message: &str) -> EngineError {
    EngineError::BadSignature { code, message: message.into() }
}

/// Checks a post's signature header against `secret` at `now_s`.
pub(crate) fn verify(secret: &str, header: &str, body: &[u8], now_s: i64) -> Result<()> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(bad("bad_signature", "X-Koi-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>"));
    };
    let want = hmac_sha256(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
    // Constant time: every byte is compared whatever the first difference.
    let same = v1.len() == want.len() && v1.iter().zip(want.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err(bad("bad_signature", "the signature does not match the body and the integration's secret"));
    }
    if (now_s - t).abs() > WEBHOOK_WINDOW_S {
        return Err(bad("stale_timestamp", "the signature's timestamp is more than 5 minutes from koi's clock"));
    }
    Ok(())
}

/// A webhook post's body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WebhookEvent {
    Order { order: OrderDraft },
    Refund { shop_order_id: String, refund: RefundDraft },
}

/// What a webhook post did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WebhookOutcome {
    Order(IngestOutcome),
    Refund(RefundOutcome),
}

impl Engine {
    /// Takes a shop's signed post: verifies it before reading it, then
    /// ingests the order or the refund in one transaction.
    pub async fn receive_order_webhook(&self, key: &str, signature: &str, body: &[u8]) -> Result<WebhookOutcome> {
        let unknown = || bad("unknown_integration", "no active order integration has this key");
        let mut tx = self.db.begin().await?;
        let integration = tx.integration_by_key(key, self.db.master_key()).await?.ok_or_else(unknown)?;
        if !integration.active {
            return Err(unknown());
        }
        verify(&integration.secret, signature, body, now_ms() / 1000)?;
        let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| {
            EngineError::Invalid(koi_domain::ValidationError::one("body", "bad_json", format!("the body: {e}")))
        })?;
        let corp_id = integration.corp_id;
        let outcome = match event {
            WebhookEvent::Order { order } => {
                let o = order.validate(now_ms())?;
                WebhookOutcome::Order(ingest_in(&mut tx, corp_id, &o, OrderSource::Webhook(integration.id)).await?)
            }
            WebhookEvent::Refund { shop_order_id, refund } => {
                let r = refund.validate()?;
                WebhookOutcome::Refund(refund_in(&mut tx, corp_id, shop_order_id.trim(), &r).await?)
            }
        };
        if integration.last_used_at.is_none_or(|t| now_ms() - t > 60_000) {
            tx.touch_integration(integration.id, now_ms()).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: key "Jefe".
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(&[0xaa; 131], &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn a_signature_verifies_only_with_its_body_secret_and_time() {
        let body = br#"{"event":"order"}"#;
        let h = sign("s3cret", 1_000_000, body);
        assert!(verify("s3cret", &h, body, 1_000_000 + WEBHOOK_WINDOW_S).is_ok());
        let code = |r: Result<()>| match r {
            Err(EngineError::BadSignature { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(verify("other", &h, body, 1_000_000)), "bad_signature");
        assert_eq!(code(verify("s3cret", &h, b"{}", 1_000_000)), "bad_signature");
        assert_eq!(code(verify("s3cret", &h, body, 1_000_000 + WEBHOOK_WINDOW_S + 1)), "stale_timestamp");
        assert_eq!(code(verify("s3cret", "v1=00", body, 1_000_000)), "bad_signature");
        let moved = h.replace("t=1000000", "t=1000001");
        assert_eq!(code(verify("s3cret", &moved, body, 1_000_000)), "bad_signature", "the time is signed");
    }
}
