//! Campaigns in the console, in a real browser against `koi serve` and the
//! simulator as WeCom: an operator makes a task fission through the form
//! (staff and a coupon tier picked by name), a bad form names the field,
//! the campaign is launched and runs; a participant enrolled through the
//! API brings friends through their own entry, their H5 page shows the
//! counted invites and the reward's code, and a store redeems the code.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::*;
use crate::webdriver::Browser;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_a_task_fission_and_a_store_redeems_its_reward() {
    let acq = Acq::start_with("sqlite", &["--campaign-tick-secs", "1"]).await;
    let (server, http, key) = (&acq.server, &acq.http, &acq.key);
    let b = Browser::start().await;
    b.goto(&server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "裂变活动").await;
    b.click("nav a[href='/console/campaigns']").await;
    b.wait_text("#campaigns", "还没有裂变活动").await;
    b.click("#new-campaign").await;
    b.wait_text("h1", "新建活动").await;
    // Three tier rows without JS; the script adds a fourth.
    assert!(b.exists("input[name=tier2_threshold]").await && !b.exists("input[name=tier3_threshold]").await);
    b.click("#tier-add").await;
    assert!(b.exists("input[name=tier3_threshold]").await, "a row was added");

    // Thresholds not increasing: the second tier's row says so, what was typed stays.
    b.type_into("#campaign-form input[name=name]", "老带新三重礼").await;
    b.click(&format!("#campaign-form input[name=staff][value='{}']", acq.staff[0])).await;
    b.type_into("input[name=tier0_threshold]", "2").await;
    b.click("select[name=tier0_kind] option[value=coupon]").await;
    b.type_into("input[name=tier0_title]", "满49减20").await;
    b.type_into("input[name=tier0_url]", "https://shop.example/c/49-20").await;
    b.type_into("input[name=tier1_threshold]", "2").await;
    b.click("select[name=tier1_kind] option[value=gift]").await;
    b.type_into("input[name=tier1_title]", "帆布袋").await;
    b.click("#save-campaign").await;
    let err = b.wait_text(".field-err[data-field='tiers[1].threshold']", "").await;
    assert!(!err.is_empty(), "the second tier's threshold is named");
    assert!(b.exists("#form-errors li[data-field='tiers[1].threshold'][data-code=not_increasing]").await);
    assert_eq!(b.run("return document.querySelector('input[name=name]').value").await, json!("老带新三重礼"));

    // Fixed: the gift needs 5; the hold a couple of seconds; saved, launched, running.
    b.type_into("input[name=tier1_threshold]", "5").await;
    b.type_into("input[name=risk_hold_hours]", "0.0006").await;
    b.click("#save-campaign").await;
    b.wait_url("ok=created").await;
    let url = b.url().await;
    let id: i64 = url
        .split("/console/campaigns/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a campaign page: {url}"));
    b.wait_text("#campaign-state", "草稿").await;
    b.run("window.confirm = function () { return true; }").await;
    b.click("#c-launch").await;
    b.wait_text("#campaign-state", "进行中").await;
    let c: Value = http
        .get(server.url(&format!("/api/v1/campaigns/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["state"], "running");
    assert_eq!(c["draft"]["staff_ids"], json!([acq.staff[0]]));
    assert_eq!(c["draft"]["tiers"][0]["reward"]["kind"], "coupon");
    assert_eq!(c["draft"]["tiers"][1]["threshold"], 5);
    assert_eq!(c["draft"]["risk"]["hold_secs"], 2);

    // A customer of the store (through a channel code) is enrolled through the API.
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "门口海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "multi",
                   "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    acq.scan(code["config_id"].as_str().expect("a contact way"), json!({"name": "老顾客"})).await;
    let customer = wait_for(|| async {
        let v: Value =
            http.get(server.url("/api/v1/customers")).bearer_auth(key).send().await.ok()?.json().await.ok()?;
        v.as_array()?.iter().find(|c| c["name"] == "老顾客").cloned()
    })
    .await;
    let r = http
        .post(server.url(&format!("/api/v1/campaigns/{id}/participants")))
        .bearer_auth(key)
        .json(&json!({"customer_ids": [customer["id"]]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let participant = wait_for(|| async {
        let v: Value = http
            .get(server.url(&format!("/api/v1/campaigns/{id}/participants")))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v.as_array()?.first().filter(|p| p["entry_config_id"].is_string()).cloned()
    })
    .await;
    let entry = participant["entry_config_id"].as_str().unwrap().to_string();
    let page = participant["page_path"].as_str().unwrap().to_string();

    // Two friends come in through the entry; after the hold both count and the coupon is issued.
    for name in ["好友甲", "好友乙"] {
        acq.scan(&entry, json!({"name": name})).await;
    }
    let reward = wait_for_long(|| async {
        let v: Value = http
            .get(server.url(&format!("/api/v1/campaigns/{id}/rewards")))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v.as_array()?.iter().find(|r| r["state"] == "issued").cloned()
    })
    .await;
    let redemption = reward["code"].as_str().expect("a coupon has a code").to_string();

    // The participant's H5 page, in the browser.
    b.goto(&server.url(&page)).await;
    b.wait_text("#valid", "2").await;
    let rewards = b.text("#rewards").await;
    assert!(rewards.contains("满49减20") && rewards.contains(&redemption), "{rewards}");

    // The dashboard counts them; the participant links to their page.
    b.goto(&server.url(&format!("/console/campaigns/{id}"))).await;
    assert_eq!(b.text("#fig-valid").await, "2");
    // The friends take part in turn (generation 1), each with a page of their own.
    assert_eq!(b.text("#fig-participants").await, "3");
    assert_eq!(b.text("#fig-depth").await, "1");
    assert_eq!(b.text("#fig-issued").await, "1");
    assert!(b.exists(&format!("#participant-rows a.h5-link[href='{page}']")).await);
    assert!(b.exists("#invite-chart svg g[data-valid='2']").await, "today's bar");
    assert!(b.text("#reward-rows").await.contains(&redemption));

    // The store redeems the code once; a second time and an unknown code are refused in words.
    b.click("nav a[href='/console/redeem']").await;
    b.type_into("#redeem-code", &redemption.to_lowercase()).await;
    b.click("#redeem-submit").await;
    b.wait_text("#redeemed-title", "满49减20").await;
    assert_eq!(b.text("#redeemed-code").await, redemption);
    b.type_into("#redeem-code", &redemption).await;
    b.click("#redeem-submit").await;
    b.wait_text("#redeem-error", "已核销过").await;
    b.type_into("#redeem-code", "NOSUCHCODE").await;
    b.click("#redeem-submit").await;
    b.wait_text("#redeem-error", "不存在").await;
    let ledger: Value = http
        .get(server.url(&format!("/api/v1/campaigns/{id}/rewards")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger[0]["state"], "redeemed");

    // The operator rejects one invite by hand: the risk report lists it, and its link filters the invites.
    b.goto(&server.url(&format!("/console/campaigns/{id}"))).await;
    b.run("window.confirm = function () { return true; }").await;
    b.click("#invite-rows button.reject-invite").await;
    b.wait_url("ok=saved").await;
    assert_eq!(b.text("#fig-valid").await, "1");
    assert_eq!(b.text("#fig-rejected").await, "1");
    assert!(b.text("#reasons").await.contains("运营人工判定"));
    b.click("#reasons a").await;
    b.wait_url("reason=override").await;
    assert_eq!(b.run("return document.querySelectorAll('#invite-rows tr[data-invite]').length").await, json!(1));
    assert!(b.exists("#invite-rows tr[data-state=rejected]").await);

    // In English, and at phone size the dashboard fits (wide tables scroll inside).
    b.goto(&server.url(&format!("/console/lang?to=en&next=/console/campaigns/{id}"))).await;
    b.wait_text("#risk-report", "Risk report").await;
    assert!(b.text("#campaign-state").await.contains("Running"));
    b.resize(390, 844).await;
    for path in [format!("/console/campaigns/{id}"), "/console/campaigns".into(), "/console/campaigns/new".into()] {
        b.goto(&server.url(&path)).await;
        assert!(b.overflow_x().await <= 0, "{path} is wider than a phone: {}", b.too_wide().await);
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    b.screenshot(&shots.join("campaign-phone.png")).await;
    drop(b);

    // A store manager sees campaigns and redeems, but does not manage them.
    let store = acq.store_id.to_string();
    koi(&[
        "user",
        "add",
        "--database-url",
        &acq.db.url,
        "--corp",
        "1",
        "--username",
        "mgr-ja",
        "--role",
        "store_manager",
        "--store",
        &store,
        "--password",
        PASSWORD,
    ]);
    let mgr = login(server, "mgr-ja", PASSWORD).await;
    let list = mgr.get(server.url("/console/campaigns")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("老带新三重礼") && !list.contains("id=\"new-campaign\""), "view only");
    let page = mgr.get(server.url(&format!("/console/campaigns/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"fig-valid\"") && !page.contains("id=\"c-end\"") && !page.contains("reject-invite"));
    assert!(page.contains("href=\"/console/redeem\""), "the redeem page is in the manager's menu");
    let token = csrf(&mgr, server, "/console/redeem").await;
    let r = mgr
        .post(server.url(&format!("/console/campaigns/{id}/transition")))
        .form(&[("_csrf", token.as_str()), ("action", "end")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a manager cannot end a campaign");
    let r = mgr.get(server.url("/console/campaigns/new")).send().await.unwrap();
    assert_eq!(r.status(), 403, "nor open the form");
}

/// Polls `f` for up to 30 s (the hold, the timer and the reward job).
async fn wait_for_long<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("condition not met within 30 s");
}

/// The campaign form picks by name what a campaign names: the poster
/// template, a coupon tier's coupon template, a VIP-group tier's group code,
/// and for a WeChat-group migration the target group code, the old groups
/// (one a line) and the join reward's coupon template. What was picked is
/// what the campaign keeps, and the edit form shows it picked again; the
/// migration's page lists its old groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_form_picks_templates_and_group_codes_by_name() {
    use crate::group_codes::{call, groups};
    use reqwest::Method;
    let acq = Acq::start_with("sqlite", &["--campaign-tick-secs", "1"]).await;
    let (_, chats) = groups(&acq, &[("wang.fang", "UR企微VIP群".to_string())]).await;
    let (status, gc) = call(
        &acq,
        Method::POST,
        "/api/v1/group-codes",
        Some(json!({"name": "VIP群活码", "group_kind": "vip", "group_ids": chats, "cap": 200})),
    )
    .await;
    assert_eq!(status, 201, "{gc}");
    let code = gc["code"]["id"].as_i64().unwrap();
    let (status, t) = call(
        &acq,
        Method::POST,
        "/api/v1/coupon-templates",
        Some(json!({"name": "进群礼", "kind": "cash", "value_fen": 1000, "valid_days": 30})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let template = t["id"].as_i64().unwrap();
    let layout = serde_json::to_value(koi_poster::Layout::starter()).unwrap();
    let (status, p) =
        call(&acq, Method::POST, "/api/v1/poster-templates", Some(json!({"name": "双十一海报", "layout": layout})))
            .await;
    assert_eq!(status, 201, "{p}");
    let poster = p["id"].as_i64().unwrap();

    let b = Browser::start().await;
    b.goto(&acq.server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "裂变活动").await;
    b.goto(&acq.server.url("/console/campaigns/new")).await;
    b.wait_text("h1", "新建活动").await;
    // The pickers offer names, not ids.
    assert!(b.text("#c-poster-template").await.contains("双十一海报"));
    assert!(b.text("select[name=tier0_coupon_template]").await.contains("进群礼"));
    assert!(b.text("select[name=tier1_group_code]").await.contains("VIP群活码"));

    // A task fission: the poster, a coupon of the template at 2, the VIP group at 5.
    b.type_into("#campaign-form input[name=name]", "双十一老带新").await;
    b.click(&format!("#campaign-form input[name=staff][value='{}']", acq.staff[0])).await;
    b.click(&format!("#c-poster-template option[value='{poster}']")).await;
    b.type_into("input[name=tier0_threshold]", "2").await;
    b.click("select[name=tier0_kind] option[value=coupon]").await;
    b.click(&format!("select[name=tier0_coupon_template] option[value='{template}']")).await;
    b.type_into("input[name=tier1_threshold]", "5").await;
    b.click("select[name=tier1_kind] option[value=group]").await;
    b.type_into("input[name=tier1_title]", "VIP群").await;
    b.click(&format!("select[name=tier1_group_code] option[value='{code}']")).await;
    b.click("#save-campaign").await;
    b.wait_url("ok=created").await;
    let task_url = b.url().await;
    let task: i64 = task_url.split("/console/campaigns/").nth(1).unwrap().split('?').next().unwrap().parse().unwrap();
    let (_, c) = call(&acq, Method::GET, &format!("/api/v1/campaigns/{task}"), None).await;
    assert_eq!(c["draft"]["poster_template_id"], poster, "{c}");
    assert_eq!(c["draft"]["tiers"][0]["reward"]["coupon_template_id"], template, "{c}");
    assert_eq!(c["draft"]["tiers"][1]["reward"]["group_code_id"], code, "{c}");
    // The edit form shows them picked.
    b.goto(&acq.server.url(&format!("/console/campaigns/{task}/edit"))).await;
    b.wait_text("h1", "编辑活动").await;
    let picked = |sel: &str| format!("return document.querySelector('{sel}').value");
    assert_eq!(b.run(&picked("#c-poster-template")).await, json!(poster.to_string()));
    assert_eq!(b.run(&picked("select[name=tier0_coupon_template]")).await, json!(template.to_string()));
    assert_eq!(b.run(&picked("select[name=tier1_group_code]")).await, json!(code.to_string()));

    // A migration: a bad old-group line is named; fixed, it is kept with its groups.
    b.goto(&acq.server.url("/console/campaigns/new")).await;
    b.type_into("#campaign-form input[name=name]", "UR微信群迁移").await;
    b.click("#c-kind option[value=migration]").await;
    b.click(&format!("select[name=group_code_id] option[value='{code}']")).await;
    b.click("select[name=friend_kind] option[value=coupon]").await;
    b.click(&format!("select[name=friend_coupon_template] option[value='{template}']")).await;
    let set_old = |text: &str| format!("document.querySelector('textarea[name=old_groups]').value = {text:?}");
    b.run(&set_old("UR老会员1群, 480\n没有人数")).await;
    b.click("#save-campaign").await;
    b.wait_text(".field-err[data-field=old_groups]", "没有人数").await;
    b.run(&set_old("UR老会员1群, 480\nUR老会员2群，300")).await;
    b.click("#save-campaign").await;
    b.wait_url("ok=created").await;
    b.wait_text("#old-groups", "UR老会员2群").await;
    let id: i64 =
        b.url().await.split("/console/campaigns/").nth(1).unwrap().split('?').next().unwrap().parse().unwrap();
    let (_, c) = call(&acq, Method::GET, &format!("/api/v1/campaigns/{id}"), None).await;
    assert_eq!(c["kind"], "migration");
    assert_eq!(c["draft"]["group_code_id"], code);
    assert_eq!(
        c["draft"]["old_groups"],
        json!([{"name": "UR老会员1群", "size": 480}, {"name": "UR老会员2群", "size": 300}])
    );
    assert_eq!(c["draft"]["invitee_reward"]["coupon_template_id"], template);
    assert_eq!(b.text("#mig-declared").await, "780");
}
