//! Guide tools end to end, through the simulator over real HTTP:
//!
//! - a PDF uploaded to the material centre (checked by its content) is
//!   served at its address and by its tracked links, and an SOP push that
//!   attaches it sends it to WeCom as an uploaded media_id (the simulator
//!   refuses a media_id it did not make); the SOP report counts the
//!   guide's task; on both databases;
//! - the JS-SDK bridge: the entry page signs the guide in through WeCom
//!   OAuth, `/sidebar/jsapi` signs the page with the simulator's tickets
//!   (checked against them), and `/sidebar/enter` opens the sidebar of the
//!   guide's own customer only;
//! - in chromium: the periodic-hot-products template enabled from the SOP
//!   page, its task in the report per guide; a handover of customers picked
//!   by name.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::group_codes::{call, get, wait_long};
use crate::support::PASSWORD;
use crate::webdriver::Browser;
use reqwest::Method;
use serde_json::{json, Value};

async fn start(backend: &str) -> Acq {
    Acq::start_with(backend, &["--sop-tick-secs", "1"]).await
}

/// A channel code of wang.fang, for customers to come in through.
async fn plain_code(acq: &Acq) -> String {
    let code = json!({
        "name": "门店海报", "channel_type": "store_poster", "store_id": acq.store_id, "kind": "single",
        "pool": [{"staff_id": acq.staff[0]}],
    });
    let (status, made) = call(acq, Method::POST, "/api/v1/channel-codes", Some(code)).await;
    assert_eq!(status, 201, "{made}");
    made["config_id"].as_str().unwrap().to_string()
}

