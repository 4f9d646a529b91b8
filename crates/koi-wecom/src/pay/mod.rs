//! WeChat Pay (微信支付) as koi speaks it: the v2 merchant API's XML, its
//! MD5 signature and WeCom's `workwx_sign` ([`wire`]), the enterprise red
//! packet (`mmpaymkttransfers/sendworkwxredpack`) and its query
//! (`mmpaymkttransfers/gethbinfo`) ([`PayClient`]), and what their errors
//! mean for the caller ([`PayError::kind`]).
//!
//! | file | holds |
//! |---|---|
//! | `wire.rs` | fields, signing, XML in and out (the simulator uses it too) |
//! | `redpack.rs` | the red packet's request, answer and query |
//! | `jsapi.rs` | JSAPI payments: unifiedorder, orderquery, closeorder, refund, refundquery; the payment notification, verified; the parameters for WeixinJSBridge |
//! | `refund_notify.rs` | the refund result notification: `req_info` sealed and opened (AES-256-ECB under the key's MD5) |
//! | `transfer.rs` | 企业付款到零钱 (`promotion/transfers`): commission payouts |
//! | `error.rs` | errors and their kinds: retry with the same billno, retry later, final |
//!
//! Idempotency: a red packet is identified by its `mch_billno` (≤28
//! letters and digits). Sending the same billno again returns the first
//! outcome and never pays twice, so every failure whose outcome is unknown
//! is retried with the same billno ([`PayErrorKind::RetrySameBillno`]).
//!
//! Mutual TLS: WeChat Pay wants the merchant's API certificate on the
//! connection for these calls. The client does not present one yet (the
//! simulator does not ask for it); going live needs the certificate loaded
//! into the `reqwest::Client` passed to [`PayClient::with_http`].
//!
//! JSAPI payments (a customer pays koi's checkout in WeChat) are in
//! `jsapi.rs`: an order is identified by its `out_trade_no`, a refund by its
//! `out_refund_no`, both idempotent the same way as a billno.

mod error;
mod jsapi;
mod redpack;
mod refund_notify;
mod transfer;
pub mod wire;

use std::time::Duration;

pub use error::{kind_of, PayError, PayErrorKind};
pub use jsapi::*;
pub use redpack::*;
pub use refund_notify::*;
pub use transfer::*;
pub use wire::{BadXml, PayFields};

/// WeChat Pay's production API host.
pub const DEFAULT_PAY_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// One merchant account (商户号) as koi pays from it. The secrets are
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Merchant {
    /// WeChat Pay's host, or the simulator's `/pay` prefix (same paths below).
    pub base_url: String,
    pub mch_id: String,
    /// The appid the packets are paid under: for WeCom red packets, the
    /// corp's CorpID.
    pub wxappid: String,
    /// The merchant's v2 API key (商户平台 → API安全): signs `sign`.
    pub api_key: String,
    /// The secret of the corp's 企业支付 app in the WeCom admin console:
    /// signs `workwx_sign`.
    pub workwx_secret: String,
}

impl std::fmt::Debug for Merchant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merchant")
            .field("base_url", &self.base_url)
            .field("mch_id", &self.mch_id)
            .field("wxappid", &self.wxappid)
            .finish_non_exhaustive()
    }
}

/// The process's WeChat Pay client: an HTTP pool; merchants are passed per
/// call, so one client serves every corp.
#[derive(Clone)]
pub struct PayClient {
    http: reqwest::Client,
}

impl PayClient {
    /// A client whose calls give up after `timeout` (an unknown outcome:
    /// retry with the same billno).
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Self::with_http(http))
    }

    /// Use a prepared `reqwest::Client` (the place for the merchant's TLS
    /// client certificate).
    pub fn with_http(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// POSTs `fields` (given a `nonce_str` when they have none) signed to `path` under the merchant's base URL and
    /// reads the answer: `return_code` FAIL is [`PayError::Protocol`],
    /// `result_code` FAIL is [`PayError::Refused`], a success must carry a
    /// `sign` that verifies.
    async fn call(&self, api: &'static str, merchant: &Merchant, fields: PayFields) -> Result<PayFields, PayError> {
        self.call_at(&format!("mmpaymkttransfers/{api}"), api, merchant, fields).await
    }

    /// [`PayClient::call`] at any `path` under the merchant's base URL
    /// (`pay/unifiedorder`, `secapi/pay/refund`).
    async fn call_at(
        &self,
        path: &str,
        api: &'static str,
        merchant: &Merchant,
        mut fields: PayFields,
    ) -> Result<PayFields, PayError> {
        fields.entry("nonce_str".into()).or_insert_with(wire::nonce);
        let signature = wire::sign(&fields, &merchant.api_key);
        fields.insert("sign".into(), signature);
        let url = format!("{}/{path}", merchant.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(wire::to_xml(&fields))
            .send()
            .await
            .map_err(|e| PayError::http(api, e))?;
        let response = response.error_for_status().map_err(|e| PayError::http(api, e))?;
        let text = response.text().await.map_err(|e| PayError::http(api, e))?;
        let answer = wire::parse(&text).map_err(|_| PayError::Unreadable { api, why: "not XML".into() })?;
        let field = |name: &str| answer.get(name).cloned().unwrap_or_default();
        if field("return_code") != "SUCCESS" {
            return Err(PayError::Protocol { api, message: field("return_msg") });
        }
        if field("result_code") != "SUCCESS" {
            let message = Some(field("err_code_des")).filter(|m| !m.is_empty()).unwrap_or_else(|| field("return_msg"));
            return Err(PayError::Refused { api, err_code: field("err_code"), message });
        }
        if !wire::verify(&answer, &merchant.api_key) {
            return Err(PayError::Unreadable { api, why: "the answer's sign does not verify".into() });
        }
        Ok(answer)
    }
}
