//! Guide tasks to customer groups and settling tasks whose outcome is
//! unknown, on both databases: a group task keeps its groups and their
//! outcomes (fail list, results, the rest ended); an `unknown` task is
//! adopted with a found msgid once, or marked `absent` and requeued once,
//! its customers and groups planned again; cancelling ends planned groups.

use super::{add_store, corp, NOW};
use koi_domain::org::StaffDraft;
use koi_store::groups::GroupState;
use koi_store::mass_sends::{NewMassSend, MASS_SEND_PURPOSE};
use koi_store::outreach::{NewGuideTask, RecipientResult, OUTCOME_UNKNOWN};
use koi_store::Db;

on_both!(a_group_task_keeps_its_groups_and_an_unknown_task_is_settled_once);

fn result(chat: &str, state: &'static str, reason: &str) -> RecipientResult {
    RecipientResult { external_userid: chat.into(), state, reason: reason.into(), sent_at: Some(NOW) }
}

async fn a_group_task_keeps_its_groups_and_an_unknown_task_is_settled_once(db: &Db) {
    let corp_id = corp(db, "wwGRPSEND").await;
    let store = add_store(db, corp_id, "S1").await;
    let mut tx = db.begin().await.unwrap();
    let d = StaffDraft {
        userid: "o1".into(),
        name: "群主一".into(),
        active: true,
        store_ids: vec![store],
        ..Default::default()
    };
    let staff = tx.insert_staff(corp_id, &d, NOW).await.unwrap();
    let mut groups = Vec::new();
    for (chat, name) in [("wrA", "甲群"), ("wrB", "乙群"), ("wrC", "丙群")] {
        let g = tx.ensure_group(corp_id, chat).await.unwrap();
        let s = GroupState { name, owner_userid: "o1", owner_staff_id: Some(staff), ..Default::default() };
        assert!(tx.claim_group_sync(g, &s, NOW).await.unwrap());
        groups.push((g, chat.to_string()));
    }
    let id = tx
        .insert_mass_send(&NewMassSend {
            corp_id,
            name: "群发",
            audience: r#"{"type":"groups"}"#,
            content: "{}",
            guide_rule: "latest_follow",
            origin: "api",
            state: "queued",
            send_at: NOW,
            created_by: "api",
            now: NOW,
        })
        .await
        .unwrap();
    assert!(tx.start_mass_send(corp_id, id, "甲群、乙群、丙群 (3)", 3, 0, "", NOW).await.unwrap());
    let task = |part: i32| NewGuideTask {
        corp_id,
        purpose: MASS_SEND_PURPOSE,
        purpose_id: id,
        staff_id: staff,
        sender: "o1",
        part,
        content: r#"{"text":"hi","link":null}"#,
        recipients: &[],
        now: NOW,
    };
    let t1 = tx.insert_guide_task(&task(0)).await.unwrap().expect("planned");
    tx.insert_guide_task_groups(corp_id, t1, &groups[..2]).await.unwrap();
    let t2 = tx.insert_guide_task(&task(1)).await.unwrap().expect("planned");
    tx.insert_guide_task_groups(corp_id, t2, &groups[2..]).await.unwrap();
    tx.commit().await.unwrap();
    let row = db.guide_task(corp_id, t1).await.unwrap().unwrap();
    assert_eq!((row.chat_type.as_str(), row.looked_up_at), ("group", 0));
    let g1 = db.guide_task_groups(corp_id, t1).await.unwrap();
    assert_eq!(
        g1.iter().map(|g| (g.chat_id.as_str(), g.state.as_str())).collect::<Vec<_>>(),
        [("wrA", "planned"), ("wrB", "planned")]
    );

    // Task 1 is created: wrB is in the fail list, wrA is sent; a sent group stays sent.
    assert!(db.mark_guide_task_sending(corp_id, t1, true).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_guide_task(corp_id, t1, "created", "msgONE", "", NOW).await.unwrap());
    tx.record_group_results(corp_id, t1, &[result("wrB", "failed", "group_gone")]).await.unwrap();
    tx.record_group_results(corp_id, t1, &[result("wrA", "sent", "")]).await.unwrap();
    tx.record_group_results(corp_id, t1, &[result("wrA", "failed", "group_quota_used")]).await.unwrap();
    tx.commit().await.unwrap();
    let rows = db.mass_send_groups(corp_id, id).await.unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (r.group_name.as_str(), r.owner_userid.as_str(), r.state.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        [("甲群", "o1", "sent", ""), ("乙群", "o1", "failed", "group_gone"), ("丙群", "o1", "planned", "")]
    );
    assert_eq!(rows[0].owner_name, "群主一");
    assert_eq!(db.guide_task_with_msgid(corp_id, "msgONE").await.unwrap(), Some(t1));
    assert_eq!(db.guide_task_with_msgid(corp_id, "msgNONE").await.unwrap(), None);

    // Task 2 ends unknown; only an unknown task is adopted, once.
    assert!(db.mark_guide_task_sending(corp_id, t2, true).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_guide_task(corp_id, t2, "unknown", "", "maybe", NOW).await.unwrap());
    assert_eq!(tx.end_planned_groups(corp_id, t2, "failed", OUTCOME_UNKNOWN).await.unwrap(), 1);
    assert!(!tx.adopt_guide_task(corp_id, t1, "msgX", NOW).await.unwrap(), "a created task is not adopted");
    assert!(!tx.requeue_guide_task(corp_id, t2, NOW).await.unwrap(), "unknown is not resent before a lookup");
    tx.commit().await.unwrap();
    assert_eq!(db.guide_task_groups(corp_id, t2).await.unwrap()[0].reason, OUTCOME_UNKNOWN);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.adopt_guide_task(corp_id, t2, "msgTWO", NOW + 5).await.unwrap());
    assert!(!tx.adopt_guide_task(corp_id, t2, "msgTHREE", NOW + 6).await.unwrap(), "adopted once");
    assert!(!tx.mark_guide_task_absent(corp_id, t2, "x", NOW).await.unwrap());
    tx.commit().await.unwrap();
    let t = db.guide_task(corp_id, t2).await.unwrap().unwrap();
    assert_eq!(
        (t.state.as_str(), t.wecom_msgid.as_str(), t.settled, t.looked_up_at),
        ("created", "msgTWO", false, NOW + 5)
    );
    let g = &db.guide_task_groups(corp_id, t2).await.unwrap()[0];
    assert_eq!((g.state.as_str(), g.reason.as_str()), ("planned", ""), "planned again, to be read");

    // A customer task that ends unknown, is absent, and is requeued once.
    let mut tx = db.begin().await.unwrap();
    let c = tx.seed_followed_customers(corp_id, &[("wmONE".into(), staff)], Some(store), NOW).await.unwrap()[0];
    let recipients = [(c, "wmONE".to_string())];
    let single = NewGuideTask { recipients: &recipients, part: 2, ..task(2) };
    let t3 = tx.insert_guide_task(&single).await.unwrap().expect("planned");
    tx.commit().await.unwrap();
    assert_eq!(db.guide_task(corp_id, t3).await.unwrap().unwrap().chat_type, "single");
    assert!(db.mark_guide_task_sending(corp_id, t3, true).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_guide_task(corp_id, t3, "unknown", "", "maybe", NOW).await.unwrap());
    tx.end_planned_recipients(corp_id, t3, "failed", OUTCOME_UNKNOWN).await.unwrap();
    assert!(tx.mark_guide_task_absent(corp_id, t3, "not in WeCom", NOW + 7).await.unwrap());
    assert!(tx.requeue_guide_task(corp_id, t3, NOW + 8).await.unwrap());
    assert!(!tx.requeue_guide_task(corp_id, t3, NOW + 9).await.unwrap(), "resent once");
    tx.commit().await.unwrap();
    let t = db.guide_task(corp_id, t3).await.unwrap().unwrap();
    assert_eq!((t.state.as_str(), t.note.as_str(), t.looked_up_at), ("queued", "", NOW + 7));
    let r = &db.guide_task_recipients(corp_id, t3).await.unwrap()[0];
    assert_eq!((r.state.as_str(), r.reason.as_str()), ("planned", ""));
    assert!(db.mark_guide_task_sending(corp_id, t3, true).await.unwrap(), "a new claim");

    // Cancelling ends the planned groups, not the sent ones.
    let mut tx = db.begin().await.unwrap();
    assert!(tx.cancel_mass_send(corp_id, id, NOW).await.unwrap());
    tx.cancel_guide_tasks(corp_id, MASS_SEND_PURPOSE, id).await.unwrap();
    tx.commit().await.unwrap();
    let after = db.mass_send_groups(corp_id, id).await.unwrap();
    let states: Vec<(&str, &str)> = after.iter().map(|r| (r.state.as_str(), r.reason.as_str())).collect();
    assert_eq!(states, [("sent", ""), ("failed", "group_gone"), ("not_sent", "cancelled")]);
}

