//! koi's WeCom API client against the simulator, endpoint by endpoint, over
//! real HTTP. Both were written from CONTRACT.md independently; every call
//! here goes through `koi_wecom::client`, so a disagreement on a path, a
//! field name, a type or an errcode fails a test. The control API is used
//! only for what people do in WeChat and WeCom (scan, join, confirm) and for
//! what a test does to WeCom itself (clock, tokens).

use std::time::Duration;

use koi_sim::{Limits, SimConfig, SimCorp, SimHandle, SimStaff, Simulator};
use koi_wecom::client::{self as wecom, ApiError, BudgetConfig, ClientConfig, CorpClient, Priority, WecomClient};
use koi_wecom::ErrCode;
use serde_json::{json, Value};

const SECRET: &str = "conformance-secret";
const CORP_ID: &str = "wwconformance001";
const NOW: Priority = Priority::Interactive;

/// A running simulator, koi's client pointed at it, and a plain HTTP client
/// for the people around it.
struct Rig {
    sim: SimHandle,
    corp: CorpClient,
    http: reqwest::Client,
}

fn corp_config() -> SimCorp {
    SimCorp {
        corp_id: CORP_ID.to_owned(),
        secret: SECRET.to_owned(),
        staff: vec![
            SimStaff::new("guide01", "导购小王", 1),
            SimStaff::new("guide02", "Lily 🌸", 1),
            SimStaff::new("guide03", "张三", 2),
            SimStaff::new("manager", "店长", 2),
        ],
        ..SimCorp::default()
    }
}

impl Rig {
    async fn start() -> Self {
        Self::with(Limits::default(), BudgetConfig::default(), 2).await
    }

    async fn with(limits: Limits, budget: BudgetConfig, rate_limit_retries: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let config = SimConfig { clock_speed: 0.0, corps: vec![corp_config()], limits, ..SimConfig::default() };
        let sim = Simulator::start(config, listener).await.expect("simulator starts");
        let client = WecomClient::new(ClientConfig {
            base_url: sim.base_url(),
            budget,
            rate_limit_retries,
            ..ClientConfig::default()
        })
        .expect("client");
        Self { corp: client.corp(CORP_ID, SECRET), sim, http: reqwest::Client::new() }
    }

    /// Someone acts in WeChat / WeCom, or the test acts on WeCom itself.
    async fn person(&self, path: &str, body: Value) -> Value {
        let response =
            self.http.post(format!("{}/sim/{path}", self.sim.base_url())).json(&body).send().await.expect("sim");
        let status = response.status();
        let value: Value = response.json().await.expect("json");
        assert!(status.is_success(), "/sim/{path}: {status} {value}");
        value
    }

    async fn advance(&self, seconds: f64) {
        self.person("clock/advance", json!({ "seconds": seconds })).await;
    }

    async fn now(&self) -> i64 {
        let clock: Value = self
            .http
            .get(format!("{}/sim/clock", self.sim.base_url()))
            .send()
            .await
            .expect("clock")
            .json()
            .await
            .expect("json");
        clock["now"].as_i64().expect("now")
    }

    /// A QR contact way made through koi's client.
    async fn contact_way(&self, state: &str, users: &[&str]) -> wecom::AddContactWayResponse {
        let kind = if users.len() == 1 { wecom::CONTACT_WAY_SINGLE } else { wecom::CONTACT_WAY_MULTI };
        let request = wecom::AddContactWayRequest {
            kind,
            scene: wecom::SCENE_QR,
            state: Some(state.to_owned()),
            user: Some(users.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        };
        self.corp.add_contact_way(&request, NOW).await.expect("add_contact_way")
    }

    /// A new WeChat customer scans the QR code: (external_userid, userid, welcome_code).
    async fn scan(&self, qr_code: &str, name: &str) -> (String, String, String) {
        let scan = self.person("scan", json!({ "qr_code": qr_code, "customer": { "name": name } })).await;
        let text = |field: &str| scan[field].as_str().unwrap_or_else(|| panic!("{field} in {scan}")).to_owned();
        (text("external_userid"), text("userid"), text("welcome_code"))
    }

    async fn shutdown(self) {
        self.sim.shutdown().await;
    }
}

fn wecom_code(result: Result<impl std::fmt::Debug, ApiError>) -> ErrCode {
    match result {
        Err(error) => error.code().unwrap_or_else(|| panic!("not a WeCom answer: {error}")),
        Ok(answer) => panic!("expected a WeCom error, got {answer:?}"),
    }
}

fn day_start(unix_s: i64) -> i64 {
    // Asia/Shanghai natural day, WeCom's statistics day.
    (unix_s + 8 * 3600).div_euclid(86_400) * 86_400 - 8 * 3600
}

#[tokio::test]
async fn contact_ways_round_trip_through_koi_client() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let request = wecom::AddContactWayRequest {
        kind: wecom::CONTACT_WAY_MULTI,
        scene: wecom::SCENE_QR,
        style: Some(2),
        remark: Some("静安店门口".to_owned()),
        skip_verify: Some(false),
        state: Some("jingan-door".to_owned()),
        user: Some(vec!["guide01".to_owned(), "guide02".to_owned()]),
        party: Some(vec![2]),
        ..Default::default()
    };
    let added = corp.add_contact_way(&request, NOW).await.expect("add_contact_way");
    let qr_code = added.qr_code.clone().expect("a QR way has a qr_code");
    assert!(qr_code.starts_with(&rig.sim.base_url()), "{qr_code}");

    let got = corp
        .get_contact_way(&wecom::GetContactWayRequest { config_id: added.config_id.clone() }, NOW)
        .await
        .expect("get_contact_way")
        .contact_way;
    assert_eq!(got.config_id, added.config_id);
    assert_eq!((got.kind, got.scene, got.style), (wecom::CONTACT_WAY_MULTI, wecom::SCENE_QR, Some(2)));
    assert_eq!(got.remark.as_deref(), Some("静安店门口"));
    assert_eq!(got.skip_verify, Some(false));
    assert_eq!(got.state.as_deref(), Some("jingan-door"));
    assert_eq!(got.user, ["guide01", "guide02"]);
    assert_eq!(got.party, [2]);
    assert_eq!(got.qr_code.as_deref(), Some(qr_code.as_str()));

