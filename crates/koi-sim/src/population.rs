//! Virtual customers: a seeded population living around the stores, each
//! with its own propensities to scan a store's contact way, accept, join the
//! store's group, invite friends, order and delete their guide. They act on
//! the virtual clock through the same world operations as the control API,
//! so koi sees ordinary callbacks; the [`ScenarioReport`] is the truth koi's
//! own numbers are compared with. Same seed and scenario, same report.

use std::collections::BTreeMap;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::state::{lock, SimState};
use crate::world::{ActionError, NewCustomer, World};

/// A scenario file:
///
/// ```toml
/// seed = 7                # optional: the simulator's seed otherwise
/// duration_hours = 24
/// tick_minutes = 10
/// realtime = false        # true: pace ticks on the accelerated clock
///
/// [population]
/// size = 500
/// radius_km = 3.0
///
/// [rates]                 # mean probabilities per customer per day
/// scan = 0.2
/// accept = 0.95           # else the add stays half (add_half_external_contact)
/// join_group = 0.3        # for a customer not in a group; above 1, a rate
///                         # (288: within about five minutes of adding)
/// invite_friends = 0.05
/// order = 0.1
/// delete_guide = 0.01
/// readd = 0.0             # a customer who deleted their guide scans again
/// leave_group = 0.0       # a customer in a group leaves it
/// talk = 0.0              # messages a day a customer says in their group
///                         # (the group's owner answers some; both land in
///                         # the session archive)
///
/// [[stores]]
/// name = "静安店"
/// lat = 31.2235
/// lng = 121.4453
/// contact_way_state = "store-jingan"   # or contact_way = "<config_id>"
/// join_way_state = "group-jingan"      # or join_way = "<config_id>"
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    pub seed: Option<u64>,
    pub corp_id: Option<String>,
    pub duration_hours: f64,
    pub tick_minutes: f64,
    pub realtime: bool,
    pub population: Population,
    pub rates: Rates,
    pub stores: Vec<Store>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: None,
            corp_id: None,
            duration_hours: 24.0,
            tick_minutes: 10.0,
            realtime: false,
            population: Population::default(),
            rates: Rates::default(),
            stores: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Population {
    pub size: usize,
    /// Homes lie within this distance of their store.
    pub radius_km: f64,
    /// Share of WeCom users (`wo…`) among customers.
    pub wecom_share: f64,
}

impl Default for Population {
    fn default() -> Self {
        Self { size: 100, radius_km: 3.0, wecom_share: 0.05 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rates {
    pub scan: f64,
    pub accept: f64,
    pub join_group: f64,
    pub invite_friends: f64,
    pub order: f64,
    pub delete_guide: f64,
    /// For a customer who deleted their guide: the chance a day that they
    /// scan a store's code again (a returning add). 0: gone for good.
    pub readd: f64,
    /// For a customer in a group: the chance a day that they leave it.
    pub leave_group: f64,
    /// Messages a day a customer in a group says there (0: silent groups).
    pub talk: f64,
    /// Order amounts, in fen.
    pub order_fen_min: u64,
    pub order_fen_max: u64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            scan: 0.2,
            accept: 0.95,
            join_group: 0.3,
            invite_friends: 0.05,
            order: 0.1,
            delete_guide: 0.01,
            readd: 0.0,
            leave_group: 0.0,
            talk: 0.0,
            order_fen_min: 2_000,
            order_fen_max: 80_000,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Store {
    pub name: String,
    pub lat: f64,
    pub lng: f64,
    /// Relative share of the population living around this store.
    pub weight: Option<f64>,
    pub contact_way: Option<String>,
    pub contact_way_state: Option<String>,
    pub join_way: Option<String>,
    pub join_way_state: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("scenario names no store")]
    NoStores,
    #[error("scenario corp {0} is not simulated")]
    UnknownCorp(String),
    #[error("scenario value out of range: {0}")]
    Invalid(&'static str),
}

pub fn scenario_from_toml(text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(text)?;
    scenario.validate()?;
    Ok(scenario)
}

impl Scenario {
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.stores.is_empty() {
            return Err(ScenarioError::NoStores);
        }
        if !(self.duration_hours > 0.0 && self.duration_hours <= 24.0 * 366.0) {
            return Err(ScenarioError::Invalid("duration_hours"));
        }
        if !(self.tick_minutes >= 1.0 && self.tick_minutes <= 24.0 * 60.0) {
            return Err(ScenarioError::Invalid("tick_minutes"));
        }
        let r = &self.rates;
        if !(0.0..=1000.0).contains(&r.talk) {
            return Err(ScenarioError::Invalid("talk is 0..=1000 messages a day"));
        }
        if !(0.0..=1000.0).contains(&r.join_group) || !(0.0..=1000.0).contains(&r.leave_group) {
            return Err(ScenarioError::Invalid("join_group and leave_group are 0..=1000 a day"));
        }
        for p in [r.scan, r.accept, r.invite_friends, r.order, r.delete_guide, r.readd] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ScenarioError::Invalid("rates must be within 0..=1"));
            }
        }
        if r.order_fen_min > r.order_fen_max {
            return Err(ScenarioError::Invalid("order_fen_min > order_fen_max"));
        }
        if self.population.size > 1_000_000 {
            return Err(ScenarioError::Invalid("population.size"));
        }
        Ok(())
    }
}

