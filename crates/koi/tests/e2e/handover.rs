//! Handover and loss end to end, through the simulator over real HTTP.
//!
//! wang.fang's 1,000 customers go to li.na on the job. 50 of them were
//! handed over twice by koi already (koi skips them: WeCom's 2-in-90-days
//! rule), 50 twice outside koi (WeCom answers 40128), 200 refuse; the
//! rest move after WeCom's 24 hours. Each result koi reports equals the
//! simulator's truth, and koi's follows move with the accepted ones. Then a
//! customer deletes li.na: li.na and the store's loss recipient get the
//! alert, the loss report counts it, and the store's summary goes out once.

use crate::acquisition::{Acq, CORP};
use crate::group_codes::{call, get, sim, wait_long};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const CUSTOMERS: usize = 1_000;
const KNOWN: usize = 50;
const HIDDEN: usize = 50;
const REFUSING: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guides_thousand_customers_are_handed_over_sqlite() {
    handover("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guides_thousand_customers_are_handed_over_postgres() {
    handover("postgres").await;
}

async fn post(acq: &Acq, path: &str, body: Value, want: u16) -> Value {
    let (status, v) = call(acq, Method::POST, path, Some(body)).await;
    assert_eq!(status, want, "POST {path}: {v}");
    v
}

/// Advances WeCom's clock past its 24 hours, reads the results now and
/// waits until the handover is done.
async fn settle(acq: &Acq, id: i64) -> Value {
    sim(acq, "/sim/clock/advance", json!({ "seconds": 24.0 * 3600.0 + 5.0 })).await;
    post(acq, &format!("/api/v1/handovers/{id}/refresh"), json!({}), 202).await;
    wait_long(|| async {
        let d = get(acq, &format!("/api/v1/handovers/{id}")).await;
        (d["handover"]["state"] == "done").then_some(d)
    })
    .await
}

/// Waits until no customer of the handover is planned or being sent.
async fn requested(acq: &Acq, id: i64) {
    wait_long(|| async {
        let d = get(acq, &format!("/api/v1/handovers/{id}")).await;
        let busy = d["items"].as_array().unwrap().iter().any(|i| i["status"] == "planned" || i["status"] == "sending");
        (!busy).then_some(())
    })
    .await;
}

async fn handover(backend: &str) {
    let acq = Acq::start(backend).await;
    let (wang, li) = (acq.staff[0], acq.staff[1]);
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": wang}],
    });
    let made = post(&acq, "/api/v1/channel-codes", code, 201).await;
    let config = made["config_id"].as_str().unwrap().to_string();
    let mut exts = Vec::new();
    for i in 0..CUSTOMERS {
        let s = acq.scan(&config, json!({ "name": format!("顾客{i}") })).await;
        exts.push(s["external_userid"].as_str().unwrap().to_string());
    }
    let ids: BTreeMap<String, i64> = wait_long(|| async {
        let r = acq.http.get(acq.server.url("/api/v1/customers?limit=200")).bearer_auth(&acq.key).send().await.unwrap();
        let total: usize = r.headers()["x-total-count"].to_str().unwrap().parse().unwrap();
        if total < CUSTOMERS {
            return None;
        }
        let mut ids = BTreeMap::new();
        for page in 0..CUSTOMERS / 200 {
            let list = get(&acq, &format!("/api/v1/customers?limit=200&page={page}")).await;
            for c in list.as_array().unwrap() {
                ids.insert(c["external_userid"].as_str().unwrap().to_string(), c["id"].as_i64().unwrap());
            }
        }
        (ids.len() == CUSTOMERS).then_some(ids)
    })
    .await;
    let db = &acq.db.db;
    // The scratch database's only corp (reading it by CorpID would unseal its secrets).
    let corp = 1;
    wait_long(|| async { (db.followed_customers(corp, wang).await.unwrap().len() == CUSTOMERS).then_some(()) }).await;

    // Bad input changes nothing.
    let (status, v) = call(
        &acq,
        Method::POST,
        "/api/v1/handovers",
        Some(json!({"kind": "on_leave",
        "from_staff_id": wang, "receiver_ids": [wang], "message": "hi"})),
    )
    .await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let (status, _) = call(&acq, Method::POST, "/api/v1/handovers", Some(json!({"kind": "sideways"}))).await;
    assert_eq!(status, 400, "not a handover: malformed_json");
    assert!(get(&acq, "/api/v1/handovers").await.as_array().unwrap().is_empty());

    // The first 50 go to li.na and back through koi: two handovers each.
    let known: Vec<i64> = exts[..KNOWN].iter().map(|e| ids[e]).collect();
    for (from, to) in [(wang, li), (li, wang)] {
        let body = json!({"kind": "on_job", "from_staff_id": from, "receiver_ids": [to], "customer_ids": known});
        let h = post(&acq, "/api/v1/handovers", body, 201).await;
        let id = h["handover"]["id"].as_i64().unwrap();
        requested(&acq, id).await;
        let d = settle(&acq, id).await;
        assert_eq!(d["handover"]["counts"]["accepted"], KNOWN, "{}", d["handover"]);
    }
    wait_long(|| async { (db.followed_customers(corp, wang).await.unwrap().len() == CUSTOMERS).then_some(()) }).await;
    // The next 50 were handed over twice outside koi (refused both times): WeCom counts them.
    let hidden: BTreeSet<String> = exts[KNOWN..KNOWN + HIDDEN].iter().cloned().collect();
    let now_s = get_clock(&acq).await;
    acq.sim.state().act_on(Some(CORP), |w| {
        for ext in &hidden {
            for _ in 0..2 {
                w.transfers.push(koi_sim::world::Transfer {
                    handover_userid: "wang.fang".into(),
                    takeover_userid: "zhao.lei".into(),
                    external_userid: ext.clone(),
                    status: 3,
                    create_time: now_s - 86_400,
                    takeover_time: 0,
                    resigned: false,
                });
            }
        }
    });

    let draft =
        json!({"kind": "on_job", "from_staff_id": wang, "receiver_ids": [li], "message": "您好，我是您的新顾问李娜"});
    let preview = post(&acq, "/api/v1/handovers/preview", draft.clone(), 200).await;
    assert_eq!((preview["customers"].as_u64(), preview["over_limit"].as_u64()), (Some(950), Some(50)), "{preview}");
    let started = std::time::Instant::now();
    let h = post(&acq, "/api/v1/handovers", draft, 201).await;
    let id = h["handover"]["id"].as_i64().unwrap();
    requested(&acq, id).await;
    let sent_in = started.elapsed();
    let refusing: Vec<String> = exts[KNOWN + HIDDEN..KNOWN + HIDDEN + REFUSING].to_vec();
    acq.sim.state().act_on(Some(CORP), |w| {
        for ext in &refusing {
            w.refuse_transfer(ext).expect("a waiting handover");
        }
    });
    // The transfer_fail callbacks reach koi before WeCom's day is over.
    wait_long(|| async {
        let d = get(&acq, &format!("/api/v1/handovers/{id}?status=refused")).await;
        (d["items"].as_array().unwrap().len() == REFUSING).then_some(())
    })
    .await;
    let d = settle(&acq, id).await;
    eprintln!("handover of {CUSTOMERS} customers: requests sent in {sent_in:?}");

    // Each result equals the simulator's truth.
    let transfers = acq.sim.state().inspect(Some(CORP), |w| w.transfers.clone()).unwrap();
    let mut truth: BTreeMap<String, &str> = BTreeMap::new();
    for ext in &exts {
        let mine: Vec<_> = transfers.iter().filter(|t| &t.external_userid == ext).collect();
        let main = mine.iter().find(|t| t.create_time >= now_s && t.takeover_userid == "li.na");
        let status = match main {
            Some(t) if t.status == 1 => "accepted",
            Some(t) if t.status == 3 => "refused",
            Some(t) => panic!("{ext}: unexpected {t:?}"),
            None => {
                assert!(mine.iter().filter(|t| t.create_time > now_s - 90 * 86_400).count() >= 2, "{ext}: {mine:?}");
                "over_limit"
            }
        };
        truth.insert(ext.clone(), status);
    }
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), CUSTOMERS);
    let koi: BTreeMap<String, &str> = items
        .iter()
        .map(|i| (i["external_userid"].as_str().unwrap().to_string(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(koi, truth);
    let counts = &d["handover"]["counts"];
    assert_eq!(counts["accepted"], CUSTOMERS - KNOWN - HIDDEN - REFUSING, "{counts}");
    assert_eq!((counts["refused"].as_u64(), counts["over_limit"].as_u64()), (Some(200), Some(100)), "{counts}");
    let reasons: BTreeSet<&str> =
        items.iter().filter(|i| i["status"] == "over_limit").map(|i| i["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, BTreeSet::from(["koi_90_days", "wecom_40128"]));

    // koi's follows moved with the accepted customers, and only with them.
    let accepted: BTreeSet<i64> = truth.iter().filter(|(_, s)| **s == "accepted").map(|(e, _)| ids[e]).collect();
    let of = |staff| async move {
        db.followed_customers(corp, staff).await.unwrap().into_iter().map(|f| f.customer_id).collect::<BTreeSet<_>>()
    };
    wait_long(|| async { (of(li).await == accepted).then_some(()) }).await;
    assert_eq!(of(wang).await.len(), CUSTOMERS - accepted.len());

    // A customer deletes li.na: li.na and the store's recipient (wang.fang) are told.
    let (status, v) = call(
        &acq,
        Method::PUT,
        "/api/v1/group-assistant",
        Some(json!({"feed_enabled": false, "agent_id": koi_sim::SIM_AGENT_ID, "sensitive_words": []})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = call(
        &acq,
        Method::PUT,
        &format!("/api/v1/loss-report/recipients/{}", acq.store_id),
        Some(json!({"staff_ids": [wang]})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let leaving = truth.iter().find(|(_, s)| **s == "accepted").map(|(e, _)| e.clone()).unwrap();
    sim(&acq, "/sim/customer/delete_staff", json!({ "userid": "li.na", "external_userid": leaving })).await;
    let alert = wait_long(|| async {
        let msgs = acq.sim.state().app_messages();
        msgs.into_iter().find(|m| m.content.contains("客户流失提醒"))
    })
    .await;
    assert_eq!(alert.touser, ["li.na", "wang.fang"]);
    assert!(alert.content.contains("顾客"), "{}", alert.content);
    let report = get(&acq, "/api/v1/loss-report?days=7").await;
    assert_eq!(report["total"], 1, "{report}");
    assert_eq!(report["by_guide"][0]["name"], "李娜");
    assert_eq!(
        wait_long(|| async {
            let r = get(&acq, "/api/v1/loss-report?days=7").await;
            let state = r["alerts"][0]["state"].as_str().unwrap().to_string();
            (state != "queued" && state != "sending").then_some(state)
        })
        .await,
        "sent"
    );
    // The handover's end was no loss: only the customer's deletion counts.
    let today = report["to"].as_str().unwrap().to_string();
    let made = post(&acq, "/api/v1/loss-report/summaries", json!({ "day": today }), 202).await;
    assert_eq!(made["made"], 1);
    let again = post(&acq, "/api/v1/loss-report/summaries", json!({ "day": today }), 202).await;
    assert_eq!(again["made"], 0, "a store's summary of a day goes out once");
    let summary =
        wait_long(|| async { acq.sim.state().app_messages().into_iter().find(|m| m.content.contains("流失日报")) })
            .await;
    assert_eq!(summary.touser, ["wang.fang"]);
    assert!(summary.content.contains("李娜：1"), "{}", summary.content);
    let (status, _) =
        call(&acq, Method::POST, "/api/v1/loss-report/summaries", Some(json!({"day": "2026-13-01"}))).await;
    assert_eq!(status, 422);

    // The console shows the handover and the report, in both languages.
    let console = crate::support::login(&acq.server, &acq.owner, crate::support::PASSWORD).await;
    for (lang, words) in [("zh", ["客户继承", "超过90天2次"]), ("en", ["Handovers", "Over the 90-day limit"])] {
        console.get(acq.server.url(&format!("/console/lang?to={lang}"))).send().await.unwrap();
        let page = console.get(acq.server.url(&format!("/console/handovers/{id}"))).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(words.iter().all(|w| html.contains(w)), "{lang}: {words:?}");
    }
    let page = console.get(acq.server.url("/console/loss-report")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"loss-total\">1<"));
}

async fn get_clock(acq: &Acq) -> i64 {
    let r = acq.http.get(format!("{}/sim/clock", acq.sim.base_url())).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    v["now"].as_i64().unwrap()
}
