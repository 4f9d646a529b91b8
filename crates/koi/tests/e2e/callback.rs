//! The callback endpoint as WeCom (and an attacker) reaches it: URL
//! verification, events recorded once, and bad input refused with a 4xx and
//! a stable code, changing nothing.

use crate::support::*;
use koi_wecom::CallbackCrypto;
use serde_json::Value;

const CORP: &str = "wwCALLBACK";
const TOKEN: &str = "QDG6eK";

fn add_event(external_userid: &str, to: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
         <UserID><![CDATA[wang.fang]]></UserID><ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>\
         <State><![CDATA[c1]]></State><WelcomeCode><![CDATA[WELCOME]]></WelcomeCode></xml>"
    )
}

fn envelope(encrypt: &str) -> String {
    format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>")
}

struct Wecom<'a> {
    http: reqwest::Client,
    server: &'a Server,
    crypto: CallbackCrypto,
}

impl Wecom<'_> {
    /// POSTs `body` signed over `encrypt` (as WeCom would, or a forger with `sig`).
    async fn post(&self, encrypt: &str, body: String, sig: Option<&str>) -> (u16, Value) {
        let (ts, nonce) = ("1700000000", "4242");
        let signature = sig.map_or_else(|| self.crypto.signature(ts, nonce, encrypt), str::to_string);
        let r = self
            .http
            .post(self.server.url(&format!("/wecom/callback/{CORP}")))
            .query(&[("msg_signature", signature.as_str()), ("timestamp", ts), ("nonce", nonce)])
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn event(&self, plaintext: &str) -> (u16, Value) {
        let encrypt = self.crypto.encrypt(plaintext);
        self.post(&encrypt, envelope(&encrypt), None).await
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_verify_record_once_and_refuse_bad_input() {
    let db = scratch("sqlite").await;
    let t = koi(&[
        "corp",
        "add",
        "--database-url",
        &db.url,
        "--name",
        "回调",
        "--corp-id",
        CORP,
        "--secret",
        "s3cret",
        "--token",
        TOKEN,
        "--aes-key",
        AES_KEY,
    ]);
    let corp_id: i64 = t.parse().expect("corp id");
    let server = Server::serve(&db.url);
    let w = Wecom {
        http: reqwest::Client::new(),
        server: &server,
        crypto: CallbackCrypto::new(TOKEN, AES_KEY, CORP).unwrap(),
    };
    let recorded = || async { db.db.events(corp_id, Some("wecom.callback"), None, 100).await.expect("events").len() };

    // URL verification answers the plaintext alone.
    let echostr = w.crypto.encrypt("1616140317555161061");
    let (ts, nonce) = ("1409659589", "263014780");
    let sig = w.crypto.signature(ts, nonce, &echostr);
    let verify = |sig: String, corp: &'static str| {
        let echostr = echostr.clone();
        let http = w.http.clone();
        let url = server.url(&format!("/wecom/callback/{corp}"));
        async move {
            let r = http
                .get(url)
                .query(&[("msg_signature", sig.as_str()), ("timestamp", ts), ("nonce", nonce), ("echostr", &echostr)])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(verify(sig.clone(), CORP).await, (200, "1616140317555161061".to_string()));
    let (s, body) = verify("0".repeat(40), CORP).await;
    assert_eq!((s, code(&serde_json::from_str(&body).unwrap())), (400, "bad_signature"));
    let (s, body) = verify(sig, "wwNOBODY").await;
    assert_eq!((s, code(&serde_json::from_str(&body).unwrap())), (404, "unknown_corp"));

    // An event is recorded; the same delivery again (a retry, a replay) is not.
    let event = add_event("wmCustomerOne", CORP);
    assert_eq!(w.event(&event).await.0, 200);
    assert_eq!(w.event(&event).await.0, 200, "a replay is acknowledged");
    assert_eq!(recorded().await, 1, "and changes nothing");
    assert_eq!(w.event(&add_event("wmCustomerTwo", CORP)).await.0, 200);
    assert_eq!(recorded().await, 2, "two customers added in the same second are two events");

    // Bad input: a 4xx with a stable code, and nothing recorded.
    let good = w.crypto.encrypt(&add_event("wmCustomerThree", CORP));
    let other_app = CallbackCrypto::new(TOKEN, AES_KEY, "wwOTHERAPP").unwrap().encrypt(&add_event("wmX", CORP));
    let truncated = &good[..good.len() - 8];
    let cases: Vec<(&str, String, String, Option<&str>)> = vec![
        ("bad_signature", good.clone(), envelope(&good), Some("da39a3ee5e6b4b0d3255bfef95601890afd80709")),
        ("bad_base64", "!!!not base64!!!".into(), envelope("!!!not base64!!!"), None),
        ("receive_id_mismatch", other_app.clone(), envelope(&other_app), None),
        ("bad_ciphertext", truncated.to_string(), envelope(truncated), None),
        ("bad_envelope", good.clone(), "<xml><ToUserName>oops".into(), None),
    ];
    for (expected, encrypt, body, sig) in cases {
        let (s, v) = w.post(&encrypt, body, sig).await;
        assert_eq!((s, code(&v)), (400, expected), "{v}");
    }
    for (expected, plaintext) in
        [("malformed_event", "<xml><ToUserName>".to_string()), ("corp_mismatch", add_event("wmY", "wwSOMEONEELSE"))]
    {
        let (s, v) = w.event(&plaintext).await;
        assert_eq!((s, code(&v)), (400, expected), "{v}");
    }
    let r =
        w.http.post(server.url(&format!("/wecom/callback/{CORP}"))).body(vec![0xff, 0xfe, 0x00]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json::<Value>().await.unwrap()), "bad_request");
    assert_eq!(recorded().await, 2, "no bad input was recorded");
}
