//! Callback crypto (WXBizMsgCrypt): the signature, AES and framing that every
//! WeCom callback goes through, in both directions. koi's web layer uses it to
//! verify the callback URL and open event POSTs; the simulator uses it to seal
//! them, so a bug here cannot hide behind a matching bug on the other side.
//!
//! See `shared/wecom/CONTRACT.md` §2; the official known-answer vectors are the
//! tests below.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand::RngCore as _;
use sha1::{Digest as _, Sha1};

use crate::xml;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The official EncodingAESKeys decode with non-zero trailing bits, which the
/// strict STANDARD engine rejects; WeCom's own SDKs ignore those bits.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// WeCom pads to 32 bytes, not to the AES block size, so the `cbc` crate's
/// PKCS#7 (16) cannot be used.
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;
const ENCODING_AES_KEY_LEN: usize = 43;

/// Why a callback could not be verified or opened. Each variant maps to a
/// stable [`code`](CryptoError::code) for logs and API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("EncodingAESKey must be 43 base64 characters decoding to 32 bytes")]
    BadKey,
    #[error("msg_signature does not match")]
    BadSignature,
    #[error("ciphertext is not valid base64")]
    BadBase64,
    #[error("ciphertext is empty or not a whole number of AES blocks")]
    BadCiphertext,
    #[error("plaintext padding is invalid")]
    BadPadding,
    #[error("plaintext length field does not fit the message")]
    BadLength,
    #[error("receiveid in the message is not this app's")]
    ReceiveIdMismatch,
    #[error("message is not valid UTF-8")]
    BadUtf8,
    #[error("callback body is not an <xml> envelope with an Encrypt field")]
    BadEnvelope,
}

impl CryptoError {
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::BadKey => "bad_key",
            CryptoError::BadSignature => "bad_signature",
            CryptoError::BadBase64 => "bad_base64",
            CryptoError::BadCiphertext => "bad_ciphertext",
            CryptoError::BadPadding => "bad_padding",
            CryptoError::BadLength => "bad_length",
            CryptoError::ReceiveIdMismatch => "receive_id_mismatch",
            CryptoError::BadUtf8 => "bad_utf8",
            CryptoError::BadEnvelope => "bad_envelope",
        }
    }
}

/// The outer XML of an event POST, read before anything is decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedEnvelope {
    to_user_name: Option<String>,
    encrypt: String,
    agent_id: Option<String>,
}

impl EncryptedEnvelope {
    /// Parses `<xml><ToUserName/><Encrypt/><AgentID/></xml>`; only `Encrypt`
    /// is required.
    pub fn parse(body: &str) -> Result<Self, CryptoError> {
        let fields = xml::parse(body).map_err(|_| CryptoError::BadEnvelope)?;
        let encrypt = fields
            .text("Encrypt")
            // Not trimmed: the signature covers the exact text.
            .filter(|e| !e.trim().is_empty())
            .ok_or(CryptoError::BadEnvelope)?
            .to_owned();
        let non_empty = |name| fields.text(name).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        Ok(Self { to_user_name: non_empty("ToUserName"), encrypt, agent_id: non_empty("AgentID") })
    }

    /// The CorpID the callback is addressed to, so the web layer can pick the
    /// corp (and its token and key) before decrypting. Unauthenticated until
    /// the signature is verified.
    pub fn to_user_name(&self) -> Option<&str> {
        self.to_user_name.as_deref()
    }

    pub fn encrypt(&self) -> &str {
        &self.encrypt
    }

    /// WeCom sends an empty AgentID for some events; that reads as `None`.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }
}

/// One app's callback settings: the Token, the EncodingAESKey and the
/// receiveid (the CorpID for a corp's own app).
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl std::fmt::Debug for CallbackCrypto {
    // Token and key are secrets; keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCrypto").field("receive_id", &self.receive_id).finish_non_exhaustive()
    }
}

