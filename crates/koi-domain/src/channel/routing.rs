//! Routing decisions: which pool members should be in a contact way right
//! now, and which store a located customer should be sent to. The engine
//! calls [`members_on_duty`] after every add and on a timer, and rewrites the
//! way with `update_contact_way` only when [`same_members`] says the answer
//! changed (WeCom's `user` list is overwritten, not patched).

use super::code::{ChannelCodeDraft, PoolMember, Routing};
use crate::Millis;
use serde::Serialize;
use std::collections::HashMap;

impl ChannelCodeDraft {
    /// Whether koi must manage the way's member list itself: WeCom only picks
    /// at random among the members it is given, so any other routing, and
    /// any cap, working hours or backup, needs [`members_on_duty`] and a
    /// rewrite of the way when its answer changes.
    pub fn needs_routing(&self) -> bool {
        !matches!(self.routing, Routing::WecomRandom)
            || self.pool.iter().any(|m| m.daily_cap.is_some() || m.hours.is_some() || m.backup)
    }
}

/// The members who should be in the way at `now_ms`, in pool order.
///
/// Rules, in order:
/// 1. A member is *available* when inside their working hours (if set) and
///    below their daily cap (if set; `adds_today` counts adds since local
///    midnight, see [`super::local_day`]). Caps and hours apply under every
///    routing, so what the operator typed is what happens.
/// 2. Available primary members, if any.
/// 3. Otherwise available backups.
/// 4. Otherwise every primary member, ignoring hours and caps: a code must
///    never stop working, and a customer who scans at 03:00 is better greeted
///    by a guide in the morning than lost. (Only if the pool has no primary
///    at all — which validation refuses — every member.)
/// 5. `RoundRobin` narrows the chosen set to one member: the
///    `rr_cursor % len`-th, where the cursor is the number of adds the code
///    has routed so far. Other routings keep the whole set and let WeCom pick.
///
/// Returns an empty list only for an empty pool.
pub fn members_on_duty(
    pool: &[PoolMember],
    routing: &Routing,
    now_ms: Millis,
    utc_offset_min: i32,
    adds_today: &HashMap<i64, u32>,
    rr_cursor: u64,
) -> Vec<i64> {
    let available = |m: &PoolMember| {
        let in_hours = m.hours.is_none_or(|h| h.contains(now_ms, utc_offset_min));
        let under_cap = m.daily_cap.is_none_or(|cap| adds_today.get(&m.staff_id).copied().unwrap_or(0) < cap);
        in_hours && under_cap
    };
    let pick = |f: &dyn Fn(&PoolMember) -> bool| -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::new();
        for m in pool.iter().filter(|m| f(m)) {
            if !ids.contains(&m.staff_id) {
                ids.push(m.staff_id);
            }
        }
        ids
    };
    let mut chosen = pick(&|m| !m.backup && available(m));
    if chosen.is_empty() {
        chosen = pick(&|m| m.backup && available(m));
    }
    if chosen.is_empty() {
        chosen = pick(&|m| !m.backup);
    }
    if chosen.is_empty() {
        chosen = pick(&|_| true);
    }
    if *routing == Routing::RoundRobin && !chosen.is_empty() {
        let i = (rr_cursor % chosen.len() as u64) as usize;
        return vec![chosen[i]];
    }
    chosen
}

/// Whether two member lists name the same people (order does not matter to
/// WeCom), so an unchanged answer costs no API call.
pub fn same_members(current: &[i64], wanted: &[i64]) -> bool {
    let mut a = current.to_vec();
    let mut b = wanted.to_vec();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

/// The landing page's answer for a located customer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreChoice {
    /// The nearest store within the radius.
    Nearest { store_id: i64, distance_m: f64 },
    /// Nothing within the radius (or no usable location): the default store.
    /// `nearest_m` is how far the closest store was, for the "no store near
    /// you" message and for tuning the radius.
    Fallback { store_id: i64, nearest_m: Option<f64> },
}

