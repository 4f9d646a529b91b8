//! The group assistant's WeCom APIs through koi's client: the session
//! archive feed (`msgaudit/get_chat_data`), group welcome templates and app
//! messages, with their limits and failure modes.

use super::{wecom_code, Rig, NOW};
use koi_wecom::client::{
    self as wecom, AppMessageRequest, GetChatDataRequest, GroupWelcomeAddRequest, GroupWelcomeContent,
    GroupWelcomeEditRequest, GroupWelcomeIdRequest,
};
use koi_wecom::ErrCode;
use serde_json::json;

/// A group owned by guide01 with a customer in it: (chat_id, external_userid).
async fn group_with_customer(rig: &Rig) -> (String, String) {
    let chat = rig.person("group/create", json!({ "owner": "guide01", "name": "静安粉丝群" })).await;
    let chat_id = chat["chat_id"].as_str().expect("chat_id").to_owned();
    let joined = rig.person("join", json!({ "chat_id": chat_id, "customer": { "name": "群友" } })).await;
    (chat_id, joined["external_userid"].as_str().expect("joiner").to_owned())
}

#[tokio::test]
async fn the_session_archive_feed_pages_by_seq() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let (chat_id, customer) = group_with_customer(&rig).await;
    rig.person("group/say", json!({ "chat_id": chat_id, "from": customer, "text": "今晚几点直播？" })).await;
    rig.person("group/say", json!({ "chat_id": chat_id, "from": "guide01", "text": "8点" })).await;
    let image = json!({ "md5sum": "abc", "filesize": 1024 });
    rig.person("group/say", json!({ "chat_id": chat_id, "from": customer, "image": image })).await;
    let link = json!({ "title": "券", "description": "满100减20", "link_url": "https://x.example/c" });
    rig.person("group/say", json!({ "chat_id": chat_id, "from": customer, "link": link })).await;
    // Someone not in the group cannot speak in it.
    let r = rig
        .http
        .post(format!("{}/sim/group/say", rig.sim.base_url()))
        .json(&json!({ "chat_id": chat_id, "from": "guide03", "text": "hi" }))
        .send()
        .await
        .expect("sim");
    assert_eq!(r.status().as_u16(), 409);

    let all = corp.get_chat_data(&GetChatDataRequest { seq: 0, limit: 1000 }, NOW).await.expect("feed").chatdata;
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let first = &all[0];
    assert_eq!(
        (first.action.as_str(), first.from.as_str(), first.roomid.as_str()),
        ("send", customer.as_str(), chat_id.as_str())
    );
    assert_eq!((first.msgtype.as_str(), first.content().as_str()), ("text", "今晚几点直播？"));
    assert_eq!(first.tolist, ["guide01"]);
    assert!(first.msgtime > 0 && !first.msgid.is_empty());
    assert_eq!(all[2].image.as_ref().map(|i| i.filesize), Some(1024));
    assert_eq!(all[2].content(), "", "an image has no text");
    assert_eq!(all[3].link.as_ref().map(|l| l.link_url.as_str()), Some("https://x.example/c"));
    assert_eq!(all.iter().map(|m| m.msgid.clone()).collect::<std::collections::HashSet<_>>().len(), 4);

    // After seq 2, one at a time; past the end, nothing.
    let page = corp.get_chat_data(&GetChatDataRequest { seq: 2, limit: 1 }, NOW).await.expect("page").chatdata;
    assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [3]);
    let end = corp.get_chat_data(&GetChatDataRequest { seq: 4, limit: 10 }, NOW).await.expect("end");
    assert!(end.chatdata.is_empty());
    let beyond = corp.get_chat_data(&GetChatDataRequest { seq: 99, limit: 10 }, NOW).await.expect("beyond");
    assert!(beyond.chatdata.is_empty());
    for limit in [0, 1001] {
        let r = corp.get_chat_data(&GetChatDataRequest { seq: 0, limit }, NOW).await;
        assert_eq!(wecom_code(r), ErrCode::INVALID_PARAMETER, "limit {limit}");
    }
    // A corp without the archive.
    let url = format!("{}/sim/corps/{}/archive", rig.sim.base_url(), super::CORP_ID);
    assert!(rig.http.put(url).json(&json!({ "enabled": false })).send().await.expect("sim").status().is_success());
    let r = corp.get_chat_data(&GetChatDataRequest { seq: 0, limit: 10 }, NOW).await;
    assert_eq!(wecom_code(r), ErrCode::ARCHIVE_NOT_ENABLED);
    assert!(!ErrCode::ARCHIVE_NOT_ENABLED.is_busy());
    rig.shutdown().await;
}

fn content(text: &str, link: Option<wecom::Link>) -> GroupWelcomeContent {
    GroupWelcomeContent { text: Some(wecom::Text::new(text)), link, ..GroupWelcomeContent::default() }
}

fn coupon(title: &str) -> wecom::Link {
    wecom::Link { title: title.into(), url: "https://x.example/coupon".into(), ..wecom::Link::default() }
}

