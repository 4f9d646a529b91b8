//! `koi serve`: the web console, API and callbacks, with a job worker, until
//! Ctrl+C or SIGTERM. `koi demo` runs the same server.

use crate::database::DbArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use koi_engine::jobs::{Worker, WorkerConfig};
use koi_engine::{Engine, Settings};
use koi_web::{AppState, WebConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KOI_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL people and WeCom reach koi at (shown in the console).
    #[arg(long, env = "KOI_PUBLIC_URL")]
    public_url: Option<String>,
    /// Mark cookies Secure; set when koi is served over HTTPS.
    #[arg(long, env = "KOI_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Requests one client address may make to the public `/h5` pages per
    /// minute (also the burst); more answer 429 `rate_limited`.
    #[arg(long, env = "KOI_H5_PER_MINUTE", default_value_t = koi_web::H5_PER_MINUTE_DEFAULT)]
    h5_per_minute: u32,
    /// Take the client address from the last X-Forwarded-For entry: set when
    /// koi runs behind a reverse proxy that appends it (nginx, Caddy).
    #[arg(long = "trust-x-forwarded-for", env = "KOI_TRUST_X_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Do not run the background job worker in this process.
    #[arg(long)]
    no_worker: bool,
    /// How long a claimed job is reserved for this node; after a crash its
    /// jobs are taken over once the lease runs out.
    #[arg(long, env = "KOI_JOB_LEASE_SECS", default_value_t = 300)]
    job_lease_secs: u64,
    /// How long a console login lasts.
    #[arg(long, env = "KOI_SESSION_HOURS", default_value_t = 12.0)]
    session_hours: f64,
    /// Days processed WeCom callbacks are kept (their dedup keys and
    /// `koi inbox replay`); older ones are pruned by the worker.
    #[arg(long, env = "KOI_INBOX_KEEP_DAYS", default_value_t = koi_engine::INBOX_KEEP_DAYS_DEFAULT)]
    inbox_keep_days: i64,
    /// How often the group assistant reads the session-archive feed
    /// (corps that turned it on), in seconds.
    #[arg(long, env = "KOI_GROUP_FEED_SECS", default_value_t = 60)]
    group_feed_secs: u64,
    /// How often the campaign timer runs (scheduled starts and ends,
    /// invites whose hold has passed), in seconds.
    #[arg(long, env = "KOI_CAMPAIGN_TICK_SECS", default_value_t = 10)]
    campaign_tick_secs: u64,
    /// How often the SOP timer runs (steps that came due: day N after add,
    /// weekly, festivals, no order for N days), in seconds.
    #[arg(long, env = "KOI_SOP_TICK_SECS", default_value_t = 60)]
    sop_tick_secs: u64,
    /// How long a checkout waits for payment before it closes and gives its
    /// stock back, in seconds (the sweep runs with the campaign timer).
    #[arg(long, env = "KOI_CHECKOUT_WINDOW_SECS", default_value_t = 900)]
    checkout_window_secs: u64,
    /// WeCom's API base URL; point it at `koi sim` to run against the simulator.
    #[arg(long, env = "KOI_WECOM_BASE_URL", default_value = "https://qyapi.weixin.qq.com")]
    wecom_base_url: String,
}

pub(crate) async fn run(a: ServeArgs) -> Result<()> {
    if !(a.session_hours.is_finite() && a.session_hours > 0.0 && a.session_hours <= 24.0 * 366.0) {
        bail!("--session-hours must be more than 0 and at most a year");
    }
    if a.h5_per_minute == 0 {
        bail!("--h5-per-minute must be at least 1");
    }
    if !(1..=86_400).contains(&a.group_feed_secs) {
        bail!("--group-feed-secs must be 1 to 86400");
    }
    if !(1..=3600).contains(&a.campaign_tick_secs) {
        bail!("--campaign-tick-secs must be 1 to 3600");
    }
    if !(1..=3600).contains(&a.sop_tick_secs) {
        bail!("--sop-tick-secs must be 1 to 3600");
    }
    if !(10..=7200).contains(&a.checkout_window_secs) {
        bail!("--checkout-window-secs must be 10 to 7200 (WeChat Pay's prepay lives 2 hours)");
    }
    if !(1..=3650).contains(&a.inbox_keep_days) {
        bail!("--inbox-keep-days must be 1 to 3650: WeCom redelivers a callback for minutes, and replay needs its row");
    }
    let listener = bind(a.listen).await?;
    let addr = listener.local_addr()?;
    let public_url = a.public_url.unwrap_or_else(|| format!("http://{addr}"));
    let settings = Settings {
        inbox_keep_ms: a.inbox_keep_days * 86_400_000,
        session_ttl_ms: (a.session_hours * 3_600_000.0) as i64,
        wecom_base_url: a.wecom_base_url.trim_end_matches('/').to_string(),
        group_feed_interval_ms: a.group_feed_secs as i64 * 1000,
        campaign_tick_ms: a.campaign_tick_secs as i64 * 1000,
        sop_tick_ms: a.sop_tick_secs as i64 * 1000,
        public_url: public_url.clone(),
        checkout_window_ms: a.checkout_window_secs as i64 * 1000,
        ..Settings::default()
    };
    let engine = Engine::new(a.db.open().await?, settings);
    println!("koi listening on http://{addr} (console: {public_url}/console)");
    serve(
        engine,
        listener,
        WebConfig {
            secure_cookies: a.secure_cookies || public_url.starts_with("https://"),
            public_url,
            h5_per_minute: a.h5_per_minute,
            trust_forwarded_for: a.trust_forwarded_for,
        },
        (!a.no_worker).then_some(a.job_lease_secs as i64 * 1000),
    )
    .await
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}; is another koi running? choose another address with --listen")
    })
}

/// Runs the web server and, unless told not to, a job worker, until Ctrl+C
/// or SIGTERM; then stops taking requests and lets the worker finish its batch.
/// `worker` is the job lease in milliseconds, or `None` for no worker.
pub(crate) async fn serve(
    engine: Engine,
    listener: tokio::net::TcpListener,
    config: WebConfig,
    worker: Option<i64>,
) -> Result<()> {
    let db = engine.db.clone();
    let engine = engine.with_inbox_writer();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut job_wake = None;
    let worker_task = if let Some(lease_ms) = worker {
        // Unique even where every container is pid 1 on a reused hostname:
        // leases are fenced by this id.
        let id = format!("{}-{}-{:08x}", hostname(), std::process::id(), rand_u32());
        let w = Worker::new(engine.clone(), WorkerConfig { lease_ms, ..WorkerConfig::new(id) });
        job_wake = Some(w.wake.clone());
        Some(tokio::spawn(w.run_until(stop_rx.clone())))
    } else {
        None
    };
    // Load the segment indexes now, so the first count in the console does
    // not wait for a million customers to be read.
    tokio::spawn({
        let engine = engine.clone();
        async move { engine.warm_segment_indexes().await }
    });
    let state = AppState { engine, config: Arc::new(config), job_wake };
    let mut stop_web = stop_rx.clone();
    let web = tokio::spawn(koi_web::serve(listener, state, async move {
        let _ = stop_web.wait_for(|s| *s).await;
    }));
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    web.await.context("web task")??;
    if let Some(t) = worker_task {
        t.await.context("worker task")?;
    }
    db.close().await;
    Ok(())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish() as u32
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "koi".into())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
