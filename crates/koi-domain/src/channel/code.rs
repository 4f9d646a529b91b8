//! The channel code an operator edits: where it is placed, who answers it,
//! how koi routes among them, what it tags and how it greets. `validate`
//! checks everything WeCom would reject later (when the mistake is harder to
//! explain) plus koi's own rules, and reports every problem at once.

use super::hours::WorkingHours;
use super::welcome::WelcomeDraft;
use super::ChannelType;
use crate::error::{Checker, ValidationError};
use crate::org::Store;
use crate::Millis;
use serde::{Deserialize, Serialize};

/// WeCom's limit on members of one multi-member contact way (41041).
pub const MAX_MULTI_MEMBERS: usize = 100;
/// Auto-tags per code: more is a sign the operator wants a segment, not tags.
pub const MAX_AUTO_TAGS: usize = 20;
/// Welcome variants per code (A/B/C/D).
pub const MAX_WELCOME_VARIANTS: usize = 4;
/// WeCom's limit on a contact way's remark.
pub const MAX_REMARK_CHARS: usize = 30;
/// A daily cap above a member's whole customer capacity (20,000 when expanded) means nothing.
const MAX_DAILY_CAP: u32 = 20_000;
/// 100 km: past that "nearest store" is no longer a store the customer will walk into.
const MAX_RADIUS_M: u32 = 100_000;

/// WeCom's contact-way `type`: single (1) shows one member's personal card,
/// multi (2) lets WeCom (or koi's rewrites) pick among members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WayKind {
    Single,
    #[default]
    Multi,
}

impl WayKind {
    /// The `type` value `add_contact_way` expects.
    pub fn wecom_type(self) -> u8 {
        match self {
            WayKind::Single => 1,
            WayKind::Multi => 2,
        }
    }
}

/// One staff member in a code's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolMember {
    pub staff_id: i64,
    /// Backups only take customers when no primary member is available, so a
    /// code scanned at night or after every guide hit their cap still works.
    #[serde(default)]
    pub backup: bool,
    /// New customers this member takes per local day; `None` = no cap.
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// When this member takes new customers; `None` = always.
    #[serde(default)]
    pub hours: Option<WorkingHours>,
}

impl PoolMember {
    pub fn primary(staff_id: i64) -> Self {
        Self { staff_id, backup: false, daily_cap: None, hours: None }
    }

    pub fn backup(staff_id: i64) -> Self {
        Self { backup: true, ..Self::primary(staff_id) }
    }
}

/// How a code's customers are shared among its pool.
///
/// WeCom itself only picks a random member of a multi way. Everything else is
/// koi rewriting the way's member list (`update_contact_way`) as the day goes
/// on, or — for [`Routing::NearestStore`] — a koi landing page that chooses
/// which store's QR to show. Members' caps and hours are honoured whenever
/// they are set, whatever the routing: the variant names the operator's
/// intent and decides what [`ChannelCodeDraft::validate`] insists on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Routing {
    /// Every available member is in the way; WeCom picks at random.
    #[default]
    WecomRandom,
    /// One member at a time, in pool order; koi moves to the next after each add.
    RoundRobin,
    /// Members leave the way for the day when they reach their `daily_cap`.
    DailyCap,
    /// Members are in the way only during their `hours`; backups cover the rest.
    WorkingHours,
    /// A landing page asks for the customer's location and shows the code of
    /// the nearest store within `radius_m`, else of `fallback_store_id`.
    NearestStore { radius_m: u32, fallback_store_id: i64 },
}

impl Routing {
    pub fn as_str(&self) -> &'static str {
        match self {
            Routing::WecomRandom => "wecom_random",
            Routing::RoundRobin => "round_robin",
            Routing::DailyCap => "daily_cap",
            Routing::WorkingHours => "working_hours",
            Routing::NearestStore { .. } => "nearest_store",
        }
    }
}

