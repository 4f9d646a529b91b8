//! Wire shapes (JSON literals in the contract's shapes) and the call rules
//! (token refresh, busy back-off, rate-limit pause) against a tiny scripted
//! HTTP responder on localhost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn parse<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("contract shape decodes")
}

fn wire<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

#[test]
fn get_external_contact_response_with_tags() {
    let answer: GetExternalContactResponse = parse(json!({
        "errcode": 0, "errmsg": "ok",
        "external_contact": {
            "external_userid": "wmABC", "name": "李四", "position": "Mangaer", "avatar": "http://p.qlogo.cn/a",
            "corp_name": "腾讯", "type": 1, "gender": 1, "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdAAA",
            "some_future_field": {"x": 1}
        },
        "follow_user": [{
            "userid": "rocky", "remark": "李部长", "description": "对接采购事务", "createtime": 1525779812,
            "tags": [
                {"group_name": "人群", "tag_name": "高消费", "type": 1, "tag_id": "etAAA"},
                {"group_name": "", "tag_name": "私人", "type": 2}
            ],
            "remark_mobiles": ["13800000001"], "oper_userid": "rocky", "add_way": 1, "state": "store-12"
        }, {
            "userid": "tommy", "createtime": 1525881637, "add_way": 3
        }],
        "next_cursor": "NEXT"
    }));
    assert_eq!(answer.external_contact.kind, CUSTOMER_WECHAT);
    assert_eq!(answer.external_contact.corp_name.as_deref(), Some("腾讯"));
    let rocky = &answer.follow_user[0];
    assert_eq!(rocky.tags.len(), 2);
    assert_eq!(rocky.tags[0].tag_id.as_deref(), Some("etAAA"));
    assert_eq!(rocky.tags[1].tag_id, None);
    assert_eq!(rocky.state.as_deref(), Some("store-12"));
    assert_eq!(rocky.add_way, add_way::QR);
    // Missing optional fields default instead of failing.
    let tommy = &answer.follow_user[1];
    assert_eq!((tommy.remark.as_str(), tommy.tags.len(), tommy.state.as_deref()), ("", 0, None));
    assert_eq!(answer.next_cursor, "NEXT");

    let again: GetExternalContactResponse = parse(wire(&answer));
    assert_eq!(again, answer);
}

#[test]
fn send_welcome_msg_with_every_attachment_kind() {
    let request = SendWelcomeMsgRequest {
        welcome_code: "CALLBACK_CODE".into(),
        text: Some(Text::new("欢迎光临")),
        attachments: Some(vec![
            Attachment::image_media("MEDIA_ID"),
            Attachment::image_url("https://example.com/a.png"),
            Attachment::link(Link {
                title: "会员权益".into(),
                picurl: Some("https://example.com/p.png".into()),
                desc: Some("领取新人礼".into()),
                url: "https://example.com/join".into(),
                media_id: None,
            }),
            Attachment::miniprogram(MiniProgram {
                title: "商城".into(),
                pic_media_id: "PIC".into(),
                appid: "wx8bd80126147dfAAA".into(),
                page: "/path/index.html".into(),
            }),
            Attachment::video("VIDEO"),
            Attachment::file("FILE"),
        ]),
    };
    let expected = json!({
        "welcome_code": "CALLBACK_CODE",
        "text": {"content": "欢迎光临"},
        "attachments": [
            {"msgtype": "image", "image": {"media_id": "MEDIA_ID"}},
            {"msgtype": "image", "image": {"pic_url": "https://example.com/a.png"}},
            {"msgtype": "link", "link": {"title": "会员权益", "picurl": "https://example.com/p.png",
                "desc": "领取新人礼", "url": "https://example.com/join"}},
            {"msgtype": "miniprogram", "miniprogram": {"title": "商城", "pic_media_id": "PIC",
                "appid": "wx8bd80126147dfAAA", "page": "/path/index.html"}},
            {"msgtype": "video", "video": {"media_id": "VIDEO"}},
            {"msgtype": "file", "file": {"media_id": "FILE"}}
        ]
    });
    assert_eq!(wire(&request), expected);
    let back: SendWelcomeMsgRequest = parse(expected);
    assert_eq!(back, request);

    let text_only = SendWelcomeMsgRequest { welcome_code: "C".into(), text: Some(Text::new("hi")), attachments: None };
    assert_eq!(wire(&text_only), json!({"welcome_code": "C", "text": {"content": "hi"}}));
}

