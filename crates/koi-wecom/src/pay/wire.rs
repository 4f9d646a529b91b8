//! WeChat Pay v2's wire format, shared by koi's client and the simulator so
//! both sides agree by construction: a flat `<xml>` of fields, signed with
//! MD5 over the fields sorted by name (`k=v&…&key=API_KEY`, uppercase hex),
//! and WeCom's extra `workwx_sign` over a fixed few fields
//! (`…&secret=PAY_APP_SECRET`).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use rand::Rng as _;

/// A v2 message: field name → value, in name order (the order signing uses).
pub type PayFields = BTreeMap<String, String>;

/// The fields `workwx_sign` covers on `sendworkwxredpack` (WeCom's
/// "企业微信签名算法"); every other field is signed by `sign` only.
pub const REDPACK_WORKWX_FIELDS: [&str; 7] =
    ["act_name", "mch_billno", "mch_id", "nonce_str", "re_openid", "total_amount", "wxappid"];

/// `sign`: every non-empty field but `sign` itself, sorted by name, as
/// `k=v` joined by `&`, then `&key=API_KEY`; MD5, uppercase hex. Values are
/// signed as they are (UTF-8, not URL-encoded).
pub fn sign(fields: &PayFields, api_key: &str) -> String {
    let mut text = joined(fields.iter().filter(|(k, _)| k.as_str() != "sign"));
    text.push_str("&key=");
    text.push_str(api_key);
    md5_upper(&text)
}

/// `workwx_sign`: the [`REDPACK_WORKWX_FIELDS`] that are not empty, sorted,
/// as `k=v&…`, then `&secret=SECRET` (the secret of the corp's 企业支付 app
/// in the WeCom admin console); MD5, uppercase hex.
pub fn workwx_sign(fields: &PayFields, secret: &str) -> String {
    let mut text = joined(fields.iter().filter(|(k, _)| REDPACK_WORKWX_FIELDS.contains(&k.as_str())));
    text.push_str("&secret=");
    text.push_str(secret);
    md5_upper(&text)
}

/// Whether `fields` carry a `sign` that matches `api_key`. Compared in
/// constant time: a signature is a secret-derived value.
pub fn verify(fields: &PayFields, api_key: &str) -> bool {
    let Some(given) = fields.get("sign") else { return false };
    constant_time_eq(given.as_bytes(), sign(fields, api_key).as_bytes())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn joined<'a>(fields: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    let mut text = String::new();
    for (k, v) in fields.filter(|(_, v)| !v.is_empty()) {
        if !text.is_empty() {
            text.push('&');
        }
        text.push_str(k);
        text.push('=');
        text.push_str(v);
    }
    text
}

fn md5_upper(text: &str) -> String {
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

/// A fresh `nonce_str`: 32 letters and digits.
pub fn nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..32).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// `<xml><k><![CDATA[v]]></k>…</xml>`. A value holding `]]>` is split over
/// two CDATA sections, so any text survives the trip.
pub fn to_xml(fields: &PayFields) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push('<');
        out.push_str(k);
        out.push_str("><![CDATA[");
        out.push_str(&v.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]></");
        out.push_str(k);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

/// The input is not a v2 XML message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a WeChat Pay XML message")]
pub struct BadXml;