/// A channel code as typed in the console or posted to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelCodeDraft {
    pub name: String,
    #[serde(default)]
    pub channel_type: ChannelType,
    /// The store customers from this code are attributed to (and the store
    /// manager who may edit it).
    #[serde(default)]
    pub store_id: Option<i64>,
    #[serde(default)]
    pub kind: WayKind,
    #[serde(default)]
    pub pool: Vec<PoolMember>,
    #[serde(default)]
    pub routing: Routing,
    /// WeCom corp tag ids (`et…`) marked on every customer who adds through this code.
    #[serde(default)]
    pub auto_tag_ids: Vec<String>,
    /// Welcome variants; two or more split customers A/B by weight.
    #[serde(default)]
    pub welcome: Vec<WelcomeDraft>,
    /// Add without the member confirming. WeCom's default, and what keeps the
    /// welcome inside its 20 s window.
    #[serde(default = "yes")]
    pub skip_verify: bool,
    /// A temporary code stops routing at this instant. koi enforces it itself
    /// (deleting the way) because WeCom's `is_temp` means something else: a
    /// temporary chat session.
    #[serde(default)]
    pub expires_at: Option<Millis>,
    /// Shown in WeCom's console next to the way.
    #[serde(default)]
    pub remark: String,
    /// A coupon template (koi's id) every add through this code is issued
    /// one of, once per add; the welcome then carries the customer's
    /// wallet link.
    #[serde(default)]
    pub welcome_coupon: Option<i64>,
}

fn yes() -> bool {
    true
}

impl Default for ChannelCodeDraft {
    fn default() -> Self {
        Self {
            name: String::new(),
            channel_type: ChannelType::default(),
            store_id: None,
            kind: WayKind::default(),
            pool: Vec::new(),
            routing: Routing::default(),
            auto_tag_ids: Vec::new(),
            welcome: Vec::new(),
            skip_verify: true,
            expires_at: None,
            remark: String::new(),
            welcome_coupon: None,
        }
    }
}

/// What koi knows about a store when checking a code: enough to tell whether
/// it exists (in the editor's scope) and whether it can be found on a map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorePin {
    pub id: i64,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

impl StorePin {
    /// Coordinates usable for distance, if the store has sane ones.
    pub fn location(&self) -> Option<(f64, f64)> {
        match (self.lat, self.lng) {
            (Some(lat), Some(lng)) if super::routing::valid_point((lat, lng)) => Some((lat, lng)),
            _ => None,
        }
    }
}

impl From<&Store> for StorePin {
    fn from(s: &Store) -> Self {
        Self { id: s.id, lat: s.lat, lng: s.lng }
    }
}

/// The facts outside the draft that validation needs.
#[derive(Debug, Clone, Copy)]
pub struct DraftContext<'a> {
    pub now: Millis,
    /// The stores the editor may attach the code to (all of the corp's for
    /// HQ, their own for a store manager).
    pub stores: &'a [StorePin],
}

impl ChannelCodeDraft {
    /// The one reading of a pool's caps and hours, whoever typed the draft
    /// (the console's form or the API); the engine applies it to every draft
    /// before [`validate`](Self::validate).
    ///
    /// - A member's `daily_cap` and `hours` are kept whatever the routing:
    ///   [`members_on_duty`](super::members_on_duty) honours them under every
    ///   routing (a guide with a shift *and* a cap, a round robin that skips
    ///   whoever is full), and the routing only decides what `validate`
    ///   insists on. Nothing the operator typed is dropped for being under
    ///   "the wrong" routing.
    /// - A single-member way has no caps or hours: WeCom shows that one
    ///   member's card and there is nobody to route to, so they could never
    ///   take effect and would only schedule routing checks that change nothing.
    pub fn normalized(mut self) -> ChannelCodeDraft {
        if self.kind == WayKind::Single {
            for m in &mut self.pool {
                m.daily_cap = None;
                m.hours = None;
            }
        }
        self
    }

