//! The enterprise red packet (企业红包): `sendworkwxredpack` pays one
//! packet to one WeChat user (an `openid` from WeCom's
//! `externalcontact/convert_to_openid`), and `gethbinfo` reads a packet back
//! by its `mch_billno`.
//!
//! WeChat's defaults: a packet is ¥1–200 (100–20000 fen; outside that
//! `scene_id` is required and the merchant must have raised its limits), a
//! user receives at most 10 packets and ¥1000 a day.

use super::{wire, Merchant, PayClient, PayError, PayFields};

/// Longest `mch_billno` WeChat Pay takes.
pub const MAX_BILLNO_LEN: usize = 28;

/// One red packet to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendWorkwxRedpackRequest {
    /// The idempotency key: ≤28 ASCII letters and digits, the same on
    /// every retry of the same packet.
    pub mch_billno: String,
    pub re_openid: String,
    pub total_amount: i64,
    /// ≤128 characters.
    pub wishing: String,
    /// ≤32 characters.
    pub act_name: String,
    /// ≤256 characters; optional.
    pub remark: String,
    /// Shown as the sender (个人名义); optional.
    pub sender_name: String,
    /// `PRODUCT_1`…`PRODUCT_8`: required by WeChat outside ¥1–200.
    pub scene_id: String,
}

/// A packet WeChat Pay accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedpackSent {
    pub mch_billno: String,
    pub re_openid: String,
    pub total_amount: i64,
    /// WeChat's id of the packet (红包订单的微信单号).
    pub send_listid: String,
}

/// A packet as `gethbinfo` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbInfo {
    pub mch_billno: String,
    /// WeChat's id of the packet (the `send_listid` of the send).
    pub detail_id: String,
    /// SENDING, SENT, FAILED, RECEIVED, RFUND_ING, REFUND.
    pub status: String,
    pub total_amount: i64,
    /// Why it failed, when it did.
    pub reason: String,
    /// `YYYY-MM-DD HH:MM:SS`, Beijing time.
    pub send_time: String,
}

/// Whether `billno` is one WeChat Pay takes: 1–28 ASCII letters and digits.
pub fn valid_billno(billno: &str) -> bool {
    !billno.is_empty() && billno.len() <= MAX_BILLNO_LEN && billno.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl SendWorkwxRedpackRequest {
    /// The request's fields for `merchant`, with `workwx_sign` (without
    /// `nonce_str` and `sign`, which the call adds). `nonce` is part of
    /// `workwx_sign`, so it is chosen here.
    pub fn fields(&self, merchant: &Merchant, nonce: &str) -> PayFields {
        let mut f = PayFields::new();
        let mut put = |k: &str, v: String| {
            if !v.is_empty() {
                f.insert(k.to_owned(), v);
            }
        };
        put("mch_billno", self.mch_billno.clone());
        put("mch_id", merchant.mch_id.clone());
        put("wxappid", merchant.wxappid.clone());
        put("re_openid", self.re_openid.clone());
        put("total_amount", self.total_amount.to_string());
        put("wishing", self.wishing.clone());
        put("act_name", self.act_name.clone());
        put("remark", self.remark.clone());
        put("sender_name", self.sender_name.clone());
        put("scene_id", self.scene_id.clone());
        put("nonce_str", nonce.to_owned());
        let workwx = wire::workwx_sign(&f, &merchant.workwx_secret);
        f.insert("workwx_sign".into(), workwx);
        f
    }
}

fn amount(f: &PayFields, name: &str) -> i64 {
    f.get(name).and_then(|v| v.trim().parse().ok()).unwrap_or_default()
}

fn text(f: &PayFields, name: &str) -> String {
    f.get(name).cloned().unwrap_or_default()
}

impl PayClient {
    /// POST `mmpaymkttransfers/sendworkwxredpack`. On
    /// [`PayErrorKind::RetrySameBillno`](super::PayErrorKind) call again with
    /// the same request: a packet already paid answers with its original
    /// `send_listid`.
    pub async fn send_workwx_redpack(
        &self,
        merchant: &Merchant,
        req: &SendWorkwxRedpackRequest,
    ) -> Result<RedpackSent, PayError> {
        const API: &str = "sendworkwxredpack";
        let answer = self.call(API, merchant, req.fields(merchant, &wire::nonce())).await?;
        let sent = RedpackSent {
            mch_billno: text(&answer, "mch_billno"),
            re_openid: text(&answer, "re_openid"),
            total_amount: amount(&answer, "total_amount"),
            send_listid: text(&answer, "send_listid"),
        };
        if sent.send_listid.is_empty() || sent.mch_billno != req.mch_billno {
            return Err(PayError::Unreadable { api: API, why: "a success without this packet's send_listid".into() });
        }
        Ok(sent)
    }

    /// POST `mmpaymkttransfers/gethbinfo` (`bill_type=MCHT`): the packet
    /// with this billno. Unknown billno → `Refused` with `NOT_FOUND`.
    pub async fn get_hb_info(&self, merchant: &Merchant, mch_billno: &str) -> Result<HbInfo, PayError> {
        let mut f = PayFields::new();
        f.insert("mch_billno".into(), mch_billno.to_owned());
        f.insert("mch_id".into(), merchant.mch_id.clone());
        f.insert("appid".into(), merchant.wxappid.clone());
        f.insert("bill_type".into(), "MCHT".into());
        let answer = self.call("gethbinfo", merchant, f).await?;
        Ok(HbInfo {
            mch_billno: text(&answer, "mch_billno"),
            detail_id: text(&answer, "detail_id"),
            status: text(&answer, "status"),
            total_amount: amount(&answer, "total_amount"),
            reason: text(&answer, "reason"),
            send_time: text(&answer, "send_time"),
        })
    }
}
