//! `koi bench segments`: exact segment counts on koi's in-memory bitmap index
//! beside PostgreSQL (a GIN index on the tag array, B-trees on the rest) over
//! the same synthetic corp and the same random expressions, in one run.
//! Expressions mix set conditions (tags, stores, stages, RFM) with column
//! ones (added and last-active dates, orders, spend).

use anyhow::{Context, Result};
use koi_domain::segment::{Cond, Expr, RfmDim, SegmentIndex, Stage, Value};
use koi_store::scratch::ScratchDb;
use rand::{Rng, SeedableRng};
use sqlx::Connection;
use std::time::Instant;

const TAGS: u32 = 500;
const STORES: u32 = 200;
/// The corp's first day (2023-11-15, UTC+8 midnight) and how many days of
/// customers it has gathered since.
const FIRST_DAY_MS: i64 = 1_699_977_600_000;
const DAYS: u32 = 1000;
const DAY_MS: i64 = 86_400_000;

/// One synthetic customer: skewed store and tags, a stage and RFM bands,
/// when they were added and last seen (whole seconds, as WeCom reports), and
/// for the 30% who bought, orders and spend.
struct Synthetic {
    store: u32,
    stage: u8,
    rfm: [u8; 3],
    tags: Vec<u32>,
    added_at: i64,
    last_active: Option<i64>,
    orders: u32,
    spent_fen: i64,
}

/// Popular things are much more popular: `n·u²` puts most mass on low ids.
fn skewed(rng: &mut impl Rng, n: u32) -> u32 {
    let u: f64 = rng.gen();
    ((u * u) * f64::from(n)) as u32
}

/// Ids are handed out as customers are added, so `added_at` grows with
/// `id / customers`.
fn customer(rng: &mut impl Rng, id: u32, customers: u32) -> Synthetic {
    let day = i64::from(DAYS) * i64::from(id) / i64::from(customers);
    let added_at = FIRST_DAY_MS + day * DAY_MS + rng.gen_range(0..86_400) * 1000;
    let last_active = rng.gen_bool(0.75).then(|| added_at + rng.gen_range(0..300 * 86_400) * 1000);
    let orders = if rng.gen_bool(0.3) { 1 + skewed(rng, 12) } else { 0 };
    let spent_fen = i64::from(orders) * rng.gen_range(990..50_000);
    let k = rng.gen_range(0..=6);
    let mut tags: Vec<u32> = (0..k).map(|_| skewed(rng, TAGS)).collect();
    tags.sort_unstable();
    tags.dedup();
    Synthetic {
        store: skewed(rng, STORES),
        stage: [0, 0, 1, 1, 1, 2, 2, 3, 3, 4][rng.gen_range(0..10)],
        rfm: [rng.gen_range(1..=5), rng.gen_range(1..=5), rng.gen_range(1..=5)],
        tags,
        added_at,
        last_active,
        orders,
        spent_fen,
    }
}

const STAGES: [Stage; 5] = [Stage::New, Stage::Stored, Stage::Active, Stage::Converted, Stage::Super];
const DIMS: [RfmDim; 3] = [RfmDim::R, RfmDim::F, RfmDim::M];

/// A brand-local midnight within the corp's days, as the console sends.
fn random_day(rng: &mut impl Rng) -> i64 {
    FIRST_DAY_MS + i64::from(rng.gen_range(0..DAYS + 300)) * DAY_MS
}

fn random_cond(rng: &mut impl Rng) -> Cond {
    match rng.gen_range(0..14) {
        0..=4 => Cond::Tag(format!("t{}", skewed(rng, TAGS))),
        5 | 6 => Cond::Store(i64::from(skewed(rng, STORES))),
        7 => Cond::Stage(STAGES[rng.gen_range(0..5)]),
        8 | 9 => Cond::Rfm { dim: DIMS[rng.gen_range(0..3)], band: rng.gen_range(1..=5) },
        10 => {
            let from_ms = random_day(rng);
            Cond::AddedBetween { from_ms, to_ms: from_ms + rng.gen_range(1..=90) * DAY_MS }
        }
        11 if rng.gen_bool(0.5) => Cond::LastActiveBefore(random_day(rng)),
        11 => Cond::LastActiveAfter(random_day(rng)),
        12 => Cond::OrdersAtLeast(rng.gen_range(1..=6)),
        _ => Cond::SpentAtLeast(100 * [50, 100, 200, 500, 1000][rng.gen_range(0..5)]),
    }
}