    /// Checks the draft and returns it cleaned (trimmed text, de-duplicated tags).
    ///
    /// Rules, each reported against its field:
    /// - `name` 1..=64 characters; `remark` ≤ 30 (WeCom's limit).
    /// - `store_id` and `routing.fallback_store_id` are stores in `ctx.stores`.
    /// - The pool has at least one primary (non-backup) member, no member
    ///   twice, caps 1..=20,000 and sane hours. A single way has exactly one
    ///   member and WeCom random routing (there is nobody to route to); a multi
    ///   way has at most 100 members.
    /// - `DailyCap` needs a primary member with a cap, `WorkingHours` one with
    ///   hours, or the routing would never do anything.
    /// - `NearestStore` needs at least one store with coordinates and a radius
    ///   of 1 m..=100 km. Its pool may be empty: the chosen store's own staff
    ///   answer then.
    /// - ≤ 20 auto-tags, ≤ 4 welcome variants (each checked, see [`WelcomeDraft`]).
    /// - `expires_at`, when set, is in the future.
    pub fn validate(self, ctx: &DraftContext<'_>) -> Result<ChannelCodeDraft, ValidationError> {
        let mut c = Checker::default();
        let name = c.text("name", &self.name, 64, true);
        let remark = c.text("remark", &self.remark, MAX_REMARK_CHARS, false);
        let known = |id: i64| ctx.stores.iter().any(|s| s.id == id);
        if let Some(id) = self.store_id {
            if !known(id) {
                c.push("store_id", "unknown_store", format!("store {id} does not exist or is not yours"));
            }
        }

        self.check_pool(&mut c);
        self.check_routing(&mut c, ctx, &known);

        if self.auto_tag_ids.len() > MAX_AUTO_TAGS {
            c.push("auto_tag_ids", "too_many", format!("at most {MAX_AUTO_TAGS} auto-tags per code"));
        }
        let mut auto_tag_ids: Vec<String> = Vec::with_capacity(self.auto_tag_ids.len());
        for (i, tag) in self.auto_tag_ids.iter().enumerate() {
            let tag = c.ident(&format!("auto_tag_ids[{i}]"), tag, 64, &['_', '-']);
            if !auto_tag_ids.contains(&tag) {
                auto_tag_ids.push(tag);
            }
        }

        if self.welcome.len() > MAX_WELCOME_VARIANTS {
            c.push("welcome", "too_many", format!("at most {MAX_WELCOME_VARIANTS} welcome variants"));
        }
        let welcome = self.welcome.iter().enumerate().map(|(i, w)| w.check(&mut c, &format!("welcome[{i}]"))).collect();

        if self.welcome_coupon.is_some_and(|t| t <= 0) {
            c.push("welcome_coupon", "out_of_range", "coupon template id must be positive");
        } else if self.welcome_coupon.is_some() && self.welcome.is_empty() {
            c.push("welcome_coupon", "needs_welcome", "a welcome coupon's wallet link rides on the welcome: write one");
        }
        if let Some(at) = self.expires_at {
            if at <= ctx.now {
                c.push("expires_at", "in_past", "a temporary code must expire in the future");
            }
        }

        c.finish(ChannelCodeDraft { name, remark, auto_tag_ids, welcome, ..self })
    }

