//! Two-level distribution end to end, through the simulator over real
//! HTTP: customers bring customers through distributors' share links; an
//! order earns its buyer's referrer (level 1) and that referrer's referrer
//! (level 2), never a third; a refund cuts pending commission; commission
//! settles when the refund window passes and is paid through the
//! simulator's WeChat Pay 企业付款到零钱 exactly once, even when koi is
//! killed (SIGKILL) while a transfer is in flight and started again. A
//! refund after the commission was paid claws it back once, netted against
//! the next payout; a distributor's product poster carries their share
//! link's QR.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::group_codes::{call, get, wait_long};
use crate::support::{csrf, login, Server, HEAVY, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The refund window of this test: long enough to refund within it.
const WINDOW_SECS: i64 = 4;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A customer koi knows, added through a plain channel code; their id.
async fn customer(acq: &Acq, code: &str, name: &str) -> i64 {
    let out = acq.scan(code, json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    wait_for(|| async {
        let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
        let list = list.as_array().unwrap().clone();
        list.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await
}

async fn plain_code(acq: &Acq) -> String {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    made["config_id"].as_str().unwrap().to_string()
}

/// The customer's own link token (`?k=`).
async fn link(acq: &Acq, customer_id: i64) -> String {
    get(acq, &format!("/api/v1/customers/{customer_id}/link")).await["token"].as_str().unwrap().to_string()
}

/// Makes a customer a distributor; their share link's token.
async fn distributor(acq: &Acq, customer_id: i64) -> (i64, String) {
    let (status, d) =
        call(acq, Method::POST, "/api/v1/distribution/distributors", Some(json!({"customer_id": customer_id}))).await;
    assert_eq!(status, 201, "{d}");
    let url = d["share_url"].as_str().unwrap();
    (d["id"].as_i64().unwrap(), url.rsplit("/h5/d/").next().unwrap().to_string())
}

/// The visitor opens the distributor's share link with their own link.
async fn visit(acq: &Acq, share_token: &str, visitor_link: &str) -> String {
    let r = acq.http.get(acq.server.url(&format!("/h5/d/{share_token}?k={visitor_link}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn order(acq: &Acq, order_ref: &str, customer_id: i64, lines: Value) -> Vec<Value> {
    let body = json!({"order_ref": order_ref, "customer_id": customer_id, "paid_at": now_ms(), "lines": lines});
    let (status, v) = call(acq, Method::POST, "/api/v1/distribution/orders", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

async fn refund(acq: &Acq, order_ref: &str, refunded_fen: i64) -> Vec<Value> {
    let path = format!("/api/v1/distribution/orders/{order_ref}/refund");
    let (status, v) = call(acq, Method::POST, &path, Some(json!({"refunded_fen": refunded_fen}))).await;
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

/// (level, distributor, amount, state) of an answer's commissions.
fn earned(list: &[Value]) -> Vec<(i64, i64, i64, String)> {
    list.iter()
        .map(|c| {
            let n = |k: &str| c[k].as_i64().unwrap();
            (n("level"), n("distributor_id"), n("amount_fen"), c["state"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commission_reaches_two_levels_and_is_paid_once_after_a_crash_sqlite() {
    two_levels_paid_once("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commission_reaches_two_levels_and_is_paid_once_after_a_crash_postgres() {
    two_levels_paid_once("postgres").await;
}

async fn two_levels_paid_once(backend: &str) {
    let _alone = HEAVY.lock().await;
    // A short lease, so the killed node's payout is taken over within the test.
    let mut acq = Acq::start_with(backend, &["--campaign-tick-secs", "1", "--job-lease-secs", "10"]).await;
    let merchant = acq.sim.state().pay_merchants().into_iter().next().expect("the simulator hosts a merchant");
    let pay = json!({
        "enabled": true, "mch_id": merchant.mch_id, "api_key": merchant.api_key,
        "workwx_secret": merchant.workwx_secret, "base_url": format!("{}/pay", acq.sim.base_url()),
        "act_name": "分销", "wishing": "感谢分享",
    });
    let owner = crate::support::api_key_as(&acq.server, &acq.owner, "owner").await;
    let r = acq.http.put(acq.server.url("/api/v1/settings/pay")).bearer_auth(owner).json(&pay).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Bad settings change nothing and say which field.
    let bad = json!({"enabled": true, "level1_bp": 9000, "level2_bp": 2000, "min_payout_fen": 10});
    let (status, e) = call(&acq, Method::PUT, "/api/v1/distribution/settings", Some(bad)).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["code"], "invalid_input");
    let settings = json!({
        "enabled": true, "level1_bp": 1000, "level2_bp": 500, "window_secs": WINDOW_SECS,
        "min_payout_fen": 30, "max_payout_fen": 20000, "payout_desc": "分销佣金",
        "rules": [{"sku": "HOT-1", "level1_bp": 2000, "level2_bp": 300}],
    });
    let (status, s) = call(&acq, Method::PUT, "/api/v1/distribution/settings", Some(settings)).await;
    assert_eq!(status, 200, "{s}");

    // A brought B, B brought C, C brought D: four customers, three distributors.
    let code = plain_code(&acq).await;
    let a = customer(&acq, &code, "分销甲").await;
    let b = customer(&acq, &code, "分销乙").await;
    let c = customer(&acq, &code, "分销丙").await;
    let d = customer(&acq, &code, "买家丁").await;
    let (da, share_a) = distributor(&acq, a).await;
    let (db, share_b) = distributor(&acq, b).await;
    let (dc, share_c) = distributor(&acq, c).await;
    assert!(visit(&acq, &share_a, &link(&acq, b).await).await.contains("id=\"referred\""));
    visit(&acq, &share_b, &link(&acq, c).await).await;
    visit(&acq, &share_c, &link(&acq, d).await).await;
    // D opens A's link later: the first referrer (C) stays.
    assert!(!visit(&acq, &share_a, &link(&acq, d).await).await.contains("id=\"referred\""));
    // A's own contact way (state k1d…): a new customer adding through it is A's.
    let qr = wait_long(|| async {
        let d = get(&acq, &format!("/api/v1/distribution/distributors/{da}")).await;
        d["qr_code"].as_str().map(str::to_string)
    })
    .await;
    let state = format!("k1d{}", base36(da));
    let way = acq.sim.state().contact_ways().into_iter().find(|w| w.state == state).expect("A's contact way");
    assert_eq!(way.qr_code, qr);
    assert!(visit(&acq, &share_a, "").await.contains(&qr), "the share page shows A's QR");
    acq.scan(&way.config_id, json!({"name": "新客戊"})).await;
    wait_long(|| async {
        let d = get(&acq, &format!("/api/v1/distribution/distributors/{da}")).await;
        (d["level1"] == 2).then_some(())
    })
    .await;
    // An unknown share token is a readable 404.
    let r = acq.http.get(acq.server.url("/h5/d/AAAAAAAAAAAAAAAAAAAAAA")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // D buys: C earns level 1 (the product's 20 % and the default 10 %),
    // B level 2 (3 % and 5 %); A, three levels up, nothing. Posted twice, it counts once.
    let lines = json!([{"sku": "HOT-1", "amount_fen": 10000}, {"sku": "MASK", "amount_fen": 5000}]);
    let first = order(&acq, "shop-d-1", d, lines.clone()).await;
    let want = vec![(1, dc, 2000 + 500, "pending".to_string()), (2, db, 300 + 250, "pending".to_string())];
    assert_eq!(earned(&first), want);
    assert_eq!(earned(&order(&acq, "shop-d-1", d, lines).await), want, "the same order earns once");
    // Nothing is settled inside the window: a batch pays nothing.
    let (status, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
    assert_eq!((status, run["batch_id"].clone()), (200, Value::Null), "{run}");

    // C buys ¥100, refunds ¥40 within the window: B's 10 % and A's 5 % are cut to 60 %.
    let c_order = order(&acq, "shop-c-1", c, json!([{"sku": "MASK", "amount_fen": 10000}])).await;
    assert_eq!(earned(&c_order), vec![(1, db, 1000, "pending".into()), (2, da, 500, "pending".into())]);
    let cut = refund(&acq, "shop-c-1", 4000).await;
    assert_eq!(earned(&cut), vec![(1, db, 600, "pending".into()), (2, da, 300, "pending".into())]);
    assert_eq!(earned(&refund(&acq, "shop-c-1", 4000).await), earned(&cut), "the same refund twice cuts once");
    // A full refund cancels.
    order(&acq, "shop-c-2", c, json!([{"sku": "MASK", "amount_fen": 3000}])).await;
    let gone = refund(&acq, "shop-c-2", 3000).await;
    assert!(gone.iter().all(|m| m["state"] == "cancelled" && m["amount_fen"] == 0), "{gone:?}");
    // Bad orders change nothing.
    let (status, e) = call(
        &acq,
        Method::POST,
        "/api/v1/distribution/orders",
        Some(json!({"order_ref": "x", "customer_id": 999999, "paid_at": now_ms(), "lines": [{"sku": "A", "amount_fen": 1}]})),
    )
    .await;
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
    let (status, _) = call(&acq, Method::POST, "/api/v1/distribution/orders", Some(json!({"order_ref": 1}))).await;
    assert_eq!(status, 400);

    // The window passes: the timer settles everything that was not cancelled.
    wait_long(|| async {
        let pending = get(&acq, "/api/v1/distribution/commissions?state=pending").await;
        let settled = get(&acq, "/api/v1/distribution/commissions?state=settled").await;
        (pending.as_array().unwrap().is_empty() && settled.as_array().unwrap().len() == 4).then_some(())
    })
    .await;

    // The first transfer is paid but its answer is late; koi is killed
    // while it waits, and started again.
    let faults =
        koi_sim::PayFaults { script: vec![koi_sim::PayFault::TimeoutPaid], timeout_ms: 8_000, ..Default::default() };
    assert!(acq.sim.state().set_pay_faults(&merchant.mch_id, faults));
    let (status, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
    assert_eq!((status, run["payouts"].as_i64()), (200, Some(3)), "{run}");
    assert_eq!(run["total_fen"], 2500 + 550 + 600 + 300);
    wait_long(|| async {
        let t = acq.sim.state().pay_transfers(&merchant.mch_id).unwrap();
        (t.transfers.len() == 3).then_some(())
    })
    .await;
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

    let payouts = wait_long(|| async {
        let list = get(&acq, "/api/v1/distribution/payouts").await;
        let list = list.as_array().unwrap().clone();
        list.iter().all(|p| p["state"] == "paid").then_some(list)
    })
    .await;
    assert_eq!(payouts.len(), 3);
    let truth = acq.sim.state().pay_transfers(&merchant.mch_id).unwrap();
    assert_eq!(truth.transfers.len(), 3, "one transfer a payout, never a second");
    assert!(truth.by_openid.values().all(|t| t.count == 1), "nobody is paid twice");
    assert!(truth.transfers.iter().any(|t| t.repeats >= 1), "the restarted koi asked again with the same number");
    let mut paid: Vec<(String, i64)> = truth.transfers.iter().map(|t| (t.partner_trade_no.clone(), t.amount)).collect();
    let mut ours: Vec<(String, i64)> = payouts
        .iter()
        .map(|p| (p["partner_trade_no"].as_str().unwrap().to_string(), p["amount_fen"].as_i64().unwrap()))
        .collect();
    paid.sort();
    ours.sort();
    assert_eq!(paid, ours, "koi's ledger is WeChat Pay's");
    for p in &payouts {
        let t = truth.transfers.iter().find(|t| t.partner_trade_no == p["partner_trade_no"]).unwrap();
        assert_eq!(p["payment_no"].as_str(), Some(t.payment_no.as_str()));
    }
    let all_paid = get(&acq, "/api/v1/distribution/commissions?state=paid").await;
    assert_eq!(all_paid.as_array().unwrap().len(), 4);
    // Nothing is owed: another batch pays nothing.
    let (_, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
    assert_eq!(run["batch_id"], Value::Null, "{run}");

    // The distributors' numbers, and B's earnings page.
    let list = get(&acq, "/api/v1/distribution/distributors").await;
    let of = |id: i64| list.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!((of(da)["level1"].as_i64(), of(da)["level2"].as_i64()), (Some(2), Some(1)), "B and 戊; C");
    assert_eq!((of(db)["level1"].as_i64(), of(db)["level2"].as_i64()), (Some(1), Some(1)));
    assert_eq!(of(db)["paid_fen"], 550 + 600);
    assert_eq!(of(da)["paid_fen"], 300);
    let page = acq.http.get(acq.server.url(&format!("/h5/earnings?k={}", link(&acq, b).await))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"level1\">1<") && html.contains("id=\"level2\">1<"), "{html}");
    assert!(html.contains("id=\"paid\">¥11.50<"), "{html}");
    let r = acq.http.get(acq.server.url("/h5/earnings?k=nonsense")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // D opts in from their own earnings page.
    let d_link = link(&acq, d).await;
    let page = acq.http.get(acq.server.url(&format!("/h5/earnings?k={d_link}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("id=\"join\""), "not a distributor yet: offered to join");
    let r = crate::support::browser_like()
        .post(acq.server.url(&format!("/h5/earnings/join?k={d_link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = acq.http.get(acq.server.url(&format!("/h5/earnings?k={d_link}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("id=\"share-url\""), "a distributor now");

    // The console, as an operator uses it: every page in Chinese, a customer
    // found by name and made a distributor, the settings saved from the form,
    // a batch run from the payouts page.
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let page = |path: &'static str| {
        let console = console.clone();
        let url = acq.server.url(path);
        async move {
            let r = console.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let list = page("/console/distribution").await;
    assert!(list.contains("分销甲") && list.contains("¥11.50") && list.contains("一级客户"), "{list}");
    let found = page("/console/distribution?q=新客戊").await;
    let at = found.find("name=\"customer_id\" value=\"").expect("a candidate") + 26;
    let id: String = found[at..].chars().take_while(char::is_ascii_digit).collect();
    let token = csrf(&console, &acq.server, "/console/distribution/settings").await;
    let r = console
        .post(acq.server.url("/console/distribution/distributors"))
        .form(&[("_csrf", token.as_str()), ("customer_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(get(&acq, "/api/v1/distribution/distributors").await.as_array().unwrap().len(), 5);
    let settings = page("/console/distribution/settings").await;
    assert!(settings.contains("HOT-1, 20, 3"), "{settings}");
    let form = [
        ("_csrf", token.as_str()),
        ("enabled", "on"),
        ("level1", "12.5"),
        ("level2", "5"),
        ("window_hours", "168"),
        ("min_payout", "1.00"),
        ("max_payout", "200"),
        ("payout_desc", "分销佣金"),
        ("sku_rules", "HOT-1, 20, 3"),
    ];
    let r = console.post(acq.server.url("/console/distribution/settings")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let s = get(&acq, "/api/v1/distribution/settings").await;
    assert_eq!((s["level1_bp"].as_i64(), s["window_secs"].as_i64()), (Some(1250), Some(168 * 3600)));
    let bad = [
        ("_csrf", token.as_str()),
        ("level1", "abc"),
        ("level2", "5"),
        ("window_hours", "1"),
        ("min_payout", "1"),
        ("max_payout", "2"),
        ("payout_desc", "x"),
    ];
    let r = console.post(acq.server.url("/console/distribution/settings")).form(&bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(get(&acq, "/api/v1/distribution/settings").await["level1_bp"], 1250, "a bad form changes nothing");
    let paid = page("/console/distribution/commissions?state=paid").await;
    assert_eq!(paid.matches("data-state=\"paid\"").count(), 4);
    let payouts = page("/console/distribution/payouts").await;
    assert_eq!(payouts.matches("data-state=\"paid\"").count(), 3, "{payouts}");
    let r = console
        .post(acq.server.url("/console/distribution/payouts/run"))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_payment_is_clawed_back_once_and_netted_and_posters_carry_the_share_link_sqlite() {
    clawback_and_poster("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_payment_is_clawed_back_once_and_netted_and_posters_carry_the_share_link_postgres() {
    clawback_and_poster("postgres").await;
}

/// Waits until every payout is paid; their amounts, newest first.
async fn all_paid(acq: &Acq, n: usize) -> Vec<i64> {
    wait_long(|| async {
        let list = get(acq, "/api/v1/distribution/payouts").await;
        let list = list.as_array().unwrap().clone();
        (list.len() == n && list.iter().all(|p| p["state"] == "paid"))
            .then(|| list.iter().map(|p| p["amount_fen"].as_i64().unwrap()).collect())
    })
    .await
}

async fn clawback_and_poster(backend: &str) {
    let _alone = HEAVY.lock().await;
    let acq = Acq::start_with(backend, &["--campaign-tick-secs", "1"]).await;
    let merchant = acq.sim.state().pay_merchants().into_iter().next().expect("the simulator hosts a merchant");
    let pay = json!({
        "enabled": true, "mch_id": merchant.mch_id, "api_key": merchant.api_key,
        "workwx_secret": merchant.workwx_secret, "base_url": format!("{}/pay", acq.sim.base_url()),
        "act_name": "分销", "wishing": "感谢分享",
    });
    let owner = crate::support::api_key_as(&acq.server, &acq.owner, "owner").await;
    let r = acq.http.put(acq.server.url("/api/v1/settings/pay")).bearer_auth(owner).json(&pay).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // A bad schedule is named and changes nothing.
    let bad = json!({"enabled": true, "payout_schedule": {"every": "weekly", "weekday": 8, "hour": 10}});
    let (status, e) = call(&acq, Method::PUT, "/api/v1/distribution/settings", Some(bad)).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    assert!(e.to_string().contains("payout_schedule.weekday"), "{e}");
    let (status, e) =
        call(&acq, Method::PUT, "/api/v1/distribution/settings", Some(json!({"payout_schedule": {"every": "hourly"}})))
            .await;
    assert!(status == 400 || status == 422, "{status} {e}");
    let s = get(&acq, "/api/v1/distribution/settings").await;
    assert_eq!(s["enabled"], false, "nothing was saved");
    assert_eq!(s["payout_schedule"], json!({"every": "weekly", "weekday": 1, "hour": 10}), "the default schedule");
    let settings = json!({
        "enabled": true, "level1_bp": 1000, "level2_bp": 0, "window_secs": 1,
        "min_payout_fen": 100, "max_payout_fen": 20000, "payout_desc": "分销佣金",
        "payout_schedule": {"every": "off", "weekday": 1, "hour": 10},
    });
    let (status, s) = call(&acq, Method::PUT, "/api/v1/distribution/settings", Some(settings)).await;
    assert_eq!((status, s["payout_schedule"]["every"].as_str()), (200, Some("off")), "{s}");

    let code = plain_code(&acq).await;
    let a = customer(&acq, &code, "海报甲").await;
    let b = customer(&acq, &code, "买家乙").await;
    let (da, share_a) = distributor(&acq, a).await;
    let a_link = link(&acq, a).await;
    visit(&acq, &share_a, &link(&acq, b).await).await;

    // B buys ¥100: A earns ¥10, settled after the window and paid.
    let first = order(&acq, "cb-1", b, json!([{"sku": "MASK", "amount_fen": 10000}])).await;
    assert_eq!(earned(&first), vec![(1, da, 1000, "pending".to_string())]);
    let run = wait_long(|| async {
        let (_, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
        (run["payouts"] == 1).then_some(run)
    })
    .await;
    assert_eq!(run["total_fen"], 1000);
    assert_eq!(all_paid(&acq, 1).await, vec![1000]);

    // Then ¥40 is refunded: the paid commission stays, ¥4 is clawed back — once.
    let after = refund(&acq, "cb-1", 4000).await;
    let claw: Vec<&Value> = after.iter().filter(|c| !c["clawback_of"].is_null()).collect();
    assert_eq!(claw.len(), 1, "{after:?}");
    assert_eq!((claw[0]["amount_fen"].as_i64(), claw[0]["state"].as_str()), (Some(-400), Some("settled")));
    let paid = after.iter().find(|c| c["clawback_of"].is_null()).unwrap();
    assert_eq!((paid["amount_fen"].as_i64(), paid["state"].as_str()), (Some(1000), Some("paid")));
    assert_eq!(claw[0]["clawback_of"], paid["id"]);
    let again = refund(&acq, "cb-1", 4000).await;
    assert_eq!(again.len(), 2, "the same refund again claws back nothing more: {again:?}");
    // Alone it is never paid: the next batch pays nothing, the balance is below zero.
    let (_, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
    assert_eq!(run["batch_id"], Value::Null, "{run}");
    let d = get(&acq, &format!("/api/v1/distribution/distributors/{da}")).await;
    assert_eq!((d["settled_fen"].as_i64(), d["paid_fen"].as_i64()), (Some(-400), Some(1000)));

    // B buys ¥100 again: the next payout is ¥10 − ¥4.
    order(&acq, "cb-2", b, json!([{"sku": "MASK", "amount_fen": 10000}])).await;
    let run = wait_long(|| async {
        let (_, run) = call(&acq, Method::POST, "/api/v1/distribution/payouts/run", None).await;
        (run["payouts"] == 1).then_some(run)
    })
    .await;
    assert_eq!(run["total_fen"], 600, "{run}");
    assert_eq!(all_paid(&acq, 2).await, vec![600, 1000]);
    let truth = acq.sim.state().pay_transfers(&merchant.mch_id).unwrap();
    let mut amounts: Vec<i64> = truth.transfers.iter().map(|t| t.amount).collect();
    amounts.sort();
    assert_eq!(amounts, vec![600, 1000], "WeChat Pay paid the netted amount");
    let d = get(&acq, &format!("/api/v1/distribution/distributors/{da}")).await;
    assert_eq!((d["settled_fen"].as_i64(), d["paid_fen"].as_i64()), (Some(0), Some(1600)));

    // The operator and the distributor see the claw-back.
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let r = console.get(acq.server.url("/console/distribution/commissions")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-clawback-of=") && html.contains("退款扣回") && html.contains("-¥4.00"), "{html}");

    // A product to share: the earnings page offers its poster.
    let draft = json!({"sku": "POSTER-1", "name": "冬季保暖袜三双装", "price_fen": 1990, "stock": 10, "images": []});
    let (status, product) = call(&acq, Method::POST, "/api/v1/products", Some(draft)).await;
    assert_eq!(status, 201, "{product}");
    let pid = product["id"].as_i64().unwrap();
    let page = acq.http.get(acq.server.url(&format!("/h5/earnings?k={a_link}"))).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("class=\"clawback\"") && html.contains("退款扣回"), "{html}");
    let path = format!("/h5/earnings/poster.jpg?k={a_link}&#38;product={pid}");
    assert!(html.contains(&path), "the page links the poster: {html}");
    let r = acq
        .http
        .get(acq.server.url(&format!("/h5/earnings/poster.jpg?k={a_link}&product={pid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.unwrap();
    assert_eq!(crate::posters::jpeg_size(&jpeg), (750, 1334));
    let payload = koi_poster::read_qr(&jpeg).expect("the poster's QR reads");
    assert_eq!(payload, d["share_url"].as_str().unwrap(), "the QR is the distributor's share link");
    assert!(payload.ends_with(&format!("/h5/d/{share_a}")));
    // Wrong or unknown links, a customer who is not a distributor, an unknown product: 404.
    let b_link = link(&acq, b).await;
    for bad in [
        format!("/h5/earnings/poster.jpg?k=nonsense&product={pid}"),
        format!("/h5/earnings/poster.jpg?product={pid}"),
        format!("/h5/earnings/poster.jpg?k={b_link}&product={pid}"),
        format!("/h5/earnings/poster.jpg?k={a_link}&product=999999"),
        format!("/h5/earnings/poster.jpg?k={a_link}&product=x"),
    ] {
        let r = acq.http.get(acq.server.url(&bad)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }

    // The settings form keeps the schedule.
    let token = csrf(&console, &acq.server, "/console/distribution/settings").await;
    let form = [
        ("_csrf", token.as_str()),
        ("enabled", "on"),
        ("level1", "10"),
        ("level2", "0"),
        ("window_hours", "1"),
        ("min_payout", "1.00"),
        ("max_payout", "200"),
        ("payout_desc", "分销佣金"),
        ("payout_every", "weekly"),
        ("payout_weekday", "5"),
        ("payout_hour", "18"),
    ];
    let r = console.post(acq.server.url("/console/distribution/settings")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let s = get(&acq, "/api/v1/distribution/settings").await;
    assert_eq!(s["payout_schedule"], json!({"every": "weekly", "weekday": 5, "hour": 18}));
    let page =
        console.get(acq.server.url("/console/distribution/settings")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<option value=\"5\" selected>星期五</option>"), "{page}");
    let bad = [("payout_hour", "25"), ("payout_every", "hourly")];
    for (field, value) in bad {
        let mut f: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != field).cloned().collect();
        f.push((field, value));
        let r = console.post(acq.server.url("/console/distribution/settings")).form(&f).send().await.unwrap();
        assert_eq!(r.status(), 422, "{field}={value}");
    }
    assert_eq!(get(&acq, "/api/v1/distribution/settings").await["payout_schedule"]["hour"], 18, "unchanged");
}

/// An id as a state spells it (upper-case base 36).
fn base36(id: i64) -> String {
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
