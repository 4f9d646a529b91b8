//! The group assistant's tables on both databases: a message is appended
//! once per msgid, the feed cursor only moves forward, a reply and an alert
//! exist once per message, rules retire without losing their replies.

use super::{corp, NOW};
use koi_store::group_messages::{AssistantSettingsRow, NewGroupAlert, NewGroupMessage, NewGroupReply, RuleFields};
use koi_store::Db;

on_both!(
    group_messages_are_appended_once_and_the_cursor_only_moves_forward,
    replies_and_alerts_are_once_per_message_and_rules_retire,
    assistant_settings_and_welcome_templates_round_trip,
);

fn rf<'a>(name: &'a str, priority: i32, enabled: bool, definition: &'a str) -> RuleFields<'a> {
    RuleFields { name, priority, enabled, definition }
}

fn said<'a>(group_id: i64, seq: i64, msgid: &'a str, content: &'a str) -> NewGroupMessage<'a> {
    NewGroupMessage {
        group_id,
        seq,
        msgid,
        sender: "wmA",
        customer_id: None,
        msg_type: "text",
        content,
        sent_at: NOW + seq,
    }
}

async fn group_messages_are_appended_once_and_the_cursor_only_moves_forward(db: &Db) {
    let corp_id = corp(db, "wwFEED").await;
    let other = corp(db, "wwFEED2").await;
    assert_eq!(db.group_message_cursor(corp_id).await.unwrap(), 0, "an unread feed starts at 0");
    let mut tx = db.begin().await.unwrap();
    let g = tx.ensure_group(corp_id, "wrF").await.unwrap();
    let h = tx.ensure_group(other, "wrF").await.unwrap();
    let ids = tx.append_group_messages(corp_id, &[said(g, 1, "m1", "a"), said(g, 2, "m2", "b")]).await.unwrap();
    assert!(ids.iter().all(Option::is_some));
    tx.advance_group_message_cursor(corp_id, 2, NOW).await.unwrap();
    tx.commit().await.unwrap();

    // The feed read again (a retry, a second node): nothing twice.
    let mut tx = db.begin().await.unwrap();
    let again = tx.append_group_messages(corp_id, &[said(g, 2, "m2", "b"), said(g, 3, "m3", "c")]).await.unwrap();
    assert_eq!((again[0], again[1].is_some()), (None, true), "m2 is there; m3 is new");
    tx.advance_group_message_cursor(corp_id, 3, NOW).await.unwrap();
    tx.advance_group_message_cursor(corp_id, 1, NOW).await.unwrap();
    // Another corp's m1 is its own message.
    assert!(tx.append_group_messages(other, &[said(h, 1, "m1", "x")]).await.unwrap()[0].is_some());
    tx.commit().await.unwrap();
    assert_eq!(db.group_message_cursor(corp_id).await.unwrap(), 3, "a reader that finished late does not move it back");
    assert_eq!(db.group_message_cursor(other).await.unwrap(), 0);

    // A rolled-back read leaves neither messages nor cursor.
    let mut tx = db.begin().await.unwrap();
    tx.append_group_messages(corp_id, &[said(g, 4, "m4", "d")]).await.unwrap();
    tx.advance_group_message_cursor(corp_id, 4, NOW).await.unwrap();
    drop(tx);
    assert_eq!(db.group_message_cursor(corp_id).await.unwrap(), 3);
    let mut tx = db.begin().await.unwrap();
    assert!(tx.append_group_messages(corp_id, &[said(g, 4, "m4", "d")]).await.unwrap()[0].is_some());
    tx.commit().await.unwrap();
}