#[tokio::test]
async fn group_welcome_templates_greet_joiners_of_the_groups_that_chose_them() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let add = GroupWelcomeAddRequest {
        content: content("今晚 20:00 直播", Some(coupon("领券"))),
        ..Default::default()
    };
    let made = corp.group_welcome_add(&add, NOW).await.expect("add");
    assert!(!made.template_id.is_empty());
    let id = GroupWelcomeIdRequest { template_id: made.template_id.clone(), agentid: None };
    let got = corp.group_welcome_get(&id, NOW).await.expect("get");
    assert_eq!(got.text.map(|t| t.content).as_deref(), Some("今晚 20:00 直播"));
    assert_eq!(got.link.map(|l| l.title).as_deref(), Some("领券"));
    let edit = GroupWelcomeEditRequest {
        template_id: made.template_id.clone(),
        content: content("明晚 20:00 直播", None),
        agentid: None,
    };
    corp.group_welcome_edit(&edit, NOW).await.expect("edit");
    let got = corp.group_welcome_get(&id, NOW).await.expect("get");
    assert_eq!((got.text.map(|t| t.content).as_deref(), got.link), (Some("明晚 20:00 直播"), None));

    // WeCom's limits.
    let long = GroupWelcomeAddRequest { content: content(&"字".repeat(1334), None), ..Default::default() };
    assert_eq!(wecom_code(corp.group_welcome_add(&long, NOW).await), ErrCode::CONTENT_TOO_LARGE, "4002 bytes");
    let title = GroupWelcomeAddRequest { content: content("x", Some(coupon(&"t".repeat(129)))), ..Default::default() };
    assert_eq!(wecom_code(corp.group_welcome_add(&title, NOW).await), ErrCode::CONTENT_TOO_LARGE);
    let mut two = content("x", Some(coupon("a")));
    two.image = Some(wecom::Image { media_id: None, pic_url: Some("https://x.example/p.png".into()) });
    let two = GroupWelcomeAddRequest { content: two, ..Default::default() };
    assert_eq!(wecom_code(corp.group_welcome_add(&two, NOW).await), ErrCode::INVALID_PARAMETER, "one attachment");
    let mini =
        wecom::MiniProgram { title: "m".repeat(65), appid: "wx1".into(), page: "p".into(), pic_media_id: "m".into() };
    let mini = GroupWelcomeAddRequest {
        content: GroupWelcomeContent { miniprogram: Some(mini), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(wecom_code(corp.group_welcome_add(&mini, NOW).await), ErrCode::CONTENT_TOO_LARGE);
    let empty = GroupWelcomeAddRequest::default();
    assert_eq!(wecom_code(corp.group_welcome_add(&empty, NOW).await), ErrCode::INVALID_PARAMETER);
    let ghost = GroupWelcomeEditRequest { template_id: "msgnone".into(), content: content("x", None), agentid: None };
    assert_eq!(wecom_code(corp.group_welcome_edit(&ghost, NOW).await), ErrCode::INVALID_PARAMETER);

    // The owner picks the template for one group; its next joiner is greeted.
    let (chat_id, first) = group_with_customer(&rig).await;
    rig.person("group/welcome", json!({ "chat_id": chat_id, "template_id": made.template_id })).await;
    let joined = rig.person("join", json!({ "chat_id": chat_id, "customer": { "name": "新人" } })).await;
    rig.person("join", json!({ "chat_id": chat_id, "customer": { "external_userid": "guide02" } })).await;
    let greeted = rig.sim.state().group_welcomes();
    assert_eq!(greeted.len(), 1, "only the customer who joined after the choice: {greeted:?}");
    assert_eq!(greeted[0].userid, joined["external_userid"].as_str().unwrap());
    assert_ne!(greeted[0].userid, first);
    assert_eq!((greeted[0].chat_id.as_str(), greeted[0].text.as_str()), (chat_id.as_str(), "明晚 20:00 直播"));

    corp.group_welcome_del(&id, NOW).await.expect("del");
    assert_eq!(wecom_code(corp.group_welcome_get(&id, NOW).await), ErrCode::INVALID_PARAMETER);
    assert_eq!(wecom_code(corp.group_welcome_del(&id, NOW).await), ErrCode::INVALID_PARAMETER);
    rig.shutdown().await;
}

#[tokio::test]
async fn app_messages_reach_members_and_are_cut_at_2048_bytes() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let agent = koi_sim::SIM_AGENT_ID;
    let sent = corp.send_app_message(&AppMessageRequest::text(&["guide01", "nobody"], agent, "敏感词提醒"), NOW).await;
    assert_eq!(sent.expect("send").invaliduser, "nobody");
    let r = corp.send_app_message(&AppMessageRequest::text(&["guide01"], 42, "x"), NOW).await;
    assert_eq!(wecom_code(r), ErrCode::INVALID_AGENTID);
    let r = corp.send_app_message(&AppMessageRequest::text(&["nobody"], agent, "x"), NOW).await;
    assert_eq!(wecom_code(r), ErrCode::NO_VALID_RECIPIENT);
    // koi cuts long text at a character boundary itself; WeCom would cut bytes.
    let long = "警".repeat(1000);
    let req = AppMessageRequest::text(&["guide02"], agent, &long);
    assert!(req.text.content.len() <= 2048 && long.starts_with(&req.text.content));
    corp.send_app_message(&req, NOW).await.expect("send");
    let mut raw = req.clone();
    raw.text.content = "a".repeat(3000);
    corp.send_app_message(&raw, NOW).await.expect("send");
    let log = rig.sim.state().app_messages();
    assert_eq!(log.len(), 3);
    assert_eq!((log[0].touser.as_slice(), log[0].content.as_str()), (&["guide01".to_string()][..], "敏感词提醒"));
    assert_eq!(log[2].content.len(), 2048, "WeCom keeps the first 2048 bytes");
    rig.shutdown().await;
}
