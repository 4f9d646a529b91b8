//! koi-sim: a WeCom (企业微信) simulator. It *is* WeCom for koi: the same
//! `/cgi-bin/` paths and JSON (CONTRACT.md §3), the same encrypted callbacks
//! (§2, §4), the same limits and failures (§5), on a virtual clock that can
//! run faster than real time. koi's tests, demo and benchmarks talk to it
//! over real HTTP; pointing koi at the real server is a configuration change.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use koi_sim::{SimConfig, Simulator};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = Simulator::start(SimConfig::default(), listener).await?;
//! println!("WeCom at {}", sim.base_url()); // use as the API base URL
//! let welcomes = sim.state().welcome_messages();
//! # drop(welcomes);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Rooms
//! - [`config`]: corps, staff, limits, faults.
//! - `api`: the WeCom API (`GET /cgi-bin/gettoken`, `/cgi-bin/externalcontact/…` (with `convert_to_openid`: a stable openid per WeChat customer), the address book's `/cgi-bin/department/list`, `/cgi-bin/user/simplelist`, `/cgi-bin/user/get`, media (`/cgi-bin/media/upload`, `/cgi-bin/media/uploadimg`: types by content, sizes, 3-day media_ids) and the JS-SDK's tickets (`/cgi-bin/get_jsapi_ticket`, `/cgi-bin/ticket/get`)),
//!   one module per resource behind one front door for tokens, limits and faults.
//! - [`world`]: the truth of each corp and what people do to it.
//! - [`callback`]: event XML, encryption and delivery with WeCom's retries.
//! - `control`: the `/sim/` routes below.
//! - [`pay`]: WeChat Pay's merchant API under `/pay/` (red packets, for
//!   rewards) with its own `/sim/pay/` control routes; mutual TLS is not
//!   simulated.
//! - [`pay_order`]: WeChat Pay's JSAPI payments (unifiedorder, orderquery,
//!   closeorder, refund, refundquery), the customer who pays from the
//!   control API, and the signed payment notifications with WeChat's retries
//!   and injected duplicates, forgeries and delays.
//! - [`population`]: seeded virtual customers driven by a TOML scenario.
//! - [`chat`]: what is said in groups (the session archive), group welcome
//!   templates and app messages.
//!
//! # The session archive (会话存档)
//! WeCom hands the archive out through a C SDK (`GetChatData`, then
//! `DecryptData` with the corp's RSA key). The simulator serves what that
//! SDK yields after decryption as a JSON API instead:
//! `POST /cgi-bin/msgaudit/get_chat_data {seq, limit ≤1000}` →
//! `{chatdata:[{seq, msgid, action:"send", from, tolist, roomid, msgtime (ms),
//! msgtype: text|image|link, text{content} | image{md5sum, filesize} |
//! link{title, description, link_url}}]}`, messages after `seq` in order.
//! Archive not enabled for the corp → 301053 (unconfirmed code); `limit` 0
//! or over 1000 → 40058; `seq` past the end → an empty list. A koi deployment
//! against real WeCom needs a bridge that runs the SDK and serves this shape.
//!
//! # Control API (`/sim/…`, JSON)
//! Bodies are JSON; `corp_id` may be left out to mean the first corp. Errors
//! answer 4xx with `{"error":{"code","message"}}`.
//!
//! | route | does |
//! |---|---|
//! | `GET /sim/qr/{config_id}` | the QR image a contact or join way's `qr_code` URL shows, as WeCom serves it (`image/png`; it encodes that URL) |
//! | `GET /sim/avatar/{id}` | a customer's avatar, as the `avatar` URL in their external contact details shows it (`image/png`, 132×132, drawn from the id: the same every time) |
//! | `GET /sim/qr/{config_id}/info` | resolves a QR code URL: `{kind: contact_way\|join_way, corp_id, config_id, state}` |
//! | `POST /sim/scan` | `{config_id \| qr_code, customer?: {external_userid?, name?, wecom?, gender?, unionid?, corp_name?, avatar?}, half?}`: the customer scans a contact way; WeCom picks a member at random on multi ways, creates the customer if new, creates the follow and fires `add_external_contact` (or `add_half_…`) with State and a fresh WelcomeCode → `{external_userid, userid, state, welcome_code, new_customer, half}` |
//! | `POST /sim/join` | `{config_id \| qr_code, customer?}` joins through a join way (QR cut, room rotation); or `{chat_id, customer, join_scene?, invitor?, state?}` joins directly; fires `change_external_chat/update add_member` → `{chat_id, external_userid, created_room}` |
//! | `POST /sim/join/bulk` | `{config_id \| qr_code, count}`: `count` new customers scan a join way one after another; stops at the first that finds every group full → `{joined[{chat_id, external_userid, created_room}], by_chat{chat_id: n}, full}` |
//! | `POST /sim/group/create` | `{owner, name, members?[]}`: a member creates a customer group (`create`, then `add_member` per member) → `{chat_id}` |
//! | `POST /sim/group/leave` | `{chat_id, userid}` → `del_member` |
//! | `POST /sim/group/dismiss` | `{chat_id}` → `dismiss` |
//! | `POST /sim/group/say` | `{chat_id, from, text \| image{md5sum, filesize} \| link{title, description, link_url}}`: a member says something in the group; it lands in the session archive → `{seq}` |
//! | `POST /sim/group/welcome` | `{chat_id, template_id}`: the owner picks a group welcome template for the group in their client (no API does this); each customer who joins later is greeted with it |
//! | `PUT /sim/corps/{corp_id}/archive` | `{enabled}`: the session archive on or off for the corp (off: `get_chat_data` answers 301053) |
//! | `GET /sim/group_welcomes` | group welcomes WeCom sent to joiners ([`GroupWelcomeRecord`]) |
//! | `GET /sim/app_messages` | app messages koi sent ([`AppMessageRecord`]) |
//! | `POST /sim/customer/delete_staff` | `{external_userid, userid}`: the customer deletes the member → `del_follow_user` |
//! | `POST /sim/staff/delete_customer` | `{userid, external_userid}`: the member deletes the customer → `del_external_contact` |
//! | `POST /sim/staff/edit_customer` | `{userid, external_userid, remark?}`: edit in the client → `edit_external_contact` |
//! | `POST /sim/directory/upsert` | `{userid, name, department?}`: an admin adds a member to the address book, or renames one → `{userid, added}` |
//! | `POST /sim/directory/remove` | `{userid}`: a member leaves the address book → `{userid, removed}` |
//! | `POST /sim/tag/event` | `{change, id, tag_type}`: an admin changed tags in the console → `change_external_tag` |
//! | `POST /sim/transfer/refuse` | `{external_userid}`: the customer refuses a waiting handover → `transfer_fail` |
//! | `POST /sim/mass/confirm` | `{msgid, userid?}`: members confirm a mass message (all when no userid) → `{sent}`; with `Limits::mass_confirm_share` a share of members confirm on their own after `mass_confirm_delay_s`, the others never |
//! | `POST /sim/moment/publish` | `{id (jobid or moment_id), userid?}`: members publish a moment (all asked when no userid); their customers like and comment → `{published}` |
//! | `GET /sim/moments` | moments posted, with each member's copy (published, likes, comments) |
//! | `GET /sim/clock` | `{now, now_ms, speed}` (virtual) |
//! | `POST /sim/clock/advance` | `{seconds}`: pushes the virtual clock forward |
//! | `GET\|PUT /sim/corps/{corp_id}/faults` | reads or replaces the corp's [`Faults`] |
//! | `PUT /sim/corps/{corp_id}/callback_url` | `{url}` (null to stop delivering) |
//! | `POST /sim/tokens/invalidate` | `{corp_id?}`: revokes tokens (they answer 40014) → `{invalidated}` |
//! | `GET /sim/welcome_messages` | welcome messages koi sent ([`WelcomeRecord`]) |
//! | `GET /sim/tags_marked` | `mark_tag` calls ([`TagMarkRecord`]) |
//! | `GET /sim/remarks` | `remark` calls ([`RemarkRecord`]) |
//! | `GET /sim/mass_tasks` | mass messages created, with recipients and statuses |
//! | `GET /sim/contact_ways` | contact ways as stored |
//! | `GET /sim/groups` | customer groups with members |
//! | `GET /sim/callbacks` | every callback with its delivery outcome ([`CallbackRecord`]) |
//! | `POST /sim/scenario` | TOML [`Scenario`] body: runs it in the background (202) |
//! | `GET /sim/scenario/reports` | [`ScenarioReport`]s of finished scenarios |
//! | `GET /sim/pay/merchants[/{mch_id}]`, `PUT …/balance`, `GET\|PUT …/faults` | WeChat Pay's merchants: the truth of what was paid, the balance, faults ([`pay`]) |

