//! Two-level distribution on both databases: one referrer a customer (the
//! first wins), one commission per order and level (a repeated order earns
//! once), refunds cut only pending commission, settlement by time, and a
//! commission in at most one payout — two batches at once never take the
//! same one — paid or released exactly once; a refund after settlement
//! claws back once per refund total, netted in the next payout; a
//! scheduled slot is taken once.

use super::{corp, NOW};
use koi_store::acquisition::CustomerProfile;
use koi_store::distribution::{CommissionFilter, NewCommission};
use koi_store::{Db, StoreError};

on_both!(
    referrals_keep_the_first_and_commissions_count_once,
    a_commission_is_in_one_payout_and_paid_or_released_once,
    a_refund_after_settlement_claws_back_once_and_is_netted,
    a_scheduled_slot_is_taken_once,
);

async fn customers(db: &Db, corp_id: i64, n: usize) -> Vec<i64> {
    let mut tx = db.begin().await.unwrap();
    let mut ids = vec![];
    for i in 0..n {
        let p = CustomerProfile {
            external_userid: format!("wmD{i}"),
            name: format!("客{i}"),
            kind: 1,
            ..Default::default()
        };
        ids.push(tx.upsert_customer(corp_id, &p, None, None, NOW, NOW).await.unwrap().0);
    }
    tx.commit().await.unwrap();
    ids
}

fn commission(
    corp_id: i64,
    order_ref: &str,
    level: i64,
    distributor_id: i64,
    buyer_id: i64,
    full: i64,
) -> NewCommission<'_> {
    NewCommission {
        corp_id,
        order_ref,
        level,
        distributor_id,
        buyer_id,
        paid_fen: 10_000,
        full_fen: full,
        paid_at: NOW,
        settle_at: NOW + 1_000,
        now: NOW,
    }
}

async fn referrals_keep_the_first_and_commissions_count_once(db: &Db) {
    let corp_id = corp(db, "wwDIST").await;
    let c = customers(db, corp_id, 3).await;
    let mut tx = db.begin().await.unwrap();
    let d = tx.ensure_distributor(corp_id, c[0], "tokA000000000000000000", "opt_in", None, NOW).await.unwrap();
    let again = tx.ensure_distributor(corp_id, c[0], "tokB000000000000000000", "campaign", Some(3), NOW).await.unwrap();
    assert_eq!(again, d, "a customer is one distributor; the first row stays");
    assert!(tx.record_referral(corp_id, c[1], c[0], "link", NOW).await.unwrap());
    assert!(!tx.record_referral(corp_id, c[1], c[2], "add", NOW).await.unwrap(), "the first referrer wins");
    assert_eq!(tx.referrer_of(corp_id, c[1]).await.unwrap(), Some(c[0]));
    assert_eq!(tx.referrer_of(corp_id, c[2]).await.unwrap(), None);
    assert!(tx.record_referral(corp_id, c[2], c[1], "link", NOW).await.unwrap());

    let first = tx.insert_commission(&commission(corp_id, "o1", 1, d.id, c[1], 1_000)).await.unwrap();
    assert!(first.is_some());
    assert_eq!(tx.insert_commission(&commission(corp_id, "o1", 1, d.id, c[1], 1_000)).await.unwrap(), None, "once");
    assert!(tx.insert_commission(&commission(corp_id, "o1", 2, d.id, c[1], 500)).await.unwrap().is_some());
    // A refund cuts a pending commission; the same refund again does nothing.
    let id = first.unwrap();
    assert!(tx.refund_commission(id, 4_000, 600, NOW).await.unwrap());
    assert!(!tx.refund_commission(id, 4_000, 600, NOW).await.unwrap(), "a replayed refund");
    tx.commit().await.unwrap();

    let stats = db.distributor_stats(corp_id, Some(d.id), 1).await.unwrap();
    assert_eq!((stats[0].level1, stats[0].level2, stats[0].pending_fen), (1, 1, 600 + 500));
    assert_eq!(db.corps_with_due_commissions(NOW + 999).await.unwrap(), Vec::<i64>::new());
    assert_eq!(db.corps_with_due_commissions(NOW + 1_000).await.unwrap(), vec![corp_id]);
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.settle_due_commissions(corp_id, NOW + 1_000).await.unwrap(), 2);
    assert!(!tx.refund_commission(id, 10_000, 0, NOW).await.unwrap(), "settled: a refund no longer cuts");
    tx.commit().await.unwrap();
    let settled = CommissionFilter { state: Some("settled"), limit: 10, ..Default::default() };
    assert_eq!(db.commissions(corp_id, &settled).await.unwrap().len(), 2);
    let other = corp(db, "wwDIST2").await;
    assert!(db.distributor_stats(other, None, 10).await.unwrap().is_empty(), "one corp's distributors are its own");
}

