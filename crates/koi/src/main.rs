//! The `koi` command: serve, demo, migrate and admin tasks.

mod bench;
mod demo;
mod sim;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use koi_domain::org::CorpDraft;
use koi_engine::jobs::{Worker, WorkerConfig};
use koi_engine::people::UserInput;
use koi_engine::{Engine, Settings};
use koi_store::Db;
use koi_web::{AppState, WebConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "koi",
    version,
    about = "koi: a self-hosted private-domain growth engine (私域运营 SCRM) for retail brands on WeCom"
)]
struct Cli {
    /// Log as JSON lines instead of text (log level: RUST_LOG, default info).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: web console, API, callbacks and the job worker.
    Serve(ServeArgs),
    /// Run a fresh demo brand on an embedded SQLite database and print a login.
    Demo(DemoArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Manage corps (tenants).
    #[command(subcommand)]
    Corp(CorpCommand),
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Background job tools.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The durable WeCom callback inbox.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Print the OpenAPI document of /api/v1.
    Openapi,
    /// Run the WeCom simulator alone: WeCom's API and callbacks over real HTTP.
    Sim(SimArgs),
    /// Measure koi beside the comparator its issue names.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args)]
pub(crate) struct SimArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// A TOML simulator config (corps, staff, limits, faults); see examples/sim.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for every id, member pick and fault draw (overrides the config).
    #[arg(long)]
    seed: Option<u64>,
    /// Virtual-clock speed: 60 makes a real second a virtual minute (overrides the config).
    #[arg(long)]
    clock_speed: Option<f64>,
    /// A TOML scenario of virtual customers to run once started; its report is printed as JSON.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Exact segment counts on koi's bitmap index beside PostgreSQL (GIN)
    /// over the same synthetic customers and random expressions.
    Segments {
        #[arg(long, default_value_t = 5_000_000)]
        customers: u32,
        #[arg(long, default_value_t = 50)]
        expressions: usize,
        #[arg(long)]
        json: bool,
    },
    /// Callbacks verified + decrypted + parsed per second per core, beside
    /// the AES and SHA-1 floor of this machine.
    Crypto {
        /// How many callbacks to prepare and process per round.
        #[arg(long, default_value_t = 20_000)]
        callbacks: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledged callbacks per second (verify + decrypt + durable inbox) and
    /// p50/p99 at a fixed offered rate, on SQLite and PostgreSQL, beside a
    /// comparator doing one INSERT per event into PostgreSQL.
    Callbacks {
        /// Callbacks in the closed-loop throughput phase.
        #[arg(long, default_value_t = 20_000)]
        callbacks: usize,
        /// Offered rate of the latency phase.
        #[arg(long, default_value_t = 5_000)]
        rate: u64,
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Which of sqlite, postgres and comparator to run, in this order.
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres,comparator")]
        targets: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Scan-to-welcome latency through the simulator (p50/p99) and the share
    /// of welcome codes used in time, offering adds at fractions of a small
    /// API quota.
    Welcome {
        /// Calls per API per minute, for the simulator and koi's budget alike.
        #[arg(long, default_value_t = 600)]
        quota: u32,
        /// How long adds are offered at each load.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Offered loads, in percent of the quota.
        #[arg(long, value_delimiter = ',', default_value = "50,100,150")]
        loads: Vec<u32>,
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone)]
struct DbArgs {
    /// postgres://… or sqlite://PATH. Default: SQLite in --data-dir.
    #[arg(long, env = "KOI_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the embedded SQLite database lives.
    #[arg(long, env = "KOI_DATA_DIR", default_value = "./koi-data")]
    data_dir: PathBuf,
}

impl DbArgs {
    fn url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("koi.db").display()))
    }

    async fn open(&self) -> Result<Db> {
        let url = self.url();
        let db = Db::open(&url).await.with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        db.migrate().await.context("migrating the database")?;
        Ok(db)
    }
}

#[derive(Args)]
struct ServeArgs {
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
    /// WeCom's API base URL; point it at `koi sim` to run against the simulator.
    #[arg(long, env = "KOI_WECOM_BASE_URL", default_value = "https://qyapi.weixin.qq.com")]
    wecom_base_url: String,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder for the demo database (recreated on every run).
    #[arg(long, default_value = "./koi-data")]
    data_dir: PathBuf,
    /// Password for the demo users (default: a random one, printed).
    #[arg(long, env = "KOI_DEMO_PASSWORD")]
    password: Option<String>,
}

#[derive(Subcommand)]
enum CorpCommand {
    /// Create a corp with its WeCom credentials; prints its id.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The brand's name as operators see it.
        #[arg(long)]
        name: String,
        /// WeCom CorpID (ww…).
        #[arg(long)]
        corp_id: String,
        /// The app secret for the external-contact API.
        #[arg(long, env = "KOI_CORP_SECRET")]
        secret: String,
        /// Callback Token.
        #[arg(long)]
        token: String,
        /// Callback EncodingAESKey (43 characters).
        #[arg(long)]
        aes_key: String,
        /// Print {"id": …} instead of the bare id.
        #[arg(long)]
        json: bool,
    },
    /// List corps (secrets masked).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a console user; prints its id.
    Add {
        #[command(flatten)]
        db: DbArgs,
        /// The corp's koi id (from `koi corp add`).
        #[arg(long)]
        corp: i64,
        #[arg(long)]
        username: String,
        /// owner, hq_operator, store_manager or guide.
        #[arg(long, default_value = "owner")]
        role: String,
        /// At least 8 characters.
        #[arg(long, env = "KOI_PASSWORD")]
        password: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Store ids a store manager manages (repeat the flag).
        #[arg(long = "store")]
        stores: Vec<i64>,
    },
    /// Set a user's password.
    Passwd {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long, env = "KOI_PASSWORD")]
        password: String,
    },
}

