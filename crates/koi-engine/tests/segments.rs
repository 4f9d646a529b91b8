//! Segments against the database, on SQLite and PostgreSQL: random data is
//! written through the store (customers, follows won and lost, tags, custom
//! fields, counters, homes, group joins, leaves and kind changes), random expressions are evaluated by the engine's
//! in-memory index, and every answer must equal a naive filter over a model
//! of exactly what was written. Between rounds the data changes at random,
//! and the next query must already see the changes (the change log).

use koi_domain::access::{Principal, Role};
use koi_domain::group::GroupKind;
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_domain::segment::{matches, Cond, CustomerFacts, Expr, FieldOp, GroupRef, RfmDim, Stage, StoreLocations};
use koi_engine::customers::SegmentInput;
use koi_engine::{Engine, EngineError, Settings};
use koi_store::acquisition::{CustomerProfile, NewFollow};
use koi_store::customers::TagRow;
use koi_store::Db;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const TAGS: [&str; 6] = ["etA", "etB", "etC", "etD", "etE", "etF"];
const FIELD_VALUES: [&str; 5] = ["38", "40", "4", "干性", "油性敏感"];
const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_equals_naive_filter_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    index_equals_naive_filter(&s.db, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_equals_naive_filter_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    index_equals_naive_filter(&s.db, 12).await;
}

/// The world as the test wrote it.
struct Model {
    corp_id: i64,
    stores: Vec<i64>,
    locations: StoreLocations,
    staff: Vec<(i64, i64)>, // (staff id, store id)
    codes: Vec<i64>,
    /// Customer id → facts (id = the dense number koi gave it).
    customers: BTreeMap<i64, CustomerFacts>,
    /// Live follows: (customer, staff) → (store, code); lost ones keep their code.
    follows: BTreeMap<(i64, i64), (i64, i64, bool)>,
    /// Customer groups and their kinds.
    groups: BTreeMap<i64, GroupKind>,
    /// Present stays: (group, customer) → the stay's row id.
    stays: BTreeMap<(i64, i64), i64>,
    /// WeCom join times, each new (seconds).
    joins: i64,
}

impl Model {
    fn refresh_sets(&mut self) {
        for f in self.customers.values_mut() {
            f.stores.clear();
            f.staff.clear();
            f.codes.clear();
        }
        for f in self.customers.values_mut() {
            f.groups.clear();
        }
        for &(g, c) in self.stays.keys() {
            self.customers.get_mut(&c).expect("a customer").groups.insert(g, self.groups[&g]);
        }
        for (&(c, s), &(store, code, live)) in &self.follows {
            let f = self.customers.get_mut(&c).expect("a customer");
            f.codes.insert(code);
            if live {
                f.staff.insert(s);
                f.stores.insert(store);
            }
        }
    }
}

async fn index_equals_naive_filter(db: &Db, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let engine = Engine::new(db.clone(), Settings::default());
    let mut m = setup(db).await;
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    for _ in 0..120 {
        add_customer(db, &mut m, &mut rng).await;
    }
    m.refresh_sets();
    for round in 0..4 {
        for case in 0..60 {
            let depth = rng.gen_range(1..=4);
            let e = random_expr(&mut rng, &m, depth);
            let got =
                engine.evaluate_segment(&owner, &SegmentInput::Json(e.clone()), 0, true).await.expect("evaluates");
            let mut got_ids = got.ids.expect("ids asked for");
            got_ids.sort_unstable();
            let want: Vec<i64> =
                m.customers.iter().filter(|(_, f)| matches(f, &e, &m.locations)).map(|(&id, _)| id).collect();
            assert_eq!(got_ids, want, "round {round} case {case}: {e}");
            assert_eq!(got.count as usize, want.len());
        }
        // Change the data; the next query must see it.
        for _ in 0..40 {
            mutate(db, &mut m, &mut rng).await;
        }
        m.refresh_sets();
    }
    // A store manager sees only customers of their store.
    let store = m.stores[0];
    let manager = Principal { role: Role::StoreManager, store_ids: vec![store], ..owner.clone() };
    let e = Expr::Not(Box::new(Cond::Tag("etA".into()).into()));
    let got = engine.evaluate_segment(&manager, &SegmentInput::Json(e.clone()), 0, false).await.unwrap();
    assert_eq!(got.expr, "NOT tag:etA", "the manager's own expression comes back, without the store scope");
    let scoped = Expr::And(vec![e, Cond::Store(store).into()]);
    let want = m.customers.values().filter(|f| matches(f, &scoped, &m.locations)).count();
    assert_eq!(got.count as usize, want);
}

