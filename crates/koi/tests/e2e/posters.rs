//! Poster templates through `koi serve`: the API refuses a layer off the
//! canvas, an unreadable or oversized background with stable codes and
//! keeps nothing; an operator starts a template in the console with an
//! uploaded background, drags the QR's box on the live preview, saves, and
//! the saved template's preview is a 750×1334 JPEG with the QR moved.
//!
//! A participant's H5 page shows their personal poster, in a real browser:
//! its QR, read back out of the JPEG, is their entry, and a friend who
//! scans it becomes their invite. A group code prints as a poster (API and
//! console) whose QR is the code's, on both databases. A participant's
//! poster draws their WeChat avatar (the simulator serves one per
//! customer) round; an avatar that cannot be fetched as a picture leaves
//! the placeholder.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::*;
use crate::webdriver::Browser;
use base64::Engine as _;
use serde_json::{json, Value};

/// A JPEG's (width, height) from its frame header.
pub(crate) fn jpeg_size(jpeg: &[u8]) -> (u16, u16) {
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    let mut i = 2;
    while i + 9 < jpeg.len() {
        assert_eq!(jpeg[i], 0xFF, "a marker at {i}");
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if (0xC0..=0xC2).contains(&marker) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("no frame header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_designs_a_poster_template_in_the_editor() {
    let db = scratch("sqlite").await;
    let t = tenant(&db.url, "wwPOSTER");
    let server = Server::serve(&db.url);
    let key = api_key(&server, &t.owner).await;
    let http = reqwest::Client::new();
    let api = |path: &str| server.url(&format!("/api/v1{path}"));
    let post = |body: Value| {
        let http = http.clone();
        let (url, key) = (api("/poster-templates"), key.clone());
        async move {
            let r = http.post(url).bearer_auth(key).json(&body).send().await.expect("post");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let starter = serde_json::to_value(koi_poster::Layout::starter()).expect("layout json");

    // Refused with stable codes, and nothing kept.
    let mut off = starter.clone();
    off["layers"][0]["x"] = json!(700);
    let (status, body) = post(json!({"name": "越界", "layout": off})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_input")), "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "layout.layers.0.x");
    assert_eq!(body["error"]["fields"][0]["code"], "outside_canvas");
    let (status, body) =
        post(json!({"name": "坏图", "layout": starter, "background_base64": b64(b"GIF89a....")})).await;
    assert_eq!((status, body["error"]["fields"][0]["code"].as_str()), (422, Some("unreadable_image")), "{body}");
    let (status, body) = post(json!({"name": "坏码", "layout": starter, "background_base64": "@@@"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_base64")), "{body}");
    let huge = vec![0u8; koi_poster::MAX_BACKGROUND_BYTES + 1];
    let (status, body) = post(json!({"name": "太大", "layout": starter, "background_base64": b64(&huge)})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    let list: Value =
        http.get(api("/poster-templates")).bearer_auth(&key).send().await.expect("list").json().await.expect("json");
    assert_eq!(list, json!([]));

    // Made through the API on a background drawn in code, previewed.
    let background = koi_poster::gradient_png(750, 1334, [0x40, 0x80, 0xff], [0x10, 0x20, 0x60]);
    let (status, made) =
        post(json!({"name": "接口海报", "layout": starter, "background_base64": b64(&background)})).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["background_type"], "image/png");
    let r = http
        .get(api(&format!("/poster-templates/{}/preview.jpg", made["id"])))
        .bearer_auth(&key)
        .send()
        .await
        .expect("preview");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(jpeg_size(&r.bytes().await.expect("bytes")), (750, 1334));

    // In the console: a new template with an uploaded background.
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("poster-background.png");
    std::fs::write(&png, koi_poster::gradient_png(750, 1334, [0xff, 0xd0, 0x40], [0xe0, 0x50, 0x20]))
        .expect("write png");
    let b = Browser::start().await;
    b.goto(&server.url("/console/login")).await;
    b.type_into("#username", &t.owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "海报模板").await;
    b.click("nav a[href='/console/poster-templates']").await;
    b.wait_text("#poster-templates", "接口海报").await;
    b.type_into("#poster-new-form input[name=name]", "双十一邀请海报").await;
    b.send_keys("#poster-new-form input[name=background]", png.to_str().expect("utf-8 path")).await;
    b.click("#poster-new-form button[type=submit]").await;
    b.wait_url("ok=created").await;
    let id: i64 = b
        .url()
        .await
        .split("/poster-templates/")
        .nth(1)
        .and_then(|s| s.split('?').next())
        .and_then(|s| s.parse().ok())
        .expect("the template's id");

    // The QR is the fourth layer; drag its box 60 px left and 40 px up on
    // the half-size stage: 120 and 80 canvas pixels.
    let value = |name: &'static str| {
        let b = &b;
        async move {
            let v = b.run(&format!("return document.querySelector('#poster-form [name={name}]').value;")).await;
            v.as_str().and_then(|s| s.parse::<i64>().ok()).expect("a number")
        }
    };
    let (x0, y0) = (value("x_3").await, value("y_3").await);
    b.drag(".poster-box[data-i='3']", -60, -40).await;
    let (x1, y1) = (value("x_3").await, value("y_3").await);
    assert_eq!((x1, y1), (x0 - 120, y0 - 80), "the inputs follow the drag");
    // The live preview asks for the unsaved layout and loads.
    let mut live = Value::Null;
    for _ in 0..50 {
        live = b.run("var i = document.getElementById('poster-preview'); return [i.src, i.complete, i.naturalWidth, i.naturalHeight];").await;
        if live[0].as_str().is_some_and(|s| s.contains(&format!("x_3={x1}")))
            && live[1] == json!(true)
            && live[2] == json!(750)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((live[2].as_i64(), live[3].as_i64()), (Some(750), Some(1334)), "live preview: {live}");
    assert!(live[0].as_str().is_some_and(|s| s.contains(&format!("x_3={x1}"))), "{live}");
    // A number typed moves the box too.
    b.type_into("#poster-form input[name=y_3]", "900").await;
    let top = b.run("return document.querySelector(\".poster-box[data-i='3']\").style.top;").await;
    assert_eq!(top, json!("450px"));

    b.click("#poster-save").await;
    b.wait_url("ok=saved").await;
    assert_eq!((value("x_3").await, value("y_3").await), (x1, 900), "the saved page shows the saved place");
    let saved: Value = http
        .get(api(&format!("/poster-templates/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (saved["layout"]["layers"][3]["x"].as_i64(), saved["layout"]["layers"][3]["y"].as_i64()),
        (Some(x1), Some(900))
    );
    assert_eq!((saved["version"].as_i64(), saved["background_type"].as_str()), (Some(2), Some("image/png")), "{saved}");
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = b.run("var i = document.getElementById('poster-preview'); return [i.complete, i.naturalWidth, i.naturalHeight];").await;
        if shown == json!([true, 750, 1334]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(shown, json!([true, 750, 1334]), "the saved preview loads at full size");

    // Off the canvas: refused with the field named, the typed values kept.
    b.type_into("#poster-form input[name=x_3]", "700").await;
    b.click("#poster-save").await;
    let errors = b.wait_text("#form-errors", "750").await;
    assert!(errors.contains("outside") || errors.contains("canvas"), "{errors}");
    assert_eq!(value("x_3").await, 700);
    let still: Value = http
        .get(api(&format!("/poster-templates/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(still["version"], 2, "nothing saved");
}

/// Polls `f` for up to 60 s (an entry is made by a job through the simulator).
async fn wait_60<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("condition not met within 60 s");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_page_shows_their_own_poster() {
    let acq = Acq::start_with("sqlite", &["--campaign-tick-secs", "1"]).await;
    let (server, http, key) = (&acq.server, &acq.http, &acq.key);
    let mut layout = koi_poster::Layout::starter();
    for layer in &mut layout.layers {
        if let koi_poster::Layer::Text { text, .. } = layer {
            *text = "{nickname} 邀你参加{campaign}".into();
        }
    }
    let template = acq.post("/api/v1/poster-templates", json!({"name": "活动海报", "layout": layout})).await;
    let template_id = template["id"].as_i64().expect("a template");
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "门口海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "multi",
                   "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    acq.scan(code["config_id"].as_str().expect("a contact way"), json!({"name": "海报达人"})).await;
    let customer = wait_for(|| async {
        let v: Value =
            http.get(server.url("/api/v1/customers")).bearer_auth(key).send().await.ok()?.json().await.ok()?;
        v.as_array()?.iter().find(|c| c["name"] == "海报达人").cloned()
    })
    .await;
    let draft = json!({
        "name": "周年庆", "kind": "task", "starts_at": now_ms() - 60_000, "ends_at": now_ms() + 3_600_000,
        "staff_ids": [acq.staff[0]], "welcome": "欢迎！", "poster_template_id": template_id,
        "tiers": [{"threshold": 3, "reward": {"kind": "coupon", "title": "满49减20", "url": "https://shop.example/c"}}],
    });
    let c = acq.post("/api/v1/campaigns", draft).await;
    let id = c["id"].as_i64().unwrap_or_else(|| panic!("a campaign: {c}"));
    let launched = acq.post(&format!("/api/v1/campaigns/{id}/transition"), json!({"action": "launch"})).await;
    assert_eq!(launched["state"], "running", "{launched}");
    let r = http
        .post(server.url(&format!("/api/v1/campaigns/{id}/participants")))
        .bearer_auth(key)
        .json(&json!({"customer_ids": [customer["id"]]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let participant = wait_60(|| async {
        let v: Value = http
            .get(server.url(&format!("/api/v1/campaigns/{id}/participants")))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v.as_array()?.first().filter(|p| p["entry_state"] == "ready" && p["qr_code"].is_string()).cloned()
    })
    .await;
    let entry_qr = participant["qr_code"].as_str().unwrap().to_string();
    let page = participant["page_path"].as_str().unwrap().to_string();

    // The page, in the browser: the poster loads at full size.
    let b = Browser::start().await;
    b.goto(&server.url(&page)).await;
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = b
            .run("var i = document.getElementById('poster'); return i ? [i.src, i.complete, i.naturalWidth, i.naturalHeight] : null;")
            .await;
        if shown[1] == json!(true) && shown[2] == json!(750) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((shown[2].as_i64(), shown[3].as_i64()), (Some(750), Some(1334)), "the poster loads: {shown}");
    let src = shown[0].as_str().expect("the poster's address").to_string();
    drop(b);

    // What the browser showed: a JPEG whose QR is the participant's entry.
    let r = http.get(&src).send().await.expect("poster");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.expect("bytes");
    assert_eq!(jpeg_size(&jpeg), (750, 1334));
    let payload = koi_poster::read_qr(&jpeg).expect("the poster's QR reads");
    assert_eq!(payload, entry_qr, "the poster's QR is the participant's entry");
    // The same poster again is the same bytes (from the cache).
    let again = http.get(&src).send().await.expect("poster").bytes().await.expect("bytes");
    assert!(again == jpeg, "the same poster");

    // A friend scans the QR read off the poster: the participant's invite.
    let scanned = http
        .post(format!("{}/sim/scan", acq.sim.base_url()))
        .json(&json!({"qr_code": payload, "customer": {"name": "扫海报的朋友"}}))
        .send()
        .await
        .expect("scan");
    assert!(scanned.status().is_success());
    wait_60(|| async {
        let v: Value = http
            .get(server.url(&format!("/api/v1/campaigns/{id}/invites")))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v.as_array()?.iter().find(|i| i["invitee_name"] == "扫海报的朋友").cloned()
    })
    .await;

    // Unknown participants get no poster.
    let campaign_path = page.split('?').next().unwrap();
    let r = http.get(server.url(&format!("{campaign_path}/poster.jpg?p=nobody"))).send().await.expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poster_draws_the_avatar_or_falls_back_to_the_placeholder() {
    let acq = Acq::start_with("sqlite", &["--campaign-tick-secs", "1"]).await;
    let (server, http, key) = (&acq.server, &acq.http, &acq.key);
    let sim = acq.sim.base_url();
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "门口海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "multi",
                   "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    let config = code["config_id"].as_str().expect("a contact way");
    // One with the simulator's avatar; one whose avatar URL answers JSON.
    acq.scan(config, json!({"name": "有头像"})).await;
    acq.scan(config, json!({"name": "头像失效", "avatar": format!("{sim}/sim/clock")})).await;
    let customers = wait_for(|| async {
        let v: Value =
            http.get(server.url("/api/v1/customers")).bearer_auth(key).send().await.ok()?.json().await.ok()?;
        let v = v.as_array()?.clone();
        (v.len() == 2).then_some(v)
    })
    .await;
    let by_name = |n: &str| customers.iter().find(|c| c["name"] == n).expect("the customer").clone();
    let (with, broken) = (by_name("有头像"), by_name("头像失效"));
    let avatar_url = with["avatar"].as_str().expect("an avatar URL").to_string();
    assert!(avatar_url.starts_with(&format!("{sim}/sim/avatar/")), "{avatar_url}");
    let r = http.get(&avatar_url).send().await.expect("avatar");
    assert_eq!(r.headers()["content-type"], "image/png");
    let avatar = r.bytes().await.expect("bytes").to_vec();
    assert_eq!(http.get(&avatar_url).send().await.unwrap().bytes().await.unwrap().to_vec(), avatar, "the same picture");

    let draft = json!({
        "name": "周年庆", "kind": "task", "starts_at": now_ms() - 60_000, "ends_at": now_ms() + 3_600_000,
        "staff_ids": [acq.staff[0]], "welcome": "欢迎！",
        "tiers": [{"threshold": 3, "reward": {"kind": "coupon", "title": "满49减20", "url": "https://shop.example/c"}}],
    });
    let c = acq.post("/api/v1/campaigns", draft).await;
    let id = c["id"].as_i64().unwrap_or_else(|| panic!("a campaign: {c}"));
    acq.post(&format!("/api/v1/campaigns/{id}/transition"), json!({"action": "launch"})).await;
    acq.post(&format!("/api/v1/campaigns/{id}/participants"), json!({"customer_ids": [with["id"], broken["id"]]}))
        .await;
    let participants = wait_60(|| async {
        let v: Value = http
            .get(server.url(&format!("/api/v1/campaigns/{id}/participants")))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let v = v.as_array()?.clone();
        (v.len() == 2 && v.iter().all(|p| p["entry_state"] == "ready")).then_some(v)
    })
    .await;

    // What koi must have drawn, rendered here from the same built-in layout.
    let layout = koi_poster::Layout::starter();
    let fonts = std::sync::Arc::new(koi_poster::Fonts::system().expect("the system's fonts"));
    let prepared = koi_poster::PreparedTemplate::prepare(&layout, None, fonts).expect("prepared");
    let (ax, ay, size) = layout
        .layers
        .iter()
        .find_map(|l| if let koi_poster::Layer::Avatar { x, y, size } = *l { Some((x, y, size)) } else { None })
        .expect("an avatar layer");
    let poster_of = |customer_id: &Value| {
        let p = participants.iter().find(|p| p["customer_id"] == *customer_id).expect("a participant");
        let page = p["page_path"].as_str().expect("a page").to_string();
        server.url(&page.replacen("?p=", "/poster.jpg?p=", 1))
    };
    let fill = |jpeg: &[u8], name: &str, avatar: Option<Vec<u8>>| {
        let mut f = koi_poster::PosterFill {
            qr_payload: koi_poster::read_qr(jpeg).expect("the poster's QR"),
            nickname: name.into(),
            avatar,
            text_vars: Default::default(),
        };
        f.text_vars.insert("campaign".into(), "周年庆".into());
        f
    };

    let r = http.get(poster_of(&with["id"])).send().await.expect("poster");
    assert_eq!(r.status(), 200);
    let jpeg = r.bytes().await.expect("bytes").to_vec();
    let drawn = fill(&jpeg, "有头像", Some(avatar.clone()));
    let placeholder = fill(&jpeg, "有头像", None);
    assert!(jpeg == prepared.render(&drawn).expect("rendered"), "the poster draws the simulator's avatar");
    assert!(jpeg != prepared.render(&placeholder).expect("rendered"));
    // The two differ inside the avatar's circle, and only there near it.
    let (a, b) = (prepared.render_rgb(&drawn).expect("rgb"), prepared.render_rgb(&placeholder).expect("rgb"));
    let px = |img: &[u8], x: i32, y: i32| {
        let i = ((y as usize) * koi_poster::WIDTH as usize + x as usize) * 3;
        [img[i], img[i + 1], img[i + 2]]
    };
    let (r0, c) = (size / 2, (ax + size / 2, ay + size / 2));
    let (mut inside, mut differ, mut corners_same) = (0, 0, 0);
    for y in ay..ay + size {
        for x in ax..ax + size {
            let d2 = (x - c.0).pow(2) + (y - c.1).pow(2);
            let far = px(&a, x, y).iter().zip(px(&b, x, y)).any(|(p, q)| p.abs_diff(q) > 24);
            if d2 < (r0 - 3).pow(2) {
                inside += 1;
                differ += usize::from(far);
            } else if d2 > (r0 + 3).pow(2) {
                corners_same += usize::from(!far);
            }
        }
    }
    assert!(differ * 2 > inside, "most of the circle is the avatar: {differ} of {inside}");
    assert!(corners_same > 0, "the corners stay background");

    // The avatar that answers JSON: the placeholder, and the poster still goes out.
    let r = http.get(poster_of(&broken["id"])).send().await.expect("poster");
    assert_eq!(r.status(), 200);
    let jpeg = r.bytes().await.expect("bytes").to_vec();
    assert!(jpeg == prepared.render(&fill(&jpeg, "头像失效", None)).expect("rendered"), "the placeholder is drawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_code_prints_as_a_poster_sqlite() {
    group_code_poster("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_code_prints_as_a_poster_postgres() {
    group_code_poster("postgres").await;
}

/// A rotating group code and a nearest-store code, each printed on the
/// built-in layout and on an operator's template, through the API and the
/// console; each poster's QR reads back as the code's.
async fn group_code_poster(backend: &str) {
    use crate::group_codes::{call, groups};
    use reqwest::Method;
    let acq = Acq::start(backend).await;
    let (_, ids) = groups(&acq, &[("wang.fang", "静安店福利群".to_string())]).await;
    let draft = json!({"name": "静安店群码", "group_kind": "store", "store_id": acq.store_id, "group_ids": ids});
    let (status, made) = call(&acq, Method::POST, "/api/v1/group-codes", Some(draft)).await;
    assert_eq!(status, 201, "{made}");
    let code_id = made["code"]["id"].as_i64().unwrap();
    let way_qr = made["code"]["qr_code"].as_str().expect("a join way's QR").to_string();
    let poster = |path: String| {
        let (http, url, key) = (acq.http.clone(), acq.server.url(&path), acq.key.clone());
        async move {
            let r = http.get(url).bearer_auth(key).send().await.expect("poster");
            let status = r.status().as_u16();
            let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            (status, kind, r.bytes().await.expect("bytes").to_vec())
        }
    };

    // The built-in layout: the QR is the join way's (what the simulator's QR image encodes).
    let (status, kind, jpeg) = poster(format!("/api/v1/group-codes/{code_id}/poster")).await;
    assert_eq!((status, kind.as_str()), (200, "image/jpeg"), "{}", String::from_utf8_lossy(&jpeg));
    assert_eq!(jpeg_size(&jpeg), (750, 1334));
    assert_eq!(koi_poster::read_qr(&jpeg).expect("reads"), way_qr);
    // In English, with a title: another poster, the same QR.
    let (_, _, en) = poster(format!("/api/v1/group-codes/{code_id}/poster?lang=en&title=VIP%20Group")).await;
    assert!(en != jpeg, "another title and language draw another poster");
    assert_eq!(koi_poster::read_qr(&en).expect("reads"), way_qr);

    // An operator's template.
    let mut layout = koi_poster::Layout::starter();
    for layer in &mut layout.layers {
        if let koi_poster::Layer::Text { text, .. } = layer {
            *text = "{store} · 扫码进群".into();
        }
    }
    let (status, t) =
        call(&acq, Method::POST, "/api/v1/poster-templates", Some(json!({"name": "群码海报", "layout": layout}))).await;
    assert_eq!(status, 201, "{t}");
    let template_id = t["id"].as_i64().unwrap();
    let (status, _, on_template) =
        poster(format!("/api/v1/group-codes/{code_id}/poster?template_id={template_id}")).await;
    assert_eq!(status, 200);
    assert!(on_template != jpeg);
    assert_eq!(koi_poster::read_qr(&on_template).expect("reads"), way_qr);

    // Bad input: a stable code, nothing drawn.
    let (status, _, body) = poster(format!("/api/v1/group-codes/{code_id}/poster?template_id=999999")).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
    let long = "长".repeat(41);
    let (status, _, body) = poster(format!("/api/v1/group-codes/{code_id}/poster?title={long}")).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!((status, v["error"]["fields"][0]["field"].as_str()), (422, Some("title")), "{v}");
    let (status, _, _) = poster("/api/v1/group-codes/999999/poster".into()).await;
    assert_eq!(status, 404);

    // A nearest-store code: its QR is its landing page.
    let nearest = json!({
        "name": "附近门店群", "code_type": "nearest_store", "radius_m": 3000,
        "stores": [{"store_id": acq.store_id, "code_id": code_id}], "fallback_store_id": acq.store_id,
    });
    let (status, near) = call(&acq, Method::POST, "/api/v1/group-codes", Some(nearest)).await;
    assert_eq!(status, 201, "{near}");
    let near_id = near["code"]["id"].as_i64().unwrap();
    let landing = near["code"]["landing_path"].as_str().unwrap().to_string();
    let (status, _, jpeg) = poster(format!("/api/v1/group-codes/{near_id}/poster")).await;
    assert_eq!(status, 200);
    let payload = koi_poster::read_qr(&jpeg).expect("reads");
    assert!(payload.starts_with("http") && payload.ends_with(&landing), "{payload} is the landing page");

    // The console: the code's page offers the templates by name; the download is the poster.
    let c = login(&acq.server, &acq.owner, PASSWORD).await;
    let page =
        c.get(acq.server.url(&format!("/console/group-codes/{code_id}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("id=\"poster-form\"")
            && page.contains(&format!("<option value=\"{template_id}\">群码海报</option>"))
    );
    let r = c
        .get(acq.server.url(&format!("/console/group-codes/{code_id}/poster.jpg?template_id={template_id}&title=")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let downloaded = r.bytes().await.unwrap();
    assert!(downloaded.as_ref() == on_template.as_slice(), "the console's download is the same poster");

    let doc = acq.http.get(acq.server.url("/api/v1/openapi.json")).send().await.unwrap().json::<Value>().await.unwrap();
    assert!(doc["paths"]["/group-codes/{id}/poster"]["get"].is_object(), "documented");
}
