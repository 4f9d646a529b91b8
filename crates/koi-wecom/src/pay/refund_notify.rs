//! The refund result notification (退款结果通知): when a refund asked for
//! with a `notify_url` ends, WeChat Pay POSTs `<xml>` with `return_code`,
//! `appid`, `mch_id`, `nonce_str` and `req_info`, and retries until the
//! merchant answers SUCCESS. Unlike the payment notification it carries no
//! `sign`: `req_info` is the whole message, encrypted, and only the
//! merchant's key opens it —
//!
//! `req_info = base64(AES-256-ECB(PKCS#7, key = lowercase hex MD5 of the API key))`
//!
//! of a `<root>` of `transaction_id`, `out_trade_no`, `refund_id`,
//! `out_refund_no`, `total_fee`, `refund_fee`, `settlement_refund_fee`,
//! `refund_status` (SUCCESS, CHANGE: abnormal, REFUNDCLOSE: closed),
//! `success_time`, `refund_recv_accout`, `refund_account` and
//! `refund_request_source`. Decrypting is the authentication, so anything
//! that does not open and read back as that XML is refused. The simulator
//! seals with [`seal_req_info`], koi opens with [`parse_refund_notification`];
//! a fixed vector computed outside Rust keeps both honest.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};

use super::{wire, PayFields};

const BLOCK: usize = 16;

/// A refund notification that opened with the merchant's key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundNotification {
    /// From the clear envelope: which merchant and app it claims to be for.
    pub appid: String,
    pub mch_id: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    /// WeChat Pay's refund number.
    pub refund_id: String,
    /// The merchant's refund number (koi's idempotency key of the refund).
    pub out_refund_no: String,
    pub total_fee: i64,
    pub refund_fee: i64,
    pub settlement_refund_fee: i64,
    /// SUCCESS, CHANGE (abnormal: the money could not reach the customer) or
    /// REFUNDCLOSE (closed).
    pub refund_status: String,
    /// `yyyy-MM-dd HH:mm:ss` (Beijing), when it succeeded.
    pub success_time: String,
    /// Where the money went, e.g. `支付用户零钱`.
    pub refund_recv_accout: String,
    pub refund_account: String,
    pub refund_request_source: String,
}

/// Why a refund notification is not taken. [`code`](Self::code) is what koi
/// logs and answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundNotifyError {
    #[error("not a WeChat Pay refund notification")]
    Unreadable,
    #[error("return_code FAIL: {0}")]
    NotSuccess(String),
    #[error("req_info is not base64 of whole AES blocks")]
    BadBase64,
    /// Sealed with another key, or not sealed at all: proves nothing.
    #[error("req_info does not open with the merchant's key")]
    BadDecryption,
    #[error("req_info lacks {0}")]
    Missing(&'static str),
}

impl RefundNotifyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreadable | Self::NotSuccess(_) | Self::Missing(_) => "bad_notification",
            Self::BadBase64 => "bad_base64",
            Self::BadDecryption => "bad_decryption",
        }
    }
}

fn cipher(api_key: &str) -> aes::Aes256 {
    // The AES key is the 32 ASCII bytes of the lowercase hex digest, not
    // the 16 bytes of the digest itself.
    let hex_key = hex::encode(Md5::digest(api_key.as_bytes()));
    aes::Aes256::new(GenericArray::from_slice(hex_key.as_bytes()))
}

/// `req_info` for `fields`: `<root>` of CDATA fields, PKCS#7, AES-256-ECB
/// under the merchant key's MD5, base64.
pub fn seal_req_info(fields: &PayFields, api_key: &str) -> String {
    let xml = wire::to_xml(fields);
    let inner = xml.strip_prefix("<xml>").and_then(|s| s.strip_suffix("</xml>")).unwrap_or(&xml);
    let mut data = format!("<root>{inner}</root>").into_bytes();
    let pad = BLOCK - data.len() % BLOCK;
    data.extend(std::iter::repeat_n(pad as u8, pad));
    let aes = cipher(api_key);
    for block in data.chunks_exact_mut(BLOCK) {
        aes.encrypt_block(GenericArray::from_mut_slice(block));
    }
    STANDARD.encode(data)
}

