//! Staff in step with WeCom's address book: an admin adds, renames and
//! removes members in WeCom (the simulator); "sync staff from WeCom" in the
//! console or the API brings koi along, keeping the history of those who left.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sync_from_wecom_sqlite() {
    staff_sync_from_wecom("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sync_from_wecom_postgres() {
    staff_sync_from_wecom("postgres").await;
}

async fn staff_sync_from_wecom(backend: &str) {
    let acq = Acq::start(backend).await;
    let (wang, li) = (acq.staff[0], acq.staff[1]);
    // Wang Fang has a customer before she leaves.
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "王芳的码", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": wang}]}),
        )
        .await;
    let scan = acq.scan(code["config_id"].as_str().expect("a contact way"), json!({"name": "顾客甲"})).await;
    assert_eq!(scan["userid"], "wang.fang");
    let customers = || async {
        let r = acq.http.get(acq.server.url("/api/v1/customers")).bearer_auth(&acq.key).send().await.unwrap();
        r.json::<Value>().await.unwrap()
    };
    wait_for(|| async { customers().await.to_string().contains("顾客甲").then_some(()) }).await;

    // In WeCom: a new member, a new name, a member who left.
    let admin = |path: &str, body: Value| {
        let url = format!("{}/sim/directory/{path}", acq.sim.base_url());
        let http = acq.http.clone();
        async move { assert!(http.post(url).json(&body).send().await.unwrap().status().is_success()) }
    };
    admin("upsert", json!({"userid": "zhao.xue", "name": "赵雪", "department": 2})).await;
    admin("upsert", json!({"userid": "li.na", "name": "李娜娜"})).await;
    admin("remove", json!({"userid": "wang.fang"})).await;

    // The console's button queues the sync.
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let page = console.get(acq.server.url("/console/staff")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"sync-staff\"") && page.contains("从企业微信同步员工"));
    let token = csrf(&console, &acq.server, "/console/staff").await;
    let r =
        console.post(acq.server.url("/console/staff/sync")).form(&[("_csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/staff?ok=sync_queued");

    let staff = || async {
        let r = acq.http.get(acq.server.url("/api/v1/staff")).bearer_auth(&acq.key).send().await.unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    };
    let find = |all: &[Value], userid: &str| all.iter().find(|s| s["userid"] == userid).cloned();
    let after = wait_for(|| async {
        let all = staff().await;
        find(&all, "zhao.xue").is_some().then_some(all)
    })
    .await;
    let zhao = find(&after, "zhao.xue").unwrap();
    assert_eq!((zhao["name"].as_str(), zhao["active"].as_bool()), (Some("赵雪"), Some(true)), "added");
    let li_now = find(&after, "li.na").unwrap();
    assert_eq!((li_now["id"].as_i64(), li_now["name"].as_str()), (Some(li), Some("李娜娜")), "renamed");
    assert_eq!(li_now["store_ids"], json!([acq.store_id]), "store bindings stay");
    let wang_now = find(&after, "wang.fang").expect("a member who left is kept");
    assert_eq!((wang_now["id"].as_i64(), wang_now["active"].as_bool()), (Some(wang), Some(false)), "marked inactive");
    // Her customer still shows her as the guide they added.
    let list = customers().await.to_string();
    assert!(list.contains(&format!("\"staff_id\":{wang}")), "her history stays: {list}");
    let events = acq.db.db.events(1, Some("staff.synced"), None, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0].payload.contains("\"added\":1") && events[0].payload.contains("\"deactivated\":1"));

    // The API queues one too: nothing left to change, and nobody re-added.
    let r = acq.http.post(acq.server.url("/api/v1/staff/sync")).bearer_auth(&acq.key).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(r.json::<Value>().await.unwrap()["job_id"].is_i64());
    wait_for(|| async {
        (acq.db.db.events(1, Some("staff.synced"), None, 10).await.unwrap().len() == 2).then_some(())
    })
    .await;
    assert_eq!(staff().await.len(), 3);
}
