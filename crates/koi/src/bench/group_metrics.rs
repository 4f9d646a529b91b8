//! `koi bench group-metrics`: reading group metrics (computed on read) over
//! a synthetic corp of many groups and stays, on SQLite or PostgreSQL.
//!
//! The corp is written straight into the tables with one recursive-CTE
//! insert each (the same SQL on both backends): `groups` groups of the six
//! kinds over 50 stores, `stays` stays with join times spread over the
//! last year (one in five has left since, at some time up to 30 days after
//! joining), and `messages` messages over the last 90 days. Then each query
//! the console and API make is timed, best of three.

use anyhow::{Context, Result};
use koi_domain::group::{local_day, MetricsBy, Window};
use koi_store::group_metrics::MetricsFilter;
use koi_store::scratch::ScratchDb;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;
const OFFSET_MS: i64 = 8 * 3_600_000;

pub(crate) async fn group_metrics(groups: u32, stays: u32, messages: u32, backend: &str, json: bool) -> Result<()> {
    let scratch = ScratchDb::of(backend).await.with_context(|| format!("{backend} scratch database"))?;
    let now = koi_store::now_ms();
    let started = Instant::now();
    let corp_id = fill(&scratch, groups, stays, messages, now).await?;
    let filled = started.elapsed();
    let today = local_day(now);
    let month = Window { first: today - 29, last: today };
    let year = Window { first: today - 365, last: today };
    let mut rows = Vec::new();
    for (name, by, w, f) in [
        ("by kind, 30 days", MetricsBy::Kind, month, MetricsFilter::default()),
        ("by store, 30 days", MetricsBy::Store, month, MetricsFilter::default()),
        ("by group, 30 days", MetricsBy::Group, month, MetricsFilter::default()),
        ("one group, 30 days", MetricsBy::Group, month, MetricsFilter { group_id: Some(1), ..Default::default() }),
        ("by kind, 366 days", MetricsBy::Kind, year, MetricsFilter::default()),
    ] {
        let mut best = Duration::MAX;
        let mut keys = 0;
        for _ in 0..3 {
            let t = Instant::now();
            keys = scratch.db.group_metric_inputs(corp_id, by, &f, w.span(), OFFSET_MS).await?.len();
            best = best.min(t.elapsed());
        }
        rows.push((name, best, keys));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(n, d, k)| serde_json::json!({"query": n, "ms": d.as_secs_f64() * 1000.0, "keys": k}))
            .collect();
        let out = serde_json::json!({"backend": backend, "groups": groups, "stays": stays, "messages": messages,
            "fill_s": filled.as_secs_f64(), "queries": v});
        println!("{out}");
        return Ok(());
    }
    println!(
        "{backend}: {groups} groups, {stays} stays, {messages} messages (written in {:.1} s)",
        filled.as_secs_f64()
    );
    for (name, d, keys) in rows {
        println!("  {name:<20} {:>9.1} ms  ({keys} keys)", d.as_secs_f64() * 1000.0);
    }
    Ok(())
}

/// Writes the synthetic corp; returns its id.
async fn fill(scratch: &ScratchDb, groups: u32, stays: u32, messages: u32, now: i64) -> Result<i64> {
    let draft = koi_domain::org::CorpDraft {
        name: "bench".into(),
        wecom_corp_id: "wwbenchgroups01".into(),
        app_secret: "s".into(),
        callback_token: "t".into(),
        encoding_aes_key: "k".repeat(43),
    };
    let corp_id = scratch.db.create_corp(&draft, now).await?;
    let mut tx = scratch.db.begin().await?;
    for i in 0..50 {
        let s = koi_domain::org::StoreDraft { code: format!("B{i}"), name: format!("店{i}"), ..Default::default() };
        tx.insert_store(corp_id, &s, now).await?;
    }
    tx.commit().await?;
    let (now_s, year_s) = (now / 1000, 365 * 86_400);
    let series = |n: u32| {
        format!("WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {n})")
    };
    let statements = [
        format!(
            "{} INSERT INTO groups (corp_id, chat_id, name, kind, store_id, status, created_at, synced_at) \
             SELECT {corp_id}, 'wr' || i, 'group ' || i, CASE i % 6 WHEN 0 THEN 'paid' WHEN 1 THEN 'unpaid' \
             WHEN 2 THEN 'education' WHEN 3 THEN 'vip' WHEN 4 THEN 'store' ELSE 'custom' END, \
             (SELECT MIN(id) FROM stores WHERE corp_id = {corp_id}) + i % 50, 'active', {now}, {now} FROM n",
            series(groups)
        ),
        format!(
            "{} INSERT INTO group_members (corp_id, group_id, userid, member_type, join_time, join_scene, left_at) \
             SELECT {corp_id}, (SELECT MIN(id) FROM groups WHERE corp_id = {corp_id}) + i % {groups}, 'wm' || i, \
             'customer', {now_s} - (i * 7919) % {year_s}, 3, \
             CASE WHEN i % 5 = 0 THEN ({now_s} - (i * 7919) % {year_s}) * 1000 + (i * 31) % {month_ms} END FROM n",
            series(stays),
            month_ms = 30 * DAY_MS
        ),
        format!(
            "{} INSERT INTO group_messages (corp_id, group_id, seq, msgid, sender, msg_type, content, sent_at) \
             SELECT {corp_id}, (SELECT MIN(id) FROM groups WHERE corp_id = {corp_id}) + i % {groups}, i, 'm' || i, \
             'wm' || ((i * 13) % {stays}), 'text', '', {now} - (i * 7919) % {span} FROM n",
            series(messages),
            span = 90 * DAY_MS
        ),
        format!(
            "UPDATE groups SET members = (SELECT COUNT(*) FROM group_members m WHERE m.group_id = groups.id \
             AND m.left_at IS NULL) WHERE corp_id = {corp_id}"
        ),
    ];
    for sql in statements {
        execute(&scratch.url, &sql).await?;
    }
    Ok(corp_id)
}

/// Runs one statement on the scratch database by its URL (the store has no
/// bulk-synthetic writes, and should not).
async fn execute(url: &str, sql: &str) -> Result<()> {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(sql).execute(&pool).await.with_context(|| sql.to_string())?;
        sqlx::query("ANALYZE").execute(&pool).await?;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query(sql).execute(&pool).await.with_context(|| sql.to_string())?;
        sqlx::query("ANALYZE").execute(&pool).await?;
    }
    Ok(())
}