/// A random expression of the given depth (2–4 in the benchmark).
fn random_expr(rng: &mut impl Rng, depth: u32) -> Expr {
    if depth <= 1 {
        return Expr::Cond(random_cond(rng));
    }
    let children = (0..rng.gen_range(2..=3)).map(|_| random_expr(rng, depth - 1)).collect();
    let e = if rng.gen_bool(0.5) { Expr::And(children) } else { Expr::Or(children) };
    if rng.gen_bool(0.2) {
        Expr::Not(Box::new(e))
    } else {
        e
    }
}

/// The same expression as a PostgreSQL condition.
fn sql(e: &Expr) -> String {
    match e {
        Expr::And(v) => format!("({})", v.iter().map(sql).collect::<Vec<_>>().join(" AND ")),
        Expr::Or(v) => format!("({})", v.iter().map(sql).collect::<Vec<_>>().join(" OR ")),
        Expr::Not(e) => format!("(NOT {})", sql(e)),
        Expr::Cond(c) => match c {
            Cond::Tag(t) => format!("tags @> ARRAY[{}]", t.trim_start_matches('t')),
            Cond::Store(s) => format!("store = {s}"),
            Cond::Stage(s) => format!("stage = {}", STAGES.iter().position(|x| x == s).unwrap_or(0)),
            Cond::Rfm { dim, band } => format!("{} = {band}", dim.as_str().to_lowercase()),
            Cond::AddedBetween { from_ms, to_ms } => format!("(added_at >= {from_ms} AND added_at < {to_ms})"),
            // Two-valued, as koi's: never active is "not seen since".
            Cond::LastActiveBefore(t) => format!("(last_active IS NULL OR last_active < {t})"),
            Cond::LastActiveAfter(t) => format!("(last_active IS NOT NULL AND last_active >= {t})"),
            Cond::OrdersAtLeast(n) => format!("orders >= {n}"),
            Cond::SpentAtLeast(f) => format!("spent >= {f}"),
            other => unreachable!("the benchmark draws no {other:?}"),
        },
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

pub async fn segments(customers: u32, expressions: usize, json: bool) -> Result<()> {
    eprintln!("building the koi index of {customers} synthetic customers…");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let mut index = SegmentIndex::new();
    let mut csv = String::with_capacity(customers as usize * 80);
    let started = Instant::now();
    for id in 0..customers {
        let c = customer(&mut rng, id, customers);
        index.add_customer(id);
        index.set_store(id, i64::from(c.store), true);
        index.set_stage(id, STAGES[usize::from(c.stage)]);
        for (d, band) in DIMS.iter().zip(c.rfm) {
            index.set_rfm(id, *d, Some(band));
        }
        for t in &c.tags {
            index.set_tag(id, &format!("t{t}"), true);
        }
        index.set_value(id, Value::AddedAt(c.added_at));
        index.set_value(id, Value::LastActive(c.last_active));
        index.set_value(id, Value::Orders(c.orders));
        index.set_value(id, Value::SpentFen(c.spent_fen));
        let tags = c.tags.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let active = c.last_active.map_or_else(|| "\\N".to_string(), |t| t.to_string());
        csv.push_str(&format!(
            "{id}\t{}\t{}\t{}\t{}\t{}\t{{{tags}}}\t{}\t{active}\t{}\t{}\n",
            c.store, c.stage, c.rfm[0], c.rfm[1], c.rfm[2], c.added_at, c.orders, c.spent_fen
        ));
    }
    let built = started.elapsed();

    eprintln!("loading the same customers into PostgreSQL (COPY, then indexes)…");
    let scratch = ScratchDb::postgres().await.context("a scratch PostgreSQL database")?;
    let mut pg = sqlx::PgConnection::connect(&scratch.url).await?;
    sqlx::raw_sql(
        "CREATE TABLE seg (id INTEGER PRIMARY KEY, store INTEGER, stage SMALLINT, r SMALLINT, f SMALLINT, m SMALLINT, tags INTEGER[], \
         added_at BIGINT, last_active BIGINT, orders INTEGER, spent BIGINT)",
    )
    .execute(&mut pg)
    .await?;
    let mut copy = pg.copy_in_raw("COPY seg FROM STDIN").await?;
    copy.send(csv.as_bytes()).await?;
    copy.finish().await?;
    drop(csv);
    sqlx::raw_sql(
        "CREATE INDEX seg_tags ON seg USING GIN (tags); CREATE INDEX seg_store ON seg (store); \
         CREATE INDEX seg_stage ON seg (stage); CREATE INDEX seg_r ON seg (r); CREATE INDEX seg_f ON seg (f); \
         CREATE INDEX seg_m ON seg (m); CREATE INDEX seg_added ON seg (added_at); \
         CREATE INDEX seg_active ON seg (last_active); CREATE INDEX seg_orders ON seg (orders); \
         CREATE INDEX seg_spent ON seg (spent); ANALYZE seg",
    )
    .execute(&mut pg)
    .await?;

    eprintln!("running {expressions} random expressions of depth 2–4 on both…");
    let exprs: Vec<Expr> = (0..expressions).map(|i| random_expr(&mut rng, 2 + (i % 3) as u32)).collect();
    let (mut koi_ms, mut pg_ms) = (Vec::new(), Vec::new());
    for e in &exprs {
        let t = Instant::now();
        let n = index.count(e);
        koi_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let m: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM seg WHERE {}", sql(e))).fetch_one(&mut pg).await?;
        pg_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(n == m as u64, "koi counted {n}, PostgreSQL {m} for {e}");
    }
    koi_ms.sort_by(f64::total_cmp);
    pg_ms.sort_by(f64::total_cmp);

    // Materialising ids: the largest segment among the expressions.
    let big = exprs.iter().max_by_key(|e| index.count(e)).context("no expressions")?;
    let t = Instant::now();
    let ids = index.ids(big);
    let materialise = t.elapsed();
    let per_million = materialise.as_secs_f64() * 1000.0 * 1_000_000.0 / ids.len().max(1) as f64;

    let figures = serde_json::json!({
        "benchmark": "segments", "customers": customers, "expressions": expressions,
        "koi_p50_ms": pct(&koi_ms, 0.5), "koi_p99_ms": pct(&koi_ms, 0.99),
        "postgres_p50_ms": pct(&pg_ms, 0.5), "postgres_p99_ms": pct(&pg_ms, 0.99),
        "ratio_p99": pct(&pg_ms, 0.99) / pct(&koi_ms, 0.99).max(1e-6),
        "materialise_ms_per_million_ids": per_million, "materialised_ids": ids.len(),
        "bytes_per_customer": index.bytes_per_customer(), "index_build_s": built.as_secs_f64(),
    });
    if json {
        println!("{figures}");
        return Ok(());
    }
    println!("koi bench segments — {customers} customers, {expressions} random expressions of depth 2–4, same counts on both");
    println!("{:<32} {:>10} {:>10}", "", "p50 ms", "p99 ms");
    println!("{:<32} {:>10.3} {:>10.3}", "koi: RoaringBitmap index", pct(&koi_ms, 0.5), pct(&koi_ms, 0.99));
    println!("{:<32} {:>10.3} {:>10.3}", "PostgreSQL: GIN + B-tree", pct(&pg_ms, 0.5), pct(&pg_ms, 0.99));
    println!("ratio at p99: {:.0}×", figures["ratio_p99"].as_f64().unwrap_or(0.0));
    println!(
        "materialise ids: {} ids in {:.2} ms ({per_million:.2} ms per million); index: {:.1} B/customer, built in {:.1} s",
        ids.len(),
        materialise.as_secs_f64() * 1000.0,
        index.bytes_per_customer(),
        built.as_secs_f64()
    );
    Ok(())
}