    let temp = wecom::AddContactWayRequest {
        kind: wecom::CONTACT_WAY_SINGLE,
        scene: wecom::SCENE_MINIPROGRAM,
        user: Some(vec!["guide01".to_owned()]),
        is_temp: Some(true),
        expires_in: Some(3600),
        chat_expires_in: Some(600),
        unionid: Some("oAAAAAunionid".to_owned()),
        is_exclusive: Some(true),
        conclusions: Some(wecom::Conclusions {
            text: Some(wecom::Text::new("期待下次光临")),
            link: Some(wecom::Link {
                title: "门店地址".to_owned(),
                url: "https://koi.example.com/store".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let single = corp.add_contact_way(&temp, NOW).await.expect("temporary way");
    assert_eq!(single.qr_code, None, "a mini-program way has no QR code");
    let got_temp = corp
        .get_contact_way(&wecom::GetContactWayRequest { config_id: single.config_id.clone() }, NOW)
        .await
        .expect("get temporary way")
        .contact_way;
    assert_eq!((got_temp.is_temp, got_temp.expires_in, got_temp.chat_expires_in), (Some(true), Some(3600), Some(600)));
    assert_eq!(got_temp.unionid.as_deref(), Some("oAAAAAunionid"));
    assert_eq!(got_temp.is_exclusive, Some(true));
    assert_eq!(got_temp.conclusions, temp.conclusions);
    let listed = corp
        .list_contact_way(&wecom::ListContactWayRequest { limit: Some(1), ..Default::default() }, NOW)
        .await
        .expect("list_contact_way");
    assert_eq!(listed.contact_way.len(), 1);
    assert!(!listed.next_cursor.is_empty(), "two ways, one per page");
    let rest = corp
        .list_contact_way(
            &wecom::ListContactWayRequest { cursor: Some(listed.next_cursor.clone()), ..Default::default() },
            NOW,
        )
        .await
        .expect("second page");
    let mut ids: Vec<String> =
        listed.contact_way.iter().chain(&rest.contact_way).map(|w| w.config_id.clone()).collect();
    ids.sort();
    let mut expected = vec![added.config_id.clone(), single.config_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(rest.next_cursor.is_empty());

    // koi's routing rewrites the member list: user overwrites, the rest stays.
    let update = wecom::UpdateContactWayRequest {
        config_id: added.config_id.clone(),
        user: Some(vec!["guide03".to_owned()]),
        ..Default::default()
    };
    corp.update_contact_way(&update, NOW).await.expect("update_contact_way");
    let got = corp
        .get_contact_way(&wecom::GetContactWayRequest { config_id: added.config_id.clone() }, NOW)
        .await
        .expect("get after update")
        .contact_way;
    assert_eq!(got.user, ["guide03"]);
    assert_eq!(got.state.as_deref(), Some("jingan-door"));
    let scan = rig.person("scan", json!({ "qr_code": qr_code })).await;
    assert!(matches!(scan["userid"].as_str(), Some("guide03" | "guide01" | "guide02")), "{scan}");

    corp.del_contact_way(&wecom::DelContactWayRequest { config_id: added.config_id.clone() }, NOW)
        .await
        .expect("del_contact_way");
    let gone = corp.get_contact_way(&wecom::GetContactWayRequest { config_id: added.config_id }, NOW).await;
    assert_eq!(wecom_code(gone), ErrCode::INVALID_CONFIG_ID);
    rig.shutdown().await;
}

#[tokio::test]
async fn contact_way_state_over_30_chars_is_40058() {
    let rig = Rig::start().await;
    let request = wecom::AddContactWayRequest {
        kind: wecom::CONTACT_WAY_SINGLE,
        scene: wecom::SCENE_QR,
        state: Some("s".repeat(31)),
        user: Some(vec!["guide01".to_owned()]),
        ..Default::default()
    };
    let answer = rig.corp.add_contact_way(&request, NOW).await;
    assert_eq!(wecom_code(answer), ErrCode::INVALID_PARAMETER);
    let thirty = wecom::AddContactWayRequest { state: Some("店".repeat(30)), ..request };
    rig.corp.add_contact_way(&thirty, NOW).await.expect("30 characters are allowed");
    rig.shutdown().await;
}

#[tokio::test]
async fn scanned_customer_is_listed_read_tagged_and_remarked() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("store-42", &["guide01"]).await;
    let (ext, userid, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "小红🌸").await;
    assert_eq!(userid, "guide01");
    assert!(ext.starts_with("wm"), "{ext}");

    let followers = corp.get_follow_user_list(NOW).await.expect("get_follow_user_list");
    assert_eq!(followers.follow_user, ["guide01", "guide02", "guide03", "manager"]);
    let listed = corp
        .list_external_contact(&wecom::ListExternalContactRequest { userid: "guide01".to_owned() }, NOW)
        .await
        .expect("list");
    assert_eq!(listed.external_userid, std::slice::from_ref(&ext));

    // A corp tag on the customer shows up in follow_user.tags and follow_info.tag_id.
    let tags = corp
        .add_corp_tag(
            &wecom::AddCorpTagRequest {
                group_name: Some("会员等级".to_owned()),
                tag: vec![wecom::NewTag { name: "金卡".to_owned(), order: None }],
                ..Default::default()
            },
            NOW,
        )
        .await
        .expect("add_corp_tag")
        .tag_group;
    let gold = tags.tag[0].id.clone();
    let mark = wecom::MarkTagRequest {
        userid: "guide01".to_owned(),
        external_userid: ext.clone(),
        add_tag: Some(vec![gold.clone()]),
        remove_tag: None,
    };
    corp.mark_tag(&mark, NOW).await.expect("mark_tag");

    let request = wecom::GetExternalContactRequest { external_userid: ext.clone(), cursor: None };
    let customer = corp.get_external_contact(&request, NOW).await.expect("get");
    assert_eq!(customer.external_contact.external_userid, ext);
    assert_eq!(customer.external_contact.name, "小红🌸");
    assert_eq!(customer.external_contact.kind, wecom::CUSTOMER_WECHAT);
    let [follow] = customer.follow_user.as_slice() else { panic!("one follower: {:?}", customer.follow_user) };
    assert_eq!(follow.userid, "guide01");
    assert_eq!(follow.state.as_deref(), Some("store-42"));
    assert_eq!(follow.add_way, wecom::add_way::QR);
    assert_eq!(follow.createtime, rig.now().await);
    let expected_tag = wecom::FollowUserTag {
        group_name: "会员等级".to_owned(),
        tag_name: "金卡".to_owned(),
        kind: 1,
        tag_id: Some(gold.clone()),
    };
    assert_eq!(follow.tags, [expected_tag]);

    let batch = corp
        .batch_get_by_user(
            &wecom::BatchGetByUserRequest {
                userid_list: vec!["guide01".to_owned(), "guide02".to_owned()],
                cursor: None,
                limit: Some(100),
            },
            NOW,
        )
        .await
        .expect("batch/get_by_user");
    let [entry] = batch.external_contact_list.as_slice() else { panic!("{batch:?}") };
    assert_eq!(entry.external_contact.name, "小红🌸");
    assert_eq!(entry.follow_info.userid, "guide01");
    assert_eq!(entry.follow_info.tag_id, [gold]);
    assert_eq!(entry.follow_info.state.as_deref(), Some("store-42"));
    assert!(batch.next_cursor.is_empty());

    let remark = wecom::RemarkRequest {
        userid: "guide01".to_owned(),
        external_userid: ext.clone(),
        remark: Some("小红 VIP".to_owned()),
        description: Some("喜欢香水".to_owned()),
        remark_mobiles: Some(vec!["13800000000".to_owned()]),
        ..Default::default()
    };
    corp.remark(&remark, NOW).await.expect("remark");
    let customer = corp.get_external_contact(&request, NOW).await.expect("get after remark");
    assert_eq!(customer.follow_user[0].remark, "小红 VIP");
    assert_eq!(customer.follow_user[0].description, "喜欢香水");
    assert_eq!(customer.follow_user[0].remark_mobiles, ["13800000000"]);

    let stranger = wecom::RemarkRequest { userid: "guide02".to_owned(), ..remark };
    assert_eq!(wecom_code(corp.remark(&stranger, NOW).await), ErrCode::NO_EXTERNAL_CONTACT_RELATION);
    let missing = wecom::GetExternalContactRequest { external_userid: "wmnobody".to_owned(), cursor: None };
    assert_eq!(wecom_code(corp.get_external_contact(&missing, NOW).await), ErrCode::INVALID_EXTERNAL_USERID);
    rig.shutdown().await;
}

#[tokio::test]
async fn corp_tags_are_added_edited_marked_and_deleted() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("tags", &["guide02"]).await;
    let (ext, _, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "阿强").await;

    let add = wecom::AddCorpTagRequest {
        group_name: Some("兴趣".to_owned()),
        order: Some(1),
        tag: vec![
            wecom::NewTag { name: "香水".to_owned(), order: Some(1) },
            wecom::NewTag { name: "口红".to_owned(), order: Some(2) },
        ],
        ..Default::default()
    };
    let group = corp.add_corp_tag(&add, NOW).await.expect("add_corp_tag").tag_group;
    assert!(group.group_id.starts_with("et"), "{}", group.group_id);
    assert_eq!(group.group_name, "兴趣");
    let names: Vec<&str> = group.tag.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["香水", "口红"]);
    let (perfume, lipstick) = (group.tag[0].id.clone(), group.tag[1].id.clone());

    let duplicate = wecom::AddCorpTagRequest {
        group_id: Some(group.group_id.clone()),
        tag: vec![wecom::NewTag { name: "香水".to_owned(), order: None }],
        ..Default::default()
    };
    assert_eq!(wecom_code(corp.add_corp_tag(&duplicate, NOW).await), ErrCode::TAG_NAME_EXISTS);
    let more = wecom::AddCorpTagRequest {
        group_id: Some(group.group_id.clone()),
        tag: vec![wecom::NewTag { name: "护肤".to_owned(), order: None }],
        ..Default::default()
    };
    let skincare = corp.add_corp_tag(&more, NOW).await.expect("add to group by id").tag_group;
    assert_eq!(skincare.group_id, group.group_id);
    let skincare = skincare.tag[0].id.clone();

    let edit = wecom::EditCorpTagRequest { id: perfume.clone(), name: Some("香氛".to_owned()), ..Default::default() };
    corp.edit_corp_tag(&edit, NOW).await.expect("edit_corp_tag");
    let clash =
        wecom::EditCorpTagRequest { id: perfume.clone(), name: Some("口红".to_owned()), ..Default::default() };
    assert_eq!(wecom_code(corp.edit_corp_tag(&clash, NOW).await), ErrCode::TAG_NAME_EXISTS);

    let listed = corp
        .get_corp_tag_list(&wecom::GetCorpTagListRequest::default(), NOW)
        .await
        .expect("get_corp_tag_list")
        .tag_group;
    let [listed] = listed.as_slice() else { panic!("{listed:?}") };
    let names: Vec<&str> = listed.tag.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["香氛", "口红", "护肤"]);
    assert_eq!(listed.tag[2].id, skincare);
    let only = corp
        .get_corp_tag_list(&wecom::GetCorpTagListRequest { tag_id: Some(vec![lipstick.clone()]), group_id: None }, NOW)
        .await
        .expect("by tag id")
        .tag_group;
    assert_eq!(only[0].tag.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [lipstick.as_str()]);

    let mark = |add: Vec<String>, remove: Vec<String>| wecom::MarkTagRequest {
        userid: "guide02".to_owned(),
        external_userid: ext.clone(),
        add_tag: Some(add),
        remove_tag: Some(remove),
    };
    corp.mark_tag(&mark(vec![perfume.clone(), lipstick.clone()], vec![]), NOW).await.expect("mark_tag");
    corp.mark_tag(&mark(vec![], vec![lipstick.clone()]), NOW).await.expect("untag");
    assert_eq!(wecom_code(corp.mark_tag(&mark(vec![], vec![]), NOW).await), ErrCode::INVALID_PARAMETER);
    assert_eq!(wecom_code(corp.mark_tag(&mark(vec!["etnope".to_owned()], vec![]), NOW).await), ErrCode::INVALID_TAG);
    let marks = rig.sim.state().tags_marked();
    assert_eq!(marks.len(), 2, "{marks:?}");
    let request = wecom::GetExternalContactRequest { external_userid: ext.clone(), cursor: None };
    let tags = corp.get_external_contact(&request, NOW).await.expect("get").follow_user[0].tags.clone();
    assert_eq!(tags.iter().map(|t| t.tag_name.as_str()).collect::<Vec<_>>(), ["香氛"]);

    let del = wecom::DelCorpTagRequest { tag_id: Some(vec![perfume.clone()]), ..Default::default() };
    corp.del_corp_tag(&del, NOW).await.expect("del_corp_tag");
    let tags = corp.get_external_contact(&request, NOW).await.expect("get").follow_user[0].tags.clone();
    assert!(tags.is_empty(), "a deleted tag leaves the customer: {tags:?}");
    let del_group = wecom::DelCorpTagRequest { group_id: Some(vec![group.group_id.clone()]), ..Default::default() };
    corp.del_corp_tag(&del_group, NOW).await.expect("del group");
    let left = corp.get_corp_tag_list(&wecom::GetCorpTagListRequest::default(), NOW).await.expect("list");
    assert!(left.tag_group.is_empty(), "{left:?}");
    assert_eq!(wecom_code(corp.del_corp_tag(&del, NOW).await), ErrCode::INVALID_TAG);
    rig.shutdown().await;
}

#[tokio::test]
async fn welcome_message_is_sent_once_within_20_seconds() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("welcome", &["guide01"]).await;
    let qr = way.qr_code.as_deref().expect("qr");
    let (ext, _, code) = rig.scan(qr, "小李").await;
    let received = wecom::Instant::now();
    let hello = wecom::SendWelcomeMsgRequest {
        welcome_code: code,
        text: Some(wecom::Text::new("欢迎光临静安店 🌸")),
        attachments: Some(vec![
            wecom::Attachment::image_url("https://img.example.com/shop.png"),
            wecom::Attachment::link(wecom::Link {
                title: "会员权益".to_owned(),
                picurl: Some("https://img.example.com/vip.png".to_owned()),
                desc: Some("入会即享 9 折".to_owned()),
                url: "https://koi.example.com/vip".to_owned(),
                media_id: None,
            }),
            wecom::Attachment::miniprogram(wecom::MiniProgram {
                title: "线上商城".to_owned(),
                pic_media_id: "MEDIA_ID".to_owned(),
                appid: "wx8bd80126147dfAAA".to_owned(),
                page: "/pages/index".to_owned(),
            }),
        ]),
    };
    let priority = Priority::welcome_received_at(received);
    corp.send_welcome_msg(&hello, priority).await.expect("send_welcome_msg");
    let sent = rig.sim.state().welcome_messages();
    let [record] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(record.external_userid, ext);
    assert_eq!(record.text.as_deref(), Some("欢迎光临静安店 🌸"));
    let kinds: Vec<&str> =
        record.attachments.as_array().expect("array").iter().filter_map(|a| a["msgtype"].as_str()).collect();
    assert_eq!(kinds, ["image", "link", "miniprogram"]);
    assert_eq!(record.attachments[1]["link"]["title"], "会员权益");

    let again = corp.send_welcome_msg(&hello, priority).await;
    let error = again.expect_err("a welcome_code is good once");
    assert_eq!(error.code(), Some(ErrCode::WELCOME_ALREADY_SENT));
    assert!(error.is_final());

    let (_, _, late) = rig.scan(qr, "小周").await;
    rig.advance(21.0).await;
    let late = wecom::SendWelcomeMsgRequest { welcome_code: late, ..hello };
    assert_eq!(wecom_code(corp.send_welcome_msg(&late, NOW).await), ErrCode::WELCOME_CODE_INVALID);
    assert_eq!(rig.sim.state().welcome_messages().len(), 1);
    rig.shutdown().await;
}

#[tokio::test]
async fn mass_message_is_created_confirmed_reminded_and_cancelled() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("mass", &["guide01"]).await;
    let qr = way.qr_code.as_deref().expect("qr");
    let (a, _, _) = rig.scan(qr, "顾客A").await;
    let (b, _, _) = rig.scan(qr, "顾客B").await;

