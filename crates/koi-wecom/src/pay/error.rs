//! What can go wrong when koi pays through WeChat Pay, sorted by what the
//! caller must do next. Money makes the sorting strict: an answer that does
//! not prove the payment failed is never "failed" — it is "retry with the
//! same `mch_billno`", which WeChat Pay turns into the original outcome and
//! never into a second payment.

use std::sync::Arc;

/// What the caller does after a failed payment call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayErrorKind {
    /// The outcome is unknown or the refusal is passing (SYSTEMERROR,
    /// PROCESSING, FREQ_LIMIT, a timeout, the network, an answer koi cannot
    /// read or trust, an err_code koi does not know): call again with the
    /// **same** `mch_billno`, never a new one.
    RetrySameBillno,
    /// Nothing was paid and it can work later, once the operator acts
    /// (NOTENOUGH: fund the merchant account; SENDAMOUNT_LIMIT: the
    /// merchant's daily total, tomorrow).
    RetryLater,
    /// Nothing was paid and this request never will be: a limit of the
    /// user's day, bad parameters, a wrong key or appid, a billno reused
    /// with other details.
    Final,
}

/// A WeChat Pay call that did not end in a result koi can rely on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayError {
    /// WeChat Pay answered `result_code=FAIL` with this `err_code`.
    #[error("wechat pay {api}: {err_code}: {message}")]
    Refused { api: &'static str, err_code: String, message: String },
    /// WeChat Pay answered `return_code=FAIL`: it could not take the
    /// request at all (malformed, unsigned), so nothing was done.
    #[error("wechat pay {api}: return_code FAIL: {message}")]
    Protocol { api: &'static str, message: String },
    /// No answer (connect, timeout, non-200 status). The request may have
    /// reached WeChat Pay and been acted on unless `connect` failed.
    #[error("wechat pay {api}: http: {source}")]
    Http {
        api: &'static str,
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// An answer that is not v2 XML, lacks the fields of a success, or whose
    /// `sign` does not verify: it proves nothing either way.
    #[error("wechat pay {api}: unusable answer: {why}")]
    Unreadable { api: &'static str, why: String },
}

impl PayError {
    pub(crate) fn http(api: &'static str, source: reqwest::Error) -> Self {
        PayError::Http { api, source: Arc::new(source) }
    }

    /// WeChat Pay's `err_code`, when it answered with one.
    pub fn err_code(&self) -> Option<&str> {
        match self {
            PayError::Refused { err_code, .. } => Some(err_code),
            _ => None,
        }
    }

    pub fn kind(&self) -> PayErrorKind {
        match self {
            PayError::Refused { api, err_code, .. } if *api == super::TRANSFER_API => super::transfer_kind_of(err_code),
            PayError::Refused { err_code, .. } => kind_of(err_code),
            PayError::Protocol { .. } => PayErrorKind::Final,
            PayError::Http { .. } | PayError::Unreadable { .. } => PayErrorKind::RetrySameBillno,
        }
    }
}

/// The `err_code`s of `sendworkwxredpack` and `gethbinfo`, by what follows.
/// WeChat Pay's documents say an err_code it adds later must not be taken
/// as a failure (do not change the billno), so an unknown code is a retry
/// with the same billno: safe, and the job's attempts end in a dead letter
/// for a person if it never clears.
pub fn kind_of(err_code: &str) -> PayErrorKind {
    match err_code {
        "SYSTEMERROR" | "PROCESSING" | "FREQ_LIMIT" => PayErrorKind::RetrySameBillno,
        "NOTENOUGH" | "SENDAMOUNT_LIMIT" => PayErrorKind::RetryLater,
        "PARAM_ERROR" | "SIGN_ERROR" | "WORKWX_SIGN_ERROR" | "NO_AUTH" | "ILLEGAL_APPID" | "OPENID_ERROR"
        | "CA_ERROR" | "XML_ERROR" | "API_METHOD_CLOSED" | "FATAL_ERROR" | "SEND_FAILED" | "SENDNUM_LIMIT"
        | "MONEY_LIMIT" | "NOT_FOUND" => PayErrorKind::Final,
        // JSAPI orders and refunds (`jsapi.rs`).
        "ORDERPAID"
        | "ORDERCLOSED"
        | "ORDERNOTEXIST"
        | "INVALID_REQUEST"
        | "TRADE_STATE_ERROR"
        | "APPID_MCHID_NOT_MATCH"
        | "REFUNDNOTEXIST"
        | "OUT_TRADE_NO_USED" => PayErrorKind::Final,
        _ => PayErrorKind::RetrySameBillno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str) -> PayError {
        PayError::Refused { api: "sendworkwxredpack", err_code: code.into(), message: String::new() }
    }

    #[test]
    fn money_errors_sort_by_what_follows() {
        assert_eq!(refused("SYSTEMERROR").kind(), PayErrorKind::RetrySameBillno);
        assert_eq!(refused("FREQ_LIMIT").kind(), PayErrorKind::RetrySameBillno);
        assert_eq!(refused("NOTENOUGH").kind(), PayErrorKind::RetryLater);
        assert_eq!(refused("SENDNUM_LIMIT").kind(), PayErrorKind::Final);
        assert_eq!(refused("MONEY_LIMIT").kind(), PayErrorKind::Final);
        assert_eq!(refused("PARAM_ERROR").kind(), PayErrorKind::Final);
        assert_eq!(refused("FATAL_ERROR").kind(), PayErrorKind::Final);
        assert_eq!(refused("SOMETHING_NEW").kind(), PayErrorKind::RetrySameBillno, "unknown: never a new billno");
        let unreadable = PayError::Unreadable { api: "x", why: "bad sign".into() };
        assert_eq!(unreadable.kind(), PayErrorKind::RetrySameBillno);
        assert_eq!(refused("NOTENOUGH").err_code(), Some("NOTENOUGH"));
        assert!(refused("NOTENOUGH").to_string().contains("NOTENOUGH"));
    }
}
