//! Products and checkouts on both databases: SKUs unique per corp, stock
//! that never goes below zero however many buyers race for the last items,
//! a checkout paid once, closed once (its stock back once), and refunds
//! that never take more than was paid.

use super::{add_store, corp, follow_via, staff_member, NOW};
use koi_domain::channel::ChannelCodeDraft;
use koi_store::checkouts::{CheckoutItemRow, NewCheckout, ProductWrite};
use koi_store::{Db, StoreError};

on_both!(checkout_stock_never_goes_below_zero_and_a_checkout_moves_once);

fn product<'a>(sku: &'a str, stock: i64) -> ProductWrite<'a> {
    ProductWrite { sku, name: "双十一组合", price_fen: 990, stock, active: true, draft: "{}", now: NOW }
}

async fn customer(db: &Db, corp_id: i64) -> i64 {
    let s = add_store(db, corp_id, "CK1").await;
    let m = staff_member(db, corp_id, "ck", s).await;
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(corp_id, "ck", Some(s), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    follow_via(db, corp_id, "wmCK0", m, code, s, NOW, false).await
}

/// One buyer: reserves `qty` and opens a checkout, in one transaction.
async fn buy(db: &Db, corp_id: i64, customer_id: i64, product_id: i64, qty: i64, no: &str) -> Option<i64> {
    let mut tx = db.begin().await.unwrap();
    if !tx.reserve_stock(product_id, qty, NOW).await.unwrap() {
        return None;
    }
    let k = NewCheckout {
        corp_id,
        customer_id,
        out_trade_no: no,
        subtotal_fen: 990 * qty,
        total_fen: 990 * qty,
        expires_at: NOW + 900_000,
        now: NOW,
    };
    let id = tx.insert_checkout(&k).await.unwrap();
    let item = CheckoutItemRow {
        checkout_id: id,
        product_id,
        sku: "DBL11".into(),
        name: "双十一组合".into(),
        qty,
        unit_fen: 990,
        total_fen: 990 * qty,
    };
    tx.insert_checkout_item(&item).await.unwrap();
    tx.commit().await.unwrap();
    Some(id)
}

async fn checkout_stock_never_goes_below_zero_and_a_checkout_moves_once(db: &Db) {
    let a = corp(db, "wwCHECKOUT").await;
    let other = corp(db, "wwCHECKOTHER").await;
    let c = customer(db, a).await;
    let mut tx = db.begin().await.unwrap();
    let p = tx.insert_product(a, &product("DBL11", 3), "tok-p").await.unwrap();
    let dup = tx.insert_product(a, &product("DBL11", 1), "tok-q").await;
    assert!(matches!(dup, Err(StoreError::Conflict { what: "sku" })), "{dup:?}");
    drop(tx); // rolled back
    let mut tx = db.begin().await.unwrap();
    let p = tx.insert_product(a, &product("DBL11", 3), "tok-p").await.unwrap_or(p);
    tx.insert_product(other, &product("DBL11", 5), "tok-o").await.expect("another corp may use the SKU");
    tx.commit().await.unwrap();
    assert_eq!(db.product_by_token("tok-p").await.unwrap().map(|r| r.id), Some(p));
    assert_eq!(db.product(other, p).await.unwrap(), None, "scoped to its corp");

    // Ten buyers race for the last three items: three win, stock ends at zero.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..10 {
        let db = db.clone();
        racers.spawn(async move { buy(&db, a, c, p, 1, &format!("koiRACE{i}")).await });
    }
    let mut won: Vec<i64> = racers.join_all().await.into_iter().flatten().collect();
    won.sort_unstable();
    assert_eq!(won.len(), 3, "{won:?}");
    assert_eq!(db.product(a, p).await.unwrap().unwrap().stock, 0);
    assert_eq!(buy(db, a, c, p, 1, "koiLATE").await, None, "sold out");
    assert_eq!(db.items_bought(a, c, p).await.unwrap(), 3);

    // Paid once; a closed checkout gives its item back once.
    let (paid, closed) = (won[0], won[1]);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.set_checkout_prepay(paid, "wx1", "oBUYER", NOW).await.unwrap());
    assert!(tx.mark_checkout_paid(paid, "4200001", NOW, NOW).await.unwrap());
    assert!(!tx.mark_checkout_paid(paid, "4200001", NOW, NOW).await.unwrap(), "a duplicate changes nothing");
    assert!(!tx.close_checkout(paid, "expired", NOW).await.unwrap(), "a paid checkout does not close");
    assert!(tx.close_checkout(closed, "expired", NOW).await.unwrap());
    assert!(!tx.close_checkout(closed, "expired", NOW).await.unwrap());
    assert!(!tx.mark_checkout_paid(closed, "4200002", NOW, NOW).await.unwrap(), "a closed checkout is not paid");
    tx.commit().await.unwrap();
    assert_eq!(db.product(a, p).await.unwrap().unwrap().stock, 1, "one item back, once");
    assert_eq!(db.items_bought(a, c, p).await.unwrap(), 2);
    let listed = db.checkouts(a, "paid", None, 10).await.unwrap();
    assert_eq!((listed.len(), listed[0].customer_name.as_str()), (1, "wmCK0"));
    // A store manager sees the checkouts of their stores' customers.
    let store = db.stores(a).await.unwrap()[0].id;
    assert_eq!(db.checkouts(a, "paid", Some(&[store]), 10).await.unwrap().len(), 1, "the customer's store");
    assert!(db.checkouts(a, "paid", Some(&[store + 1000]), 10).await.unwrap().is_empty(), "another store's manager");
    assert!(db.checkouts(a, "", Some(&[]), 10).await.unwrap().is_empty(), "a manager of no store sees none");
    // Their coupons likewise: the customer's, and those redeemed in their stores.
    coupons_narrow_to_a_managers_stores(db, a, c, store).await;
    let by_no = db.checkout(a, paid).await.unwrap().unwrap().out_trade_no;
    assert_eq!(db.checkout_by_trade_no(&by_no).await.unwrap().map(|k| k.id), Some(paid));

    // Refunds never take more than was paid; a failed one gives its claim back.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.claim_refund(paid, 500, NOW).await.unwrap());
    let r1 = tx.insert_checkout_refund(a, paid, "koiR1", 500, "破损", "user:1", NOW).await.unwrap();
    assert!(!tx.claim_refund(paid, 491, NOW).await.unwrap(), "over what is left");
    assert!(!tx.claim_refund(closed, 1, NOW).await.unwrap(), "never paid");
    assert!(tx.finish_refund(r1, "5000001", NOW).await.unwrap());
    assert!(!tx.finish_refund(r1, "5000001", NOW).await.unwrap());
    assert!(!tx.fail_refund(r1, "CHANGE", NOW).await.unwrap(), "a done refund never fails afterwards");
    assert_eq!(tx.settle_refund_state(paid, NOW).await.unwrap(), "part_refunded");
    assert!(tx.claim_refund(paid, 490, NOW).await.unwrap());
    let r2 = tx.insert_checkout_refund(a, paid, "koiR2", 490, "", "api_key", NOW).await.unwrap();
    assert!(tx.fail_refund(r2, "NOTENOUGH", NOW).await.unwrap());
    assert!(tx.claim_refund(paid, 490, NOW).await.unwrap(), "the failed refund's claim came back");
    let r3 = tx.insert_checkout_refund(a, paid, "koiR3", 490, "", "api_key", NOW).await.unwrap();
    assert!(tx.finish_refund(r3, "5000003", NOW).await.unwrap());
    assert_eq!(tx.settle_refund_state(paid, NOW).await.unwrap(), "refunded");
    tx.commit().await.unwrap();
    let k = db.checkout(a, paid).await.unwrap().unwrap();
    assert_eq!((k.state.as_str(), k.refunded_fen), ("refunded", 990));
    let states: Vec<String> = db.checkout_refunds(paid).await.unwrap().into_iter().map(|r| r.state).collect();
    assert_eq!(states, ["done", "failed", "done"]);
    // WeChat Pay's refund notification names a refund by its out_refund_no, within the corp.
    let r = db.checkout_refund_by_no(a, "koiR2").await.unwrap().expect("found by its number");
    assert_eq!((r.id, r.state.as_str(), r.error.as_str(), r.amount_fen), (r2, "failed", "NOTENOUGH", 490));
    assert_eq!(db.checkout_refund_by_no(a, "koiR1").await.unwrap().map(|r| r.id), Some(r1));
    assert!(db.checkout_refund_by_no(other, "koiR2").await.unwrap().is_none(), "another corp's refund is not found");
    assert!(db.checkout_refund_by_no(a, "koiR9").await.unwrap().is_none());
    assert_eq!(db.corps_with_open_checkouts().await.unwrap(), vec![a]);
    assert_eq!(db.open_checkouts(a, NOW + 1, 10).await.unwrap().len(), 1);
}