/// Reads a v2 message: the root's leaf fields (deeper lists such as
/// `gethbinfo`'s `hblist` are read as their text only). A repeated field
/// keeps its first value.
pub fn parse(xml: &str) -> Result<PayFields, BadXml> {
    let fields = crate::xml::parse(xml).map_err(|_| BadXml)?;
    let mut out = PayFields::new();
    for f in fields.entries() {
        out.entry(f.name.clone()).or_insert_with(|| f.text.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(pairs: &[(&str, &str)]) -> PayFields {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// WeChat Pay's own worked example of the signing algorithm (its
    /// "签名算法" page): the inputs and the MD5 it prints.
    #[test]
    fn sign_matches_the_documented_example() {
        let f = fields(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]);
        assert_eq!(sign(&f, "192006250b4c09247ec02edce69f6a2d"), "9A0A8659F005D6984697E2CA0A9CF3B7");
    }

    /// koi's own vector, computed independently (Python's hashlib over the
    /// string written out below) for WeCom's workwx_sign example fields:
    /// md5("act_name=XXX&mch_billno=11111234567890&mch_id=10000098&
    /// nonce_str=qFKEgfig76DF9912fewmkp&re_openid=oxTWIuGaIt6gTKsQRLau2M0yL16E&
    /// total_amount=100&wxappid=wx123456789&secret=koi-test-secret").
    /// Fields outside the fixed seven (wishing, remark, sign) do not count.
    #[test]
    fn workwx_sign_covers_the_fixed_fields_only() {
        let mut f = fields(&[
            ("act_name", "XXX"),
            ("mch_billno", "11111234567890"),
            ("mch_id", "10000098"),
            ("nonce_str", "qFKEgfig76DF9912fewmkp"),
            ("re_openid", "oxTWIuGaIt6gTKsQRLau2M0yL16E"),
            ("total_amount", "100"),
            ("wxappid", "wx123456789"),
        ]);
        assert_eq!(workwx_sign(&f, "koi-test-secret"), "24E0B3D30D6CD0276A9831CDF078B6BB");
        f.insert("wishing".into(), "恭喜发财".into());
        f.insert("sign".into(), "ANYTHING".into());
        assert_eq!(workwx_sign(&f, "koi-test-secret"), "24E0B3D30D6CD0276A9831CDF078B6BB");
    }

    /// A whole request as koi sends it, Chinese text included (signed as
    /// UTF-8 bytes, not URL-encoded); the expected value is md5 of
    /// "act_name=裂变活动&mch_billno=koi1x2&mch_id=1900000109&nonce_str=abc&
    /// re_openid=oSIM&total_amount=888&wishing=恭喜发财&workwx_sign=W&
    /// wxappid=wwsimcorp0000001&key=simkeysimkeysimkeysimkeysimkey12",
    /// computed with Python's hashlib. Empty fields and `sign` are left out.
    #[test]
    fn sign_covers_every_nonempty_field_but_sign() {
        let f = fields(&[
            ("act_name", "裂变活动"),
            ("mch_billno", "koi1x2"),
            ("mch_id", "1900000109"),
            ("nonce_str", "abc"),
            ("re_openid", "oSIM"),
            ("total_amount", "888"),
            ("wishing", "恭喜发财"),
            ("workwx_sign", "W"),
            ("wxappid", "wwsimcorp0000001"),
            ("remark", ""),
            ("sign", "OLD"),
        ]);
        assert_eq!(sign(&f, "simkeysimkeysimkeysimkeysimkey12"), SIGNED_REQUEST);
        let mut signed = f.clone();
        signed.insert("sign".into(), SIGNED_REQUEST.into());
        assert!(verify(&signed, "simkeysimkeysimkeysimkeysimkey12"));
        assert!(!verify(&signed, "another-key"));
        signed.insert("total_amount".into(), "889".into());
        assert!(!verify(&signed, "simkeysimkeysimkeysimkeysimkey12"), "a changed amount breaks the signature");
    }

    const SIGNED_REQUEST: &str = "E68E8B973512D24C365BCC288F56BE54";

    #[test]
    fn xml_round_trips_and_reads_wechat_answers() {
        let answer = "<xml>\n<return_code><![CDATA[SUCCESS]]></return_code>\n<result_code><![CDATA[FAIL]]></result_code>\n<err_code><![CDATA[SYSTEMERROR]]></err_code>\n<total_amount>100</total_amount>\n<hblist><hbinfo><openid><![CDATA[o1]]></openid></hbinfo></hblist>\n</xml>";
        let f = parse(answer).expect("a WeChat answer parses");
        assert_eq!(f.get("err_code").map(String::as_str), Some("SYSTEMERROR"));
        assert_eq!(f.get("total_amount").map(String::as_str), Some("100"));
        assert!(parse("<xml><a>").is_err());
        assert!(parse("not xml").is_err());
    }

    proptest! {
        #[test]
        fn any_text_survives_to_xml_and_back(v in "\\PC*", w in ".*\\]\\]>.*") {
            let f = fields(&[("a", &v), ("b", &w)]);
            let back = parse(&to_xml(&f)).expect("what to_xml writes parses");
            prop_assert_eq!(back, f);
        }
    }
}
