//! Acquisition end to end, through the simulator as WeCom: an operator makes
//! a channel code through the API, customers scan it, koi records customers
//! and follows with their attribution, greets each within its 20 s window,
//! notices deletions, and counts a re-add as returning.

use crate::api::wait_for;
use crate::support::*;
use koi_sim::{SimConfig, SimCorp, SimStaff, Simulator};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_to_welcome_sqlite() {
    scan_to_welcome("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_to_welcome_postgres() {
    scan_to_welcome("postgres").await;
}

/// koi on a scratch database, the simulator as its WeCom, an API key, one
/// store and two guides.
pub struct Acq {
    pub db: koi_store::scratch::ScratchDb,
    pub sim: koi_sim::SimHandle,
    pub server: Server,
    pub key: String,
    pub store_id: i64,
    pub staff: Vec<i64>,
    pub http: reqwest::Client,
    pub owner: String,
}

pub const CORP: &str = "wwACQUIRE";

impl Acq {
    pub async fn start(backend: &str) -> Acq {
        Acq::start_with(backend, &[]).await
    }

    /// As [`Acq::start`], with more `koi serve` arguments.
    pub async fn start_with(backend: &str, extra: &[&str]) -> Acq {
        let db = scratch(backend).await;
        let t = tenant(&db.url, CORP);
        // The simulator stands in for WeCom; koi's callback URL is set once koi runs.
        let sim = Simulator::start(
            SimConfig {
                seed: 9,
                corps: vec![SimCorp {
                    corp_id: CORP.into(),
                    secret: "app-secret-value-123".into(),
                    token: "QDG6eK".into(),
                    encoding_aes_key: AES_KEY.into(),
                    callback_url: None,
                    staff: vec![SimStaff::new("wang.fang", "王芳", 1), SimStaff::new("li.na", "李娜", 1)],
                    faults: koi_sim::Faults::default(),
                }],
                ..SimConfig::default()
            },
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        )
        .await
        .unwrap();
        let sim_url = sim.base_url();
        let mut args =
            vec!["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url, "--wecom-base-url", &sim_url];
        args.extend_from_slice(extra);
        let server = Server::start(&args);
        let http = reqwest::Client::new();
        let r = http
            .put(format!("{}/sim/corps/{CORP}/callback_url", sim.base_url()))
            .json(&json!({ "url": server.url(&format!("/wecom/callback/{CORP}")) }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let key = api_key(&server, &t.owner).await;
        let mut acq = Acq { db, sim, server, key, store_id: 0, staff: vec![], http, owner: t.owner };
        let store = acq
            .post("/api/v1/stores", json!({"code": "SH-JA", "name": "静安店", "lat": 31.2243, "lng": 121.4465}))
            .await;
        acq.store_id = store["id"].as_i64().unwrap();
        for (userid, name) in [("wang.fang", "王芳"), ("li.na", "李娜")] {
            let m =
                acq.post("/api/v1/staff", json!({"userid": userid, "name": name, "store_ids": [acq.store_id]})).await;
            acq.staff.push(m["id"].as_i64().unwrap());
        }
        acq
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.http.post(self.server.url(path)).bearer_auth(&self.key).json(&body).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// A customer scans a contact way in the simulator; returns the scan outcome.
    pub async fn scan(&self, config_id: &str, customer: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/sim/scan", self.sim.base_url()))
            .json(&json!({"config_id": config_id, "customer": customer}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.json().await.unwrap()
    }
}

async fn scan_to_welcome(backend: &str) {
    const SCANS: usize = 20;
    let acq = Acq::start(backend).await;
    let Acq { sim, server, key, store_id, staff, http, .. } = &acq;
    let (store_id, key) = (*store_id, key.as_str());
    let post = |path: &str, body: Value| http.post(server.url(path)).bearer_auth(key).json(&body).send();
    // A corp tag, made in WeCom (tag sync is its own module), for the code's auto-tag.
    let wecom = koi_wecom::client::WecomClient::new(koi_wecom::client::ClientConfig {
        base_url: sim.base_url(),
        ..Default::default()
    })
    .unwrap()
    .corp(CORP, "app-secret-value-123");
    let group = koi_wecom::client::AddCorpTagRequest {
        group_name: Some("渠道".into()),
        tag: vec![koi_wecom::client::NewTag { name: "门店海报".into(), order: None }],
        ..Default::default()
    };
    let tag_id =
        wecom.add_corp_tag(&group, koi_wecom::client::Priority::Interactive).await.unwrap().tag_group.tag[0].id.clone();

    // A bad code is refused and leaves nothing behind.
    let r = post("/api/v1/channel-codes", json!({"name": "坏码", "pool": []})).await.unwrap();
    assert_eq!(r.status(), 422);
    let code = json!({
        "name": "静安店门口海报", "channel_type": "store_poster", "store_id": store_id, "kind": "multi",
        "pool": [{"staff_id": staff[0]}, {"staff_id": staff[1]}],
        "auto_tag_ids": [tag_id],
        "welcome": [{"text": "{客户昵称}您好，我是{门店}的{导购}，送您一张新客券～",
                     "attachments": [{"kind": "coupon_link", "title": "新客券", "url": "https://shop.example/coupon/new"}]}],
    });
    let r = post("/api/v1/channel-codes", code).await.unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let code: Value = r.json().await.unwrap();
    let config_id = code["config_id"].as_str().expect("a contact way").to_string();
    let code_id = code["id"].as_i64().unwrap();
    assert!(code["state"].as_str().is_some_and(|s| !s.is_empty() && s.chars().count() <= 30));

    for i in 0..SCANS {
        let r = http
            .post(format!("{}/sim/scan", sim.base_url()))
            .json(&json!({"config_id": config_id, "customer": {"name": format!("顾客{i}")}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let _ = &acq.db;

    // Every customer greeted once, by name, inside the window.
    let state = sim.state();
    let welcomes = wait_for(|| async {
        let w = state.welcome_messages();
        (w.len() >= SCANS).then_some(w)
    })
    .await;
    assert_eq!(welcomes.len(), SCANS);
    for w in &welcomes {
        let text = w.text.as_deref().unwrap_or("");
        assert!(
            text.starts_with("顾客") && text.contains("静安店的") && (text.contains("王芳") || text.contains("李娜")),
            "{text}"
        );
        assert!(w.latency_ms < 20_000, "sent in time");
        assert_eq!(w.attachments[0]["link"]["title"], "新客券", "the coupon goes as a link card");
    }
    let codes: std::collections::HashSet<_> = welcomes.iter().map(|w| w.welcome_code.clone()).collect();
    assert_eq!(codes.len(), SCANS, "each welcome code used once");
    // Every customer carries the code's auto-tag.
    let tagged = wait_for(|| async {
        let t = state.tags_marked();
        (t.len() >= SCANS).then_some(t)
    })
    .await;
    assert!(tagged.iter().all(|t| t.add_tag == [tag_id.clone()]));
    let customers_tagged: std::collections::HashSet<_> = tagged.iter().map(|t| t.external_userid.clone()).collect();
    assert_eq!(customers_tagged.len(), SCANS);

    // Customers and follows, attributed to the code and its store.
    let customers: Value =
        http.get(server.url("/api/v1/customers")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    let customers = customers.as_array().unwrap().clone();
    assert_eq!(customers.len(), SCANS);
    for c in &customers {
        let f = &c["follows"][0];
        assert_eq!(
            (f["code_id"].as_i64(), f["store_id"].as_i64(), f["returning"].as_bool()),
            (Some(code_id), Some(store_id), Some(false))
        );
        assert_eq!(c["first_code_id"].as_i64(), Some(code_id));
        assert_eq!(f["add_way"], 1, "a scanned QR, as WeCom reports it");
    }

    // The customer deletes the guide: the follow is lost, and who did it is kept.
    let lost = &customers[0];
    let external = lost["external_userid"].as_str().unwrap().to_string();
    let guide = if lost["follows"][0]["staff_id"].as_i64() == Some(staff[0]) { "wang.fang" } else { "li.na" };
    let r = http
        .post(format!("{}/sim/customer/delete_staff", sim.base_url()))
        .json(&json!({"external_userid": external, "userid": guide}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let id = lost["id"].as_i64().unwrap();
    let get = || async {
        let c: Value = http
            .get(server.url(&format!("/api/v1/customers/{id}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        c
    };
    wait_for(|| async { (get().await["follows"][0]["deleted_by"] == "customer").then_some(()) }).await;
    let lost_list: Value = http
        .get(server.url("/api/v1/customers?lost=true"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        lost_list.as_array().map(|l| l.iter().map(|c| c["id"].as_i64()).collect::<Vec<_>>()),
        Some(vec![Some(id)])
    );

    // Scanning again: the same follow comes back, as a returning customer.
    let r = http
        .post(format!("{}/sim/scan", sim.base_url()))
        .json(&json!({"config_id": config_id, "customer": {"external_userid": external}}))
        .send()
        .await
        .unwrap();
    let scan: Value = r.json().await.unwrap();
    let follows = wait_for(|| async {
        let c = get().await;
        let f = c["follows"].as_array().cloned().unwrap_or_default();
        f.iter().any(|f| f["returning"] == true && f["deleted_at"].is_null()).then_some(f)
    })
    .await;
    assert!(follows.iter().any(|f| f["staff_id"].is_i64()), "{scan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_cap_moves_customers_to_the_backup() {
    let acq = Acq::start("sqlite").await;
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "限额码", "store_id": acq.store_id, "routing": {"kind": "daily_cap"},
                   "pool": [{"staff_id": acq.staff[0], "daily_cap": 2}, {"staff_id": acq.staff[1], "backup": true}]}),
        )
        .await;
    let config_id = code["config_id"].as_str().expect("a contact way").to_string();
    let users = || {
        let ways = acq.sim.state().contact_ways();
        ways.into_iter().find(|w| w.config_id == config_id).map(|w| w.user).unwrap_or_default()
    };
    assert_eq!(users(), ["wang.fang"], "the backup waits while the primary is under the cap");
    for i in 0..2 {
        let s = acq.scan(&config_id, json!({"name": format!("甲{i}")})).await;
        assert_eq!(s["userid"], "wang.fang");
    }
    wait_for(|| async { (users() == ["li.na"]).then_some(()) }).await;
    let third = acq.scan(&config_id, json!({"name": "乙"})).await;
    assert_eq!(third["userid"], "li.na", "after two adds the way routes to the backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geo_code_sends_customers_to_the_nearest_store() {
    let acq = Acq::start("sqlite").await;
    let xjh = acq
        .post("/api/v1/stores", json!({"code": "SH-XJH", "name": "徐家汇店", "lat": 31.1951, "lng": 121.4372}))
        .await;
    let xjh = xjh["id"].as_i64().unwrap();
    let poster = |name: &str, store: i64, staff: i64| json!({"name": name, "store_id": store, "kind": "single", "pool": [{"staff_id": staff}]});
    let ja_code = acq.post("/api/v1/channel-codes", poster("静安海报", acq.store_id, acq.staff[0])).await;
    let xjh_code = acq.post("/api/v1/channel-codes", poster("徐家汇海报", xjh, acq.staff[1])).await;
    let geo = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "朋友圈广告·就近门店", "channel_type": "moments_ad", "pool": [{"staff_id": acq.staff[0]}],
                   "routing": {"kind": "nearest_store", "radius_m": 2000, "fallback_store_id": acq.store_id}}),
        )
        .await;
    let geo_id = geo["id"].as_i64().unwrap_or_else(|| panic!("{geo}"));
    // The landing page is reached by a random token, not the code's id.
    let landing = geo["landing_path"].as_str().unwrap_or_else(|| panic!("a landing page: {geo}")).to_string();
    let token = landing.strip_prefix("/h5/go/").expect("under /h5/go/").to_string();
    assert!(token.len() >= 32 && token.parse::<i64>().is_err(), "{token}");
    assert!(ja_code["landing_path"].is_null(), "a plain code has no landing page");
    let locate = |body: Value| {
        let url = acq.server.url(&format!("{landing}/locate"));
        let http = acq.http.clone();
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // Near 徐家汇: that store's code, its distance in metres.
    let (s, pick) = locate(json!({"lat": 31.1953, "lng": 121.4374})).await;
    assert_eq!((s, pick["store_id"].as_i64(), pick["fallback"].as_bool()), (200, Some(xjh), Some(false)));
    assert_eq!(pick["qr_code"], xjh_code["qr_code"]);
    assert!(pick["distance_m"].as_f64().unwrap() < 200.0);
    let metres = pick["distance"].as_str().unwrap_or_else(|| panic!("{pick}"));
    assert!(metres.ends_with(" 米") && !metres.contains('.'), "under 1 km in metres, not \"0.0 公里\": {metres}");
    // The QR it shows is an image a browser can draw.
    let image = acq.http.get(pick["qr_code"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    // Far away, or no location: the default store.
    for body in [json!({"lat": 39.90, "lng": 116.40}), json!({})] {
        let (_, pick) = locate(body).await;
        assert_eq!((pick["store_id"].as_i64(), pick["fallback"].as_bool()), (Some(acq.store_id), Some(true)));
        assert_eq!(pick["qr_code"], ja_code["qr_code"]);
    }
    let page = acq.http.get(acq.server.url(&landing)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&format!("data-locate=\"/h5/go/{token}/locate\"")));
    // Ids, sequential or made up, find no landing page: a readable 404.
    for id in [geo_id.to_string(), "999".to_string()] {
        let page = acq.http.get(acq.server.url(&format!("/h5/go/{id}"))).send().await.unwrap();
        assert_eq!(page.status(), 404, "/h5/go/{id}");
        assert!(page.text().await.unwrap().contains("这个页面不存在"));
        let r = acq.http.post(acq.server.url(&format!("/h5/go/{id}/locate"))).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let visits = acq.db.db.events(1, Some("landing.visit"), None, 100).await.unwrap();
    assert_eq!(visits.len(), 1, "one visitor's landings within the hour count once");
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let page = console
        .get(acq.server.url(&format!("/console/channel-codes/{geo_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"total-visits\">1<"), "the code's page shows its landing visits");
    assert!(page.contains("<div class=\"tile\"><b id=\"total-deletions\">0<"), "no losses: not in red");
    // The code's page shows the landing URL, and its QR, PNG and poster
    // encode that URL (printing it keeps the routing), not a WeCom code.
    let landing_url = acq.server.url(&landing);
    assert!(page.contains(&format!("id=\"landing-url\" target=\"_blank\" rel=\"noopener\">{landing_url}<")), "{page}");
    let expected = koi_web::qr::svg(&landing_url).unwrap();
    assert!(page.contains(&expected), "the page's QR is the landing page's");
    let get = |path: String| {
        let console = console.clone();
        let url = acq.server.url(&path);
        async move { console.get(url).send().await.unwrap() }
    };
    let svg = get(format!("/console/channel-codes/{geo_id}/qr.svg")).await.text().await.unwrap();
    assert_eq!(svg, expected);
    let png = get(format!("/console/channel-codes/{geo_id}/qr.png")).await.bytes().await.unwrap();
    assert_eq!(png.as_ref(), koi_web::qr::png(&landing_url, 10).unwrap().as_slice());
    let poster = get(format!("/console/channel-codes/{geo_id}/poster")).await.text().await.unwrap();
    assert!(poster.contains(&expected), "the poster prints the landing page's QR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn welcome_variants_split_customers_and_report_their_outcomes() {
    let acq = Acq::start("sqlite").await;
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "A/B 测试", "store_id": acq.store_id, "pool": [{"staff_id": acq.staff[0]}, {"staff_id": acq.staff[1]}],
                   "welcome": [{"text": "A：新客礼券", "weight": 50}, {"text": "B：到店试穿有礼", "weight": 50}]}),
        )
        .await;
    let (id, config_id) = (code["id"].as_i64().unwrap(), code["config_id"].as_str().unwrap().to_string());
    const SCANS: usize = 40;
    let mut scanned = Vec::new();
    for i in 0..SCANS {
        scanned.push(acq.scan(&config_id, json!({"name": format!("试{i}")})).await);
    }
    let state = acq.sim.state();
    let welcomes = wait_for(|| async {
        let w = state.welcome_messages();
        (w.len() >= SCANS).then_some(w)
    })
    .await;
    let a = welcomes.iter().filter(|w| w.text.as_deref().is_some_and(|t| t.starts_with('A'))).count();
    assert!(a > 5 && SCANS - a > 5, "both variants are used: {a} of {SCANS} got A");
    // One customer of variant A leaves.
    let leaver = welcomes.iter().find(|w| w.text.as_deref().is_some_and(|t| t.starts_with('A'))).unwrap();
    acq.http
        .post(format!("{}/sim/customer/delete_staff", acq.sim.base_url()))
        .json(&json!({"external_userid": leaver.external_userid, "userid": leaver.userid}))
        .send()
        .await
        .unwrap();
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let url = acq.server.url(&format!("/console/channel-codes/{id}"));
    let table = wait_for(|| async {
        let page = console.get(&url).send().await.unwrap().text().await.unwrap();
        let at = page.find("id=\"stats-variants\"")?;
        let table = page[at..].split("</table>").next()?.to_string();
        table.contains(&format!("<td>{}</td><td>1</td>", a)).then_some(table)
    })
    .await;
    assert!(table.contains(&format!("<td>{}</td><td>0</td>", SCANS - a)), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_edited_and_switched_off_in_wecom_too() {
    let acq = Acq::start("sqlite").await;
    let draft = |staff: i64| json!({"name": "包裹卡", "channel_type": "package_card", "store_id": acq.store_id, "pool": [{"staff_id": staff}]});
    let code = acq.post("/api/v1/channel-codes", draft(acq.staff[0])).await;
    let (id, config_id) = (code["id"].as_i64().unwrap(), code["config_id"].as_str().unwrap().to_string());
    let way = || acq.sim.state().contact_ways().into_iter().find(|w| w.config_id == config_id);
    assert_eq!(way().unwrap().user, ["wang.fang"]);

    let url = acq.server.url(&format!("/api/v1/channel-codes/{id}"));
    let r = acq.http.put(&url).bearer_auth(&acq.key).json(&draft(acq.staff[1])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(way().unwrap().user, ["li.na"], "the contact way follows the edit");
    assert_eq!(acq.scan(&config_id, json!({"name": "丙"})).await["userid"], "li.na");

    // The console editor shows the code as saved and saves an edit.
    let console = login(&acq.server, &acq.owner, PASSWORD).await;
    let edit = acq.server.url(&format!("/console/channel-codes/{id}/edit"));
    let form = console.get(&edit).send().await.unwrap().text().await.unwrap();
    assert!(
        form.contains("value=\"包裹卡\"")
            && form.contains(&format!("name=\"pool\" value=\"{}\" checked", acq.staff[1]))
    );
    let token = csrf(&console, &acq.server, &format!("/console/channel-codes/{id}/edit")).await;
    let (store, first) = (acq.store_id.to_string(), acq.staff[0].to_string());
    let fields = [
        ("_csrf", token.as_str()),
        ("name", "包裹卡二期"),
        ("channel_type", "package_card"),
        ("store_id", &store),
        ("pool", &first),
        ("skip_verify", "on"),
    ];
    let r = console.post(&edit).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(way().unwrap().user, ["wang.fang"]);
    let page = console
        .get(acq.server.url(&format!("/console/channel-codes/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("包裹卡二期"));

    let r = acq.http.delete(&url).bearer_auth(&acq.key).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(way().is_none(), "the contact way is deleted in WeCom");
    let code: Value = acq.http.get(&url).bearer_auth(&acq.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(code["active"], false);
    let r = acq.http.put(&url).bearer_auth(&acq.key).json(&draft(acq.staff[0])).send().await.unwrap();
    assert_eq!(r.status(), 422, "a switched-off code is not edited");
}
