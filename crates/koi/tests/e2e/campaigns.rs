//! Fission campaigns end to end, through the simulator over real HTTP.
//!
//! UR's group fission (seed 001): "invite 3 sisters into the group, get a
//! ¥20 coupon" — three friends join through the participant's group entry,
//! one leaves within the hold, and the reward waits for a replacement.
//! A fraud burst — invitees on one device, a ring, a delete-and-re-add, a
//! self-invite — brings no reward, and each rejected invite keeps its
//! reason. A farm of accounts that invited one another in an earlier
//! campaign is a dense clique: its invites in the next campaign earn
//! nothing, while a normal invite tree beside it is paid. A friend invited
//! through a participant's entry orders: the order counts for the campaign
//! (by the window), and an order paid with the campaign's reward coupon
//! counts for it by the coupon; the dashboard sums orders, first orders
//! and GMV.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::group_codes::{call, get, groups, sim, wait_long};
use crate::support::{Server, HEAVY};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The hold of these tests: long enough to leave within it, short enough to wait out.
const HOLD_SECS: i64 = 6;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn start(backend: &str) -> Acq {
    Acq::start_with(backend, &["--campaign-tick-secs", "1"]).await
}

/// A customer koi knows, with a live follow of wang.fang: added through a
/// plain channel code.
async fn customer(acq: &Acq, code_config: &str, name: &str) -> (String, i64) {
    let out = acq.scan(code_config, json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    let id = wait_for(|| async {
        let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
        let list = list.as_array().unwrap();
        list.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    (ext, id)
}

/// A channel code of one guide, for customers to come in through.
async fn plain_code(acq: &Acq) -> String {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    made["config_id"].as_str().unwrap().to_string()
}

fn campaign_draft(acq: &Acq, kind: &str, tiers: Value) -> Value {
    json!({
        "name": "邀请3位姐妹进群", "kind": kind,
        "starts_at": now_ms() - 60_000, "ends_at": now_ms() + 3_600_000,
        "staff_ids": [acq.staff[0]],
        "welcome": "欢迎加入！分享你的专属码，邀请好友一起来",
        "tiers": tiers,
        "rules_text": "好友需保持关系满规定时间才计入",
        "risk": { "hold_secs": HOLD_SECS },
    })
}

async fn launch(acq: &Acq, draft: Value) -> i64 {
    let (status, c) = call(acq, Method::POST, "/api/v1/campaigns", Some(draft)).await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (status, c) =
        call(acq, Method::POST, &format!("/api/v1/campaigns/{id}/transition"), Some(json!({"action": "launch"}))).await;
    assert_eq!((status, c["state"].as_str()), (200, Some("running")), "{c}");
    id
}

/// Enrolls a customer and waits for their entry; returns (participant, its QR).
async fn enroll(acq: &Acq, campaign: i64, customer_id: i64) -> (Value, String) {
    let (status, v) = call(
        acq,
        Method::POST,
        &format!("/api/v1/campaigns/{campaign}/participants"),
        Some(json!({"customer_ids": [customer_id]})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    entry_of(acq, campaign, customer_id).await
}

async fn entry_of(acq: &Acq, campaign: i64, customer_id: i64) -> (Value, String) {
    wait_long(|| async {
        let list = get(acq, &format!("/api/v1/campaigns/{campaign}/participants")).await;
        let p = list.as_array().unwrap().iter().find(|p| p["customer_id"] == customer_id)?.clone();
        let qr = p["qr_code"].as_str().filter(|_| p["entry_state"] == "ready")?.to_string();
        Some((p, qr))
    })
    .await
}

async fn invites(acq: &Acq, campaign: i64, query: &str) -> Vec<Value> {
    get(acq, &format!("/api/v1/campaigns/{campaign}/invites{query}")).await.as_array().unwrap().clone()
}

async fn dashboard(acq: &Acq, campaign: i64) -> Value {
    get(acq, &format!("/api/v1/campaigns/{campaign}/dashboard")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ur_group_fission_waits_for_a_replacement_sqlite() {
    ur_group_fission("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ur_group_fission_waits_for_a_replacement_postgres() {
    ur_group_fission("postgres").await;
}

async fn ur_group_fission(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let (_, chats_ids) = groups(&acq, &[("wang.fang", "UR姐妹福利群".to_string())]).await;
    let draft = json!({"name": "UR福利群", "group_kind": "paid", "group_ids": chats_ids, "cap": 200});
    let (status, gc) = call(&acq, Method::POST, "/api/v1/group-codes", Some(draft)).await;
    assert_eq!(status, 201, "{gc}");
    let group_code = gc["code"]["id"].as_i64().unwrap();

    // Bad input: a group fission without its group code is refused, naming the field.
    let mut bad = campaign_draft(
        &acq,
        "group",
        json!([{"threshold": 3, "reward": {"kind": "coupon", "title": "¥20券", "url": "https://ur.example/c/20"}}]),
    );
    let (status, v) = call(&acq, Method::POST, "/api/v1/campaigns", Some(bad.clone())).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    assert!(v["error"]["fields"].as_array().unwrap().iter().any(|f| f["field"] == "group_code_id"), "{v}");
    bad["group_code_id"] = json!(group_code);
    let campaign = launch(&acq, bad).await;

    let (_, alice) = customer(&acq, &code, "小美").await;
    let (participant, qr) = enroll(&acq, campaign, alice).await;
    assert_eq!(participant["depth"], 0);
    // Her guide tells her about the campaign (a message task in WeCom).
    wait_for(|| async {
        let tasks = acq.sim.state().mass_tasks();
        tasks.iter().any(|t| t.task.text.as_deref().is_some_and(|x| x.contains("邀请 3 位好友"))).then_some(())
    })
    .await;

    // Three sisters join through her group entry; one leaves within the hold.
    let mut sisters = vec![];
    for name in ["小红", "小兰", "小青"] {
        let j = sim(&acq, "/sim/join", json!({"qr_code": qr, "customer": {"name": name}})).await;
        sisters.push(j["external_userid"].as_str().unwrap_or_default().to_string());
    }
    wait_long(|| async { (invites(&acq, campaign, "").await.len() == 3).then_some(()) }).await;
    assert!(invites(&acq, campaign, "").await.iter().all(|i| i["state"] == "pending" && i["via"] == "join"));
    let chat = acq
        .sim
        .state()
        .groups()
        .into_iter()
        .find(|g| g.members.iter().any(|m| m.userid == sisters[2]))
        .unwrap()
        .chat_id;
    sim(&acq, "/sim/group/leave", json!({"chat_id": chat, "userid": sisters[2]})).await;

    // After the hold: two count, the leaver does not, and no reward yet.
    let decided = wait_long(|| async {
        let all = invites(&acq, campaign, "").await;
        all.iter().all(|i| i["state"] != "pending").then_some(all)
    })
    .await;
    let state_of = |ext: &str| decided.iter().find(|i| i["invitee"] == ext).unwrap().clone();
    assert_eq!(state_of(&sisters[2])["reason"], "left_early", "{decided:?}");
    assert_eq!(decided.iter().filter(|i| i["state"] == "valid").count(), 2);
    let rewards = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
    assert!(rewards.as_array().unwrap().is_empty(), "two stayed: the reward waits for a replacement");

    // A fourth sister replaces her: three stay, the coupon is issued once.
    sim(&acq, "/sim/join", json!({"qr_code": qr, "customer": {"name": "小紫"}})).await;
    let reward = wait_long(|| async {
        let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
        r.as_array().unwrap().first().filter(|r| r["state"] == "issued" && r["notice"] == "sent").cloned()
    })
    .await;
    assert_eq!((reward["tier"].as_i64(), reward["kind"].as_str()), (Some(1), Some("coupon")));
    let code = reward["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 12);
    let d = dashboard(&acq, campaign).await;
    assert_eq!((d["totals"]["valid"].as_i64(), d["totals"]["rejected"].as_i64()), (Some(3), Some(1)), "{d}");
    assert_eq!(d["totals"]["rewards_issued"], 1);
    assert_eq!(d["reasons"][0]["reason"], "left_early");
    // Her page shows it; the redemption code works once.
    let page = acq.http.get(acq.server.url(participant["page_path"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&code) && html.contains("好友已删除或退群"), "{html}");
    let (status, r) =
        call(&acq, Method::POST, "/api/v1/rewards/redeem", Some(json!({"code": code.to_lowercase()}))).await;
    assert_eq!((status, r["state"].as_str()), (200, Some("redeemed")), "{r}");
    let (status, r) = call(&acq, Method::POST, "/api/v1/rewards/redeem", Some(json!({"code": code}))).await;
    assert_eq!((status, r["error"]["code"].as_str()), (409, Some("conflict")), "{r}");
    let (status, _) = call(&acq, Method::POST, "/api/v1/rewards/redeem", Some(json!({"code": "NOSUCHCODE22"}))).await;
    assert_eq!(status, 404);
    // A second read of the same joins (a full group sync) changes nothing.
    call(&acq, Method::POST, "/api/v1/groups/sync", None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(invites(&acq, campaign, "").await.len(), 4);
    assert_eq!(get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await.as_array().unwrap().len(), 1);
    let _ = CORP;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraud_burst_earns_nothing_sqlite() {
    fraud_burst("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraud_burst_earns_nothing_postgres() {
    fraud_burst("postgres").await;
}

/// The invitee's own page link, from the welcome koi sent them.
async fn page_of(acq: &Acq, external_userid: &str) -> String {
    wait_long(|| async {
        let w = acq.sim.state().welcome_messages();
        let sent = w.iter().find(|w| w.external_userid == external_userid)?;
        let url = sent.attachments[0]["link"]["url"].as_str()?.to_string();
        Some(url)
    })
    .await
}

async fn fraud_burst(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let tiers =
        json!([{"threshold": 3, "reward": {"kind": "gift", "title": "帆布袋", "cost_fen": 1500}, "inventory": 10}]);
    let mut draft = campaign_draft(&acq, "task", tiers);
    draft["budget_fen"] = json!(100_000);
    // Customers come in through wang.fang; the campaign's entries add li.na.
    draft["staff_ids"] = json!([acq.staff[1]]);
    let campaign = launch(&acq, draft).await;
    let (alice_ext, alice) = customer(&acq, &code, "阿丽").await;
    let (_, qr) = enroll(&acq, campaign, alice).await;
    let config = |qr: &str| qr.rsplit('/').next().unwrap().to_string();
    let entry = config(&qr);

    // Four invitees who then open their pages from one phone (a cluster).
    let phone = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let mut farm = vec![];
    for i in 0..4 {
        let out = acq.scan(&entry, json!({"name": format!("小号{i}")})).await;
        farm.push(out["external_userid"].as_str().unwrap().to_string());
    }
    for ext in &farm {
        let url = page_of(&acq, ext).await;
        assert_eq!(phone.get(&url).send().await.unwrap().status(), 200);
    }
    // A self-invite; then she deletes li.na and comes back through her
    // invitee's entry: a ring (she is their inviter).
    acq.scan(&entry, json!({"external_userid": alice_ext})).await;
    wait_for(|| async { invites(&acq, campaign, "?reason=self_invite").await.first().map(|_| ()) }).await;
    sim(&acq, "/sim/customer/delete_staff", json!({"external_userid": alice_ext, "userid": "li.na"})).await;
    let first_id = wait_for(|| async {
        let ps = get(&acq, &format!("/api/v1/campaigns/{campaign}/participants")).await;
        let p = ps.as_array().unwrap().iter().find(|p| p["depth"] == 1 && p["name"] == "小号0")?.clone();
        p["customer_id"].as_i64()
    })
    .await;
    // Opening the page made their entry.
    let (_, first_qr) = entry_of(&acq, campaign, first_id).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    acq.scan(&config(&first_qr), json!({"external_userid": alice_ext})).await;
    // A delete-and-re-add.
    let out = acq.scan(&entry, json!({"name": "反复横跳"})).await;
    let hopper = out["external_userid"].as_str().unwrap().to_string();
    wait_for(|| async {
        invites(&acq, campaign, "").await.iter().any(|i| i["invitee"] == hopper.as_str()).then_some(())
    })
    .await;
    sim(&acq, "/sim/customer/delete_staff", json!({"external_userid": hopper, "userid": "li.na"})).await;
    // WeCom stamps events in seconds: the same add in the same second is a duplicate.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    acq.scan(&entry, json!({"external_userid": hopper})).await;

    // Every invite decided: none counts, no reward, each keeps its reason.
    let all = wait_long(|| async {
        let all = invites(&acq, campaign, "").await;
        (all.len() >= 8 && all.iter().all(|i| i["state"] != "pending")).then_some(all)
    })
    .await;
    let reason = |ext: &str| -> Vec<String> {
        all.iter().filter(|i| i["invitee"] == ext).map(|i| i["reason"].as_str().unwrap_or("").to_string()).collect()
    };
    for ext in &farm {
        assert_eq!(reason(ext), ["cluster"], "{ext}: {all:?}");
    }
    let mut alice_reasons = reason(&alice_ext);
    alice_reasons.sort();
    assert_eq!(alice_reasons, ["ring", "self_invite"], "{all:?}");
    let mut hop = reason(&hopper);
    hop.sort();
    assert_eq!(hop, ["left_early", "readd"], "{all:?}");
    assert!(all.iter().all(|i| i["state"] == "rejected"), "{all:?}");
    let d = dashboard(&acq, campaign).await;
    assert_eq!((d["totals"]["valid"].as_i64(), d["totals"]["rewards_issued"].as_i64()), (Some(0), Some(0)), "{d}");
    assert!(get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await.as_array().unwrap().is_empty());

    // The operator overrides three cluster verdicts: the tier is reached and
    // the gift issued once, however often the button is pressed.
    for ext in &farm[..3] {
        let id = all.iter().find(|i| i["invitee"] == ext.as_str()).unwrap()["id"].as_i64().unwrap();
        for _ in 0..2 {
            let (status, v) = call(
                &acq,
                Method::POST,
                &format!("/api/v1/campaigns/{campaign}/invites/{id}/override"),
                Some(json!({"valid": true})),
            )
            .await;
            assert_eq!((status, v["state"].as_str()), (200, Some("valid")), "{v}");
        }
    }
    let rewards = wait_long(|| async {
        let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
        r.as_array().unwrap().first().filter(|r| r["state"] == "issued").map(|_| r.clone())
    })
    .await;
    assert_eq!(rewards.as_array().unwrap().len(), 1);
    assert_eq!(dashboard(&acq, campaign).await["totals"]["cost_fen"], 1500);
    // One of them rejected again: the unused gift is taken back, its cost
    // and unit given back to the budget and the inventory.
    let id = all.iter().find(|i| i["invitee"] == farm[0].as_str()).unwrap()["id"].as_i64().unwrap();
    let path = format!("/api/v1/campaigns/{campaign}/invites/{id}/override");
    let (status, v) = call(&acq, Method::POST, &path, Some(json!({"valid": false}))).await;
    assert_eq!((status, v["state"].as_str()), (200, Some("rejected")), "{v}");
    let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
    assert_eq!(r[0]["state"], "revoked", "{r}");
    assert_eq!(get(&acq, &format!("/api/v1/campaigns/{campaign}")).await["spent_fen"], 0);
    // The CSV has every invite.
    let csv = acq.http.get(acq.server.url(&format!("/api/v1/campaigns/{campaign}/invites.csv"))).bearer_auth(&acq.key);
    let csv = csv.send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), all.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_participants_are_paid_once_sqlite() {
    paid_once("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_participants_are_paid_once_postgres() {
    paid_once("postgres").await;
}

const PARTICIPANTS: usize = 1_000;
/// ¥1 packets; the budget pays 800 of the 1,000 reached.
const PACKET_FEN: i64 = 100;
const BUDGET_FEN: i64 = 80_000;

/// Customers scan contact ways, one each; their external_userids.
async fn scan_many(acq: &Acq, config_ids: &[String], names: &str) -> Vec<String> {
    let mut out = vec![];
    for (i, c) in config_ids.iter().enumerate() {
        let s = acq.scan(c, json!({"name": format!("{names}{i}")})).await;
        out.push(s["external_userid"].as_str().unwrap().to_string());
    }
    out
}

/// 1,000 participants each bring a friend through their own entry, with
/// WeCom's callbacks duplicated and reordered and WeChat Pay answering
/// SYSTEMERROR (sometimes after paying); koi is killed (SIGKILL) while the
/// red envelopes go out and started again. Each reached tier is paid
/// exactly once, and the budget is never passed: 800 packets, 200 withheld.
async fn paid_once(backend: &str) {
    let _alone = HEAVY.lock().await;
    // A short lease, so the killed node's jobs are taken over within the test.
    let lease = ["--campaign-tick-secs", "1", "--job-lease-secs", "10"];
    let mut acq = Acq::start_with(backend, &lease).await;
    let merchant = acq.sim.state().pay_merchants().into_iter().next().expect("the simulator hosts a merchant");
    acq.sim.state().set_pay_balance(&merchant.mch_id, 10_000_000);
    let pay = json!({
        "enabled": true, "mch_id": merchant.mch_id, "api_key": merchant.api_key,
        "workwx_secret": merchant.workwx_secret, "base_url": format!("{}/pay", acq.sim.base_url()),
        "act_name": "老带新", "wishing": "恭喜发财",
    });
    let owner = crate::support::api_key_as(&acq.server, &acq.owner, "owner").await;
    let r = acq.http.put(acq.server.url("/api/v1/settings/pay")).bearer_auth(owner).json(&pay).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let code = plain_code(&acq).await;
    let started = std::time::Instant::now();
    let seeds = scan_many(&acq, &vec![code; PARTICIPANTS], "老客").await;
    let ids = wait_long(|| async {
        let r = acq.http.get(acq.server.url("/api/v1/customers")).bearer_auth(&acq.key).send().await.unwrap();
        let total: usize = r.headers()["x-total-count"].to_str().unwrap().parse().unwrap();
        (total == PARTICIPANTS).then(|| (1..=PARTICIPANTS as i64).collect::<Vec<i64>>())
    })
    .await;
    let tiers = json!([{"threshold": 1, "reward": {"kind": "red_envelope", "amount": PACKET_FEN}}]);
    let mut draft = campaign_draft(&acq, "task", tiers);
    draft["budget_fen"] = json!(BUDGET_FEN);
    // The hold lets every add land before the first envelope goes out.
    draft["risk"] = json!({"hold_secs": 8});
    let campaign = launch(&acq, draft).await;
    let (status, v) = call(
        &acq,
        Method::POST,
        &format!("/api/v1/campaigns/{campaign}/participants"),
        Some(json!({"customer_ids": ids})),
    )
    .await;
    assert_eq!((status, v["enrolled"].as_u64()), (200, Some(PARTICIPANTS as u64)), "{v}");
    let entry_state = format!("a{}i", campaign_state_part(campaign));
    let entries = wait_long(|| async {
        let ways = acq.sim.state().contact_ways();
        let mine: Vec<String> =
            ways.iter().filter(|w| w.state.contains(&entry_state)).map(|w| w.config_id.clone()).collect();
        (mine.len() == PARTICIPANTS).then_some(mine)
    })
    .await;
    eprintln!("{backend}: {PARTICIPANTS} customers and entries in {:?}", started.elapsed());

    // Every participant brings one friend; callbacks come twice and out of order.
    let faults = json!({"callback_duplicate_rate": 0.3, "callback_reorder": true});
    let url = format!("{}/sim/corps/{CORP}/faults", acq.sim.base_url());
    assert!(acq.http.put(&url).json(&faults).send().await.unwrap().status().is_success());
    let pay_faults =
        koi_sim::PayFaults { systemerror_rate: 0.2, systemerror_paid_share: 0.5, latency_ms: 5, ..Default::default() };
    assert!(acq.sim.state().set_pay_faults(&merchant.mch_id, pay_faults));
    let friends = scan_many(&acq, &entries, "好友").await;
    assert_eq!(friends.len(), PARTICIPANTS);
    assert!(seeds.iter().all(|s| !friends.contains(s)));

    // Every add acknowledged and recorded; then koi is killed while the
    // envelopes go out, and started again (its jobs' leases run out in 10 s).
    eprintln!("{backend}: friends scanned in {:?}", started.elapsed());
    wait_long(|| async {
        let t = dashboard(&acq, campaign).await["totals"].clone();
        let seen = ["pending", "valid", "rejected"].iter().map(|k| t[k].as_i64().unwrap()).sum::<i64>();
        (seen == PARTICIPANTS as i64).then_some(())
    })
    .await;
    wait_long(|| async {
        let paid = acq.sim.state().pay_truth(&merchant.mch_id).unwrap().payments.len();
        (paid >= 100).then_some(())
    })
    .await;
    eprintln!("{backend}: 100 paid in {:?}; killing koi", started.elapsed());
    acq.server.kill();
    let sim_url = acq.sim.base_url();
    let db_url = acq.db.url.clone();
    acq.server = Server::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db_url,
        "--wecom-base-url",
        &sim_url,
        "--campaign-tick-secs",
        "1",
    ]);
    let r = acq
        .http
        .put(format!("{sim_url}/sim/corps/{CORP}/callback_url"))
        .json(&json!({ "url": acq.server.url(&format!("/wecom/callback/{CORP}")) }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let totals = wait_long(|| async {
        let d = dashboard(&acq, campaign).await;
        let t = d["totals"].clone();
        let done = t["valid"] == PARTICIPANTS as i64
            && t["rewards_issued"].as_i64().unwrap() + t["rewards_waiting"].as_i64().unwrap() == PARTICIPANTS as i64
            && t["rewards_issued"] == (BUDGET_FEN / PACKET_FEN);
        done.then_some(t)
    })
    .await;
    assert_eq!(totals["cost_fen"], BUDGET_FEN, "{totals}");
    let truth = acq.sim.state().pay_truth(&merchant.mch_id).unwrap();
    let billnos: std::collections::BTreeSet<&str> = truth.payments.iter().map(|p| p.mch_billno.as_str()).collect();
    assert_eq!(truth.payments.len() as i64, BUDGET_FEN / PACKET_FEN, "one packet per reward, never a second");
    assert_eq!(billnos.len(), truth.payments.len());
    assert!(truth.by_openid.values().all(|t| t.count == 1), "nobody is paid twice");
    assert_eq!(truth.payments.iter().map(|p| p.total_amount).sum::<i64>(), BUDGET_FEN, "never past the budget");
    let c = get(&acq, &format!("/api/v1/campaigns/{campaign}")).await;
    assert_eq!(c["spent_fen"], BUDGET_FEN);
    eprintln!(
        "{backend}: {PARTICIPANTS} invites decided and {} packets paid in {:?}",
        truth.payments.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clique_farm_earns_nothing_and_a_tree_is_paid_sqlite() {
    clique_farm("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clique_farm_earns_nothing_and_a_tree_is_paid_postgres() {
    clique_farm("postgres").await;
}

/// Scans `entry` as the customer `ext`, deleting the guide first when they
/// follow them already (WeCom sends no add for a friend who is one).
async fn scan_as(
    acq: &Acq,
    entry: &str,
    ext: &str,
    follows: &mut std::collections::HashSet<(String, String)>,
    guide: &str,
) {
    if !follows.insert((ext.to_string(), guide.to_string())) {
        sim(acq, "/sim/customer/delete_staff", json!({"external_userid": ext, "userid": guide})).await;
        // WeCom stamps events in seconds: a re-add in the second of the
        // last add is that add again.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    acq.scan(entry, json!({"external_userid": ext})).await;
}

async fn clique_farm(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let config = |qr: &str| qr.rsplit('/').next().unwrap().to_string();
    let gift =
        json!([{"threshold": 2, "reward": {"kind": "gift", "title": "帆布袋", "cost_fen": 1500}, "inventory": 10}]);
    // Everyone came in through wang.fang's plain code.
    let mut follows = std::collections::HashSet::new();
    let mut farm = vec![];
    for name in ["刷单甲", "刷单乙", "刷单丙", "刷单丁"] {
        let (ext, id) = customer(&acq, &code, name).await;
        follows.insert((ext.clone(), "wang.fang".to_string()));
        farm.push((ext, id));
    }

    // An earlier campaign (entries on li.na): the four invite one another,
    // every pair once — a clique in the corp's invite graph.
    let mut draft = campaign_draft(&acq, "task", gift.clone());
    draft["name"] = json!("上一期老带新");
    draft["budget_fen"] = json!(100_000);
    draft["staff_ids"] = json!([acq.staff[1]]);
    let past = launch(&acq, draft).await;
    let ids: Vec<i64> = farm.iter().map(|f| f.1).collect();
    let (status, v) =
        call(&acq, Method::POST, &format!("/api/v1/campaigns/{past}/participants"), Some(json!({"customer_ids": ids})))
            .await;
    assert_eq!(status, 200, "{v}");
    let mut entries = vec![];
    for (_, id) in &farm {
        entries.push(config(&entry_of(&acq, past, *id).await.1));
    }
    let mut pairs = 0;
    for (i, entry) in entries.iter().enumerate() {
        for (invitee, _) in &farm[i + 1..] {
            scan_as(&acq, entry, invitee, &mut follows, "li.na").await;
            pairs += 1;
            wait_long(|| async { (invites(&acq, past, "").await.len() == pairs).then_some(()) }).await;
        }
    }

    // This campaign (entries on wang.fang; old customers allowed, so only
    // the clique check stands between the farm and the gift).
    let mut draft = campaign_draft(&acq, "task", gift);
    draft["budget_fen"] = json!(100_000);
    draft["risk"] = json!({"hold_secs": HOLD_SECS, "new_only": false});
    let campaign = launch(&acq, draft).await;
    let (_, qr) = enroll(&acq, campaign, farm[0].1).await;
    for (ext, _) in &farm[1..] {
        scan_as(&acq, &config(&qr), ext, &mut follows, "wang.fang").await;
    }
    // Beside it a normal tree: a customer brings two new friends.
    let (_, mei) = customer(&acq, &code, "阿美").await;
    let (_, mei_qr) = enroll(&acq, campaign, mei).await;
    let mut friends = vec![];
    for name in ["阿美的同事", "阿美的邻居"] {
        let out = acq.scan(&config(&mei_qr), json!({ "name": name })).await;
        friends.push(out["external_userid"].as_str().unwrap().to_string());
    }

    let all = wait_long(|| async {
        let all = invites(&acq, campaign, "").await;
        (all.len() == 5 && all.iter().all(|i| i["state"] != "pending")).then_some(all)
    })
    .await;
    for (ext, _) in &farm[1..] {
        let i = all.iter().find(|i| i["invitee"] == ext.as_str()).unwrap();
        assert_eq!((i["state"].as_str(), i["reason"].as_str()), (Some("rejected"), Some("clique")), "{all:?}");
    }
    for ext in &friends {
        let i = all.iter().find(|i| i["invitee"] == ext.as_str()).unwrap();
        assert_eq!(i["state"], "valid", "a normal tree is untouched: {all:?}");
    }
    let rewards = wait_long(|| async {
        let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
        r.as_array().unwrap().first().filter(|r| r["state"] == "issued").map(|_| r.clone())
    })
    .await;
    let rewards = rewards.as_array().unwrap();
    assert_eq!(rewards.len(), 1, "the farm earns nothing: {rewards:?}");
    assert_eq!(rewards[0]["customer_id"], mei, "{rewards:?}");
    let d = dashboard(&acq, campaign).await;
    assert!(d["reasons"].as_array().unwrap().iter().any(|r| r["reason"] == "clique" && r["invites"] == 3), "{d}");

    // The operator overrides two clique verdicts: the gift is issued once.
    for (ext, _) in &farm[1..3] {
        let id = all.iter().find(|i| i["invitee"] == ext.as_str()).unwrap()["id"].as_i64().unwrap();
        let path = format!("/api/v1/campaigns/{campaign}/invites/{id}/override");
        let (status, v) = call(&acq, Method::POST, &path, Some(json!({"valid": true}))).await;
        assert_eq!((status, v["state"].as_str()), (200, Some("valid")), "{v}");
    }
    wait_long(|| async {
        let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
        let r = r.as_array().unwrap();
        (r.len() == 2 && r.iter().any(|r| r["customer_id"] == farm[0].1 && r["state"] == "issued")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_leads_to_an_order_of_its_campaign_sqlite() {
    invite_to_order("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_leads_to_an_order_of_its_campaign_postgres() {
    invite_to_order("postgres").await;
}

/// Posts an order for the customer with this external_userid; its id.
async fn order_for(acq: &Acq, shop_order_id: &str, external_userid: &str, paid_fen: i64) -> i64 {
    let order = json!({"shop_order_id": shop_order_id, "ordered_at": now_ms(), "amount_fen": paid_fen,
        "paid_fen": paid_fen, "items": [{"sku": "T1", "name": "纯棉T恤", "qty": 1, "price_fen": paid_fen}],
        "customer": {"external_userid": external_userid}});
    let (status, out) = call(acq, Method::POST, "/api/v1/orders", Some(order)).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["created"], true, "{out}");
    out["order_id"].as_i64().unwrap()
}

async fn invite_to_order(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let (status, t) = call(
        &acq,
        Method::POST,
        "/api/v1/coupon-templates",
        Some(json!({"name": "邀请礼 ¥10", "kind": "cash", "value_fen": 1000, "valid_days": 30})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let tiers =
        json!([{"threshold": 1, "reward": {"kind": "coupon", "title": "邀请礼 ¥10", "coupon_template_id": t["id"]}}]);
    let mut draft = campaign_draft(&acq, "task", tiers);
    draft["staff_ids"] = json!([acq.staff[1]]);
    let campaign = launch(&acq, draft).await;
    let (alice_ext, alice) = customer(&acq, &code, "阿兰").await;
    let (_, qr) = enroll(&acq, campaign, alice).await;
    // A customer who never met the campaign, for contrast.
    let (other_ext, _) = customer(&acq, &code, "路人").await;

    // Her friend scans her entry and adds li.na, then buys.
    let out = acq.scan(qr.rsplit('/').next().unwrap(), json!({"name": "阿兰的朋友"})).await;
    let friend_ext = out["external_userid"].as_str().unwrap().to_string();
    let friend = wait_long(|| async {
        let all = invites(&acq, campaign, "").await;
        all.iter().find(|i| i["invitee"] == friend_ext.as_str())?["invitee_customer_id"].as_i64()
    })
    .await;
    let first = order_for(&acq, "SO-FRIEND-1", &friend_ext, 12900).await;
    let o = get(&acq, &format!("/api/v1/orders/{first}")).await;
    assert_eq!(o["order"]["customer_id"], friend, "{o}");
    assert_eq!(
        (o["order"]["campaign_id"].as_i64(), o["order"]["campaign_rule"].as_str()),
        (Some(campaign), Some("campaign_window")),
        "{o}"
    );
    assert_eq!(o["order"]["first_order"], true, "{o}");
    let stranger = order_for(&acq, "SO-OTHER-1", &other_ext, 5000).await;
    let o = get(&acq, &format!("/api/v1/orders/{stranger}")).await;
    assert!(o["order"]["campaign_id"].is_null(), "a customer who never met the campaign: {o}");

    // The friend stayed the hold: her invite counts, and her reward coupon
    // is issued; she pays with it at the till.
    let reward = wait_long(|| async {
        let r = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
        r.as_array().unwrap().first().filter(|r| r["state"] == "issued").cloned()
    })
    .await;
    let coupon = reward["code"].as_str().unwrap().to_string();
    let redeem = json!({"code": coupon, "order_ref": "SO-ALICE-1", "amount_fen": 5900, "store_id": acq.store_id});
    let (status, v) = call(&acq, Method::POST, "/api/v1/coupons/redeem", Some(redeem)).await;
    assert_eq!(status, 200, "{v}");
    let paid = order_for(&acq, "SO-ALICE-1", &alice_ext, 4900).await;
    let o = get(&acq, &format!("/api/v1/orders/{paid}")).await;
    assert_eq!(o["order"]["customer_id"], alice, "{o}");
    assert_eq!(
        (o["order"]["campaign_id"].as_i64(), o["order"]["campaign_rule"].as_str()),
        (Some(campaign), Some("campaign_coupon")),
        "{o}"
    );

    // The campaign's dashboard counts both orders, both first orders, and their GMV.
    let d = dashboard(&acq, campaign).await;
    let c = &d["commerce"];
    assert_eq!(
        (c["orders"].as_i64(), c["buyers"].as_i64(), c["first_orders"].as_i64(), c["gmv_fen"].as_i64()),
        (Some(2), Some(2), Some(2), Some(12900 + 4900)),
        "{d}"
    );
}

/// A campaign id as a state spells it (upper-case base 36).
fn campaign_state_part(id: i64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = id;
    let mut out = vec![];
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}
