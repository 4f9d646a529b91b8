//! SOP, scripts and materials, and the guide's sidebar, end to end through
//! the simulator over real HTTP, on both databases:
//!
//! - a day-0-after-add rule fires once per customer although two koi nodes
//!   run the SOP timer and one of them restarts;
//! - an event rule (tagged X) gives the customer's guide a task;
//! - a material's tracked link redirects, and its open is the customer's
//!   `material_opened` once (within the window), counted in the stats;
//! - the sidebar in chromium at phone size: WeCom OAuth through the
//!   simulator, the customer, a tag edited, a script copied, a task done.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::group_codes::{call, get, wait_long};
use crate::support::Server;
use crate::webdriver::Browser;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn start(backend: &str) -> Acq {
    Acq::start_with(backend, &["--sop-tick-secs", "1"]).await
}

/// A channel code of wang.fang, for customers to come in through.
async fn plain_code(acq: &Acq) -> String {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    made["config_id"].as_str().unwrap().to_string()
}

/// A customer who adds wang.fang: (external_userid, koi id).
async fn customer(acq: &Acq, code: &str, name: &str) -> (String, i64) {
    let out = acq.scan(code, json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    let id = wait_for(|| async {
        let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
        let list = list.as_array().unwrap();
        list.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    (ext, id)
}

async fn create_sop(acq: &Acq, rule: Value) -> i64 {
    let (status, s) = call(acq, Method::POST, "/api/v1/sops", Some(rule)).await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["enabled"], true, "{s}");
    s["id"].as_i64().unwrap()
}

/// A tag in the catalogue (made in WeCom through the simulator): its id.
async fn tag(acq: &Acq, name: &str) -> String {
    let (status, g) =
        call(acq, Method::POST, "/api/v1/tags", Some(json!({"group_name": "SOP", "names": [name]}))).await;
    assert_eq!(status, 201, "{g}");
    g["tags"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
}

fn welcome_rule() -> Value {
    json!({
        "name": "新客欢迎", "enabled": true,
        "trigger": {"kind": "after_add"},
        "audience": {"kind": "customers"},
        "steps": [{"day": 0, "action": {"kind": "guide_task", "title": "欢迎新客，告诉她周五爆品"}}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_n_fires_once_per_customer_across_nodes_and_a_restart_sqlite() {
    day_n_fires_once("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_n_fires_once_per_customer_across_nodes_and_a_restart_postgres() {
    day_n_fires_once("postgres").await;
}

async fn day_n_fires_once(backend: &str) {
    let mut acq = start(backend).await;
    let code = plain_code(&acq).await;
    let rule = create_sop(&acq, welcome_rule()).await;
    // A second node on the same database runs the timer too.
    let sim_url = acq.sim.base_url();
    let node_args = |db: &str| {
        vec![
            "serve".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database-url".into(),
            db.to_string(),
            "--wecom-base-url".into(),
            sim_url.clone(),
            "--sop-tick-secs".into(),
            "1".into(),
        ]
    };
    let args = node_args(&acq.db.url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut second = Server::start(&args);
    const N: usize = 6;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(customer(&acq, &code, &format!("新客{i}")).await.1);
    }
    let done = wait_long(|| async {
        let s = get(&acq, &format!("/api/v1/sops/{rule}")).await;
        (s["done"].as_i64() == Some(N as i64)).then_some(s)
    })
    .await;
    assert_eq!((done["pending"].as_i64(), done["skipped"].as_i64()), (Some(0), Some(0)), "{done}");
    // Both nodes keep ticking; one restarts; nothing fires again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    acq.server.kill();
    acq.server = Server::start(&args);
    second.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fires = get(&acq, &format!("/api/v1/sops/{rule}/fires")).await;
    let fires = fires.as_array().unwrap();
    assert_eq!(fires.len(), N, "one fire per customer: {fires:?}");
    let mut targets: Vec<i64> = fires.iter().map(|f| f["target_id"].as_i64().unwrap()).collect();
    targets.sort_unstable();
    ids.sort_unstable();
    assert_eq!(targets, ids);
    let tasks = get(&acq, &format!("/api/v1/sops/{rule}/tasks")).await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), N, "one task per customer: {tasks:?}");
    assert!(tasks.iter().all(|t| t["staff_id"] == acq.staff[0] && t["state"] == "todo"), "{tasks:?}");
    // A disabled rule fires for nobody new.
    let (status, s) =
        call(&acq, Method::PUT, &format!("/api/v1/sops/{rule}/enabled"), Some(json!({"enabled": false}))).await;
    assert_eq!((status, s["enabled"].as_bool()), (200, Some(false)));
    let r = acq
        .http
        .put(format!("{}/sim/corps/{CORP}/callback_url", acq.sim.base_url()))
        .json(&json!({ "url": acq.server.url(&format!("/wecom/callback/{CORP}")) }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    customer(&acq, &code, "晚到的客人").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = get(&acq, &format!("/api/v1/sops/{rule}")).await;
    assert_eq!((s["done"].as_i64(), s["pending"].as_i64()), (Some(N as i64), Some(0)), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_rule_gives_the_guide_a_task_sqlite() {
    event_rule("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_rule_gives_the_guide_a_task_postgres() {
    event_rule("postgres").await;
}

async fn event_rule(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let vip = tag(&acq, "高意向").await;
    let (_, script) =
        call(&acq, Method::POST, "/api/v1/scripts", Some(json!({"title": "跟进", "body": "{name}您好，新品到了"})))
            .await;
    let rule = create_sop(
        &acq,
        json!({
            "name": "高意向跟进", "enabled": true,
            "trigger": {"kind": "event", "event": {"on": "tagged", "tag_id": vip}},
            "audience": {"kind": "customers"},
            "steps": [
                {"day": 0, "action": {"kind": "guide_task", "title": "电话跟进", "script_id": script["id"]}},
                {"day": 2, "at": "10:00", "action": {"kind": "guide_task", "title": "两天后回访"}},
            ],
        }),
    )
    .await;
    let (_, a) = customer(&acq, &code, "周女士").await;
    let (_, b) = customer(&acq, &code, "吴先生").await;
    let (status, v) =
        call(&acq, Method::POST, &format!("/api/v1/customers/{a}/tags"), Some(json!({"add": [vip]}))).await;
    assert_eq!(status, 200, "{v}");
    let tasks = wait_for(|| async {
        let t = get(&acq, &format!("/api/v1/sops/{rule}/tasks")).await;
        (!t.as_array().unwrap().is_empty()).then_some(t)
    })
    .await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1, "the day-0 step at once; day 2 waits: {tasks:?}");
    assert_eq!((tasks[0]["customer_id"].as_i64(), tasks[0]["title"].as_str()), (Some(a), Some("电话跟进")));
    assert_eq!(tasks[0]["script_id"], script["id"]);
    let s = get(&acq, &format!("/api/v1/sops/{rule}")).await;
    assert_eq!((s["done"].as_i64(), s["pending"].as_i64()), (Some(1), Some(1)), "{s}");
    // Tagged again (untag, tag): the rule does not fire twice for her.
    call(&acq, Method::POST, &format!("/api/v1/customers/{a}/tags"), Some(json!({"remove": [vip]}))).await;
    call(&acq, Method::POST, &format!("/api/v1/customers/{a}/tags"), Some(json!({"add": [vip]}))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = get(&acq, &format!("/api/v1/sops/{rule}/tasks")).await;
    assert_eq!(t.as_array().unwrap().len(), 1, "{t}");
    // Someone never tagged gets nothing; unknown ids are refused.
    assert!(t.as_array().unwrap().iter().all(|t| t["customer_id"] != b));
    let bad = json!({
        "name": "x", "trigger": {"kind": "event", "event": {"on": "tagged", "tag_id": "etNOPE"}},
        "audience": {"kind": "customers"}, "steps": [{"action": {"kind": "guide_task", "title": "t", "script_id": 999}}],
    });
    let (status, e) = call(&acq, Method::POST, "/api/v1/sops", Some(bad)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    let (status, e) = call(&acq, Method::POST, "/api/v1/sops", Some(json!({"name": 1}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("malformed_json")), "{e}");
    assert_eq!(get(&acq, "/api/v1/sops").await.as_array().unwrap().len(), 1, "nothing was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_link_open_is_material_opened_once_sqlite() {
    tracked_link("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_link_open_is_material_opened_once_postgres() {
    tracked_link("postgres").await;
}

async fn tracked_link(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    let (_, a) = customer(&acq, &code, "郑女士").await;
    let m = json!({"kind": "pdf", "title": "新品手册", "url": "https://brand.example/catalogue.pdf"});
    let (status, m) = call(&acq, Method::POST, "/api/v1/materials", Some(m)).await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_i64().unwrap();
    let (status, sent) =
        call(&acq, Method::POST, &format!("/api/v1/materials/{id}/send"), Some(json!({"customer_id": a}))).await;
    assert_eq!(status, 201, "{sent}");
    let url = sent["url"].as_str().unwrap();
    assert!(url.starts_with(&acq.server.url("/m/")), "{url}");
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..3 {
        let r = no_redirect.get(url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "a redirect");
        assert_eq!(r.headers()["location"], "https://brand.example/catalogue.pdf");
    }
    let r = no_redirect.get(acq.server.url("/m/0123456789abcdef01234567")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let stats = get(&acq, &format!("/api/v1/materials/{id}")).await;
    assert_eq!(
        (stats["sends"].as_i64(), stats["opens"].as_i64(), stats["openers"].as_i64()),
        (Some(1), Some(1), Some(1))
    );
    let profile = get(&acq, &format!("/api/v1/customers/{a}/profile")).await;
    let opened: Vec<&Value> =
        profile["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "customer.material_opened").collect();
    assert_eq!(opened.len(), 1, "three opens in the window are one: {opened:?}");
    assert_eq!(opened[0]["payload"]["material"], "新品手册");
    // A bad material is refused with its field.
    let (status, e) =
        call(&acq, Method::POST, "/api/v1/materials", Some(json!({"kind": "pdf", "title": "x", "url": "ftp://x"})))
            .await;
    assert_eq!((status, e["error"]["fields"][0]["field"].as_str()), (422, Some("url")), "{e}");
}

/// The sidebar in chromium at phone size, signed in through the simulator's
/// WeCom OAuth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidebar_on_a_phone_sqlite() {
    let acq = start("sqlite").await;
    let code = plain_code(&acq).await;
    let vip = tag(&acq, "老客户").await;
    let (_, script) = call(
        &acq,
        Method::POST,
        "/api/v1/scripts",
        Some(json!({"folder": "开场", "title": "问候", "body": "{name}您好，我是{guide}，本周五晚8点上新", "keywords": ["问候"]})),
    )
    .await;
    assert!(script["id"].is_i64(), "{script}");
    let rule = create_sop(&acq, welcome_rule()).await;
    let (ext, id) = customer(&acq, &code, "林小姐").await;
    wait_long(|| async {
        let t = get(&acq, &format!("/api/v1/sops/{rule}/tasks")).await;
        (t.as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let (status, ctx) = call(
        &acq,
        Method::POST,
        "/api/v1/sidebar/context",
        Some(json!({"userid": "wang.fang", "external_userid": ext})),
    )
    .await;
    assert_eq!(status, 201, "{ctx}");
    let path = ctx["path"].as_str().unwrap().to_string();
    // Without the signature the page refuses.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let forged = path.replace(&path[path.len() - 4..], "0000");
    let r = plain.get(acq.server.url(&forged)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // A coupon of hers, shown with its code.
    let t = json!({"name": "满49减20", "kind": "threshold", "value_fen": 2000, "min_fen": 4900, "valid_days": 30, "per_customer": 1});
    let (status, template) = call(&acq, Method::POST, "/api/v1/coupon-templates", Some(t)).await;
    assert_eq!(status, 201, "{template}");
    let issue = json!({"template_id": template["id"], "customer_id": id});
    let (status, coupon) = call(&acq, Method::POST, "/api/v1/coupons/issue", Some(issue)).await;
    assert_eq!(status, 201, "{coupon}");
    let code = coupon["code"].as_str().expect("the coupon's code").to_string();

    let b = Browser::start().await;
    b.resize(390, 844).await;
    b.goto(&acq.server.url(&path)).await;
    b.wait_text("#customer-name", "林小姐").await;
    let shown = b.wait_text("#coupons", &code).await;
    assert!(shown.contains("满49减20"), "{shown}");
    // She shows it in store: the guide redeems it against the receipt.
    b.type_into("form.redeem input[name=order_ref]", "POS-0001").await;
    b.click("form.redeem button").await;
    wait_for(|| async {
        let c = get(&acq, &format!("/api/v1/coupons?customer_id={id}")).await;
        let c = c.as_array().and_then(|a| a.first().cloned()).unwrap_or_default();
        (c["state"] == "redeemed" && c["order_ref"] == "POS-0001").then_some(())
    })
    .await;
    assert!(b.overflow_x().await <= 0, "fits a phone: {}", b.too_wide().await);
    // Today's task, with this customer.
    b.wait_text("#tasks", "欢迎新客").await;
    // Tag her.
    b.click(&format!("input[name=tag][value='{vip}']")).await;
    b.click("#save-tags").await;
    wait_for(|| async {
        let p = get(&acq, &format!("/api/v1/customers/{id}/profile")).await;
        p["tags"].as_array().unwrap().iter().any(|t| t["id"] == vip.as_str()).then_some(())
    })
    .await;
    // Copy a script: its variables are filled.
    b.click(".copy-script").await;
    b.wait_text("#status-text", "林小姐您好，我是王芳，本周五晚8点上新").await;
    // Mark the task done.
    b.click(".task-done").await;
    wait_for(|| async {
        let t = get(&acq, &format!("/api/v1/sops/{rule}/tasks")).await;
        (t[0]["state"] == "done").then_some(())
    })
    .await;
    let mut shown_done = false;
    for _ in 0..50 {
        if b.exists("#tasks li.done").await {
            shown_done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown_done, "the task shows done");
    // Send a material: a tracked link for her.
    let m = json!({"kind": "article", "title": "穿搭指南", "url": "https://brand.example/guide"});
    let (status, _) = call(&acq, Method::POST, "/api/v1/materials", Some(m)).await;
    assert_eq!(status, 201);
    b.goto(&acq.server.url(&path)).await;
    b.click(".send-material").await;
    let shown = b.wait_text("#status-text", "/m/").await;
    assert!(shown.contains("穿搭指南"), "{shown}");
    // Another guide's chat is refused.
    let (_, other) =
        call(&acq, Method::POST, "/api/v1/sidebar/context", Some(json!({"userid": "li.na", "external_userid": ext})))
            .await;
    b.goto(&acq.server.url(other["path"].as_str().unwrap())).await;
    b.wait_text("#sidebar-error", "").await;
}
