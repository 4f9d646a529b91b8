//! Scheduled payout batches and claw-backs on both databases: a slot run by
//! two workers at once, and again, makes one batch; a refund after the
//! commission was paid claws back once, and the claw-back is netted against
//! the next payout (carried over while it is larger than what is owed).

use super::*;
use crate::distribution::payouts::run_slot_in;
use crate::jobs::Job;
use koi_domain::distribution::{OrderLine, PayoutEvery, PayoutSchedule};
use koi_store::acquisition::CustomerProfile;
use koi_store::scratch::ScratchDb;
use koi_store::Db;

async fn corp(db: &Db) -> i64 {
    let d = koi_domain::org::CorpDraft {
        name: "分销".into(),
        wecom_corp_id: "wwDISTSCHED".into(),
        app_secret: "s".into(),
        callback_token: "t".into(),
        encoding_aes_key: "k".repeat(43),
    };
    db.create_corp(&d, now_ms()).await.unwrap()
}

async fn order(db: &Db, corp: i64, order_ref: &str, buyer: i64, fen: i64) {
    let mut tx = db.begin().await.unwrap();
    let o = CommissionOrder {
        order_ref: order_ref.into(),
        customer_id: buyer,
        paid_at: now_ms() - 1_000,
        lines: vec![OrderLine { sku: "HOT-1".into(), amount_fen: fen }],
    };
    assert_eq!(on_order_paid(&mut tx, corp, &o).await.unwrap().len(), 1);
    tx.commit().await.unwrap();
}

async fn refund(db: &Db, corp: i64, order_ref: &str, total: i64) -> u64 {
    let mut tx = db.begin().await.unwrap();
    let n = on_order_refunded(&mut tx, corp, order_ref, total).await.unwrap();
    tx.commit().await.unwrap();
    n
}

async fn slot(db: &Db, corp: i64, slot_at: i64) -> Option<PayoutRun> {
    let mut tx = db.begin().await.unwrap();
    let run = run_slot_in(&mut tx, corp, slot_at, now_ms()).await.unwrap();
    tx.commit().await.unwrap();
    run
}