async fn setup(db: &Db) -> Model {
    let d = CorpDraft {
        name: "seg".into(),
        wecom_corp_id: "wwseg".into(),
        app_secret: "secret".into(),
        callback_token: "token".into(),
        encoding_aes_key: "k".repeat(43),
    };
    let corp_id = db.create_corp(&d, T0).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let mut stores = Vec::new();
    let mut locations = StoreLocations::new();
    for (i, at) in [Some((31.23, 121.47)), Some((31.30, 121.55)), None].into_iter().enumerate() {
        let s = StoreDraft {
            code: format!("S{i}"),
            name: format!("店{i}"),
            lat: at.map(|a| a.0),
            lng: at.map(|a| a.1),
            ..Default::default()
        };
        let id = tx.insert_store(corp_id, &s, T0).await.unwrap();
        if let Some(p) = at {
            locations.insert(id, p);
        }
        stores.push(id);
    }
    let mut staff = Vec::new();
    for i in 0..4 {
        let store = stores[i % stores.len()];
        let s = StaffDraft {
            userid: format!("u{i}"),
            name: format!("导购{i}"),
            mobile: String::new(),
            active: true,
            store_ids: vec![store],
        };
        staff.push((tx.insert_staff(corp_id, &s, T0).await.unwrap(), store));
    }
    let (mut codes, draft) = (Vec::new(), koi_domain::channel::ChannelCodeDraft::default());
    for (i, &store) in stores.iter().enumerate() {
        codes.push(tx.insert_channel_code(corp_id, &format!("码{i}"), Some(store), &draft, T0).await.unwrap());
    }
    let mut groups = BTreeMap::new();
    for (i, kind) in [GroupKind::Paid, GroupKind::Education, GroupKind::Paid].into_iter().enumerate() {
        let g = tx.ensure_group(corp_id, &format!("wrSEG{i}")).await.unwrap();
        let state = koi_store::groups::GroupState { name: &format!("群{i}"), ..Default::default() };
        tx.claim_group_sync(g, &state, T0).await.unwrap();
        tx.set_group_kind_store(corp_id, g, Some(kind.as_str()), None).await.unwrap();
        groups.insert(g, kind);
    }
    for (i, t) in TAGS.iter().enumerate() {
        let row = TagRow {
            group_id: format!("etG{}", i / 3),
            group_name: format!("组{}", i / 3),
            group_order: 0,
            tag_id: t.to_string(),
            name: format!("标签{i}"),
            order: i as i64,
        };
        tx.upsert_tag(corp_id, &row, T0).await.unwrap();
    }
    tx.commit().await.unwrap();
    for name in ["size", "skin"] {
        db.insert_field_def(corp_id, name, name, r#"{"text":{"max_len":50}}"#, T0).await.unwrap();
    }
    Model {
        corp_id,
        stores,
        locations,
        staff,
        codes,
        customers: BTreeMap::new(),
        follows: BTreeMap::new(),
        groups,
        stays: BTreeMap::new(),
        joins: 0,
    }
}

async fn add_customer(db: &Db, m: &mut Model, rng: &mut StdRng) {
    let n = m.customers.len();
    let added_at = T0 - rng.gen_range(0..60) * DAY;
    let p =
        CustomerProfile { external_userid: format!("wm{n}"), name: format!("客{n}"), kind: 1, ..Default::default() };
    let mut tx = db.begin().await.unwrap();
    let (id, new) = tx.upsert_customer(m.corp_id, &p, None, None, added_at, T0).await.unwrap();
    assert!(new);
    tx.commit().await.unwrap();
    let row = db.customer_activity(m.corp_id, id).await.unwrap().unwrap();
    let facts = CustomerFacts { id: u32::try_from(row.no).unwrap(), added_at, ..Default::default() };
    m.customers.insert(id, facts);
    for _ in 0..rng.gen_range(0..=2) {
        follow(db, m, rng, id).await;
    }
    for _ in 0..rng.gen_range(0..=3) {
        set_tag(db, m, rng, id, true).await;
    }
    if rng.gen_bool(0.5) {
        set_activity(db, m, rng, id).await;
    }
    if rng.gen_bool(0.4) {
        set_field(db, m, rng, id).await;
    }
    for _ in 0..rng.gen_range(0..=2) {
        join_group(db, m, rng, id).await;
    }
}

/// The customer joins a random group (nothing when they are in it).
async fn join_group(db: &Db, m: &mut Model, rng: &mut StdRng, customer: i64) {
    let groups: Vec<i64> = m.groups.keys().copied().collect();
    let g = groups[rng.gen_range(0..groups.len())];
    if m.stays.contains_key(&(g, customer)) {
        return;
    }
    m.joins += 1;
    let userid = format!("wmc{customer}");
    let member = koi_store::groups::NewMember {
        userid: &userid,
        member_type: "customer",
        customer_id: Some(customer),
        join_time: T0 / 1000 + m.joins,
        ..Default::default()
    };
    let mut tx = db.begin().await.unwrap();
    assert!(tx.insert_group_member(m.corp_id, g, &member).await.unwrap());
    let row = tx.present_members(m.corp_id, g).await.unwrap().into_iter().find(|r| r.userid == userid).unwrap();
    tx.commit().await.unwrap();
    m.stays.insert((g, customer), row.id);
}

/// A random present stay ends.
async fn leave_group(db: &Db, m: &mut Model, rng: &mut StdRng) {
    let stays: Vec<((i64, i64), i64)> = m.stays.iter().map(|(k, v)| (*k, *v)).collect();
    let Some(&(key, row)) = stays.get(rng.gen_range(0..stays.len().max(1))) else { return };
    let mut tx = db.begin().await.unwrap();
    assert!(tx.end_group_member(row, T0 + 1).await.unwrap());
    tx.commit().await.unwrap();
    m.stays.remove(&key);
}

/// A random group becomes of a random kind.
async fn change_group_kind(db: &Db, m: &mut Model, rng: &mut StdRng) {
    let groups: Vec<i64> = m.groups.keys().copied().collect();
    let g = groups[rng.gen_range(0..groups.len())];
    let kind = GroupKind::ALL[rng.gen_range(0..GroupKind::ALL.len())];
    let mut tx = db.begin().await.unwrap();
    tx.set_group_kind_store(m.corp_id, g, Some(kind.as_str()), None).await.unwrap();
    tx.commit().await.unwrap();
    m.groups.insert(g, kind);
}

async fn follow(db: &Db, m: &mut Model, rng: &mut StdRng, customer: i64) {
    let (staff, store) = m.staff[rng.gen_range(0..m.staff.len())];
    let code = m.codes[rng.gen_range(0..m.codes.len())];
    let f = NewFollow {
        corp_id: m.corp_id,
        customer_id: customer,
        staff_id: staff,
        added_at: T0 + rng.gen_range(0..1000),
        add_way: 1,
        state: "",
        code_id: Some(code),
        store_id: Some(store),
        returning: false,
    };
    let mut tx = db.begin().await.unwrap();
    tx.upsert_follow(&f, T0).await.unwrap();
    tx.commit().await.unwrap();
    m.follows.insert((customer, staff), (store, code, true));
}

async fn set_tag(db: &Db, m: &mut Model, rng: &mut StdRng, customer: i64, on: bool) {
    let tag = TAGS[rng.gen_range(0..TAGS.len())];
    let mut tx = db.begin().await.unwrap();
    if on {
        tx.tag_customer(m.corp_id, customer, tag, "test", T0).await.unwrap();
        m.customers.get_mut(&customer).unwrap().tags.insert(tag.into());
    } else {
        tx.untag_customer(m.corp_id, customer, tag).await.unwrap();
        m.customers.get_mut(&customer).unwrap().tags.remove(tag);
    }
    tx.commit().await.unwrap();
}

async fn set_activity(db: &Db, m: &mut Model, rng: &mut StdRng, customer: i64) {
    let mut row = db.customer_activity(m.corp_id, customer).await.unwrap().unwrap();
    let f = m.customers.get_mut(&customer).unwrap();
    f.stage = Stage::ALL[rng.gen_range(0..5)];
    f.rfm = [0, 1, 2].map(|_| rng.gen_bool(0.7).then(|| rng.gen_range(1..=5u8)));
    f.orders = rng.gen_range(0..6);
    f.spent_fen = i64::from(f.orders) * rng.gen_range(0..50_000);
    f.last_active = rng.gen_bool(0.7).then(|| T0 - rng.gen_range(0..90) * DAY);
    f.influence = rng.gen_range(0..30);
    f.home = rng.gen_bool(0.6).then(|| (31.2 + rng.gen_range(0.0..0.2f32), 121.4 + rng.gen_range(0.0..0.2f32)));
    row.stage = f.stage.as_str().into();
    [row.rfm_r, row.rfm_f, row.rfm_m] = f.rfm.map(|b| b.map(i32::from));
    row.orders = f.orders as i32;
    row.spent_fen = f.spent_fen;
    row.last_active_at = f.last_active;
    row.influence = f.influence as i32;
    // What the index keeps is f32; the database keeps what it is given.
    (row.home_lat, row.home_lng) = (f.home.map(|h| f64::from(h.0)), f.home.map(|h| f64::from(h.1)));
    let mut tx = db.begin().await.unwrap();
    tx.set_customer_activity(m.corp_id, &row).await.unwrap();
    tx.commit().await.unwrap();
}

async fn set_field(db: &Db, m: &mut Model, rng: &mut StdRng, customer: i64) {
    let name = ["size", "skin"][rng.gen_range(0..2)];
    let value = rng.gen_bool(0.8).then(|| FIELD_VALUES[rng.gen_range(0..FIELD_VALUES.len())]);
    let mut tx = db.begin().await.unwrap();
    tx.set_customer_field(m.corp_id, customer, name, value, T0).await.unwrap();
    tx.commit().await.unwrap();
    let f = m.customers.get_mut(&customer).unwrap();
    match value {
        Some(v) => f.fields.insert(name.into(), v.into()),
        None => f.fields.remove(name),
    };
}

async fn mutate(db: &Db, m: &mut Model, rng: &mut StdRng) {
    let ids: Vec<i64> = m.customers.keys().copied().collect();
    let c = ids[rng.gen_range(0..ids.len())];
    match rng.gen_range(0..10) {
        7 => join_group(db, m, rng, c).await,
        8 => leave_group(db, m, rng).await,
        9 => change_group_kind(db, m, rng).await,
        0 => add_customer(db, m, rng).await,
        1 => set_tag(db, m, rng, c, true).await,
        2 => set_tag(db, m, rng, c, false).await,
        3 => follow(db, m, rng, c).await,
        4 => {
            let live: Vec<(i64, i64)> = m.follows.iter().filter(|(_, v)| v.2).map(|(k, _)| *k).collect();
            if let Some(&(customer, staff)) = live.get(rng.gen_range(0..live.len().max(1))) {
                let mut tx = db.begin().await.unwrap();
                tx.mark_follow_deleted(m.corp_id, customer, staff, "customer", T0 + 5_000).await.unwrap();
                tx.commit().await.unwrap();
                m.follows.get_mut(&(customer, staff)).unwrap().2 = false;
            }
        }
        5 => set_activity(db, m, rng, c).await,
        _ => set_field(db, m, rng, c).await,
    }
}

fn random_cond(rng: &mut StdRng, m: &Model) -> Cond {
    let pick = |rng: &mut StdRng, v: &[i64]| v[rng.gen_range(0..v.len())];
    match rng.gen_range(0..15) {
        13 => {
            let groups: Vec<i64> = m.groups.keys().copied().collect();
            Cond::Group(GroupRef::Id(groups[rng.gen_range(0..groups.len())]))
        }
        14 => match rng.gen_range(0..3) {
            0 => Cond::InGroupsAtLeast(rng.gen_range(0..4)),
            _ => Cond::GroupKind(GroupKind::ALL[rng.gen_range(0..4)]),
        },
        0 | 1 => Cond::Tag(TAGS[rng.gen_range(0..TAGS.len())].into()),
        2 => Cond::Store(pick(rng, &m.stores)),
        3 => Cond::Staff(m.staff[rng.gen_range(0..m.staff.len())].0),
        4 => Cond::Code(pick(rng, &m.codes)),
        5 => Cond::Stage(Stage::ALL[rng.gen_range(0..5)]),
        6 => Cond::Rfm { dim: RfmDim::ALL[rng.gen_range(0..3)], band: rng.gen_range(1..=5) },
        7 => {
            let from = T0 - rng.gen_range(0..60) * DAY;
            Cond::AddedBetween { from_ms: from, to_ms: from + rng.gen_range(1..30) * DAY }
        }
        8 => {
            let t = T0 - rng.gen_range(0..90) * DAY;
            if rng.gen_bool(0.5) {
                Cond::LastActiveBefore(t)
            } else {
                Cond::LastActiveAfter(t)
            }
        }
        9 => match rng.gen_range(0..3) {
            0 => Cond::OrdersAtLeast(rng.gen_range(0..6)),
            1 => Cond::SpentAtLeast(rng.gen_range(0..200_000)),
            _ => Cond::InfluenceAtLeast(rng.gen_range(0..30)),
        },
        10 | 11 => Cond::Field {
            name: ["size", "skin"][rng.gen_range(0..2)].into(),
            op: FieldOp::ALL[rng.gen_range(0..FieldOp::ALL.len())],
            value: FIELD_VALUES[rng.gen_range(0..FIELD_VALUES.len())].into(),
        },
        _ => Cond::WithinKm { store_id: pick(rng, &m.stores), km: rng.gen_range(0.0..25.0) },
    }
}

fn random_expr(rng: &mut StdRng, m: &Model, depth: u32) -> Expr {
    if depth <= 1 {
        return random_cond(rng, m).into();
    }
    match rng.gen_range(0..5) {
        0 => Expr::Not(Box::new(random_expr(rng, m, depth - 1))),
        k => {
            let v = (0..rng.gen_range(1..=3)).map(|_| random_expr(rng, m, depth - 1)).collect();
            if k % 2 == 0 {
                Expr::And(v)
            } else {
                Expr::Or(v)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_names_are_seen_by_the_next_evaluation_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    new_names_are_seen_by_the_next_evaluation(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_names_are_seen_by_the_next_evaluation_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    new_names_are_seen_by_the_next_evaluation(&s.db).await;
}

/// The index keeps what expressions can name. Two nodes (engines) have
/// loaded it; tags, stores, staff, codes and fields written after that —
/// through the store, as a third node would — are known to the very next
/// evaluation on both, a renamed or deleted tag is no longer, and a store
/// that moves takes `within:` with it.
async fn new_names_are_seen_by_the_next_evaluation(db: &Db) {
    let m = setup(db).await;
    let nodes = [Engine::new(db.clone(), Settings::default()), Engine::new(db.clone(), Settings::default())];
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    // The answer on every node, which must agree.
    let eval = |text: String| {
        let (nodes, owner) = (nodes.clone(), owner.clone());
        async move {
            let mut answers = Vec::new();
            for node in &nodes {
                let got = node.evaluate_segment(&owner, &SegmentInput::Text(text.clone()), 0, false).await;
                answers.push(got.map(|r| (r.expr, r.count)).map_err(|e| match e {
                    EngineError::BadExpression(e) => e.code,
                    e => panic!("{text}: {e}"),
                }));
            }
            assert_eq!(answers[0], answers[1], "{text}: the nodes disagree");
            answers.remove(0)
        }
    };
    let tag = |name: &str| TagRow {
        group_id: "etG9".into(),
        group_name: "组9".into(),
        group_order: 0,
        tag_id: "etVIP".into(),
        name: name.into(),
        order: 0,
    };
    assert_eq!(eval("tag:VIP".into()).await, Err("unknown_tag"), "both nodes have loaded the names");
    assert_eq!(eval("field:shoe=38".into()).await, Err("unknown_field"));

    let mut tx = db.begin().await.unwrap();
    tx.upsert_tag(m.corp_id, &tag("VIP"), T0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(eval("tag:VIP".into()).await, Ok(("tag:etVIP".into(), 0)), "a new tag, by name");
    let mut tx = db.begin().await.unwrap();
    tx.upsert_tag(m.corp_id, &tag("Gold"), T0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(eval("tag:Gold".into()).await, Ok(("tag:etVIP".into(), 0)), "a renamed tag");
    assert_eq!(eval("tag:VIP".into()).await, Err("unknown_tag"), "the old name is gone");
    let mut tx = db.begin().await.unwrap();
    tx.delete_tag(m.corp_id, "etVIP").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(eval("tag:etVIP".into()).await, Err("unknown_tag"), "a deleted tag");

    // A customer living in Beijing, and a new store in Shanghai.
    let mut tx = db.begin().await.unwrap();
    let p = CustomerProfile { external_userid: "wmhome".into(), kind: 1, ..Default::default() };
    let (customer, _) = tx.upsert_customer(m.corp_id, &p, None, None, T0, T0).await.unwrap();
    tx.commit().await.unwrap();
    let mut row = db.customer_activity(m.corp_id, customer).await.unwrap().unwrap();
    (row.home_lat, row.home_lng) = (Some(39.91), Some(116.41));
    let far =
        StoreDraft {
            code: "S9".into(), name: "店9".into(), lat: Some(31.23), lng: Some(121.47), ..Default::default()
        };
    let mut tx = db.begin().await.unwrap();
    tx.set_customer_activity(m.corp_id, &row).await.unwrap();
    let store = tx.insert_store(m.corp_id, &far, T0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(eval(format!("store:{store}")).await, Ok((format!("store:{store}"), 0)), "a new store");
    assert_eq!(eval(format!("within:{store}:5km")).await.map(|r| r.1), Ok(0));
    let mut tx = db.begin().await.unwrap();
    let near = StoreDraft { lat: Some(39.9), lng: Some(116.4), ..far };
    assert!(tx.update_store(m.corp_id, store, &near, T0).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(eval(format!("within:{store}:5km")).await.map(|r| r.1), Ok(1), "the store moved next to them");

    let staff = StaffDraft {
        userid: "u9".into(),
        name: "导购9".into(),
        mobile: String::new(),
        active: true,
        store_ids: vec![store],
    };
    let mut tx = db.begin().await.unwrap();
    let staff = tx.insert_staff(m.corp_id, &staff, T0).await.unwrap();
    let code = tx.insert_channel_code(m.corp_id, "码9", Some(store), &Default::default(), T0).await.unwrap();
    tx.commit().await.unwrap();
    db.insert_field_def(m.corp_id, "shoe", "鞋码", r#"{"text":{"max_len":50}}"#, T0).await.unwrap();
    for text in [format!("staff:{staff}"), format!("code:{code}"), "field:shoe=38".into()] {
        assert_eq!(eval(text.clone()).await.map(|r| r.1), Ok(0), "{text}");
    }
    db.delete_channel_code(m.corp_id, code).await.unwrap();
    db.delete_field_def(m.corp_id, "shoe").await.unwrap();
    assert_eq!(eval(format!("code:{code}")).await, Err("unknown_code"), "a deleted code");
    assert_eq!(eval("field:shoe=38".into()).await, Err("unknown_field"), "a deleted field");

    // A group by name, renamed in WeCom, and a group no one has.
    let g = *m.groups.keys().next().expect("a group");
    assert_eq!(eval("group:\"群0\"".into()).await, Ok((format!("group:{g}"), 0)), "a group by its name");
    let mut tx = db.begin().await.unwrap();
    let renamed = koi_store::groups::GroupState { name: "会员福利群", ..Default::default() };
    assert!(tx.claim_group_sync(g, &renamed, T0 + 1).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(eval("group:\"会员福利群\"".into()).await, Ok((format!("group:{g}"), 0)), "a renamed group");
    assert_eq!(eval("group:\"群0\"".into()).await, Err("unknown_group"), "the old name is gone");
    assert_eq!(eval("group:999999".into()).await, Err("unknown_group"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_and_date_fields_compare_exactly_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    number_and_date_fields_compare_exactly(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_and_date_fields_compare_exactly_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    number_and_date_fields_compare_exactly(&s.db).await;
}

/// `field:shoe_size>=35` counts the customers whose size is at least 35
/// (it once read as `>` the text "=35" and counted none); `<=` and `!=`
/// count exactly too, and a value that is not a number or a date for such
/// a field is refused where it stands.
async fn number_and_date_fields_compare_exactly(db: &Db) {
    let m = setup(db).await;
    let engine = Engine::new(db.clone(), Settings::default());
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    db.insert_field_def(m.corp_id, "shoe_size", "鞋码", r#"{"number":{"min":30.0,"max":45.0}}"#, T0).await.unwrap();
    db.insert_field_def(m.corp_id, "birthday", "生日", r#""date""#, T0).await.unwrap();
    // Sizes 33, 34, …, 40 (34.5 beside 34) and birthdays one a year from 1995.
    let sizes = ["33", "34", "34.5", "35", "36", "37", "38", "39", "40"];
    let mut tx = db.begin().await.unwrap();
    for (i, size) in sizes.iter().enumerate() {
        let p = CustomerProfile { external_userid: format!("wmsize{i}"), kind: 1, ..Default::default() };
        let (id, _) = tx.upsert_customer(m.corp_id, &p, None, None, T0, T0).await.unwrap();
        tx.set_customer_field(m.corp_id, id, "shoe_size", Some(size), T0).await.unwrap();
        let birthday = format!("{}-05-01", 1995 + i);
        tx.set_customer_field(m.corp_id, id, "birthday", Some(&birthday), T0).await.unwrap();
    }
    // One customer without either field, who matches no comparison.
    let p = CustomerProfile { external_userid: "wmbare".into(), kind: 1, ..Default::default() };
    tx.upsert_customer(m.corp_id, &p, None, None, T0, T0).await.unwrap();
    tx.commit().await.unwrap();
    let eval = |text: &str| {
        let (engine, owner, text) = (engine.clone(), owner.clone(), text.to_string());
        async move {
            match engine.evaluate_segment(&owner, &SegmentInput::Text(text.clone()), 0, false).await {
                Ok(r) => Ok((r.expr, r.count)),
                Err(EngineError::BadExpression(e)) => Err((e.code, e.offset, e.token)),
                Err(e) => panic!("{text}: {e}"),
            }
        }
    };
    let count = |text: &'static str| {
        let eval = &eval;
        async move { eval(text).await.unwrap_or_else(|e| panic!("{text}: {e:?}")).1 }
    };
    assert_eq!(count("field:shoe_size>=35").await, 6);
    assert_eq!(count("field:shoe_size>35").await, 5);
    assert_eq!(count("field:shoe_size<=34.5").await, 3);
    assert_eq!(count("field:shoe_size<35").await, 3);
    assert_eq!(count("field:shoe_size!=35").await, 8, "everyone with a size but 35");
    assert_eq!(count("field:shoe_size=035").await, 1, "the value takes the stored form");
    assert_eq!(count("NOT field:shoe_size>=35").await, 4, "the customer without a size too");
    assert_eq!(count("field:birthday>=2000-05-01").await, 4);
    assert_eq!(count("field:birthday<=2000/5/1").await, 6);
    assert_eq!(count("field:birthday!=1995-05-01").await, 8);
    assert_eq!(eval("field:shoe_size>=35").await.unwrap().0, "field:shoe_size>=35");
    for (text, want) in [
        ("field:shoe_size<abc", ("bad_number", 16, "abc")),
        ("field:shoe_size<NaN", ("bad_number", 16, "NaN")),
        ("stage:new OR field:shoe_size>=x1", ("bad_number", 30, "x1")),
        ("field:birthday<notadate", ("bad_date", 15, "notadate")),
    ] {
        let got = eval(text).await.unwrap_err();
        assert_eq!((got.0, got.1, got.2.as_str()), want, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_bulk_tagging_runs_as_a_job_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    a_large_bulk_tagging_runs_as_a_job(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_bulk_tagging_runs_as_a_job_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    a_large_bulk_tagging_runs_as_a_job(&s.db).await;
}

/// Over the inline limit, bulk tagging answers at once with a job, and the
/// worker tags everyone; the segment index sees it.
async fn a_large_bulk_tagging_runs_as_a_job(db: &Db) {
    use koi_domain::jobs::JobState;
    use koi_engine::customers::BulkTarget;
    use koi_engine::jobs::{Worker, WorkerConfig};
    let m = setup(db).await;
    let inline = 40;
    let n = inline + 5;
    let mut tx = db.begin().await.unwrap();
    for i in 0..n {
        let p = CustomerProfile { external_userid: format!("wmbulk{i}"), kind: 1, ..Default::default() };
        tx.upsert_customer(m.corp_id, &p, None, None, T0, T0).await.unwrap();
    }
    tx.commit().await.unwrap();
    // Pushes to WeCom go nowhere here (a closed port): only the tagging counts.
    let settings =
        Settings { wecom_base_url: "http://127.0.0.1:9".into(), bulk_inline_max: inline, ..Settings::default() };
    let engine = Engine::new(db.clone(), settings);
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    let everyone = BulkTarget::Segment(SegmentInput::Text("NOT tag:etF".into()));
    let out = engine.bulk_tag(&owner, &everyone, &["etF".to_string()], &[]).await.unwrap();
    assert_eq!((out.matched, out.changed), (n as u64, 0), "queued, not done yet");
    let job = out.job_id.expect("a job for a large tagging");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(Worker::new(engine.clone(), WorkerConfig::new("bulk-test")).run_until(stopped));
    let mut done = false;
    for _ in 0..600 {
        let finished = engine.jobs(&owner, Some(JobState::Done), 500).await.unwrap();
        if finished.iter().any(|j| j.id == job) {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert!(done, "the bulk job finished");
    let got = engine.evaluate_segment(&owner, &SegmentInput::Text("tag:etF".into()), 0, false).await.unwrap();
    assert_eq!(got.count, n as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_fresh_changes_than_a_page_are_all_seen_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    more_fresh_changes_than_a_page_are_all_seen(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_fresh_changes_than_a_page_are_all_seen_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    more_fresh_changes_than_a_page_are_all_seen(&s.db).await;
}

/// 12,000 change log entries inside the settle window (the reader pages
/// 10,000 at a time and re-reads the window): every one is applied, once.
async fn more_fresh_changes_than_a_page_are_all_seen(db: &Db) {
    let m = setup(db).await;
    let engine = Engine::new(db.clone(), Settings::default());
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    let count = |e: &'static str| {
        let engine = engine.clone();
        let owner = owner.clone();
        async move {
            let input = SegmentInput::Text(e.into());
            let evaluated = engine.evaluate_segment(&owner, &input, 0, false);
            // A reader that pages wrongly loops forever: fail instead.
            tokio::time::timeout(std::time::Duration::from_secs(60), evaluated).await.expect("answers").unwrap().count
        }
    };
    assert_eq!(count("tag:etA").await, 0, "the index is loaded before the burst");
    let n = 6_000;
    let mut tx = db.begin().await.unwrap();
    for i in 0..n {
        let p = CustomerProfile { external_userid: format!("wmburst{i}"), kind: 1, ..Default::default() };
        let (id, _) = tx.upsert_customer(m.corp_id, &p, None, None, T0, T0).await.unwrap();
        tx.tag_customer(m.corp_id, id, "etA", "test", T0).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(count("tag:etA").await, n);
    assert_eq!(count("NOT tag:etA").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_applies_time_rules_and_stages_on_sqlite() {
    let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
    the_sweep_applies_time_rules_and_stages(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_applies_time_rules_and_stages_on_postgres() {
    let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
    the_sweep_applies_time_rules_and_stages(&s.db).await;
}

/// Time alone moves customers: the hourly sweep tags those with no order
/// for N days (once) and moves stages, with events saying why.
async fn the_sweep_applies_time_rules_and_stages(db: &Db) {
    use koi_domain::customer::{TagRule, Trigger};
    let m = setup(db).await;
    let engine =
        Engine::new(db.clone(), Settings { wecom_base_url: "http://127.0.0.1:9".into(), ..Settings::default() });
    let owner =
        Principal { corp_id: m.corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None };
    let now = koi_store::now_ms();
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for (i, days_ago) in [1, 45, 90].into_iter().enumerate() {
        let p = CustomerProfile { external_userid: format!("wmsweep{i}"), kind: 1, ..Default::default() };
        let (id, _) = tx.upsert_customer(m.corp_id, &p, None, None, now - days_ago * DAY, now).await.unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    let rule = TagRule {
        id: 0,
        name: "30 天未下单".into(),
        trigger: Trigger::NoOrderForDays { days: 30 },
        add_tags: vec!["etE".into()],
        remove_tags: vec![],
        issue_coupon: None,
        active: true,
    };
    engine.save_tag_rule(&owner, None, rule).await.unwrap();
    let count = |e: &'static str| {
        let (engine, owner) = (engine.clone(), owner.clone());
        async move { engine.evaluate_segment(&owner, &SegmentInput::Text(e.into()), 0, false).await.unwrap().count }
    };
    assert_eq!(count("stage:new").await, 3, "nobody has been swept yet");
    assert_eq!(engine.sweep_customers(m.corp_id).await.unwrap(), 2, "the two older customers are no longer new");
    assert_eq!(count("tag:etE").await, 2, "no order for 30 days: the 45- and 90-day-old customers");
    assert_eq!(count("stage:stored").await, 2);
    assert_eq!(count("stage:new AND NOT tag:etE").await, 1);
    assert_eq!(engine.sweep_customers(m.corp_id).await.unwrap(), 0, "a second sweep changes nothing");
    let events = db.events(m.corp_id, Some("customer.tagged"), None, 100).await.unwrap();
    assert_eq!(events.len(), 2, "tagged once each, with the rule as the cause");
    assert!(events.iter().all(|e| e.payload.contains("\"by\":\"rule\"")));
    let moved = db.events(m.corp_id, Some("customer.stage_changed"), Some(&format!("customer:{}", ids[2])), 10).await;
    assert!(moved.unwrap()[0].payload.contains("\"to\":\"stored\""));
}
