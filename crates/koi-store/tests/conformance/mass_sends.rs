//! Mass sends and the fatigue cap's ledger on both databases: touches count
//! once per (customer, source, ref) inside the window; seeded customers get
//! dense numbers and one live follow; a send starts once, its skips are
//! kept with their reason, and its report counts per guide.

use super::{add_store, corp, NOW};
use koi_domain::org::StaffDraft;
use koi_store::mass_sends::{NewMassSend, StagedCustomer, MASS_SEND_PURPOSE};
use koi_store::outreach::NewGuideTask;
use koi_store::Db;

on_both!(touches_count_once_in_the_window_and_a_send_starts_once, a_staged_send_is_planned_chunk_by_chunk_once,);

async fn touches_count_once_in_the_window_and_a_send_starts_once(db: &Db) {
    let corp_id = corp(db, "wwMASS").await;
    let store = add_store(db, corp_id, "S1").await;
    let mut tx = db.begin().await.unwrap();
    let d = StaffDraft {
        userid: "g1".into(),
        name: "导购一".into(),
        active: true,
        store_ids: vec![store],
        ..Default::default()
    };
    let staff = tx.insert_staff(corp_id, &d, NOW).await.unwrap();
    let pairs: Vec<(String, i64)> = (0..700).map(|n| (format!("wm{n:04}"), staff)).collect();
    let ids = tx.seed_followed_customers(corp_id, &pairs, Some(store), NOW).await.unwrap();
    assert_eq!(ids.len(), 700);
    assert!(ids.iter().all(|id| *id > 0), "each seeded customer is matched to its row");
    tx.commit().await.unwrap();
    let follows = db.follows_for_send(corp_id, &ids).await.unwrap();
    assert_eq!(follows.len(), 700);
    assert!(follows.iter().all(|f| f.staff_id == staff && f.userid == "g1" && f.at_customer_store));

    // Touches: a second insert of the same (customer, source, ref) is no touch.
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.lock_fatigue(corp_id, NOW).await.unwrap(), None, "no cap set: the default applies");
    assert_eq!(tx.insert_touches(corp_id, &ids[..3], "sop", "r1", NOW - 10).await.unwrap(), 3);
    assert_eq!(tx.insert_touches(corp_id, &ids[..3], "sop", "r1", NOW - 5).await.unwrap(), 0, "exactly once");
    tx.insert_touches(corp_id, &ids[..1], "sop", "r0", NOW - 90_000_000).await.unwrap();
    tx.insert_touches(corp_id, &ids[..2], "mass_send", "7", NOW).await.unwrap();
    let (counts, mine) = tx.touch_counts(corp_id, &ids[..4], "mass_send", "7", NOW - 86_400_000).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(counts.get(&ids[0]), Some(&1), "r0 is out of the window, the send's own is not counted");
    assert_eq!(counts.get(&ids[2]), Some(&1));
    assert_eq!(counts.get(&ids[3]), None);
    assert_eq!(mine.len(), 2);

    // A send starts once; its skips keep their reason; the report counts.
    let mut tx = db.begin().await.unwrap();
    let id = tx
        .insert_mass_send(&NewMassSend {
            corp_id,
            name: "周二",
            audience: "{}",
            content: "{}",
            guide_rule: "latest_follow",
            origin: "console",
            state: "queued",
            send_at: NOW,
            created_by: "user:1",
            now: NOW,
        })
        .await
        .unwrap();
    assert!(tx.start_mass_send(corp_id, id, "seg", 698, 2, "", NOW).await.unwrap());
    assert!(!tx.start_mass_send(corp_id, id, "seg", 698, 2, "", NOW).await.unwrap(), "started once");
    tx.insert_mass_send_skips(corp_id, id, &[(ids[0], Some(staff), "fatigue_cap"), (ids[1], None, "no_guide")])
        .await
        .unwrap();
    let recipients: Vec<(i64, String)> = ids[2..].iter().map(|c| (*c, "x".to_string())).collect();
    let recipients: Vec<(i64, String)> =
        recipients.into_iter().zip(&pairs[2..]).map(|((c, _), (e, _))| (c, e.clone())).collect();
    let task = NewGuideTask {
        corp_id,
        purpose: MASS_SEND_PURPOSE,
        purpose_id: id,
        staff_id: staff,
        sender: "g1",
        part: 0,
        content: "{}",
        recipients: &recipients,
        now: NOW,
    };
    tx.insert_guide_task(&task).await.unwrap().expect("planned");
    tx.commit().await.unwrap();
    let report = db.mass_send_report(corp_id, id).await.unwrap();
    assert_eq!((report.len(), report[0].planned, report[0].sent, report[0].confirmed), (1, 698, 0, 0));
    let reasons = db.mass_send_reasons(corp_id, id).await.unwrap();
    let reasons: Vec<(String, i64)> = reasons.into_iter().map(|r| (r.reason, r.n)).collect();
    assert_eq!(reasons, [("fatigue_cap".to_string(), 1), ("no_guide".to_string(), 1)]);
    let unsent = db.mass_send_unsent(corp_id, id, 10).await.unwrap();
    assert_eq!(unsent.len(), 2);
    assert!(unsent.iter().all(|u| u.state == "skipped"));
    // Cancelling marks the planned customers not sent, once.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.cancel_mass_send(corp_id, id, NOW).await.unwrap());
    assert!(!tx.cancel_mass_send(corp_id, id, NOW).await.unwrap());
    assert!(tx.cancel_guide_tasks(corp_id, MASS_SEND_PURPOSE, id).await.unwrap().is_empty(), "none created yet");
    tx.commit().await.unwrap();
    let t = &db.guide_tasks_of(corp_id, MASS_SEND_PURPOSE, id).await.unwrap()[0];
    assert!(t.cancelled);
    assert!(!db.mark_guide_task_sending(corp_id, t.id, true).await.unwrap(), "a cancelled task is never claimed");
}

