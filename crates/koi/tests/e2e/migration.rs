//! UR's WeChat-group migration (seed 001) end to end, through the simulator
//! over real HTTP: two old WeChat groups each get their own join QR over a
//! rotating group code; their members join through them, one leaves within
//! the hold, one leaves and re-joins through the other old group's QR
//! (farming), one is not a customer yet. Each member who stayed the hold
//! and whom koi knows gets one real coupon of the template; the dashboard
//! counts per old group.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::group_codes::{call, get, groups, sim, wait_long};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOLD_SECS: i64 = 6;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Customers koi knows (each added wang.fang through a plain channel code).
async fn customers(acq: &Acq, names: &[&str]) -> Vec<(String, i64)> {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    let config = made["config_id"].as_str().unwrap().to_string();
    let mut out = vec![];
    for name in names {
        let scanned = acq.scan(&config, json!({ "name": name })).await;
        let ext = scanned["external_userid"].as_str().unwrap().to_string();
        let id = wait_for(|| async {
            let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
            list.as_array()?.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
        })
        .await;
        out.push((ext, id));
    }
    out
}

async fn board(acq: &Acq, campaign: i64) -> Value {
    get(acq, &format!("/api/v1/campaigns/{campaign}/migration")).await
}

/// Where a member is in the simulator now.
fn chat_of(acq: &Acq, userid: &str) -> Option<String> {
    acq.sim.state().groups().into_iter().find(|g| g.members.iter().any(|m| m.userid == userid)).map(|g| g.chat_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ur_migration_moves_two_old_groups_sqlite() {
    ur_migration("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ur_migration_moves_two_old_groups_postgres() {
    ur_migration("postgres").await;
}

async fn ur_migration(backend: &str) {
    let acq = Acq::start_with(backend, &["--campaign-tick-secs", "1"]).await;
    let people = customers(&acq, &["阿美", "阿丽", "阿红"]).await;
    let (_, chat_ids) = groups(&acq, &[("wang.fang", "UR企微福利群".to_string())]).await;
    let draft = json!({"name": "UR企微群", "group_kind": "paid", "group_ids": chat_ids, "cap": 200});
    let (status, gc) = call(&acq, Method::POST, "/api/v1/group-codes", Some(draft)).await;
    assert_eq!(status, 201, "{gc}");
    let group_code = gc["code"]["id"].as_i64().unwrap();
    let (status, t) = call(
        &acq,
        Method::POST,
        "/api/v1/coupon-templates",
        Some(json!({"name": "进群礼 满99减20", "kind": "threshold", "value_fen": 2000, "min_fen": 9900,
                    "valid_days": 30, "per_customer": 1})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let template = t["id"].as_i64().unwrap();

    let mut draft = json!({
        "name": "UR微信群迁移", "kind": "migration",
        "starts_at": now_ms() - 60_000, "ends_at": now_ms() + 3_600_000,
        "group_code_id": group_code,
        "old_groups": [],
        "invitee_reward": {"kind": "coupon", "title": "进群礼", "coupon_template_id": template},
        "risk": { "hold_secs": HOLD_SECS },
    });
    // Bad input: no old groups, a duplicate, an impossible size — refused, naming each.
    draft["old_groups"] = json!([{"name": "UR老会员1群", "size": 10}, {"name": "UR老会员1群", "size": 0}]);
    let (status, v) = call(&acq, Method::POST, "/api/v1/campaigns", Some(draft.clone())).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let fields: Vec<&str> =
        v["error"]["fields"].as_array().unwrap().iter().filter_map(|f| f["field"].as_str()).collect();
    assert_eq!(fields, ["old_groups[1].name", "old_groups[1].size"], "{v}");
    assert!(get(&acq, "/api/v1/campaigns").await.as_array().unwrap().is_empty(), "nothing was made");

    draft["old_groups"] = json!([{"name": "UR老会员1群", "size": 10}, {"name": "UR老会员2群", "size": 8}]);
    let (status, c) = call(&acq, Method::POST, "/api/v1/campaigns", Some(draft)).await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_i64().unwrap();
    let (status, c) = call(
        &acq,
        Method::POST,
        &format!("/api/v1/campaigns/{campaign}/transition"),
        Some(json!({"action": "launch"})),
    )
    .await;
    assert_eq!((status, c["state"].as_str()), (200, Some("running")), "{c}");
    // Another kind's campaign has no migration board.
    let (status, _) = call(&acq, Method::GET, "/api/v1/campaigns/999999/migration", None).await;
    assert_eq!(status, 404);

    // Each old group gets its own join QR.
    let qrs: Vec<String> = wait_long(|| async {
        let b = board(&acq, campaign).await;
        b["old_groups"].as_array()?.iter().map(|g| g["qr_code"].as_str().map(String::from)).collect()
    })
    .await;
    assert_eq!(qrs.len(), 2);
    assert_ne!(qrs[0], qrs[1]);

    // Old group 1: 阿美 and 阿丽 (who leaves within the hold); old group 2:
    // 阿红 and a member koi does not know as a customer.
    let (mei, li, hong) = (&people[0], &people[1], &people[2]);
    for (qr, who) in [(&qrs[0], &mei.0), (&qrs[0], &li.0), (&qrs[1], &hong.0)] {
        sim(&acq, "/sim/join", json!({"qr_code": qr, "customer": {"external_userid": who}})).await;
    }
    let stranger = sim(&acq, "/sim/join", json!({"qr_code": qrs[1], "customer": {"name": "路人"}})).await;
    let stranger = stranger["external_userid"].as_str().unwrap().to_string();
    wait_long(|| async { (board(&acq, campaign).await["entered"] == 4).then_some(()) }).await;
    let b = board(&acq, campaign).await;
    assert_eq!((b["in_hold"].as_i64(), b["moved"].as_i64()), (Some(4), Some(0)), "{b}");
    let chat = chat_of(&acq, &li.0).unwrap();
    sim(&acq, "/sim/group/leave", json!({"chat_id": chat, "userid": li.0})).await;

    // After the hold: three moved, one left; two coupons (the stranger's waits).
    let b = wait_long(|| async {
        let b = board(&acq, campaign).await;
        (b["in_hold"] == 0 && b["rewards_issued"] == 2).then_some(b)
    })
    .await;
    let line = |b: &Value, i: usize| {
        let g = &b["old_groups"][i];
        ["entered", "moved", "in_hold", "left", "rewards_issued"].map(|k| g[k].as_i64().unwrap())
    };
    assert_eq!(line(&b, 0), [2, 1, 0, 1, 1], "{b}");
    assert_eq!(line(&b, 1), [2, 2, 0, 0, 1], "{b}");
    assert_eq!((b["moved"].as_i64(), b["declared"].as_i64()), (Some(3), Some(18)));
    assert!((b["share_moved"].as_f64().unwrap() - 3.0 / 18.0).abs() < 1e-9, "{b}");
    for (_, customer) in [mei, hong] {
        let coupons = get(&acq, &format!("/api/v1/coupons?customer_id={customer}")).await;
        let coupons = coupons.as_array().unwrap();
        assert_eq!(coupons.len(), 1, "one real coupon of the template: {coupons:?}");
        assert_eq!(coupons[0]["template_id"], template);
    }
    assert!(get(&acq, &format!("/api/v1/coupons?customer_id={}", li.1)).await.as_array().unwrap().is_empty());

    // Farming: 阿美 leaves and re-joins through old group 2's QR; 阿丽 comes
    // back through hers. Neither is a new move, nor a new coupon.
    let chat = chat_of(&acq, &mei.0).unwrap();
    sim(&acq, "/sim/group/leave", json!({"chat_id": chat, "userid": mei.0})).await;
    sim(&acq, "/sim/join", json!({"qr_code": qrs[1], "customer": {"external_userid": mei.0}})).await;
    sim(&acq, "/sim/join", json!({"qr_code": qrs[0], "customer": {"external_userid": li.0}})).await;
    call(&acq, Method::POST, "/api/v1/groups/sync", None).await;
    tokio::time::sleep(Duration::from_secs(HOLD_SECS as u64 + 3)).await;
    let again = board(&acq, campaign).await;
    assert_eq!((line(&again, 0), line(&again, 1)), (line(&b, 0), line(&b, 1)), "{again}");
    let rewards = get(&acq, &format!("/api/v1/campaigns/{campaign}/rewards")).await;
    let rewards = rewards.as_array().unwrap();
    assert_eq!(rewards.len(), 2, "{rewards:?}");
    assert!(rewards.iter().all(|r| r["tier"] == 0 && r["kind"] == "coupon" && r["state"] == "issued"));
    let coupons = get(&acq, &format!("/api/v1/coupons?customer_id={}", mei.1)).await;
    assert_eq!(coupons.as_array().unwrap().len(), 1);
    let _ = stranger;
}