#[derive(Subcommand)]
enum InboxCommand {
    /// How many of the corp's callbacks are pending, running, done or failed.
    Status {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
    },
    /// Run the corp's callbacks of the last N hours through the pipeline
    /// again (it is idempotent: what was done once is not done twice).
    Replay {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Enqueue self-test jobs, which record which worker ran them.
    Selftest {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Make the jobs fail, to see dead letters.
        #[arg(long)]
        fail: bool,
    },
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    if let Err(e) = run(cli.command).await {
        eprintln!("koi: {e:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(a) => {
            if !(a.session_hours.is_finite() && a.session_hours > 0.0 && a.session_hours <= 24.0 * 366.0) {
                bail!("--session-hours must be more than 0 and at most a year");
            }
            let settings = Settings {
                session_ttl_ms: (a.session_hours * 3_600_000.0) as i64,
                wecom_base_url: a.wecom_base_url.trim_end_matches('/').to_string(),
                ..Settings::default()
            };
            let engine = Engine::new(a.db.open().await?, settings);
            let listener = bind(a.listen).await?;
            let addr = listener.local_addr()?;
            let public_url = a.public_url.unwrap_or_else(|| format!("http://{addr}"));
            println!("koi listening on http://{addr} (console: {public_url}/console)");
            serve(
                engine,
                listener,
                WebConfig { secure_cookies: a.secure_cookies || public_url.starts_with("https://"), public_url },
                (!a.no_worker).then_some(a.job_lease_secs as i64 * 1000),
            )
            .await
        }
        Command::Demo(a) => demo::run(a).await,
        Command::Migrate(db) => {
            let url = db.url();
            let handle = Db::open(&url).await.with_context(|| format!("cannot open {}", redact(&url)))?;
            let ran = handle.migrate().await?;
            println!("{ran} migration(s) applied to {}", redact(&url));
            Ok(())
        }
        Command::Corp(CorpCommand::Add { db, name, corp_id, secret, token, aes_key, json }) => {
            let engine = Engine::new(db.open().await?, Settings::default());
            let draft = CorpDraft {
                name,
                wecom_corp_id: corp_id,
                app_secret: secret,
                callback_token: token,
                encoding_aes_key: aes_key,
            };
            let id = engine.add_corp(draft).await?;
            if json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("{id}");
            }
            Ok(())
        }
        Command::Corp(CorpCommand::List { db }) => {
            for c in db.open().await?.corps().await? {
                println!(
                    "{}\t{}\t{}\tsecret {}",
                    c.id,
                    c.wecom_corp_id,
                    c.name,
                    koi_domain::secret::mask(&c.app_secret)
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add { db, corp, username, role, password, display_name, stores }) => {
            let engine = Engine::new(db.open().await?, Settings::default());
            if engine.db.corp(corp).await?.is_none() {
                bail!("no corp with id {corp}; see `koi corp list`");
            }
            let input = UserInput { username, display_name, password, role, store_ids: stores };
            println!("{}", engine.add_user(corp, &input).await?);
            Ok(())
        }
        Command::User(UserCommand::Passwd { db, username, password }) => {
            let engine = Engine::new(db.open().await?, Settings::default());
            engine.set_password(&username, &password).await?;
            println!("password changed for {username}");
            Ok(())
        }
        Command::Jobs(JobsCommand::Selftest { db, corp, count, fail }) => {
            let engine = Engine::new(db.open().await?, Settings::default());
            let ids = engine.enqueue_selftest(corp, count, fail).await?;
            println!("{} self-test job(s) queued", ids.len());
            Ok(())
        }
        Command::Sim(a) => sim::run(a).await,
        Command::Bench(BenchCommand::Segments { customers, expressions, json }) => {
            bench::segments(customers.max(1), expressions.max(1), json).await
        }
        Command::Bench(BenchCommand::Crypto { callbacks, json }) => bench::crypto(callbacks.max(1), json),
        Command::Bench(BenchCommand::Callbacks { callbacks, rate, seconds, targets, json }) => {
            bench::callbacks(callbacks.max(1), rate.max(1), seconds.max(1), &targets, json).await
        }
        Command::Bench(BenchCommand::Welcome { quota, seconds, loads, backend, json }) => {
            bench::welcome(quota.max(1), seconds.max(1), &loads, &backend, json).await
        }
        Command::Inbox(InboxCommand::Status { db, corp }) => {
            for (state, n) in db.open().await?.inbox_counts(corp).await? {
                println!("{state}\t{n}");
            }
            Ok(())
        }
        Command::Inbox(InboxCommand::Replay { db, corp, hours }) => {
            if !(hours.is_finite() && hours > 0.0) {
                bail!("--hours must be more than 0");
            }
            let since = koi_store::now_ms() - (hours * 3_600_000.0) as i64;
            let n = db.open().await?.inbox_replay(corp, since).await?;
            println!("{n} callback(s) queued again; a running koi serve processes them");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&koi_web::openapi_document())?);
            Ok(())
        }
    }
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