    fn check_pool(&self, c: &mut Checker) {
        for (i, m) in self.pool.iter().enumerate() {
            let field = format!("pool[{i}]");
            if m.staff_id <= 0 {
                c.push(&format!("{field}.staff_id"), "invalid_id", "pick a staff member");
            } else if self.pool[..i].iter().any(|p| p.staff_id == m.staff_id) {
                c.push(&format!("{field}.staff_id"), "duplicate_staff", "this staff member is already in the pool");
            }
            if let Some(cap) = m.daily_cap {
                if !(1..=MAX_DAILY_CAP).contains(&cap) {
                    c.push(
                        &format!("{field}.daily_cap"),
                        "out_of_range",
                        format!("daily cap must be 1..={MAX_DAILY_CAP}"),
                    );
                }
            }
            if let Some(h) = &m.hours {
                h.check(c, &format!("{field}.hours"));
            }
        }
        let primaries = self.pool.iter().filter(|m| !m.backup).count();
        let nearest = matches!(self.routing, Routing::NearestStore { .. });
        match self.kind {
            WayKind::Single if self.pool.len() != 1 => {
                c.push("pool", "single_needs_one", "a single-member code has exactly one staff member");
            }
            WayKind::Multi if self.pool.len() > MAX_MULTI_MEMBERS => {
                c.push("pool", "too_many_members", format!("at most {MAX_MULTI_MEMBERS} staff members per code"));
            }
            _ => {}
        }
        if primaries == 0 && !(nearest && self.pool.is_empty()) {
            c.push("pool", "no_primary_staff", "add at least one staff member who is not a backup");
        }
    }