impl StoreChoice {
    pub fn store_id(&self) -> i64 {
        match *self {
            StoreChoice::Nearest { store_id, .. } | StoreChoice::Fallback { store_id, .. } => store_id,
        }
    }
}

/// Picks the closest candidate `(store_id, lat, lng)` to `customer` (lat, lng).
/// Ties go to the lower store id so the same spot always gets the same store.
/// Candidates with impossible coordinates are skipped rather than trusted; an
/// impossible customer location (a browser that returned 0,0 is still
/// possible — it is a real point) falls back.
pub fn nearest_store(
    candidates: &[(i64, f64, f64)],
    customer: (f64, f64),
    radius_m: u32,
    fallback: i64,
) -> StoreChoice {
    if !valid_point(customer) {
        return StoreChoice::Fallback { store_id: fallback, nearest_m: None };
    }
    let best = candidates
        .iter()
        .filter(|(_, lat, lng)| valid_point((*lat, *lng)))
        .map(|&(id, lat, lng)| (id, distance_m(customer, (lat, lng))))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    match best {
        Some((store_id, d)) if d <= f64::from(radius_m) => StoreChoice::Nearest { store_id, distance_m: d },
        other => StoreChoice::Fallback { store_id: fallback, nearest_m: other.map(|(_, d)| d) },
    }
}

