//! Reliability of the acquisition hot path against a misbehaving WeCom (the
//! simulator): callbacks duplicated, reordered and dropped-then-retried;
//! callbacks split between two `koi serve` nodes on one PostgreSQL; the API
//! slow or failing. In every case each customer, follow and welcome exists
//! exactly once, and the per-code counts match the simulator's truth.
//!
//! `KOI_RELIABILITY_ADDS` sets the burst size (default 2,000: under a minute
//! per backend on a 2-core machine; the 10,000 is one variable away)
//! and `KOI_RELIABILITY_RATE` the adds offered per second (default 200).

use crate::support::*;
use koi_sim::{Faults, SimConfig, SimCorp, SimHandle, SimStaff, Simulator};
use koi_wecom::CallbackCrypto;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const STAFF: [(&str, &str); 3] = [("wang.fang", "王芳"), ("li.na", "李娜"), ("zhao.lei", "赵磊")];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

/// A simulator as WeCom, `nodes` koi servers on one database, and three
/// channel codes made through the API.
struct Rig {
    /// First, so the servers stop before their database is dropped.
    nodes: Vec<Server>,
    sim: SimHandle,
    db: koi_store::scratch::ScratchDb,
    corp: String,
    corp_id: i64,
    /// (koi code id, WeCom config_id).
    codes: Vec<(i64, String)>,
    http: reqwest::Client,
}

