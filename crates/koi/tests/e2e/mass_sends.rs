//! Mass sends (群发) through the real binary and the simulator: a segment of
//! 5,000 customers over 10 guides, three of whom never confirm; each
//! customer once, one WeCom task per guide even when koi is SIGKILLed
//! mid-send; reminders reach only the guides who have not confirmed; the
//! numbers per guide equal the simulator's truth; the fatigue cap skips
//! customers touched twice already, with the reason shown. Then a moment
//! posted to two guides, with likes and comments counted.

use crate::group_codes::wait_long;
use crate::support::*;
use koi_sim::{Limits, SimConfig, SimCorp, SimStaff, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const CORP: &str = "wwMASSSEND";
const GUIDES: usize = 10;
const PER_GUIDE: usize = 500;

fn userid(i: usize) -> String {
    format!("guide{i:02}")
}

struct Rig {
    db: koi_store::scratch::ScratchDb,
    sim: koi_sim::SimHandle,
    server: Server,
    key: String,
    http: reqwest::Client,
    owner: String,
    serve_args: Vec<String>,
}

impl Rig {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, self.server.url(path)).bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        v
    }

    async fn sim(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(format!("{}{path}", self.sim.base_url())).json(&body).send().await.expect("sim");
        assert!(r.status().is_success(), "{path}");
        r.json().await.expect("json")
    }

    fn restart(&mut self) {
        self.server.kill();
        let args: Vec<&str> = self.serve_args.iter().map(String::as_str).collect();
        self.server = Server::start(&args);
    }

    /// The simulator's tasks by sender (the world settled first, so guides
    /// whose time to confirm has come have confirmed).
    fn tasks(&self) -> BTreeMap<String, Vec<koi_sim::world::MassTask>> {
        self.sim.state().act_on(None, |_| ());
        let mut out: BTreeMap<String, Vec<koi_sim::world::MassTask>> = BTreeMap::new();
        for t in self.sim.state().mass_tasks() {
            out.entry(t.task.sender.clone().unwrap_or_default()).or_default().push(t.task);
        }
        out
    }
}

/// A seed under which exactly three of the ten guides never confirm on
/// their own when 70 % do.
fn seed_with_three_silent() -> (u64, BTreeSet<String>) {
    for seed in 1..10_000u64 {
        let w = koi_sim::world::World::new(CORP, vec![], seed);
        let silent: BTreeSet<String> = (0..GUIDES).map(userid).filter(|u| !w.confirms_on_own(u, 0.7)).collect();
        if silent.len() == 3 {
            return (seed, silent);
        }
    }
    panic!("no seed gives three silent guides");
}