on_both!(a_group_send_counts_member_messages_and_orders_in_its_window);

/// After a group received a send: messages by members who are not staff
/// within the window count as replies; orders within it by the customers
/// who were members at the send count as orders. Before the send, after
/// the window, staff, a member who had left and one who joined later do not.
async fn a_group_send_counts_member_messages_and_orders_in_its_window(db: &Db) {
    use koi_store::group_messages::NewGroupMessage;
    use koi_store::groups::NewMember;
    const WINDOW: i64 = 3 * 86_400_000;
    const HOUR: i64 = 3_600_000;
    let corp_id = corp(db, "wwGRPRESP").await;
    let store = add_store(db, corp_id, "S1").await;
    let mut tx = db.begin().await.unwrap();
    let d = StaffDraft {
        userid: "o1".into(),
        name: "群主".into(),
        active: true,
        store_ids: vec![store],
        ..Default::default()
    };
    let staff = tx.insert_staff(corp_id, &d, NOW).await.unwrap();
    let pairs: Vec<(String, i64)> = ["wmA", "wmB", "wmC"].iter().map(|e| (e.to_string(), staff)).collect();
    let c = tx.seed_followed_customers(corp_id, &pairs, Some(store), NOW - 100 * HOUR).await.unwrap();
    let (a, b, late) = (c[0], c[1], c[2]);
    let mut groups = Vec::new();
    for (chat, name) in [("wrR1", "回复群"), ("wrR2", "未发群")] {
        let g = tx.ensure_group(corp_id, chat).await.unwrap();
        let s = GroupState { name, owner_userid: "o1", owner_staff_id: Some(staff), ..Default::default() };
        assert!(tx.claim_group_sync(g, &s, NOW).await.unwrap());
        groups.push((g, chat.to_string()));
    }
    let g = groups[0].0;
    let joined = (NOW - 10 * HOUR) / 1000;
    for (userid, kind, customer, join_time) in [
        ("o1", "staff", None, joined),
        ("wmA", "customer", Some(a), joined),
        ("wmB", "customer", Some(b), joined),
        ("wmC", "customer", Some(late), (NOW + HOUR) / 1000),
        ("wmSTRANGER", "customer", None, joined),
    ] {
        let m = NewMember { userid, member_type: kind, customer_id: customer, join_time, ..Default::default() };
        assert!(tx.insert_group_member(corp_id, g, &m).await.unwrap());
    }
    let b_stay = tx.present_members(corp_id, g).await.unwrap().into_iter().find(|m| m.userid == "wmB").unwrap().id;
    assert!(tx.end_group_member(b_stay, NOW - HOUR).await.unwrap(), "B left before the send");
    // The same people in the group that was not sent: nothing counts there.
    let m = NewMember {
        userid: "wmA",
        member_type: "customer",
        customer_id: Some(a),
        join_time: joined,
        ..Default::default()
    };
    assert!(tx.insert_group_member(corp_id, groups[1].0, &m).await.unwrap());
    let id = tx
        .insert_mass_send(&NewMassSend {
            corp_id,
            name: "群发",
            audience: r#"{"type":"groups"}"#,
            content: "{}",
            guide_rule: "latest_follow",
            origin: "api",
            state: "queued",
            send_at: NOW,
            created_by: "api",
            now: NOW,
        })
        .await
        .unwrap();
    let task = NewGuideTask {
        corp_id,
        purpose: MASS_SEND_PURPOSE,
        purpose_id: id,
        staff_id: staff,
        sender: "o1",
        part: 0,
        content: "{}",
        recipients: &[],
        now: NOW,
    };
    let t = tx.insert_guide_task(&task).await.unwrap().expect("planned");
    tx.insert_guide_task_groups(corp_id, t, &groups).await.unwrap();
    tx.finish_guide_task(corp_id, t, "created", "msgR", "", NOW).await.unwrap();
    tx.record_group_results(corp_id, t, &[result("wrR1", "sent", "")]).await.unwrap();
    let said = [
        ("m1", "wmA", NOW + 60_000),
        ("m2", "wmSTRANGER", NOW + 2 * HOUR),
        ("m3", "o1", NOW + 3 * HOUR),
        ("m4", "wmA", NOW - 60_000),
        ("m5", "wmA", NOW + WINDOW + 60_000),
    ];
    let rows: Vec<NewGroupMessage> = said
        .iter()
        .enumerate()
        .map(|(i, (msgid, sender, at))| NewGroupMessage {
            group_id: g,
            seq: i as i64 + 1,
            msgid,
            sender,
            customer_id: (*sender == "wmA").then_some(a),
            msg_type: "text",
            content: "在吗",
            sent_at: *at,
        })
        .collect();
    tx.append_group_messages(corp_id, &rows).await.unwrap();
    let r2 = NewGroupMessage {
        group_id: groups[1].0,
        seq: 9,
        msgid: "m9",
        sender: "wmA",
        customer_id: Some(a),
        msg_type: "text",
        content: "x",
        sent_at: NOW + HOUR,
    };
    tx.append_group_messages(corp_id, &[r2]).await.unwrap();
    for (shop, customer, at) in [
        ("O1", a, NOW + HOUR),
        ("O2", a, NOW - HOUR),
        ("O3", a, NOW + WINDOW + HOUR),
        ("O4", b, NOW + HOUR),
        ("O5", late, NOW + 2 * HOUR),
    ] {
        let o = koi_store::orders::OrderWrite { ordered_at: at, ..super::order_write(shop, "") };
        let oid = tx.insert_order(corp_id, &o, NOW).await.unwrap().expect("a new order");
        let m = koi_store::orders::OrderMatch {
            customer_id: customer,
            matched_by: "external_userid",
            staff_id: None,
            store_id: None,
            code_id: None,
            rule: "",
            first_order: false,
        };
        assert!(tx.match_order(corp_id, oid, &m, NOW).await.unwrap());
    }
    tx.commit().await.unwrap();
    let r = db.mass_send_group_responses(corp_id, id, WINDOW).await.unwrap();
    assert_eq!(r.len(), 1, "only the group that was sent: {r:?}");
    assert_eq!((r[0].group_id, r[0].replies, r[0].orders), (g, 2, 1), "{r:?}");
}
