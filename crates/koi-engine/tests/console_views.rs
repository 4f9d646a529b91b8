//! What the console's home page and customer profile read, on SQLite and
//! PostgreSQL: the business numbers (today, the last 7 days, per store, a
//! store manager's own) and a customer's order history.

use koi_domain::access::{Principal, Role};
use koi_domain::customer::Behaviour;
use koi_domain::org::{CorpDraft, StaffDraft, StoreDraft};
use koi_engine::reports::Movement;
use koi_engine::{Engine, Settings};
use koi_store::acquisition::{CustomerProfile, NewFollow};
use koi_store::Db;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-06-10 12:00 in Shanghai (04:00 UTC): the middle of a local day.
const NOW: i64 = 1_781_064_000_000;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = koi_store::scratch::ScratchDb::sqlite().await.expect("sqlite scratch db");
                super::$name(&s.db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = koi_store::scratch::ScratchDb::postgres().await.expect("postgres scratch db");
                super::$name(&s.db).await;
            }
        }
    )*};
}

on_both!(home_numbers_count_today_the_week_and_each_store, the_profile_lists_the_orders);

struct World {
    corp_id: i64,
    stores: [i64; 2],
    staff: [i64; 2],
}

async fn world(db: &Db) -> World {
    let d = CorpDraft {
        name: "home".into(),
        wecom_corp_id: "wwhome".into(),
        app_secret: "secret".into(),
        callback_token: "token".into(),
        encoding_aes_key: "k".repeat(43),
    };
    let corp_id = db.create_corp(&d, NOW - 30 * DAY).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let mut stores = [0; 2];
    let mut staff = [0; 2];
    for i in 0..2 {
        let s = StoreDraft { code: format!("S{i}"), name: format!("店{i}"), ..Default::default() };
        stores[i] = tx.insert_store(corp_id, &s, NOW).await.unwrap();
        let g = StaffDraft {
            userid: format!("g{i}"),
            name: format!("导购{i}"),
            mobile: String::new(),
            active: true,
            store_ids: vec![stores[i]],
        };
        staff[i] = tx.insert_staff(corp_id, &g, NOW).await.unwrap();
    }
    tx.commit().await.unwrap();
    World { corp_id, stores, staff }
}

/// A customer who added the guide of store `i` at `at`; returns their id.
async fn add(db: &Db, w: &World, n: usize, i: usize, at: i64) -> i64 {
    let p = CustomerProfile { external_userid: format!("wm{n}"), name: format!("客{n}"), ..Default::default() };
    let mut tx = db.begin().await.unwrap();
    let (id, _) = tx.upsert_customer(w.corp_id, &p, None, Some(w.stores[i]), at, at).await.unwrap();
    let f = NewFollow {
        corp_id: w.corp_id,
        customer_id: id,
        staff_id: w.staff[i],
        added_at: at,
        add_way: 1,
        state: "",
        code_id: None,
        store_id: Some(w.stores[i]),
        returning: false,
    };
    tx.upsert_follow(&f, at).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn lose(db: &Db, w: &World, customer: i64, i: usize, by: &str, at: i64) {
    let mut tx = db.begin().await.unwrap();
    assert!(tx.mark_follow_deleted(w.corp_id, customer, w.staff[i], by, at).await.unwrap());
    tx.commit().await.unwrap();
}

fn owner(corp_id: i64) -> Principal {
    Principal { corp_id, role: Role::Owner, user_id: Some(1), store_ids: vec![], staff_id: None }
}

async fn home_numbers_count_today_the_week_and_each_store(db: &Db) {
    let w = world(db).await;
    let engine = Engine::new(db.clone(), Settings::default());
    // Store 0: two adds today, one three days ago (lost today), one 20 days ago.
    add(db, &w, 0, 0, NOW - HOUR).await;
    add(db, &w, 1, 0, NOW - 2 * HOUR).await;
    let c2 = add(db, &w, 2, 0, NOW - 3 * DAY).await;
    lose(db, &w, c2, 0, "customer", NOW - 30 * 60_000).await;
    add(db, &w, 3, 0, NOW - 20 * DAY).await;
    // Store 1: one add today, one yesterday handed over (not a loss), one
    // added and deleted by the guide five days ago.
    add(db, &w, 4, 1, NOW - 3 * HOUR).await;
    let c5 = add(db, &w, 5, 1, NOW - DAY).await;
    lose(db, &w, c5, 1, "transfer", NOW - DAY + HOUR).await;
    let c6 = add(db, &w, 6, 1, NOW - 5 * DAY).await;
    lose(db, &w, c6, 1, "staff", NOW - 5 * DAY + HOUR).await;
    // Yesterday late evening Shanghai time is not today.
    add(db, &w, 7, 1, NOW - 13 * HOUR).await;

    let n = engine.home_numbers_at(&owner(w.corp_id), NOW).await.unwrap();
    assert_eq!(n.today, Movement { adds: 3, losses: 1, net: 2 });
    assert_eq!(n.week, Movement { adds: 7, losses: 2, net: 5 });
    assert_eq!(n.total_customers, 8);
    let ranks: Vec<_> = n.stores.iter().map(|s| (s.name.as_str(), s.today, s.week)).collect();
    assert_eq!(
        ranks,
        [
            ("店0", Movement { adds: 2, losses: 1, net: 1 }, Movement { adds: 3, losses: 1, net: 2 }),
            ("店1", Movement { adds: 1, losses: 0, net: 1 }, Movement { adds: 4, losses: 1, net: 3 }),
        ],
        "ranked by today's adds"
    );

    let manager = Principal { role: Role::StoreManager, store_ids: vec![w.stores[1]], ..owner(w.corp_id) };
    let m = engine.home_numbers_at(&manager, NOW).await.unwrap();
    assert_eq!((m.today, m.total_customers), (Movement { adds: 1, losses: 0, net: 1 }, 4), "their store only");
    assert_eq!(m.stores.iter().map(|s| s.store_id).collect::<Vec<_>>(), [Some(w.stores[1])]);
}

async fn the_profile_lists_the_orders(db: &Db) {
    let w = world(db).await;
    let engine = Engine::new(db.clone(), Settings::default());
    let who = owner(w.corp_id);
    let id = add(db, &w, 0, 0, NOW - 10 * DAY).await;
    for (k, b) in [
        Behaviour::OrderPlaced { amount_fen: 19_900 },
        Behaviour::MessageReplied,
        Behaviour::OrderPlaced { amount_fen: 29_900 },
        Behaviour::OrderRefunded { amount_fen: 9_900, whole: false },
    ]
    .iter()
    .enumerate()
    {
        let at = NOW - 5 * DAY + k as i64 * HOUR;
        engine.record_behaviour(&who, id, b, Some(at), Some(&format!("ref{k}"))).await.unwrap();
    }
    let p = engine.customer_profile(&who, id).await.unwrap();
    let orders: Vec<_> = p.order_history.iter().map(|o| (o.kind.as_str(), o.amount_fen)).collect();
    assert_eq!(orders, [("refunded", 9_900), ("placed", 29_900), ("placed", 19_900)], "newest first, replies left out");
    assert_eq!(p.orders, 2);
}