    // An image attachment names media WeCom holds (an unknown media_id is 40007).
    let png = wecom::UploadFile {
        filename: "poster.png".into(),
        content_type: "image/png".into(),
        bytes: [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 64]].concat(),
    };
    let media = corp.upload_media(wecom::MediaType::Image, &png, NOW).await.expect("media/upload").media_id;
    let request = wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Single),
        external_userid: Some(vec![a.clone(), b.clone(), "wmnotafriend".to_owned()]),
        sender: Some("guide01".to_owned()),
        text: Some(wecom::Text::new("双十一会员日")),
        attachments: Some(vec![wecom::Attachment::image_media(media.clone())]),
        ..Default::default()
    };
    let created = corp.add_msg_template(&request, wecom::Priority::Bulk).await.expect("add_msg_template");
    assert!(created.msgid.starts_with("msg"), "{}", created.msgid);
    assert_eq!(created.fail_list, ["wmnotafriend"]);

    let task_request = wecom::GetGroupmsgTaskRequest { msgid: created.msgid.clone(), limit: None, cursor: None };
    let tasks = corp.get_groupmsg_task(&task_request, NOW).await.expect("get_groupmsg_task");
    assert_eq!(tasks.task_list, [wecom::GroupmsgTask { userid: "guide01".to_owned(), status: 0, send_time: None }]);
    let remind = wecom::RemindGroupmsgSendRequest { msgid: created.msgid.clone() };
    corp.remind_groupmsg_send(&remind, NOW).await.expect("remind_groupmsg_send");

    rig.person("mass/confirm", json!({ "msgid": created.msgid, "userid": "guide01" })).await;
    let now = rig.now().await;
    corp.remind_groupmsg_send(&remind, NOW).await.expect("second remind");
    corp.remind_groupmsg_send(&remind, NOW).await.expect("third remind");
    assert_eq!(wecom_code(corp.remind_groupmsg_send(&remind, NOW).await), ErrCode::REMIND_LIMIT);
    let tasks = corp.get_groupmsg_task(&task_request, NOW).await.expect("after confirm");
    assert_eq!(tasks.task_list[0].status, 2);
    assert_eq!(tasks.task_list[0].send_time, Some(now));
    let results = corp
        .get_groupmsg_send_result(
            &wecom::GetGroupmsgSendResultRequest {
                msgid: created.msgid.clone(),
                userid: "guide01".to_owned(),
                limit: Some(100),
                cursor: None,
            },
            NOW,
        )
        .await
        .expect("get_groupmsg_send_result");
    let mut sent: Vec<(Option<String>, i32)> =
        results.send_list.iter().map(|r| (r.external_userid.clone(), r.status)).collect();
    sent.sort();
    let mut expected = vec![(Some(a.clone()), 1), (Some(b.clone()), 1)];
    expected.sort();
    assert_eq!(sent, expected);
    assert!(results.send_list.iter().all(|r| r.userid == "guide01" && r.send_time == Some(now)));

    // A group message to the member's customer group.
    let chat = rig.person("group/create", json!({ "owner": "guide01", "name": "会员群", "members": [a] })).await;
    let chat_id = chat["chat_id"].as_str().expect("chat_id").to_owned();
    let to_groups = wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Group),
        chat_id_list: Some(vec![chat_id.clone()]),
        sender: Some("guide01".to_owned()),
        text: Some(wecom::Text::new("群里也说一声")),
        ..Default::default()
    };
    let group_msg = corp.add_msg_template(&to_groups, NOW).await.expect("group add_msg_template");
    let cancel = wecom::CancelGroupmsgSendRequest { msgid: group_msg.msgid.clone() };
    corp.cancel_groupmsg_send(&cancel, NOW).await.expect("cancel_groupmsg_send");
    rig.person("mass/confirm", json!({ "msgid": group_msg.msgid })).await;
    let results = corp
        .get_groupmsg_send_result(
            &wecom::GetGroupmsgSendResultRequest {
                msgid: group_msg.msgid.clone(),
                userid: "guide01".to_owned(),
                ..Default::default()
            },
            NOW,
        )
        .await
        .expect("group results");
    assert_eq!(results.send_list.len(), 1);
    assert_eq!(results.send_list[0].chat_id.as_deref(), Some(chat_id.as_str()));
    assert_eq!(results.send_list[0].status, 0, "a cancelled message is never sent");

    let nobody = wecom::AddMsgTemplateRequest {
        external_userid: Some(vec!["wmnotafriend".to_owned()]),
        text: Some(wecom::Text::new("x")),
        ..Default::default()
    };
    assert_eq!(wecom_code(corp.add_msg_template(&nobody, NOW).await), ErrCode::NO_SENDABLE_CUSTOMERS);
    rig.shutdown().await;
}

