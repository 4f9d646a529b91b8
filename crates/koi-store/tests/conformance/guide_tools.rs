//! Guide tools on both databases: a material's file keeps its bytes exactly
//! and a new file forgets the WeCom media of the old; a WeCom media upload
//! never replaces a newer one; the SOP report counts each guide's tasks
//! planned, done, overdue and the steps skipped for their customers, by
//! rule and window.

use super::{add_store, corp, follow_via, staff_member, NOW};
use koi_domain::channel::ChannelCodeDraft;
use koi_store::material_files::{NewMaterialFile, WecomMediaRow};
use koi_store::sop::{MaterialWrite, NewSopFire, NewSopTask};
use koi_store::sop_report::{SopGuideCounts, SopReportScope};
use koi_store::Db;

on_both!(material_files_keep_their_bytes_and_their_media_follow_the_file, the_sop_report_counts_per_guide);

async fn material_files_keep_their_bytes_and_their_media_follow_the_file(db: &Db) {
    let (a, b) = (corp(db, "wwMF1").await, corp(db, "wwMF2").await);
    let w = MaterialWrite {
        kind: "pdf",
        folder: "",
        title: "手册",
        url: "",
        description: "",
        appid: "",
        page: "",
        now: NOW,
    };
    let mut tx = db.begin().await.unwrap();
    let m = tx.insert_material(a, &w).await.unwrap();
    let other = tx.insert_material(b, &w).await.unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    fn file<'x>(corp_id: i64, material_id: i64, sha256: &'x str, bytes: &'x [u8]) -> NewMaterialFile<'x> {
        let (content_type, filename) = ("application/pdf", "手册.pdf");
        NewMaterialFile { corp_id, material_id, content_type, filename, sha256, bytes, now: NOW }
    }
    tx.put_material_file(&file(a, m, "aa", &bytes)).await.unwrap();
    assert!(tx.material_has_file(a, m).await.unwrap());
    assert!(!tx.material_has_file(b, other).await.unwrap());
    assert!(!tx.material_has_file(b, m).await.unwrap(), "another corp's");
    tx.commit().await.unwrap();
    let f = db.material_file(a, m).await.unwrap().expect("the file");
    assert_eq!((f.bytes.len(), f.size, f.filename.as_str()), (100_000, 100_000, "手册.pdf"));
    assert_eq!(f.bytes, bytes, "the bytes exactly");
    assert_eq!(db.material_file(b, m).await.unwrap(), None);
    let (corp_of, by_id) = db.material_file_by_id(m).await.unwrap().expect("by id");
    assert_eq!((corp_of, by_id.sha256.as_str()), (a, "aa"));
    assert_eq!(db.material_file_infos(a).await.unwrap().len(), 1);
    assert!(db.material_file_infos(b).await.unwrap().is_empty());

    let media =
        |id: &str, sha: &str, at: i64| WecomMediaRow { media_id: id.into(), sha256: sha.into(), uploaded_at: at };
    db.put_wecom_media(a, m, "file", &media("M1", "aa", NOW)).await.unwrap();
    db.put_wecom_media(a, m, "file", &media("M0", "aa", NOW - 10)).await.unwrap();
    assert_eq!(db.wecom_media(a, m, "file").await.unwrap(), Some(media("M1", "aa", NOW)), "an older upload loses");
    db.put_wecom_media(a, m, "file", &media("M2", "aa", NOW + 10)).await.unwrap();
    assert_eq!(db.wecom_media(a, m, "file").await.unwrap().map(|r| r.media_id), Some("M2".into()));
    assert_eq!(db.wecom_media(a, m, "image").await.unwrap(), None);

    let mut tx = db.begin().await.unwrap();
    tx.put_material_file(&file(a, m, "aa", b"%PDF-same")).await.unwrap();
    tx.commit().await.unwrap();
    assert!(db.wecom_media(a, m, "file").await.unwrap().is_some(), "the same file keeps its media");
    let mut tx = db.begin().await.unwrap();
    tx.put_material_file(&file(a, m, "bb", b"%PDF-new")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.wecom_media(a, m, "file").await.unwrap(), None, "a new file is uploaded again");
    let f = db.material_file(a, m).await.unwrap().expect("the new file");
    assert_eq!((f.bytes.as_slice(), f.size, f.sha256.as_str()), (&b"%PDF-new"[..], 8, "bb"));
}

