//! Fission campaigns end to end, through the simulator over real HTTP.
//!
//! UR's group fission (seed 001): "invite 3 sisters into the group, get a
//! ¥20 coupon" — three friends join through the participant's group entry,
//! one leaves within the hold, and the reward waits for a replacement.
//! A fraud burst — invitees on one device, a ring, a delete-and-re-add, a
//! self-invite — brings no reward, and each rejected invite keeps its
//! reason.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::group_codes::{call, get, groups, sim, wait_long};
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    acq.scan(&config(&first_qr), json!({"external_userid": alice_ext})).await;
    // A delete-and-re-add.
    let out = acq.scan(&entry, json!({"name": "反复横跳"})).await;
    let hopper = out["external_userid"].as_str().unwrap().to_string();
    wait_for(|| async {
        invites(&acq, campaign, "").await.iter().any(|i| i["invitee"] == hopper.as_str()).then_some(())
    })
    .await;
    sim(&acq, "/sim/customer/delete_staff", json!({"external_userid": hopper, "userid": "li.na"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
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
    // The CSV has every invite.
    let csv = acq.http.get(acq.server.url(&format!("/api/v1/campaigns/{campaign}/invites.csv"))).bearer_auth(&acq.key);
    let csv = csv.send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), all.len() + 1);
}
