//! `koi bench masssend`: a mass send to `customers` customers over
//! `guides` guides through the simulator with its quota. koi runs in this
//! process (web server, one job worker, a scratch database) with its WeCom
//! budget at the simulator's quota; customers are seeded straight into both
//! (no callbacks). The send is started through the engine's use case, as
//! the console would, and timed until the simulator holds every guide's
//! task.
//!
//! Figures: the share of the `add_msg_template` quota used (calls in each
//! full calendar minute of the run over the quota, averaged; the first and
//! last minutes are partial and left out), 45009 answers (0), duplicate
//! tasks (a guide with two; 0), customers missing or sent twice (0), the
//! wall times (seeding, planning, creating), and the longest a small write
//! of another writer (a probe committing every 250 ms, as a callback would)
//! waited while the send ran: planning is cut into chunks of their own
//! transactions, so no writer waits behind the whole audience.

use super::inproc::{add_corp, start_koi};
use super::CORP;
use anyhow::{Context, Result};
use koi_domain::access::{Principal, Role};
use koi_domain::outreach::mass_send::{Audience, GuideRule, MassContent, MassSendDraft};
use koi_sim::{Limits, SimConfig, SimCorp, SimStaff, Simulator};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-masssend-secret";
const API: &str = "externalcontact/add_msg_template";

#[derive(serde::Serialize)]
struct Figures {
    backend: String,
    customers: usize,
    guides: usize,
    quota_per_min: u32,
    seed_s: f64,
    plan_s: f64,
    create_s: f64,
    wall_s: f64,
    calls: u64,
    refused_45009: u64,
    quota_used_pct: f64,
    full_minutes: usize,
    duplicate_tasks: usize,
    customers_in_tasks: usize,
    customers_twice: usize,
    /// The longest a probe's small write took while the send ran.
    probe_max_ms: f64,
    probes: usize,
}