async fn replies_and_alerts_are_once_per_message_and_rules_retire(db: &Db) {
    let corp_id = corp(db, "wwREPLY").await;
    let rule = db.insert_reply_rule(corp_id, &rf("券", 0, true, "{}"), NOW).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let g = tx.ensure_group(corp_id, "wrR").await.unwrap();
    let ids = tx.append_group_messages(corp_id, &[said(g, 1, "r1", "券"), said(g, 2, "r2", "券")]).await.unwrap();
    let (m1, m2) = (ids[0].unwrap(), ids[1].unwrap());
    let reply = |message_id, state, said_at| NewGroupReply {
        message_id,
        group_id: g,
        rule_id: rule,
        sender: "wmA",
        customer_id: None,
        state,
        said_at,
    };
    assert_eq!(tx.last_group_reply(corp_id, rule, "wmA").await.unwrap(), None);
    let r1 = tx.insert_group_reply(corp_id, &reply(m1, "queued", NOW + 1), NOW).await.unwrap().unwrap();
    assert!(
        tx.insert_group_reply(corp_id, &reply(m1, "queued", NOW + 1), NOW).await.unwrap().is_none(),
        "once per message"
    );
    assert_eq!(tx.last_group_reply(corp_id, rule, "wmA").await.unwrap(), Some(NOW + 1), "seen in the same transaction");
    tx.insert_group_reply(corp_id, &reply(m2, "cooldown", NOW + 2), NOW).await.unwrap().unwrap();
    assert_eq!(
        tx.last_group_reply(corp_id, rule, "wmA").await.unwrap(),
        Some(NOW + 1),
        "a held-back match is no answer"
    );
    assert_eq!(tx.last_group_reply(corp_id, rule, "wmB").await.unwrap(), None, "per sender");
    let alert = NewGroupAlert {
        message_id: m1,
        group_id: g,
        sender: "wmA",
        customer_id: None,
        word: "券",
        content: "券",
        owner_userid: "wang",
        state: "queued",
        note: "",
        said_at: NOW + 1,
    };
    let a1 = tx.insert_group_alert(corp_id, &alert, NOW).await.unwrap().unwrap();
    assert!(tx.insert_group_alert(corp_id, &alert, NOW).await.unwrap().is_none());
    tx.commit().await.unwrap();
    // Claimed before the WeCom call, once; put back when it surely did not
    // reach WeCom; ended from `sending` as from `queued`.
    use koi_store::group_messages::Outbound;
    assert!(db.mark_sending(Outbound::Reply, corp_id, r1, true).await.unwrap(), "claimed");
    assert!(!db.mark_sending(Outbound::Reply, corp_id, r1, true).await.unwrap(), "claimed once");
    assert!(db.mark_sending(Outbound::Reply, corp_id, r1, false).await.unwrap(), "put back");
    assert!(db.mark_sending(Outbound::Reply, corp_id, r1, true).await.unwrap(), "claimed again");
    assert_eq!(db.group_reply(corp_id, r1).await.unwrap().unwrap().state, "sending");
    assert!(db.mark_sending(Outbound::Alert, corp_id, a1, true).await.unwrap());
    let mut tx = db.begin().await.unwrap();
    assert!(tx.finish_group_reply(corp_id, r1, "sent", "msgX", "", NOW).await.unwrap());
    assert!(!tx.finish_group_reply(corp_id, r1, "refused", "", "late", NOW).await.unwrap(), "a reply ends once");
    assert!(tx.finish_group_alert(corp_id, a1, "refused", "81013", NOW).await.unwrap());
    assert!(!tx.finish_group_alert(corp_id, a1, "sent", "", NOW).await.unwrap());
    tx.commit().await.unwrap();

    let replies = db.group_replies(corp_id, 10).await.unwrap();
    assert_eq!(replies.iter().map(|r| r.state.as_str()).collect::<Vec<_>>(), ["cooldown", "sent"], "newest first");
    assert_eq!(
        (replies[1].wecom_msgid.as_str(), replies[1].content.as_str(), replies[1].rule_name.as_str()),
        ("msgX", "券", "券")
    );
    let alerts = db.group_alerts(corp_id, 10).await.unwrap();
    assert_eq!((alerts.len(), alerts[0].state.as_str(), alerts[0].note.as_str()), (1, "refused", "81013"));
    assert_eq!(db.group_alert(corp_id, a1).await.unwrap().unwrap().owner_userid, "wang");

    // Rules: ordered by priority then age; a retired rule is gone from the
    // list but its replies still name it.
    let first = db.insert_reply_rule(corp_id, &rf("先", -5, true, "{}"), NOW).await.unwrap();
    let order: Vec<i64> = db.reply_rules(corp_id).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(order, [first, rule]);
    assert!(db.update_reply_rule(corp_id, rule, &rf("券2", 9, false, "{\"x\":1}"), NOW + 5).await.unwrap());
    let r = db.reply_rule(corp_id, rule).await.unwrap().unwrap();
    assert_eq!((r.name.as_str(), r.priority, r.enabled, r.definition.as_str()), ("券2", 9, false, "{\"x\":1}"));
    assert!(db.delete_reply_rule(corp_id, rule, NOW + 6).await.unwrap());
    assert!(!db.delete_reply_rule(corp_id, rule, NOW + 7).await.unwrap(), "retired once");
    assert!(
        !db.update_reply_rule(corp_id, rule, &rf("x", 0, true, "{}"), NOW).await.unwrap(),
        "a retired rule stays retired"
    );
    assert_eq!(db.reply_rules(corp_id).await.unwrap().len(), 1);
    assert_eq!(db.reply_rule(corp_id, rule).await.unwrap().unwrap().deleted_at, Some(NOW + 6));
    assert_eq!(db.group_replies(corp_id, 10).await.unwrap().len(), 2);
    assert!(db.reply_rule(corp(db, "wwREPLY2").await, rule).await.unwrap().is_none(), "rules are per corp");
}

