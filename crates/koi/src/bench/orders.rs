//! `koi bench orders`: orders ingested per second through koi's real signed
//! webhook — signature check, the order and its item, customer matching,
//! guide attribution and the behaviour (counters, stage, RFM, tag rules,
//! timeline), one transaction each — on SQLite and PostgreSQL, beside a
//! plain comparator that checks the same signature and does one INSERT per
//! order into PostgreSQL, all over real HTTP in one run.

use anyhow::{Context, Result};
use koi_domain::access::{Principal, Role};
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_engine::{Engine, Settings};
use koi_store::acquisition::{CustomerProfile, NewFollow};
use koi_store::scratch::ScratchDb;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Concurrent posts (a shop's sync sends from a few workers at once).
const CONCURRENCY: usize = 16;
const CUSTOMERS: usize = 500;
const GUIDES: usize = 10;

#[derive(serde::Serialize)]
struct Figures {
    target: String,
    orders_per_sec: f64,
    stored: i64,
    errors: usize,
}

struct Target {
    name: String,
    url: String,
    secret: String,
    stop: tokio::sync::oneshot::Sender<()>,
    scratch: ScratchDb,
    /// koi's engine and its owner, to count what koi stored.
    koi: Option<(Engine, Principal)>,
}

fn now_ms() -> i64 {
    koi_store::now_ms()
}

/// koi on `backend` with a store, guides and customers who follow them.
async fn koi_target(backend: &str) -> Result<Target> {
    let scratch = ScratchDb::of(backend).await.with_context(|| format!("{backend} scratch database"))?;
    let engine = Engine::new(scratch.db.clone(), Settings::default());
    let corp_id = engine
        .add_corp(CorpDraft {
            name: "bench".into(),
            wecom_corp_id: "wwordersbench".into(),
            app_secret: "s".into(),
            callback_token: "t".into(),
            encoding_aes_key: super::AES_KEY.into(),
        })
        .await?;
    let (now, t0) = (now_ms(), now_ms() - 3_600_000);
    let mut tx = scratch.db.begin().await?;
    let store = StoreDraft { code: "S1".into(), name: "bench".into(), ..Default::default() }.validate()?;
    let store_id = tx.insert_store(corp_id, &store, now).await?;
    let mut guides = Vec::new();
    for g in 0..GUIDES {
        let d = StaffDraft { userid: format!("g{g}"), name: format!("guide {g}"), active: true, ..Default::default() };
        let d = d.validate()?;
        guides.push(tx.insert_staff(corp_id, &d, now).await?);
    }
    for c in 0..CUSTOMERS {
        let p = CustomerProfile {
            external_userid: format!("wmbench{c:06}"),
            name: format!("c{c}"),
            kind: 1,
            unionid: format!("ou{c:06}"),
            ..Default::default()
        };
        let (customer_id, _) = tx.upsert_customer(corp_id, &p, None, Some(store_id), t0, now).await?;
        for (i, guide) in [guides[c % GUIDES], guides[(c + 1) % GUIDES]].into_iter().enumerate() {
            let f = NewFollow {
                corp_id,
                customer_id,
                staff_id: guide,
                added_at: t0 + i as i64,
                add_way: 1,
                state: "",
                code_id: None,
                store_id: Some(store_id),
                returning: false,
            };
            tx.upsert_follow(&f, now).await?;
        }
    }
    tx.commit().await?;
    let owner = Principal { corp_id, role: Role::Owner, user_id: None, store_ids: vec![], staff_id: None };
    let created = engine.create_order_integration(&owner, "bench").await?;
    let state =
        koi_web::AppState { engine: engine.clone(), config: Arc::new(koi_web::WebConfig::default()), job_wake: None };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(koi_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Target {
        name: format!("koi webhook + attribution + behaviour, {backend}"),
        url: format!("http://{addr}/webhooks/orders/{}", created.integration.key),
        secret: created.secret,
        stop,
        scratch,
        koi: Some((engine, owner)),
    })
}

/// The comparator: the same signature check, then one autocommitted INSERT
/// per order into PostgreSQL — what a straightforward order sink does.
async fn comparator_target() -> Result<Target> {
    let scratch = ScratchDb::postgres().await.context("postgres scratch database")?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(&scratch.url).await?;
    sqlx::raw_sql(
        "CREATE TABLE cmp_orders (id BIGSERIAL PRIMARY KEY, shop_order_id TEXT UNIQUE NOT NULL, body TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let secret = "comparator-secret".to_string();
    let s = secret.clone();
    let app = axum::Router::new().route(
        "/o",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (pool, secret) = (pool.clone(), s.clone());
            async move {
                let sig = headers.get("x-koi-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
                let t = sig.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap_or(0);
                if koi_engine::orders::sign(&secret, t, body.as_bytes()) != sig {
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                let id = v["order"]["shop_order_id"].as_str().unwrap_or("").to_string();
                match sqlx::query("INSERT INTO cmp_orders (shop_order_id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id)
                    .bind(&body)
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
        name: "comparator: signature + 1 INSERT, postgres".into(),
        url: format!("http://{addr}/o"),
        secret,
        stop,
        scratch,
        koi: None,
    })
}

/// Distinct orders by the bench's customers (by unionid), each signed.
fn bodies(secret: &str, n: usize, salt: i64) -> Vec<(String, String)> {
    let (t, at) = (now_ms() / 1000, now_ms() - 60_000);
    (0..n)
        .map(|i| {
            let body = serde_json::json!({"event": "order", "order": {
                "shop_order_id": format!("B{salt}-{i:08}"), "ordered_at": at, "store_code": "S1",
                "amount_fen": 9900, "paid_fen": 8900,
                "items": [{"sku": "SKU1", "name": "bench", "qty": 1, "price_fen": 9900}],
                "customer": {"unionid": format!("ou{:06}", i % CUSTOMERS)}}})
            .to_string();
            (koi_engine::orders::sign(secret, t, body.as_bytes()), body)
        })
        .collect()
}

async fn run_target(t: Target, n: usize) -> Result<Figures> {
    let bodies = Arc::new(bodies(&t.secret, n, now_ms() % 1_000_000));
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, bodies, next, errors, url) =
            (http.clone(), bodies.clone(), next.clone(), errors.clone(), t.url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((sig, body)) = bodies.get(i) else { break };
                let ok = http
                    .post(&url)
                    .header("x-koi-signature", sig)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let took = started.elapsed();
    let stored: i64 = match &t.koi {
        Some((engine, owner)) => {
            let q = koi_engine::orders::OrderQuery { limit: Some(1), ..Default::default() };
            engine.orders(owner, &q).await?.total
        }
        None => {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&t.scratch.url).await?;
            sqlx::query_scalar("SELECT COUNT(*) FROM cmp_orders").fetch_one(&pool).await?
        }
    };
    let _ = t.stop.send(());
    Ok(Figures { target: t.name, orders_per_sec: super::rate(n, took), stored, errors: errors.load(Ordering::Relaxed) })
}

pub(crate) async fn orders(n: usize, targets: &[String], json: bool) -> Result<()> {
    let mut figures = Vec::new();
    for target in targets {
        let t = match target.as_str() {
            "sqlite" | "postgres" => koi_target(target).await?,
            "comparator" => comparator_target().await?,
            other => anyhow::bail!("unknown target {other}: sqlite, postgres or comparator"),
        };
        figures.push(run_target(t, n).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
        return Ok(());
    }
    let floor = figures.iter().find(|f| f.target.starts_with("comparator")).map(|f| f.orders_per_sec);
    println!("{:<52} {:>12} {:>8} {:>7} {:>8}", "target", "orders/s", "stored", "errors", "ratio");
    for f in &figures {
        let ratio = floor.map_or("-".into(), |c| format!("{:.2}×", f.orders_per_sec / c));
        println!("{:<52} {:>12.0} {:>8} {:>7} {:>8}", f.target, f.orders_per_sec, f.stored, f.errors, ratio);
    }
    println!("({n} orders each, {CONCURRENCY} concurrent posts; ratio = orders/s over the comparator's)");
    Ok(())
}
