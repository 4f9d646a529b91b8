//! The simulator over real HTTP, as koi will use it: one test binary for the
//! whole crate (linking is the slow part). `conformance` runs koi's own API
//! client against it, endpoint by endpoint.

mod conformance;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use koi_sim::{scenario_from_toml, Faults, Limits, SimConfig, SimCorp, SimHandle, Simulator};
use koi_wecom::{CallbackCrypto, CallbackEvent};
use serde_json::{json, Value};

const CORP: &str = "wwsimcorp0000001";

async fn start(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Simulator::start(config, listener).await.expect("simulator starts")
}

/// A minimal WeCom client, written from the contract, not from koi's.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn connect(sim: &SimHandle) -> Self {
        let http = reqwest::Client::new();
        let base = sim.base_url();
        let corp = SimCorp::default();
        let v: Value = http
            .get(format!("{base}/cgi-bin/gettoken?corpid={}&corpsecret={}", corp.corp_id, corp.secret))
            .send()
            .await
            .expect("gettoken")
            .json()
            .await
            .expect("json");
        assert_eq!(v["errcode"], 0, "{v}");
        Self { http, base, token: v["access_token"].as_str().expect("token").to_owned() }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/cgi-bin/externalcontact/{path}?access_token={}", self.base, self.token);
        let response = self.http.post(url).json(&body).send().await.expect("post");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn get(&self, path: &str, query: &str) -> Value {
        let url = format!("{}/cgi-bin/externalcontact/{path}?access_token={}&{query}", self.base, self.token);
        self.http.get(url).send().await.expect("get").json().await.expect("json")
    }

    async fn sim(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}/sim/{path}", self.base)).json(&body).send().await.expect("sim");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    async fn advance(&self, seconds: f64) {
        self.sim("clock/advance", json!({ "seconds": seconds })).await;
    }

    async fn contact_way(&self, state: &str, users: &[&str]) -> String {
        let kind = if users.len() == 1 { 1 } else { 2 };
        let v = self.post("add_contact_way", json!({ "type": kind, "scene": 2, "state": state, "user": users })).await;
        assert_eq!(v["errcode"], 0, "{v}");
        v["config_id"].as_str().expect("config_id").to_owned()
    }
}

fn frozen() -> SimConfig {
    // A frozen clock: only /sim/clock/advance moves time, so tests do not race it.
    SimConfig { clock_speed: 0.0, ..SimConfig::default() }
}

#[tokio::test]
async fn gettoken_errors_and_expiry() {
    let sim = start(frozen()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let call = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.expect("get").json::<Value>().await.expect("json") }
    };
    assert_eq!(call(format!("{base}/cgi-bin/gettoken?corpid=nope&corpsecret=x")).await["errcode"], 40013);
    assert_eq!(call(format!("{base}/cgi-bin/gettoken?corpid={CORP}&corpsecret=wrong")).await["errcode"], 40001);
    let api = Api::connect(&sim).await;
    assert!(api.token.len() <= 512);
    assert_eq!(call(format!("{base}/cgi-bin/externalcontact/get_follow_user_list")).await["errcode"], 41001);
    assert_eq!(
        call(format!("{base}/cgi-bin/externalcontact/get_follow_user_list?access_token=bogus")).await["errcode"],
        40014
    );
    let ok = api.get("get_follow_user_list", "").await;
    assert_eq!(ok["errcode"], 0);
    assert_eq!(ok["follow_user"], json!(["guide01", "guide02", "guide03"]));
    assert_eq!(call(format!("{base}/cgi-bin/externalcontact/nope?access_token={}", api.token)).await["errcode"], 48002);

    api.advance(7201.0).await;
    assert_eq!(api.get("get_follow_user_list", "").await["errcode"], 42001);
    let fresh = Api::connect(&sim).await;
    assert_ne!(fresh.token, api.token);
    assert_eq!(fresh.get("get_follow_user_list", "").await["errcode"], 0);
    assert_eq!(fresh.sim("tokens/invalidate", json!({})).await["invalidated"], 2);
    assert_eq!(fresh.get("get_follow_user_list", "").await["errcode"], 40014);
    sim.shutdown().await;
}