async fn start(backend: &str, seed: u64) -> Rig {
    let db = scratch(backend).await;
    let t = tenant(&db.url, CORP);
    let staff: Vec<SimStaff> = (0..GUIDES).map(|i| SimStaff::new(&userid(i), &format!("导购{i}"), 1)).collect();
    let limits = Limits { mass_confirm_share: 0.7, mass_confirm_delay_s: 60, ..Limits::default() };
    let sim = Simulator::start(
        SimConfig {
            seed,
            corps: vec![SimCorp {
                corp_id: CORP.into(),
                secret: "app-secret-value-123".into(),
                token: "QDG6eK".into(),
                encoding_aes_key: AES_KEY.into(),
                callback_url: None,
                staff,
                faults: koi_sim::Faults::default(),
            }],
            limits,
            ..SimConfig::default()
        },
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let serve_args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url, "--wecom-base-url"]
        .iter()
        .map(|s| s.to_string())
        .chain([sim.base_url()])
        .collect();
    let args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let key = api_key(&server, &t.owner).await;
    Rig { db, sim, server, key, http: reqwest::Client::new(), owner: t.owner, serve_args }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_send_reaches_each_customer_once_through_their_guide_sqlite() {
    let _heavy = HEAVY.lock().await;
    mass_send("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_send_reaches_each_customer_once_through_their_guide_postgres() {
    let _heavy = HEAVY.lock().await;
    mass_send("postgres").await;
}

async fn mass_send(backend: &str) {
    let (seed, silent) = seed_with_three_silent();
    let mut rig = start(backend, seed).await;
    let store = rig.ok(Method::POST, "/api/v1/stores", Some(json!({"code": "SH-01", "name": "静安店"}))).await;
    let store_id = store["id"].as_i64().unwrap();
    let mut staff_ids = Vec::new();
    for i in 0..GUIDES {
        let body = json!({"userid": userid(i), "name": format!("导购{i}"), "store_ids": [store_id]});
        staff_ids.push(rig.ok(Method::POST, "/api/v1/staff", Some(body)).await["id"].as_i64().unwrap());
    }
    // 5,000 customers, 500 per guide, as they stand in WeCom and in koi.
    let pairs: Vec<(String, usize)> =
        (0..GUIDES * PER_GUIDE).map(|n| (format!("wmmass{n:06}"), n / PER_GUIDE)).collect();
    let sim_pairs: Vec<(String, String)> = pairs.iter().map(|(e, g)| (userid(*g), e.clone())).collect();
    let now_s = rig.sim.state().clock.now_s();
    rig.sim.state().act_on(None, |w| w.seed_follows(&sim_pairs, now_s));
    let corp: i64 = rig.ok(Method::GET, "/api/v1/me", None).await["corp_id"].as_i64().unwrap();
    let koi_pairs: Vec<(String, i64)> = pairs.iter().map(|(e, g)| (e.clone(), staff_ids[*g])).collect();
    let mut tx = rig.db.db.begin().await.unwrap();
    let ids =
        tx.seed_followed_customers(corp, &koi_pairs, Some(store_id), koi_store::now_ms() - 86_400_000).await.unwrap();
    // Two customers of guide00 were touched twice today already (SOP pushes).
    let tired = [ids[0], ids[1]];
    for r in ["rule-1", "rule-2"] {
        tx.insert_touches(corp, &tired, "sop", r, koi_store::now_ms() - 3_600_000).await.unwrap();
    }
    tx.commit().await.unwrap();
    rig.ok(Method::PUT, "/api/v1/fatigue-cap", Some(json!({"enabled": true, "max_touches": 2, "window_hours": 24})))
        .await;
    let segment = rig
        .ok(Method::POST, "/api/v1/segments", Some(json!({"name": "静安店全部", "expr": format!("store:{store_id}")})))
        .await;
    let segment_id = segment["id"].as_i64().unwrap();
    let count = wait_long(|| async {
        let v =
            rig.ok(Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": format!("store:{store_id}")}))).await;
        (v["count"].as_u64() == Some((GUIDES * PER_GUIDE) as u64)).then_some(())
    });
    count.await;

    // Bad input: a clear 422 naming the field; nothing kept.
    let good = json!({"name": "周二爆品", "audience": {"type": "segment", "segment_id": segment_id},
        "text": "{guide}为您推荐本周爆品", "attachments": [{"msgtype": "link", "title": "本周爆品", "url": "https://shop.example/hot"}]});
    let mut unknown = good.clone();
    unknown["audience"]["segment_id"] = json!(999_999);
    let mut by_name = good.clone();
    by_name["text"] = json!("{name}您好");
    let mut too_many = good.clone();
    too_many["attachments"] = json!(vec![json!({"msgtype": "image", "pic_url": "https://x/a.jpg"}); 10]);
    for (bad, field, code) in [
        (unknown, "audience.segment_id", "unknown_segment"),
        (by_name, "text", "per_customer_variable"),
        (too_many, "attachments", "too_many"),
    ] {
        let (status, v) = rig.call(Method::POST, "/api/v1/mass-sends", Some(bad)).await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
        assert_eq!(
            (v["error"]["fields"][0]["field"].as_str(), v["error"]["fields"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{v}"
        );
    }
    assert!(rig.ok(Method::GET, "/api/v1/mass-sends", None).await.as_array().unwrap().is_empty());
    let preview = rig.ok(Method::POST, "/api/v1/mass-sends/preview", Some(good.clone())).await;
    assert_eq!(
        (preview["customers"].as_i64(), preview["over_cap"].as_i64(), preview["guides"].as_i64()),
        (Some(5000), Some(2), Some(10)),
        "{preview}"
    );

    // The send; koi is killed right after it starts, and restarted.
    let made = rig.ok(Method::POST, "/api/v1/mass-sends", Some(good)).await;
    let id = made["send"]["id"].as_i64().unwrap();
    rig.restart();
    let tasks = wait_long(|| async {
        let t = rig.tasks();
        (t.len() == GUIDES).then_some(t)
    })
    .await;
    // Let any job a dead worker left behind run out, then look again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let tasks_after = rig.tasks();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (sender, list) in &tasks_after {
        assert_eq!(list.len(), 1, "{sender} has exactly one task");
        let t = &list[0];
        let n: usize = sender.trim_start_matches("guide").parse().unwrap();
        assert_eq!(
            t.text.as_deref(),
            Some(format!("导购{n}为您推荐本周爆品").as_str()),
            "{{guide}} is the guide's name"
        );
        assert_eq!(t.attachments[0]["msgtype"], "link");
        for r in &t.recipients {
            assert!(owner.insert(r.external_userid.clone().unwrap(), sender.clone()).is_none(), "each customer once");
        }
    }
    assert_eq!(tasks.len(), tasks_after.len());
    assert_eq!(owner.len(), GUIDES * PER_GUIDE - 2, "all but the two over the cap");
    assert!(!owner.contains_key("wmmass000000") && !owner.contains_key("wmmass000001"));

    // Guides who confirm do so a minute after the task arrives; koi reminds
    // the others (never more than once here) and reads the results.
    rig.sim("/sim/clock/advance", json!({"seconds": 120})).await;
    let confirmed_truth = |rig: &Rig| -> BTreeMap<String, (bool, i64)> {
        rig.tasks()
            .into_iter()
            .map(|(s, t)| {
                let t = &t[0];
                let confirmed = t.members.get(&s).is_some_and(|m| m.0 == 2);
                (s, (confirmed, t.recipients.iter().filter(|r| r.status == 1).count() as i64))
            })
            .collect()
    };
    let truth = confirmed_truth(&rig);
    let silent_truth: BTreeSet<String> = truth.iter().filter(|(_, v)| !v.0).map(|(s, _)| s.clone()).collect();
    assert_eq!(silent_truth, silent, "30 % of guides never confirm");
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{id}/remind"), Some(json!({}))).await;
    let reminded = wait_long(|| async {
        let r: BTreeMap<String, usize> = rig.tasks().into_iter().map(|(s, t)| (s, t[0].reminds.len())).collect();
        (r.values().sum::<usize>() == silent.len()).then_some(r)
    })
    .await;
    for (s, n) in &reminded {
        assert_eq!(*n, usize::from(silent.contains(s)), "only the silent guides are reminded: {s}");
    }
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{id}/refresh"), Some(json!({}))).await;
    let d = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{id}"), None).await;
        let mine: BTreeMap<String, (bool, i64)> = d["guides"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["userid"].as_str().unwrap().to_string(),
                    (g["confirmed"].as_bool().unwrap(), g["sent"].as_i64().unwrap()),
                )
            })
            .collect();
        let reminders_seen =
            d["guides"].as_array().unwrap().iter().map(|g| g["reminders"].as_i64().unwrap()).sum::<i64>();
        (mine == truth && reminders_seen == silent.len() as i64).then_some(d)
    })
    .await;
    assert_eq!(d["send"]["planned"].as_i64(), Some(4998));
    assert_eq!(d["send"]["skipped"].as_i64(), Some(2));
    assert_eq!(d["send"]["confirmed_guides"].as_i64(), Some(7));
    assert_eq!(d["send"]["sent"].as_i64(), Some(truth.values().map(|v| v.1).sum::<i64>()));
    assert_eq!(d["stores"][0]["planned"].as_i64(), Some(4998));
    let skipped: Vec<&Value> = d["unsent"].as_array().unwrap().iter().filter(|u| u["state"] == "skipped").collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|u| u["reason"] == "fatigue_cap"), "{skipped:?}");
    assert!(d["reasons"].as_array().unwrap().iter().any(|r| r["reason"] == "fatigue_cap" && r["customers"] == 2));

    // Exactly once, again: the creation jobs of every task run once more.
    let koi_tasks = rig.db.db.guide_tasks_of(corp, "mass_send", id).await.unwrap();
    assert_eq!(koi_tasks.len(), GUIDES);
    rig.restart();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(rig.tasks().values().all(|t| t.len() == 1), "no second task after a restart");

    // Planned in chunks of whole guides (500 each: four to a chunk of
    // 2,000), each in its own transaction. Every chunk job runs once more,
    // as a duplicate would: the stage is empty, so nothing is planned twice.
    let chunks: Vec<i64> = rig
        .db
        .db
        .jobs(corp, Some(koi_domain::jobs::JobState::Done), 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == "outreach.plan_mass_send_chunk")
        .map(|j| j.id)
        .collect();
    assert_eq!(chunks.len(), 3, "5,000 customers of 500 per guide plan in 3 chunks");
    let now = koi_store::now_ms();
    let mut twins = Vec::new();
    for chunk in 0..3 {
        let payload = json!({"mass_send_id": id, "chunk": chunk}).to_string();
        let job = koi_store::jobs::NewJob::new(Some(corp), "outreach.plan_mass_send_chunk", &payload, now);
        twins.push(rig.db.db.enqueue(&job, now).await.unwrap());
    }
    wait_long(|| async {
        let done = rig.db.db.jobs(corp, Some(koi_domain::jobs::JobState::Done), 100_000).await.unwrap();
        twins.iter().all(|t| done.iter().any(|j| j.id == *t)).then_some(())
    })
    .await;
    assert_eq!(rig.db.db.guide_tasks_of(corp, "mass_send", id).await.unwrap().len(), GUIDES);
    let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{id}"), None).await;
    assert_eq!((d["send"]["planned"].as_i64(), d["send"]["skipped"].as_i64()), (Some(4998), Some(2)), "{}", d["send"]);
    assert_eq!(d["send"]["state"], "planned");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(rig.tasks().values().all(|t| t.len() == 1), "no second task from a twin chunk");

    // The console shows the send with the reason in Chinese.
    let c = login(&rig.server, &rig.owner, PASSWORD).await;
    let page = c.get(rig.server.url(&format!("/console/mass-sends/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("超过疲劳度上限") && page.contains("data-reason=\"fatigue_cap\""), "the reason is shown");
    let list = c.get(rig.server.url("/console/mass-sends")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("周二爆品") && list.contains("疲劳度上限"));

    // A moment for two guides: each publishes, likes and comments counted.
    let m = rig
        .ok(
            Method::POST,
            "/api/v1/moments",
            Some(json!({"name": "新品", "text": "新品上市", "media": {"type": "link", "title": "新品", "url": "https://shop.example/new"},
                "staff_ids": [staff_ids[0], staff_ids[1]]})),
        )
        .await;
    let mid = m["moment"]["id"].as_i64().unwrap();
    let (status, bad) = rig
        .call(
            Method::POST,
            "/api/v1/moments",
            Some(json!({"name": "x", "text": "", "media": {"type": "images", "urls": []}})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let posted = wait_long(|| async {
        let all = rig.sim.state().moments();
        (all.len() == 1).then(|| all[0].clone())
    })
    .await;
    assert_eq!(posted.members.len(), 2);
    rig.sim("/sim/moment/publish", json!({"id": posted.jobid})).await;
    let truth = rig.sim.state().moments()[0].clone();
    let likes: usize = truth.members.values().map(|c| c.likes.len()).sum();
    let comments: usize = truth.members.values().map(|c| c.comments.len()).sum();
    assert!(likes > 0, "a fifth of 1,000 customers like it");
    rig.ok(Method::POST, &format!("/api/v1/moments/{mid}/refresh"), Some(json!({}))).await;
    wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/moments/{mid}"), None).await;
        (d["moment"]["posted"].as_i64() == Some(2)
            && d["moment"]["likes"].as_i64() == Some(likes as i64)
            && d["moment"]["comments"].as_i64() == Some(comments as i64))
        .then_some(())
    })
    .await;
}

