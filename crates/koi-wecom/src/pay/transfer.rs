//! 企业付款到零钱: `mmpaymkttransfers/promotion/transfers` pays one amount
//! from the merchant's balance into a WeChat user's change (an `openid`
//! under `mch_appid`; for WeCom customers the one `convert_to_openid`
//! gives under the corp's CorpID).
//!
//! WeChat's rules: at least ¥0.30 a payment (AMOUNT_LIMIT below), a
//! per-payment and per-user daily limit the merchant sets (¥200 and 10
//! payments by default: AMOUNT_LIMIT, SENDNUM_LIMIT, MONEY_LIMIT), NOTENOUGH
//! over the balance. The same `partner_trade_no` again answers the first
//! outcome and never pays twice; with other details it is FATAL_ERROR.
//!
//! Unlike the red packet, the field names are `mch_appid` and `mchid`, and a
//! success carries no `sign` (WeChat relies on the TLS channel): one that
//! does is checked, one that does not is taken as it is.

use super::{wire, Merchant, PayClient, PayError, PayFields};

/// The API's name under `mmpaymkttransfers/`.
pub const TRANSFER_API: &str = "promotion/transfers";
/// Longest `partner_trade_no` WeChat Pay takes.
pub const MAX_TRADE_NO_LEN: usize = 32;
/// WeChat's smallest transfer: ¥0.30.
pub const MIN_TRANSFER_FEN: i64 = 30;

/// One transfer to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferRequest {
    /// The idempotency key: ≤32 letters and digits, the same on every retry.
    pub partner_trade_no: String,
    pub openid: String,
    pub amount: i64,
    /// What the user sees (≤100 characters), required.
    pub desc: String,
}

/// A transfer WeChat Pay made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transferred {
    pub partner_trade_no: String,
    /// WeChat's id of the payment (微信付款单号).
    pub payment_no: String,
    /// `YYYY-MM-DD HH:MM:SS`, Beijing time.
    pub payment_time: String,
}