async fn assistant_settings_and_welcome_templates_round_trip(db: &Db) {
    let corp_id = corp(db, "wwASSIST").await;
    assert!(db.group_assistant_settings(corp_id).await.unwrap().is_none());
    assert!(db.group_feed_corps().await.unwrap().is_empty());
    let s = AssistantSettingsRow {
        feed_enabled: true,
        agent_id: Some(1_000_002),
        sensitive_words: "[\"退款\"]".into(),
        updated_at: NOW,
    };
    db.save_group_assistant_settings(corp_id, &s).await.unwrap();
    db.save_group_assistant_settings(corp_id, &s).await.unwrap();
    assert_eq!(db.group_assistant_settings(corp_id).await.unwrap(), Some(s.clone()));
    assert_eq!(db.group_feed_corps().await.unwrap(), [corp_id]);
    db.save_group_assistant_settings(corp_id, &AssistantSettingsRow { feed_enabled: false, ..s }).await.unwrap();
    assert!(db.group_feed_corps().await.unwrap().is_empty());
    assert!(!db.has_pending_job(corp_id, "groups.read_feed").await.unwrap());
    assert_eq!(db.last_refused_job_at(corp_id, "groups.read_feed").await.unwrap(), None);
    // A feed job waits, runs, then WeCom refuses it.
    let mut tx = db.begin().await.unwrap();
    tx.enqueue(&koi_store::jobs::NewJob::new(Some(corp_id), "groups.read_feed", "{}", NOW), NOW).await.unwrap();
    tx.commit().await.unwrap();
    assert!(db.has_pending_job(corp_id, "groups.read_feed").await.unwrap());
    assert!(!db.has_pending_job(corp_id, "groups.reply").await.unwrap(), "per kind");
    let job = db.claim_jobs("w", 1, 60_000, NOW).await.unwrap().remove(0);
    assert!(db.has_pending_job(corp_id, "groups.read_feed").await.unwrap(), "a running job is pending too");
    let mut tx = db.begin().await.unwrap();
    let refused = koi_store::jobs::JobEnd::Refused("301053".into());
    assert!(tx.finish_job(job.id, "w", &refused, NOW + 9).await.unwrap());
    tx.commit().await.unwrap();
    assert!(!db.has_pending_job(corp_id, "groups.read_feed").await.unwrap());
    assert_eq!(db.last_refused_job_at(corp_id, "groups.read_feed").await.unwrap(), Some(NOW + 9));

    let id = db.insert_welcome_template(corp_id, "直播", "{}", "msgT", NOW).await.unwrap();
    assert_eq!(db.welcome_template(corp_id, id).await.unwrap().unwrap().template_id, "msgT", "kept with WeCom's id");
    assert!(db.update_welcome_template(corp_id, id, "直播", "{\"a\":1}", None, NOW + 1).await.unwrap());
    assert!(db.update_welcome_template(corp_id, id, "直播2", "{\"a\":2}", None, NOW + 2).await.unwrap());
    let t = db.welcome_template(corp_id, id).await.unwrap().unwrap();
    assert_eq!((t.name.as_str(), t.template_id.as_str(), t.definition.as_str()), ("直播2", "msgT", "{\"a\":2}"));
    assert_eq!(db.welcome_templates(corp_id).await.unwrap().len(), 1);
    assert!(db.delete_welcome_template(corp_id, id).await.unwrap());
    assert!(!db.delete_welcome_template(corp_id, id).await.unwrap());
}