pub async fn masssend(backend: &str, customers: usize, guides: usize, quota: u32, json: bool) -> Result<()> {
    anyhow::ensure!(matches!(backend, "sqlite" | "postgres"), "unknown backend {backend}; use sqlite or postgres");
    anyhow::ensure!(guides > 0 && customers >= guides, "at least one customer a guide");
    let userid = |g: usize| format!("guide{g:05}");
    let staff: Vec<SimStaff> = (0..guides).map(|g| SimStaff::new(&userid(g), &format!("导购{g}"), 1)).collect();
    let config = SimConfig {
        seed: 15,
        corps: vec![SimCorp {
            corp_id: CORP.into(),
            secret: SECRET.into(),
            token: super::TOKEN.into(),
            encoding_aes_key: super::AES_KEY.into(),
            callback_url: None,
            staff,
            faults: koi_sim::Faults::default(),
        }],
        limits: Limits {
            api_per_minute: quota,
            api_per_hour: quota.saturating_mul(60),
            member_capacity: customers,
            ..Limits::default()
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let state = sim.state();
    let koi = start_koi(backend, &sim.base_url(), quota, "bench-masssend").await?;
    let corp_id = add_corp(&koi.engine, SECRET).await?;
    let owner = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };

    eprintln!("seeding {customers} customers over {guides} guides in the simulator and koi…");
    let started = Instant::now();
    let store = koi
        .engine
        .create_store(
            &owner,
            koi_domain::org::StoreDraft { code: "B-01".into(), name: "基准店".into(), ..Default::default() },
        )
        .await?;
    let mut staff_ids = Vec::with_capacity(guides);
    for g in 0..guides {
        let draft = koi_domain::org::StaffDraft {
            userid: userid(g),
            name: format!("导购{g}"),
            store_ids: vec![store.id],
            active: true,
            ..Default::default()
        };
        staff_ids.push(koi.engine.create_staff(&owner, draft).await?.id);
    }
    let ext = |n: usize| format!("wmbench{n:08}");
    let pairs: Vec<(String, String)> = (0..customers).map(|n| (userid(n % guides), ext(n))).collect();
    let now_s = state.clock.now_s();
    state.act_on(Some(CORP), |w| w.seed_follows(&pairs, now_s)).context("the simulated corp")?;
    drop(pairs);
    let db = koi.engine.db.clone();
    for chunk in (0..customers).collect::<Vec<_>>().chunks(50_000) {
        let mut tx = db.begin().await?;
        let koi_pairs: Vec<(String, i64)> = chunk.iter().map(|n| (ext(*n), staff_ids[n % guides])).collect();
        tx.seed_followed_customers(corp_id, &koi_pairs, Some(store.id), koi_store::now_ms() - 86_400_000).await?;
        tx.commit().await?;
    }
    let input = koi_engine::customers::SegmentInput::Text(format!("store:{}", store.id));
    let segment = koi.engine.save_segment(&owner, None, "bench", &input).await?;
    let seed_s = started.elapsed().as_secs_f64();

    eprintln!("mass send…");
    let started = Instant::now();
    let draft = MassSendDraft {
        name: "bench".into(),
        audience: Audience::Segment { segment_id: segment.id },
        content: MassContent { text: "{guide}：本周爆品".into(), attachments: vec![] },
        guide_rule: GuideRule::LatestFollow,
        send_at: None,
    };
    // Another writer: a small commit every 250 ms, timed.
    let (probe_stop, mut probe_stopped) = tokio::sync::watch::channel(false);
    let probe_db = koi.engine.db.clone();
    let probe = tokio::spawn(async move {
        let (mut max_ms, mut n) = (0f64, 0usize);
        loop {
            let t = Instant::now();
            let mut tx = probe_db.begin().await?;
            tx.set_corp_setting(corp_id, "bench.probe", &n.to_string(), koi_store::now_ms()).await?;
            tx.commit().await?;
            max_ms = max_ms.max(t.elapsed().as_secs_f64() * 1000.0);
            n += 1;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = probe_stopped.changed() => break,
            }
        }
        anyhow::Ok((max_ms, n))
    });
    let send = koi.engine.create_mass_send(&owner, &draft).await?;
    // Planned: the start job has given every guide a task.
    let mut plan_s = 0.0;
    let mut samples: Vec<(i64, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(6 * 3600);
    loop {
        anyhow::ensure!(Instant::now() < deadline, "the send did not finish in 6 hours");
        if plan_s == 0.0 {
            let d = koi.engine.mass_send(&owner, send.send.id).await?;
            if d.send.state == "planned" {
                plan_s = started.elapsed().as_secs_f64();
                // A send that planned nobody never finishes: say why at once.
                anyhow::ensure!(d.send.planned > 0, "the send planned no customer: {:?}", d.reasons);
            }
        }
        let calls = state.api_calls(Some(CORP)).get(API).copied().unwrap_or(0);
        samples.push((state.clock.now_ms(), calls));
        if plan_s > 0.0 && state.mass_tasks().len() >= guides.min(customers) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wall_s = started.elapsed().as_secs_f64();
    probe_stop.send(true).ok();
    let (probe_max_ms, probes) = probe.await.context("the probe writer")??;
    let create_s = wall_s - plan_s;
    // Calls per calendar minute (the simulator's windows), full minutes only.
    let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
    let mut last = 0;
    for (ms, calls) in &samples {
        *per_minute.entry(ms.div_euclid(60_000)).or_default() += calls - last;
        last = *calls;
    }
    let used: Vec<u64> = per_minute.values().copied().skip_while(|c| *c == 0).collect();
    let full: Vec<u64> = if used.len() > 2 { used[1..used.len() - 1].to_vec() } else { Vec::new() };
    let quota_used_pct = if full.is_empty() {
        f64::NAN
    } else {
        full.iter().sum::<u64>() as f64 / (full.len() as f64 * f64::from(quota)) * 100.0
    };
    let tasks = state.mass_tasks();
    let mut by_sender: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut twice = 0;
    for t in &tasks {
        *by_sender.entry(t.task.sender.clone().unwrap_or_default()).or_default() += 1;
        for r in &t.task.recipients {
            if !seen.insert(r.external_userid.clone().unwrap_or_default()) {
                twice += 1;
            }
        }
    }
    let f = Figures {
        backend: backend.into(),
        customers,
        guides,
        quota_per_min: quota,
        seed_s,
        plan_s,
        create_s,
        wall_s,
        calls: state.api_calls(Some(CORP)).get(API).copied().unwrap_or(0),
        refused_45009: state.api_refused(Some(CORP)).values().sum(),
        quota_used_pct,
        full_minutes: full.len(),
        duplicate_tasks: by_sender.values().map(|n| n - 1).sum(),
        customers_in_tasks: seen.len(),
        customers_twice: twice,
        probe_max_ms,
        probes,
    };
    koi.shut_down().await;
    sim.shutdown().await;
    if json {
        println!("{}", serde_json::to_string(&f)?);
        return Ok(());
    }
    println!(
        "koi bench masssend — {}, {} customers over {} guides, quota {} calls/API/min",
        f.backend, f.customers, f.guides, f.quota_per_min
    );
    println!("| figure | koi | target |");
    println!("|---|---|---|");
    println!("| quota used (add_msg_template, {} full minutes) | {:.1} % | ≥ 95 % |", f.full_minutes, f.quota_used_pct);
    println!("| 45009 answers | {} | 0 |", f.refused_45009);
    println!("| duplicate tasks | {} | 0 |", f.duplicate_tasks);
    println!(
        "| customers in tasks / sent twice | {} / {} | {} / 0 |",
        f.customers_in_tasks, f.customers_twice, f.customers
    );
    println!("| plan (resolve, split, stage; chunks: cap, record) | {:.1} s | — |", f.plan_s);
    println!(
        "| longest small write of another writer ({} probes) | {:.0} ms | < 30 s (the pool's wait) |",
        f.probes, f.probe_max_ms
    );
    println!("| create {} tasks | {:.1} s | — |", f.calls, f.create_s);
    println!("| wall time (seeding {:.1} s apart) | {:.1} s | — |", f.seed_s, f.wall_s);
    Ok(())
}