async fn new_send(db: &Db, corp_id: i64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let id = tx
        .insert_mass_send(&NewMassSend {
            corp_id,
            name: "分块",
            audience: "{}",
            content: "{}",
            guide_rule: "latest_follow",
            origin: "console",
            state: "queued",
            send_at: NOW,
            created_by: "user:1",
            now: NOW,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// The stage is replaced whole by a second start attempt; a chunk is taken
/// once (a twin takes nothing); the counts add up per chunk and exactly the
/// last chunk lets the send become planned; a cancelled send counts no chunk.
async fn a_staged_send_is_planned_chunk_by_chunk_once(db: &Db) {
    let corp_id = corp(db, "wwCHUNK").await;
    let id = new_send(db, corp_id).await;
    let row = |c: i64, chunk: i32, staff: Option<i64>| StagedCustomer {
        customer_id: c,
        chunk,
        staff_id: staff,
        external_userid: format!("wm{c}"),
    };
    // A first attempt staged 12,000 rows (several commits), a second one
    // restages a different split: only the second is left.
    let first: Vec<StagedCustomer> = (1..=12_000).map(|c| row(c, (c / 5_000) as i32, Some(1))).collect();
    db.stage_mass_send(corp_id, id, &first).await.unwrap();
    assert_eq!(db.mass_send_chunk(corp_id, id, 2).await.unwrap().len(), 2_001);
    let staged = vec![row(3, 0, Some(7)), row(1, 0, Some(7)), row(2, 1, None), row(4, 1, Some(8))];
    db.stage_mass_send(corp_id, id, &staged).await.unwrap();
    assert!(db.mass_send_chunk(corp_id, id, 2).await.unwrap().is_empty(), "the earlier stage is gone");
    let c0 = db.mass_send_chunk(corp_id, id, 0).await.unwrap();
    assert_eq!(c0.iter().map(|s| s.customer_id).collect::<Vec<_>>(), [1, 3], "by customer");
    assert_eq!(c0[0], row(1, 0, Some(7)));
    assert_eq!(db.mass_send_chunk(corp_id, id, 1).await.unwrap()[0], row(2, 1, None));

    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.count_mass_send_chunk(corp_id, id, 1, 0).await.unwrap(), None, "not planning yet");
    assert!(tx.begin_mass_send_planning(corp_id, id, "seg", 2, NOW).await.unwrap());
    assert!(!tx.begin_mass_send_planning(corp_id, id, "seg", 2, NOW).await.unwrap(), "begun once");
    assert_eq!(tx.take_mass_send_chunk(corp_id, id, 0).await.unwrap(), 2);
    assert_eq!(tx.count_mass_send_chunk(corp_id, id, 2, 0).await.unwrap(), Some(1));
    assert_eq!(tx.finish_mass_send_planning(corp_id, id).await.unwrap(), None, "a chunk is left");
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert_eq!(tx.take_mass_send_chunk(corp_id, id, 0).await.unwrap(), 0, "a twin takes nothing");
    assert_eq!(tx.take_mass_send_chunk(corp_id, id, 1).await.unwrap(), 2);
    assert_eq!(tx.count_mass_send_chunk(corp_id, id, 1, 1).await.unwrap(), Some(0));
    assert_eq!(tx.count_mass_send_chunk(corp_id, id, 1, 1).await.unwrap(), None, "no chunk below 0");
    assert_eq!(tx.finish_mass_send_planning(corp_id, id).await.unwrap(), Some((3, 1)));
    assert_eq!(tx.finish_mass_send_planning(corp_id, id).await.unwrap(), None, "planned once");
    tx.commit().await.unwrap();
    let send = db.mass_send(corp_id, id).await.unwrap().unwrap();
    assert_eq!((send.state.as_str(), send.planned, send.skipped, send.started_at), ("planned", 3, 1, Some(NOW)));

    // Cancelled while planning: a chunk counts nothing.
    let id = new_send(db, corp_id).await;
    db.stage_mass_send(corp_id, id, &[row(5, 0, Some(7))]).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    assert!(tx.begin_mass_send_planning(corp_id, id, "seg", 1, NOW).await.unwrap());
    assert!(tx.cancel_mass_send(corp_id, id, NOW).await.unwrap());
    assert_eq!(tx.take_mass_send_chunk(corp_id, id, 0).await.unwrap(), 1);
    assert_eq!(tx.count_mass_send_chunk(corp_id, id, 1, 0).await.unwrap(), None);
    tx.commit().await.unwrap();
    let send = db.mass_send(corp_id, id).await.unwrap().unwrap();
    assert_eq!((send.state.as_str(), send.planned), ("cancelled", 0));
}
