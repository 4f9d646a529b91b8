//! Check-ins and reviews on both databases: one check-in a customer and
//! day (a second is refused and changes nothing, another day is new, the
//! streak reads back), one review an order, and the rules' streak columns
//! round-trip.

use super::{corp, NOW};
use koi_store::acquisition::CustomerProfile;
use koi_store::coupons::PointsRulesRow;
use koi_store::orders::OrderWrite;
use koi_store::Db;

on_both!(one_checkin_a_day_and_one_review_an_order);

async fn one_checkin_a_day_and_one_review_an_order(db: &Db) {
    let (a, b) = (corp(db, "wwLOYAL1").await, corp(db, "wwLOYAL2").await);
    let mut tx = db.begin().await.unwrap();
    let p = CustomerProfile { external_userid: "wmLOYAL".into(), name: "签到".into(), kind: 1, ..Default::default() };
    let (c, _) = tx.upsert_customer(a, &p, None, None, NOW, NOW).await.unwrap();
    assert!(tx.insert_checkin(a, c, "2026-12-06", 1, 5, NOW).await.unwrap());
    assert!(!tx.insert_checkin(a, c, "2026-12-06", 9, 99, NOW + 1).await.unwrap(), "once a day");
    assert!(tx.insert_checkin(a, c, "2026-12-07", 2, 5, NOW + 2).await.unwrap());
    assert_eq!(tx.checkin_streak(a, c, "2026-12-06").await.unwrap(), Some(1), "the first one stands");
    assert_eq!(tx.checkin_streak(a, c, "2026-12-05").await.unwrap(), None);
    assert_eq!(tx.checkin_streak(b, c, "2026-12-07").await.unwrap(), None, "another corp's");

    let o = OrderWrite {
        shop_order_id: "LOYAL-1",
        source: "api",
        ordered_at: NOW,
        store_code: "",
        store_id: None,
        amount_fen: 4900,
        paid_fen: 4900,
        status: "done",
        unionid: "",
        phone_hash: "",
        external_userid: "wmLOYAL",
        member_id: "",
        coupon_guide: "",
    };
    let order = tx.insert_order(a, &o, NOW).await.unwrap().expect("a new order");
    let first = tx.insert_review(a, order, c, 5, "好穿", 10, NOW).await.unwrap();
    assert!(first.is_some());
    assert_eq!(tx.insert_review(a, order, c, 1, "again", 10, NOW).await.unwrap(), None, "once an order");
    let rules =
        PointsRulesRow { per_yuan: 1, checkin: 5, review: 10, expire_days: 365, streak_days: 7, streak_bonus: 20 };
    tx.set_points_rules(a, &rules, NOW).await.unwrap();
    tx.commit().await.unwrap();

    let last = db.last_checkin(a, c).await.unwrap().unwrap();
    assert_eq!((last.day.as_str(), last.streak, last.points), ("2026-12-07", 2, 5));
    assert_eq!(db.last_checkin(b, c).await.unwrap(), None);
    let r = db.order_review(a, order).await.unwrap().unwrap();
    assert_eq!((r.id, r.rating, r.body.as_str(), r.points), (first.unwrap(), 5, "好穿", 10));
    assert_eq!(db.order_review(b, order).await.unwrap(), None, "another corp sees none");
    assert_eq!(db.reviewed_orders(a, c).await.unwrap(), vec![order]);
    assert_eq!(db.points_rules(a).await.unwrap(), Some(rules));
}