/// Per-store truth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreReport {
    pub scans: u64,
    pub adds: u64,
    pub group_joins: u64,
    pub orders: u64,
    pub order_fen: u64,
    pub deletions: u64,
}

/// An order a customer placed (koi learns of orders from the POS, not WeCom).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub external_userid: String,
    pub store: String,
    pub fen: u64,
    /// Virtual seconds since the scenario started.
    pub at_offset_s: i64,
}

/// What the simulator did during a scenario: the truth koi's numbers are
/// compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub seed: u64,
    pub ticks: u64,
    /// Virtual customers, invited friends included.
    pub customers: u64,
    pub scans: u64,
    pub scans_without_way: u64,
    pub new_customers: u64,
    /// add_external_contact fired.
    pub adds: u64,
    /// add_half_external_contact fired.
    pub half_adds: u64,
    pub refused_capacity: u64,
    pub group_joins: u64,
    /// Customers who left the group they had joined.
    pub group_leaves: u64,
    pub rooms_created: u64,
    pub group_full: u64,
    /// Messages said in groups (customers and owners).
    pub messages: u64,
    pub invites: u64,
    pub orders: u64,
    pub order_fen: u64,
    /// del_follow_user fired.
    pub deletions: u64,
    /// Adds of customers who had deleted their guide before.
    pub readds: u64,
    pub by_store: BTreeMap<String, StoreReport>,
    /// Adds per contact-way state.
    pub adds_by_state: BTreeMap<String, u64>,
    /// Adds per member.
    pub adds_by_userid: BTreeMap<String, u64>,
    pub order_list: Vec<OrderRecord>,
}

struct Person {
    store: usize,
    scan: f64,
    accept: f64,
    join: f64,
    invite: f64,
    order: f64,
    delete: f64,
    readd: f64,
    wecom: bool,
    ext: Option<String>,
    guide: Option<String>,
    in_group: bool,
    /// The group they joined (where they talk).
    chat: Option<String>,
    gone: bool,
    /// Deleted their guide and may come back.
    left: bool,
}

/// An individual propensity around the population mean.
fn propensity(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    intensity(rng, mean).clamp(0.0, 1.0)
}

/// An individual rate a day around the population mean (may exceed one:
/// it happens within hours).
fn intensity(rng: &mut ChaCha8Rng, mean: f64) -> f64 {
    mean * rng.gen_range(0.5..1.5)
}

fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dlat = (a.0 - b.0) * 111.0;
    let dlng = (a.1 - b.1) * 111.0 * a.0.to_radians().cos();
    (dlat * dlat + dlng * dlng).sqrt()
}