#[test]
fn groupchat_get_members_carry_state_and_invitor() {
    let answer: GroupchatGetResponse = parse(json!({
        "errcode": 0, "errmsg": "ok",
        "group_chat": {
            "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "name": "销售客服群", "owner": "ZhuShengBen",
            "create_time": 1572505490, "notice": "文档详情",
            "member_list": [
                {"userid": "abel", "type": 1, "join_time": 1572505491, "join_scene": 1,
                 "invitor": {"userid": "jack"}, "group_nickname": "客服小张", "name": "张三丰"},
                {"userid": "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "type": 2, "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdAAA",
                 "join_time": 1572505491, "join_scene": 3, "group_nickname": "顾客", "name": "李四",
                 "state": "mall-entrance"}
            ],
            "admin_list": [{"userid": "sam"}, {"userid": "pony"}],
            "member_version": "71217227bbd112ecfe3a49c482195cb4"
        }
    }));
    let chat = &answer.group_chat;
    assert_eq!(chat.member_list.len(), 2);
    assert_eq!(chat.member_list[0].invitor.as_ref().map(|i| i.userid.as_str()), Some("jack"));
    assert_eq!(chat.member_list[0].state, None);
    assert_eq!(chat.member_list[1].kind, 2);
    assert_eq!(chat.member_list[1].state.as_deref(), Some("mall-entrance"));
    assert_eq!(chat.admin_list.len(), 2);
    assert_eq!(chat.member_version.as_deref(), Some("71217227bbd112ecfe3a49c482195cb4"));
    let again: GroupchatGetResponse = parse(wire(&answer));
    assert_eq!(again, answer);
}

#[test]
fn optional_request_fields_are_left_out() {
    let request = AddContactWayRequest {
        kind: CONTACT_WAY_MULTI,
        scene: SCENE_QR,
        state: Some("store-7".into()),
        user: Some(vec!["alice".into(), "bob".into()]),
        party: Some(vec![2]),
        ..AddContactWayRequest::default()
    };
    assert_eq!(
        wire(&request),
        json!({"type": 2, "scene": 2, "state": "store-7", "user": ["alice", "bob"], "party": [2]})
    );
    let update = UpdateContactWayRequest {
        config_id: "42b34949e138eb6e027c123cba77fAAA".into(),
        user: Some(vec!["carol".into()]),
        ..Default::default()
    };
    assert_eq!(wire(&update), json!({"config_id": "42b34949e138eb6e027c123cba77fAAA", "user": ["carol"]}));
    let list = GroupchatListRequest {
        owner_filter: Some(OwnerFilter { userid_list: vec!["abel".into()] }),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(wire(&list), json!({"owner_filter": {"userid_list": ["abel"]}, "limit": 100}));
    let mass = AddMsgTemplateRequest {
        chat_type: Some(ChatType::Group),
        sender: Some("zhangsan".into()),
        text: Some(Text::new("周末特惠")),
        ..Default::default()
    };
    assert_eq!(wire(&mass), json!({"chat_type": "group", "sender": "zhangsan", "text": {"content": "周末特惠"}}));
}

#[test]
fn contact_way_and_join_way_answers() {
    let added: AddContactWayResponse =
        parse(json!({"errcode": 0, "errmsg": "ok", "config_id": "42b3AAA", "qr_code": "http://p.qpic.cn/AAA"}));
    assert_eq!(added.qr_code.as_deref(), Some("http://p.qpic.cn/AAA"));
    let way: GetContactWayResponse = parse(json!({"errcode": 0, "errmsg": "ok", "contact_way": {
        "config_id": "42b3AAA", "type": 1, "scene": 1, "style": 2, "remark": "门店", "skip_verify": true,
        "state": "teststate", "qr_code": "http://p.qpic.cn/AAA", "user": ["zhangsan"], "party": [],
        "is_temp": true, "expires_in": 86400, "chat_expires_in": 86400, "unionid": "oxTWIuGaIt6gTKsQRLau2M0AAAA",
        "conclusions": {"text": {"content": "感谢"}, "image": {"pic_url": "http://p.qpic.cn/pic"}}
    }}));
    assert_eq!(way.contact_way.user, ["zhangsan"]);
    assert_eq!(way.contact_way.conclusions.and_then(|c| c.text).map(|t| t.content).as_deref(), Some("感谢"));
    let listed: ListContactWayResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "contact_way": [{"config_id": "a"}, {"config_id": "b"}], "next_cursor": "NEXT"}));
    assert_eq!(listed.contact_way.len(), 2);

    let join: GetJoinWayResponse = parse(json!({"errcode": 0, "errmsg": "ok", "join_way": {
        "config_id": "9ad7fa5cdaa6511298498f979c4dAAAA", "scene": 2, "remark": "aa_remark", "auto_create_room": 1,
        "room_base_name": "销售客服群", "room_base_id": 10, "chat_id_list": ["wrOgQhDgAAH2Yy-CTZ6POca8mlBEdaaa"],
        "qr_code": "http://p.qpic.cn/wwhead/AAA", "state": "klsdup3"
    }}));
    assert_eq!(join.join_way.room_base_id, Some(10));
    assert_eq!(join.join_way.state.as_deref(), Some("klsdup3"));
}

