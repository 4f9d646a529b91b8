//! The `koi` command: serve, demo, migrate and admin tasks. This file holds
//! the command line and sends each command to its own module.

mod bench;
mod corp;
mod database;
mod demo;
mod demo_shop;
mod inbox;
mod jobs;
mod key;
mod migrate;
mod openapi;
mod serve;
mod sim;
mod user;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Serve(serve::ServeArgs),
    /// Run a fresh demo brand on an embedded SQLite database and print a login.
    Demo(demo::DemoArgs),
    /// Apply database migrations and exit.
    Migrate(database::DbArgs),
    /// Manage corps (tenants).
    #[command(subcommand)]
    Corp(corp::CorpCommand),
    /// Manage console users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// API keys for integrations.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Background job tools.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// The durable WeCom callback inbox.
    #[command(subcommand)]
    Inbox(inbox::InboxCommand),
    /// Print the OpenAPI document of /api/v1.
    Openapi,
    /// Run the WeCom simulator alone: WeCom's API and callbacks over real HTTP.
    Sim(sim::SimArgs),
    /// Measure koi beside the comparator its issue names.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
        Command::Serve(a) => serve::run(a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Migrate(db) => migrate::run(db).await,
        Command::Corp(c) => corp::run(c).await,
        Command::User(c) => user::run(c).await,
        Command::Key(c) => key::run(c).await,
        Command::Jobs(c) => jobs::run(c).await,
        Command::Inbox(c) => inbox::run(c).await,
        Command::Openapi => openapi::run(),
        Command::Sim(a) => sim::run(a).await,
        Command::Bench(c) => bench::run(c).await,
    }
}
