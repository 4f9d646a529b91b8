//! `koi bench …`: koi's figures beside the comparator each issue names, in
//! one run, as a ratio. Benchmarks are measurements, never pass/fail tests.

mod callbacks;
mod crypto;
mod group_metrics;
mod groups;
mod inproc;
mod masssend;
mod orders;
mod poster;
mod segments;
mod welcome;

use callbacks::callbacks;
use crypto::crypto;
use group_metrics::group_metrics;
use groups::groups;
use masssend::masssend;
use orders::orders;
use poster::poster;
use segments::segments;
use welcome::welcome;

use anyhow::Result;
use clap::Subcommand;
use koi_wecom::CallbackCrypto;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Personal posters (750×1334 JPEG) rendered on one core, beside
    /// ImageMagick's convert and Python Pillow on the same template.
    Poster {
        /// Posters koi renders (distinct nicknames and QR payloads).
        #[arg(long, default_value_t = 2_000)]
        posters: usize,
        /// Posters each comparator renders.
        #[arg(long, default_value_t = 20)]
        comparator_posters: usize,
        #[arg(long)]
        json: bool,
    },
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
    /// Group metrics read (computed on read) over a synthetic corp of many
    /// groups and stays, per query the console and API make.
    GroupMetrics {
        #[arg(long, default_value_t = 20_000)]
        groups: u32,
        /// Group stays (memberships), joined over the last year.
        #[arg(long, default_value_t = 2_000_000)]
        stays: u32,
        /// Messages in groups over the last 90 days.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u32,
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
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
    /// Orders ingested per second through the signed webhook with
    /// matching, attribution and the behaviour, on SQLite and PostgreSQL,
    /// beside a comparator doing the signature check and one INSERT per
    /// order into PostgreSQL.
    Orders {
        #[arg(long, default_value_t = 5_000)]
        orders: usize,
        /// Which of sqlite, postgres and comparator to run, in this order.
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres,comparator")]
        targets: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// A mass send (群发) to many customers over many guides through the
    /// simulator with its quota: share of the quota used, 45009 answers,
    /// duplicate tasks, wall time.
    Masssend {
        #[arg(long, default_value_t = 1_000_000)]
        customers: usize,
        #[arg(long, default_value_t = 2_000)]
        guides: usize,
        /// Calls per API per minute, for the simulator and koi's budget
        /// alike (small, so the run spans several quota windows).
        #[arg(long, default_value_t = 600)]
        quota: u32,
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long)]
        json: bool,
    },
    /// A full sync of many customer groups from the simulator (wall time,
    /// WeCom calls beside the least the API allows) and member-change
    /// callbacks applied per second.
    Groups {
        #[arg(long, default_value_t = 20_000)]
        groups: usize,
        /// Customers a group (2M memberships by default).
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Joins made one by one afterwards, each a callback.
        #[arg(long, default_value_t = 2_000)]
        changes: usize,
        /// Calls per API per minute, for the simulator and koi's budget
        /// alike (WeCom's default).
        #[arg(long, default_value_t = 10_000)]
        quota: u32,
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Poster { posters, comparator_posters, json } => {
            poster(posters.max(1), comparator_posters.max(1), json)
        }
        BenchCommand::GroupMetrics { groups, stays, messages, backend, json } => {
            group_metrics(groups.max(1), stays.max(1), messages.max(1), &backend, json).await
        }
        BenchCommand::Segments { customers, expressions, json } => {
            segments(customers.max(1), expressions.max(1), json).await
        }
        BenchCommand::Crypto { callbacks, json } => crypto(callbacks.max(1), json),
        BenchCommand::Callbacks { callbacks: n, rate, seconds, targets, json } => {
            callbacks(n.max(1), rate.max(1), seconds.max(1), &targets, json).await
        }
        BenchCommand::Welcome { quota, seconds, loads, backend, json } => {
            welcome(quota.max(1), seconds.max(1), &loads, &backend, json).await
        }
        BenchCommand::Orders { orders: n, targets, json } => orders(n.max(1), &targets, json).await,
        BenchCommand::Masssend { customers, guides, quota, backend, json } => {
            masssend(&backend, customers, guides.max(1), quota.max(1), json).await
        }
        BenchCommand::Groups { groups: n, members, changes, quota, backend, json } => {
            groups(&backend, n.max(1), members, changes, quota.max(1), json).await
        }
    }
}

pub(crate) const TOKEN: &str = "QDG6eK";
pub(crate) const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub(crate) const CORP: &str = "wwkoibench0000001";

/// One signed event POST, as WeCom sends it.
pub(crate) struct Delivery {
    pub signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub body: String,
    pub encrypt: String,
}

/// Distinct, realistic add-customer events: the most frequent callback on
/// the hot path. `salt` keeps runs of one process distinct.
pub(crate) fn deliveries(crypto: &CallbackCrypto, n: usize) -> Vec<Delivery> {
    let salt =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() % 1_000_000);
    (0..n)
        .map(|i| {
            let xml = format!(
                "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
                 <UserID><![CDATA[guide{:03}]]></UserID><ExternalUserID><![CDATA[wmA1b2C3d4E5f6{salt:06}K{i:08}]]></ExternalUserID>\
                 <State><![CDATA[c12s3g45]]></State><WelcomeCode><![CDATA[CALLBACK_WELCOME_CODE_{i:08}]]></WelcomeCode></xml>",
                1_700_000_000 + i,
                i % 100,
            );
            let encrypt = crypto.encrypt(&xml);
            let (timestamp, nonce) = ((1_700_000_000 + i).to_string(), format!("{}", 100_000 + i));
            let signature = crypto.signature(&timestamp, &nonce, &encrypt);
            let body = format!(
                "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
            );
            Delivery { signature, timestamp, nonce, body, encrypt }
        })
        .collect()
}

pub(crate) fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Best of `rounds` runs of `f`, to keep a noisy neighbour from deciding.
pub(crate) fn best(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one round")
}