async fn a_commission_is_in_one_payout_and_paid_or_released_once(db: &Db) {
    let corp_id = corp(db, "wwPAYOUT").await;
    let c = customers(db, corp_id, 2).await;
    let mut tx = db.begin().await.unwrap();
    let d = tx.ensure_distributor(corp_id, c[0], "tokC000000000000000000", "opt_in", None, NOW).await.unwrap();
    let a = tx.insert_commission(&commission(corp_id, "p1", 1, d.id, c[1], 700)).await.unwrap().unwrap();
    let b = tx.insert_commission(&commission(corp_id, "p2", 1, d.id, c[1], 300)).await.unwrap().unwrap();
    tx.settle_due_commissions(corp_id, NOW + 1_000).await.unwrap();
    assert_eq!(tx.owed_commissions(corp_id).await.unwrap(), vec![(a, d.id, 700), (b, d.id, 300)]);
    let batch = tx.insert_payout_batch(corp_id, "user:1", 1, 1_000, NOW).await.unwrap();
    let payout = tx.insert_payout(corp_id, batch, d.id, 1_000, "koid1x1", &[a, b], NOW).await.unwrap();
    assert!(tx.owed_commissions(corp_id).await.unwrap().is_empty(), "in a payout, no longer owed");
    tx.commit().await.unwrap();
    // A second batch that planned the same commissions takes none of them
    // (the caller drops its transaction: nothing of it stays).
    let mut tx = db.begin().await.unwrap();
    let second = tx.insert_payout_batch(corp_id, "user:2", 1, 1_000, NOW).await.unwrap();
    let taken = tx.insert_payout(corp_id, second, d.id, 1_000, "koid2x1", &[a, b], NOW).await;
    assert!(matches!(taken, Err(StoreError::Conflict { .. })), "{taken:?}");
    drop(tx);
    assert_eq!(db.payout_batches(corp_id, 10).await.unwrap().len(), 1);

    // Paid once: the payout and its commissions; a second finish does nothing.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_payout(payout, true, "1010000001", "", NOW).await.unwrap());
    assert!(!tx.finish_payout(payout, false, "", "late refusal", NOW).await.unwrap(), "ended already");
    tx.commit().await.unwrap();
    let paid = CommissionFilter { state: Some("paid"), limit: 10, ..Default::default() };
    assert_eq!(db.commissions(corp_id, &paid).await.unwrap().len(), 2);
    let p = db.payout(corp_id, payout).await.unwrap().unwrap();
    assert_eq!(
        (p.state.as_str(), p.payment_no.as_str(), p.partner_trade_no.as_str()),
        ("paid", "1010000001", "koid1x1")
    );
    assert_eq!(db.payout_batches(corp_id, 10).await.unwrap()[0].paid, 1);

    // A refused payout releases its commission for the next batch.
    let mut tx = db.begin().await.unwrap();
    let e = tx.insert_commission(&commission(corp_id, "p3", 1, d.id, c[1], 900)).await.unwrap().unwrap();
    tx.settle_due_commissions(corp_id, NOW + 1_000).await.unwrap();
    let batch = tx.insert_payout_batch(corp_id, "user:1", 1, 900, NOW).await.unwrap();
    let refused = tx.insert_payout(corp_id, batch, d.id, 900, "koid3x1", &[e], NOW).await.unwrap();
    assert!(tx.finish_payout(refused, false, "", "AMOUNT_LIMIT", NOW).await.unwrap());
    assert_eq!(tx.owed_commissions(corp_id).await.unwrap(), vec![(e, d.id, 900)]);
    tx.commit().await.unwrap();
    let dup = {
        let mut tx = db.begin().await.unwrap();
        let batch = tx.insert_payout_batch(corp_id, "user:1", 1, 900, NOW).await.unwrap();
        tx.insert_payout(corp_id, batch, d.id, 900, "koid3x1", &[e], NOW).await
    };
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "a trade number is never used twice: {dup:?}");
}