/// A seed under which exactly one of the first `n` guides never confirms
/// on their own when 70 % do.
fn seed_with_one_silent_of(n: usize) -> (u64, String) {
    for seed in 1..10_000u64 {
        let w = koi_sim::world::World::new(CORP, vec![], seed);
        let silent: Vec<String> = (0..n).map(userid).filter(|u| !w.confirms_on_own(u, 0.7)).collect();
        if silent.len() == 1 {
            return (seed, silent[0].clone());
        }
    }
    panic!("no seed gives one silent guide");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_send_to_groups_goes_through_each_owner_once_sqlite() {
    let _heavy = HEAVY.lock().await;
    group_send("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_send_to_groups_goes_through_each_owner_once_postgres() {
    let _heavy = HEAVY.lock().await;
    group_send("postgres").await;
}

/// The simulator's group tasks by msgid.
fn group_tasks(rig: &Rig) -> BTreeMap<String, koi_sim::world::MassTask> {
    rig.sim.state().act_on(None, |_| ());
    rig.sim
        .state()
        .mass_tasks()
        .into_iter()
        .filter(|t| t.task.chat_type == "group")
        .map(|t| (t.task.msgid.clone(), t.task))
        .collect()
}

/// A send to groups of 3 owners (one never confirms), one group past
/// WeCom's 4 a month, one group of an owner left out; the per-group and
/// per-owner results equal the simulator's truth. Then a task whose answer
/// was lost is settled by looking it up in WeCom (adopted, read), and one
/// that never reached WeCom is looked up, found absent and resent once.
async fn group_send(backend: &str) {
    let (seed, silent) = seed_with_one_silent_of(3);
    let rig = start(backend, seed).await;
    let store = rig.ok(Method::POST, "/api/v1/stores", Some(json!({"code": "SH-02", "name": "徐汇店"}))).await;
    let store_id = store["id"].as_i64().unwrap();
    let mut staff_ids = Vec::new();
    for i in 0..3 {
        let body = json!({"userid": userid(i), "name": format!("群主{i}"), "store_ids": [store_id]});
        staff_ids.push(rig.ok(Method::POST, "/api/v1/staff", Some(body)).await["id"].as_i64().unwrap());
    }
    // Two groups per owner, and a third of guide00's that is not picked.
    let mut chats: Vec<(usize, String)> = Vec::new();
    for (owner, name) in [(0, "一群"), (0, "二群"), (1, "三群"), (1, "四群"), (2, "五群"), (2, "六群"), (0, "不选群")]
    {
        let v = rig.sim("/sim/group/create", json!({"owner": userid(owner), "name": name})).await;
        chats.push((owner, v["chat_id"].as_str().unwrap().to_string()));
    }
    let left_out = chats[6].1.clone();
    // The first group of an owner who confirms has had the corp's 4 mass
    // messages this month already.
    let full_owner = (0..3).find(|i| userid(*i) != silent).unwrap();
    let full = chats[full_owner * 2].1.clone();
    let now_s = rig.sim.state().clock.now_s();
    rig.sim.state().act_on(None, |w| {
        let window = koi_sim::world::World::quota_window(now_s, koi_sim::config::QuotaWindow::Month);
        w.quota.insert((full.clone(), window), 4);
    });
    rig.ok(Method::POST, "/api/v1/groups/sync", None).await;
    let groups = wait_long(|| async {
        let g = rig.ok(Method::GET, "/api/v1/groups", None).await;
        let synced = g.as_array().unwrap().iter().filter(|g| g["synced_at"].as_i64() > Some(0)).count();
        (synced == chats.len()).then_some(g)
    })
    .await;
    let id_of =
        |chat: &str| groups.as_array().unwrap().iter().find(|g| g["chat_id"] == chat).unwrap()["id"].as_i64().unwrap();
    let picked: Vec<i64> = chats[..6].iter().map(|(_, c)| id_of(c)).collect();

    // Bad input: an unknown group or guide, a clear 422; nothing kept.
    for (audience, field, code) in [
        (json!({"type": "groups", "group_ids": [999_999]}), "audience.group_ids", "unknown_group"),
        (json!({"type": "groups", "owner_staff_id": 999_999}), "audience.owner_staff_id", "unknown_staff"),
        (json!({"type": "groups", "group_ids": [-1]}), "audience.group_ids", "not_a_group"),
    ] {
        let body = json!({"name": "x", "audience": audience, "text": "hi"});
        let (status, v) = rig.call(Method::POST, "/api/v1/mass-sends", Some(body)).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(
            (v["error"]["fields"][0]["field"].as_str(), v["error"]["fields"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{v}"
        );
    }
    assert!(rig.ok(Method::GET, "/api/v1/mass-sends", None).await.as_array().unwrap().is_empty());

    let body = json!({"name": "群发周末活动", "audience": {"type": "groups", "group_ids": picked},
        "text": "{guide}：周末活动开始啦", "attachments": [{"msgtype": "link", "title": "活动", "url": "https://shop.example/weekend"}]});
    let preview = rig.ok(Method::POST, "/api/v1/mass-sends/preview", Some(body.clone())).await;
    assert_eq!((preview["groups"].as_i64(), preview["guides"].as_i64()), (Some(6), Some(3)), "{preview}");
    let made = rig.ok(Method::POST, "/api/v1/mass-sends", Some(body)).await;
    let id = made["send"]["id"].as_i64().unwrap();

    // One WeCom task per owner, to exactly their picked groups.
    let tasks = wait_long(|| async {
        let t = group_tasks(&rig);
        (t.len() == 3).then_some(t)
    })
    .await;
    let mut by_owner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in tasks.values() {
        let sender = t.sender.clone().unwrap();
        let n: usize = sender.trim_start_matches("guide").parse().unwrap();
        assert_eq!(t.text.as_deref(), Some(format!("群主{n}：周末活动开始啦").as_str()));
        let mine: BTreeSet<String> = t.recipients.iter().map(|r| r.chat_id.clone().unwrap()).collect();
        assert!(by_owner.insert(sender, mine).is_none(), "one task per owner");
    }
    for (owner, chat) in &chats[..6] {
        assert!(by_owner[&userid(*owner)].contains(chat), "{chat} goes through its owner");
    }
    assert!(by_owner.values().all(|s| s.len() == 2 && !s.contains(&left_out)), "only the picked groups");

    // Owners who confirm do so a minute after; koi reads the results.
    rig.sim("/sim/clock/advance", json!({"seconds": 120})).await;
    let truth: BTreeMap<String, (String, String)> = group_tasks(&rig)
        .values()
        .flat_map(|t| t.recipients.iter().map(|r| (r.chat_id.clone().unwrap(), r.status)))
        .map(|(chat, status)| {
            let (state, reason) = match status {
                1 => ("sent", ""),
                3 => ("failed", "group_quota_used"),
                0 => ("planned", ""),
                _ => ("failed", "group_gone"),
            };
            (chat, (state.to_string(), reason.to_string()))
        })
        .collect();
    assert_eq!(truth[&full], ("failed".into(), "group_quota_used".into()), "WeCom's 4 a month holds");
    assert_eq!(truth.values().filter(|v| v.0 == "planned").count(), 2, "the silent owner's two groups wait");
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{id}/refresh"), Some(json!({}))).await;
    let d = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{id}"), None).await;
        let mine: BTreeMap<String, (String, String)> = d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let s = |k: &str| g[k].as_str().unwrap().to_string();
                (s("chat_id"), (s("state"), s("reason")))
            })
            .collect();
        (mine == truth).then_some(d)
    })
    .await;
    assert_eq!((d["send"]["planned"].as_i64(), d["send"]["skipped"].as_i64()), (Some(6), Some(0)));
    let owners: BTreeMap<String, (bool, i64, i64, i64)> = d["guides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let n = |k: &str| g[k].as_i64().unwrap();
            (
                g["userid"].as_str().unwrap().to_string(),
                (g["confirmed"].as_bool().unwrap(), n("sent"), n("failed"), n("waiting")),
            )
        })
        .collect();
    for (owner, (confirmed, sent, failed, waiting)) in &owners {
        let groups: Vec<&(String, String)> = by_owner[owner].iter().map(|c| &truth[c]).collect();
        assert_eq!(*confirmed, owner != &silent, "{owner}");
        assert_eq!(*sent, groups.iter().filter(|g| g.0 == "sent").count() as i64, "{owner}");
        assert_eq!(*failed, groups.iter().filter(|g| g.0 == "failed").count() as i64, "{owner}");
        assert_eq!(*waiting, groups.iter().filter(|g| g.0 == "planned").count() as i64, "{owner}");
    }
    assert_eq!(owners.len(), 3);
    assert!(d["reasons"].as_array().unwrap().iter().any(|r| r["reason"] == "group_quota_used" && r["customers"] == 1));
    // Reminders reach only the owner who has not confirmed.
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{id}/remind"), Some(json!({}))).await;
    let reminded = wait_long(|| async {
        let r: BTreeMap<String, usize> =
            group_tasks(&rig).values().map(|t| (t.sender.clone().unwrap(), t.reminds.len())).collect();
        (r.values().sum::<usize>() == 1).then_some(r)
    })
    .await;
    assert_eq!(reminded[&silent], 1);

    // The console shows each group with its reason, in Chinese.
    let c = login(&rig.server, &rig.owner, PASSWORD).await;
    let page = c.get(rig.server.url(&format!("/console/mass-sends/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("该群本月已收满企业 4 条群发") && page.contains(&format!("data-group=\"{full}\"")), "{page}");

    // A confirming owner's send whose answer is lost after WeCom made the
    // task: the retry finds it claimed and ends it unknown; the lookup
    // finds WeCom's task and adopts it; no second task is made.
    let owner = (0..3).map(userid).find(|u| *u != silent).unwrap();
    let owner_id = staff_ids[owner.trim_start_matches("guide").parse::<usize>().unwrap()];
    let put_faults = |v: Value| {
        let url = format!("{}/sim/corps/{CORP}/faults", rig.sim.base_url());
        let http = rig.http.clone();
        async move { assert!(http.put(url).json(&v).send().await.unwrap().status().is_success()) }
    };
    put_faults(json!({"lose_answers": {"externalcontact/add_msg_template": 1}})).await;
    let body = json!({"name": "丢失应答", "audience": {"type": "groups", "owner_staff_id": owner_id, "group_ids": picked},
        "text": "答复丢失的一条"});
    let lost = rig.ok(Method::POST, "/api/v1/mass-sends", Some(body)).await["send"]["id"].as_i64().unwrap();
    let task = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{lost}"), None).await;
        (d["tasks"][0]["state"] == "unknown").then(|| d["tasks"][0].clone())
    })
    .await;
    let task_id = task["id"].as_i64().unwrap();
    let made: Vec<String> = group_tasks(&rig)
        .values()
        .filter(|t| t.text.as_deref() == Some("答复丢失的一条"))
        .map(|t| t.msgid.clone())
        .collect();
    assert_eq!(made.len(), 1, "WeCom made it once although koi heard no answer");
    let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{lost}"), None).await;
    assert!(d["groups"].as_array().unwrap().iter().all(|g| g["reason"] == "outcome_unknown"), "{d}");
    let (status, v) =
        rig.call(Method::POST, &format!("/api/v1/mass-sends/{lost}/tasks/{task_id}/resend"), Some(json!({}))).await;
    assert_eq!(
        (status, v["error"]["fields"][0]["code"].as_str()),
        (422, Some("not_absent")),
        "not before a lookup: {v}"
    );
    let (status, _) =
        rig.call(Method::POST, &format!("/api/v1/mass-sends/{lost}/tasks/{task_id}/settle"), Some(json!({}))).await;
    assert_eq!(status, 202);
    let d = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{lost}"), None).await;
        (d["tasks"][0]["state"] == "created").then_some(d)
    })
    .await;
    assert_eq!(d["tasks"][0]["wecom_msgid"].as_str(), Some(made[0].as_str()), "WeCom's task adopted");
    rig.sim("/sim/clock/advance", json!({"seconds": 120})).await;
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{lost}/refresh"), Some(json!({}))).await;
    wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{lost}"), None).await;
        let states: BTreeSet<String> =
            d["groups"].as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap().to_string()).collect();
        (!states.contains("planned")
            && !d["groups"].as_array().unwrap().iter().any(|g| g["reason"] == "outcome_unknown"))
        .then_some(())
    })
    .await;
    let (status, v) =
        rig.call(Method::POST, &format!("/api/v1/mass-sends/{lost}/tasks/{task_id}/settle"), Some(json!({}))).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("not_unknown")), "{v}");

    // A send that never reached WeCom (a gateway failed before it): unknown,
    // looked up, absent; resent once, and a second resend is refused.
    put_faults(json!({"error_rate_5xx": 1.0})).await;
    let body = json!({"name": "未到达", "audience": {"type": "groups", "owner_staff_id": owner_id, "group_ids": picked},
        "text": "没有到达的一条"});
    let never = rig.ok(Method::POST, "/api/v1/mass-sends", Some(body)).await["send"]["id"].as_i64().unwrap();
    let task = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{never}"), None).await;
        (d["tasks"][0]["state"] == "unknown").then(|| d["tasks"][0].clone())
    })
    .await;
    put_faults(json!({})).await;
    let task_id = task["id"].as_i64().unwrap();
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{never}/tasks/{task_id}/settle"), Some(json!({}))).await;
    wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{never}"), None).await;
        (d["tasks"][0]["state"] == "absent").then_some(())
    })
    .await;
    let count = |rig: &Rig| group_tasks(rig).values().filter(|t| t.text.as_deref() == Some("没有到达的一条")).count();
    assert_eq!(count(&rig), 0);
    rig.ok(Method::POST, &format!("/api/v1/mass-sends/{never}/tasks/{task_id}/resend"), Some(json!({}))).await;
    let (status, v) =
        rig.call(Method::POST, &format!("/api/v1/mass-sends/{never}/tasks/{task_id}/resend"), Some(json!({}))).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("not_absent")), "{v}");
    let d = wait_long(|| async {
        let d = rig.ok(Method::GET, &format!("/api/v1/mass-sends/{never}"), None).await;
        (d["tasks"][0]["state"] == "created").then_some(d)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(count(&rig), 1, "resent exactly once");
    assert!(d["groups"].as_array().unwrap().iter().all(|g| g["state"] == "planned"), "{d}");
}