#[tokio::test]
async fn customer_groups_and_join_ways_through_koi_client() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("group", &["guide01"]).await;
    let (friend, _, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "老顾客").await;
    let chat =
        rig.person("group/create", json!({ "owner": "guide01", "name": "静安粉丝群", "members": ["guide02"] })).await;
    let chat_id = chat["chat_id"].as_str().expect("chat_id").to_owned();
    assert!(chat_id.starts_with("wr"), "{chat_id}");
    let other = rig.person("group/create", json!({ "owner": "guide03", "name": "徐汇群" })).await;
    let other_id = other["chat_id"].as_str().expect("chat_id").to_owned();
    // guide02 invites an existing customer.
    rig.person(
        "join",
        json!({ "chat_id": chat_id, "customer": { "external_userid": friend }, "join_scene": 1, "invitor": "guide02" }),
    )
    .await;

    let add = wecom::AddJoinWayRequest {
        scene: 2,
        remark: Some("门店海报".to_owned()),
        auto_create_room: Some(1),
        room_base_name: Some("静安粉丝群".to_owned()),
        room_base_id: Some(2),
        chat_id_list: vec![chat_id.clone()],
        state: Some("poster-0618".to_owned()),
    };
    let join_way = corp.add_join_way(&add, NOW).await.expect("add_join_way");
    let got = corp
        .get_join_way(&wecom::GetJoinWayRequest { config_id: join_way.config_id.clone() }, NOW)
        .await
        .expect("get_join_way")
        .join_way;
    assert_eq!(got.config_id, join_way.config_id);
    assert_eq!((got.scene, got.auto_create_room), (2, 1));
    assert_eq!(got.remark.as_deref(), Some("门店海报"));
    assert_eq!(got.room_base_name.as_deref(), Some("静安粉丝群"));
    assert_eq!(got.room_base_id, Some(2));
    assert_eq!(got.chat_id_list, std::slice::from_ref(&chat_id));
    assert_eq!(got.state.as_deref(), Some("poster-0618"));
    let qr_code = got.qr_code.expect("join ways have a QR code");

    let joined = rig.person("join", json!({ "qr_code": qr_code, "customer": { "name": "新粉丝" } })).await;
    assert_eq!(joined["chat_id"], chat_id.as_str());
    let newcomer = joined["external_userid"].as_str().expect("ext").to_owned();

    let all = corp
        .groupchat_list(&wecom::GroupchatListRequest { limit: 100, ..Default::default() }, NOW)
        .await
        .expect("groupchat/list");
    let mut ids: Vec<&str> = all.group_chat_list.iter().map(|g| g.chat_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![chat_id.as_str(), other_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert!(all.group_chat_list.iter().all(|g| g.status == 0));
    let mine = corp
        .groupchat_list(
            &wecom::GroupchatListRequest {
                owner_filter: Some(wecom::OwnerFilter { userid_list: vec!["guide01".to_owned()] }),
                limit: 1,
                ..Default::default()
            },
            NOW,
        )
        .await
        .expect("by owner");
    assert_eq!(mine.group_chat_list.len(), 1);
    assert_eq!(mine.group_chat_list[0].chat_id, chat_id);
    assert!(mine.next_cursor.is_empty());
    let no_limit = corp.groupchat_list(&wecom::GroupchatListRequest::default(), NOW).await;
    assert_eq!(wecom_code(no_limit), ErrCode::INVALID_PARAMETER);

    let group = corp
        .groupchat_get(&wecom::GroupchatGetRequest { chat_id: chat_id.clone(), need_name: Some(1) }, NOW)
        .await
        .expect("groupchat/get")
        .group_chat;
    assert_eq!((group.name.as_str(), group.owner.as_str()), ("静安粉丝群", "guide01"));
    assert_eq!(group.create_time, rig.now().await);
    assert!(group.member_version.as_deref().is_some_and(|v| !v.is_empty()));
    let member = |id: &str| {
        group.member_list.iter().find(|m| m.userid == id).unwrap_or_else(|| panic!("{id} in {:?}", group.member_list))
    };
    assert_eq!(member("guide01").kind, 1);
    assert_eq!(member("guide02").name.as_deref(), Some("Lily 🌸"));
    let invited = member(&friend);
    assert_eq!((invited.kind, invited.join_scene), (2, 1));
    assert_eq!(invited.invitor.as_ref().map(|i| i.userid.as_str()), Some("guide02"));
    assert_eq!(invited.state, None);
    let scanned = member(&newcomer);
    assert_eq!((scanned.kind, scanned.join_scene), (2, 3));
    assert_eq!(scanned.state.as_deref(), Some("poster-0618"));
    assert_eq!(scanned.name.as_deref(), Some("新粉丝"));
    let bad = wecom::GroupchatGetRequest { chat_id: "wrnope".to_owned(), need_name: None };
    assert_eq!(wecom_code(corp.groupchat_get(&bad, NOW).await), ErrCode::INVALID_CHAT_ID);

    let update = wecom::UpdateJoinWayRequest {
        config_id: join_way.config_id.clone(),
        scene: 2,
        auto_create_room: Some(0),
        chat_id_list: vec![chat_id.clone(), other_id.clone()],
        state: Some("poster-1111".to_owned()),
        ..Default::default()
    };
    corp.update_join_way(&update, NOW).await.expect("update_join_way");
    let got = corp
        .get_join_way(&wecom::GetJoinWayRequest { config_id: join_way.config_id.clone() }, NOW)
        .await
        .expect("get after update")
        .join_way;
    assert_eq!(got.chat_id_list, [chat_id.clone(), other_id.clone()]);
    assert_eq!((got.auto_create_room, got.state.as_deref()), (0, Some("poster-1111")));
    // update_join_way overwrites the whole configuration: what was left out is gone.
    assert_eq!(got.remark.unwrap_or_default(), "");
    assert_eq!(got.room_base_name.unwrap_or_default(), "");
    let six = wecom::UpdateJoinWayRequest { chat_id_list: vec![chat_id.clone(); 6], ..update };
    assert_eq!(wecom_code(corp.update_join_way(&six, NOW).await), ErrCode::TOO_MANY_JOIN_WAY_CHATS);
    corp.del_join_way(&wecom::DelJoinWayRequest { config_id: join_way.config_id.clone() }, NOW)
        .await
        .expect("del_join_way");
    let gone = corp.get_join_way(&wecom::GetJoinWayRequest { config_id: join_way.config_id }, NOW).await;
    assert_eq!(wecom_code(gone), ErrCode::INVALID_CONFIG_ID);
    rig.shutdown().await;
}

/// The join way's limits (CONTRACT.md §3): at most five chat ids (41091),
/// a state of 30 characters and a room base name of 40 (40058); joins by QR
/// stop at the QR cut, where a way without auto-create refuses and a way with
/// it opens `room_base_name` + number, lists it, and its joiners carry the
/// way's state.
#[tokio::test]
async fn join_ways_keep_wecoms_limits_and_open_rooms_at_the_qr_cut() {
    let limits = Limits { group_qr_cut: 3, ..Limits::default() };
    let rig = Rig::with(limits, BudgetConfig::default(), 0).await;
    let corp = &rig.corp;
    let mut chats = vec![];
    for i in 0..6 {
        let c = rig.person("group/create", json!({ "owner": "guide01", "name": format!("周年庆{i}群") })).await;
        chats.push(c["chat_id"].as_str().expect("chat_id").to_owned());
    }
    let way = |list: &[String], state: &str, auto: bool, base: &str| wecom::AddJoinWayRequest {
        scene: 2,
        auto_create_room: Some(i32::from(auto)),
        room_base_name: Some(base.to_owned()).filter(|b| !b.is_empty()),
        room_base_id: Some(7),
        chat_id_list: list.to_vec(),
        state: Some(state.to_owned()),
        ..Default::default()
    };
    let six = way(&chats, "kg1", false, "");
    assert_eq!(wecom_code(corp.add_join_way(&six, NOW).await), ErrCode::TOO_MANY_JOIN_WAY_CHATS);
    let long_state = way(&chats[..1], &"s".repeat(31), false, "");
    assert_eq!(wecom_code(corp.add_join_way(&long_state, NOW).await), ErrCode::INVALID_PARAMETER);
    let long_base = way(&chats[..1], "kg1", true, &"群".repeat(41));
    assert_eq!(wecom_code(corp.add_join_way(&long_base, NOW).await), ErrCode::INVALID_PARAMETER);
    let unknown = way(&["wrnope".to_owned()], "kg1", false, "");
    assert_eq!(wecom_code(corp.add_join_way(&unknown, NOW).await), ErrCode::INVALID_CHAT_ID);
    let edge = way(&chats[..5], &"店".repeat(30), true, &"群".repeat(40));
    corp.add_join_way(&edge, NOW).await.expect("five chats, 30 and 40 characters are allowed");

    // Without auto-create: the first listed group with room takes each joiner
    // until every listed one is at the cut, then the way refuses.
    let fixed = corp.add_join_way(&way(&chats[..2], "kgfixed", false, ""), NOW).await.expect("add_join_way");
    let bulk = rig.person("join/bulk", json!({ "config_id": fixed.config_id, "count": 10 })).await;
    assert_eq!(bulk["joined"].as_array().expect("joined").len(), 4, "two groups of the owner + 2 joiners: {bulk}");
    assert_eq!(bulk["full"], true);
    assert_eq!((bulk["by_chat"][&chats[0]].as_u64(), bulk["by_chat"][&chats[1]].as_u64()), (Some(2), Some(2)));

    // With auto-create: WeCom opens 满了自动群7, lists it, and its joiners carry the state.
    let auto = corp.add_join_way(&way(&chats[2..3], "kgauto", true, "满了自动群"), NOW).await.expect("add_join_way");
    let bulk = rig.person("join/bulk", json!({ "config_id": auto.config_id, "count": 3 })).await;
    assert_eq!(bulk["full"], false, "{bulk}");
    let got = corp
        .get_join_way(&wecom::GetJoinWayRequest { config_id: auto.config_id.clone() }, NOW)
        .await
        .expect("get_join_way")
        .join_way;
    assert_eq!(got.chat_id_list.len(), 2, "the new room is listed: {:?}", got.chat_id_list);
    let room = got.chat_id_list[1].clone();
    let opened = corp
        .groupchat_get(&wecom::GroupchatGetRequest { chat_id: room, need_name: Some(1) }, NOW)
        .await
        .expect("groupchat/get")
        .group_chat;
    assert_eq!((opened.name.as_str(), opened.owner.as_str()), ("满了自动群7", "guide01"));
    let joiner = opened.member_list.iter().find(|m| m.kind == 2).expect("a customer joined the new room");
    assert_eq!((joiner.join_scene, joiner.state.as_deref()), (3, Some("kgauto")));
    rig.shutdown().await;
}

#[tokio::test]
async fn group_statistics_count_chats_and_members_per_owner_and_day() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("stats", &["guide01"]).await;
    let (ext, _, _) = rig.scan(way.qr_code.as_deref().expect("qr"), "统计").await;
    rig.person("group/create", json!({ "owner": "guide01", "name": "一群", "members": [ext, "guide02"] })).await;
    rig.person("group/create", json!({ "owner": "guide01", "name": "二群" })).await;
    rig.person("group/create", json!({ "owner": "guide03", "name": "三群" })).await;
    let today = day_start(rig.now().await);

    let owners = |ids: &[&str]| wecom::OwnerFilter { userid_list: ids.iter().map(|s| s.to_string()).collect() };
    let by_owner = corp
        .groupchat_statistic(
            &wecom::GroupchatStatisticRequest {
                day_begin_time: today,
                day_end_time: Some(today),
                owner_filter: owners(&["guide01", "guide03"]),
                order_by: Some(1),
                order_asc: Some(0),
                offset: Some(0),
                limit: Some(10),
            },
            wecom::Priority::Bulk,
        )
        .await
        .expect("groupchat/statistic");
    assert_eq!(by_owner.total, 2);
    assert_eq!(by_owner.next_offset, 2);
    let first = &by_owner.items[0];
    assert_eq!(first.owner, "guide01", "ordered by chat_total, descending");
    assert_eq!((first.data.chat_total, first.data.new_chat_cnt), (2, 2));
    assert_eq!((first.data.member_total, first.data.new_member_cnt), (4, 4));
    assert_eq!(by_owner.items[1].data.chat_total, 1);

    let by_day = corp
        .groupchat_statistic_group_by_day(
            &wecom::GroupchatStatisticGroupByDayRequest {
                day_begin_time: today - 86_400,
                day_end_time: Some(today),
                owner_filter: owners(&["guide01"]),
            },
            wecom::Priority::Bulk,
        )
        .await
        .expect("groupchat/statistic_group_by_day");
    let days: Vec<(i64, i64, i64)> =
        by_day.items.iter().map(|d| (d.stat_time, d.data.chat_total, d.data.member_total)).collect();
    assert_eq!(days, [(today - 86_400, 0, 0), (today, 2, 4)]);
    rig.shutdown().await;
}