impl CallbackCrypto {
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(CryptoError::BadKey);
        }
        let decoded = LENIENT.decode(format!("{encoding_aes_key}=")).map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self { token: token.to_owned(), key, receive_id: receive_id.to_owned() })
    }

    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// `hex(sha1(sorted(token, timestamp, nonce, encrypt).concat()))`.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        hex::encode(sha.finalize())
    }

    /// Compares in constant time so the signature cannot be guessed byte by
    /// byte from response timings.
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if constant_time_eq(expected.as_bytes(), msg_signature.as_bytes()) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Opens a base64 ciphertext and returns the message, after checking the
    /// padding, the length field and the receiveid. Does not check any
    /// signature: use [`verify_url`](Self::verify_url) or
    /// [`decrypt_message`](Self::decrypt_message) for input from the network.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        let plain = self.aes_decrypt(encrypt_b64)?;
        let body = strip_padding(&plain)?;
        let msg = self.unframe(body)?;
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadUtf8)
    }

    /// Seals a message with the given 16 random bytes; deterministic, for
    /// known-answer tests and the simulator's replayable runs.
    pub fn encrypt_with_random(&self, msg: &str, random: &[u8; 16]) -> String {
        self.seal(msg.as_bytes(), random)
    }

    pub fn encrypt(&self, msg: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        self.encrypt_with_random(msg, &random)
    }

    /// URL verification (the GET WeCom sends when the callback URL is saved):
    /// verifies and returns the plaintext to echo back as the whole body.
    /// `echostr` must already be URL-decoded; note that form-style decoding
    /// turns `+` into a space and breaks the base64.
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, CryptoError> {
        self.verify_signature(msg_signature, timestamp, nonce, echostr)?;
        self.decrypt(echostr)
    }

    /// Opens an event POST: parses the envelope, verifies the signature over
    /// its `Encrypt` field and returns the decrypted event XML.
    pub fn decrypt_message(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        post_body_xml: &str,
    ) -> Result<String, CryptoError> {
        let envelope = EncryptedEnvelope::parse(post_body_xml)?;
        self.verify_signature(msg_signature, timestamp, nonce, envelope.encrypt())?;
        self.decrypt(envelope.encrypt())
    }

    /// The encrypted passive reply to an event POST.
    pub fn encrypt_reply(&self, msg: &str, timestamp: &str, nonce: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        self.encrypt_reply_with_random(msg, timestamp, nonce, &random)
    }

    pub fn encrypt_reply_with_random(&self, msg: &str, timestamp: &str, nonce: &str, random: &[u8; 16]) -> String {
        let encrypt = self.encrypt_with_random(msg, random);
        let signature = self.signature(timestamp, nonce, &encrypt);
        format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&encrypt),
            cdata(&signature),
            escape_text(timestamp),
            cdata(nonce),
        )
    }

    fn cipher_key_iv(&self) -> (&[u8; 32], [u8; 16]) {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        (&self.key, iv)
    }

    /// `random ‖ u32_be(len) ‖ msg ‖ receiveid ‖ pad`, AES-CBC, base64.
    fn seal(&self, msg: &[u8], random: &[u8; 16]) -> String {
        let msg_len = u32::try_from(msg.len()).expect("callback messages are far below 4 GiB");
        let mut plain = Vec::with_capacity(HEADER_LEN + msg.len() + self.receive_id.len() + PAD_BLOCK);
        plain.extend_from_slice(random);
        plain.extend_from_slice(&msg_len.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        let pad_byte = u8::try_from(pad).expect("pad is 1..=32");
        plain.resize(plain.len() + pad, pad_byte);
        self.aes_encrypt(&plain)
    }

    fn aes_encrypt(&self, padded: &[u8]) -> String {
        let (key, iv) = self.cipher_key_iv();
        let ciphertext = Aes256CbcEnc::new(key.into(), &iv.into()).encrypt_padded_vec_mut::<NoPadding>(padded);
        STANDARD.encode(ciphertext)
    }

    /// Base64 and AES only; the result still carries its padding.
    fn aes_decrypt(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let ciphertext = LENIENT.decode(encrypt_b64.trim()).map_err(|_| CryptoError::BadBase64)?;
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(CryptoError::BadCiphertext);
        }
        let (key, iv) = self.cipher_key_iv();
        Aes256CbcDec::new(key.into(), &iv.into())
            .decrypt_padded_vec_mut::<NoPadding>(&ciphertext)
            .map_err(|_| CryptoError::BadCiphertext)
    }

    /// Takes the message out of `random ‖ u32_be(len) ‖ msg ‖ receiveid`.
    fn unframe<'a>(&self, body: &'a [u8]) -> Result<&'a [u8], CryptoError> {
        let len_bytes: [u8; 4] =
            body.get(RANDOM_LEN..HEADER_LEN).and_then(|b| b.try_into().ok()).ok_or(CryptoError::BadLength)?;
        let msg_len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::BadLength)?;
        let msg_end = HEADER_LEN.checked_add(msg_len).filter(|end| *end <= body.len()).ok_or(CryptoError::BadLength)?;
        let (msg, receive_id) = (&body[HEADER_LEN..msg_end], &body[msg_end..]);
        if receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::ReceiveIdMismatch);
        }
        Ok(msg)
    }
}