mod api;
mod avatar;
pub mod callback;
pub mod chat;
pub mod clock;
pub mod config;
mod control;
pub mod pay;
pub mod pay_order;
pub mod population;
mod qr;
mod state;
pub mod world;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::any;
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use callback::{CallbackRecord, SimEvent};
pub use chat::{AppMessageRecord, GroupWelcomeRecord, SIM_AGENT_ID};
pub use config::{Faults, Limits, QuotaWindow, SimConfig, SimCorp, SimStaff};
pub use control::ControlError;
pub use pay::{
    MerchantTruth, OpenidTotal, PayFault, PayFaults, PayLimits, PaymentRecord, SimMerchant, TransferLimits,
    TransferRecord, TransferTruth,
};
pub use pay_order::{Delivery, JsapiOrder, PayAction, RefundFaults, RefundRecord};
pub use population::{scenario_from_toml, Scenario, ScenarioError, ScenarioReport, StoreReport};
pub use state::{Corp, MassTaskView, SimState};
pub use world::{JoinOutcome, NewCustomer, RemarkRecord, ScanOutcome, TagMarkRecord, WelcomeRecord};

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Serves the simulator on `listener` until [`SimHandle::shutdown`].
    /// Fails when a corp's EncodingAESKey is not a valid key.
    pub async fn start(config: SimConfig, listener: tokio::net::TcpListener) -> std::io::Result<SimHandle> {
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let mut corps = Vec::new();
        let mut receivers = Vec::new();
        for (index, corp) in config.corps.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            let built = Corp::new(index, corp, config.seed, tx).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("corp {}: {e}", corp.corp_id))
            })?;
            corps.push(Arc::new(built));
            receivers.push(rx);
        }
        let clock = clock::VirtualClock::new(config.clock_speed);
        let corp_ids: Vec<String> = config.corps.iter().map(|c| c.corp_id.clone()).collect();
        let pay = pay::PayDesk::new(&config.merchants, &corp_ids, config.pay_limits.clone());
        let state = Arc::new(SimState::new(config.seed, clock, config.limits.clone(), corps, base_url, pay));
        let couriers = state
            .corps
            .iter()
            .zip(receivers)
            .map(|(corp, rx)| tokio::spawn(callback::courier(state.clone(), corp.clone(), rx)))
            .collect();
        let app = Router::new()
            // Uploads reach 20 MB (a file); WeCom answers the size itself.
            .route("/cgi-bin/{*path}", any(api::cgi).layer(axum::extract::DefaultBodyLimit::max(21 * 1024 * 1024)))
            .route("/connect/oauth2/authorize", axum::routing::get(api::oauth::authorize))
            .merge(control::routes())
            .merge(pay::routes())
            .merge(pay_order::routes())
            .with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "simulator server stopped");
            }
        });
        tracing::info!(%addr, corps = state.corps.len(), "WeCom simulator listening");
        Ok(SimHandle { addr, state, stop: Some(stop), server, couriers })
    }
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    state: Arc<SimState>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    couriers: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://addr`: the base URL to configure in place of
    /// `https://qyapi.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the simulator knows: records of what koi did, callbacks, the
    /// clock, and the corps' worlds.
    pub fn state(&self) -> Arc<SimState> {
        self.state.clone()
    }

    /// Runs a scenario's virtual customers to the end and returns the truth.
    pub async fn run_scenario(&self, scenario: &Scenario) -> Result<ScenarioReport, ScenarioError> {
        population::run(&self.state, scenario).await
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for courier in &self.couriers {
            courier.abort();
        }
        let _ = (&mut self.server).await;
    }
}