#[tokio::test]
async fn member_behaviour_counts_new_contacts_and_messages() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("behaviour", &["guide02"]).await;
    let qr = way.qr_code.as_deref().expect("qr");
    let (_, _, code) = rig.scan(qr, "一号").await;
    rig.scan(qr, "二号").await;
    let hello =
        wecom::SendWelcomeMsgRequest { welcome_code: code, text: Some(wecom::Text::new("你好")), attachments: None };
    corp.send_welcome_msg(&hello, NOW).await.expect("welcome");
    let now = rig.now().await;
    let request = wecom::GetUserBehaviorDataRequest {
        userid: Some(vec!["guide02".to_owned()]),
        partyid: None,
        start_time: day_start(now) - 86_400,
        end_time: now,
    };
    let data = corp.get_user_behavior_data(&request, wecom::Priority::Bulk).await.expect("get_user_behavior_data");
    let [yesterday, day] = data.behavior_data.as_slice() else { panic!("{data:?}") };
    assert_eq!((yesterday.stat_time, yesterday.chat_cnt, yesterday.new_contact_cnt), (day_start(now) - 86_400, 0, 0));
    // Reply figures exist only for days with chats.
    assert_eq!((yesterday.reply_percentage, yesterday.avg_reply_time), (None, None));
    assert_eq!(day.stat_time, day_start(now));
    assert_eq!((day.new_contact_cnt, day.new_apply_cnt), (2, 2));
    assert_eq!((day.chat_cnt, day.message_cnt), (1, 1));
    let nobody = wecom::GetUserBehaviorDataRequest { userid: Some(vec!["ghost".to_owned()]), ..request };
    assert_eq!(wecom_code(corp.get_user_behavior_data(&nobody, NOW).await), ErrCode::INVALID_USERID);
    rig.shutdown().await;
}

