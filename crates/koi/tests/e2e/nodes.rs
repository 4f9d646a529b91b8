//! Two `koi serve` processes on one PostgreSQL share the job queue and never
//! run a job twice; when one is killed (SIGKILL) mid-run, the other takes
//! over its jobs after their lease, and every job is done exactly once.

use crate::support::*;
use sqlx::Connection;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// (job id, worker) of every self-test job that ran to completion.
async fn runs(url: &str) -> Vec<(i64, String)> {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    let rows: Vec<(String,)> = sqlx::query_as("SELECT payload FROM events WHERE kind = 'job.selftest'")
        .fetch_all(&mut c)
        .await
        .expect("events");
    rows.into_iter()
        .map(|(p,)| {
            let v: serde_json::Value = serde_json::from_str(&p).expect("payload");
            (v["job_id"].as_i64().expect("job_id"), v["worker"].as_str().expect("worker").to_string())
        })
        .collect()
}

fn node(url: &str) -> Server {
    Server::start(&["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--job-lease-secs", "3"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_jobs_and_never_run_one_twice() {
    let db = scratch("postgres").await;
    let t = tenant(&db.url, "wwNODES");
    let first = node(&db.url);
    let mut second = node(&db.url);
    const JOBS: usize = 1500;
    koi(&["jobs", "selftest", "--database-url", &db.url, "--corp", &t.id.to_string(), "--count", &JOBS.to_string()]);

    let deadline = Instant::now() + Duration::from_secs(60);
    let workers =
        |r: &[(i64, String)]| r.iter().map(|(_, w)| w.clone()).collect::<std::collections::HashSet<_>>().len();
    loop {
        let r = runs(&db.url).await;
        assert!(r.len() < JOBS, "the queue drained before both nodes took a job");
        if workers(&r) >= 2 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.kill();

    let done = loop {
        let r = runs(&db.url).await;
        if r.len() >= JOBS || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(first);
    let mut per_job: HashMap<i64, usize> = HashMap::new();
    let mut per_worker: HashMap<String, usize> = HashMap::new();
    for (job, worker) in &done {
        *per_job.entry(*job).or_default() += 1;
        *per_worker.entry(worker.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_job.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs run twice: {twice:?}");
    assert_eq!(per_job.len(), JOBS, "every job ran, including those the killed node held");
    assert_eq!(per_worker.len(), 2, "both nodes took jobs: {per_worker:?}");
}