async fn a_refund_after_settlement_claws_back_once_and_is_netted(db: &Db) {
    let corp_id = corp(db, "wwCLAW").await;
    let c = customers(db, corp_id, 2).await;
    let mut tx = db.begin().await.unwrap();
    let d = tx.ensure_distributor(corp_id, c[0], "tokD000000000000000000", "opt_in", None, NOW).await.unwrap();
    let a = tx.insert_commission(&commission(corp_id, "q1", 1, d.id, c[1], 1_000)).await.unwrap().unwrap();
    // Pending: no claw-back, the refund cuts instead.
    let row = tx.order_commissions(corp_id, "q1").await.unwrap().remove(0);
    assert_eq!(tx.claw_back_commission(&row, 4_000, 400, NOW).await.unwrap(), None, "not settled yet");
    tx.settle_due_commissions(corp_id, NOW + 1_000).await.unwrap();
    let row = tx.order_commissions(corp_id, "q1").await.unwrap().remove(0);
    let claw = tx.claw_back_commission(&row, 4_000, 400, NOW).await.unwrap().expect("clawed back");
    assert_eq!(tx.claw_back_commission(&row, 4_000, 400, NOW).await.unwrap(), None, "the same refund again");
    assert_eq!(tx.claw_back_commission(&row, 3_000, 300, NOW).await.unwrap(), None, "an older total");
    // The same order still earns once a level, claw-back or not.
    assert_eq!(tx.insert_commission(&commission(corp_id, "q1", 1, d.id, c[1], 1_000)).await.unwrap(), None);
    tx.commit().await.unwrap();
    let f = CommissionFilter { order_ref: Some("q1"), limit: 10, ..Default::default() };
    let rows = db.commissions(corp_id, &f).await.unwrap();
    let of = |id: i64| rows.iter().find(|r| r.id == id).unwrap().clone();
    assert_eq!(
        (of(a).amount_fen, of(a).refunded_fen, of(a).state.as_str(), of(a).clawback_of),
        (1_000, 4_000, "settled", None)
    );
    let cb = of(claw);
    assert_eq!((cb.amount_fen, cb.refunded_fen, cb.state.as_str(), cb.clawback_of), (-400, 4_000, "settled", Some(a)));
    assert_eq!((cb.order_ref.as_str(), cb.level, cb.distributor_id), ("q1", 1, d.id));
    // Owed nets: the distributor's settled balance is what they are owed.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.owed_commissions(corp_id).await.unwrap(), vec![(a, d.id, 1_000), (claw, d.id, -400)]);
    let batch = tx.insert_payout_batch(corp_id, "schedule", 1, 600, NOW).await.unwrap();
    let payout = tx.insert_payout(corp_id, batch, d.id, 600, "koid9x1", &[claw, a], NOW).await.unwrap();
    assert!(tx.finish_payout(payout, true, "1010000009", "", NOW).await.unwrap());
    // Paid, then refunded in full: the rest is clawed back, owed for the next payout.
    let row = tx.order_commissions(corp_id, "q1").await.unwrap().into_iter().find(|r| r.id == a).unwrap();
    assert_eq!(row.state, "paid");
    let second = tx.claw_back_commission(&row, 10_000, 600, NOW).await.unwrap().expect("clawed back");
    // A claw-back of nothing (rounding) books the total and writes no entry.
    let row = tx.order_commissions(corp_id, "q1").await.unwrap().into_iter().find(|r| r.id == a).unwrap();
    assert_eq!(tx.claw_back_commission(&row, 10_001, 0, NOW).await.unwrap(), None);
    assert_eq!(tx.owed_commissions(corp_id).await.unwrap(), vec![(second, d.id, -600)]);
    tx.commit().await.unwrap();
    let stats = db.distributor_stats(corp_id, Some(d.id), 1).await.unwrap().remove(0);
    assert_eq!((stats.settled_fen, stats.paid_fen), (-600, 600), "a balance below zero carries over");
}

async fn a_scheduled_slot_is_taken_once(db: &Db) {
    let corp_id = corp(db, "wwSLOT").await;
    let other = corp(db, "wwSLOT2").await;
    db.save_distribution_settings(corp_id, "{\"enabled\":true}", NOW).await.unwrap();
    let all = db.all_distribution_settings().await.unwrap();
    assert_eq!(all, vec![(corp_id, "{\"enabled\":true}".to_string(), NOW)]);
    assert!(!db.payout_slot_ran(corp_id, NOW).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.take_payout_slot(corp_id, NOW, NOW).await.unwrap());
    assert!(!tx.take_payout_slot(corp_id, NOW, NOW).await.unwrap(), "taken");
    let batch = tx.insert_payout_batch(corp_id, "schedule", 0, 0, NOW).await.unwrap();
    tx.set_payout_slot_batch(corp_id, NOW, batch).await.unwrap();
    tx.commit().await.unwrap();
    assert!(db.payout_slot_ran(corp_id, NOW).await.unwrap());
    assert_eq!(db.payout_slot_batch(corp_id, NOW).await.unwrap(), Some(Some(batch)));
    assert_eq!(db.payout_slot_batch(corp_id, NOW + 1).await.unwrap(), None);
    assert!(!db.payout_slot_ran(other, NOW).await.unwrap(), "another corp's slot is its own");
    // A rolled-back run leaves the slot free.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.take_payout_slot(corp_id, NOW + 1, NOW).await.unwrap());
    drop(tx);
    assert!(!db.payout_slot_ran(corp_id, NOW + 1).await.unwrap());
    // Two transactions at once: one takes the slot.
    let (db1, db2) = (db.clone(), db.clone());
    let take = |db: Db| async move {
        let mut tx = db.begin().await.unwrap();
        let took = tx.take_payout_slot(corp_id, NOW + 2, NOW).await.unwrap();
        tx.commit().await.unwrap();
        took
    };
    let (x, y) = tokio::join!(tokio::spawn(take(db1)), tokio::spawn(take(db2)));
    assert_eq!(u8::from(x.unwrap()) + u8::from(y.unwrap()), 1, "one of two takes the slot");
}