#[tokio::test]
async fn moment_task_finishes_with_a_moment_id() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let request = wecom::AddMomentTaskRequest {
        text: Some(wecom::Text::new("新品上市")),
        attachments: Some(vec![wecom::Attachment::image_media("MEDIA_A"), wecom::Attachment::image_media("MEDIA_B")]),
        visible_range: Some(wecom::VisibleRange {
            sender_list: Some(wecom::SenderList {
                user_list: Some(vec!["guide01".to_owned(), "ghost".to_owned()]),
                department_list: None,
            }),
            external_contact_list: None,
        }),
    };
    let job = corp.add_moment_task(&request, NOW).await.expect("add_moment_task");
    assert!(!job.jobid.is_empty());
    let poll = wecom::GetMomentTaskResultRequest { jobid: job.jobid.clone() };
    let running = corp.get_moment_task_result(&poll, NOW).await.expect("get_moment_task_result");
    assert_eq!(running.status, 2);
    assert_eq!(running.result, None);
    rig.advance(1.0).await;
    let done = corp.get_moment_task_result(&poll, NOW).await.expect("done");
    assert_eq!(done.status, 3);
    assert_eq!(done.kind.as_deref(), Some("add_moment_task"));
    let result = done.result.expect("a finished job has a result");
    assert_eq!(result.errcode, Some(ErrCode::OK));
    assert!(result.moment_id.as_deref().is_some_and(|id| id.starts_with("mom")), "{result:?}");
    let invalid = result.invalid_sender_list.and_then(|s| s.user_list).unwrap_or_default();
    assert_eq!(invalid, ["ghost"]);

    let video_and_image = wecom::AddMomentTaskRequest {
        attachments: Some(vec![wecom::Attachment::video("V"), wecom::Attachment::image_media("I")]),
        ..request
    };
    assert_eq!(wecom_code(corp.add_moment_task(&video_and_image, NOW).await), ErrCode::TOO_MANY_ATTACHMENTS);
    rig.shutdown().await;
}

