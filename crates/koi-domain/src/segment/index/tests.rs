use super::*;
use crate::group::GroupKind;
use crate::segment::facts::{CustomerFacts, StoreLocations};
use crate::segment::{matches, Cond, CouponHold, Expr, FieldOp, GroupRef, RfmDim, Stage};
use crate::Millis;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const TAGS: [&str; 5] = ["t0", "t1", "t2", "t3", "油性"];
const FIELD_NAMES: [&str; 2] = ["size", "skin"];
const FIELD_VALUES: [&str; 9] = ["38", "40", "4", "38.5", "oily", "dry", "油性", "2001-05-01", "1999-12-31"];

fn stores() -> StoreLocations {
    // Store 4 has no coordinates.
    [(1, (31.23, 121.47)), (2, (31.30, 121.55)), (3, (39.90, 116.40))].into_iter().collect()
}

/// A group's kind is the group's, the same for every member: group `g` is
/// of kind `ALL[g % 4]`, so kinds paid..vip each have groups and two share
/// paid and vip.
fn kind_of(group: i64) -> GroupKind {
    GroupKind::ALL[group as usize % 4]
}

/// Groups 1..=6, mostly none or one, sometimes several.
fn arb_groups() -> impl Strategy<Value = BTreeMap<i64, GroupKind>> {
    prop::collection::btree_set(1i64..=6, 0..4).prop_map(|gs| gs.into_iter().map(|g| (g, kind_of(g))).collect())
}

fn arb_customer(id: u32) -> impl Strategy<Value = CustomerFacts> {
    let sets = (
        prop::collection::btree_set(prop::sample::select(TAGS.to_vec()).prop_map(String::from), 0..4),
        prop::collection::btree_set(1i64..5, 0..3),
        prop::collection::btree_set(1i64..4, 0..2),
        prop::collection::btree_set(1i64..4, 0..2),
        prop::sample::select(Stage::ALL.to_vec()),
        [prop::option::of(1u8..=5), prop::option::of(1u8..=5), prop::option::of(1u8..=5)],
    );
    let values = (
        arb_instant(),
        prop::option::of(arb_instant()),
        arb_count(),
        arb_spend(),
        arb_count(),
        prop::collection::btree_map(
            prop::sample::select(FIELD_NAMES.to_vec()).prop_map(String::from),
            prop::sample::select(FIELD_VALUES.to_vec()).prop_map(String::from),
            0..3,
        ),
        prop::option::of((31.0f32..31.5, 121.2f32..121.8)),
    );
    let wallet =
        (arb_count(), prop::collection::btree_set((1i64..4, prop::sample::select(CouponHold::ALL.to_vec())), 0..3));
    (sets, values, arb_groups(), wallet).prop_map(move |((tags, stores, staff, codes, stage, rfm), v, groups, w)| {
        CustomerFacts {
            id,
            tags,
            stores,
            staff,
            codes,
            stage,
            rfm,
            added_at: v.0,
            last_active: v.1,
            orders: v.2,
            spent_fen: v.3,
            influence: v.4,
            fields: v.5,
            home: v.6,
            groups,
            points: w.0,
            coupons: w.1,
        }
    })
}

/// Raw milliseconds and whole seconds, which the index stores apart;
/// few values (bands of one value each) and many (bands that straddle).
fn arb_instant() -> impl Strategy<Value = Millis> {
    prop_oneof![
        0i64..20,
        (-2i64..20).prop_map(|s| s * 1000),
        (0i64..400).prop_map(|s| s * 1000),
        Just(i64::MIN),
        Just(i64::MAX)
    ]
}

/// Mostly nothing spent, as in a real corp, which makes a heavy band.
fn arb_spend() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), -5i64..1000, 0i64..100_000, Just(i64::MAX), Just(i64::MIN), Just(i64::from(u32::MAX))]
}

/// Small counts, and some above the index's ladder of sets.
fn arb_count() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..5, 14u32..20, Just(u32::MAX)]
}

