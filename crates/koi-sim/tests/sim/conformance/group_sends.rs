//! Mass messages to customer groups and the task list koi settles an
//! unknown outcome with: `get_groupmsg_list_v2` lists the corp's tasks of a
//! chat type in a window (≤ a month), by creator, newest first, paged by
//! cursor (≤ 100 a page); a group receives at most 4 of the corp's mass
//! messages a month (status 3 after); a lost answer leaves the task made.

use super::{wecom_code, Rig, CORP_ID, NOW};
use koi_wecom::client as wecom;
use koi_wecom::ErrCode;
use serde_json::json;

fn to_groups(chats: &[String], text: &str) -> wecom::AddMsgTemplateRequest {
    wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Group),
        chat_id_list: Some(chats.to_vec()),
        sender: Some("guide01".to_owned()),
        text: Some(wecom::Text::new(text)),
        ..Default::default()
    }
}

fn list(
    start: i64,
    end: i64,
    creator: Option<&str>,
    limit: u32,
    cursor: Option<String>,
) -> wecom::GetGroupmsgListV2Request {
    wecom::GetGroupmsgListV2Request {
        chat_type: wecom::ChatType::Group,
        start_time: start,
        end_time: end,
        creator: creator.map(str::to_owned),
        filter_type: Some(0),
        limit: Some(limit),
        cursor,
    }
}

#[tokio::test]
async fn group_tasks_are_listed_by_window_and_creator_and_a_group_gets_four_a_month() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let mine = rig.person("group/create", json!({ "owner": "guide01", "name": "会员一群" })).await;
    let mine = mine["chat_id"].as_str().expect("chat").to_owned();
    let other = rig.person("group/create", json!({ "owner": "guide02", "name": "别人的群" })).await;
    let other = other["chat_id"].as_str().expect("chat").to_owned();
    let t0 = rig.now().await;

    // Only the sender's own picked groups are taken; another's is in fail_list.
    let first = corp.add_msg_template(&to_groups(&[mine.clone(), other.clone()], "第1条"), NOW).await.expect("add");
    assert_eq!(first.fail_list, [other]);
    let mut made = vec![first.msgid.clone()];
    for n in 2..=5 {
        rig.advance(10.0).await;
        made.push(
            corp.add_msg_template(&to_groups(std::slice::from_ref(&mine), &format!("第{n}条")), NOW)
                .await
                .expect("add")
                .msgid,
        );
    }
    // A single-chat task of guide01 is not listed under group.
    let way = rig.contact_way("list", &["guide01"]).await;
    let (a, _, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "顾客").await;
    let single = wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Single),
        external_userid: Some(vec![a]),
        sender: Some("guide01".to_owned()),
        text: Some(wecom::Text::new("单聊")),
        ..Default::default()
    };
    corp.add_msg_template(&single, NOW).await.expect("single");
    let end = rig.now().await + 1;

    // Pages of 2, newest first, every task once.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = corp.get_groupmsg_list_v2(&list(t0 - 1, end, Some("guide01"), 2, cursor), NOW).await.expect("list");
        assert!(page.group_msg_list.len() <= 2);
        for m in &page.group_msg_list {
            assert_eq!((m.creator.as_str(), m.create_type), ("guide01", 0));
        }
        seen.extend(page.group_msg_list.into_iter().map(|m| (m.create_time, m.msgid, m.text.map(|t| t.content))));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = Some(page.next_cursor);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    assert_eq!(seen[0].2.as_deref(), Some("第5条"));
    let mut ids: Vec<String> = seen.iter().map(|s| s.1.clone()).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made);
    // Another creator, or a window before them: none.
    let theirs = corp.get_groupmsg_list_v2(&list(t0 - 1, end, Some("guide02"), 100, None), NOW).await.expect("list");
    assert!(theirs.group_msg_list.is_empty());
    let before = corp.get_groupmsg_list_v2(&list(t0 - 100, t0 - 1, None, 100, None), NOW).await.expect("list");
    assert!(before.group_msg_list.is_empty());
    // WeCom's limits: a window over a month, a page over 100, end before start.
    for bad in
        [list(t0 - 32 * 86_400, t0, None, 10, None), list(t0, end, None, 101, None), list(end, t0, None, 10, None)]
    {
        assert_eq!(wecom_code(corp.get_groupmsg_list_v2(&bad, NOW).await), ErrCode::INVALID_PARAMETER);
    }

    // guide01 confirms all five: the group gets four, the fifth is over quota.
    for m in &made {
        rig.person("mass/confirm", json!({ "msgid": m })).await;
    }
    let mut statuses = Vec::new();
    for (_, msgid, _) in seen.iter().rev() {
        let r = wecom::GetGroupmsgSendResultRequest {
            msgid: msgid.clone(),
            userid: "guide01".into(),
            ..Default::default()
        };
        let got = corp.get_groupmsg_send_result(&r, NOW).await.expect("result");
        assert_eq!(got.send_list[0].chat_id.as_deref(), Some(mine.as_str()));
        statuses.push(got.send_list[0].status);
    }
    statuses.sort();
    assert_eq!(statuses, [1, 1, 1, 1, 3], "4 a month for a group of the corp");

    // A lost answer: WeCom made the task, the caller saw a 502.
    let faults = json!({ "lose_answers": { "externalcontact/add_msg_template": 1 } });
    let r = rig.http.put(format!("{}/sim/corps/{CORP_ID}/faults", rig.sim.base_url())).json(&faults).send().await;
    assert!(r.expect("faults").status().is_success());
    let lost =
        corp.add_msg_template(&to_groups(std::slice::from_ref(&mine), "丢失"), NOW).await.expect_err("answer lost");
    assert!(lost.may_have_acted(), "{lost:?}");
    let now = rig.now().await + 1;
    let found = corp.get_groupmsg_list_v2(&list(t0 - 1, now, Some("guide01"), 100, None), NOW).await.expect("list");
    assert_eq!(found.group_msg_list.iter().filter(|m| m.text.as_ref().is_some_and(|t| t.content == "丢失")).count(), 1);
    // Only the next answer was lost.
    corp.add_msg_template(&to_groups(&[mine], "之后"), NOW).await.expect("answered again");
    rig.shutdown().await;
}
