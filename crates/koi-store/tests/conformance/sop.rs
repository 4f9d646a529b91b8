//! SOP on both databases: a step fires once per (rule, step, target,
//! occurrence) and acts once; the after-add candidates skip customers it
//! fired for; a tracked link counts one open per window; guide tasks are
//! one per fire and only their guide marks them done.

use super::{add_store, corp, follow_via, staff_member, NOW};
use koi_domain::channel::ChannelCodeDraft;
use koi_store::sop::{MaterialWrite, NewSopFire, NewSopTask};
use koi_store::Db;

on_both!(sop_fires_once_acts_once_and_links_count_an_open_per_window);

async fn sop_fires_once_acts_once_and_links_count_an_open_per_window(db: &Db) {
    let a = corp(db, "wwSOP").await;
    let s = add_store(db, a, "S1").await;
    let guide = staff_member(db, a, "sop.g", s).await;
    let other = staff_member(db, a, "sop.o", s).await;
    let mut tx = db.begin().await.unwrap();
    let code = tx.insert_channel_code(a, "s", Some(s), &ChannelCodeDraft::default(), NOW).await.unwrap();
    tx.commit().await.unwrap();
    let c1 = follow_via(db, a, "wmS1", guide, code, s, NOW, false).await;
    let c2 = follow_via(db, a, "wmS2", guide, code, s, NOW + 1000, false).await;

    let mut tx = db.begin().await.unwrap();
    let rule = tx.insert_sop_rule(a, "r", "after_add", "{}", "", true, NOW - 10).await.unwrap();
    let found = tx.sop_after_add_candidates(a, rule, 0, NOW - 86_400_000, NOW + 5000, &[], 100).await.unwrap();
    assert_eq!(found, vec![(c1, NOW), (c2, NOW + 1000)]);
    let fire = |target| NewSopFire {
        corp_id: a,
        rule_id: rule,
        step: 0,
        target_kind: "customer",
        target_id: target,
        occurrence: 0,
        due_at: NOW,
        now: NOW,
    };
    let f1 = tx.insert_sop_fire(&fire(c1)).await.unwrap().expect("first fire");
    assert_eq!(tx.insert_sop_fire(&fire(c1)).await.unwrap(), None, "the same step for the same customer: once");
    let found = tx.sop_after_add_candidates(a, rule, 0, NOW - 86_400_000, NOW + 5000, &[], 100).await.unwrap();
    assert_eq!(found, vec![(c2, NOW + 1000)], "a customer it fired for is no candidate");
    let due = tx.due_sop_fires(a, NOW, 10).await.unwrap();
    assert_eq!(due.iter().map(|f| f.id).collect::<Vec<_>>(), vec![f1]);
    assert!(tx.finish_sop_fire(f1, "done", "", NOW).await.unwrap());
    assert!(!tx.finish_sop_fire(f1, "done", "", NOW).await.unwrap(), "acts once");
    let task = |fire_id| NewSopTask {
        corp_id: a,
        staff_id: guide,
        customer_id: Some(c1),
        group_id: None,
        rule_id: Some(rule),
        fire_id: Some(fire_id),
        title: "跟进",
        script_id: None,
        material_id: None,
        due_at: NOW,
        now: NOW,
    };
    let t = tx.insert_sop_task(&task(f1)).await.unwrap().expect("a task");
    assert_eq!(tx.insert_sop_task(&task(f1)).await.unwrap(), None, "one task per fire");
    assert!(!tx.set_sop_task_done(a, other, t, true, NOW).await.unwrap(), "not another guide's");
    assert!(tx.set_sop_task_done(a, guide, t, true, NOW).await.unwrap());
    assert!(!tx.set_sop_task_done(a, guide, t, true, NOW).await.unwrap(), "done once");
    assert_eq!(tx.owner_staff_of_customer(a, c1).await.unwrap(), Some(guide));
    assert_eq!(tx.sop_audience_guides(a, &[]).await.unwrap(), vec![guide]);
    assert!(tx.set_sop_rule_enabled(a, rule, false, NOW).await.unwrap());
    assert!(tx.enabled_sop_rules(a, &["after_add"]).await.unwrap().is_empty());
    let w = MaterialWrite {
        kind: "pdf",
        folder: "",
        title: "手册",
        url: "https://x.example/a.pdf",
        description: "",
        appid: "",
        page: "",
        now: NOW,
    };
    let m = tx.insert_material(a, &w).await.unwrap();
    tx.insert_material_link("tokA", a, m, c1, Some(guide), NOW).await.unwrap();
    tx.insert_material_link("tokB", a, m, c2, Some(guide), NOW).await.unwrap();
    assert!(tx.count_link_open("tokA", NOW, 1000).await.unwrap());
    assert!(!tx.count_link_open("tokA", NOW + 999, 1000).await.unwrap(), "within the window");
    assert!(tx.count_link_open("tokA", NOW + 1000, 1000).await.unwrap(), "a window later");
    assert!(!tx.count_link_open("nope", NOW, 1000).await.unwrap());
    tx.commit().await.unwrap();
    let stats = db.material_stats(a).await.unwrap();
    assert_eq!((stats[0].sends, stats[0].opens, stats[0].openers), (2, 2, 1));
    let counts = db.sop_rule_counts(a).await.unwrap();
    assert_eq!((counts[0].done, counts[0].tasks_done), (1, 1));
    let opens = db.customer_material_opens(a, c1).await.unwrap();
    assert_eq!((opens.len(), opens[0].opens), (1, 2));
}