fn new_person(rng: &mut ChaCha8Rng, scenario: &Scenario, near: Option<usize>) -> Person {
    let stores = &scenario.stores;
    let home_store = near.unwrap_or_else(|| {
        let total: f64 = stores.iter().map(|s| s.weight.unwrap_or(1.0).max(0.0)).sum();
        let mut draw = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
        stores
            .iter()
            .position(|s| {
                draw -= s.weight.unwrap_or(1.0).max(0.0);
                draw < 0.0
            })
            .unwrap_or(0)
    });
    let base = &stores[home_store];
    let r = scenario.population.radius_km * rng.gen::<f64>().sqrt();
    let angle = rng.gen_range(0.0..std::f64::consts::TAU);
    let home = (
        base.lat + r * angle.sin() / 111.0,
        base.lng + r * angle.cos() / (111.0 * base.lat.to_radians().cos().max(0.01)),
    );
    // People go to the store nearest home, which need not be the one they
    // were placed around.
    let store = (0..stores.len())
        .min_by(|a, b| {
            let da = distance_km(home, (stores[*a].lat, stores[*a].lng));
            let db = distance_km(home, (stores[*b].lat, stores[*b].lng));
            da.total_cmp(&db)
        })
        .unwrap_or(home_store);
    let rates = &scenario.rates;
    Person {
        store,
        scan: propensity(rng, rates.scan),
        accept: propensity(rng, rates.accept),
        join: intensity(rng, rates.join_group),
        invite: propensity(rng, rates.invite_friends),
        order: propensity(rng, rates.order),
        delete: propensity(rng, rates.delete_guide),
        // Drawn only when used, so scenarios without returns keep their
        // random sequence (and their reports).
        readd: if rates.readd > 0.0 { propensity(rng, rates.readd) } else { 0.0 },
        wecom: rng.gen_bool(scenario.population.wecom_share.clamp(0.0, 1.0)),
        ext: None,
        guide: None,
        in_group: false,
        chat: None,
        gone: false,
        left: false,
    }
}

fn find_contact_way(world: &World, store: &Store) -> Option<String> {
    if let Some(id) = &store.contact_way {
        return world.contact_ways.contains_key(id).then(|| id.clone());
    }
    let state = store.contact_way_state.as_deref()?;
    world.contact_ways.values().find(|w| w.state == state).map(|w| w.config_id.clone())
}

fn find_join_way(world: &World, store: &Store) -> Option<String> {
    if let Some(id) = &store.join_way {
        return world.join_ways.contains_key(id).then(|| id.clone());
    }
    let state = store.join_way_state.as_deref()?;
    world.join_ways.values().find(|w| w.state == state).map(|w| w.config_id.clone())
}