#[tokio::test]
async fn handover_moves_customers_and_groups() {
    let rig = Rig::start().await;
    let corp = &rig.corp;
    let way = rig.contact_way("handover", &["guide01"]).await;
    let qr = way.qr_code.as_deref().expect("qr");
    let (stays, _, _) = rig.scan(qr, "留下").await;
    let (refuses, _, _) = rig.scan(qr, "拒绝").await;
    let leaver = rig.contact_way("leaver", &["guide03"]).await;
    let (orphan, _, _) = rig.scan(leaver.qr_code.as_deref().expect("qr"), "孤儿").await;

    let transfer = wecom::TransferCustomerRequest {
        handover_userid: "guide01".to_owned(),
        takeover_userid: "guide02".to_owned(),
        external_userid: vec![stays.clone(), refuses.clone(), orphan.clone()],
        transfer_success_msg: Some("您好，我是新的专属顾问".to_owned()),
    };
    let outcome = corp.transfer_customer(&transfer, NOW).await.expect("transfer_customer");
    let codes: Vec<(String, ErrCode)> =
        outcome.customer.iter().map(|c| (c.external_userid.clone(), c.errcode)).collect();
    assert_eq!(
        codes,
        [
            (stays.clone(), ErrCode::OK),
            (refuses.clone(), ErrCode::OK),
            (orphan.clone(), ErrCode::NO_EXTERNAL_CONTACT_RELATION)
        ]
    );
    let result_request = wecom::TransferResultRequest {
        handover_userid: "guide01".to_owned(),
        takeover_userid: "guide02".to_owned(),
        cursor: None,
    };
    let waiting = corp.transfer_result(&result_request, NOW).await.expect("transfer_result");
    assert!(waiting.customer.iter().all(|c| c.status == 2 && c.takeover_time.is_none()), "{waiting:?}");
    rig.person("transfer/refuse", json!({ "external_userid": refuses })).await;

    // More than 100 customers a call: 40058, nothing recorded.
    let too_many = wecom::TransferCustomerRequest {
        external_userid: (0..101).map(|i| format!("wm{i}")).collect(),
        ..transfer.clone()
    };
    assert_eq!(wecom_code(corp.transfer_customer(&too_many, NOW).await), ErrCode::INVALID_PARAMETER);
    let chat = rig.person("group/create", json!({ "owner": "guide03", "name": "离职群" })).await;
    let chat_id = chat["chat_id"].as_str().expect("chat_id").to_owned();
    // guide03 leaves: the resigned handover takes a member no longer in the directory.
    rig.person("directory/remove", json!({ "userid": "guide03" })).await;
    let resigned = wecom::ResignedTransferCustomerRequest {
        handover_userid: "guide03".to_owned(),
        takeover_userid: "manager".to_owned(),
        external_userid: vec![orphan.clone()],
    };
    let outcome = corp.resigned_transfer_customer(&resigned, NOW).await.expect("resigned/transfer_customer");
    assert_eq!(outcome.customer[0].errcode, ErrCode::OK);

    // A day later (the cached token has long expired: the client renews it).
    rig.advance(24.0 * 3600.0 + 1.0).await;
    let done = corp.transfer_result(&result_request, NOW).await.expect("transfer_result after a day");
    let mut statuses: Vec<(String, i32)> =
        done.customer.iter().map(|c| (c.external_userid.clone(), c.status)).collect();
    statuses.sort();
    let mut expected = vec![(stays.clone(), 1), (refuses.clone(), 3)];
    expected.sort();
    assert_eq!(statuses, expected);
    let moved = done.customer.iter().find(|c| c.external_userid == stays).expect("moved");
    assert_eq!(moved.takeover_time, Some(rig.now().await));
    let resigned_result = wecom::TransferResultRequest {
        handover_userid: "guide03".to_owned(),
        takeover_userid: "manager".to_owned(),
        cursor: None,
    };
    let done = corp.resigned_transfer_result(&resigned_result, NOW).await.expect("resigned/transfer_result");
    assert_eq!(done.customer.len(), 1);
    assert_eq!((done.customer[0].external_userid.as_str(), done.customer[0].status), (orphan.as_str(), 1));
    let request = wecom::GetExternalContactRequest { external_userid: stays.clone(), cursor: None };
    let follow = corp.get_external_contact(&request, NOW).await.expect("get").follow_user;
    assert_eq!(follow.iter().map(|f| f.userid.as_str()).collect::<Vec<_>>(), ["guide02"]);
    assert_eq!(follow[0].add_way, wecom::add_way::ADMIN_ASSIGNMENT);

    // The same customer a second and third time within 90 days: 40128.
    let again = wecom::TransferCustomerRequest {
        handover_userid: "guide02".to_owned(),
        takeover_userid: "guide01".to_owned(),
        external_userid: vec![stays.clone()],
        transfer_success_msg: None,
    };
    assert_eq!(corp.transfer_customer(&again, NOW).await.expect("second").customer[0].errcode, ErrCode::OK);
    rig.advance(24.0 * 3600.0 + 1.0).await;
    let third = wecom::TransferCustomerRequest {
        handover_userid: "guide01".to_owned(),
        takeover_userid: "guide02".to_owned(),
        ..again
    };
    let third = corp.transfer_customer(&third, NOW).await.expect("third");
    assert_eq!(third.customer[0].errcode, ErrCode::TRANSFER_LIMIT);

    let groups = wecom::GroupchatTransferRequest {
        chat_id_list: vec![chat_id.clone(), "wrnope".to_owned()],
        new_owner: "manager".to_owned(),
    };
    let moved = corp.groupchat_transfer(&groups, NOW).await.expect("groupchat/transfer");
    let [failed] = moved.failed_chat_list.as_slice() else { panic!("{moved:?}") };
    assert_eq!((failed.chat_id.as_str(), failed.errcode), ("wrnope", ErrCode::INVALID_CHAT_ID));
    let owner = |chat_id: String| async move {
        corp.groupchat_get(&wecom::GroupchatGetRequest { chat_id, need_name: None }, NOW)
            .await
            .expect("groupchat/get")
            .group_chat
            .owner
    };
    assert_eq!(owner(chat_id.clone()).await, "manager");
    let owner_changes = rig
        .sim
        .state()
        .callbacks()
        .into_iter()
        .filter(|c| c.plaintext.contains("change_owner") && c.plaintext.contains(&chat_id))
        .count();
    assert_eq!(owner_changes, 1, "a moved group tells koi its owner changed");
    let onjob =
        wecom::GroupchatTransferRequest { chat_id_list: vec![chat_id.clone()], new_owner: "guide01".to_owned() };
    let moved = corp.groupchat_onjob_transfer(&onjob, NOW).await.expect("groupchat/onjob_transfer");
    assert!(moved.failed_chat_list.is_empty(), "{moved:?}");
    assert_eq!(owner(chat_id).await, "guide01");
    rig.shutdown().await;
}

#[tokio::test]
async fn client_survives_revoked_tokens_with_one_refetch() {
    let rig = Rig::start().await;
    let first = rig.corp.access_token().await.expect("token");
    rig.corp.get_follow_user_list(NOW).await.expect("before");
    let revoked = rig.person("tokens/invalidate", json!({ "corp_id": CORP_ID })).await;
    assert_eq!(revoked["invalidated"], 1);
    let followers = rig.corp.get_follow_user_list(NOW).await.expect("the client re-fetches on 40014");
    assert_eq!(followers.follow_user.len(), 4);
    assert_ne!(rig.corp.access_token().await.expect("token"), first, "a new token was fetched");
    rig.shutdown().await;
}

#[tokio::test]
async fn client_budget_never_runs_into_45009() {
    let limits = Limits { api_per_minute: 3, ..Limits::default() };
    let budget = BudgetConfig { per_minute: 3, ..BudgetConfig::default() };
    // No retries after a pushback: a 45009 would surface at once.
    let rig = Rig::with(limits, budget, 0).await;
    let corp = &rig.corp;
    for _ in 0..3 {
        corp.get_follow_user_list(NOW).await.expect("inside the budget");
    }
    // A welcome message that must leave within 2 s cannot: the next slot is a
    // minute away, so the client says so without calling WeCom.
    let deadline = wecom::Instant::now() + Duration::from_secs(2);
    let refused = corp.get_follow_user_list(Priority::Welcome { deadline }).await;
    assert!(matches!(refused, Err(ApiError::Budget { .. })), "{refused:?}");
    // Anyone else waits for the next window instead of calling.
    let waiting = tokio::time::timeout(Duration::from_millis(300), corp.get_follow_user_list(NOW)).await;
    assert!(waiting.is_err(), "the call should still be waiting for budget: {waiting:?}");
    // Other APIs have their own budget.
    let request = wecom::ListExternalContactRequest { userid: "guide01".to_owned() };
    corp.list_external_contact(&request, NOW).await.expect("another API");
    rig.shutdown().await;
}

