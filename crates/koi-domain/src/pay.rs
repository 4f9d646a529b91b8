//! WeChat Pay for rewards: what a corp's pay settings and a red packet must
//! be before koi sends anything (WeChat's own limits — ¥1–200 a packet, 10
//! packets and ¥1000 a user a day — are WeChat's to enforce and answer).

use crate::error::Checker;
use crate::ValidationError;

/// Longest `mch_billno` WeChat Pay takes.
pub const MAX_BILLNO_LEN: usize = 28;
/// WeChat's default packet bounds, in fen; outside them a `scene_id` and a
/// raised merchant limit are needed, which koi does not send.
pub const MIN_PACKET_FEN: i64 = 100;
pub const MAX_PACKET_FEN: i64 = 20_000;
pub const MAX_ACT_NAME: usize = 32;
pub const MAX_WISHING: usize = 128;

/// A corp's pay settings as an operator enters them (secrets apart: the
/// draft says only whether each is set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaySettingsDraft {
    pub enabled: bool,
    pub mch_id: String,
    pub wxappid: String,
    pub base_url: String,
    pub act_name: String,
    pub wishing: String,
    pub api_key_set: bool,
    pub workwx_secret_set: bool,
}

impl PaySettingsDraft {
    /// Trims and checks; turned on, everything a packet needs must be there.
    pub fn validate(self) -> Result<PaySettingsDraft, ValidationError> {
        let mut c = Checker::default();
        let mch_id = c.text("mch_id", &self.mch_id, 32, self.enabled);
        if !mch_id.chars().all(|ch| ch.is_ascii_digit()) {
            c.push("mch_id", "invalid_chars", "mch_id is the merchant number: digits only");
        }
        let wxappid = c.ident("wxappid", &self.wxappid, 32, &[]);
        let base_url = c.text("base_url", &self.base_url, 200, false).trim_end_matches('/').to_string();
        if !(base_url.is_empty() || base_url.starts_with("https://") || base_url.starts_with("http://")) {
            c.push("base_url", "invalid_url", "base_url is empty (WeChat Pay) or an http(s):// URL");
        }
        let act_name = c.text("act_name", &self.act_name, MAX_ACT_NAME, self.enabled);
        let wishing = c.text("wishing", &self.wishing, MAX_WISHING, self.enabled);
        if self.enabled && !self.api_key_set {
            c.push("api_key", "required", "the merchant API key is required to turn pay on");
        }
        if self.enabled && !self.workwx_secret_set {
            c.push("workwx_secret", "required", "the 企业支付 app secret is required to turn pay on");
        }
        c.finish(PaySettingsDraft { mch_id, wxappid, base_url, act_name, wishing, ..self })
    }
}

/// Whether `billno` is one WeChat Pay takes: 1–28 ASCII letters and digits.
pub fn valid_billno(billno: &str) -> bool {
    !billno.is_empty() && billno.len() <= MAX_BILLNO_LEN && billno.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks a red packet before it is sent.
pub fn check_red_packet(billno: &str, amount_fen: i64, wishing: &str, act_name: &str) -> Result<(), ValidationError> {
    let mut c = Checker::default();
    if !valid_billno(billno) {
        c.push("billno", "invalid", format!("billno is 1–{MAX_BILLNO_LEN} ASCII letters and digits"));
    }
    if !(MIN_PACKET_FEN..=MAX_PACKET_FEN).contains(&amount_fen) {
        c.push("amount_fen", "out_of_range", format!("a red packet is {MIN_PACKET_FEN}–{MAX_PACKET_FEN} fen"));
    }
    c.text("wishing", wishing, MAX_WISHING, true);
    c.text("act_name", act_name, MAX_ACT_NAME, true);
    c.finish(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> PaySettingsDraft {
        PaySettingsDraft {
            enabled: true,
            mch_id: " 1900000109 ".into(),
            wxappid: "wwabc".into(),
            base_url: "http://127.0.0.1:9/pay/".into(),
            act_name: "老带新".into(),
            wishing: "恭喜发财".into(),
            api_key_set: true,
            workwx_secret_set: true,
        }
    }

    #[test]
    fn settings_turned_on_need_everything() {
        let ok = on().validate().expect("valid");
        assert_eq!((ok.mch_id.as_str(), ok.base_url.as_str()), ("1900000109", "http://127.0.0.1:9/pay"));
        let fields = |d: PaySettingsDraft| -> Vec<String> {
            d.validate().expect_err("invalid").0.into_iter().map(|f| f.field).collect()
        };
        assert_eq!(fields(PaySettingsDraft { api_key_set: false, ..on() }), ["api_key"]);
        assert_eq!(fields(PaySettingsDraft { mch_id: "19x".into(), ..on() }), ["mch_id"]);
        assert_eq!(fields(PaySettingsDraft { base_url: "ftp://x".into(), ..on() }), ["base_url"]);
        assert_eq!(fields(PaySettingsDraft { act_name: "活".repeat(33), ..on() }), ["act_name"]);
        // Turned off, a half-filled form is kept.
        let off = PaySettingsDraft { enabled: false, mch_id: String::new(), api_key_set: false, ..on() };
        assert!(off.validate().is_ok());
    }

    #[test]
    fn red_packets_follow_wechats_defaults() {
        assert!(check_red_packet("koi1x", 100, "恭喜", "活动").is_ok());
        assert!(check_red_packet("koi1x", 20_000, "恭喜", "活动").is_ok());
        assert!(check_red_packet("koi1x", 99, "恭喜", "活动").is_err());
        assert!(check_red_packet("koi1x", 20_001, "恭喜", "活动").is_err());
        assert!(check_red_packet("koi-1", 100, "恭喜", "活动").is_err());
        assert!(check_red_packet(&"1".repeat(29), 100, "恭喜", "活动").is_err());
        assert!(check_red_packet("koi1", 100, "", "活动").is_err());
    }
}
