//! Receiving WeCom callbacks: URL verification, and events that are
//! verified, decrypted, parsed and appended to the durable inbox once. The
//! answer must reach WeCom within 5 s, so nothing here calls WeCom or does
//! business work (workers do, from the inbox); a repeated delivery (WeCom
//! retries, or a replay) is recognised by the hash of its plaintext and
//! changes nothing.

use crate::cache::TtlCache;
use crate::{Engine, EngineError, Result};
use koi_domain::org::Corp;
use koi_store::inbox::InboxItem;
use koi_store::now_ms;
use koi_wecom::{CallbackCrypto, CallbackEvent, CryptoError};
use std::sync::Arc;
use std::time::Duration;

/// The signed query string WeCom adds to every callback request.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Signed {
    #[serde(default)]
    pub msg_signature: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub nonce: String,
    /// Only on URL verification.
    pub echostr: Option<String>,
}

/// What became of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    Recorded,
    /// Seen before: acknowledged again, nothing changed.
    Duplicate,
}

fn bad(e: CryptoError) -> EngineError {
    EngineError::BadCallback { code: e.code(), message: e.to_string() }
}

/// How long a corp's callback keys are trusted from memory. A changed key
/// is also picked up at once: a callback that fails with the cached keys is
/// tried again with the stored ones.
const KEY_TTL: Duration = Duration::from_secs(30);

/// A corp's callback keys, cached per WeCom CorpID so the hot path does not
/// read the database before it has verified anything.
pub(crate) type KeyCache = TtlCache<String, Arc<CorpKeys>>;

pub(crate) fn key_cache() -> KeyCache {
    TtlCache::new(KEY_TTL)
}

/// A corp and the crypto built from its callback Token and EncodingAESKey.
type CorpKeys = (Corp, CallbackCrypto);

impl Engine {
    async fn callback_crypto(&self, wecom_corp_id: &str, fresh: bool) -> Result<Arc<CorpKeys>> {
        if !fresh {
            if let Some(keys) = self.callback_keys.get(&wecom_corp_id.to_string()) {
                return Ok(keys);
            }
        }
        let corp = self
            .db
            .corp_by_wecom_id(wecom_corp_id)
            .await?
            .ok_or_else(|| EngineError::UnknownCorp(wecom_corp_id.to_string()))?;
        let crypto =
            CallbackCrypto::new(&corp.callback_token, &corp.encoding_aes_key, &corp.wecom_corp_id).map_err(bad)?;
        let keys = Arc::new((corp, crypto));
        self.callback_keys.put(wecom_corp_id.to_string(), keys.clone());
        Ok(keys)
    }

    /// Runs `open` with the cached keys, and once more with the stored ones
    /// if the cached keys fail (the operator may have just changed them).
    async fn with_keys<T>(
        &self,
        wecom_corp_id: &str,
        open: impl Fn(&Corp, &CallbackCrypto) -> std::result::Result<T, CryptoError>,
    ) -> Result<(Arc<CorpKeys>, T)> {
        let keys = self.callback_crypto(wecom_corp_id, false).await?;
        match open(&keys.0, &keys.1) {
            Ok(v) => Ok((keys, v)),
            Err(_) => {
                let keys = self.callback_crypto(wecom_corp_id, true).await?;
                let v = open(&keys.0, &keys.1).map_err(bad)?;
                Ok((keys, v))
            }
        }
    }

    /// Answers WeCom's URL check: the decrypted `echostr`, verbatim.
    pub async fn verify_callback_url(&self, wecom_corp_id: &str, q: &Signed) -> Result<String> {
        let echostr = q.echostr.as_deref().ok_or_else(|| EngineError::BadCallback {
            code: "missing_echostr",
            message: "URL verification needs echostr".into(),
        })?;
        let (_, plain) = self
            .with_keys(wecom_corp_id, |_, c| c.verify_url(&q.msg_signature, &q.timestamp, &q.nonce, echostr))
            .await?;
        Ok(plain)
    }

    /// Verifies, decrypts and parses one event and records it, once.
    pub async fn receive_callback(&self, wecom_corp_id: &str, q: &Signed, body: &str) -> Result<Receipt> {
        let (keys, plaintext) = self
            .with_keys(wecom_corp_id, |_, c| c.decrypt_message(&q.msg_signature, &q.timestamp, &q.nonce, body))
            .await?;
        let corp = &keys.0;
        let event = CallbackEvent::parse(&plaintext)
            .map_err(|e| EngineError::BadCallback { code: e.code(), message: e.to_string() })?;
        let envelope = event.envelope();
        if envelope.corp_id != corp.wecom_corp_id {
            return Err(EngineError::BadCallback {
                code: "corp_mismatch",
                message: format!("event for {} arrived at {}'s URL", envelope.corp_id, corp.wecom_corp_id),
            });
        }
        let item = InboxItem {
            corp_id: corp.id,
            dedup_key: koi_wecom::dedup_key(plaintext.as_bytes()),
            event: format!(
                "{}/{}",
                envelope.event.as_deref().unwrap_or(&envelope.msg_type),
                envelope.change_type.as_deref().unwrap_or("")
            ),
            plaintext,
            received_at: now_ms(),
        };
        let fresh = match &self.inbox {
            Some(writer) => writer.append(item).await.map_err(EngineError::Unavailable)?,
            None => self.db.inbox_append(std::slice::from_ref(&item)).await?.first().copied().unwrap_or(false),
        };
        let receipt = if fresh { Receipt::Recorded } else { Receipt::Duplicate };
        tracing::debug!(corp = corp.id, ?receipt, "callback");
        Ok(receipt)
    }
}
