//! What a simulated WeCom is made of: the corps it hosts (ids, secrets,
//! callback settings, staff), the limits it enforces and the faults it
//! injects. Everything has a default so a test states only what it cares
//! about; figures the contract marks "unconfirmed" live in [`Limits`].

use serde::{Deserialize, Serialize};

/// The whole simulator: one WeCom hosting several corps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// Seeds every id, welcome code, member pick and fault draw, so a run can
    /// be replayed.
    pub seed: u64,
    pub corps: Vec<SimCorp>,
    pub limits: Limits,
    /// Virtual-clock acceleration: 1.0 is real time, 60.0 makes a real second
    /// a virtual minute. Token and welcome-code lifetimes, frequency windows
    /// and statistics all run on the virtual clock.
    pub clock_speed: f64,
    /// WeChat Pay merchants ([`crate::pay`]); none: one per corp.
    pub merchants: Vec<crate::pay::SimMerchant>,
    pub pay_limits: crate::pay::PayLimits,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            corps: vec![SimCorp::default()],
            limits: Limits::default(),
            clock_speed: 1.0,
            merchants: Vec::new(),
            pay_limits: crate::pay::PayLimits::default(),
        }
    }
}

/// One corp (企业) and its self-built app with customer-contact permission.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimCorp {
    pub corp_id: String,
    /// The app secret `gettoken` checks.
    pub secret: String,
    /// Callback Token.
    pub token: String,
    /// Callback EncodingAESKey (43 base64 characters).
    pub encoding_aes_key: String,
    /// Where events are POSTed; `None` keeps them in the log undelivered.
    pub callback_url: Option<String>,
    pub staff: Vec<SimStaff>,
    pub faults: Faults,
}

impl Default for SimCorp {
    fn default() -> Self {
        Self {
            corp_id: "wwsimcorp0000001".to_owned(),
            secret: "sim-secret".to_owned(),
            token: "simtoken".to_owned(),
            // Any 43 characters of base64 decode to 32 bytes.
            encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".to_owned(),
            callback_url: None,
            staff: vec![
                SimStaff::new("guide01", "导购小王", 1),
                SimStaff::new("guide02", "Lily 🌸", 1),
                SimStaff::new("guide03", "张三", 2),
            ],
            faults: Faults::default(),
        }
    }
}

/// A corp member (成员), typically a store guide (导购).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimStaff {
    pub userid: String,
    pub name: String,
    pub department: u64,
    /// Members without the customer-contact permission cannot be put on a
    /// contact way (41054) and are missing from `get_follow_user_list`.
    pub contact_permission: bool,
}

impl SimStaff {
    pub fn new(userid: &str, name: &str, department: u64) -> Self {
        Self { userid: userid.to_owned(), name: name.to_owned(), department, contact_permission: true }
    }
}

impl Default for SimStaff {
    fn default() -> Self {
        Self::new("guide", "导购", 1)
    }
}

/// Failures WeCom produces on its own. Rates are probabilities per call or
/// per delivery; the default injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every API answer (real milliseconds).
    pub api_latency_ms: u64,
    /// errcode -1 "system busy".
    pub error_rate_busy: f64,
    /// errcode 45009 although the real limit is not reached.
    pub error_rate_45009: f64,
    /// HTTP 502 with an HTML body, as a gateway in front of WeCom does.
    pub error_rate_5xx: f64,
    /// A delivered callback is delivered once more.
    pub callback_duplicate_rate: f64,
    /// Every callback leaves this long after its event (real milliseconds).
    pub callback_delay_ms: u64,
    /// Callbacks waiting at the same time go out shuffled.
    pub callback_reorder: bool,
    /// A try is lost on the way (counts as one of WeCom's 3 tries).
    pub callback_drop_rate: f64,
    /// A valid token is revoked on use (answers 42001) before its time.
    pub early_token_expiry_rate: f64,
    /// The next N answers of an API (its path after `/cgi-bin/`) are lost
    /// after WeCom acted on the call: HTTP 502, as when the connection
    /// breaks on the way back. Counts down as answers are lost.
    pub lose_answers: std::collections::BTreeMap<String, u32>,
}

/// When the customer quota of mass messages resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    /// Natural day in Asia/Shanghai (the newer rule).
    Day,
    /// Natural month in Asia/Shanghai (the older rule: 4 a month).
    Month,
}

/// WeCom's limits. Defaults follow CONTRACT.md; the unconfirmed ones are the
/// reason this is configurable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Calls per corp per API per virtual minute (45009 past it).
    pub api_per_minute: u32,
    /// Calls per corp per API per virtual hour.
    pub api_per_hour: u32,
    pub token_ttl_s: i64,
    pub welcome_code_ttl_s: i64,
    /// Customers one member may have (40099 / customer_limit_exceed).
    pub member_capacity: usize,
    /// Mass messages a customer (or group) receives per window; more → status 3.
    pub mass_quota: u32,
    pub mass_quota_window: QuotaWindow,
    /// `get_groupmsg_*` answer 41063 this long after creating (0 = never).
    pub mass_ready_after_s: i64,
    /// Mass messages a customer group receives per window (WeCom: 4 a
    /// natural month).
    pub group_mass_quota: u32,
    pub group_mass_quota_window: QuotaWindow,
    /// The share of members (0.0–1.0, a seeded draw per member, the same
    /// for every task) who confirm a mass message — and publish a moment —
    /// on their own, `mass_confirm_delay_s` virtual seconds after it is
    /// created; the others never do unless `/sim/mass/confirm` (or
    /// `/sim/moment/publish`) confirms for them. 0, the default: nobody
    /// confirms on their own.
    pub mass_confirm_share: f64,
    pub mass_confirm_delay_s: i64,
    pub group_size: usize,
    /// Past this many members, a group takes no more QR joins.
    pub group_qr_cut: usize,
    /// Contact ways plus join ways made through the API (41045).
    pub max_ways: usize,
    /// Members on one multi-member contact way (41041).
    pub max_way_members: usize,
    pub max_corp_tags: usize,
    /// Delay between callback tries (real milliseconds; WeCom's is undocumented).
    pub callback_retry_ms: u64,
    /// A callback try without a complete answer by then fails (real ms).
    pub callback_timeout_ms: u64,
    /// How long an on-job handover waits for the customer (virtual seconds).
    pub transfer_wait_s: i64,
    /// `get_jsapi_ticket` fetches per corp per virtual hour (WeCom: 400).
    pub jsapi_ticket_per_hour: u32,
    /// `ticket/get?type=agent_config` fetches per app per virtual hour (WeCom: 100).
    pub agent_ticket_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            api_per_minute: 10_000,
            api_per_hour: 150_000,
            token_ttl_s: 7200,
            welcome_code_ttl_s: 20,
            member_capacity: 5000,
            mass_quota: 1,
            mass_quota_window: QuotaWindow::Day,
            mass_ready_after_s: 0,
            group_mass_quota: 4,
            group_mass_quota_window: QuotaWindow::Month,
            mass_confirm_share: 0.0,
            mass_confirm_delay_s: 600,
            group_size: 500,
            group_qr_cut: 200,
            max_ways: 500_000,
            max_way_members: 100,
            max_corp_tags: 3000,
            callback_retry_ms: 300,
            callback_timeout_ms: 5000,
            transfer_wait_s: 24 * 3600,
            jsapi_ticket_per_hour: 400,
            agent_ticket_per_hour: 100,
        }
    }
}
