//! koi's use cases and workers. Each use case checks who is asking (a
//! [`Principal`]), applies the domain's rules, and writes through one store
//! transaction together with the events and jobs it causes.

pub mod acquisition;
pub mod auth;
mod cache;
pub mod callback;
pub mod campaigns;
pub mod checkout;
pub mod coupons;
pub mod customers;
pub mod demo;
pub mod distribution;
mod error;
pub mod groups;
pub mod handover;
pub mod inbox;
pub mod jobs;
pub mod materials;
pub mod orders;
pub mod org;
pub mod outreach;
pub mod pay;
mod pipeline;
pub mod points;
pub mod posters;
pub mod reports;
pub mod sop;
pub mod users;

pub use error::EngineError;
pub use koi_domain::access::Principal;

use koi_store::Db;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Bootstrap settings the engine needs; everything else lives in the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a console login lasts.
    pub session_ttl_ms: i64,
    /// WeCom's API, or the simulator's (same paths).
    pub wecom_base_url: String,
    /// Calls per corp per API per minute koi allows itself: WeCom's 10,000
    /// (CONTRACT.md §5), or a simulator configured smaller so a benchmark
    /// can reach the quota.
    pub wecom_per_minute: u64,
    /// Bulk taggings of more customers than this run as a background job
    /// instead of before the answer.
    pub bulk_inline_max: usize,
    /// Passwords checked at once (each on a blocking thread); more sign-ins
    /// wait their turn. Half the cores by default, at least one.
    pub password_checks: usize,
    /// How long processed callbacks stay in the inbox: their dedup keys
    /// absorb WeCom's redeliveries, and `koi inbox replay` can run them
    /// again. Older processed rows are pruned by the worker.
    pub inbox_keep_ms: i64,
    /// How often the worker reads the session-archive feed of corps whose
    /// group assistant has it on.
    pub group_feed_interval_ms: i64,
    /// How often the worker runs the campaign timer (scheduled starts and
    /// ends, invites whose hold has passed) for corps with campaigns.
    pub campaign_tick_ms: i64,
    /// How often the worker runs the SOP timer for corps with enabled rules.
    pub sop_tick_ms: i64,
    /// koi's public URL: links in messages to customers (a participant's
    /// page) start with it.
    pub public_url: String,
    /// How long a checkout waits for payment before it closes and gives
    /// its stock back.
    pub checkout_window_ms: i64,
}

/// WeCom gives up redelivering a callback within minutes; 30 days keeps a
/// month of callbacks to replay after a fix.
pub const INBOX_KEEP_DAYS_DEFAULT: i64 = 30;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_ttl_ms: 12 * 3600 * 1000,
            wecom_base_url: koi_wecom::client::DEFAULT_BASE_URL.to_string(),
            wecom_per_minute: koi_wecom::client::BudgetConfig::default().per_minute,
            bulk_inline_max: customers::BULK_INLINE,
            password_checks: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            inbox_keep_ms: INBOX_KEEP_DAYS_DEFAULT * 86_400_000,
            group_feed_interval_ms: 60_000,
            campaign_tick_ms: 10_000,
            sop_tick_ms: 60_000,
            public_url: "http://127.0.0.1:8080".into(),
            checkout_window_ms: koi_domain::product::checkout::PAY_WINDOW_MS,
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    pub settings: Settings,
    /// Permits to check a password: argon2 is slow on purpose, and a flood
    /// of sign-ins must not take every core from the other requests.
    password_checks: std::sync::Arc<tokio::sync::Semaphore>,
    /// Group-commit writer for callbacks, when this process serves them.
    inbox: Option<inbox::InboxWriter>,
    callback_keys: std::sync::Arc<callback::KeyCache>,
    /// WeCom clients by koi corp id, so a job does not read the corp first.
    corp_clients: std::sync::Arc<cache::TtlCache<i64, koi_wecom::client::CorpClient>>,
    /// Per-corp segment indexes, loaded on first use.
    segment_indexes: std::sync::Arc<customers::segments::SegmentIndexes>,
    /// One WeCom client per process: its token cache and budget are shared
    /// by every caller.
    wecom: koi_wecom::client::WecomClient,
    /// One WeChat Pay client per process (merchants come with each call).
    pay: koi_wecom::pay::PayClient,
    /// Rendered posters by content hash and prepared poster templates.
    posters: std::sync::Arc<posters::PosterCache>,
    /// JS-SDK tickets by (corp, is the app's): `sop/jsapi.rs`.
    jsapi_tickets: std::sync::Arc<cache::TtlCache<(i64, bool), String>>,
}

impl Engine {
    pub fn new(db: Db, settings: Settings) -> Self {
        let password_checks = std::sync::Arc::new(tokio::sync::Semaphore::new(settings.password_checks.max(1)));
        let budget = koi_wecom::client::BudgetConfig { per_minute: settings.wecom_per_minute, ..Default::default() };
        let config =
            koi_wecom::client::ClientConfig { base_url: settings.wecom_base_url.clone(), budget, ..Default::default() };
        let wecom =
            koi_wecom::client::WecomClient::new(config).expect("an HTTP client with the built-in TLS roots builds");
        Engine {
            db,
            settings,
            password_checks,
            inbox: None,
            callback_keys: std::sync::Arc::new(callback::key_cache()),
            corp_clients: std::sync::Arc::new(cache::TtlCache::new(std::time::Duration::from_secs(30))),
            segment_indexes: Default::default(),
            wecom,
            pay: koi_wecom::pay::PayClient::new(std::time::Duration::from_secs(10))
                .expect("an HTTP client with the built-in TLS roots builds"),
            posters: Default::default(),
            jsapi_tickets: std::sync::Arc::new(cache::TtlCache::new(sop::jsapi::TICKET_CACHE)),
        }
    }

    /// Starts the callback inbox's group-commit writer (needs a runtime).
    pub fn with_inbox_writer(mut self) -> Self {
        self.inbox = Some(inbox::InboxWriter::start(self.db.clone()));
        self
    }

    /// Whether the database answers: the health check's question.
    pub async fn ping(&self) -> Result<()> {
        Ok(self.db.ping().await?)
    }
}

/// Refuses unless the principal's role allows `action`.
pub(crate) fn require(who: &Principal, action: koi_domain::access::Action) -> Result<()> {
    if who.allows(action) {
        Ok(())
    } else {
        Err(EngineError::Forbidden)
    }
}

/// A random token of `bytes` bytes, hex: the public ids of landing pages
/// and campaign pages, which must not be guessable.
pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Who did something, as the event log records it.
pub(crate) fn actor(p: &Principal) -> String {
    match (p.user_id, p.staff_id) {
        (Some(id), _) => format!("user:{id}"),
        (None, Some(staff)) => format!("staff:{staff}"),
        (None, None) => "api_key".into(),
    }
}