fn arb_cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        prop::sample::select(TAGS.to_vec()).prop_map(|t| Cond::Tag(t.into())),
        (1i64..6).prop_map(Cond::Store),
        (1i64..4).prop_map(Cond::Staff),
        (1i64..4).prop_map(Cond::Code),
        prop::sample::select(Stage::ALL.to_vec()).prop_map(Cond::Stage),
        (prop::sample::select(RfmDim::ALL.to_vec()), 1u8..=5).prop_map(|(dim, band)| Cond::Rfm { dim, band }),
        (arb_instant(), arb_instant()).prop_map(|(a, b)| Cond::AddedBetween { from_ms: a.min(b), to_ms: a.max(b) }),
        (-1500i64..22_000).prop_map(|a| Cond::AddedBetween { from_ms: a, to_ms: a + 3000 }),
        (-1500i64..401_000, 1i64..200_000).prop_map(|(a, w)| Cond::AddedBetween { from_ms: a, to_ms: a + w }),
        (-1500i64..401_000).prop_map(Cond::LastActiveBefore),
        (-1500i64..401_000).prop_map(Cond::LastActiveAfter),
        arb_instant().prop_map(Cond::LastActiveBefore),
        (-1500i64..22_000).prop_map(Cond::LastActiveBefore),
        arb_instant().prop_map(Cond::LastActiveAfter),
        (-1500i64..22_000).prop_map(Cond::LastActiveAfter),
        (0u32..22).prop_map(Cond::OrdersAtLeast),
        prop_oneof![-6i64..1000, 0i64..100_001, Just(i64::MAX), Just(i64::MIN)].prop_map(Cond::SpentAtLeast),
        (0u32..22).prop_map(Cond::InfluenceAtLeast),
        (
            prop::sample::select(FIELD_NAMES.to_vec()),
            prop::sample::select(FieldOp::ALL.to_vec()),
            prop::sample::select(FIELD_VALUES.to_vec())
        )
            .prop_map(|(n, op, v)| Cond::Field { name: n.into(), op, value: v.into() }),
        (1i64..5, 0u32..60).prop_map(|(store_id, k)| Cond::WithinKm { store_id, km: k as f64 / 2.0 }),
        (0i64..8).prop_map(|g| Cond::Group(GroupRef::Id(g))),
        Just(Cond::Group(GroupRef::Name("unresolved".into()))),
        prop::sample::select(GroupKind::ALL.to_vec()).prop_map(Cond::GroupKind),
        (0u32..5).prop_map(Cond::InGroupsAtLeast),
        (0u32..22).prop_map(Cond::PointsAtLeast),
        (0i64..5, prop::sample::select(CouponHold::ALL.to_vec()))
            .prop_map(|(template_id, state)| Cond::Coupon { template_id, state }),
    ]
}

/// Depth ≤ 4.
fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_cond().prop_map(Expr::Cond).prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

#[derive(Debug, Clone)]
enum Op {
    Tag(u32, String, bool),
    Store(u32, i64, bool),
    Stage(u32, Stage),
    Rfm(u32, RfmDim, Option<u8>),
    Orders(u32, u32),
    Influence(u32, u32),
    Active(u32, Option<i64>),
    Added(u32, i64),
    Spent(u32, i64),
    Field(u32, String, Option<String>),
    Groups(u32, BTreeMap<i64, GroupKind>),
    Remove(u32),
    Readd(CustomerFacts),
}