pub(crate) fn valid_point((lat, lng): (f64, f64)) -> bool {
    lat.is_finite() && lng.is_finite() && lat.abs() <= 90.0 && lng.abs() <= 180.0
}

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two (lat, lng) points, by the
/// haversine formula: well within a metre of the ellipsoid at city scale,
/// which is all "nearest store" needs.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::hours::shanghai;
    use crate::channel::{WorkingHours, DEFAULT_UTC_OFFSET_MIN};
    use proptest::prelude::*;

    const JINGAN: (f64, f64) = (31.2243, 121.4465);
    const XUJIAHUI: (f64, f64) = (31.1951, 121.4372);
    const LUJIAZUI: (f64, f64) = (31.2397, 121.4998);
    const BEIJING_WANGFUJING: (f64, f64) = (39.9110, 116.4103);

    fn on_duty(pool: &[PoolMember], routing: &Routing, now: Millis, adds: &[(i64, u32)], rr: u64) -> Vec<i64> {
        let adds: HashMap<i64, u32> = adds.iter().copied().collect();
        members_on_duty(pool, routing, now, DEFAULT_UTC_OFFSET_MIN, &adds, rr)
    }

    fn day_shift(staff_id: i64) -> PoolMember {
        PoolMember {
            hours: Some(WorkingHours::new(WorkingHours::EVERY_DAY, 10 * 60, 22 * 60)),
            ..PoolMember::primary(staff_id)
        }
    }

    #[test]
    fn everyone_available_is_on_duty_for_wecom_random() {
        let pool = [PoolMember::primary(1), PoolMember::primary(2), PoolMember::backup(3)];
        assert_eq!(on_duty(&pool, &Routing::WecomRandom, shanghai(0, 12, 0), &[], 0), [1, 2]);
    }

    #[test]
    fn capped_members_leave_until_midnight() {
        let capped = |id| PoolMember { daily_cap: Some(30), ..PoolMember::primary(id) };
        let pool = [capped(1), capped(2), PoolMember::backup(3)];
        let noon = shanghai(0, 12, 0);
        assert_eq!(on_duty(&pool, &Routing::DailyCap, noon, &[(1, 29)], 0), [1, 2]);
        assert_eq!(on_duty(&pool, &Routing::DailyCap, noon, &[(1, 30)], 0), [2]);
        assert_eq!(on_duty(&pool, &Routing::DailyCap, noon, &[(1, 30), (2, 31)], 0), [3], "backup takes over");
    }

    #[test]
    fn backups_cover_outside_hours_and_primaries_cover_when_nobody_is_left() {
        let night_backup = PoolMember {
            hours: Some(WorkingHours::new(WorkingHours::EVERY_DAY, 22 * 60, 10 * 60)),
            ..PoolMember::backup(9)
        };
        let pool = [day_shift(1), day_shift(2), night_backup];
        assert_eq!(on_duty(&pool, &Routing::WorkingHours, shanghai(0, 12, 0), &[], 0), [1, 2]);
        assert_eq!(on_duty(&pool, &Routing::WorkingHours, shanghai(0, 23, 0), &[], 0), [9]);
        let capped_backup = PoolMember { daily_cap: Some(5), ..night_backup };
        let pool = [day_shift(1), day_shift(2), capped_backup];
        assert_eq!(on_duty(&pool, &Routing::WorkingHours, shanghai(0, 23, 0), &[(9, 5)], 0), [1, 2], "fallback");
    }

    #[test]
    fn round_robin_returns_one_member_in_turn() {
        let pool = [PoolMember::primary(1), PoolMember::primary(2), PoolMember::primary(3), PoolMember::backup(4)];
        let noon = shanghai(0, 12, 0);
        let turns: Vec<_> = (0..6).map(|rr| on_duty(&pool, &Routing::RoundRobin, noon, &[], rr)).collect();
        assert_eq!(turns, [[1], [2], [3], [1], [2], [3]]);
        let capped = [PoolMember { daily_cap: Some(1), ..PoolMember::primary(1) }, PoolMember::primary(2)];
        assert_eq!(on_duty(&capped, &Routing::RoundRobin, noon, &[(1, 1)], 0), [2], "skips the capped member");
    }

    #[test]
    fn an_empty_pool_has_nobody() {
        assert!(on_duty(&[], &Routing::RoundRobin, 0, &[], 7).is_empty());
        assert_eq!(on_duty(&[PoolMember::backup(5)], &Routing::WecomRandom, 0, &[(5, 0)], 0), [5]);
    }

    #[test]
    fn only_plain_random_codes_are_left_to_wecom() {
        let code = |routing, pool| ChannelCodeDraft { routing, pool, ..ChannelCodeDraft::default() };
        let plain = vec![PoolMember::primary(1), PoolMember::primary(2)];
        assert!(!code(Routing::WecomRandom, plain.clone()).needs_routing());
        assert!(!code(Routing::WecomRandom, vec![]).needs_routing());
        for routing in [
            Routing::RoundRobin,
            Routing::DailyCap,
            Routing::WorkingHours,
            Routing::NearestStore { radius_m: 3_000, fallback_store_id: 1 },
        ] {
            assert!(code(routing, plain.clone()).needs_routing());
        }
        let capped = PoolMember { daily_cap: Some(30), ..PoolMember::primary(1) };
        assert!(code(Routing::WecomRandom, vec![capped]).needs_routing(), "a cap is honoured under any routing");
        assert!(code(Routing::WecomRandom, vec![day_shift(1)]).needs_routing(), "so are working hours");
        let with_backup = vec![PoolMember::primary(1), PoolMember::backup(2)];
        assert!(code(Routing::WecomRandom, with_backup).needs_routing(), "a backup waits outside the way");
    }

    #[test]
    fn same_members_ignores_order() {
        assert!(same_members(&[3, 1, 2], &[1, 2, 3]));
        assert!(!same_members(&[1, 2], &[1, 2, 3]));
    }

    #[test]
    fn distances_match_known_shanghai_figures() {
        let d = distance_m(JINGAN, XUJIAHUI);
        assert!((d - 3_400.0).abs() <= 200.0, "静安 → 徐家汇 is about 3.4 km, got {d:.0} m");
        let d = distance_m(JINGAN, LUJIAZUI);
        assert!((d - 5_350.0).abs() <= 200.0, "静安 → 陆家嘴 is about 5.3 km, got {d:.0} m");
        let d = distance_m(JINGAN, BEIJING_WANGFUJING);
        assert!((d - 1_065_000.0).abs() <= 15_000.0, "Shanghai → Beijing is about 1,065 km, got {d:.0} m");
        assert_eq!(distance_m(JINGAN, JINGAN), 0.0);
    }

    #[test]
    fn the_nearest_store_within_the_radius_wins() {
        let stores = [(1, JINGAN.0, JINGAN.1), (2, XUJIAHUI.0, XUJIAHUI.1), (3, LUJIAZUI.0, LUJIAZUI.1)];
        let near_xujiahui = (31.1980, 121.4380);
        match nearest_store(&stores, near_xujiahui, 3_000, 1) {
            StoreChoice::Nearest { store_id, distance_m } => {
                assert_eq!(store_id, 2);
                assert!(distance_m < 500.0);
            }
            other => panic!("expected 徐家汇, got {other:?}"),
        }
        let far = nearest_store(&stores, BEIJING_WANGFUJING, 10_000, 1);
        assert!(matches!(far, StoreChoice::Fallback { store_id: 1, nearest_m: Some(d) } if d > 1_000_000.0));
        assert_eq!(nearest_store(&stores, (f64::NAN, 121.0), 3_000, 7).store_id(), 7);
        assert_eq!(nearest_store(&[], JINGAN, 3_000, 7), StoreChoice::Fallback { store_id: 7, nearest_m: None });
        let bad_candidate = [(9, 200.0, 121.0), (2, XUJIAHUI.0, XUJIAHUI.1)];
        assert_eq!(nearest_store(&bad_candidate, near_xujiahui, 3_000, 1).store_id(), 2);
    }

    #[test]
    fn ties_go_to_the_lower_store_id() {
        let stores = [(5, JINGAN.0, JINGAN.1), (4, JINGAN.0, JINGAN.1)];
        assert_eq!(nearest_store(&stores, XUJIAHUI, 10_000, 1).store_id(), 4);
    }

    fn member() -> impl Strategy<Value = PoolMember> {
        (
            1i64..8,
            any::<bool>(),
            proptest::option::of(1u32..4),
            proptest::option::of((1u8..128, 0u16..1441, 0u16..1441)),
        )
            .prop_map(|(staff_id, backup, daily_cap, hours)| PoolMember {
                staff_id,
                backup,
                daily_cap,
                hours: hours.map(|(d, s, e)| WorkingHours::new(d, s, e)),
            })
    }

    proptest! {
        #[test]
        fn never_empty_and_always_from_the_pool(
            pool in proptest::collection::vec(member(), 1..8),
            rr in any::<u64>(),
            now in 0i64..4_000_000_000_000,
            adds in proptest::collection::hash_map(1i64..8, 0u32..5, 0..8),
            round_robin in any::<bool>(),
        ) {
            let routing = if round_robin { Routing::RoundRobin } else { Routing::WecomRandom };
            let got = members_on_duty(&pool, &routing, now, DEFAULT_UTC_OFFSET_MIN, &adds, rr);
            prop_assert!(!got.is_empty());
            prop_assert!(got.iter().all(|id| pool.iter().any(|m| m.staff_id == *id)));
            if round_robin {
                prop_assert_eq!(got.len(), 1);
            }
        }

        #[test]
        fn distance_is_a_symmetric_non_negative_number(
            a in (-90.0f64..=90.0, -180.0f64..=180.0),
            b in (-90.0f64..=90.0, -180.0f64..=180.0),
        ) {
            let d = distance_m(a, b);
            prop_assert!(d.is_finite() && d >= 0.0);
            prop_assert!(d <= std::f64::consts::PI * EARTH_RADIUS_M + 1.0);
            prop_assert!((d - distance_m(b, a)).abs() < 1e-6);
        }
    }
}
