//! The running simulator's shared state: the virtual clock, each corp (its
//! world behind a lock, its faults, its callback queue), the access tokens,
//! the frequency windows and the callback log. Tests inspect it through the
//! accessors here; everything they return is a copy, safe to hold.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use koi_wecom::CallbackCrypto;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::callback::{CallbackRecord, Outgoing, Queue, SimEvent};
use crate::clock::VirtualClock;
use crate::config::{Faults, Limits};
use crate::population::ScenarioReport;
use crate::world::{ContactWay, Group, MassTask, RemarkRecord, TagMarkRecord, WelcomeRecord, World};

/// Locks a mutex, shrugging off poisoning: a panicked handler leaves the
/// world as consistent as any single request would, and the simulator must
/// keep answering.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One hosted corp.
pub struct Corp {
    pub index: usize,
    pub corp_id: String,
    pub secret: String,
    pub crypto: CallbackCrypto,
    faults: Mutex<Faults>,
    callback_url: Mutex<Option<String>>,
    verified_url: Mutex<Option<String>>,
    pub(crate) world: Mutex<World>,
    limiter: Mutex<HashMap<String, RateWindow>>,
    queue: Queue,
}

impl Corp {
    pub(crate) fn new(
        index: usize,
        config: &crate::config::SimCorp,
        seed: u64,
        queue: Queue,
    ) -> Result<Self, koi_wecom::CryptoError> {
        Ok(Self {
            index,
            corp_id: config.corp_id.clone(),
            secret: config.secret.clone(),
            crypto: CallbackCrypto::new(&config.token, &config.encoding_aes_key, &config.corp_id)?,
            faults: Mutex::new(config.faults.clone()),
            callback_url: Mutex::new(config.callback_url.clone()),
            verified_url: Mutex::new(None),
            world: Mutex::new(World::new(
                &config.corp_id,
                config.staff.clone(),
                seed ^ (index as u64).wrapping_mul(0x9e37),
            )),
            limiter: Mutex::new(HashMap::new()),
            queue,
        })
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// Whether this answer of `api` is to be lost (`Faults::lose_answers`),
    /// counting it down.
    pub fn lose_answer(&self, api: &str) -> bool {
        let mut f = lock(&self.faults);
        match f.lose_answers.get_mut(api) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    pub fn callback_url(&self) -> Option<String> {
        lock(&self.callback_url).clone()
    }

    pub fn set_callback_url(&self, url: Option<String>) {
        *lock(&self.callback_url) = url;
    }

    pub(crate) fn is_verified(&self, url: &str) -> bool {
        lock(&self.verified_url).as_deref() == Some(url)
    }

    pub(crate) fn set_verified(&self, url: &str) {
        *lock(&self.verified_url) = Some(url.to_owned());
    }
}

/// A fixed-window counter for one (corp, API).
#[derive(Debug, Default)]
struct RateWindow {
    /// Every call made, admitted or not (what a benchmark counts).
    calls: u64,
    /// Calls answered 45009 by the limiter.
    refused: u64,
    minute: i64,
    minute_count: u32,
    hour: i64,
    hour_count: u32,
    blocked_until_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub corp: usize,
    pub expires_ms: i64,
    /// Revoked before its time (fault or control): answers 40014.
    pub revoked: bool,
}

#[derive(Default)]
struct Tokens {
    by_token: HashMap<String, TokenEntry>,
    current: HashMap<usize, String>,
}

/// How a token checked out.
pub(crate) enum TokenCheck {
    Valid(usize),
    Expired,
    Invalid,
}

pub struct SimState {
    pub seed: u64,
    pub clock: VirtualClock,
    pub limits: Limits,
    pub(crate) corps: Vec<Arc<Corp>>,
    by_id: HashMap<String, usize>,
    tokens: Mutex<Tokens>,
    callbacks: Mutex<Vec<CallbackRecord>>,
    rng: Mutex<ChaCha8Rng>,
    base_url: String,
    pub(crate) reports: Mutex<Vec<ScenarioReport>>,
    /// WeChat Pay's merchants ([`crate::pay`]).
    pub(crate) pay: crate::pay::PayDesk,
    /// WeChat Pay's JSAPI orders ([`crate::pay_order`]).
    pub(crate) pay_orders: crate::pay_order::PayOrders,
}

/// A mass message as the control API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MassTaskView {
    pub corp_id: String,
    #[serde(flatten)]
    pub task: MassTask,
}

impl SimState {
    pub(crate) fn new(
        seed: u64,
        clock: VirtualClock,
        limits: Limits,
        corps: Vec<Arc<Corp>>,
        base_url: String,
        pay: crate::pay::PayDesk,
    ) -> Self {
        let by_id = corps.iter().map(|c| (c.corp_id.clone(), c.index)).collect();
        Self {
            seed,
            clock,
            limits,
            corps,
            by_id,
            tokens: Mutex::new(Tokens::default()),
            callbacks: Mutex::new(Vec::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5eed)),
            base_url,
            reports: Mutex::new(Vec::new()),
            pay,
            pay_orders: Default::default(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The corp with that id; `None` or `""` means the first corp.
    pub fn corp(&self, corp_id: Option<&str>) -> Option<&Arc<Corp>> {
        match corp_id.filter(|c| !c.is_empty()) {
            Some(id) => self.by_id.get(id).and_then(|i| self.corps.get(*i)),
            None => self.corps.first(),
        }
    }

    pub(crate) fn corp_by_id(&self, corp_id: &str) -> Option<&Arc<Corp>> {
        self.by_id.get(corp_id).and_then(|i| self.corps.get(*i))
    }

    /// A draw in [0, 1) from the simulator's seeded stream, for faults.
    pub(crate) fn chance(&self, rate: f64) -> bool {
        rate > 0.0 && lock(&self.rng).gen_bool(rate.clamp(0.0, 1.0))
    }

    /// Runs `f` on a corp's world, then hands the events it fired to the
    /// callback queue while still holding the lock, so callbacks leave in the
    /// order their causes happened.
    pub(crate) fn act<R>(&self, corp: &Corp, f: impl FnOnce(&mut World) -> R) -> R {
        let mut world = lock(&corp.world);
        world.settle(self.clock.now_ms(), &self.limits);
        let result = f(&mut world);
        let events = std::mem::take(&mut world.outbox);
        for event in events {
            self.enqueue(corp, &event);
        }
        result
    }

    fn enqueue(&self, corp: &Corp, event: &SimEvent) {
        let create_time = self.clock.now_s();
        let plaintext = event.to_xml(&corp.corp_id, create_time);
        let (event_name, change_type) = event.kind();
        let seq = {
            let mut log = lock(&self.callbacks);
            let seq = log.len() as u64;
            log.push(CallbackRecord {
                seq,
                corp_id: corp.corp_id.clone(),
                event: event_name.to_owned(),
                change_type: change_type.to_owned(),
                plaintext: plaintext.clone(),
                create_time,
                tries: 0,
                dropped: 0,
                duplicates: 0,
                delivered: false,
                outcome: "pending".to_owned(),
                answers: Vec::new(),
            });
            seq
        };
        let delay = std::time::Duration::from_millis(corp.faults().callback_delay_ms);
        let out = Outgoing { seq, plaintext, not_before: tokio::time::Instant::now() + delay };
        if corp.queue.send(out).is_err() {
            self.update_callback(seq, |r| r.outcome = "simulator_stopped".to_owned());
        }
    }

    pub(crate) fn update_callback(&self, seq: u64, f: impl FnOnce(&mut CallbackRecord)) {
        if let Some(record) = lock(&self.callbacks).get_mut(seq as usize) {
            f(record);
        }
    }

    // ---- tokens ----

    /// The corp's token, reused while valid as WeCom does; (token, seconds left).
    pub(crate) fn issue_token(&self, corp: usize) -> (String, i64) {
        let now = self.clock.now_ms();
        let mut tokens = lock(&self.tokens);
        if let Some(current) = tokens.current.get(&corp).cloned() {
            if let Some(entry) = tokens.by_token.get(&current) {
                if !entry.revoked && entry.expires_ms > now {
                    return (current, (entry.expires_ms - now).div_euclid(1000));
                }
            }
        }
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let token: String = {
            let mut rng = lock(&self.rng);
            (0..128).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
        };
        let ttl = self.limits.token_ttl_s;
        tokens.by_token.insert(token.clone(), TokenEntry { corp, expires_ms: now + ttl * 1000, revoked: false });
        tokens.current.insert(corp, token.clone());
        (token, ttl)
    }

    pub(crate) fn check_token(&self, token: &str) -> TokenCheck {
        let now = self.clock.now_ms();
        match lock(&self.tokens).by_token.get(token) {
            None => TokenCheck::Invalid,
            Some(entry) if entry.revoked => TokenCheck::Invalid,
            Some(entry) if entry.expires_ms <= now => TokenCheck::Expired,
            Some(entry) => TokenCheck::Valid(entry.corp),
        }
    }

    /// Ends a token before its time; the fault path reports it as expired.
    pub(crate) fn expire_token(&self, token: &str) {
        if let Some(entry) = lock(&self.tokens).by_token.get_mut(token) {
            entry.expires_ms = 0;
        }
    }

    /// Revokes every token of a corp (all corps when `None`); returns how many.
    pub fn invalidate_tokens(&self, corp: Option<usize>) -> usize {
        let mut tokens = lock(&self.tokens);
        let mut count = 0;
        for entry in tokens.by_token.values_mut() {
            if !entry.revoked && corp.is_none_or(|c| c == entry.corp) {
                entry.revoked = true;
                count += 1;
            }
        }
        count
    }

    // ---- frequency limits ----

    /// Counts one call; false when the corp is over the limit for this API.
    pub(crate) fn admit(&self, corp: &Corp, api: &str) -> bool {
        let now = self.clock.now_ms();
        let (minute, hour) = (now.div_euclid(60_000), now.div_euclid(3_600_000));
        let mut limiter = lock(&corp.limiter);
        let window = limiter.entry(api.to_owned()).or_default();
        window.calls += 1;
        if now < window.blocked_until_ms {
            window.refused += 1;
            return false;
        }
        if window.minute != minute {
            window.minute = minute;
            window.minute_count = 0;
        }
        if window.hour != hour {
            window.hour = hour;
            window.hour_count = 0;
        }
        window.minute_count += 1;
        window.hour_count += 1;
        if window.hour_count > self.limits.api_per_hour {
            // Blocked for the window's length, as the contract says.
            window.blocked_until_ms = now + 3_600_000;
            window.refused += 1;
            return false;
        }
        if window.minute_count > self.limits.api_per_minute {
            window.blocked_until_ms = now + 60_000;
            window.refused += 1;
            return false;
        }
        true
    }

    // ---- what tests read ----

    fn collect<T>(&self, f: impl Fn(&World) -> Vec<T>) -> Vec<T> {
        self.corps.iter().flat_map(|c| f(&lock(&c.world))).collect()
    }

    /// Every welcome message koi sent, in order, across corps.
    pub fn welcome_messages(&self) -> Vec<WelcomeRecord> {
        self.collect(|w| w.welcome_log.clone())
    }

    /// Every group welcome WeCom sent to a joiner.
    pub fn group_welcomes(&self) -> Vec<crate::chat::GroupWelcomeRecord> {
        self.collect(|w| w.chat.welcome_log.clone())
    }

    /// Every app message koi sent.
    pub fn app_messages(&self) -> Vec<crate::chat::AppMessageRecord> {
        self.collect(|w| w.chat.app_messages.clone())
    }

    /// Every `mark_tag` call koi made.
    pub fn tags_marked(&self) -> Vec<TagMarkRecord> {
        self.collect(|w| w.tag_log.clone())
    }

    /// Every `remark` call koi made.
    pub fn remarks(&self) -> Vec<RemarkRecord> {
        self.collect(|w| w.remark_log.clone())
    }

    pub fn mass_tasks(&self) -> Vec<MassTaskView> {
        self.corps
            .iter()
            .flat_map(|c| {
                let world = lock(&c.world);
                world
                    .mass
                    .values()
                    .map(|t| MassTaskView { corp_id: c.corp_id.clone(), task: t.clone() })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every moment posted, with each member's copy.
    pub fn moments(&self) -> Vec<crate::world::Moment> {
        self.collect(|w| w.moments.values().cloned().collect())
    }

    pub fn contact_ways(&self) -> Vec<ContactWay> {
        self.collect(|w| w.contact_ways.values().cloned().collect())
    }

    pub fn groups(&self) -> Vec<Group> {
        self.collect(|w| w.groups.values().cloned().collect())
    }

    /// Every group join way, as WeCom holds it now.
    pub fn join_ways(&self) -> Vec<crate::world::JoinWay> {
        self.collect(|w| w.join_ways.values().cloned().collect())
    }

    /// Every callback fired, with how its delivery went.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        lock(&self.callbacks).clone()
    }

    /// The callbacks that reached the callback URL.
    pub fn callbacks_delivered(&self) -> Vec<CallbackRecord> {
        lock(&self.callbacks).iter().filter(|r| r.delivered).cloned().collect()
    }

    /// Customers with at least one member following them, per corp.
    pub fn customer_count(&self, corp_id: Option<&str>) -> usize {
        self.corp(corp_id).map(|c| lock(&c.world).followers.len()).unwrap_or_default()
    }

    /// Reports of the scenarios run so far.
    pub fn scenario_reports(&self) -> Vec<ScenarioReport> {
        lock(&self.reports).clone()
    }

    /// Calls made to each API by a corp (admitted or refused with 45009),
    /// by API path.
    pub fn api_calls(&self, corp_id: Option<&str>) -> BTreeMap<String, u64> {
        self.corp(corp_id)
            .map(|c| lock(&c.limiter).iter().map(|(api, w)| (api.clone(), w.calls)).collect())
            .unwrap_or_default()
    }

    /// Calls the limiter refused with 45009, by API path.
    pub fn api_refused(&self, corp_id: Option<&str>) -> BTreeMap<String, u64> {
        self.corp(corp_id)
            .map(|c| lock(&c.limiter).iter().map(|(api, w)| (api.clone(), w.refused)).collect())
            .unwrap_or_default()
    }

    /// Changes a corp's world as a customer or member would in the client:
    /// the callbacks it causes are sent as for any other change.
    pub fn act_on<R>(&self, corp_id: Option<&str>, f: impl FnOnce(&mut World) -> R) -> Option<R> {
        self.corp(corp_id).map(|c| self.act(c, f))
    }

    /// Runs `f` on a corp's world for anything the accessors do not cover.
    pub fn inspect<R>(&self, corp_id: Option<&str>, f: impl FnOnce(&World) -> R) -> Option<R> {
        self.corp(corp_id).map(|c| f(&lock(&c.world)))
    }
}