fn arb_op(n: u32) -> impl Strategy<Value = Op> {
    let id = 0..n + 5;
    prop_oneof![
        (id.clone(), prop::sample::select(TAGS.to_vec()), any::<bool>()).prop_map(|(i, t, on)| Op::Tag(
            i,
            t.into(),
            on
        )),
        (id.clone(), 1i64..6, any::<bool>()).prop_map(|(i, s, on)| Op::Store(i, s, on)),
        (id.clone(), prop::sample::select(Stage::ALL.to_vec())).prop_map(|(i, s)| Op::Stage(i, s)),
        (id.clone(), prop::sample::select(RfmDim::ALL.to_vec()), prop::option::of(1u8..=5))
            .prop_map(|(i, d, b)| Op::Rfm(i, d, b)),
        (id.clone(), arb_count()).prop_map(|(i, o)| Op::Orders(i, o)),
        (id.clone(), arb_count()).prop_map(|(i, n)| Op::Influence(i, n)),
        (id.clone(), prop::option::of(arb_instant())).prop_map(|(i, a)| Op::Active(i, a)),
        (id.clone(), arb_instant()).prop_map(|(i, a)| Op::Added(i, a)),
        (id.clone(), arb_spend()).prop_map(|(i, f)| Op::Spent(i, f)),
        (
            id.clone(),
            prop::sample::select(FIELD_NAMES.to_vec()),
            prop::option::of(prop::sample::select(FIELD_VALUES.to_vec()))
        )
            .prop_map(|(i, n, v)| Op::Field(i, n.into(), v.map(String::from))),
        (id.clone(), arb_groups()).prop_map(|(i, g)| Op::Groups(i, g)),
        id.clone().prop_map(Op::Remove),
        id.prop_flat_map(arb_customer).prop_map(Op::Readd),
    ]
}

/// Applies `op` to both the plain customers and the index.
fn apply(people: &mut Vec<CustomerFacts>, index: &mut SegmentIndex, op: Op) {
    let find = |people: &mut Vec<CustomerFacts>, id: u32| people.iter_mut().position(|c| c.id == id);
    let pos = match &op {
        Op::Readd(c) => find(people, c.id),
        Op::Tag(i, ..)
        | Op::Store(i, ..)
        | Op::Stage(i, _)
        | Op::Rfm(i, ..)
        | Op::Orders(i, _)
        | Op::Influence(i, _)
        | Op::Active(i, _)
        | Op::Added(i, _)
        | Op::Spent(i, _)
        | Op::Field(i, ..)
        | Op::Groups(i, _)
        | Op::Remove(i) => find(people, *i),
    };
    let applied = match op {
        Op::Readd(c) => {
            index.insert(&c);
            match pos {
                Some(p) => people[p] = c,
                None => people.push(c),
            }
            return;
        }
        Op::Remove(i) => {
            if let Some(p) = pos {
                people.remove(p);
            }
            index.remove_customer(i)
        }
        Op::Tag(i, t, on) => {
            if let Some(p) = pos {
                if on {
                    people[p].tags.insert(t.clone());
                } else {
                    people[p].tags.remove(&t);
                }
            }
            index.set_tag(i, &t, on)
        }
        Op::Store(i, s, on) => {
            if let Some(p) = pos {
                if on {
                    people[p].stores.insert(s);
                } else {
                    people[p].stores.remove(&s);
                }
            }
            index.set_store(i, s, on)
        }
        Op::Stage(i, s) => {
            if let Some(p) = pos {
                people[p].stage = s;
            }
            index.set_stage(i, s)
        }
        Op::Rfm(i, d, b) => {
            if let Some(p) = pos {
                people[p].rfm[d.index()] = b;
            }
            index.set_rfm(i, d, b)
        }
        Op::Orders(i, o) => {
            if let Some(p) = pos {
                people[p].orders = o;
            }
            index.set_value(i, Value::Orders(o))
        }
        Op::Influence(i, n) => {
            if let Some(p) = pos {
                people[p].influence = n;
            }
            index.set_value(i, Value::Influence(n))
        }
        Op::Active(i, a) => {
            if let Some(p) = pos {
                people[p].last_active = a;
            }
            index.set_value(i, Value::LastActive(a))
        }
        Op::Added(i, a) => {
            if let Some(p) = pos {
                people[p].added_at = a;
            }
            index.set_value(i, Value::AddedAt(a))
        }
        Op::Spent(i, f) => {
            if let Some(p) = pos {
                people[p].spent_fen = f;
            }
            index.set_value(i, Value::SpentFen(f))
        }
        Op::Field(i, n, v) => {
            if let Some(p) = pos {
                match &v {
                    Some(v) => _ = people[p].fields.insert(n.clone(), v.clone()),
                    None => _ = people[p].fields.remove(&n),
                }
            }
            index.set_value(i, Value::Field { name: n, value: v })
        }
        Op::Groups(i, g) => {
            if let Some(p) = pos {
                people[p].groups = g.clone();
            }
            index.set_groups(i, &g)
        }
    };
    assert_eq!(applied, pos.is_some(), "mutations apply to present customers only");
}