/// Runs a scenario against a running simulator's state.
pub async fn run(state: &SimState, scenario: &Scenario) -> Result<ScenarioReport, ScenarioError> {
    scenario.validate()?;
    let corp = state
        .corp(scenario.corp_id.as_deref())
        .cloned()
        .ok_or_else(|| ScenarioError::UnknownCorp(scenario.corp_id.clone().unwrap_or_default()))?;
    let seed = scenario.seed.unwrap_or(state.seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tick_ms = (scenario.tick_minutes * 60_000.0) as i64;
    let ticks = ((scenario.duration_hours * 60.0) / scenario.tick_minutes).ceil() as u64;
    let tick_days = scenario.tick_minutes / (24.0 * 60.0);
    let limits = &state.limits;
    let mut people: Vec<Person> = (0..scenario.population.size).map(|_| new_person(&mut rng, scenario, None)).collect();
    let mut report = ScenarioReport { seed, ticks, ..ScenarioReport::default() };
    for store in &scenario.stores {
        report.by_store.insert(store.name.clone(), StoreReport::default());
    }
    let start_ms = state.clock.now_ms();
    let mut virtual_elapsed = 0i64;
    for _ in 0..ticks {
        let mut i = 0;
        while i < people.len() {
            let chance = |rng: &mut ChaCha8Rng, p: f64| rng.gen_bool((p * tick_days).clamp(0.0, 1.0));
            let now_ms = start_ms + virtual_elapsed;
            let p = &people[i];
            if p.gone {
                i += 1;
                continue;
            }
            let store = &scenario.stores[p.store];
            let store_name = store.name.clone();
            if p.guide.is_none() {
                let (rate, left) = if p.left { (p.readd, true) } else { (p.scan, false) };
                if chance(&mut rng, rate) {
                    let (pick, half) = (rng.gen::<u64>(), !rng.gen_bool(p.accept));
                    scan(state, &corp, store, &mut people[i], &mut report, pick, half, now_ms);
                    if left && people[i].guide.is_some() {
                        people[i].left = false;
                        report.readds += 1;
                    }
                }
                i += 1;
                continue;
            }
            let (join, invite, order, delete) = (p.join, p.invite, p.order, p.delete);
            if !people[i].in_group && chance(&mut rng, join) {
                if let Some(ext) = people[i].ext.clone() {
                    let outcome = state.act(&corp, |w| {
                        let way = find_join_way(w, store)?;
                        let new = NewCustomer { external_userid: Some(ext), ..NewCustomer::default() };
                        Some(w.join_via_way(&way, &new, now_ms.div_euclid(1000), limits))
                    });
                    match outcome {
                        Some(Ok(joined)) => {
                            people[i].in_group = true;
                            people[i].chat = Some(joined.chat_id.clone());
                            report.group_joins += 1;
                            report.rooms_created += u64::from(joined.created_room);
                            if let Some(s) = report.by_store.get_mut(&store_name) {
                                s.group_joins += 1;
                            }
                        }
                        Some(Err(_)) => report.group_full += 1,
                        None => {}
                    }
                }
            }
            if people[i].in_group && chance(&mut rng, scenario.rates.leave_group) {
                if let (Some(chat), Some(ext)) = (people[i].chat.take(), people[i].ext.clone()) {
                    if state.act(&corp, |w| w.leave_group(&chat, &ext)).is_ok() {
                        report.group_leaves += 1;
                    }
                }
                people[i].in_group = false;
            }
            if scenario.rates.talk > 0.0 {
                talk(state, &corp, &mut rng, &people[i], scenario.rates.talk * tick_days, now_ms, &mut report);
            }
            if chance(&mut rng, invite) {
                report.invites += 1;
                let mut friend = new_person(&mut rng, scenario, Some(people[i].store));
                let (pick, half) = (rng.gen::<u64>(), !rng.gen_bool(friend.accept));
                scan(state, &corp, store, &mut friend, &mut report, pick, half, now_ms);
                people.push(friend);
            }
            if chance(&mut rng, order) {
                let fen = rng.gen_range(scenario.rates.order_fen_min..=scenario.rates.order_fen_max);
                report.orders += 1;
                report.order_fen += fen;
                if let Some(s) = report.by_store.get_mut(&store_name) {
                    s.orders += 1;
                    s.order_fen += fen;
                }
                report.order_list.push(OrderRecord {
                    external_userid: people[i].ext.clone().unwrap_or_default(),
                    store: store_name.clone(),
                    fen,
                    at_offset_s: virtual_elapsed / 1000,
                });
            }
            if chance(&mut rng, delete) {
                let (ext, guide) =
                    (people[i].ext.clone().unwrap_or_default(), people[i].guide.clone().unwrap_or_default());
                if state.act(&corp, |w| w.customer_deletes(&ext, &guide, now_ms.div_euclid(1000))).is_ok() {
                    report.deletions += 1;
                    if let Some(s) = report.by_store.get_mut(&store_name) {
                        s.deletions += 1;
                    }
                }
                if people[i].readd > 0.0 {
                    people[i].guide = None;
                    people[i].left = true;
                } else {
                    people[i].gone = true;
                }
            }
            i += 1;
        }
        virtual_elapsed += tick_ms;
        // A frozen clock (speed 0) cannot carry a tick: advance it instead.
        if scenario.realtime && state.clock.speed() > 0.0 {
            // Let the accelerated clock carry the tick.
            tokio::time::sleep(state.clock.real_duration(tick_ms)).await;
        } else {
            state.clock.advance_ms(tick_ms);
            tokio::task::yield_now().await;
        }
    }
    report.customers = people.len() as u64;
    lock(&state.reports).push(report.clone());
    Ok(report)
}

/// What virtual customers say in groups, and how owners answer.
const CHATTER: &[&str] = &[
    "今天有什么优惠吗？",
    "请问几点开始直播",
    "收到，谢谢",
    "门店地址在哪里",
    "这个还有货吗",
    "好的👌",
    "价格多少",
    "什么时候发货",
    "加我微信，代购正品低价",
];
const OWNER_ANSWERS: &[&str] = &["欢迎大家～", "稍后为您查询", "今晚8点直播，记得来"];

/// A customer in a group says something with `p` (their expected messages
/// this tick, at most one a tick); the owner answers one in three.
fn talk(
    state: &SimState,
    corp: &crate::state::Corp,
    rng: &mut ChaCha8Rng,
    person: &Person,
    p: f64,
    now_ms: i64,
    report: &mut ScenarioReport,
) {
    let (Some(chat), Some(ext)) = (&person.chat, &person.ext) else {
        return;
    };
    if !rng.gen_bool(p.clamp(0.0, 1.0)) {
        return;
    }
    let line = CHATTER[rng.gen_range(0..CHATTER.len())];
    let answer = rng.gen_bool(1.0 / 3.0).then(|| OWNER_ANSWERS[rng.gen_range(0..OWNER_ANSWERS.len())]);
    let said = |content: &str| crate::chat::Said::Text { text: crate::chat::TextBody { content: content.to_owned() } };
    let n = state.act(corp, |w| {
        let mut n = u64::from(w.say(chat, ext, said(line), now_ms).is_ok());
        if let (Some(a), Some(owner)) = (answer, w.groups.get(chat).map(|g| g.owner.clone())) {
            n += u64::from(w.say(chat, &owner, said(a), now_ms + 1).is_ok());
        }
        n
    });
    report.messages += n;
}

#[allow(clippy::too_many_arguments)]
fn scan(
    state: &SimState,
    corp: &crate::state::Corp,
    store: &Store,
    person: &mut Person,
    report: &mut ScenarioReport,
    pick: u64,
    half: bool,
    now_ms: i64,
) {
    report.scans += 1;
    if let Some(s) = report.by_store.get_mut(&store.name) {
        s.scans += 1;
    }
    let new = NewCustomer { external_userid: person.ext.clone(), wecom: person.wecom, ..NewCustomer::default() };
    let outcome = state.act(corp, |w| {
        let way = find_contact_way(w, store)?;
        Some(w.scan(&way, &new, Some(pick), half, now_ms, &state.limits))
    });
    match outcome {
        None => report.scans_without_way += 1,
        Some(Ok(done)) => {
            report.new_customers += u64::from(done.new_customer);
            person.ext = Some(done.external_userid);
            if done.welcome_code.is_some() {
                if done.half {
                    report.half_adds += 1;
                } else {
                    report.adds += 1;
                }
                if let Some(s) = report.by_store.get_mut(&store.name) {
                    s.adds += 1;
                }
                *report.adds_by_state.entry(done.state).or_default() += 1;
                *report.adds_by_userid.entry(done.userid.clone()).or_default() += 1;
            }
            person.guide = Some(done.userid);
        }
        Some(Err(ActionError::CustomerLimit(_))) => report.refused_capacity += 1,
        Some(Err(_)) => report.scans_without_way += 1,
    }
}