#[test]
fn customers_tags_and_handover_answers() {
    let batch: BatchGetByUserResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "external_contact_list": [{
            "external_contact": {"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA", "name": "李四",
                "type": 2, "gender": 1, "corp_name": "腾讯", "corp_full_name": "腾讯科技有限公司"},
            "follow_info": {"userid": "rocky", "remark": "李部长", "createtime": 1525779812,
                "tag_id": ["etAJ2GCAAAXtWyujaWJHDDGi0mACHAAA"], "add_way": 10, "oper_userid": "woAJ2"}
        }],
        "next_cursor": "r9FqSqsI8fgNbHLHE5QoCP50UIg2cFQbfma3l2QsmwI"}));
    let first = &batch.external_contact_list[0];
    assert_eq!(first.external_contact.kind, CUSTOMER_WECOM);
    assert_eq!(first.follow_info.tag_id.len(), 1);
    assert_eq!(first.follow_info.add_way, add_way::CHANNELS);

    let tags: GetCorpTagListResponse = parse(json!({"errcode": 0, "errmsg": "ok", "tag_group": [{
        "group_id": "TAG_GROUPID1", "group_name": "GOURP_NAME", "create_time": 1557838797, "order": 1,
        "deleted": false,
        "tag": [{"id": "TAG_ID1", "name": "NAME1", "create_time": 1557838797, "order": 1, "deleted": false}]
    }]}));
    assert_eq!(tags.tag_group[0].tag[0].name, "NAME1");
    let mark = MarkTagRequest {
        userid: "zhangsan".into(),
        external_userid: "wmAAA".into(),
        add_tag: Some(vec!["TAGID1".into()]),
        remove_tag: None,
    };
    assert_eq!(wire(&mark), json!({"userid": "zhangsan", "external_userid": "wmAAA", "add_tag": ["TAGID1"]}));

    let handed: TransferCustomerResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "customer": [{"external_userid": "wmA", "errcode": 0}, {"external_userid": "wmB", "errcode": 40128}]}));
    assert_eq!(handed.customer[1].errcode, ErrCode::TRANSFER_LIMIT);
    let status: TransferResultResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "customer": [{"external_userid": "wmA", "status": 1, "takeover_time": 1588262400}], "next_cursor": ""}));
    assert_eq!(status.customer[0].status, 1);
    let groups: GroupchatTransferResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "failed_chat_list": [{"chat_id": "wrA", "errcode": 90500, "errmsg": "the owner of this chat is not resigned"}]}));
    assert_eq!(groups.failed_chat_list[0].errcode, ErrCode(90500));
}