/// PKCS#7 with a 32-byte block: the last byte says how many bytes (1..=32)
/// to drop, and all of them must carry that value.
fn strip_padding(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = plain.last().ok_or(CryptoError::BadPadding)?;
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A CDATA section can hold anything but `]]>`, which is split across two.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // V1 and V2: the official PHP/C# samples.
    const V1_TOKEN: &str = "QDG6eK";
    const V1_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const V1_RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
    const V1_ECHOSTR: &str = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
    const V2_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    const V2_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";

    // V3: wechatpy's deterministic vectors.
    const V3_TOKEN: &str = "123456";
    const V3_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const V3_RECEIVE_ID: &str = "wx49f0ab532d5d035a";
    const V3_MSG: &str = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    const V3_ENCRYPT: &str = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";
    const V3_SIGNATURE: &str = "407518b7649e86ef23978113f92d27afa9296533";

    fn v1() -> CallbackCrypto {
        CallbackCrypto::new(V1_TOKEN, V1_KEY, V1_RECEIVE_ID).expect("official key")
    }

    fn v3() -> CallbackCrypto {
        CallbackCrypto::new(V3_TOKEN, V3_KEY, V3_RECEIVE_ID).expect("wechatpy key")
    }

    fn v2_body() -> String {
        format!(
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{V2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
        )
    }

    #[test]
    fn official_keys_have_trailing_bits_yet_decode() {
        // The strict engine refuses them: the reason LENIENT exists.
        assert!(STANDARD.decode(format!("{V1_KEY}=")).is_err());
        assert_eq!(v1().key.len(), 32);
        assert_eq!(v3().key.len(), 32);
    }

    #[test]
    fn v1_url_verify() {
        let echo = v1()
            .verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", V1_ECHOSTR)
            .expect("official vector");
        assert_eq!(echo, "1616140317555161061");
    }

    #[test]
    fn v2_event_decrypt_layout() {
        let crypto = v1();
        let plain = crypto.aes_decrypt(V2_ENCRYPT).expect("decrypts");
        assert_eq!(plain.last(), Some(&30));
        let body = strip_padding(&plain).expect("padding");
        assert_eq!(body.len(), plain.len() - 30);
        let msg_len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]);
        assert_eq!(msg_len, 284);
        assert_eq!(&body[20 + 284..], V1_RECEIVE_ID.as_bytes());
        assert_eq!(crypto.decrypt(V2_ENCRYPT).expect("decrypts"), V2_PLAINTEXT);
    }

    #[test]
    fn v2_event_post() {
        let plain = v1()
            .decrypt_message("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", &v2_body())
            .expect("official vector");
        assert_eq!(plain, V2_PLAINTEXT);
    }

    #[test]
    fn v3_deterministic_encrypt() {
        let crypto = v3();
        let encrypt = crypto.encrypt_with_random(V3_MSG, b"1234567890123456");
        assert_eq!(encrypt, V3_ENCRYPT);
        assert_eq!(crypto.signature("1411525903", "461056294", &encrypt), V3_SIGNATURE);
        assert_eq!(crypto.decrypt(&encrypt).expect("round trip"), V3_MSG);
    }

    #[test]
    fn v3_reply_xml() {
        let reply = v3().encrypt_reply_with_random(V3_MSG, "1411525903", "461056294", b"1234567890123456");
        assert_eq!(
            reply,
            format!(
                "<xml><Encrypt><![CDATA[{V3_ENCRYPT}]]></Encrypt><MsgSignature><![CDATA[{V3_SIGNATURE}]]></MsgSignature><TimeStamp>1411525903</TimeStamp><Nonce><![CDATA[461056294]]></Nonce></xml>"
            )
        );
        let fields = xml::parse(&reply).expect("reply is well-formed");
        assert_eq!(fields.text("Encrypt"), Some(V3_ENCRYPT));
    }

    #[test]
    fn v3_url_verify() {
        let echo = v3()
            .verify_url(
                "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
                "1411443780",
                "437374425",
                "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
            )
            .expect("wechatpy vector");
        assert_eq!(echo, "5927782489442352469");
    }

    #[test]
    fn reply_round_trips_through_decrypt_message() {
        let crypto = v1();
        let reply = crypto.encrypt_reply("<xml>hi 你好</xml>", "1700000000", "n]]>once");
        let fields = xml::parse(&reply).expect("well-formed even with ]]> in the nonce");
        assert_eq!(fields.text("Nonce"), Some("n]]>once"));
        let signature = fields.text("MsgSignature").expect("signed").to_owned();
        let opened = crypto.decrypt_message(&signature, "1700000000", "n]]>once", &reply).expect("opens its own reply");
        assert_eq!(opened, "<xml>hi 你好</xml>");
    }

    #[test]
    fn envelope_exposes_corp_before_decrypting() {
        let envelope = EncryptedEnvelope::parse(&v2_body()).expect("envelope");
        assert_eq!(envelope.to_user_name(), Some(V1_RECEIVE_ID));
        assert_eq!(envelope.agent_id(), Some("218"));
        assert_eq!(envelope.encrypt(), V2_ENCRYPT);

        let empty_agent = EncryptedEnvelope::parse(
            "<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>",
        )
        .expect("envelope");
        assert_eq!(empty_agent.agent_id(), None);
    }

    #[test]
    fn bad_envelopes() {
        for body in [
            "",
            "not xml",
            "<xml><ToUserName>ww1</ToUserName></xml>",
            "<xml><Encrypt></Encrypt></xml>",
            "<xml><Encrypt>abc</Encrypt>",
        ] {
            assert_eq!(EncryptedEnvelope::parse(body), Err(CryptoError::BadEnvelope), "{body:?}");
            assert_eq!(v1().decrypt_message("sig", "1", "2", body), Err(CryptoError::BadEnvelope));
        }
    }

    #[test]
    fn bad_keys() {
        for key in ["", "short", &format!("{V1_KEY}A"), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"] {
            assert_eq!(CallbackCrypto::new("t", key, "r").map(|_| ()), Err(CryptoError::BadKey), "{key:?}");
        }
    }

    #[test]
    fn wrong_signature() {
        let crypto = v1();
        let wrong = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4";
        assert_eq!(crypto.verify_url(wrong, "1409659589", "263014780", V1_ECHOSTR), Err(CryptoError::BadSignature));
        // Same signature, different timestamp: the signature covers it.
        assert_eq!(
            crypto.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659590", "263014780", V1_ECHOSTR),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(crypto.decrypt_message("", "1409659813", "1372623149", &v2_body()), Err(CryptoError::BadSignature));
    }

    #[test]
    fn wrong_receive_id() {
        let other = CallbackCrypto::new(V1_TOKEN, V1_KEY, "ww-another-corp").expect("key");
        assert_eq!(other.decrypt(V2_ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
        let prefix = CallbackCrypto::new(V1_TOKEN, V1_KEY, "wx5823bf96d3bd56").expect("key");
        assert_eq!(prefix.decrypt(V2_ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
    }

    #[test]
    fn truncated_ciphertext() {
        let crypto = v1();
        let raw = STANDARD.decode(V2_ENCRYPT).expect("valid base64");
        let cut = STANDARD.encode(&raw[..raw.len() - 5]);
        assert_eq!(crypto.decrypt(&cut), Err(CryptoError::BadCiphertext));
        assert_eq!(crypto.decrypt(""), Err(CryptoError::BadCiphertext));
        let one_block_short = STANDARD.encode(&raw[..raw.len() - 16]);
        assert!(crypto.decrypt(&one_block_short).is_err());
        let first_block = STANDARD.encode(&raw[..16]);
        assert!(crypto.decrypt(&first_block).is_err());
    }

    #[test]
    fn bad_base64() {
        let crypto = v1();
        for text in ["***", "abc$def", "QUJD\u{4e2d}"] {
            assert_eq!(crypto.decrypt(text), Err(CryptoError::BadBase64), "{text:?}");
        }
    }

    #[test]
    fn bad_padding() {
        let crypto = v1();
        let mut framed = Vec::new();
        framed.extend_from_slice(&[7u8; 16]);
        framed.extend_from_slice(&2u32.to_be_bytes());
        framed.extend_from_slice(b"hi");
        framed.extend_from_slice(V1_RECEIVE_ID.as_bytes());
        let pad = 64 - framed.len();
        for last in [0u8, 33, 200] {
            let mut plain = framed.clone();
            plain.resize(64, last);
            assert_eq!(crypto.decrypt(&crypto.aes_encrypt(&plain)), Err(CryptoError::BadPadding));
        }
        // Right length byte, but the pad bytes before it disagree.
        let mut plain = framed.clone();
        plain.resize(64, u8::try_from(pad).expect("small"));
        plain[framed.len()] ^= 1;
        assert_eq!(crypto.decrypt(&crypto.aes_encrypt(&plain)), Err(CryptoError::BadPadding));
        // And the well-padded one opens, so the cases above fail for the pad alone.
        let mut plain = framed;
        plain.resize(64, u8::try_from(pad).expect("small"));
        assert_eq!(crypto.decrypt(&crypto.aes_encrypt(&plain)).as_deref(), Ok("hi"));
    }

    #[test]
    fn bad_length_and_utf8() {
        let crypto = v1();
        let frame = |len: u32, msg: &[u8]| {
            let mut plain = vec![1u8; 16];
            plain.extend_from_slice(&len.to_be_bytes());
            plain.extend_from_slice(msg);
            plain.extend_from_slice(V1_RECEIVE_ID.as_bytes());
            let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
            plain.resize(plain.len() + pad, u8::try_from(pad).expect("small"));
            crypto.aes_encrypt(&plain)
        };
        assert_eq!(crypto.decrypt(&frame(1000, b"hi")), Err(CryptoError::BadLength));
        assert_eq!(crypto.decrypt(&frame(u32::MAX, b"hi")), Err(CryptoError::BadLength));
        assert_eq!(crypto.decrypt(&frame(2, &[0xff, 0xfe])), Err(CryptoError::BadUtf8));
        // Shorter than the 20-byte header once the padding is gone.
        let mut tiny = vec![1u8; 10];
        tiny.resize(32, 22);
        assert_eq!(crypto.decrypt(&crypto.aes_encrypt(&tiny)), Err(CryptoError::BadLength));
    }

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            CryptoError::BadKey,
            CryptoError::BadSignature,
            CryptoError::BadBase64,
            CryptoError::BadCiphertext,
            CryptoError::BadPadding,
            CryptoError::BadLength,
            CryptoError::ReceiveIdMismatch,
            CryptoError::BadUtf8,
            CryptoError::BadEnvelope,
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(CryptoError::code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')));
        assert_eq!(CryptoError::BadSignature.code(), "bad_signature");
    }

    #[test]
    fn empty_message_round_trips() {
        let crypto = v3();
        assert_eq!(crypto.decrypt(&crypto.encrypt("")).as_deref(), Ok(""));
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", v1());
        assert!(!shown.contains(V1_TOKEN));
        assert!(shown.contains(V1_RECEIVE_ID));
    }

    proptest! {
        #[test]
        fn round_trip_any_string(msg in "\\PC*", random in any::<[u8; 16]>()) {
            let crypto = v1();
            let sealed = crypto.encrypt_with_random(&msg, &random);
            prop_assert_eq!(crypto.decrypt(&sealed), Ok(msg));
        }

        #[test]
        fn round_trip_cjk(msg in "[\u{4e00}-\u{9fff}\u{3000}-\u{303f}a-z ]{0,200}") {
            let crypto = v3();
            let sealed = crypto.encrypt(&msg);
            let signature = crypto.signature("1", "2", &sealed);
            prop_assert_eq!(crypto.verify_url(&signature, "1", "2", &sealed), Ok(msg));
        }

        #[test]
        fn decrypt_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = v1().decrypt(&STANDARD.encode(&bytes));
        }

        #[test]
        fn decrypt_random_text_never_panics(text in "\\PC*") {
            let _ = v1().decrypt(&text);
            let _ = v1().verify_url("x", "1", "2", &text);
        }

        #[test]
        fn envelope_parser_never_panics(text in "\\PC*") {
            let _ = EncryptedEnvelope::parse(&text);
            let _ = v1().decrypt_message("x", "1", "2", &text);
        }
    }
}