async fn the_sop_report_counts_per_guide(db: &Db) {
    let a = corp(db, "wwSOPR").await;
    let s = add_store(db, a, "S1").await;
    let (g1, g2) = (staff_member(db, a, "rep.g1", s).await, staff_member(db, a, "rep.g2", s).await);
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(a, "s", Some(s), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let c1 = follow_via(db, a, "wmR1", g1, code, s, NOW, false).await;
    let c2 = follow_via(db, a, "wmR2", g2, code, s, NOW, false).await;

    let mut tx = db.begin().await.unwrap();
    let r1 = tx.insert_sop_rule(a, "r1", "after_add", "{}", "", true, NOW - 10).await.unwrap();
    let r2 = tx.insert_sop_rule(a, "r2", "after_add", "{}", "", true, NOW - 10).await.unwrap();
    let mut n = 0;
    let mut fire = |rule, target, due| {
        n += 1;
        NewSopFire {
            corp_id: a,
            rule_id: rule,
            step: n,
            target_kind: "customer",
            target_id: target,
            occurrence: 0,
            due_at: due,
            now: NOW,
        }
    };
    let (f1, f2, f3, f4) = (fire(r1, c1, NOW), fire(r1, c1, NOW - 3 * DAY), fire(r1, c1, NOW), fire(r2, c2, NOW));
    let f5 = fire(r1, c2, NOW - 40 * DAY);
    let mut ids = Vec::new();
    for f in [&f1, &f2, &f3, &f4, &f5] {
        ids.push(tx.insert_sop_fire(f).await.unwrap().expect("a fire"));
    }
    let task = |staff, fire_id, rule, due| NewSopTask {
        corp_id: a,
        staff_id: staff,
        customer_id: Some(c1),
        group_id: None,
        rule_id: Some(rule),
        fire_id: Some(fire_id),
        title: "跟进",
        script_id: None,
        material_id: None,
        due_at: due,
        now: NOW,
    };
    // g1: one done, one overdue (due 3 days ago), one skipped step.
    let done = tx.insert_sop_task(&task(g1, ids[0], r1, NOW)).await.unwrap().expect("task");
    tx.insert_sop_task(&task(g1, ids[1], r1, NOW - 3 * DAY)).await.unwrap().expect("task");
    assert!(tx.set_sop_task_done(a, g1, done, true, NOW).await.unwrap());
    assert!(tx.finish_sop_fire(ids[2], "skipped", "fatigue_cap", NOW).await.unwrap());
    // g2: one task of the other rule, still in time; one old skipped step.
    tx.insert_sop_task(&task(g2, ids[3], r2, NOW)).await.unwrap().expect("task");
    assert!(tx.finish_sop_fire(ids[4], "skipped", "fatigue_cap", NOW).await.unwrap());
    tx.commit().await.unwrap();

    let scope = |rule_id, since| SopReportScope { corp_id: a, rule_id, since, overdue_before: NOW - DAY };
    let all = db.sop_guide_report(scope(None, NOW - 30 * DAY)).await.unwrap();
    let counts =
        |staff_id, planned, done, overdue, skipped| SopGuideCounts { staff_id, planned, done, overdue, skipped };
    assert_eq!(all, vec![counts(g1, 2, 1, 1, 1), counts(g2, 1, 0, 0, 0)], "the 40-day-old skip is outside");
    let wide = db.sop_guide_report(scope(None, NOW - 60 * DAY)).await.unwrap();
    assert_eq!(wide, vec![counts(g1, 2, 1, 1, 1), counts(g2, 1, 0, 0, 1)]);
    let r2_only = db.sop_guide_report(scope(Some(r2), NOW - 60 * DAY)).await.unwrap();
    assert_eq!(r2_only, vec![counts(g2, 1, 0, 0, 0)]);
    let other = corp(db, "wwSOPR2").await;
    let none = db
        .sop_guide_report(SopReportScope { corp_id: other, rule_id: None, since: 0, overdue_before: NOW })
        .await
        .unwrap();
    assert!(none.is_empty(), "another corp sees nothing");
}

const DAY: i64 = 86_400_000;
