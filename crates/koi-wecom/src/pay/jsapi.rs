//! JSAPI payments (公众号/小程序支付): koi asks WeChat Pay for a prepay
//! order (`pay/unifiedorder`), hands the customer's page the signed
//! parameters of `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`
//! ([`jsapi_params`]), learns the outcome from the payment notification
//! ([`parse_notification`], signature checked) or by asking
//! (`pay/orderquery`), closes what was never paid (`pay/closeorder`) and
//! refunds (`secapi/pay/refund`, `pay/refundquery`).
//!
//! Idempotency: `out_trade_no` names an order (the same parameters answer
//! the same `prepay_id`), `out_refund_no` a refund (the same amount answers
//! the first outcome); retry an unknown outcome with the same number.

use super::{wire, Merchant, PayClient, PayError, PayFields};

/// One prepay order to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnifiedOrderRequest {
    /// ≤32 of `[A-Za-z0-9_-|*]`: koi's checkout number.
    pub out_trade_no: String,
    /// What the customer sees on the payment sheet (≤128 bytes).
    pub body: String,
    pub total_fee: i64,
    /// The customer's openid under the merchant's appid.
    pub openid: String,
    /// Where WeChat Pay POSTs the payment notification.
    pub notify_url: String,
    /// The client's address (`spbill_create_ip`).
    pub client_ip: String,
    /// `yyyyMMddHHmmss` (Beijing) after which the order cannot be paid; empty: WeChat's 2 h.
    pub time_expire: String,
    /// Echoed in the notification.
    pub attach: String,
}

/// An order as `orderquery` tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderState {
    pub out_trade_no: String,
    /// SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR.
    pub trade_state: String,
    pub transaction_id: String,
    pub total_fee: i64,
    pub openid: String,
    pub time_end: String,
}

impl OrderState {
    /// Whether the customer's money arrived (a refunded order was paid first).
    pub fn is_paid(&self) -> bool {
        matches!(self.trade_state.as_str(), "SUCCESS" | "REFUND")
    }
}

/// A refund to ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    /// ≤32 of `[A-Za-z0-9_-|*]`: the idempotency key of this refund.
    pub out_refund_no: String,
    /// The order's amount, as paid.
    pub total_fee: i64,
    pub refund_fee: i64,
    /// Shown to the customer.
    pub refund_desc: String,
    /// Where WeChat Pay POSTs the refund result notification; empty: the
    /// one set on the merchant platform, if any.
    pub notify_url: String,
}

/// A refund WeChat Pay took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundAccepted {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: i64,
}

/// The parameters of `getBrandWCPayRequest` (names as WeixinJSBridge wants
/// them), signed with the merchant's key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JsapiParams {
    #[serde(rename = "appId")]
    pub app_id: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// The signed parameters a customer's page passes to WeixinJSBridge for
/// `prepay_id`, at `now_secs`.
pub fn jsapi_params(merchant: &Merchant, prepay_id: &str, now_secs: i64) -> JsapiParams {
    let nonce = wire::nonce();
    let mut f = PayFields::new();
    f.insert("appId".into(), merchant.wxappid.clone());
    f.insert("timeStamp".into(), now_secs.to_string());
    f.insert("nonceStr".into(), nonce.clone());
    f.insert("package".into(), format!("prepay_id={prepay_id}"));
    f.insert("signType".into(), "MD5".into());
    let pay_sign = wire::sign(&f, &merchant.api_key);
    JsapiParams {
        app_id: merchant.wxappid.clone(),
        time_stamp: now_secs.to_string(),
        nonce_str: nonce,
        package: format!("prepay_id={prepay_id}"),
        sign_type: "MD5".into(),
        pay_sign,
    }
}

/// A payment notification whose signature verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayNotification {
    pub mch_id: String,
    pub appid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fee: i64,
    pub openid: String,
    /// SUCCESS: paid. FAIL: the payment failed (nothing arrived).
    pub result_code: String,
    pub time_end: String,
    pub attach: String,
}

/// Why a notification is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("not a WeChat Pay notification")]
    Unreadable,
    #[error("the notification's sign does not verify")]
    BadSign,
    #[error("return_code FAIL: {0}")]
    NotSuccess(String),
}

/// Reads a payment notification and checks its `sign` with the merchant's
/// key. A notification that does not verify proves nothing and must change
/// nothing.
pub fn parse_notification(body: &str, api_key: &str) -> Result<PayNotification, NotifyError> {
    let f = wire::parse(body).map_err(|_| NotifyError::Unreadable)?;
    let text = |k: &str| f.get(k).cloned().unwrap_or_default();
    if text("return_code") != "SUCCESS" {
        return Err(NotifyError::NotSuccess(text("return_msg")));
    }
    if api_key.is_empty() || !wire::verify(&f, api_key) {
        return Err(NotifyError::BadSign);
    }
    let total_fee = text("total_fee").trim().parse().map_err(|_| NotifyError::Unreadable)?;
    let n = PayNotification {
        mch_id: text("mch_id"),
        appid: text("appid"),
        out_trade_no: text("out_trade_no"),
        transaction_id: text("transaction_id"),
        total_fee,
        openid: text("openid"),
        result_code: text("result_code"),
        time_end: text("time_end"),
        attach: text("attach"),
    };
    if n.out_trade_no.is_empty() {
        return Err(NotifyError::Unreadable);
    }
    Ok(n)
}

