//! `koi bench groups`: a full sync of a large corp's customer groups from
//! the simulator, and incremental member-change callbacks applied.
//!
//! The simulator is seeded with `groups` groups of `members` customers each
//! (plus the owner), drawn from a pool of `groups × members / 10` customers,
//! so a customer is in ten groups on average. koi runs in this process (web
//! server, one job worker, a scratch database) with its WeCom budget at the
//! simulator's quota.
//!
//! 1. **Full sync.** An operator's "sync now" (the `groups.sync` job) until
//!    koi holds every group with every member. The comparator is the least
//!    WeCom allows: `groupchat/list` pages of 1,000 plus one `groupchat/get`
//!    per group, and the wall time the per-API quota allows for those calls.
//! 2. **Incremental.** `changes` customers join groups in the simulator as
//!    fast as it can, each change a `change_external_chat` callback to koi,
//!    until koi's groups hold the simulator's members again.

use super::inproc::{add_corp, start_koi, Koi};
use super::CORP;
use anyhow::{Context, Result};
use koi_domain::access::{Principal, Role};
use koi_domain::jobs::JobState;
use koi_sim::{Limits, SimConfig, SimCorp, SimStaff, Simulator};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-groups-secret";
/// Groups per `groupchat/list` page (WeCom's maximum).
const LIST_PAGE: u64 = 1_000;

#[derive(serde::Serialize)]
struct Figures {
    backend: String,
    groups: usize,
    memberships: i64,
    quota_per_min: u32,
    full_sync_s: f64,
    full_sync_floor_s: f64,
    memberships_per_s: f64,
    calls_list: u64,
    calls_get: u64,
    calls_min: u64,
    changes: usize,
    incremental_s: f64,
    changes_per_s: f64,
    gets_for_changes: u64,
}