/// The fields inside `req_info`, opened with the merchant's key.
pub fn open_req_info(req_info: &str, api_key: &str) -> Result<PayFields, RefundNotifyError> {
    let mut data = STANDARD.decode(req_info.trim()).map_err(|_| RefundNotifyError::BadBase64)?;
    if data.is_empty() || data.len() % BLOCK != 0 {
        return Err(RefundNotifyError::BadBase64);
    }
    if api_key.is_empty() {
        return Err(RefundNotifyError::BadDecryption);
    }
    let aes = cipher(api_key);
    for block in data.chunks_exact_mut(BLOCK) {
        aes.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(*data.last().expect("not empty"));
    if pad == 0 || pad > BLOCK || !data[data.len() - pad..].iter().all(|b| usize::from(*b) == pad) {
        return Err(RefundNotifyError::BadDecryption);
    }
    data.truncate(data.len() - pad);
    let text = String::from_utf8(data).map_err(|_| RefundNotifyError::BadDecryption)?;
    // WeChat's root is `<root>`; the flat reader knows `<xml>`.
    let inner = text.trim().strip_prefix("<root>").and_then(|s| s.strip_suffix("</root>"));
    let inner = inner.ok_or(RefundNotifyError::BadDecryption)?;
    wire::parse(&format!("<xml>{inner}</xml>")).map_err(|_| RefundNotifyError::BadDecryption)
}

/// The whole notification as WeChat Pay POSTs it (the simulator's side).
pub fn refund_notification_fields(appid: &str, mch_id: &str, req_info: String) -> PayFields {
    let mut f = PayFields::new();
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("return_msg".into(), "OK".into());
    f.insert("appid".into(), appid.into());
    f.insert("mch_id".into(), mch_id.into());
    f.insert("nonce_str".into(), wire::nonce());
    f.insert("req_info".into(), req_info);
    f
}

/// Reads a refund notification and opens its `req_info` with the merchant's
/// key. The envelope's `appid`/`mch_id` are returned for the caller to
/// match against the merchant; nothing here is trusted before it opened.
pub fn parse_refund_notification(body: &str, api_key: &str) -> Result<RefundNotification, RefundNotifyError> {
    let f = wire::parse(body).map_err(|_| RefundNotifyError::Unreadable)?;
    let text = |f: &PayFields, k: &str| f.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    if text(&f, "return_code") != "SUCCESS" {
        return Err(RefundNotifyError::NotSuccess(text(&f, "return_msg")));
    }
    let req_info = f.get("req_info").ok_or(RefundNotifyError::Missing("req_info"))?;
    let inner = open_req_info(req_info, api_key)?;
    let fee = |k: &'static str| text(&inner, k).parse::<i64>().map_err(|_| RefundNotifyError::Missing(k));
    let n = RefundNotification {
        appid: text(&f, "appid"),
        mch_id: text(&f, "mch_id"),
        transaction_id: text(&inner, "transaction_id"),
        out_trade_no: text(&inner, "out_trade_no"),
        refund_id: text(&inner, "refund_id"),
        out_refund_no: text(&inner, "out_refund_no"),
        total_fee: fee("total_fee")?,
        refund_fee: fee("refund_fee")?,
        settlement_refund_fee: fee("settlement_refund_fee").unwrap_or_default(),
        refund_status: text(&inner, "refund_status"),
        success_time: text(&inner, "success_time"),
        refund_recv_accout: text(&inner, "refund_recv_accout"),
        refund_account: text(&inner, "refund_account"),
        refund_request_source: text(&inner, "refund_request_source"),
    };
    if n.out_refund_no.is_empty() {
        return Err(RefundNotifyError::Missing("out_refund_no"));
    }
    if n.refund_status.is_empty() {
        return Err(RefundNotifyError::Missing("refund_status"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "simkeysimkeysimkeysimkeysimkey12";

    fn fields(pairs: &[(&str, &str)]) -> PayFields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Computed once with the openssl CLI, not with this code:
    /// `md5sum` of the key above gives `22d7427244df4771c6dbb7e800a4e896`; its 32
    /// ASCII bytes as hex are the AES key, and
    /// `printf %s '<root><out_refund_no><![CDATA[koiR1]]></out_refund_no><refund_fee><![CDATA[990]]></refund_fee><refund_status><![CDATA[SUCCESS]]></refund_status></root>'
    /// | openssl enc -aes-256-ecb -K 3232643734323732343464663437373163366462623765383030613465383936 -nosalt -base64 -A`
    /// (openssl pads with PKCS#7) prints the vector.
    const VECTOR: &str = "IhCSdduviOw79cYO9+7Ztu1OvhenDzZ7ZLEnX5W/hcdWdv70Qvf0jIaTope9VEjbBID9OIOxuGulvbT95eT1EPql0ZIsQyMmpVNJMZU18/IqKLGuX78JqXm10dDrAVhPTOjHLUDQ6zUZR6eNItPHPLBEva/sn8w60OPS5kVk9DNu5M6B+BHUN+aaRjhsX0nB7GRId9rTncg5QSwz9pn2+g==";

    fn vector_fields() -> PayFields {
        fields(&[("out_refund_no", "koiR1"), ("refund_fee", "990"), ("refund_status", "SUCCESS")])
    }

    #[test]
    fn req_info_matches_an_independently_computed_vector() {
        assert_eq!(seal_req_info(&vector_fields(), KEY), VECTOR);
        assert_eq!(open_req_info(VECTOR, KEY), Ok(vector_fields()));
    }

    #[test]
    fn req_info_opens_only_with_the_merchant_key() {
        assert_eq!(open_req_info(VECTOR, "another-key"), Err(RefundNotifyError::BadDecryption));
        assert_eq!(open_req_info(VECTOR, ""), Err(RefundNotifyError::BadDecryption));
        assert_eq!(open_req_info("%%%not base64%%%", KEY), Err(RefundNotifyError::BadBase64));
        assert_eq!(open_req_info(&STANDARD.encode([7u8; 17]), KEY), Err(RefundNotifyError::BadBase64));
        assert_eq!(open_req_info("", KEY), Err(RefundNotifyError::BadBase64));
        // A block flipped in the middle: the padding may survive, the XML does not.
        let mut raw = STANDARD.decode(VECTOR).expect("base64");
        raw[20] ^= 0xff;
        assert_eq!(open_req_info(&STANDARD.encode(raw), KEY), Err(RefundNotifyError::BadDecryption));
    }

    fn notification(status: &str, key: &str) -> String {
        let inner = fields(&[
            ("transaction_id", "4200000001"),
            ("out_trade_no", "koi12"),
            ("refund_id", "50000001"),
            ("out_refund_no", "koiR1"),
            ("total_fee", "1990"),
            ("refund_fee", "990"),
            ("settlement_refund_fee", "990"),
            ("refund_status", status),
            ("success_time", "2026-12-07 12:00:00"),
            ("refund_recv_accout", "支付用户零钱"),
            ("refund_account", "REFUND_SOURCE_UNSETTLED_FUNDS"),
            ("refund_request_source", "API"),
        ]);
        wire::to_xml(&refund_notification_fields("wwcorp", "1900000109", seal_req_info(&inner, key)))
    }

    #[test]
    fn a_notification_reads_back_every_field() {
        let n = parse_refund_notification(&notification("SUCCESS", KEY), KEY).expect("opens");
        assert_eq!((n.appid.as_str(), n.mch_id.as_str()), ("wwcorp", "1900000109"));
        assert_eq!(
            (n.out_trade_no.as_str(), n.out_refund_no.as_str(), n.refund_id.as_str()),
            ("koi12", "koiR1", "50000001")
        );
        assert_eq!((n.total_fee, n.refund_fee, n.settlement_refund_fee), (1990, 990, 990));
        assert_eq!((n.refund_status.as_str(), n.refund_recv_accout.as_str()), ("SUCCESS", "支付用户零钱"));
        assert_eq!(n.success_time, "2026-12-07 12:00:00");
        let change = parse_refund_notification(&notification("CHANGE", KEY), KEY).expect("opens");
        assert_eq!(change.refund_status, "CHANGE");
        assert_eq!(
            parse_refund_notification(&notification("SUCCESS", "forger"), KEY),
            Err(RefundNotifyError::BadDecryption)
        );
        assert_eq!(parse_refund_notification("<xml><a>", KEY), Err(RefundNotifyError::Unreadable));
        let failed =
            notification("SUCCESS", KEY).replace("<return_code><![CDATA[SUCCESS]]>", "<return_code><![CDATA[FAIL]]>");
        assert!(matches!(parse_refund_notification(&failed, KEY), Err(RefundNotifyError::NotSuccess(_))));
        let bare = wire::to_xml(&fields(&[("return_code", "SUCCESS"), ("mch_id", "1900000109")]));
        assert_eq!(parse_refund_notification(&bare, KEY), Err(RefundNotifyError::Missing("req_info")));
    }

    proptest! {
        #[test]
        fn any_fields_survive_sealing(v in "\\PC*", key in "[A-Za-z0-9]{1,40}") {
            let f = fields(&[("out_refund_no", "koiR1"), ("refund_recv_accout", &v)]);
            let sealed = seal_req_info(&f, &key);
            prop_assert_eq!(open_req_info(&sealed, &key), Ok(f));
        }
    }
}