/// The merchant id a notification claims, read before its key is known
/// (the key is looked up by it, then [`parse_notification`] verifies).
pub fn notification_mch_id(body: &str) -> Option<String> {
    wire::parse(body).ok()?.get("mch_id").cloned()
}

/// What koi answers a notification: SUCCESS stops WeChat's retries; FAIL
/// asks for the notification again later.
pub fn notify_answer(success: bool, message: &str) -> String {
    let mut f = PayFields::new();
    f.insert("return_code".into(), if success { "SUCCESS" } else { "FAIL" }.into());
    f.insert("return_msg".into(), message.into());
    wire::to_xml(&f)
}

/// `yyyyMMddHHmmss` in Beijing time (`time_expire`, `time_end`) of ms since the epoch.
pub fn beijing_compact(ms: i64) -> String {
    let s = ms.div_euclid(1000) + 8 * 3600;
    let (days, secs) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // The civil date of a day number (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn text(f: &PayFields, name: &str) -> String {
    f.get(name).cloned().unwrap_or_default()
}

fn amount(f: &PayFields, name: &str) -> i64 {
    f.get(name).and_then(|v| v.trim().parse().ok()).unwrap_or_default()
}

impl PayClient {
    /// POST `pay/unifiedorder` (`trade_type=JSAPI`): the `prepay_id`.
    pub async fn unified_order(&self, merchant: &Merchant, req: &UnifiedOrderRequest) -> Result<String, PayError> {
        const API: &str = "unifiedorder";
        let mut f = PayFields::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                f.insert(k.to_owned(), v.to_owned());
            }
        };
        put("appid", &merchant.wxappid);
        put("mch_id", &merchant.mch_id);
        put("body", &req.body);
        put("out_trade_no", &req.out_trade_no);
        put("total_fee", &req.total_fee.to_string());
        put("spbill_create_ip", if req.client_ip.is_empty() { "127.0.0.1" } else { &req.client_ip });
        put("notify_url", &req.notify_url);
        put("trade_type", "JSAPI");
        put("openid", &req.openid);
        put("time_expire", &req.time_expire);
        put("attach", &req.attach);
        put("sign_type", "MD5");
        let answer = self.call_at("pay/unifiedorder", API, merchant, f).await?;
        let prepay_id = text(&answer, "prepay_id");
        if prepay_id.is_empty() {
            return Err(PayError::Unreadable { api: API, why: "a success without prepay_id".into() });
        }
        Ok(prepay_id)
    }

    /// POST `pay/orderquery` by `out_trade_no`. Unknown: `Refused` ORDERNOTEXIST.
    pub async fn order_query(&self, merchant: &Merchant, out_trade_no: &str) -> Result<OrderState, PayError> {
        let answer =
            self.call_at("pay/orderquery", "orderquery", merchant, order_fields(merchant, out_trade_no)).await?;
        Ok(OrderState {
            out_trade_no: text(&answer, "out_trade_no"),
            trade_state: text(&answer, "trade_state"),
            transaction_id: text(&answer, "transaction_id"),
            total_fee: amount(&answer, "total_fee"),
            openid: text(&answer, "openid"),
            time_end: text(&answer, "time_end"),
        })
    }

    /// POST `pay/closeorder`: an unpaid order can no longer be paid. An
    /// order closed before is fine (`Ok`); a paid one is `Refused` ORDERPAID.
    pub async fn close_order(&self, merchant: &Merchant, out_trade_no: &str) -> Result<(), PayError> {
        match self.call_at("pay/closeorder", "closeorder", merchant, order_fields(merchant, out_trade_no)).await {
            Ok(_) => Ok(()),
            Err(e) if e.err_code() == Some("ORDERCLOSED") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// POST `secapi/pay/refund`. On an unknown outcome call again with the
    /// same `out_refund_no`.
    pub async fn refund(&self, merchant: &Merchant, req: &RefundRequest) -> Result<RefundAccepted, PayError> {
        const API: &str = "refund";
        let mut f = order_fields(merchant, &req.out_trade_no);
        f.insert("out_refund_no".into(), req.out_refund_no.clone());
        f.insert("total_fee".into(), req.total_fee.to_string());
        f.insert("refund_fee".into(), req.refund_fee.to_string());
        if !req.refund_desc.is_empty() {
            f.insert("refund_desc".into(), req.refund_desc.clone());
        }
        if !req.notify_url.is_empty() {
            f.insert("notify_url".into(), req.notify_url.clone());
        }
        let answer = self.call_at("secapi/pay/refund", API, merchant, f).await?;
        let accepted = RefundAccepted {
            out_refund_no: text(&answer, "out_refund_no"),
            refund_id: text(&answer, "refund_id"),
            refund_fee: amount(&answer, "refund_fee"),
        };
        if accepted.refund_id.is_empty() || accepted.out_refund_no != req.out_refund_no {
            return Err(PayError::Unreadable { api: API, why: "a success without this refund's refund_id".into() });
        }
        Ok(accepted)
    }

    /// POST `pay/refundquery` by `out_refund_no`: (status, fee) of the
    /// first refund listed (SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE).
    pub async fn refund_query(&self, merchant: &Merchant, out_refund_no: &str) -> Result<(String, i64), PayError> {
        let mut f = PayFields::new();
        f.insert("appid".into(), merchant.wxappid.clone());
        f.insert("mch_id".into(), merchant.mch_id.clone());
        f.insert("out_refund_no".into(), out_refund_no.to_owned());
        let answer = self.call_at("pay/refundquery", "refundquery", merchant, f).await?;
        Ok((text(&answer, "refund_status_0"), amount(&answer, "refund_fee_0")))
    }
}

fn order_fields(merchant: &Merchant, out_trade_no: &str) -> PayFields {
    let mut f = PayFields::new();
    f.insert("appid".into(), merchant.wxappid.clone());
    f.insert("mch_id".into(), merchant.mch_id.clone());
    f.insert("out_trade_no".into(), out_trade_no.to_owned());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> Merchant {
        Merchant {
            base_url: "http://127.0.0.1:9/pay".into(),
            mch_id: "1900000109".into(),
            wxappid: "wwcorp".into(),
            api_key: "k".repeat(32),
            workwx_secret: String::new(),
        }
    }

    fn signed(mut f: PayFields, key: &str) -> String {
        let s = wire::sign(&f, key);
        f.insert("sign".into(), s);
        wire::to_xml(&f)
    }

    fn paid() -> PayFields {
        [
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("mch_id", "1900000109"),
            ("appid", "wwcorp"),
            ("out_trade_no", "koi12"),
            ("transaction_id", "4200001"),
            ("total_fee", "1990"),
            ("openid", "oSIM1"),
            ("time_end", "20261207120000"),
            ("nonce_str", "abc"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_notification_is_taken_only_when_its_sign_verifies() {
        let key = "k".repeat(32);
        let n = parse_notification(&signed(paid(), &key), &key).expect("verifies");
        assert_eq!((n.out_trade_no.as_str(), n.total_fee, n.result_code.as_str()), ("koi12", 1990, "SUCCESS"));
        assert_eq!(notification_mch_id(&signed(paid(), &key)).as_deref(), Some("1900000109"));
        assert_eq!(parse_notification(&signed(paid(), "another"), &key), Err(NotifyError::BadSign));
        // A field changed after signing (the amount) breaks it.
        let tampered = signed(paid(), &key).replace("1990", "1");
        assert_eq!(parse_notification(&tampered, &key), Err(NotifyError::BadSign));
        assert_eq!(parse_notification("<xml><a>", &key), Err(NotifyError::Unreadable));
        assert_eq!(parse_notification(&signed(paid(), &key), ""), Err(NotifyError::BadSign), "no key, no trust");
        let mut failed = paid();
        failed.insert("return_code".into(), "FAIL".into());
        assert!(matches!(parse_notification(&signed(failed, &key), &key), Err(NotifyError::NotSuccess(_))));
    }

    #[test]
    fn the_bridge_parameters_are_signed_by_their_own_names() {
        let m = merchant();
        let p = jsapi_params(&m, "wx123", 1_700_000_000);
        assert_eq!((p.package.as_str(), p.sign_type.as_str()), ("prepay_id=wx123", "MD5"));
        let f: PayFields = [
            ("appId", p.app_id.as_str()),
            ("timeStamp", p.time_stamp.as_str()),
            ("nonceStr", p.nonce_str.as_str()),
            ("package", p.package.as_str()),
            ("signType", "MD5"),
            ("paySign", p.pay_sign.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut check = f.clone();
        check.remove("paySign");
        assert_eq!(wire::sign(&check, &m.api_key), p.pay_sign);
        let v = serde_json::to_value(&p).expect("json");
        assert!(v["appId"].is_string() && v["paySign"].is_string());
    }

    #[test]
    fn beijing_time_is_eight_hours_ahead() {
        // 2024-02-29 16:30:05 UTC is 2024-03-01 00:30:05 in Beijing.
        assert_eq!(beijing_compact(1_709_224_205_000), "20240301003005");
    }

    #[test]
    fn answers_to_a_notification_are_v2_xml() {
        let ok = wire::parse(&notify_answer(true, "OK")).expect("xml");
        assert_eq!(ok.get("return_code").map(String::as_str), Some("SUCCESS"));
        let no = wire::parse(&notify_answer(false, "签名失败")).expect("xml");
        assert_eq!(no.get("return_code").map(String::as_str), Some("FAIL"));
    }
}
