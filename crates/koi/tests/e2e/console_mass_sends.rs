//! The mass-send console in a real browser against `koi serve` and the
//! simulator: an operator sends to a segment picked by name with two
//! materials of the material centre ticked by name (an uploaded picture goes
//! to WeCom as a media koi uploaded, an article as its link card), then to a
//! customer group ticked by name (the preview counts the group), and reads
//! each send's report — the group's line turns delivered once its owner
//! confirms in WeCom.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::*;
use crate::webdriver::Browser;
use serde_json::{json, Value};

/// Reloads the page until `css` holds `needle` (the send plans and reads
/// in the background).
async fn reload_until(b: &Browser, css: &str, needle: &str) {
    for _ in 0..80 {
        if b.exists(css).await && b.text(css).await.contains(needle) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let url = b.url().await;
        b.goto(&url).await;
    }
    panic!("{css} never showed {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sends_to_a_segment_and_to_groups_from_the_console() {
    let acq = Acq::start("sqlite").await;
    let (server, http, key, sim) = (&acq.server, &acq.http, &acq.key, &acq.sim);
    let api = |path: &str| server.url(&format!("/api/v1{path}"));

    // A customer of wang.fang (a store poster code), a segment of the store,
    // and a group wang.fang owns.
    let code = json!({"name": "群发海报", "channel_type": "store_poster", "store_id": acq.store_id,
                      "pool": [{"staff_id": acq.staff[0]}]});
    let code: Value =
        http.post(api("/channel-codes")).bearer_auth(key).json(&code).send().await.unwrap().json().await.unwrap();
    let r = http
        .post(format!("{}/sim/scan", sim.base_url()))
        .json(&json!({"config_id": code["config_id"], "customer": {"name": "顾客甲"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for(|| async {
        let v: Value = http.get(api("/customers")).bearer_auth(key).send().await.ok()?.json().await.ok()?;
        (v.as_array()?.len() == 1).then_some(())
    })
    .await;
    let seg = json!({"name": "静安门店客户", "expr": format!("store:{}", acq.store_id)});
    let seg: Value =
        http.post(api("/segments")).bearer_auth(key).json(&seg).send().await.unwrap().json().await.unwrap();
    let segment_id = seg["id"].as_i64().unwrap();
    let chat: Value = http
        .post(format!("{}/sim/group/create", sim.base_url()))
        .json(&json!({"owner": "wang.fang", "name": "静安福利群"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat_id = chat["chat_id"].as_str().unwrap().to_string();
    http.post(api("/groups/sync")).bearer_auth(key).send().await.unwrap();
    let group_id = wait_for(|| async {
        let v: Value = http.get(api("/groups")).bearer_auth(key).send().await.ok()?.json().await.ok()?;
        let g = v.as_array()?.iter().find(|g| g["chat_id"] == chat_id.as_str() && g["synced_at"].as_i64() > Some(0))?;
        g["id"].as_i64()
    })
    .await;

    // Two materials: an uploaded picture and an article.
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 2_000]].concat();
    let fields = [("kind", "image"), ("title", "周末海报")];
    let (status, pic) =
        crate::guide_tools::upload(&acq, reqwest::Method::POST, "/api/v1/materials/upload", &fields, &png).await;
    assert_eq!(status, 201, "{pic}");
    let article = json!({"kind": "article", "title": "周末逛店指南", "url": "https://shop.example/guide", "description": "三条路线"});
    let article: Value =
        http.post(api("/materials")).bearer_auth(key).json(&article).send().await.unwrap().json().await.unwrap();
    let (pic_id, article_id) = (pic["id"].as_i64().unwrap(), article["id"].as_i64().unwrap());
    // An unknown material is refused with its field; nothing is sent.
    let bad = json!({"name": "x", "audience": {"type": "segment", "segment_id": segment_id}, "text": "hi",
                     "attachments": [{"msgtype": "material", "material_id": 999_999}]});
    let r = http.post(api("/mass-sends")).bearer_auth(key).json(&bad).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["error"]["fields"][0]["field"].as_str(), e["error"]["fields"][0]["code"].as_str()),
        (Some("attachments[0].material_id"), Some("unknown_material")),
        "{e}"
    );

    let b = Browser::start().await;
    b.goto(&server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "群发").await;
    b.goto(&server.url("/console/mass-sends")).await;
    b.wait_text("#mass-sends", "还没有群发").await;

    // To the segment, picked by its name.
    b.type_into("#mass-send-form input[name=name]", "门店周末").await;
    b.click(&format!("select[name=segment_id] option[value='{segment_id}']")).await;
    b.type_into("textarea[name=text]", "{guide}邀您周末到店").await;
    assert!(b.text("#ms-material-pick").await.contains("周末海报"), "materials are listed by name");
    b.click(&format!("#ms-material-pick input[value='{pic_id}']")).await;
    b.click(&format!("#ms-material-pick input[value='{article_id}']")).await;
    b.click("#mass-send-form button:not(.secondary)").await;
    b.wait_url("/console/mass-sends/").await;
    reload_until(&b, "#ms-guides", "王芳").await;
    assert_eq!(b.text("#ms-planned").await, "1");
    // WeCom's task carries the picture as a media koi uploaded and the
    // article as a link card.
    let task = wait_for(|| async {
        let tasks = sim.state().mass_tasks();
        tasks.into_iter().find(|t| t.task.chat_type != "group")
    })
    .await;
    let attachments = task.task.attachments.as_array().cloned().unwrap_or_default();
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert_eq!(attachments[0]["msgtype"], "image", "{attachments:?}");
    let media_id = attachments[0]["image"]["media_id"].as_str().unwrap_or_default();
    assert!(!media_id.is_empty() && !media_id.starts_with("koi-material"), "a WeCom media_id: {media_id}");
    assert_eq!(attachments[1]["msgtype"], "link", "{attachments:?}");
    assert_eq!(attachments[1]["link"]["url"], "https://shop.example/guide");
    assert_eq!(attachments[1]["link"]["title"], "周末逛店指南");

    // To the group, ticked by its name; the preview counts it.
    b.goto(&server.url("/console/mass-sends")).await;
    b.type_into("#mass-send-form input[name=name]", "福利群通知").await;
    b.click("input[name=audience][value=groups]").await;
    b.click(&format!("#ms-group-pick input[value='{group_id}']")).await;
    b.type_into("textarea[name=text]", "群里的朋友们，周末见").await;
    b.click("#mass-send-form button.secondary").await;
    b.wait_text("#ms-preview-groups", "1").await;
    assert!(b.exists(&format!("#ms-group-pick input[value='{group_id}']:checked")).await, "the pick is kept");
    b.click("#mass-send-form button:not(.secondary)").await;
    b.wait_url("/console/mass-sends/").await;
    reload_until(&b, "#ms-groups", "静安福利群").await;
    let url = b.url().await;
    let send_id: i64 =
        url.split("/mass-sends/").nth(1).unwrap().split(['?', '/']).next().unwrap().parse().expect("send id");

    // wang.fang confirms in WeCom; a refresh shows the group delivered.
    let msgid = wait_for(|| async {
        let tasks = sim.state().mass_tasks();
        tasks.into_iter().find(|t| t.task.chat_type == "group").map(|t| t.task.msgid)
    })
    .await;
    let r = http.post(format!("{}/sim/mass/confirm", sim.base_url())).json(&json!({"msgid": msgid})).send().await;
    assert!(r.unwrap().status().is_success());
    b.click("#ms-refresh button").await;
    let mut delivered = false;
    for _ in 0..60 {
        b.goto(&server.url(&format!("/console/mass-sends/{send_id}"))).await;
        if b.exists(&format!("#ms-groups tr[data-group='{chat_id}'][data-state='sent']")).await {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(delivered, "the group's line turns delivered");
    assert!(b.text("#ms-groups").await.contains("已送达"));
    assert!(b.text("#ms-tasks").await.contains("客户群"), "the task is a group task");
}
