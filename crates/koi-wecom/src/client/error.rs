//! What can go wrong when koi calls WeCom. One flat enum so the engine can
//! decide "retry later", "give up" or "tell the operator" from the variant and
//! the `errcode` alone.

use std::sync::Arc;

use tokio::time::Instant;

use crate::ErrCode;

/// A failed API call. Cheap to clone (the token cache hands the same failure
/// to every caller waiting on one `gettoken`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// WeCom answered with a non-zero `errcode`.
    #[error("wecom {api}: errcode {code}: {message}")]
    Wecom { api: &'static str, code: ErrCode, message: String },
    /// The request never got a WeCom answer (connect, timeout, non-200).
    #[error("wecom {api}: http: {source}")]
    Http {
        api: &'static str,
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// WeCom answered, but not with the JSON shape the contract promises.
    #[error("wecom {api}: cannot decode response: {source}")]
    Decode {
        api: &'static str,
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The rate budget for this API cannot admit the call before the
    /// caller's deadline; the call was not sent.
    #[error("wecom {api}: no budget before the deadline (next slot {:?} after it)", available_at.saturating_duration_since(*deadline))]
    Budget { api: &'static str, available_at: Instant, deadline: Instant },
    /// The caller's deadline passed while waiting for a token or a retry.
    #[error("wecom {api}: deadline passed")]
    Deadline { api: &'static str },
    /// A file WeCom serves (a QR image) is larger than koi reads.
    #[error("wecom {api}: {bytes} bytes or more, at most {max} read")]
    TooLarge { api: &'static str, bytes: u64, max: usize },
}

impl ApiError {
    pub(crate) fn http(api: &'static str, source: reqwest::Error) -> Self {
        Self::Http { api, source: Arc::new(source) }
    }

    pub(crate) fn decode(api: &'static str, source: serde_json::Error) -> Self {
        Self::Decode { api, source: Arc::new(source) }
    }

    /// The endpoint the error came from (`"gettoken"` for token failures).
    pub fn api(&self) -> &'static str {
        match self {
            Self::Wecom { api, .. }
            | Self::Http { api, .. }
            | Self::Decode { api, .. }
            | Self::Budget { api, .. }
            | Self::Deadline { api }
            | Self::TooLarge { api, .. } => api,
        }
    }

    /// The WeCom `errcode`, when WeCom answered with one.
    pub fn code(&self) -> Option<ErrCode> {
        match self {
            Self::Wecom { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the error is WeCom's `code`.
    pub fn is(&self, code: ErrCode) -> bool {
        self.code() == Some(code)
    }

    /// Retrying the same request later cannot succeed: a bad parameter, a
    /// missing permission, a welcome_code already used. Busy, rate limits,
    /// token trouble, "another app is sending" and transport failures are not
    /// final; neither is a missed budget (the call never reached WeCom).
    pub fn is_final(&self) -> bool {
        match self {
            Self::Wecom { code, .. } => {
                !(code.is_busy()
                    || code.is_rate_limited()
                    || code.is_token_error()
                    || *code == ErrCode::WELCOME_SENDING_ELSEWHERE
                    || *code == ErrCode::GROUP_MSG_NOT_READY)
            }
            Self::Decode { .. } | Self::TooLarge { .. } => true,
            Self::Http { .. } | Self::Budget { .. } | Self::Deadline { .. } => false,
        }
    }

    /// The request may have reached WeCom and been acted on although koi has
    /// no answer to show for it: the connection broke after sending, or the
    /// answer was unreadable. A call that is not idempotent (creating a
    /// mass-message task) must not simply be repeated after this.
    pub fn may_have_acted(&self) -> bool {
        match self {
            Self::Http { source, .. } => !source.is_connect(),
            Self::Decode { .. } => true,
            Self::Wecom { .. } | Self::Budget { .. } | Self::Deadline { .. } | Self::TooLarge { .. } => false,
        }
    }

    /// WeCom said the corp or app is over a frequency or concurrency limit.
    pub fn is_rate_limited(&self) -> bool {
        self.code().is_some_and(ErrCode::is_rate_limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wecom(code: i64) -> ApiError {
        ApiError::Wecom { api: "send_welcome_msg", code: ErrCode(code), message: String::new() }
    }

    #[test]
    fn finality_follows_the_errcode() {
        assert!(wecom(41051).is_final(), "already sent: never retry");
        assert!(wecom(41050).is_final(), "expired welcome_code");
        assert!(!wecom(41096).is_final(), "another app is sending: may retry");
        assert!(!wecom(-1).is_final());
        assert!(!wecom(45009).is_final());
        assert!(!wecom(42001).is_final());
        assert!(wecom(40058).is_final());
        assert_eq!(wecom(41051).code(), Some(ErrCode::WELCOME_ALREADY_SENT));
        assert!(wecom(45033).is_rate_limited());
        assert_eq!(wecom(1).api(), "send_welcome_msg");
    }

    #[test]
    fn display_carries_the_errcode() {
        let text = wecom(40096).to_string();
        assert!(text.contains("40096"), "{text}");
    }
}