/// A customer who adds wang.fang: (external_userid, koi id).
async fn customer(acq: &Acq, code: &str, name: &str) -> (String, i64) {
    let out = acq.scan(code, json!({ "name": name })).await;
    let ext = out["external_userid"].as_str().unwrap().to_string();
    let id = wait_for(|| async {
        let list = get(acq, &format!("/api/v1/customers?q={name}")).await;
        let list = list.as_array().unwrap();
        list.iter().find(|c| c["external_userid"] == ext.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    (ext, id)
}

/// A `multipart/form-data` POST or PUT of text fields and one file.
pub(crate) async fn upload(
    acq: &Acq,
    method: Method,
    path: &str,
    fields: &[(&str, &str)],
    file: &[u8],
) -> (u16, Value) {
    let boundary = "----koi-e2e-boundary-7d1f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"新品手册.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = acq
        .http
        .request(method, acq.server.url(path))
        .bearer_auth(&acq.key)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn pdf() -> Vec<u8> {
    let mut b = b"%PDF-1.4\n".to_vec();
    b.extend((0..=255u8).cycle().take(50_000));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_file_is_served_and_sent_as_wecom_media_sqlite() {
    material_file("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_material_file_is_served_and_sent_as_wecom_media_postgres() {
    material_file("postgres").await;
}

async fn material_file(backend: &str) {
    let acq = start(backend).await;
    let code = plain_code(&acq).await;
    // A PDF by its content (the name says .png: the name does not count).
    let bytes = pdf();
    let fields = [("kind", "pdf"), ("title", "新品手册"), ("folder", "上新")];
    let (status, m) = upload(&acq, Method::POST, "/api/v1/materials/upload", &fields, &bytes).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        (m["file"]["content_type"].as_str(), m["file"]["size"].as_i64()),
        (Some("application/pdf"), Some(50_009))
    );
    let id = m["id"].as_i64().unwrap();
    let url = m["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&acq.server.url("/materials/file/")), "{url}");
    let served = acq.http.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "application/pdf");
    assert_eq!(served.bytes().await.unwrap().to_vec(), bytes, "the bytes as uploaded");
    let wrong_key = acq.http.get(format!("{}0", &url[..url.len() - 1])).send().await.unwrap();
    assert_eq!(wrong_key.status(), 404);

    // Bad files change nothing: a PNG as a PDF, an unknown format, none.
    let png = b"\x89PNG\r\n\x1a\nnot a pdf".to_vec();
    let (status, e) = upload(&acq, Method::POST, "/api/v1/materials/upload", &fields, &png).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    assert_eq!(e["error"]["fields"][0]["code"], "wrong_kind", "{e}");
    let (status, e) = upload(&acq, Method::POST, "/api/v1/materials/upload", &fields, b"MZ\x90\0exe").await;
    assert_eq!((status, e["error"]["fields"][0]["code"].as_str()), (422, Some("unknown_format")), "{e}");
    let (status, e) =
        upload(&acq, Method::POST, "/api/v1/materials/upload", &[("kind", "sticker"), ("title", "x")], &bytes).await;
    assert_eq!((status, e["error"]["fields"][0]["field"].as_str()), (422, Some("kind")), "{e}");
    assert_eq!(get(&acq, "/api/v1/materials").await.as_array().unwrap().len(), 1, "nothing else was made");

    // An SOP push attaches it: WeCom gets it as a media_id koi uploaded.
    let rule = json!({
        "name": "新客资料", "enabled": true,
        "trigger": {"kind": "after_add"},
        "audience": {"kind": "customers"},
        "steps": [
            {"day": 0, "action": {"kind": "guide_task", "title": "发新品手册"}},
            {"day": 0, "action": {"kind": "mass_message", "text": "{name}您好，这是本季新品手册", "material_id": id}},
        ],
    });
    let (status, r) = call(&acq, Method::POST, "/api/v1/sops", Some(rule)).await;
    assert_eq!(status, 201, "{r}");
    let (ext, customer_id) = customer(&acq, &code, "郑女士").await;
    let task = wait_long(|| async {
        let tasks = acq.sim.state().mass_tasks();
        tasks.into_iter().find(|t| t.task.recipients.iter().any(|r| r.external_userid.as_deref() == Some(ext.as_str())))
    })
    .await;
    let attachments = task.task.attachments.as_array().cloned().unwrap_or_default();
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0]["msgtype"], "file");
    let media_id = attachments[0]["file"]["media_id"].as_str().unwrap();
    assert!(!media_id.is_empty() && !media_id.starts_with("koi-material"), "a WeCom media_id: {media_id}");

    // Its tracked link serves the file and counts the open.
    let (status, sent) =
        call(&acq, Method::POST, &format!("/api/v1/materials/{id}/send"), Some(json!({"customer_id": customer_id})))
            .await;
    assert_eq!(status, 201, "{sent}");
    let opened = acq.http.get(sent["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.bytes().await.unwrap().len(), bytes.len());
    let stats = get(&acq, &format!("/api/v1/materials/{id}")).await;
    assert_eq!(stats["opens"].as_i64(), Some(1), "{stats}");

    // The report: wang.fang has the task, planned and not done.
    let report = wait_for(|| async {
        let r = get(&acq, "/api/v1/sops/report?days=7").await;
        (r["guides"].as_array().is_some_and(|g| !g.is_empty())).then_some(r)
    })
    .await;
    let g = &report["guides"][0];
    assert_eq!((g["name"].as_str(), g["planned"].as_i64(), g["done"].as_i64()), (Some("王芳"), Some(1), Some(0)));
    assert_eq!(
        (report["stores"][0]["store_name"].as_str(), report["stores"][0]["planned"].as_i64()),
        (Some("静安店"), Some(1))
    );
    let (status, e) = call(&acq, Method::GET, "/api/v1/sops/report?days=0", None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("invalid_input")), "{e}");
    let (status, _) = call(&acq, Method::GET, "/api/v1/sops/report?rule_id=999", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_bridge_signs_the_page_and_opens_the_guides_own_customer() {
    let acq = start("sqlite").await;
    let code = plain_code(&acq).await;
    let (ext, _) = customer(&acq, &code, "林小姐").await;
    let (status, v) =
        call(&acq, Method::PUT, "/api/v1/group-assistant", Some(json!({"agent_id": koi_sim::SIM_AGENT_ID}))).await;
    assert_eq!(status, 200, "{v}");
    // Signed in through WeCom OAuth (the simulator names wang.fang).
    let guide = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let entry = acq.server.url(&format!("/sidebar/wecom?corp={CORP}"));
    let page = guide.get(&entry).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("https://res.wx.qq.com"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("https://"), "no third-party script on the page itself");
    let csrf = html.split("data-csrf=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();

    // The signatures are WeCom's: SHA-1 over the simulator's own tickets.
    let jsapi = |url: &str| guide.get(acq.server.url("/sidebar/jsapi")).query(&[("url", url)]).send();
    let c: Value = jsapi(&entry).await.unwrap().json().await.unwrap();
    let wecom = koi_wecom::client::WecomClient::new(koi_wecom::client::ClientConfig {
        base_url: acq.sim.base_url(),
        ..Default::default()
    })
    .unwrap()
    .corp(CORP, "app-secret-value-123");
    let ticket = wecom.get_jsapi_ticket().await.unwrap().ticket;
    let agent_ticket = wecom.get_agent_config_ticket().await.unwrap().ticket;
    let (nonce, ts) = (c["nonce_str"].as_str().unwrap(), c["timestamp"].as_i64().unwrap());
    assert_eq!(c["corp_id"], CORP);
    assert_eq!(c["agent_id"].as_i64(), Some(koi_sim::SIM_AGENT_ID));
    assert_eq!(c["signature"].as_str().unwrap(), koi_wecom::client::jsapi_signature(&ticket, nonce, ts, &entry));
    assert_eq!(
        c["agent_signature"].as_str().unwrap(),
        koi_wecom::client::jsapi_signature(&agent_ticket, nonce, ts, &entry)
    );
    let r = jsapi("https://elsewhere.example/page").await.unwrap();
    assert_eq!(r.status(), 422, "only koi's pages are signed");
    let r = acq.http.get(acq.server.url("/sidebar/jsapi")).query(&[("url", &entry)]).send().await.unwrap();
    assert_eq!(r.status(), 401, "a guide's session first");

    // getCurExternalContact's customer opens the sidebar, if the guide's own.
    let enter = |ext: String, csrf: String| {
        guide.post(acq.server.url("/sidebar/enter")).form(&[("csrf", csrf), ("external_userid", ext)]).send()
    };
    let r = enter(ext.clone(), csrf.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let to: Value = r.json().await.unwrap();
    let sidebar = guide.get(acq.server.url(to["url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(sidebar.status(), 200);
    assert!(sidebar.text().await.unwrap().contains("林小姐"));
    let r = enter("wmSOMEONE-ELSE".into(), csrf.clone()).await.unwrap();
    assert_eq!(r.status(), 404, "not one of the guide's customers");
    let r = enter(ext, "forged".into()).await.unwrap();
    assert_eq!(r.status(), 403, "the page's CSRF token");
    let r = guide.get(acq.server.url("/sidebar/wecom?corp=wwNOBODY")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

/// In chromium: the SOP page enables the periodic-hot-products template, its
/// task shows in the report per guide; a handover moves customers picked
/// by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sop_report_and_the_handover_picker_in_the_console() {
    let acq = start("sqlite").await;
    let code = plain_code(&acq).await;
    let b = Browser::start().await;
    b.goto(&acq.server.url("/console/login")).await;
    b.type_into("#username", &acq.owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "SOP").await;
    b.goto(&acq.server.url("/console/sops")).await;
    b.click("#template-periodic_hot_products button").await;
    b.wait_url("ok=created").await;
    b.wait_text("#sop-list", "周期爆品·新客告知").await;

    let (_, zhou) = customer(&acq, &code, "周女士").await;
    let (_, _wu) = customer(&acq, &code, "吴先生").await;
    b.click("#sop-report-link").await;
    b.wait_url("/console/sops/report").await;
    let mut planned = String::new();
    for _ in 0..60 {
        b.goto(&acq.server.url("/console/sops/report?days=7")).await;
        planned = b.text("#sop-report-guides").await;
        let cell = format!("tr[data-staff='{}'] .planned", acq.staff[0]);
        if planned.contains("王芳") && b.exists(&cell).await && b.text(&cell).await == "2" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(b.text(&format!("tr[data-staff='{}'] .planned", acq.staff[0])).await, "2", "{planned}");
    assert!(b.text("#sop-report-stores").await.contains("静安店"));

    // On-job handover of 周女士 only, found by name among wang.fang's customers.
    b.goto(&acq.server.url("/console/handovers")).await;
    b.click("#handover-form select[name=kind] option[value=on_job]").await;
    b.click(&format!("#handover-form select[name=from_staff_id] option[value='{}']", acq.staff[0])).await;
    b.type_into("#handover-form input[name=pick_q]", "周").await;
    b.click("#ho-search-button").await;
    let found = b.wait_text("#ho-candidates", "周女士").await;
    assert!(!found.contains("吴先生"), "only the name searched: {found}");
    b.click(&format!("#pick-{zhou}")).await;
    b.click(&format!("#handover-form select[name=receiver_id] option[value='{}']", acq.staff[1])).await;
    b.click("#ho-preview-button").await;
    let n = b.wait_text("#ho-preview-customers", "1").await;
    assert_eq!(n, "1");
    b.click("#ho-start-button").await;
    b.wait_url("ok=created").await;
    let url = b.url().await;
    let id: i64 = url.split("/console/handovers/").nth(1).and_then(|r| r.split('?').next()).unwrap().parse().unwrap();
    let d = get(&acq, &format!("/api/v1/handovers/{id}")).await;
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{d}");
    assert_eq!(items[0]["customer_id"].as_i64(), Some(zhou), "{d}");
}
