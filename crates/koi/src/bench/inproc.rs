//! koi in this process for the benchmarks that drive it through the
//! simulator: a scratch database, the web server (for callbacks) and one
//! job worker, and the benchmark corp.

use super::{AES_KEY, CORP, TOKEN};
use anyhow::{Context, Result};
use koi_domain::org::CorpDraft;
use koi_engine::jobs::{Worker, WorkerConfig};
use koi_engine::{Engine, Settings};
use koi_store::scratch::ScratchDb;
use std::sync::Arc;

/// koi, in this process, on a scratch database, talking to `sim_url`.
pub(crate) struct Koi {
    scratch: ScratchDb,
    pub engine: Engine,
    /// Where the web server listens (`http://127.0.0.1:port`).
    pub url: String,
    stop: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
}

impl Koi {
    /// Stops the worker and the web server and drops the scratch database.
    pub(crate) async fn shut_down(self) {
        let _ = self.stop.send(true);
        let _ = self.worker.await;
        drop(self.scratch);
    }
}

pub(crate) async fn start_koi(backend: &str, sim_url: &str, quota: u32, worker: &str) -> Result<Koi> {
    let scratch = ScratchDb::of(backend).await.with_context(|| format!("{backend} scratch database"))?;
    let settings =
        Settings { wecom_base_url: sim_url.into(), wecom_per_minute: u64::from(quota), ..Settings::default() };
    let engine = Engine::new(scratch.db.clone(), settings).with_inbox_writer();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = Worker::new(engine.clone(), WorkerConfig::new(worker));
    let wake = worker.wake.clone();
    let worker = tokio::spawn(worker.run_until(stopped.clone()));
    let state = koi_web::AppState {
        engine: engine.clone(),
        config: Arc::new(koi_web::WebConfig::default()),
        job_wake: Some(wake),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut stop_web = stopped;
    tokio::spawn(koi_web::serve(listener, state, async move {
        let _ = stop_web.wait_for(|s| *s).await;
    }));
    Ok(Koi { scratch, engine, url, stop, worker })
}

/// Registers the benchmark corp (`CORP`, with the shared callback token and
/// key) with the simulator's app secret; returns koi's corp id.
pub(crate) async fn add_corp(engine: &Engine, secret: &str) -> Result<i64> {
    Ok(engine
        .add_corp(CorpDraft {
            name: "bench".into(),
            wecom_corp_id: CORP.into(),
            app_secret: secret.into(),
            callback_token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
        })
        .await?)
}