    fn check_routing(&self, c: &mut Checker, ctx: &DraftContext<'_>, known: &dyn Fn(i64) -> bool) {
        let primaries = || self.pool.iter().filter(|m| !m.backup);
        if self.kind == WayKind::Single && self.routing != Routing::WecomRandom {
            c.push("routing", "needs_multi", "routing needs a multi-member code");
            return;
        }
        match &self.routing {
            Routing::WecomRandom | Routing::RoundRobin => {}
            Routing::DailyCap => {
                if !primaries().any(|m| m.daily_cap.is_some()) {
                    c.push("routing", "missing_daily_cap", "give at least one staff member a daily cap");
                }
            }
            Routing::WorkingHours => {
                if !primaries().any(|m| m.hours.is_some()) {
                    c.push("routing", "missing_hours", "give at least one staff member working hours");
                }
            }
            Routing::NearestStore { radius_m, fallback_store_id } => {
                if !(1..=MAX_RADIUS_M).contains(radius_m) {
                    c.push("routing.radius_m", "out_of_range", format!("radius must be 1..={MAX_RADIUS_M} m"));
                }
                if !known(*fallback_store_id) {
                    c.push("routing.fallback_store_id", "unknown_store", "pick the store to use when none is near");
                }
                if !ctx.stores.iter().any(|s| s.location().is_some()) {
                    c.push("routing", "no_located_stores", "nearest-store routing needs stores with lat/lng");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Attachment;

    const NOW: Millis = 1_717_372_800_000;

    fn stores() -> Vec<StorePin> {
        vec![StorePin { id: 1, lat: Some(31.2243), lng: Some(121.4465) }, StorePin { id: 2, lat: None, lng: None }]
    }

    fn draft() -> ChannelCodeDraft {
        ChannelCodeDraft {
            name: " 静安店海报 ".into(),
            channel_type: ChannelType::StorePoster,
            store_id: Some(1),
            pool: vec![PoolMember::primary(10), PoolMember::primary(11), PoolMember::backup(12)],
            auto_tag_ids: vec!["etAAA".into(), "etBBB".into(), "etAAA".into()],
            welcome: vec![WelcomeDraft::text("欢迎 {客户昵称}")],
            ..Default::default()
        }
    }

    fn check(d: ChannelCodeDraft) -> Result<ChannelCodeDraft, ValidationError> {
        let stores = stores();
        d.validate(&DraftContext { now: NOW, stores: &stores })
    }

    fn codes(d: ChannelCodeDraft) -> Vec<(String, String)> {
        check(d).unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn has(d: ChannelCodeDraft, field: &str, code: &str) -> bool {
        let got = codes(d);
        got.iter().any(|(f, c)| f == field && c == code) || panic!("expected {field}/{code}, got {got:?}")
    }

    #[test]
    fn a_good_code_is_cleaned() {
        let d = check(draft()).expect("valid code");
        assert_eq!(d.name, "静安店海报");
        assert_eq!(d.auto_tag_ids, ["etAAA", "etBBB"]);
        assert!(d.skip_verify);
    }

    #[test]
    fn json_defaults_match_wecom_defaults() {
        let d: ChannelCodeDraft = serde_json::from_str(r#"{"name":"x","pool":[{"staff_id":1}]}"#).expect("parses");
        assert!(d.skip_verify, "WeCom's skip_verify defaults to true");
        assert_eq!(d.routing, Routing::WecomRandom);
        assert_eq!(d.kind, WayKind::Multi);
        let r: Routing =
            serde_json::from_str(r#"{"kind":"nearest_store","radius_m":3000,"fallback_store_id":1}"#).expect("parses");
        assert_eq!(r.as_str(), "nearest_store");
    }

    #[test]
    fn normalizing_keeps_caps_and_hours_under_every_routing() {
        let shift = WorkingHours::new(WorkingHours::EVERY_DAY, 10 * 60, 22 * 60);
        let night = WorkingHours::new(WorkingHours::EVERY_DAY, 22 * 60, 10 * 60);
        let pool = vec![
            PoolMember { daily_cap: Some(30), hours: Some(shift), ..PoolMember::primary(10) },
            PoolMember { hours: Some(night), ..PoolMember::backup(12) },
        ];
        for routing in [
            Routing::WecomRandom,
            Routing::RoundRobin,
            Routing::DailyCap,
            Routing::WorkingHours,
            Routing::NearestStore { radius_m: 3_000, fallback_store_id: 1 },
        ] {
            let d = ChannelCodeDraft { pool: pool.clone(), routing: routing.clone(), ..draft() };
            assert_eq!(d.clone().normalized(), d, "{routing:?}: a cap and a shift together, and a night backup");
        }
    }

    #[test]
    fn normalizing_a_single_way_drops_what_cannot_take_effect() {
        let capped = PoolMember {
            daily_cap: Some(30),
            hours: Some(WorkingHours::new(WorkingHours::EVERY_DAY, 600, 1200)),
            ..PoolMember::primary(10)
        };
        let single = ChannelCodeDraft { kind: WayKind::Single, pool: vec![capped], ..draft() }.normalized();
        assert_eq!(single.pool, [PoolMember::primary(10)]);
        assert!(!single.needs_routing());
        assert_eq!(single.clone().normalized(), single, "normalizing twice changes nothing");
    }

    #[test]
    fn a_pool_of_only_backups_is_refused() {
        let d = ChannelCodeDraft { pool: vec![PoolMember::backup(1), PoolMember::backup(2)], ..draft() };
        assert!(has(d, "pool", "no_primary_staff"));
        assert!(has(ChannelCodeDraft { pool: vec![], ..draft() }, "pool", "no_primary_staff"));
    }

    #[test]
    fn a_single_code_has_exactly_one_member_and_no_routing() {
        let single = |pool, routing| ChannelCodeDraft { kind: WayKind::Single, pool, routing, ..draft() };
        assert!(check(single(vec![PoolMember::primary(1)], Routing::WecomRandom)).is_ok());
        assert!(has(
            single(vec![PoolMember::primary(1), PoolMember::primary(2)], Routing::WecomRandom),
            "pool",
            "single_needs_one"
        ));
        assert!(has(single(vec![PoolMember::primary(1)], Routing::RoundRobin), "routing", "needs_multi"));
        assert!(has(single(vec![PoolMember::backup(1)], Routing::WecomRandom), "pool", "no_primary_staff"));
    }

    #[test]
    fn a_multi_code_has_at_most_a_hundred_members() {
        let pool = |n: i64| (1..=n).map(PoolMember::primary).collect::<Vec<_>>();
        assert!(check(ChannelCodeDraft { pool: pool(100), ..draft() }).is_ok());
        assert!(has(ChannelCodeDraft { pool: pool(101), ..draft() }, "pool", "too_many_members"));
    }

    #[test]
    fn members_are_checked_one_by_one() {
        let mut pool = vec![PoolMember::primary(1), PoolMember::primary(1)];
        pool[0].daily_cap = Some(0);
        pool[1].hours = Some(WorkingHours::new(0, 600, 1200));
        let got = codes(ChannelCodeDraft { pool, ..draft() });
        assert_eq!(
            got,
            [
                ("pool[0].daily_cap".to_string(), "out_of_range".to_string()),
                ("pool[1].staff_id".into(), "duplicate_staff".into()),
                ("pool[1].hours.days".into(), "out_of_range".into()),
            ]
        );
    }

    #[test]
    fn routing_needs_its_parameters() {
        assert!(has(ChannelCodeDraft { routing: Routing::DailyCap, ..draft() }, "routing", "missing_daily_cap"));
        assert!(has(ChannelCodeDraft { routing: Routing::WorkingHours, ..draft() }, "routing", "missing_hours"));
        let mut d = ChannelCodeDraft { routing: Routing::DailyCap, ..draft() };
        d.pool[0].daily_cap = Some(50);
        assert!(check(d).is_ok());
        // A backup's hours do not make a working-hours code.
        let mut d = ChannelCodeDraft { routing: Routing::WorkingHours, ..draft() };
        d.pool[2].hours = Some(WorkingHours::new(WorkingHours::EVERY_DAY, 0, 600));
        assert!(has(d, "routing", "missing_hours"));
    }

    #[test]
    fn nearest_store_needs_located_stores_and_a_known_fallback() {
        let nearest = |radius_m, fallback_store_id| ChannelCodeDraft {
            pool: vec![],
            routing: Routing::NearestStore { radius_m, fallback_store_id },
            ..draft()
        };
        assert!(check(nearest(5_000, 2)).is_ok(), "an empty pool means the chosen store's staff");
        assert!(has(nearest(0, 2), "routing.radius_m", "out_of_range"));
        assert!(has(nearest(5_000, 99), "routing.fallback_store_id", "unknown_store"));
        let unlocated = [StorePin { id: 2, lat: None, lng: None }];
        let err = ChannelCodeDraft { store_id: None, ..nearest(5_000, 2) }
            .validate(&DraftContext { now: NOW, stores: &unlocated })
            .unwrap_err();
        assert_eq!(err.0[0].code, "no_located_stores");
    }

    #[test]
    fn limits_from_wecom_are_enforced() {
        assert!(check(ChannelCodeDraft { remark: "备".repeat(30), ..draft() }).is_ok());
        assert!(has(ChannelCodeDraft { remark: "备".repeat(31), ..draft() }, "remark", "too_long"));
        let tags = (0..21).map(|i| format!("et{i}")).collect();
        assert!(has(ChannelCodeDraft { auto_tag_ids: tags, ..draft() }, "auto_tag_ids", "too_many"));
        assert!(has(
            ChannelCodeDraft { auto_tag_ids: vec!["标签".into()], ..draft() },
            "auto_tag_ids[0]",
            "invalid_chars"
        ));
        let five = vec![WelcomeDraft::text("hi"); 5];
        assert!(has(ChannelCodeDraft { welcome: five, ..draft() }, "welcome", "too_many"));
    }

    #[test]
    fn welcome_errors_point_into_the_variant() {
        let bad = WelcomeDraft {
            attachments: vec![Attachment::CouponLink { title: "券".into(), url: "ftp://x".into() }],
            ..WelcomeDraft::text("hi")
        };
        let d = ChannelCodeDraft { welcome: vec![WelcomeDraft::text("ok"), bad], ..draft() };
        assert!(has(d, "welcome[1].attachments[0].url", "invalid_url"));
    }

    #[test]
    fn unknown_stores_and_past_expiry_are_refused() {
        assert!(has(ChannelCodeDraft { store_id: Some(42), ..draft() }, "store_id", "unknown_store"));
        assert!(has(ChannelCodeDraft { expires_at: Some(NOW), ..draft() }, "expires_at", "in_past"));
        assert!(check(ChannelCodeDraft { expires_at: Some(NOW + 1), ..draft() }).is_ok());
    }
}
