//! Poster templates through `koi serve`: the API refuses a layer off the
//! canvas, an unreadable or oversized background with stable codes and
//! keeps nothing; an operator starts a template in the console with an
//! uploaded background, drags the QR's box on the live preview, saves, and
//! the saved template's preview is a 750×1334 JPEG with the QR moved.

use crate::support::*;
use crate::webdriver::Browser;
use base64::Engine as _;
use serde_json::{json, Value};

/// A JPEG's (width, height) from its frame header.
fn jpeg_size(jpeg: &[u8]) -> (u16, u16) {
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