fn build(people: &[CustomerFacts]) -> SegmentIndex {
    let mut index = SegmentIndex::new();
    for (id, at) in stores() {
        index.set_store_location(id, Some(at));
    }
    people.iter().for_each(|c| index.insert(c));
    index
}

fn naive(people: &[CustomerFacts], e: &Expr) -> BTreeSet<u32> {
    let s = stores();
    people.iter().filter(|c| matches(c, e, &s)).map(|c| c.id).collect()
}

fn arb_people() -> impl Strategy<Value = Vec<CustomerFacts>> {
    (1u32..300).prop_flat_map(|n| (0..n).map(arb_customer).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn index_agrees_with_the_naive_evaluator(
        people in arb_people(),
        exprs in prop::collection::vec(arb_expr(), 8),
        ops in prop::collection::vec(arb_op(300), 0..200),
    ) {
        let mut people = people;
        let mut index = build(&people);
        for e in &exprs {
            let got: BTreeSet<u32> = index.evaluate(e).iter().collect();
            prop_assert_eq!(&got, &naive(&people, e), "{}", e);
            prop_assert_eq!(index.count(e), got.len() as u64);
        }
        for op in ops {
            apply(&mut people, &mut index, op);
        }
        prop_assert_eq!(index.len(), people.len() as u64);
        for e in &exprs {
            let got: BTreeSet<u32> = index.evaluate(e).iter().collect();
            prop_assert_eq!(&got, &naive(&people, e), "after mutations: {}", e);
            prop_assert_eq!(index.ids(e), got.iter().copied().collect::<Vec<_>>());
        }
    }
}

fn tagged(n: u32) -> SegmentIndex {
    let mut index = SegmentIndex::new();
    for id in 0..n {
        index.add_customer(id);
        index.set_tag(id, if id % 2 == 0 { "even" } else { "odd" }, true);
    }
    index
}

#[test]
fn sample_spreads_and_is_bounded() {
    let index = tagged(1000);
    let e = Expr::parse("tag:even").unwrap();
    let s = index.sample(&e, 5);
    assert_eq!(s, [0, 200, 400, 600, 800]);
    assert_eq!(index.sample(&e, 10_000).len(), 500);
    assert!(index.sample(&Expr::parse("tag:none").unwrap(), 3).is_empty());
}

#[test]
fn not_is_the_complement_within_the_universe() {
    let mut index = tagged(10);
    assert_eq!(index.count(&Expr::parse("NOT tag:even").unwrap()), 5);
    index.remove_customer(1);
    assert_eq!(index.count(&Expr::parse("NOT tag:even").unwrap()), 4);
    assert_eq!(index.count(&Expr::parse("stage:new").unwrap()), 9);
    index.set_stage(0, Stage::Super);
    assert_eq!(index.count(&Expr::parse("stage:new").unwrap()), 8);
    assert_eq!(index.count(&Expr::parse("stage:super").unwrap()), 1);
    assert!(!index.set_tag(1, "even", true), "removed customers stay removed");
}

#[test]
fn ids_walk_dense_and_sparse_containers() {
    let mut index = SegmentIndex::new();
    for id in 0..200_000 {
        index.add_customer(id);
        // Dense in the first 64K ids, sparse in the rest.
        let on = if id < 65_536 { id % 3 != 0 } else { id % 97 == 0 };
        index.set_tag(id, "t", on);
    }
    let e = Expr::parse("tag:t").unwrap();
    assert_eq!(index.ids(&e), index.evaluate(&e).iter().collect::<Vec<_>>());
    let not = Expr::parse("NOT tag:t").unwrap();
    assert_eq!(index.ids(&not), index.evaluate(&not).iter().collect::<Vec<_>>());
    assert!(index.ids(&Expr::parse("tag:none").unwrap()).is_empty());
}

#[test]
// `is_multiple_of` is newer than the Rust koi declares (1.85).
#[allow(clippy::manual_is_multiple_of)]
fn set_algebra_agrees_over_dense_sparse_and_missing_containers() {
    // Evaluation reads stored sets container by container: dense ones
    // as words, sparse ones as lists, absent ones as nothing, and the
    // universe has holes (removed customers).
    let dense = |id: u32| match id >> 16 {
        0 | 3 => id % 3 != 0,
        1 => id % 101 == 0,
        2 => false,
        _ => id % 2 == 0,
    };
    let sparse = |id: u32| id % 89 == 0;
    let odd = |id: u32| id % 2 == 1;
    let mut index = SegmentIndex::new();
    for id in 0..300_000u32 {
        index.add_customer(id);
        index.set_tag(id, "d", dense(id));
        index.set_tag(id, "s", sparse(id));
        index.set_tag(id, "o", odd(id));
        index.set_value(id, Value::AddedAt(i64::from(id) * 1000));
    }
    let present = |id: u32| id % 1000 != 5;
    (0..300_000).filter(|&id| !present(id)).for_each(|id| _ = index.remove_customer(id));
    let added = |id: u32| (50_000..150_000).contains(&id);
    let cases: [(&str, &dyn Fn(u32) -> bool); 8] = [
        ("tag:d AND tag:o", &|id| dense(id) && odd(id)),
        ("tag:d OR tag:s", &|id| dense(id) || sparse(id)),
        ("NOT tag:d AND tag:o", &|id| !dense(id) && odd(id)),
        ("tag:d AND NOT tag:s", &|id| dense(id) && !sparse(id)),
        ("NOT (tag:d OR tag:o)", &|id| !(dense(id) || odd(id))),
        ("tag:s OR NOT tag:d", &|id| sparse(id) || !dense(id)),
        ("(tag:d OR added:50000000..150000000) AND NOT tag:s", &|id| (dense(id) || added(id)) && !sparse(id)),
        ("tag:s AND (tag:o OR NOT added:50000000..150000000)", &|id| sparse(id) && (odd(id) || !added(id))),
    ];
    for (text, want) in cases {
        let e = Expr::parse(text).unwrap();
        let expected: Vec<u32> = (0..300_000).filter(|&id| present(id) && want(id)).collect();
        assert_eq!(index.ids(&e), expected, "{text}");
        assert_eq!(index.count(&e), expected.len() as u64, "{text}");
        assert_eq!(index.evaluate(&e).iter().collect::<Vec<_>>(), expected, "{text}");
    }
}

#[test]
fn column_scans_agree_past_one_container() {
    // Big enough for the vectorised pass (not the per-survivor test).
    let mut index = SegmentIndex::new();
    for id in 0..150_000u32 {
        index.add_customer(id);
        let t = i64::from(id) * 1000 + if id % 1000 == 7 { 1 } else { 0 };
        index.set_value(id, Value::AddedAt(t));
        index.set_value(id, Value::LastActive((id % 5 != 0).then_some(t)));
    }
    index.remove_customer(10);
    let n = |s: &str| index.count(&Expr::parse(s).unwrap());
    assert_eq!(n("added:0..100000000"), 99_999);
    assert_eq!(n("added:7001..7002"), 1);
    // Never active counts as "not since"; id 10 was removed.
    assert_eq!(n("active<5000"), 4 + 30_000 - 1);
    assert_eq!(n("active>=7001"), 119_995);
}

#[test]
fn bands_stay_exact_as_values_arrive_and_move() {
    // Dates arrive ascending (the newest band keeps overflowing and the
    // bands rebalance), then values jump across bands both ways.
    let n = 50_000u32;
    let mut rng = 7u64;
    let mut next = move |m: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % m
    };
    let mut index = SegmentIndex::new();
    let (mut added, mut spent) = (Vec::new(), Vec::new());
    for id in 0..n {
        index.add_customer(id);
        let a = i64::from(id) * 1000 + if id % 97 == 0 { 1 } else { 0 };
        let f = if next(10) < 7 { 0 } else { next(100_000) as i64 };
        index.set_value(id, Value::AddedAt(a));
        index.set_value(id, Value::SpentFen(f));
        added.push(a);
        spent.push(f);
    }
    for _ in 0..20_000 {
        let id = next(u64::from(n)) as usize;
        added[id] = next(u64::from(n) * 1000) as i64;
        spent[id] = if next(2) == 0 { 0 } else { next(100_000) as i64 };
        index.set_value(id as u32, Value::AddedAt(added[id]));
        index.set_value(id as u32, Value::SpentFen(spent[id]));
    }
    for _ in 0..200 {
        let (from, to) = (next(u64::from(n) * 1000) as i64, next(u64::from(n) * 1000) as i64);
        let e = Expr::Cond(Cond::AddedBetween { from_ms: from.min(to), to_ms: from.max(to) });
        let want = added.iter().filter(|&&a| from.min(to) <= a && a < from.max(to)).count();
        assert_eq!(index.count(&e), want as u64, "{e}");
        let f = next(100_001) as i64;
        let want = spent.iter().filter(|&&s| s >= f).count();
        assert_eq!(index.count(&Expr::Cond(Cond::SpentAtLeast(f))), want as u64, "spent>={f}");
    }
    assert!(index.added_at.bounds.len() > 100, "the bands were built");
}

