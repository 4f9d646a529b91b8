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
    // What was acknowledged is in the inbox before the 200.
    let recorded = || async { db.db.inbox_keys(corp_id).await.expect("inbox").len() };

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
    // The worker runs each inbox row through the pipeline once.
    crate::api::wait_for(|| async {
        (db.db.events(corp_id, Some("wecom.callback"), None, 100).await.expect("events").len() == 2).then_some(())
    })
    .await;

    // Replay: the inbox runs through the pipeline again, which does nothing twice.
    let corp = corp_id.to_string();
    let out = koi(&["inbox", "replay", "--database-url", &db.url, "--corp", &corp, "--hours", "1"]);
    assert!(out.starts_with("2 callback(s)"), "{out}");
    crate::api::wait_for(|| async {
        let status = koi(&["inbox", "status", "--database-url", &db.url, "--corp", &corp]);
        (status == "done\t2").then_some(())
    })
    .await;
    assert_eq!(db.db.events(corp_id, Some("wecom.callback"), None, 100).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_the_simulator_is_recorded_once_per_event_sqlite() {
    burst("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_the_simulator_is_recorded_once_per_event_postgres() {
    burst("postgres").await;
}

/// The simulator, as WeCom, verifies koi's callback URL, then delivers one
/// add event per scan with 10 % duplicates, reordering and 2 % of tries
/// dropped (and retried). koi records each distinct event exactly once.
async fn burst(backend: &str) {
    use koi_sim::{Faults, SimConfig, SimCorp, SimStaff, Simulator};
    use koi_wecom::client::{AddContactWayRequest, ClientConfig, Priority, WecomClient};
    const BURST: &str = "wwBURST";
    const SCANS: usize = 400;
    // A load test: it waits for 400 callbacks in seconds, so it does not
    // share the machine with the other heavy ones.
    let _alone = crate::support::HEAVY.lock().await;

    let db = scratch(backend).await;
    let out = koi(&[
        "corp",
        "add",
        "--database-url",
        &db.url,
        "--name",
        "裂变",
        "--corp-id",
        BURST,
        "--secret",
        "burst-secret",
        "--token",
        TOKEN,
        "--aes-key",
        AES_KEY,
    ]);
    let corp_id: i64 = out.parse().expect("corp id");
    let server = Server::serve(&db.url);
    let config = SimConfig {
        seed: 42,
        clock_speed: 0.0,
        corps: vec![SimCorp {
            corp_id: BURST.into(),
            secret: "burst-secret".into(),
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            callback_url: Some(server.url(&format!("/wecom/callback/{BURST}"))),
            staff: vec![
                SimStaff::new("g1", "王芳", 1),
                SimStaff::new("g2", "李娜", 1),
                SimStaff::new("g3", "Lily 🌸", 2),
            ],
            faults: Faults {
                callback_duplicate_rate: 0.1,
                callback_reorder: true,
                callback_drop_rate: 0.02,
                ..Faults::default()
            },
        }],
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await.unwrap();

    // A multi-member channel code, made through koi's WeCom client.
    let client =
        WecomClient::new(ClientConfig { base_url: sim.base_url(), ..ClientConfig::default() }).expect("client");
    let wecom = client.corp(BURST, "burst-secret");
    let way = AddContactWayRequest {
        kind: 2,
        scene: 2,
        state: Some("store:SH-JA".into()),
        user: Some(vec!["g1".into(), "g2".into(), "g3".into()]),
        ..AddContactWayRequest::default()
    };
    let way = wecom.add_contact_way(&way, Priority::Interactive).await.expect("contact way");

    let http = reqwest::Client::new();
    for i in 0..SCANS {
        let r = http
            .post(format!("{}/sim/scan", sim.base_url()))
            .json(&serde_json::json!({ "config_id": way.config_id, "customer": { "name": format!("顾客{i}") } }))
            .send()
            .await
            .expect("scan");
        assert!(r.status().is_success(), "scan {i}: {}", r.text().await.unwrap_or_default());
    }

    let state = sim.state();
    let records = crate::api::wait_for(|| async {
        let all = state.callbacks();
        (all.len() >= SCANS && all.iter().all(|r| r.outcome != "pending")).then_some(all)
    })
    .await;
    let failed: Vec<_> =
        records.iter().filter(|r| r.outcome != "delivered").map(|r| (&r.outcome, &r.answers)).collect();
    assert!(failed.is_empty(), "every event reached koi: {failed:?}");
    let duplicates: u32 = records.iter().map(|r| r.duplicates).sum();
    let dropped: u32 = records.iter().map(|r| r.dropped).sum();
    assert!(duplicates > 0 && dropped > 0, "the faults happened: {duplicates} duplicates, {dropped} dropped tries");
    assert_eq!(db.db.inbox_keys(corp_id).await.unwrap().len(), records.len(), "each distinct event kept once");
    let recorded = crate::api::wait_for(|| async {
        let e = db.db.events(corp_id, Some("wecom.callback"), None, 10_000).await.expect("events");
        (e.len() >= records.len()).then_some(e)
    })
    .await;
    assert_eq!(recorded.len(), records.len(), "and processed once");
    let adds = recorded.iter().filter(|e| e.payload.contains("add_external_contact")).count();
    assert_eq!(adds, SCANS, "one add per scan");
    sim.shutdown().await;
}

/// `koi sim` runs the simulator alone from the example config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn koi_sim_serves_wecom_from_the_example_config() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sim.toml");
    let sim = Server::start_checking(&["sim", "--listen", "127.0.0.1:0", "--config", config], "/sim/clock");
    let token: Value = reqwest::get(sim.url("/cgi-bin/gettoken?corpid=wwkoidemo0000001&corpsecret=demo-app-secret"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["errcode"], 0, "{token}");
    assert!(token["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    let wrong: Value = reqwest::get(sim.url("/cgi-bin/gettoken?corpid=wwkoidemo0000001&corpsecret=nope"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong["errcode"], 40001);
    let merchants: Value = reqwest::get(sim.url("/sim/pay/merchants")).await.unwrap().json().await.unwrap();
    assert_eq!(merchants[0]["mch_id"], "1900000109", "{merchants}");
    assert_eq!(
        (merchants[0]["wxappid"].as_str(), merchants[0]["balance_fen"].as_i64()),
        (Some("wwkoidemo0000001"), Some(1_000_000))
    );
    assert!(koi_fails(&["sim", "--config", "/nonexistent.toml"]).contains("cannot read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_callbacks_survive_kill_9_sqlite() {
    survives_kill_9("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_callbacks_survive_kill_9_postgres() {
    survives_kill_9("postgres").await;
}

/// SIGKILL in the middle of a burst, restart: every callback that got a 200
/// is in the inbox and is processed exactly once.
async fn survives_kill_9(backend: &str) {
    use std::sync::{Arc, Mutex};
    const KILL: &str = "wwKILL9";
    let db = scratch(backend).await;
    let out = koi(&[
        "corp",
        "add",
        "--database-url",
        &db.url,
        "--name",
        "kill",
        "--corp-id",
        KILL,
        "--secret",
        "s",
        "--token",
        TOKEN,
        "--aes-key",
        AES_KEY,
    ]);
    let corp_id: i64 = out.parse().expect("corp id");
    // A short lease, so the restarted node takes over what the killed one held.
    let node =
        || Server::start(&["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url, "--job-lease-secs", "2"]);
    let mut server = node();
    let crypto = Arc::new(CallbackCrypto::new(TOKEN, AES_KEY, KILL).unwrap());
    let url = server.url(&format!("/wecom/callback/{KILL}"));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (crypto, url, acked, next) = (crypto.clone(), url.clone(), acked.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 4000 {
                    break;
                }
                let plain = add_event(&format!("wmKill{i:06}"), KILL);
                let encrypt = crypto.encrypt(&plain);
                let sig = crypto.signature("1700000000", "7", &encrypt);
                let r = http
                    .post(&url)
                    .query(&[("msg_signature", sig.as_str()), ("timestamp", "1700000000"), ("nonce", "7")])
                    .body(envelope(&encrypt).replace(CORP, KILL))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(koi_wecom::dedup_key(plain.as_bytes())),
                    Ok(_) => {}
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    crate::api::wait_for(|| async { (acked.lock().unwrap().len() >= 600).then_some(()) }).await;
    server.kill();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 600 && acked.len() < 4000, "the kill came mid-burst: {} acked", acked.len());

    let _restarted = node();
    let kept: std::collections::HashSet<String> = db.db.inbox_keys(corp_id).await.unwrap().into_iter().collect();
    let lost: Vec<_> = acked.iter().filter(|k| !kept.contains(*k)).collect();
    assert!(lost.is_empty(), "{} acknowledged callbacks lost", lost.len());
    let processed = crate::api::wait_for(|| async {
        let counts = db.db.inbox_counts(corp_id).await.unwrap();
        let open = counts.iter().any(|(state, n)| *n > 0 && (state == "pending" || state == "running"));
        (!open).then_some(counts)
    })
    .await;
    assert_eq!(processed, [("done".to_string(), kept.len() as i64)], "every kept callback processed");
    let events = db.db.events(corp_id, Some("wecom.callback"), None, 100_000).await.unwrap();
    assert_eq!(events.len(), kept.len(), "each exactly once");
}