async fn coupons_narrow_to_a_managers_stores(db: &Db, a: i64, c: i64, store: i64) {
    use koi_store::coupons::{NewCoupon, Redemption, TemplateWrite};
    let w = TemplateWrite {
        name: "10 元券",
        kind: "cash",
        value_fen: 1000,
        min_fen: 0,
        discount_pct: 0,
        gift: "",
        valid_from: None,
        valid_to: None,
        valid_days: Some(30),
        per_customer: 0,
        stock: None,
        store_ids: "[]",
        now: NOW,
    };
    let stranger = {
        use koi_store::acquisition::CustomerProfile;
        let p = CustomerProfile { external_userid: "wmCKSTRANGER".into(), name: "路人".into(), ..Default::default() };
        let mut tx = db.begin().await.unwrap();
        let (id, _) = tx.upsert_customer(a, &p, None, None, NOW, NOW).await.unwrap();
        tx.commit().await.unwrap();
        id
    };
    let mut tx = db.begin().await.unwrap();
    let t = tx.insert_coupon_template(a, &w).await.unwrap();
    for (customer, code) in [(c, "SCOPE00000000001"), (stranger, "SCOPE00000000002"), (stranger, "SCOPE00000000003")] {
        let k = NewCoupon {
            corp_id: a,
            template_id: t,
            customer_id: customer,
            code,
            valid_from: NOW,
            valid_to: NOW + 86_400_000,
            source: "hand",
            source_ref: "",
            issued_by: "test",
            now: NOW,
        };
        tx.issue_coupon(&k, 0).await.unwrap();
    }
    // The stranger redeems one in the manager's store.
    let r =
        Redemption { order_ref: "POS-1", order_fen: 5000, off_fen: 1000, store_id: Some(store), by: "pos", now: NOW };
    assert!(tx.redeem_coupon(a, "SCOPE00000000003", &r).await.unwrap().is_some());
    tx.commit().await.unwrap();
    let codes = |rows: Vec<koi_store::coupons::CouponListRow>| {
        let mut v: Vec<String> = rows.into_iter().map(|r| r.coupon.code).collect();
        v.sort();
        v
    };
    let all = db.coupons_in_stores(a, None, Some(t), None, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    let mine = codes(db.coupons_in_stores(a, None, Some(t), None, Some(&[store]), 10).await.unwrap());
    assert_eq!(mine, ["SCOPE00000000001", "SCOPE00000000003"], "their customer's, and the one redeemed there");
    assert!(db.coupons_in_stores(a, None, Some(t), None, Some(&[store + 1000]), 10).await.unwrap().is_empty());
    let redeemed = codes(db.coupons_in_stores(a, None, None, Some("redeemed"), Some(&[store]), 10).await.unwrap());
    assert_eq!(redeemed, ["SCOPE00000000003"]);
}