#[test]
fn mass_message_moment_and_statistics_answers() {
    let created: AddMsgTemplateResponse = parse(
        json!({"errcode": 0, "errmsg": "ok", "fail_list": ["wmqfasd1e1927831123109rBAAAA"], "msgid": "msgGCAAAXtWyujaWJHDDGi0mAAAA"}),
    );
    assert_eq!(created.msgid, "msgGCAAAXtWyujaWJHDDGi0mAAAA");
    let tasks: GetGroupmsgTaskResponse = parse(json!({"errcode": 0, "errmsg": "ok", "next_cursor": "CURSOR",
        "task_list": [{"userid": "zhangsan", "status": 1, "send_time": 1552536375}, {"userid": "lisi", "status": 0}]}));
    assert_eq!(tasks.task_list[1].send_time, None);
    let sent: GetGroupmsgSendResultResponse = parse(json!({"errcode": 0, "errmsg": "ok", "next_cursor": "",
        "send_list": [{"external_userid": "wmqfasd1e19278AAAA", "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
            "userid": "zhangsan", "status": 1, "send_time": 1552536375}]}));
    assert_eq!(sent.send_list[0].status, 1);

    let moment = AddMomentTaskRequest {
        text: Some(Text::new("新品上市")),
        attachments: Some(vec![Attachment::image_media("MEDIA")]),
        visible_range: Some(VisibleRange {
            sender_list: Some(SenderList { user_list: Some(vec!["zhangshan".into()]), department_list: None }),
            external_contact_list: Some(ExternalContactList { tag_list: Some(vec!["etXXXXXXXXXX".into()]) }),
        }),
    };
    assert_eq!(
        wire(&moment),
        json!({"text": {"content": "新品上市"}, "attachments": [{"msgtype": "image", "image": {"media_id": "MEDIA"}}],
            "visible_range": {"sender_list": {"user_list": ["zhangshan"]},
                "external_contact_list": {"tag_list": ["etXXXXXXXXXX"]}}})
    );
    let result: GetMomentTaskResultResponse = parse(json!({"errcode": 0, "errmsg": "ok", "status": 3,
        "type": "add_moment_task", "result": {"errcode": 0, "errmsg": "ok", "moment_id": "momxxx",
            "invalid_sender_list": {"user_list": ["zhangshan"], "department_list": [2]},
            "invalid_external_contact_list": {"tag_list": ["xxx"]}}}));
    let outcome = result.result.expect("done job has a result");
    assert_eq!(outcome.moment_id.as_deref(), Some("momxxx"));
    assert_eq!(outcome.invalid_sender_list.and_then(|s| s.department_list), Some(vec![2]));

    let by_owner: GroupchatStatisticResponse =
        parse(json!({"errcode": 0, "errmsg": "ok", "total": 2, "next_offset": 2,
        "items": [{"owner": "zhangsan", "data": {"new_chat_cnt": 2, "chat_total": 2, "chat_has_msg": 0,
            "new_member_cnt": 0, "member_total": 6, "member_has_msg": 0, "msg_total": 0}}]}));
    assert_eq!(by_owner.items[0].data.member_total, 6);
    let by_day: GroupchatStatisticGroupByDayResponse = parse(json!({"errcode": 0, "errmsg": "ok",
        "items": [{"stat_time": 1600272000, "data": {"new_chat_cnt": 2, "chat_total": 2}}]}));
    assert_eq!(by_day.items[0].data.msg_total, 0);

    let behavior: GetUserBehaviorDataResponse = parse(json!({"errcode": 0, "errmsg": "ok", "behavior_data": [
        {"stat_time": 1443369600, "chat_cnt": 2, "message_cnt": 4, "reply_percentage": 60.25, "avg_reply_time": 1,
         "negative_feedback_cnt": 0, "new_apply_cnt": 6, "new_contact_cnt": 5},
        {"stat_time": 1443456000, "new_apply_cnt": 1}]}));
    assert_eq!(behavior.behavior_data[0].reply_percentage, Some(60.25));
    assert_eq!(behavior.behavior_data[1].avg_reply_time, None);
}

