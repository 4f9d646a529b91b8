//! The group assistant against the simulator, on both databases: customers
//! talk in a group (the session archive), koi reads the feed and answers a
//! keyword once — a reply task from the group's owner — however often the
//! feed is read; quiet hours and the per-customer cooldown hold replies
//! back; a sensitive word reaches the owner as an app message and the alert
//! list; a group welcome template made through koi greets the next joiner
//! of the group whose owner chose it.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_assistant_answers_alerts_and_welcomes_sqlite() {
    group_assistant("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_assistant_answers_alerts_and_welcomes_postgres() {
    group_assistant("postgres").await;
}

async fn call(acq: &Acq, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = acq.http.request(method, acq.server.url(path)).bearer_auth(&acq.key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(acq: &Acq, path: &str) -> Value {
    let (status, v) = call(acq, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

async fn sim(acq: &Acq, path: &str, body: Value) -> Value {
    let r = acq.http.post(format!("{}{path}", acq.sim.base_url())).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Reads the feed now and waits for that read to finish.
async fn read_feed(acq: &Acq) {
    let (status, v) = call(acq, reqwest::Method::POST, "/api/v1/group-assistant/read-feed", None).await;
    assert_eq!(status, 202, "{v}");
    let job = v["job_id"].as_i64().unwrap();
    wait_for(|| async {
        let jobs = get(acq, "/api/v1/jobs?limit=500").await;
        let j = jobs.as_array().unwrap().iter().find(|j| j["id"] == job).cloned()?;
        assert_ne!(j["state"], "dead", "{j}");
        (j["state"] == "done").then_some(())
    })
    .await;
}

/// koi's replies, oldest first, as (sender, state).
async fn replies(acq: &Acq) -> Vec<(String, String)> {
    let r = get(acq, "/api/v1/group-assistant/replies").await;
    let mut out: Vec<(String, String)> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["sender"].as_str().unwrap().to_string(), r["state"].as_str().unwrap().to_string()))
        .collect();
    out.reverse();
    out
}

/// Group mass-message tasks koi created in WeCom.
fn group_tasks(acq: &Acq) -> Vec<koi_sim::MassTaskView> {
    acq.sim.state().mass_tasks().into_iter().filter(|t| t.task.chat_type == "group").collect()
}

/// Sets the feed cursor back to the start, as a restored backup would.
async fn rewind_cursor(url: &str) {
    let sql = "UPDATE group_message_cursors SET seq = 0";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

async fn group_assistant(backend: &str) {
    use reqwest::Method;
    let acq = Acq::start(backend).await;
    let chat = sim(&acq, "/sim/group/create", json!({"owner": "wang.fang", "name": "静安福利群"})).await;
    let chat_id = chat["chat_id"].as_str().unwrap().to_string();
    let join = |name: &str| json!({"chat_id": chat_id, "customer": {"name": name}});
    let amy = sim(&acq, "/sim/join", join("Amy")).await["external_userid"].as_str().unwrap().to_string();
    let bob = sim(&acq, "/sim/join", join("Bob")).await["external_userid"].as_str().unwrap().to_string();
    let group_id = wait_for(|| async {
        let g = get(&acq, "/api/v1/groups").await;
        let g = g.as_array().unwrap().iter().find(|g| g["chat_id"] == chat_id.as_str() && g["members"] == 3)?.clone();
        g["id"].as_i64()
    })
    .await;

    // Settings: bad input is refused and changes nothing.
    let (status, v) = call(&acq, Method::PUT, "/api/v1/group-assistant", Some(json!({"agent_id": -3}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let long = json!({"sensitive_words": ["字".repeat(31)]});
    let (status, _) = call(&acq, Method::PUT, "/api/v1/group-assistant", Some(long)).await;
    assert_eq!(status, 422);
    assert_eq!(get(&acq, "/api/v1/group-assistant").await["feed_enabled"], false);
    let settings =
        json!({"feed_enabled": true, "agent_id": koi_sim::SIM_AGENT_ID, "sensitive_words": [" 投诉 ", "投诉"]});
    let (status, v) = call(&acq, Method::PUT, "/api/v1/group-assistant", Some(settings)).await;
    assert_eq!((status, v["sensitive_words"].clone()), (200, json!(["投诉"])), "{v}");

    // Rules: coupons with a 60-minute cooldown; live streams never during
    // the quiet hours around now (Asia/Shanghai on WeCom's clock).
    let bad = json!({"name": "x", "match_kind": "regex", "keywords": ["a.*"], "reply": {"text": "hi"}});
    let (status, v) = call(&acq, Method::POST, "/api/v1/group-rules", Some(bad)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    assert!(get(&acq, "/api/v1/group-rules").await.as_array().unwrap().is_empty());
    let coupon = json!({
        "name": "优惠券", "match_kind": "wildcard", "keywords": ["*优惠券*"], "cooldown_minutes": 60,
        "scope": {"group_ids": [group_id]},
        "reply": {"text": "本周优惠券请点链接领取", "link": {"title": "领券", "url": "https://shop.example/coupon"}}
    });
    let (status, v) = call(&acq, Method::POST, "/api/v1/group-rules", Some(coupon)).await;
    assert_eq!(status, 201, "{v}");
    let now_ms = acq.http.get(format!("{}/sim/clock", acq.sim.base_url())).send().await.unwrap();
    let now_ms = now_ms.json::<Value>().await.unwrap()["now_ms"].as_i64().unwrap();
    let minute = (now_ms / 60_000 + 8 * 60).rem_euclid(1440);
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(60));
    let live = json!({
        "name": "直播", "keywords": ["直播"], "reply": {"text": "今晚 20:00 直播"},
        "quiet_hours": {"start": hhmm(minute - 60), "end": hhmm(minute + 60)}
    });
    let (status, v) = call(&acq, Method::POST, "/api/v1/group-rules", Some(live)).await;
    assert_eq!(status, 201, "{v}");

    // Amy asks for a coupon: one reply task from the owner to the group.
    let say = |from: &str, text: &str| json!({"chat_id": chat_id, "from": from, "text": text});
    sim(&acq, "/sim/group/say", say(&amy, "请问有优惠券吗")).await;
    sim(&acq, "/sim/group/say", say("wang.fang", "有的优惠券马上发")).await; // the owner: never answered
    read_feed(&acq).await;
    wait_for(|| async { (replies(&acq).await.first()?.1 == "sent").then_some(()) }).await;
    let tasks = group_tasks(&acq);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0].task;
    assert_eq!((t.sender.as_deref(), t.text.as_deref()), (Some("wang.fang"), Some("本周优惠券请点链接领取")));
    assert_eq!(t.recipients.iter().map(|r| r.chat_id.clone().unwrap()).collect::<Vec<_>>(), [chat_id.as_str()]);
    assert_eq!(t.attachments[0]["link"]["url"], "https://shop.example/coupon");
    let r = get(&acq, "/api/v1/group-assistant/replies").await;
    assert_eq!((r[0]["content"].as_str(), r[0]["group_id"].as_i64()), (Some("请问有优惠券吗"), Some(group_id)));
    assert!(r[0]["wecom_msgid"].as_str().unwrap().starts_with("msg"));

    // Amy again within the hour: cooldown. A live-stream question: quiet
    // hours. Bob's coupon question: his own first answer.
    sim(&acq, "/sim/group/say", say(&amy, "优惠券还有吗")).await;
    sim(&acq, "/sim/group/say", say(&amy, "几点直播")).await;
    sim(&acq, "/sim/group/say", say(&bob, "优惠券")).await;
    read_feed(&acq).await;
    let expected = |last: &str| {
        vec![
            (amy.clone(), "sent".to_string()),
            (amy.clone(), "cooldown".to_string()),
            (amy.clone(), "quiet".to_string()),
            (bob.clone(), last.to_string()),
        ]
    };
    wait_for(|| async { (replies(&acq).await == expected("sent")).then_some(()) }).await;
    assert_eq!(group_tasks(&acq).len(), 2);

    // The feed read again from the start (a cursor set back): nothing twice.
    rewind_cursor(&acq.db.url).await;
    read_feed(&acq).await;
    read_feed(&acq).await;
    assert_eq!(replies(&acq).await, expected("sent"));
    assert_eq!(group_tasks(&acq).len(), 2, "each triggering message answered once");

    // A sensitive word: the owner's app message and the alert list.
    sim(&acq, "/sim/group/say", say(&bob, "再不发货我要投诉")).await;
    read_feed(&acq).await;
    let alert = wait_for(|| async {
        let a = get(&acq, "/api/v1/group-assistant/alerts").await;
        let a = a.as_array().unwrap().first()?.clone();
        (a["state"] == "sent").then_some(a)
    })
    .await;
    assert_eq!(
        (alert["group_name"].as_str(), alert["sender"].as_str(), alert["word"].as_str()),
        (Some("静安福利群"), Some(bob.as_str()), Some("投诉"))
    );
    assert_eq!(alert["content"], "再不发货我要投诉");
    let apps = acq.sim.state().app_messages();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0].touser, ["wang.fang"]);
    let text = &apps[0].content;
    assert!(text.contains("投诉") && text.contains("静安福利群") && text.contains("Bob"), "{text}");
    let stored = get(&acq, &format!("/api/v1/groups/{group_id}")).await;
    assert_eq!(stored["group"]["chat_id"], chat_id.as_str());

    // A group koi never heard of (its callbacks were lost) speaks in the
    // feed: koi records the message and reads the group.
    let faults = format!("{}/sim/corps/{CORP}/faults", acq.sim.base_url());
    assert!(acq
        .http
        .put(&faults)
        .json(&json!({"callback_drop_rate": 1.0}))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let dark = sim(&acq, "/sim/group/create", json!({"owner": "li.na", "name": "暗群", "members": [bob]})).await;
    let dark = dark["chat_id"].as_str().unwrap().to_string();
    assert!(acq.http.put(&faults).json(&json!({})).send().await.unwrap().status().is_success());
    sim(&acq, "/sim/group/say", json!({"chat_id": dark, "from": bob, "text": "这里有优惠券吗"})).await;
    read_feed(&acq).await;
    wait_for(|| async {
        let g = get(&acq, "/api/v1/groups").await;
        g.as_array().unwrap().iter().find(|g| g["chat_id"] == dark.as_str() && g["name"] == "暗群").map(|_| ())
    })
    .await;
    assert_eq!(replies(&acq).await.len(), 4, "the coupon rule is for the first group only");

    // A group welcome: made in WeCom through koi, meant for this group;
    // the owner chooses it in their client; the next joiner gets it.
    let too_long = json!({"name": "x", "text": "字".repeat(1400)});
    let (status, v) = call(&acq, Method::POST, "/api/v1/group-welcomes", Some(too_long)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let welcome = json!({
        "name": "入群礼", "text": "欢迎！今晚 20:00 直播间见",
        "attachment": {"type": "link", "title": "新人券", "url": "https://shop.example/new"},
        "scope": {"group_ids": [group_id]}
    });
    let (status, w) = call(&acq, Method::POST, "/api/v1/group-welcomes", Some(welcome)).await;
    assert_eq!(status, 201, "{w}");
    let template_id = w["template_id"].as_str().unwrap().to_string();
    assert_eq!(w["groups"][0]["id"].as_i64(), Some(group_id), "{w}");
    let edited = json!({
        "name": "入群礼", "text": "欢迎！明晚 20:00 直播间见",
        "attachment": {"type": "link", "title": "新人券", "url": "https://shop.example/new"},
        "scope": {"kinds": ["custom"]}
    });
    let (status, w2) = call(&acq, Method::PUT, &format!("/api/v1/group-welcomes/{}", w["id"]), Some(edited)).await;
    assert_eq!((status, w2["template_id"].as_str()), (200, Some(template_id.as_str())), "{w2}");
    sim(&acq, "/sim/group/welcome", json!({"chat_id": chat_id, "template_id": template_id})).await;
    let carol = sim(&acq, "/sim/join", join("Carol")).await["external_userid"].as_str().unwrap().to_string();
    let greeted = acq.sim.state().group_welcomes();
    assert_eq!(greeted.len(), 1, "{greeted:?}");
    assert_eq!((greeted[0].userid.as_str(), greeted[0].text.as_str()), (carol.as_str(), "欢迎！明晚 20:00 直播间见"));
    assert_eq!(greeted[0].link_url.as_deref(), Some("https://shop.example/new"));
    let (status, _) = call(&acq, Method::DELETE, &format!("/api/v1/group-welcomes/{}", w["id"]), None).await;
    assert_eq!(status, 204);
    assert!(acq.sim.state().inspect(Some(CORP), |w| w.chat.templates.is_empty()).unwrap(), "deleted in WeCom too");
    let (status, _) = call(&acq, Method::GET, &format!("/api/v1/group-welcomes/{}", w["id"]), None).await;
    assert_eq!(status, 404);
    console(&acq).await;
    openapi(&acq).await;
}

/// The OpenAPI document describes the assistant's routes and bodies.
async fn openapi(acq: &Acq) {
    let doc: Value = acq.http.get(acq.server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/group-rules",
        "/group-rules/{id}",
        "/group-welcomes",
        "/group-welcomes/{id}",
        "/group-assistant",
        "/group-assistant/read-feed",
        "/group-assistant/replies",
        "/group-assistant/alerts",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let schemas = &doc["components"]["schemas"];
    for schema in ["ReplyRuleDraft", "GroupReplyRule", "WelcomeTemplateDraft", "GroupWelcome", "AssistantSettings"] {
        assert!(schemas[schema].is_object(), "{schema} is described");
    }
    assert!(doc["paths"]["/group-rules"]["post"]["requestBody"].is_object());
}

/// The 群助手 page shows the rules, replies and alerts; a bad rule typed
/// into its form comes back with the error and makes nothing.
async fn console(acq: &Acq) {
    use crate::support::{csrf, login, PASSWORD};
    let c = login(&acq.server, &acq.owner, PASSWORD).await;
    let html = c.get(acq.server.url("/console/group-assistant")).send().await.unwrap().text().await.unwrap();
    for shown in ["群助手", "优惠券", "请问有优惠券吗", "再不发货我要投诉", "静安福利群", "免打扰时段"]
    {
        assert!(html.contains(shown), "the page shows {shown}");
    }
    let token = csrf(&c, &acq.server, "/console/group-assistant").await;
    let bad =
        [("_csrf", token.as_str()), ("name", "坏规则"), ("match_kind", "exact"), ("keywords", ""), ("reply_text", "x")];
    let r = c.post(acq.server.url("/console/group-rules")).form(&bad).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("form-errors"));
    assert_eq!(get(acq, "/api/v1/group-rules").await.as_array().unwrap().len(), 2, "nothing was made");
    let good = [
        ("_csrf", token.as_str()),
        ("name", "地址"),
        ("match_kind", "contains"),
        ("keywords", "地址, 在哪"),
        ("reply_text", "静安寺 1 号"),
        ("kinds", "store"),
    ];
    let r = c.post(acq.server.url("/console/group-rules")).form(&good).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let rules = get(acq, "/api/v1/group-rules").await;
    let made = rules.as_array().unwrap().iter().find(|r| r["name"] == "地址").expect("the rule from the form");
    assert_eq!((made["keywords"].clone(), made["scope"]["kinds"].clone()), (json!(["地址", "在哪"]), json!(["store"])));
}