/// Whether `no` is one WeChat Pay takes: 1–32 ASCII letters and digits.
pub fn valid_trade_no(no: &str) -> bool {
    !no.is_empty() && no.len() <= MAX_TRADE_NO_LEN && no.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl TransferRequest {
    /// The request's fields for `merchant` (without `nonce_str` and `sign`).
    pub fn fields(&self, merchant: &Merchant) -> PayFields {
        let mut f = PayFields::new();
        f.insert("mch_appid".into(), merchant.wxappid.clone());
        f.insert("mchid".into(), merchant.mch_id.clone());
        f.insert("partner_trade_no".into(), self.partner_trade_no.clone());
        f.insert("openid".into(), self.openid.clone());
        f.insert("check_name".into(), "NO_CHECK".into());
        f.insert("amount".into(), self.amount.to_string());
        f.insert("desc".into(), self.desc.clone());
        f
    }
}

/// The `err_code`s of transfers, by what follows. SEND_FAILED and
/// SYSTEMERROR leave the outcome open (WeChat: query, or retry with the same
/// number); an unknown code too.
pub fn transfer_kind_of(err_code: &str) -> super::PayErrorKind {
    use super::PayErrorKind::*;
    match err_code {
        "SYSTEMERROR" | "SEND_FAILED" | "FREQ_LIMIT" | "PROCESSING" => RetrySameBillno,
        "NOTENOUGH" | "SENDNUM_LIMIT" | "MONEY_LIMIT" | "MONEYLIMIT" => RetryLater,
        "AMOUNT_LIMIT"
        | "PARAM_ERROR"
        | "OPENID_ERROR"
        | "NAME_MISMATCH"
        | "SIGN_ERROR"
        | "NO_AUTH"
        | "NOAUTH"
        | "XML_ERROR"
        | "FATAL_ERROR"
        | "CA_ERROR"
        | "V2_ACCOUNT_SIMPLE_BAN"
        | "PARAM_IS_NOT_UTF8"
        | "RECV_ACCOUNT_NOT_ALLOWED"
        | "PAY_CHANNEL_NOT_ALLOWED"
        | "ILLEGAL_APPID" => Final,
        _ => RetrySameBillno,
    }
}

impl PayClient {
    /// POST `mmpaymkttransfers/promotion/transfers`. On
    /// [`PayErrorKind::RetrySameBillno`](super::PayErrorKind) call again
    /// with the same request: a transfer already made answers with its
    /// original `payment_no`.
    pub async fn transfer(&self, merchant: &Merchant, req: &TransferRequest) -> Result<Transferred, PayError> {
        const API: &str = TRANSFER_API;
        let mut fields = req.fields(merchant);
        fields.insert("nonce_str".into(), wire::nonce());
        let signature = wire::sign(&fields, &merchant.api_key);
        fields.insert("sign".into(), signature);
        let url = format!("{}/mmpaymkttransfers/{API}", merchant.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(wire::to_xml(&fields))
            .send()
            .await
            .map_err(|e| PayError::http(API, e))?;
        let response = response.error_for_status().map_err(|e| PayError::http(API, e))?;
        let text = response.text().await.map_err(|e| PayError::http(API, e))?;
        let answer = wire::parse(&text).map_err(|_| PayError::Unreadable { api: API, why: "not XML".into() })?;
        let field = |name: &str| answer.get(name).cloned().unwrap_or_default();
        if field("return_code") != "SUCCESS" {
            return Err(PayError::Protocol { api: API, message: field("return_msg") });
        }
        if field("result_code") != "SUCCESS" {
            let message = Some(field("err_code_des")).filter(|m| !m.is_empty()).unwrap_or_else(|| field("return_msg"));
            return Err(PayError::Refused { api: API, err_code: field("err_code"), message });
        }
        if answer.contains_key("sign") && !wire::verify(&answer, &merchant.api_key) {
            return Err(PayError::Unreadable { api: API, why: "the answer's sign does not verify".into() });
        }
        let done = Transferred {
            partner_trade_no: field("partner_trade_no"),
            payment_no: field("payment_no"),
            payment_time: field("payment_time"),
        };
        if done.payment_no.is_empty() || done.partner_trade_no != req.partner_trade_no {
            return Err(PayError::Unreadable { api: API, why: "a success without this transfer's payment_no".into() });
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pay::PayErrorKind;

    #[test]
    fn transfer_errors_sort_by_what_follows() {
        assert_eq!(transfer_kind_of("SYSTEMERROR"), PayErrorKind::RetrySameBillno);
        assert_eq!(transfer_kind_of("SEND_FAILED"), PayErrorKind::RetrySameBillno, "the outcome is open");
        assert_eq!(transfer_kind_of("NOTENOUGH"), PayErrorKind::RetryLater);
        assert_eq!(transfer_kind_of("SENDNUM_LIMIT"), PayErrorKind::RetryLater, "the user's day ends");
        assert_eq!(transfer_kind_of("AMOUNT_LIMIT"), PayErrorKind::Final);
        assert_eq!(transfer_kind_of("OPENID_ERROR"), PayErrorKind::Final);
        assert_eq!(transfer_kind_of("NEW_CODE"), PayErrorKind::RetrySameBillno);
        let e = PayError::Refused { api: TRANSFER_API, err_code: "SENDNUM_LIMIT".into(), message: String::new() };
        assert_eq!(e.kind(), PayErrorKind::RetryLater, "a transfer's error sorts by the transfer's table");
    }

    #[test]
    fn trade_numbers_are_letters_and_digits() {
        assert!(valid_trade_no("koid12x34"));
        assert!(!valid_trade_no(""));
        assert!(!valid_trade_no("koi-1"));
        assert!(!valid_trade_no(&"a".repeat(33)));
    }
}