#[test]
fn group_terms_follow_joins_leaves_and_kinds() {
    let mut index = tagged(6);
    let g = |pairs: &[(i64, GroupKind)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
    index.set_groups(0, &g(&[(10, GroupKind::Paid), (11, GroupKind::Education)]));
    index.set_groups(1, &g(&[(10, GroupKind::Paid)]));
    index.set_groups(2, &g(&[(12, GroupKind::Paid)]));
    let n = |index: &SegmentIndex, s: &str| index.ids(&Expr::parse(s).unwrap());
    assert_eq!(n(&index, "groupkind:paid"), [0, 1, 2]);
    assert_eq!(n(&index, "group:10"), [0, 1]);
    assert_eq!(n(&index, "in_groups>=2"), [0]);
    assert_eq!(n(&index, "NOT in_groups>=1"), [3, 4, 5]);
    // Customer 0 leaves group 10; 2's group becomes a VIP group.
    index.set_groups(0, &g(&[(11, GroupKind::Education)]));
    index.set_groups(2, &g(&[(12, GroupKind::Vip)]));
    assert_eq!(n(&index, "groupkind:paid"), [1]);
    assert_eq!(n(&index, "group:10"), [1]);
    assert_eq!(n(&index, "groupkind:vip OR groupkind:education"), [0, 2]);
    assert_eq!(n(&index, "in_groups>=2"), Vec::<u32>::new());
    // A group dismissed: its last member's groups are empty.
    index.set_groups(1, &BTreeMap::new());
    assert!(n(&index, "group:10").is_empty());
    index.remove_customer(0);
    assert!(n(&index, "group:11").is_empty(), "a removed customer leaves their groups");
}

#[test]
fn bytes_per_customer_is_a_small_positive_number() {
    let index = tagged(100_000);
    let b = index.bytes_per_customer();
    assert!(b > 15.0 && b < 18.0, "{b}");
    assert_eq!(SegmentIndex::new().bytes_per_customer(), 0.0);
}
