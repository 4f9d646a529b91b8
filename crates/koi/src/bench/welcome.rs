//! `koi bench welcome`: how long a customer waits for the welcome after
//! scanning a channel code, and the share of welcome codes (alive 20 s) koi
//! uses in time, with adds offered at fractions of the API quota.
//!
//! Each load gets a fresh simulator whose quota is small (600 calls per API
//! per minute by default, instead of WeCom's 10,000), a fresh database and
//! koi in-process (web server for callbacks plus one job worker) with its
//! budget set to the same quota. Every add costs two calls on two APIs
//! (`get`, then `send_welcome_msg`), each counted against its own quota, so
//! 100 % means one add per quota slot.

use super::inproc::{add_corp, start_koi};
use super::{AES_KEY, CORP, TOKEN};
use anyhow::{Context, Result};
use koi_domain::access::{Principal, Role};
use koi_domain::org::{StaffDraft, StoreDraft};
use koi_engine::Engine;
use koi_sim::{Limits, SimConfig, SimCorp, SimStaff, Simulator};
use std::collections::HashSet;
use std::time::Duration;

const SECRET: &str = "bench-app-secret";
const GUIDES: [(&str, &str); 3] = [("wang.fang", "王芳"), ("li.na", "李娜"), ("zhao.lei", "赵磊")];
/// A welcome code lives this long (CONTRACT.md §3).
const TTL_MS: i64 = 20_000;

#[derive(serde::Serialize)]
struct Figures {
    load_pct: u32,
    offered_per_min: f64,
    adds: usize,
    welcomes_sent: usize,
    in_time_pct: f64,
    p50_ms: i64,
    p99_ms: i64,
    max_ms: i64,
}

/// The brand: a store, three guides, and one channel code whose contact way
/// the simulator holds. Returns the way's config_id.
async fn seed(engine: &Engine) -> Result<String> {
    let corp_id = add_corp(engine, SECRET).await?;
    let now = koi_store::now_ms();
    let mut tx = engine.db.begin().await?;
    let store = StoreDraft {
        code: "SH-JA".into(),
        name: "静安店".into(),
        address: String::new(),
        lat: Some(31.2243),
        lng: Some(121.4465),
        region: "华东".into(),
        kind: "商场店".into(),
    };
    let store_id = tx.insert_store(corp_id, &store.validate()?, now).await?;
    let mut staff = Vec::new();
    for (userid, name) in GUIDES {
        let d = StaffDraft {
            userid: userid.into(),
            name: name.into(),
            mobile: String::new(),
            active: true,
            store_ids: vec![store_id],
        };
        staff.push(tx.insert_staff(corp_id, &d.validate()?, now).await?);
    }
    tx.commit().await?;
    let owner = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
    let draft = serde_json::from_value(serde_json::json!({
        "name": "门口海报", "channel_type": "store_poster", "store_id": store_id, "kind": "multi",
        "pool": staff.iter().map(|s| serde_json::json!({"staff_id": s})).collect::<Vec<_>>(),
        "welcome": [{"text": "{客户昵称}您好，我是{门店}的{导购}，送您一张新客券～"}],
    }))?;
    let code = engine.create_channel_code(&owner, draft).await?;
    code.config_id.context("the channel code has no contact way")
}

/// One load: adds offered open-loop at `per_sec` for `seconds`, then time
/// for the last welcome code to be used or die.
async fn run(backend: &str, quota: u32, load_pct: u32, seconds: u64) -> Result<Figures> {
    let limits = Limits { api_per_minute: quota, ..Limits::default() };
    let config = SimConfig {
        seed: 20,
        corps: vec![SimCorp {
            corp_id: CORP.into(),
            secret: SECRET.into(),
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            callback_url: None,
            staff: GUIDES.iter().map(|(u, n)| SimStaff::new(u, n, 1)).collect(),
            faults: koi_sim::Faults::default(),
        }],
        limits,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let koi = start_koi(backend, &sim.base_url(), quota, "bench-welcome").await?;
    let config_id = seed(&koi.engine).await?;
    let sim_corp = sim.state().corp(Some(CORP)).cloned().context("the simulated corp")?;
    sim_corp.set_callback_url(Some(format!("{}/wecom/callback/{CORP}", koi.url)));

    let per_min = f64::from(quota) * f64::from(load_pct) / 100.0;
    let adds = (per_min * seconds as f64 / 60.0).round() as usize;
    eprintln!("{load_pct}% of {quota}/min: {adds} adds over {seconds} s…");
    let http = reqwest::Client::new();
    let scan_url = format!("{}/sim/scan", sim.base_url());
    let started = tokio::time::Instant::now();
    let mut issued = HashSet::new();
    for i in 0..adds {
        let due = started + Duration::from_secs_f64(i as f64 * 60.0 / per_min);
        tokio::time::sleep_until(due).await;
        let body = serde_json::json!({"config_id": config_id, "customer": {"name": format!("顾客{i}")}});
        let out: serde_json::Value = http.post(&scan_url).json(&body).send().await?.error_for_status()?.json().await?;
        if let Some(code) = out["welcome_code"].as_str() {
            issued.insert(code.to_string());
        }
    }
    // Every code is used or dead 20 s after its add; wait no longer.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(TTL_MS as u64 + 2_000);
    while tokio::time::Instant::now() < deadline && sim.state().welcome_messages().len() < issued.len() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let welcomes = sim.state().welcome_messages();
    let mut latency: Vec<i64> = welcomes.iter().map(|w| w.latency_ms).collect();
    latency.sort_unstable();
    let in_time = welcomes.iter().filter(|w| w.latency_ms < TTL_MS && issued.contains(&w.welcome_code)).count();
    let pct = |p: f64| latency.get(((latency.len() as f64 * p) as usize).min(latency.len().saturating_sub(1))).copied();
    koi.shut_down().await;
    sim.shutdown().await;
    Ok(Figures {
        load_pct,
        offered_per_min: per_min,
        adds: issued.len(),
        welcomes_sent: welcomes.len(),
        in_time_pct: if issued.is_empty() { 0.0 } else { 100.0 * in_time as f64 / issued.len() as f64 },
        p50_ms: pct(0.50).unwrap_or(0),
        p99_ms: pct(0.99).unwrap_or(0),
        max_ms: latency.last().copied().unwrap_or(0),
    })
}

pub async fn welcome(quota: u32, seconds: u64, loads: &[u32], backend: &str, json: bool) -> Result<()> {
    anyhow::ensure!(matches!(backend, "sqlite" | "postgres"), "unknown backend {backend}; use sqlite or postgres");
    let mut results = Vec::new();
    for &load in loads.iter().filter(|l| **l > 0) {
        results.push(run(backend, quota, load, seconds).await?);
    }
    if json {
        let out = serde_json::json!({
            "benchmark": "welcome", "backend": backend, "quota_per_min": quota, "seconds": seconds, "results": results,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "koi bench welcome — {backend}, quota {quota} calls/API/min (simulator and koi's budget), adds offered for {seconds} s"
    );
    println!(
        "{:>6} {:>10} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "load", "adds/min", "adds", "sent", "in time", "p50 ms", "p99 ms", "max ms"
    );
    for r in &results {
        println!(
            "{:>5}% {:>10.0} {:>6} {:>8} {:>8.1}% {:>9} {:>9} {:>9}",
            r.load_pct, r.offered_per_min, r.adds, r.welcomes_sent, r.in_time_pct, r.p50_ms, r.p99_ms, r.max_ms
        );
    }
    Ok(())
}