impl Rig {
    async fn start(backend: &str, corp: &str, nodes: usize) -> Rig {
        let db = scratch(backend).await;
        let t = tenant(&db.url, corp);
        let sim = Simulator::start(
            SimConfig {
                seed: 4,
                corps: vec![SimCorp {
                    corp_id: corp.into(),
                    secret: "app-secret-value-123".into(),
                    token: "QDG6eK".into(),
                    encoding_aes_key: AES_KEY.into(),
                    callback_url: None,
                    staff: STAFF.iter().map(|(u, n)| SimStaff::new(u, n, 1)).collect(),
                    faults: Faults::default(),
                }],
                ..SimConfig::default()
            },
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        )
        .await
        .unwrap();
        let nodes: Vec<Server> = (0..nodes)
            .map(|_| {
                Server::start(&[
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--database-url",
                    &db.url,
                    "--wecom-base-url",
                    &sim.base_url(),
                ])
            })
            .collect();
        let http = reqwest::Client::new();
        let key = api_key(&nodes[0], &t.owner).await;
        let post = |path: &str, body: Value| http.post(nodes[0].url(path)).bearer_auth(&key).json(&body).send();
        let store: Value =
            post("/api/v1/stores", json!({"code": "SH-XH", "name": "徐汇店", "lat": 31.19, "lng": 121.43}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let store_id = store["id"].as_i64().unwrap();
        let mut staff = Vec::new();
        for (userid, name) in STAFF {
            let m: Value = post("/api/v1/staff", json!({"userid": userid, "name": name, "store_ids": [store_id]}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            staff.push(m["id"].as_i64().unwrap());
        }
        let mut codes = Vec::new();
        for (i, name) in ["门口海报", "包裹卡", "收银台"].iter().enumerate() {
            let pool: Vec<Value> = staff.iter().skip(i % 2).map(|s| json!({"staff_id": s})).collect();
            let r = post(
                "/api/v1/channel-codes",
                json!({"name": name, "channel_type": "store_poster", "store_id": store_id, "kind": "multi",
                       "pool": pool, "welcome": [{"text": "{客户昵称}您好，我是{门店}的{导购}"}]}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 201);
            let code: Value = r.json().await.unwrap();
            codes.push((code["id"].as_i64().unwrap(), code["config_id"].as_str().unwrap().to_string()));
        }
        let rig = Rig { sim, db, corp: corp.into(), corp_id: t.id, nodes, codes, http };
        rig.point_callbacks_at(0).await;
        rig
    }

    async fn point_callbacks_at(&self, node: usize) {
        let url = self.nodes[node].url(&format!("/wecom/callback/{}", self.corp));
        let r = self
            .http
            .put(format!("{}/sim/corps/{}/callback_url", self.sim.base_url(), self.corp))
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    fn set_faults(&self, faults: Faults) {
        self.sim.state().corp(Some(&self.corp)).expect("the corp").set_faults(faults);
    }

    /// One customer scans code `code`; returns its welcome code.
    async fn scan(&self, code: usize, i: usize) -> String {
        let r = self
            .http
            .post(format!("{}/sim/scan", self.sim.base_url()))
            .json(&json!({"config_id": self.codes[code].1, "customer": {"name": format!("顾客{i}")}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["new_customer"], true);
        out["welcome_code"].as_str().expect("a welcome code").to_string()
    }

    /// `adds` scans at `per_sec`, spread unevenly over the codes; calls
    /// `between(i)` before scan `i`. Returns the truth: adds per code and the
    /// welcome codes WeCom issued.
    async fn burst<F, Fut>(&self, adds: usize, per_sec: usize, mut between: F) -> (HashMap<i64, i64>, HashSet<String>)
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let started = tokio::time::Instant::now();
        let mut per_code: HashMap<i64, i64> = HashMap::new();
        let mut codes = HashSet::new();
        for i in 0..adds {
            between(i).await;
            tokio::time::sleep_until(started + Duration::from_micros((i * 1_000_000 / per_sec) as u64)).await;
            // Uneven: half the traffic on the poster, a third on the card.
            let code = [0, 0, 0, 1, 1, 2][i % 6];
            codes.insert(self.scan(code, i).await);
            *per_code.entry(self.codes[code].0).or_default() += 1;
        }
        (per_code, codes)
    }

    async fn scalar(&self, sql: &str) -> i64 {
        rows(&self.db.url, sql, self.corp_id).await[0].1
    }

    /// Waits until every add has its welcome, sent and recorded (or `limit`
    /// passes).
    async fn settle(&self, adds: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let follows = self.scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM follows WHERE corp_id = $1").await;
            // A welcome reaches WeCom before its job records it: wait for both.
            let recorded = self
                .scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM events WHERE corp_id = $1 AND kind = 'welcome.sent'")
                .await;
            if self.sim.state().welcome_messages().len() >= adds
                && follows as usize >= adds
                && recorded as usize >= adds
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Room for a straggling duplicate to show itself.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    /// Exactly once, everywhere: customers, follows, inbox rows, welcomes;
    /// per-code counts equal the simulator's truth. `probes` more callbacks
    /// (not adds) share the inbox.
    async fn assert_exactly_once(
        &self,
        adds: usize,
        truth: &HashMap<i64, i64>,
        issued: &HashSet<String>,
        probes: usize,
    ) {
        let n = adds as i64;
        let customers = self.scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM customers WHERE corp_id = $1").await;
        let distinct = self
            .scalar("SELECT CAST(0 AS BIGINT), COUNT(DISTINCT external_userid) FROM customers WHERE corp_id = $1")
            .await;
        let follows = self.scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM follows WHERE corp_id = $1").await;
        assert_eq!((customers, distinct, follows), (n, n, n), "customers, distinct customers, follows");
        let inbox = self.scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM wecom_inbox WHERE corp_id = $1").await;
        assert_eq!(inbox, n + probes as i64, "one inbox row per distinct callback");
        let got: HashMap<i64, i64> = rows(
            &self.db.url,
            "SELECT code_id, COUNT(*) FROM follows WHERE corp_id = $1 GROUP BY code_id",
            self.corp_id,
        )
        .await
        .into_iter()
        .collect();
        assert_eq!(&got, truth, "follows per code = the simulator's adds per code");
        let sent = self
            .scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM events WHERE corp_id = $1 AND kind = 'welcome.sent'")
            .await;
        assert_eq!(sent, n, "one welcome.sent event per add");

        let welcomes = self.sim.state().welcome_messages();
        let used: HashSet<&str> = welcomes.iter().map(|w| w.welcome_code.as_str()).collect();
        assert_eq!(used.len(), welcomes.len(), "no welcome code used twice");
        assert_eq!(welcomes.len(), adds, "one welcome per add");
        assert!(used.iter().all(|c| issued.contains(*c)), "welcomes only for issued codes");
        let late: Vec<i64> = welcomes.iter().map(|w| w.latency_ms).filter(|l| *l >= 20_000).collect();
        assert!(late.is_empty(), "welcomes past their 20 s: {late:?}");

        let callbacks = self.sim.state().callbacks();
        let undelivered: Vec<_> = callbacks.iter().filter(|c| !c.delivered).map(|c| &c.answers).collect();
        assert!(undelivered.is_empty(), "callbacks WeCom gave up on: {undelivered:?}");
    }
}

/// `(key, count)` rows of a `SELECT k, COUNT(*) … WHERE corp_id = $1` on either backend.
async fn rows(url: &str, sql: &str, corp_id: i64) -> Vec<(i64, i64)> {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql).bind(corp_id).fetch_all(&mut c).await.expect("query")
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql).bind(corp_id).fetch_all(&mut c).await.expect("query")
    }
}

fn adds() -> usize {
    env_or("KOI_RELIABILITY_ADDS", 2_000)
}

fn rate() -> usize {
    env_or("KOI_RELIABILITY_RATE", 200)
}

/// Duplicates, reordering and lost tries that WeCom retries.
fn bad_delivery() -> Faults {
    Faults { callback_duplicate_rate: 0.10, callback_reorder: true, callback_drop_rate: 0.01, ..Faults::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_with_bad_delivery_is_processed_exactly_once_sqlite() {
    burst_with_bad_delivery("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_with_bad_delivery_is_processed_exactly_once_postgres() {
    burst_with_bad_delivery("postgres").await;
}

async fn burst_with_bad_delivery(backend: &str) {
    let _alone = HEAVY.lock().await;
    let rig = Rig::start(backend, "wwRELIABLE", 1).await;
    rig.set_faults(bad_delivery());
    let adds = adds();
    let (truth, issued) = rig.burst(adds, rate(), |_| async {}).await;
    rig.settle(adds, Duration::from_secs(40)).await;
    rig.assert_exactly_once(adds, &truth, &issued, 0).await;
    let callbacks = rig.sim.state().callbacks();
    let duplicates: u32 = callbacks.iter().map(|c| c.duplicates).sum();
    let dropped: u32 = callbacks.iter().map(|c| c.dropped).sum();
    assert!(duplicates > 0 && dropped > 0, "the faults fired: {duplicates} duplicates, {dropped} drops");
    eprintln!("{backend}: {adds} adds, {duplicates} duplicate deliveries, {dropped} lost tries retried");
}

/// Two nodes share one PostgreSQL; WeCom's deliveries go to one node, then
/// the other, switching every 100 adds (as a load balancer might).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_callbacks_exactly_once() {
    let _alone = HEAVY.lock().await;
    let rig = Rig::start("postgres", "wwTWONODES", 2).await;
    rig.set_faults(bad_delivery());
    let adds = adds();
    let rig = &rig;
    let (truth, issued) = rig
        .burst(adds, rate(), |i| async move {
            if i % 100 == 0 {
                rig.point_callbacks_at((i / 100) % 2).await;
            }
        })
        .await;
    rig.settle(adds, Duration::from_secs(40)).await;
    rig.assert_exactly_once(adds, &truth, &issued, 0).await;
}

/// Times one signed `edit_external_contact` POST to `url`, as WeCom sends it.
async fn timed_ack(http: &reqwest::Client, crypto: &CallbackCrypto, url: &str, corp: &str, i: usize) -> Duration {
    let xml = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[edit_external_contact]]></ChangeType>\
         <UserID><![CDATA[wang.fang]]></UserID><ExternalUserID><![CDATA[wmPROBE{i:06}]]></ExternalUserID></xml>",
        1_700_000_000 + i
    );
    let encrypt = crypto.encrypt(&xml);
    let (ts, nonce) = ("1700000000", format!("{}", 900_000 + i));
    let signature = crypto.signature(ts, &nonce, &encrypt);
    let body = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );
    let t = Instant::now();
    let r = http
        .post(url)
        .query(&[("msg_signature", signature.as_str()), ("timestamp", ts), ("nonce", &nonce)])
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    t.elapsed()
}

/// WeCom in trouble: callbacks are still acknowledged in milliseconds (koi
/// never calls WeCom in the request), and every welcome still goes out
/// inside its 20 s.
async fn wecom_in_trouble(backend: &str, corp: &str, faults: Faults) {
    const ADDS: usize = 60;
    const PROBES: usize = 40;
    let rig = Rig::start(backend, corp, 1).await;
    rig.set_faults(faults);
    let crypto = CallbackCrypto::new("QDG6eK", AES_KEY, corp).unwrap();
    let url = rig.nodes[0].url(&format!("/wecom/callback/{corp}"));
    let rig = &rig;
    let (crypto, url) = (&crypto, &url);
    let acks = std::sync::Mutex::new(Vec::new());
    let acks = &acks;
    // 10 adds a second for 6 s, a timed probe callback beside two of three.
    let (truth, issued) = rig
        .burst(ADDS, 10, |i| async move {
            if i < PROBES * 3 / 2 && i % 3 != 2 {
                let took = timed_ack(&rig.http, crypto, url, &rig.corp, i).await;
                acks.lock().unwrap().push(took);
            }
        })
        .await;
    rig.settle(ADDS, Duration::from_secs(40)).await;
    let mut acks = acks.lock().unwrap().clone();
    acks.sort();
    let p50 = acks[acks.len() / 2];
    let max = acks[acks.len() - 1];
    eprintln!("{backend}: callback ack p50 {p50:?}, max {max:?} over {} probes", acks.len());
    assert!(p50 < Duration::from_millis(50) && max < Duration::from_millis(1000), "ack p50 {p50:?}, max {max:?}");
    // The simulator's own deliveries were all answered 200 on the first try.
    let callbacks = rig.sim.state().callbacks();
    let slow: Vec<_> = callbacks.iter().filter(|c| c.answers.iter().any(|a| a != "200")).map(|c| &c.answers).collect();
    assert!(slow.is_empty(), "callbacks not answered 200 at once: {slow:?}");
    let events = rig
        .scalar("SELECT CAST(0 AS BIGINT), COUNT(*) FROM events WHERE corp_id = $1 AND kind = 'wecom.callback'")
        .await;
    assert_eq!(events as usize, ADDS + acks.len(), "every acknowledged callback processed once");
    rig.assert_exactly_once(ADDS, &truth, &issued, acks.len()).await;
    let mut latency: Vec<i64> = rig.sim.state().welcome_messages().iter().map(|w| w.latency_ms).collect();
    latency.sort();
    eprintln!(
        "{backend}: welcome latency p50 {} ms, max {} ms",
        latency[latency.len() / 2],
        latency[latency.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_wecom_sqlite() {
    wecom_in_trouble("sqlite", "wwSLOW", Faults { api_latency_ms: 2000, ..Faults::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_wecom_postgres() {
    wecom_in_trouble("postgres", "wwSLOW", Faults { api_latency_ms: 2000, ..Faults::default() }).await;
}

fn failing() -> Faults {
    Faults { error_rate_busy: 0.10, error_rate_5xx: 0.10, ..Faults::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_wecom_sqlite() {
    wecom_in_trouble("sqlite", "wwFAILING", failing()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_wecom_postgres() {
    wecom_in_trouble("postgres", "wwFAILING", failing()).await;
}