async fn scheduled_batches_and_clawbacks(db: &Db) {
    let corp = corp(db).await;
    let mut tx = db.begin().await.unwrap();
    let profile = |n: &str| CustomerProfile { external_userid: format!("wm{n}"), name: n.into(), ..Default::default() };
    let (a, _) = tx.upsert_customer(corp, &profile("甲"), None, None, 0, 0).await.unwrap();
    let (b, _) = tx.upsert_customer(corp, &profile("乙"), None, None, 0, 0).await.unwrap();
    let d = tx.ensure_distributor(corp, a, &new_token(), "opt_in", None, now_ms()).await.unwrap();
    assert!(tx.record_referral(corp, b, a, "link", now_ms()).await.unwrap());
    tx.commit().await.unwrap();
    let s = DistributionSettings {
        enabled: true,
        level1_bp: 1_000,
        window_secs: 0,
        min_payout_fen: 100,
        payout_schedule: PayoutSchedule { every: PayoutEvery::Daily, weekday: 1, hour: 10 },
        ..Default::default()
    };
    let json = serde_json::to_string(&s).unwrap();
    db.save_distribution_settings(corp, &json, now_ms()).await.unwrap();

    // B buys ¥100: A earns ¥10. The slot is reached by two workers at once, then run again.
    order(db, corp, "o-1", b, 10_000).await;
    let (x, y) = tokio::join!(
        tokio::spawn(slot_owned(db.clone(), corp, 1_000)),
        tokio::spawn(slot_owned(db.clone(), corp, 1_000))
    );
    let runs: Vec<PayoutRun> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
    assert_eq!(runs.len(), 1, "one of two workers runs the slot");
    assert_eq!((runs[0].payouts, runs[0].total_fen), (1, 1_000));
    assert_eq!(slot(db, corp, 1_000).await, None, "a slot runs once");
    let batches = db.payout_batches(corp, 10).await.unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!((batches[0].created_by.as_str(), batches[0].total_fen), ("schedule", 1_000));
    assert_eq!(db.payout_slot_batch(corp, 1_000).await.unwrap(), Some(Some(batches[0].id)));
    let payout = db.payouts(corp, None, Some(d.id), 10).await.unwrap().remove(0);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_payout(payout.id, true, "1010000001", "", now_ms()).await.unwrap());
    tx.commit().await.unwrap();

    // Paid, then ¥40 refunded: ¥4 clawed back, once however often the refund comes.
    assert_eq!(refund(db, corp, "o-1", 4_000).await, 1);
    assert_eq!(refund(db, corp, "o-1", 4_000).await, 0, "a repeated refund claws back once");
    let f = CommissionFilter { order_ref: Some("o-1"), limit: 10, ..Default::default() };
    let list = db.commissions(corp, &f).await.unwrap();
    let claw = list.iter().find(|c| c.clawback_of.is_some()).expect("a claw-back");
    assert_eq!((claw.amount_fen, claw.state.as_str(), claw.distributor_id), (-400, "settled", d.id));
    assert_eq!(list.iter().filter(|c| c.clawback_of.is_some()).count(), 1);
    // Alone, the claw-back is not paid and not "paid back": the next slot finds nothing to pay.
    let run = slot(db, corp, 2_000).await.expect("the slot runs");
    assert_eq!(run.batch_id, None);
    let stats = db.distributor_stats(corp, Some(d.id), 1).await.unwrap().remove(0);
    assert_eq!((stats.settled_fen, stats.paid_fen), (-400, 1_000), "the balance below zero carries over");

    // B buys ¥30 more: ¥3 earned, still short of the claw-back — carried again.
    order(db, corp, "o-2", b, 3_000).await;
    assert_eq!(slot(db, corp, 3_000).await.expect("runs").batch_id, None);
    // And ¥100: ¥10 + ¥3 − ¥4 = ¥9 paid in the next slot, the claw-back netted.
    order(db, corp, "o-3", b, 10_000).await;
    let run = slot(db, corp, 4_000).await.expect("runs");
    assert_eq!((run.payouts, run.total_fen), (1, 900));
    let netted = db.payouts(corp, run.batch_id, None, 10).await.unwrap().remove(0);
    assert_eq!(netted.amount_fen, 900);
    let f = CommissionFilter { distributor_id: Some(d.id), limit: 10, ..Default::default() };
    let in_it: Vec<i64> = db
        .commissions(corp, &f)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.payout_id == Some(netted.id))
        .map(|c| c.amount_fen)
        .collect();
    assert_eq!(in_it.iter().sum::<i64>(), 900);
    assert!(in_it.contains(&-400), "the claw-back is in the payout that nets it: {in_it:?}");

    // The scheduler: a slot that passed before the settings were saved never runs;
    // once due after them, it is queued once.
    let engine = crate::Engine::new(db.clone(), crate::Settings::default());
    engine.schedule_payout_runs().await;
    assert!(!db.has_pending_job(corp, ScheduledPayoutJob::KIND).await.unwrap());
    db.save_distribution_settings(corp, &json, 0).await.unwrap();
    engine.schedule_payout_runs().await;
    engine.schedule_payout_runs().await;
    assert!(db.has_pending_job(corp, ScheduledPayoutJob::KIND).await.unwrap());
    let off =
        DistributionSettings { payout_schedule: PayoutSchedule { every: PayoutEvery::Off, ..s.payout_schedule }, ..s };
    assert_eq!(off.payout_schedule.latest_slot(now_ms()), None);
}

async fn slot_owned(db: Db, corp: i64, slot_at: i64) -> Option<PayoutRun> {
    slot(&db, corp, slot_at).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_slot_pays_once_and_a_clawback_is_netted_sqlite() {
    let s = ScratchDb::sqlite().await.unwrap();
    scheduled_batches_and_clawbacks(&s.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_slot_pays_once_and_a_clawback_is_netted_postgres() {
    let s = ScratchDb::postgres().await.unwrap();
    scheduled_batches_and_clawbacks(&s.db).await;
}