#[test]
fn errcode_is_read_before_the_body() {
    let err =
        decode_answer::<GetExternalContactResponse>("get", br#"{"errcode":40096,"errmsg":"invalid external userid"}"#)
            .expect_err("non-zero errcode");
    assert!(err.is(ErrCode::INVALID_EXTERNAL_USERID));
    let err = decode_answer::<GetExternalContactResponse>("get", b"<html>").expect_err("not json");
    assert!(matches!(err, ApiError::Decode { api: "get", .. }));
    let ok: GetFollowUserListResponse =
        decode_answer("get_follow_user_list", br#"{"errcode":0,"errmsg":"ok"}"#).expect("defaults");
    assert!(ok.follow_user.is_empty());
}

/// One request as the fake WeCom saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body: String,
}

/// A scripted WeCom: answers each request with `script(request, n)` where `n`
/// counts requests to that path.
struct FakeWecom {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeWecom {
    async fn start(script: impl Fn(&Seen, usize) -> Value + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind localhost");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let script = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else { return };
                    let path = request.target.split('?').next().unwrap_or_default().to_owned();
                    let n = {
                        let mut log = log.lock().expect("not poisoned");
                        log.push(request.clone());
                        log.iter().filter(|s| s.target.split('?').next() == Some(path.as_str())).count()
                    };
                    let body = script(&request, n).to_string();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { base_url, seen }
    }

    fn client(&self) -> WecomClient {
        let config = ClientConfig {
            base_url: self.base_url.clone(),
            busy_backoff: Duration::from_millis(1),
            ..ClientConfig::default()
        };
        WecomClient::new(config).expect("client builds")
    }

    fn count(&self, path: &str) -> usize {
        self.seen.lock().expect("not poisoned").iter().filter(|s| s.target.split('?').next() == Some(path)).count()
    }

    fn last(&self, path: &str) -> Seen {
        self.seen
            .lock()
            .expect("not poisoned")
            .iter()
            .rev()
            .find(|s| s.target.split('?').next() == Some(path))
            .cloned()
            .expect("path was requested")
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_owned();
    let target = words.next()?.to_owned();
    let length = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..]).into_owned();
    Some(Seen { method, target, body })
}

fn token_answer(n: usize) -> Value {
    json!({"errcode": 0, "errmsg": "ok", "access_token": format!("TOKEN{n}"), "expires_in": 7200})
}

#[tokio::test]
async fn token_in_query_and_fetched_once() {
    let fake = FakeWecom::start(|seen, n| match seen.target.split('?').next() {
        Some("/cgi-bin/gettoken") => token_answer(n),
        _ => json!({"errcode": 0, "errmsg": "ok", "external_contact": {"external_userid": "wmA", "name": "A"}}),
    })
    .await;
    let corp = fake.client().corp("ww1", "s3cret");
    let request = GetExternalContactRequest { external_userid: "wmA".into(), cursor: None };
    for _ in 0..3 {
        let answer = corp.get_external_contact(&request, Priority::Interactive).await.expect("ok");
        assert_eq!(answer.external_contact.name, "A");
    }
    assert_eq!(fake.count("/cgi-bin/gettoken"), 1);
    let token_call = fake.last("/cgi-bin/gettoken");
    assert_eq!(token_call.target, "/cgi-bin/gettoken?corpid=ww1&corpsecret=s3cret");
    let call = fake.last("/cgi-bin/externalcontact/get");
    assert_eq!(call.method, "GET");
    assert_eq!(call.target, "/cgi-bin/externalcontact/get?access_token=TOKEN1&external_userid=wmA");

    corp.mark_tag(
        &MarkTagRequest {
            userid: "u".into(),
            external_userid: "wmA".into(),
            add_tag: Some(vec!["et1".into()]),
            remove_tag: None,
        },
        Priority::Bulk,
    )
    .await
    .expect("ack");
    let post = fake.last("/cgi-bin/externalcontact/mark_tag");
    assert_eq!(post.method, "POST");
    assert_eq!(post.target, "/cgi-bin/externalcontact/mark_tag?access_token=TOKEN1");
    let body: Value = serde_json::from_str(&post.body).expect("json body");
    assert_eq!(body, json!({"userid": "u", "external_userid": "wmA", "add_tag": ["et1"]}));
}

#[tokio::test]
async fn expired_token_is_refreshed_and_the_call_retried_once() {
    let fake = FakeWecom::start(|seen, n| match seen.target.split('?').next() {
        Some("/cgi-bin/gettoken") => token_answer(n),
        // The first token is "expired"; the second works.
        Some("/cgi-bin/externalcontact/groupchat/get") if seen.target.contains("TOKEN1") => {
            json!({"errcode": 42001, "errmsg": "access_token expired"})
        }
        Some("/cgi-bin/externalcontact/groupchat/get") => {
            json!({"errcode": 0, "errmsg": "ok", "group_chat": {"chat_id": "wr1"}})
        }
        // This one rejects every token: retried once, then reported.
        _ => json!({"errcode": 40014, "errmsg": "invalid access_token"}),
    })
    .await;
    let corp = fake.client().corp("ww1", "s");
    let chat = corp
        .groupchat_get(&GroupchatGetRequest { chat_id: "wr1".into(), need_name: Some(1) }, Priority::Interactive)
        .await
        .expect("retried with a fresh token");
    assert_eq!(chat.group_chat.chat_id, "wr1");
    assert_eq!(fake.count("/cgi-bin/gettoken"), 2);
    assert_eq!(fake.count("/cgi-bin/externalcontact/groupchat/get"), 2);

    let err =
        corp.del_contact_way(&DelContactWayRequest { config_id: "c".into() }, Priority::Bulk).await.expect_err("fails");
    assert!(err.is(ErrCode::INVALID_ACCESS_TOKEN));
    assert_eq!(fake.count("/cgi-bin/externalcontact/del_contact_way"), 2, "one retry, no loop");
    assert_eq!(fake.count("/cgi-bin/gettoken"), 3);
}

#[tokio::test]
async fn busy_is_retried_three_times_with_backoff() {
    let fake = FakeWecom::start(|seen, n| match seen.target.split('?').next() {
        Some("/cgi-bin/gettoken") => token_answer(n),
        Some("/cgi-bin/externalcontact/list") if n <= 2 => json!({"errcode": -1, "errmsg": "system busy"}),
        Some("/cgi-bin/externalcontact/list") => json!({"errcode": 0, "errmsg": "ok", "external_userid": ["wmA"]}),
        _ => json!({"errcode": -1, "errmsg": "system busy"}),
    })
    .await;
    let corp = fake.client().corp("ww1", "s");
    let listed = corp
        .list_external_contact(&ListExternalContactRequest { userid: "zhangsan".into() }, Priority::Bulk)
        .await
        .expect("third attempt succeeds");
    assert_eq!(listed.external_userid, ["wmA"]);
    let err = corp.get_follow_user_list(Priority::Bulk).await.expect_err("always busy");
    assert!(err.is(ErrCode::BUSY));
    assert_eq!(fake.count("/cgi-bin/externalcontact/get_follow_user_list"), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn frequency_limit_pauses_the_api_for_everyone() {
    let fake = FakeWecom::start(|seen, n| match seen.target.split('?').next() {
        Some("/cgi-bin/gettoken") => token_answer(n),
        _ => json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
    })
    .await;
    let client = WecomClient::new(ClientConfig {
        base_url: fake.base_url.clone(),
        rate_limit_retries: 0,
        ..ClientConfig::default()
    })
    .expect("client builds");
    let corp = client.corp("ww1", "s");
    let welcome = SendWelcomeMsgRequest { welcome_code: "W".into(), text: Some(Text::new("hi")), attachments: None };
    let err = corp.send_welcome_msg(&welcome, Priority::Bulk).await.expect_err("limited");
    assert!(err.is_rate_limited());
    // The API now rests for the minute: a welcome that must leave within 20 s
    // is refused at once instead of being sent into the block.
    let err =
        corp.send_welcome_msg(&welcome, Priority::welcome_received_at(Instant::now())).await.expect_err("no budget");
    assert!(matches!(err, ApiError::Budget { api: "send_welcome_msg", .. }), "{err:?}");
    assert_eq!(fake.count("/cgi-bin/externalcontact/send_welcome_msg"), 1);
}

#[tokio::test]
async fn failing_gettoken_is_not_hammered() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let fake = FakeWecom::start(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        json!({"errcode": 40001, "errmsg": "invalid credential"})
    })
    .await;
    let corp = fake.client().corp("ww1", "wrong");
    for _ in 0..5 {
        let err = corp.groupchat_list(&GroupchatListRequest { limit: 10, ..Default::default() }, Priority::Bulk).await;
        let err = err.expect_err("bad secret");
        assert_eq!((err.api(), err.code()), ("gettoken", Some(ErrCode::INVALID_SECRET)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "later callers get the cached failure");
}