#[tokio::test]
async fn contact_way_validation() {
    let sim = start(frozen()).await;
    let api = Api::connect(&sim).await;
    let way = |state: &str, users: Value, kind: u8| json!({ "type": kind, "scene": 2, "state": state, "user": users });
    let long = "s".repeat(31);
    assert_eq!(api.post("add_contact_way", way(&long, json!(["guide01"]), 1)).await["errcode"], 40058);
    let cjk = "店".repeat(30);
    let v = api.post("add_contact_way", way(&cjk, json!(["guide01"]), 1)).await;
    assert_eq!(v["errcode"], 0, "{v}");
    let qr = v["qr_code"].as_str().expect("qr_code").to_owned();
    assert!(qr.starts_with(&sim.base_url()));
    // The qr_code URL is a picture, as WeCom's is: an <img> can show it.
    let image = reqwest::get(&qr).await.expect("qr");
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(&image.bytes().await.expect("png")[..8], b"\x89PNG\r\n\x1a\n");
    let resolved: Value = reqwest::get(format!("{qr}/info")).await.expect("qr").json().await.expect("json");
    assert_eq!(resolved["kind"], "contact_way");
    assert_eq!(resolved["state"], cjk);

    assert_eq!(api.post("add_contact_way", way("a", json!(["guide01", "guide02"]), 1)).await["errcode"], 40058);
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    assert_eq!(api.post("add_contact_way", way("a", json!(many), 2)).await["errcode"], 41041);
    assert_eq!(api.post("add_contact_way", way("a", json!(["ghost"]), 1)).await["errcode"], 40003);
    assert_eq!(api.post("get_contact_way", json!({ "config_id": "missing" })).await["errcode"], 41044);

    let id = v["config_id"].as_str().expect("config_id");
    let updated = api.post("update_contact_way", json!({ "config_id": id, "user": ["guide02"], "state": "x" })).await;
    assert_eq!(updated["errcode"], 0);
    let got = api.post("get_contact_way", json!({ "config_id": id })).await;
    assert_eq!(got["contact_way"]["user"], json!(["guide02"]));
    assert_eq!(got["contact_way"]["state"], "x");
    let listed = api.post("list_contact_way", json!({ "limit": 10 })).await;
    assert_eq!(listed["contact_way"][0]["config_id"], id);
    assert_eq!(api.post("del_contact_way", json!({ "config_id": id })).await["errcode"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn welcome_code_once_and_expiry() {
    let sim = start(frozen()).await;
    let api = Api::connect(&sim).await;
    let way = api.contact_way("store-1", &["guide01", "guide02"]).await;
    let scan = api.sim("scan", json!({ "config_id": way, "customer": { "name": "小红🌸" } })).await;
    let ext = scan["external_userid"].as_str().expect("ext").to_owned();
    assert!(ext.starts_with("wm"));
    let code = scan["welcome_code"].as_str().expect("code").to_owned();
    let hello = json!({ "welcome_code": code, "text": { "content": "欢迎光临" } });
    assert_eq!(api.post("send_welcome_msg", hello.clone()).await["errcode"], 0);
    assert_eq!(api.post("send_welcome_msg", hello).await["errcode"], 41051);
    assert_eq!(api.post("send_welcome_msg", json!({ "text": { "content": "x" } })).await["errcode"], 41049);

    let customer = api.get("get", &format!("external_userid={ext}")).await;
    assert_eq!(customer["external_contact"]["name"], "小红🌸");
    assert_eq!(customer["follow_user"][0]["state"], "store-1");
    assert_eq!(customer["follow_user"][0]["add_way"], 1);

    let late = api.sim("scan", json!({ "config_id": way })).await;
    api.advance(21.0).await;
    let body = json!({ "welcome_code": late["welcome_code"], "text": { "content": "hi" } });
    assert_eq!(api.post("send_welcome_msg", body).await["errcode"], 41050);

    let sent = sim.state().welcome_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].external_userid, ext);
    assert_eq!(sent[0].text.as_deref(), Some("欢迎光临"));
    sim.shutdown().await;
}

#[tokio::test]
async fn frequency_limit_answers_45009() {
    let limits = Limits { api_per_minute: 3, ..Limits::default() };
    let sim = start(SimConfig { limits, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    for _ in 0..3 {
        assert_eq!(api.get("get_follow_user_list", "").await["errcode"], 0);
    }
    assert_eq!(api.get("get_follow_user_list", "").await["errcode"], 45009);
    // Other APIs have their own window.
    assert_eq!(api.get("list", "userid=guide01").await["errcode"], 0);
    api.advance(61.0).await;
    assert_eq!(api.get("get_follow_user_list", "").await["errcode"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn join_way_opens_rooms_at_the_cut() {
    let limits = Limits { group_qr_cut: 3, ..Limits::default() };
    let sim = start(SimConfig { limits, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    let chat = api.sim("group/create", json!({ "owner": "guide01", "name": "静安粉丝群" })).await;
    let chat_id = chat["chat_id"].as_str().expect("chat_id").to_owned();
    assert!(chat_id.starts_with("wr"));
    let too_many = json!({ "scene": 2, "chat_id_list": [&chat_id, &chat_id, &chat_id, &chat_id, &chat_id, &chat_id], "room_base_name": "静安粉丝群" });
    assert_eq!(api.post("groupchat/add_join_way", too_many).await["errcode"], 41091);
    let way = api
        .post(
            "groupchat/add_join_way",
            json!({ "scene": 2, "chat_id_list": [&chat_id], "auto_create_room": 1, "room_base_name": "静安粉丝群", "room_base_id": 2, "state": "grp-jingan" }),
        )
        .await;
    let config_id = way["config_id"].as_str().expect("config_id").to_owned();

    let mut chats = Vec::new();
    for _ in 0..5 {
        let joined = api.sim("join", json!({ "config_id": config_id })).await;
        chats.push((joined["chat_id"].as_str().expect("chat").to_owned(), joined["created_room"] == true));
    }
    // Owner + 2 customers fill the first group at the cut of 3.
    assert_eq!(chats[0], (chat_id.clone(), false));
    assert_eq!(chats[1], (chat_id.clone(), false));
    assert!(chats[2].1, "third join opens a room");
    assert_eq!(chats[3].0, chats[2].0);
    assert!(chats[4].1);
    let room = api.post("groupchat/get", json!({ "chat_id": chats[2].0, "need_name": 1 })).await;
    assert_eq!(room["group_chat"]["name"], "静安粉丝群2");
    assert_eq!(room["group_chat"]["owner"], "guide01");
    let member = &room["group_chat"]["member_list"][1];
    assert_eq!(member["type"], 2);
    assert_eq!(member["join_scene"], 3);
    assert_eq!(member["state"], "grp-jingan");
    let next = api.post("groupchat/get", json!({ "chat_id": chats[4].0 })).await;
    assert_eq!(next["group_chat"]["name"], "静安粉丝群3");

    // A direct QR join past the cut is refused; an invitation is not.
    let full = reqwest::Client::new()
        .post(format!("{}/sim/join", sim.base_url()))
        .json(&json!({ "chat_id": chat_id, "join_scene": 3 }))
        .send()
        .await
        .expect("join");
    assert_eq!(full.status(), StatusCode::CONFLICT);
    api.sim("join", json!({ "chat_id": chat_id, "join_scene": 1 })).await;
    let listed = api.post("groupchat/list", json!({ "limit": 100 })).await;
    assert_eq!(listed["group_chat_list"].as_array().map(Vec::len), Some(3));
    sim.shutdown().await;
}

#[tokio::test]
async fn mass_message_confirm_and_quota() {
    let sim = start(frozen()).await;
    let api = Api::connect(&sim).await;
    let way = api.contact_way("m", &["guide01"]).await;
    let ext = api.sim("scan", json!({ "config_id": way })).await["external_userid"].clone();
    let body = json!({ "chat_type": "single", "external_userid": [ext, "wmNobody"], "sender": "guide01", "text": { "content": "上新啦" } });
    let first = api.post("add_msg_template", body.clone()).await;
    assert_eq!(first["fail_list"], json!(["wmNobody"]));
    let msgid = first["msgid"].as_str().expect("msgid").to_owned();
    assert!(msgid.starts_with("msg"));
    let task = api.post("get_groupmsg_task", json!({ "msgid": msgid })).await;
    assert_eq!(task["task_list"][0]["status"], 0);
    assert_eq!(api.sim("mass/confirm", json!({ "msgid": msgid })).await["sent"], 1);
    let result = api.post("get_groupmsg_send_result", json!({ "msgid": msgid, "userid": "guide01" })).await;
    assert_eq!(result["send_list"][0]["status"], 1);
    // Same day: the customer's quota of 1 is used.
    let second = api.post("add_msg_template", body).await["msgid"].as_str().expect("msgid").to_owned();
    api.sim("mass/confirm", json!({ "msgid": second })).await;
    let result = api.post("get_groupmsg_send_result", json!({ "msgid": second, "userid": "guide01" })).await;
    assert_eq!(result["send_list"][0]["status"], 3);
    for _ in 0..3 {
        assert_eq!(api.post("remind_groupmsg_send", json!({ "msgid": second })).await["errcode"], 0);
    }
    assert_eq!(api.post("remind_groupmsg_send", json!({ "msgid": second })).await["errcode"], 41094);
    assert_eq!(sim.state().mass_tasks().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn tags_and_remarks() {
    let sim = start(frozen()).await;
    let api = Api::connect(&sim).await;
    let added = api
        .post("add_corp_tag", json!({ "group_name": "会员等级", "tag": [{ "name": "金卡" }, { "name": "银卡" }] }))
        .await;
    assert_eq!(added["errcode"], 0, "{added}");
    let gold = added["tag_group"]["tag"][0]["id"].as_str().expect("id").to_owned();
    assert!(gold.starts_with("et"));
    let again = api.post("add_corp_tag", json!({ "group_name": "会员等级", "tag": [{ "name": "金卡" }] })).await;
    assert_eq!(again["errcode"], 40071);
    let way = api.contact_way("t", &["guide01"]).await;
    let ext = api.sim("scan", json!({ "config_id": way })).await["external_userid"].as_str().expect("ext").to_owned();
    let mark = json!({ "userid": "guide01", "external_userid": ext, "add_tag": [gold] });
    assert_eq!(api.post("mark_tag", mark).await["errcode"], 0);
    let remark = json!({ "userid": "guide01", "external_userid": ext, "remark": "老顾客" });
    assert_eq!(api.post("remark", remark).await["errcode"], 0);
    let customer = api.get("get", &format!("external_userid={ext}")).await;
    assert_eq!(customer["follow_user"][0]["tags"][0]["tag_name"], "金卡");
    assert_eq!(customer["follow_user"][0]["remark"], "老顾客");
    let batch = api.post("batch/get_by_user", json!({ "userid_list": ["guide01"], "limit": 10 })).await;
    assert_eq!(batch["external_contact_list"][0]["follow_info"]["tag_id"], json!([gold]));
    assert_eq!(sim.state().tags_marked().len(), 1);
    assert_eq!(sim.state().remarks().len(), 1);
    // API actions fire no callback; the scan fired one.
    assert_eq!(sim.state().callbacks().len(), 1);
    sim.shutdown().await;
}

/// koi's side of the callback, reduced to what the contract asks: verify the
/// URL, open events, answer 200 (or fail the first `fail_first` POSTs).
#[derive(Clone)]
struct Receiver {
    crypto: CallbackCrypto,
    events: Arc<Mutex<Vec<String>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn receiver_get(
    State(r): State<Receiver>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, String) {
    let field = |n: &str| q.get(n).cloned().unwrap_or_default();
    match r.crypto.verify_url(&field("msg_signature"), &field("timestamp"), &field("nonce"), &field("echostr")) {
        Ok(plain) => (StatusCode::OK, plain),
        Err(e) => (StatusCode::FORBIDDEN, e.to_string()),
    }
}

async fn receiver_post(
    State(r): State<Receiver>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: String,
) -> StatusCode {
    {
        let mut fail = r.fail_first.lock().expect("lock");
        if *fail > 0 {
            *fail -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    let field = |n: &str| q.get(n).cloned().unwrap_or_default();
    match r.crypto.decrypt_message(&field("msg_signature"), &field("timestamp"), &field("nonce"), &body) {
        Ok(plain) => {
            r.events.lock().expect("lock").push(plain);
            StatusCode::OK
        }
        Err(_) => StatusCode::FORBIDDEN,
    }
}

async fn wait_for(sim: &SimHandle, settled: usize) {
    for _ in 0..200 {
        if sim.state().callbacks().iter().filter(|c| c.outcome != "pending").count() >= settled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("callbacks did not settle: {:?}", sim.state().callbacks());
}

#[tokio::test]
async fn callbacks_are_encrypted_retried_and_faulty() {
    let corp = SimCorp::default();
    let receiver = Receiver {
        crypto: CallbackCrypto::new(&corp.token, &corp.encoding_aes_key, &corp.corp_id).expect("key"),
        events: Arc::default(),
        fail_first: Arc::new(Mutex::new(1)),
    };
    let app = Router::new().route("/wecom", get(receiver_get).post(receiver_post)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/wecom", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let limits = Limits { callback_retry_ms: 10, ..Limits::default() };
    let corps = vec![SimCorp { callback_url: Some(url), ..corp.clone() }];
    let sim = start(SimConfig { corps, limits, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    let way = api.contact_way("cb-state", &["guide02"]).await;

    // The first POST answers 500: WeCom tries again.
    let scan = api.sim("scan", json!({ "config_id": way })).await;
    wait_for(&sim, 1).await;
    let record = &sim.state().callbacks()[0];
    assert_eq!((record.outcome.as_str(), record.tries), ("delivered", 2), "{record:?}");
    let events = receiver.events.lock().expect("lock").clone();
    assert_eq!(events.len(), 1);
    match CallbackEvent::parse(&events[0]) {
        Ok(CallbackEvent::ExternalContact {
            change: koi_wecom::event::ExternalContactChange::Added { user_id, external_user_id, state, welcome_code },
            ..
        }) => {
            assert_eq!(user_id, "guide02");
            assert_eq!(Some(external_user_id.as_str()), scan["external_userid"].as_str());
            assert_eq!(state.as_deref(), Some("cb-state"));
            assert_eq!(welcome_code.as_deref(), scan["welcome_code"].as_str());
        }
        other => panic!("{other:?}"),
    }

    // Every try lost: 3 tries, then WeCom gives up.
    let faults = Faults { callback_drop_rate: 1.0, ..Faults::default() };
    let put =
        reqwest::Client::new().put(format!("{}/sim/corps/{CORP}/faults", sim.base_url())).json(&faults).send().await;
    assert_eq!(put.expect("put").status(), 200);
    let ext = scan["external_userid"].clone();
    api.sim("staff/edit_customer", json!({ "userid": "guide02", "external_userid": ext })).await;
    wait_for(&sim, 2).await;
    let record = &sim.state().callbacks()[1];
    assert_eq!((record.outcome.as_str(), record.tries, record.dropped), ("failed", 3, 3), "{record:?}");

    // Duplicates arrive byte-identical, so the dedup key catches them.
    let faults = Faults { callback_duplicate_rate: 1.0, ..Faults::default() };
    sim.state().corp(None).expect("corp").set_faults(faults);
    api.sim("customer/delete_staff", json!({ "userid": "guide02", "external_userid": ext })).await;
    wait_for(&sim, 3).await;
    let events = receiver.events.lock().expect("lock").clone();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(koi_wecom::dedup_key(events[1].as_bytes()), koi_wecom::dedup_key(events[2].as_bytes()));
    assert!(events[1].contains("del_follow_user"));
    assert_eq!(sim.state().callbacks_delivered().len(), 2);
    sim.shutdown().await;
}

const SCENARIO: &str = r#"
duration_hours = 48
tick_minutes = 30

[population]
size = 300
radius_km = 2.5

[rates]
scan = 0.4
join_group = 0.5
invite_friends = 0.1
order = 0.2
delete_guide = 0.05

[[stores]]
name = "静安店"
lat = 31.2235
lng = 121.4453
contact_way_state = "store-jingan"
join_way_state = "grp-jingan"

[[stores]]
name = "徐汇店"
lat = 31.1880
lng = 121.4365
contact_way_state = "store-xuhui"
"#;

async fn run_scenario(seed: u64) -> koi_sim::ScenarioReport {
    let sim = start(SimConfig { seed, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    api.contact_way("store-jingan", &["guide01", "guide02"]).await;
    api.contact_way("store-xuhui", &["guide03"]).await;
    let chat = api.sim("group/create", json!({ "owner": "guide01", "name": "静安群" })).await;
    let way = json!({ "scene": 2, "chat_id_list": [chat["chat_id"]], "room_base_name": "静安群", "room_base_id": 2, "state": "grp-jingan" });
    assert_eq!(api.post("groupchat/add_join_way", way).await["errcode"], 0);
    let scenario = scenario_from_toml(SCENARIO).expect("valid scenario");
    let report = sim.run_scenario(&scenario).await.expect("runs");
    // The truth agrees with the state it left behind.
    let callbacks = sim.state().callbacks();
    let adds = callbacks.iter().filter(|c| c.change_type == "add_external_contact").count() as u64;
    assert_eq!(adds, report.adds);
    let deletions = callbacks.iter().filter(|c| c.change_type == "del_follow_user").count() as u64;
    assert_eq!(deletions, report.deletions);
    sim.shutdown().await;
    report
}

#[tokio::test]
async fn scenario_is_deterministic() {
    let one = run_scenario(42).await;
    let two = run_scenario(42).await;
    assert_eq!(one, two);
    assert!(one.adds > 50 && one.group_joins > 10 && one.orders > 10, "{one:?}");
    assert_eq!(one.adds_by_state.values().sum::<u64>(), one.adds + one.half_adds);
    let other = run_scenario(43).await;
    assert_ne!(one, other);
    assert!(scenario_from_toml("duration_hours = 1").is_err(), "no store");
}

/// With `readd`, some customers who deleted their guide scan again later:
/// each such return is an ordinary add callback for a customer WeCom knew.
#[tokio::test]
async fn customers_who_leave_can_come_back() {
    let sim = start(SimConfig { seed: 7, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    api.contact_way("store-jingan", &["guide01", "guide02"]).await;
    let scenario = r#"
duration_hours = 240
tick_minutes = 60

[population]
size = 200

[rates]
scan = 0.5
join_group = 0.0
invite_friends = 0.0
order = 0.0
delete_guide = 0.3
readd = 0.5

[[stores]]
name = "静安店"
lat = 31.2235
lng = 121.4453
contact_way_state = "store-jingan"
"#;
    let report = sim.run_scenario(&scenario_from_toml(scenario).expect("valid")).await.expect("runs");
    assert!(report.deletions > 10 && report.readds > 5, "{report:?}");
    let callbacks = sim.state().callbacks();
    let adds = callbacks.iter().filter(|c| c.change_type == "add_external_contact").count() as u64;
    assert_eq!(adds, report.adds, "returns are adds");
    let first_adds = report.new_customers;
    assert!(report.adds + report.half_adds >= first_adds + report.readds, "{report:?}");
    // The returners are customers WeCom already knew: fewer customers than adds.
    assert!(report.new_customers < report.adds + report.half_adds);
    sim.shutdown().await;
}

/// With `talk`, customers in a group talk there and owners answer some:
/// every message lands in the session archive, in seq order, said by a
/// member of the group it names.
#[tokio::test]
async fn customers_in_groups_talk_into_the_session_archive() {
    let sim = start(SimConfig { seed: 11, ..frozen() }).await;
    let api = Api::connect(&sim).await;
    api.contact_way("store-jingan", &["guide01"]).await;
    let chat = api.sim("group/create", json!({ "owner": "guide01", "name": "静安群" })).await;
    let way = json!({ "scene": 2, "chat_id_list": [chat["chat_id"]], "room_base_name": "静安群", "room_base_id": 2, "state": "grp" });
    assert_eq!(api.post("groupchat/add_join_way", way).await["errcode"], 0);
    let scenario = r#"
duration_hours = 72
tick_minutes = 60

[population]
size = 100

[rates]
scan = 0.8
join_group = 0.8
invite_friends = 0.0
order = 0.0
delete_guide = 0.0
talk = 6.0

[[stores]]
name = "静安店"
lat = 31.2235
lng = 121.4453
contact_way_state = "store-jingan"
join_way_state = "grp"
"#;
    let report = sim.run_scenario(&scenario_from_toml(scenario).expect("valid")).await.expect("runs");
    assert!(report.group_joins > 10 && report.messages > 20, "{report:?}");
    let archive = sim.state().inspect(None, |w| w.chat.archive.clone()).expect("the corp");
    assert_eq!(archive.len() as u64, report.messages);
    assert!(archive.windows(2).all(|p| p[1].seq == p[0].seq + 1), "dense seqs");
    let groups = sim.state().groups();
    for m in &archive {
        let g = groups.iter().find(|g| g.chat_id == m.roomid).expect("a group of the corp");
        assert!(g.members.iter().any(|x| x.userid == m.from), "{} is in {}", m.from, m.roomid);
    }
    assert!(archive.iter().any(|m| m.from == "guide01"), "the owner answers some");
    assert!(scenario_from_toml(&scenario.replace("talk = 6.0", "talk = -1.0")).is_err());
    sim.shutdown().await;
}
