//! `koi bench callbacks`: acknowledged callbacks per second (verify +
//! decrypt + durable inbox) and the latency at a fixed offered rate, for koi
//! on SQLite and on PostgreSQL, beside a minimal comparator that decrypts and
//! does one INSERT per event into PostgreSQL — all over real HTTP, in one run.

use super::{deliveries, Delivery, AES_KEY, CORP, TOKEN};
use anyhow::{Context, Result};
use koi_domain::org::CorpDraft;
use koi_engine::{Engine, Settings};
use koi_store::scratch::ScratchDb;
use koi_wecom::CallbackCrypto;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent requests in the throughput phase (WeCom delivers from many
/// connections at once).
const CONCURRENCY: usize = 64;

#[derive(serde::Serialize)]
struct Figures {
    target: String,
    acks_per_sec: f64,
    offered_per_sec: u64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
    stored: i64,
}

/// A server under test: where to POST, and how many rows it stored.
struct Target {
    name: String,
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    scratch: ScratchDb,
    count_sql: &'static str,
}

async fn koi_target(backend: &str) -> Result<Target> {
    let scratch = ScratchDb::of(backend).await.with_context(|| format!("{backend} scratch database"))?;
    let engine = Engine::new(scratch.db.clone(), Settings::default());
    engine
        .add_corp(CorpDraft {
            name: "bench".into(),
            wecom_corp_id: CORP.into(),
            app_secret: "bench-secret".into(),
            callback_token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
        })
        .await?;
    let engine = engine.with_inbox_writer();
    let state = koi_web::AppState { engine, config: Arc::new(koi_web::WebConfig::default()), job_wake: None };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(koi_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Target {
        name: format!("koi, {backend}"),
        url: format!("http://{addr}/wecom/callback/{CORP}"),
        stop,
        scratch,
        count_sql: "SELECT COUNT(*) FROM wecom_inbox",
    })
}

/// The comparator: verify and decrypt, then one autocommitted INSERT per
/// event into PostgreSQL — what a straightforward implementation does.
async fn comparator_target() -> Result<Target> {
    let scratch = ScratchDb::postgres().await.context("postgres scratch database")?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(&scratch.url).await?;
    sqlx::raw_sql(
        "CREATE TABLE cmp_inbox (id BIGSERIAL PRIMARY KEY, dedup_key TEXT UNIQUE NOT NULL, plaintext TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let crypto = Arc::new(CallbackCrypto::new(TOKEN, AES_KEY, CORP)?);
    #[derive(serde::Deserialize)]
    struct Q {
        msg_signature: String,
        timestamp: String,
        nonce: String,
    }
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |axum::extract::Query(q): axum::extract::Query<Q>, body: String| {
            let (crypto, pool) = (crypto.clone(), pool.clone());
            async move {
                let Ok(plain) = crypto.decrypt_message(&q.msg_signature, &q.timestamp, &q.nonce, &body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let key = koi_wecom::dedup_key(plain.as_bytes());
                match sqlx::query("INSERT INTO cmp_inbox (dedup_key, plaintext) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(key)
                    .bind(plain)
                    .execute(&pool)
                    .await
                {
                    Ok(_) => axum::http::StatusCode::OK,
                    Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Target {
        name: "comparator: decrypt + 1 INSERT, postgres".into(),
        url: format!("http://{addr}/cb"),
        stop,
        scratch,
        count_sql: "SELECT COUNT(*) FROM cmp_inbox",
    })
}

async fn post(http: &reqwest::Client, url: &str, d: &Delivery) -> bool {
    http.post(url)
        .query(&[("msg_signature", d.signature.as_str()), ("timestamp", &d.timestamp), ("nonce", &d.nonce)])
        .body(d.body.clone())
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Closed loop: `CONCURRENCY` senders as fast as acks come back.
async fn throughput(http: &reqwest::Client, url: &str, d: Arc<Vec<Delivery>>) -> (f64, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (http, url, d, next, errors) = (http.clone(), url.to_string(), d.clone(), next.clone(), errors.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(x) = d.get(i) else { break };
                if !post(&http, &url, x).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    (super::rate(d.len(), started.elapsed()), errors.load(Ordering::Relaxed))
}

/// Open loop at `per_sec`: each request is due at its slot, and its latency
/// counts from that slot, so a stalled server is not excused.
async fn latency(http: &reqwest::Client, url: &str, d: Arc<Vec<Delivery>>, per_sec: u64) -> (f64, f64, usize) {
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..d.len() {
        let due = started + Duration::from_nanos(i as u64 * 1_000_000_000 / per_sec);
        tokio::time::sleep_until(due).await;
        let (http, url, d) = (http.clone(), url.to_string(), d.clone());
        tasks.spawn(async move {
            let ok = post(&http, &url, &d[i]).await;
            (ok, due.elapsed())
        });
    }
    let mut lat = Vec::with_capacity(d.len());
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (ok, took) = r.expect("sender task");
        errors += usize::from(!ok);
        lat.push(took.as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.50), pct(0.99), errors)
}

pub async fn callbacks(n: usize, per_sec: u64, seconds: u64, targets: &[String], json: bool) -> Result<()> {
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, CORP)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY * 2).build()?;
    let mut results = Vec::new();
    let mut skipped = Vec::new();
    for which in targets {
        let target = match which.as_str() {
            "comparator" => comparator_target().await,
            backend @ ("sqlite" | "postgres") => koi_target(backend).await,
            other => anyhow::bail!("unknown target {other}; use sqlite, postgres or comparator"),
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                skipped.push(format!("{which}: {e:#}"));
                continue;
            }
        };
        eprintln!("{}: {n} callbacks at {CONCURRENCY} concurrent, then {per_sec}/s for {seconds} s…", target.name);
        let burst = Arc::new(deliveries(&crypto, n));
        let (acks, e1) = throughput(&http, &target.url, burst).await;
        let paced = Arc::new(deliveries(&crypto, (per_sec * seconds) as usize));
        let (p50, p99, e2) = latency(&http, &target.url, paced, per_sec).await;
        let stored: i64 = match &target.scratch.db.backend() {
            koi_store::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&target.scratch.url).await?;
                sqlx::query_scalar(target.count_sql).fetch_one(&pool).await?
            }
            koi_store::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&target.scratch.url).await?;
                sqlx::query_scalar(target.count_sql).fetch_one(&pool).await?
            }
        };
        let _ = target.stop.send(());
        results.push(Figures {
            target: target.name,
            acks_per_sec: acks.round(),
            offered_per_sec: per_sec,
            p50_ms: p50,
            p99_ms: p99,
            errors: e1 + e2,
            stored,
        });
    }
    let comparator = results.iter().find(|r| r.target.starts_with("comparator")).map(|r| r.acks_per_sec);
    if json {
        println!("{}", serde_json::json!({ "benchmark": "callbacks", "results": results, "skipped": skipped }));
        return Ok(());
    }
    println!("koi bench callbacks — {n} callbacks closed-loop ({CONCURRENCY} concurrent), then {per_sec}/s open-loop for {seconds} s");
    println!(
        "{:<42} {:>10} {:>8} {:>9} {:>9} {:>7} {:>8}",
        "", "acks/s", "ratio", "p50 ms", "p99 ms", "errors", "stored"
    );
    for r in &results {
        let ratio = comparator.map_or("—".to_string(), |c| format!("{:.1}", r.acks_per_sec / c));
        println!(
            "{:<42} {:>10.0} {:>8} {:>9.2} {:>9.2} {:>7} {:>8}",
            r.target, r.acks_per_sec, ratio, r.p50_ms, r.p99_ms, r.errors, r.stored
        );
    }
    for s in skipped {
        println!("skipped {s}");
    }
    Ok(())
}