pub async fn groups(
    backend: &str,
    groups: usize,
    members: usize,
    changes: usize,
    quota: u32,
    json: bool,
) -> Result<()> {
    anyhow::ensure!(matches!(backend, "sqlite" | "postgres"), "unknown backend {backend}; use sqlite or postgres");
    anyhow::ensure!(members < 200, "at most 199 members a group, so the incremental joins fit under the QR cut");
    let staff: Vec<SimStaff> =
        (0..20).map(|i| SimStaff::new(&format!("guide{i:02}"), &format!("导购{i}"), 1)).collect();
    let config = SimConfig {
        seed: 21,
        corps: vec![SimCorp {
            corp_id: CORP.into(),
            secret: SECRET.into(),
            token: super::TOKEN.into(),
            encoding_aes_key: super::AES_KEY.into(),
            callback_url: None,
            staff,
            faults: koi_sim::Faults::default(),
        }],
        limits: Limits { api_per_minute: quota, api_per_hour: quota.saturating_mul(60), ..Limits::default() },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let state = sim.state();
    eprintln!("seeding the simulator: {groups} groups × {members} members…");
    let now_s = state.clock.now_s();
    let pool = (groups * members / 10).max(members);
    let chat_ids =
        state.act_on(Some(CORP), |w| w.seed_groups(groups, members, pool, now_s)).context("the simulated corp")?;
    let koi = start_koi(backend, &sim.base_url(), quota, "bench-groups").await?;
    let corp_id = add_corp(&koi.engine, SECRET).await?;
    let owner = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
    let truth = || state.inspect(Some(CORP), |w| w.groups.values().map(|g| g.members.len() as i64).sum::<i64>());
    let memberships = truth().unwrap_or(0);

    eprintln!("full sync…");
    let started = Instant::now();
    koi.engine.sync_groups(&owner).await?;
    settle(&koi, corp_id, groups as i64, memberships).await?;
    let full_sync = started.elapsed();
    let calls = state.api_calls(Some(CORP));
    let called = |api: &str| calls.get(api).copied().unwrap_or(0);
    let (calls_list, calls_get) = (called("externalcontact/groupchat/list"), called("externalcontact/groupchat/get"));
    let calls_min = (groups as u64).div_ceil(LIST_PAGE) + groups as u64;
    // The gets are the busiest API: a full quota window for every `quota`
    // of them after the first window.
    let full_sync_floor_s = ((groups as u64).saturating_sub(1) / u64::from(quota.max(1)) * 60) as f64;

    eprintln!("incremental: {changes} joins…");
    state
        .corp(Some(CORP))
        .context("the simulated corp")?
        .set_callback_url(Some(format!("{}/wecom/callback/{CORP}", koi.url)));
    let started = Instant::now();
    for i in 0..changes {
        let chat_id = &chat_ids[i % chat_ids.len()];
        state.act_on(Some(CORP), |w| {
            let (customer, _) = w.ensure_customer(&koi_sim::NewCustomer::default());
            let limits = Limits::default();
            w.join_group(chat_id, &customer, 3, None, None, now_s, &limits)
        });
    }
    let expected = truth().unwrap_or(0);
    settle(&koi, corp_id, groups as i64, expected).await?;
    let incremental = started.elapsed();
    let gets_for_changes =
        state.api_calls(Some(CORP)).get("externalcontact/groupchat/get").copied().unwrap_or(0) - calls_get;
    koi.shut_down().await;
    sim.shutdown().await;

    let f = Figures {
        backend: backend.into(),
        groups,
        memberships,
        quota_per_min: quota,
        full_sync_s: full_sync.as_secs_f64(),
        full_sync_floor_s,
        memberships_per_s: memberships as f64 / full_sync.as_secs_f64(),
        calls_list,
        calls_get,
        calls_min,
        changes,
        incremental_s: incremental.as_secs_f64(),
        changes_per_s: changes as f64 / incremental.as_secs_f64(),
        gets_for_changes,
    };
    if json {
        println!("{}", serde_json::json!({ "benchmark": "groups", "results": f }));
        return Ok(());
    }
    print(&f);
    Ok(())
}

/// Waits until koi holds `groups` active groups with `members` present
/// members in all and has no group work left.
async fn settle(koi: &Koi, corp_id: i64, groups: i64, members: i64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        let busy = koi
            .engine
            .db
            .job_counts(corp_id)
            .await?
            .iter()
            .any(|(s, n)| matches!(s, JobState::Queued | JobState::Running) && *n > 0);
        let held = koi.engine.db.group_totals(corp_id).await?;
        if !busy && held == (groups, members) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "koi did not converge: holds {held:?}, WeCom has {groups} groups with {members} members"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print(f: &Figures) {
    println!(
        "koi bench groups — {}, {} groups, {} memberships, quota {} calls/API/min",
        f.backend, f.groups, f.memberships, f.quota_per_min
    );
    println!("| phase | koi | comparator: least WeCom allows (incremental: one get per callback) | koi / comparator |");
    println!("|---|---|---|---|");
    println!(
        "| full sync, WeCom calls | {} (list {}, get {}) | {} | {:.2}× |",
        f.calls_list + f.calls_get,
        f.calls_list,
        f.calls_get,
        f.calls_min,
        (f.calls_list + f.calls_get) as f64 / f.calls_min as f64
    );
    println!(
        "| full sync, wall time | {:.1} s ({:.0} memberships/s) | {:.0} s (quota) | {} |",
        f.full_sync_s,
        f.memberships_per_s,
        f.full_sync_floor_s,
        if f.full_sync_floor_s > 0.0 { format!("{:.2}×", f.full_sync_s / f.full_sync_floor_s) } else { "—".into() }
    );
    println!(
        "| incremental: {} joins by callback | {:.1} s, {:.0} applied/s, {} gets | {} gets | {:.2}× |",
        f.changes,
        f.incremental_s,
        f.changes_per_s,
        f.gets_for_changes,
        f.changes,
        f.gets_for_changes as f64 / f.changes.max(1) as f64
    );
}