/// The address book through koi's client: departments, each one's members,
/// one member, and what an admin's changes do to them.
#[tokio::test]
async fn the_address_book_lists_departments_and_members() {
    let rig = Rig::start().await;
    let departments = rig.corp.department_list(&wecom::DepartmentListRequest::default(), NOW).await.expect("list");
    let ids: Vec<u64> = departments.department.iter().map(|d| d.id).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(departments.department[0].parentid, 0, "the root");
    assert_eq!(departments.department[1].parentid, 1);
    let corp = rig.corp.clone();
    let members = |department_id| {
        let corp = corp.clone();
        async move {
            let req = wecom::UserSimpleListRequest { department_id };
            let list = corp.user_simplelist(&req, NOW).await.expect("simplelist");
            list.userlist
                .into_iter()
                .map(|u| (u.userid, u.name, u.department))
                .collect::<Vec<(String, String, Vec<u64>)>>()
        }
    };
    assert_eq!(
        members(2).await,
        [("guide03".into(), "张三".into(), vec![2]), ("manager".into(), "店长".into(), vec![2])]
    );
    assert_eq!(members(1).await.len(), 2, "the root's own members");
    let unknown = rig.corp.user_simplelist(&wecom::UserSimpleListRequest { department_id: 9 }, NOW).await;
    assert_eq!(wecom_code(unknown), ErrCode(60123));

    let one = rig.corp.user_get(&wecom::UserGetRequest { userid: "guide02".into() }, NOW).await.expect("user/get");
    assert_eq!((one.name.as_str(), one.main_department, one.status), ("Lily 🌸", 1, wecom::USER_ACTIVE));
    let missing = rig.corp.user_get(&wecom::UserGetRequest { userid: "nobody".into() }, NOW).await;
    assert_eq!(wecom_code(missing), ErrCode(60111));

    // An admin adds, renames and removes members.
    rig.person("directory/upsert", json!({ "userid": "guide04", "name": "新导购", "department": 3 })).await;
    rig.person("directory/upsert", json!({ "userid": "guide01", "name": "王小芳" })).await;
    rig.person("directory/remove", json!({ "userid": "manager" })).await;
    assert_eq!(members(3).await, [("guide04".into(), "新导购".into(), vec![3])]);
    assert_eq!(members(1).await[0].1, "王小芳");
    assert_eq!(members(2).await.len(), 1);
    rig.shutdown().await;
}

mod assistant;
mod group_sends;
mod media;
mod oauth;
mod pay;

/// Guides who confirm on their own do so after the delay (the same members
/// every task, the others never); a customer gets one mass message a day;
/// `add_msg_template` takes at most 10,000 external_userids; and a moment's
/// members publish, with likes and comments, read by koi's client.
#[tokio::test]
async fn guides_confirm_on_their_own_and_moments_are_published_and_read() {
    let limits = Limits { mass_confirm_share: 1.0, mass_confirm_delay_s: 30, ..Limits::default() };
    let rig = Rig::with(limits, BudgetConfig::default(), 2).await;
    let corp = &rig.corp;
    let way = rig.contact_way("auto", &["guide01"]).await;
    let qr = way.qr_code.as_deref().expect("qr");
    let (a, _, _) = rig.scan(qr, "顾客A").await;
    let send = |text: &str| wecom::AddMsgTemplateRequest {
        chat_type: Some(wecom::ChatType::Single),
        external_userid: Some(vec![a.clone()]),
        sender: Some("guide01".to_owned()),
        text: Some(wecom::Text::new(text)),
        ..Default::default()
    };
    let first = corp.add_msg_template(&send("一"), NOW).await.expect("first");
    let second = corp.add_msg_template(&send("二"), NOW).await.expect("second");
    let task = |msgid: &str| wecom::GetGroupmsgTaskRequest { msgid: msgid.to_owned(), limit: None, cursor: None };
    assert_eq!(corp.get_groupmsg_task(&task(&first.msgid), NOW).await.unwrap().task_list[0].status, 0, "not yet");
    rig.advance(31.0).await;
    assert_eq!(corp.get_groupmsg_task(&task(&first.msgid), NOW).await.unwrap().task_list[0].status, 2, "confirmed");
    let result = |msgid: &str| wecom::GetGroupmsgSendResultRequest {
        msgid: msgid.to_owned(),
        userid: "guide01".to_owned(),
        limit: None,
        cursor: None,
    };
    let statuses = |r: wecom::GetGroupmsgSendResultResponse| r.send_list.iter().map(|s| s.status).collect::<Vec<_>>();
    assert_eq!(statuses(corp.get_groupmsg_send_result(&result(&first.msgid), NOW).await.unwrap()), [1]);
    assert_eq!(
        statuses(corp.get_groupmsg_send_result(&result(&second.msgid), NOW).await.unwrap()),
        [3],
        "one mass message a customer a day"
    );
    let too_many = wecom::AddMsgTemplateRequest {
        external_userid: Some((0..10_001).map(|i| format!("wm{i}")).collect()),
        ..send("多")
    };
    assert_eq!(wecom_code(corp.add_msg_template(&too_many, NOW).await), ErrCode::TOO_MANY_PARAMETERS);

    // A moment for guide01 and guide02: both publish on their own.
    let moment = wecom::AddMomentTaskRequest {
        text: Some(wecom::Text::new("新品上市")),
        visible_range: Some(wecom::VisibleRange {
            sender_list: Some(wecom::SenderList {
                user_list: Some(vec!["guide01".into(), "guide02".into()]),
                department_list: None,
            }),
            external_contact_list: None,
        }),
        ..Default::default()
    };
    let job = corp.add_moment_task(&moment, NOW).await.expect("add_moment_task");
    rig.advance(2.0).await;
    let r = corp.get_moment_task_result(&wecom::GetMomentTaskResultRequest { jobid: job.jobid }, NOW).await.unwrap();
    let moment_id = r.result.and_then(|r| r.moment_id).expect("moment id");
    let members = |id: &str| wecom::GetMomentTaskRequest { moment_id: id.to_owned(), cursor: None, limit: None };
    let t = corp.get_moment_task(&members(&moment_id), NOW).await.unwrap();
    assert_eq!(t.task_list.iter().map(|m| m.publish_status).collect::<Vec<_>>(), [0, 0]);
    rig.advance(31.0).await;
    let t = corp.get_moment_task(&members(&moment_id), NOW).await.unwrap();
    assert_eq!(t.task_list.iter().map(|m| m.publish_status).collect::<Vec<_>>(), [1, 1], "published on their own");
    let c = corp
        .get_moment_comments(
            &wecom::GetMomentCommentsRequest { moment_id: moment_id.clone(), userid: "guide01".into() },
            NOW,
        )
        .await
        .unwrap();
    assert!(c.like_list.len() + c.comment_list.len() <= 1, "one customer sees it: {c:?}");
    let now = rig.now().await;
    let list = wecom::GetMomentListRequest { start_time: now - 3600, end_time: now, ..Default::default() };
    let l = corp.get_moment_list(&list, NOW).await.unwrap();
    assert_eq!(l.moment_list.iter().map(|m| m.moment_id.as_str()).collect::<Vec<_>>(), [moment_id.as_str()]);
    let far = wecom::GetMomentListRequest { start_time: 0, end_time: now, ..Default::default() };
    assert_eq!(wecom_code(corp.get_moment_list(&far, NOW).await), ErrCode::INVALID_PARAMETER, "30 days at most");
}
mod pay_order;
mod pay_transfer;

/// A way's `qr_code` is a picture at a URL: koi's client fetches it within a
/// size bound (a larger answer is refused, not read whole), and an unknown
/// way's picture is an HTTP error.
#[tokio::test]
async fn a_ways_qr_image_is_fetched_within_its_bound() {
    let rig = Rig::start().await;
    let way = rig.contact_way("qr-image", &["guide01"]).await;
    let url = way.qr_code.expect("a QR way has a qr_code");
    let client =
        WecomClient::new(ClientConfig { base_url: rig.sim.base_url(), ..ClientConfig::default() }).expect("client");
    let png = client.qr_image(&url, 1024 * 1024).await.expect("the QR image");
    assert_eq!(&png[..4], b"\x89PNG", "a PNG");
    let refused = client.qr_image(&url, 64).await;
    assert!(matches!(refused, Err(ApiError::TooLarge { api: "qr_code", max: 64, .. })), "{refused:?}");
    let unknown = client.qr_image(&format!("{}/sim/qr/no-such-way", rig.sim.base_url()), 1024 * 1024).await;
    assert!(matches!(unknown, Err(ApiError::Http { .. })), "{unknown:?}");
}
