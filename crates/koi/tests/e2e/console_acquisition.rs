//! Acquisition in the console, in a real browser against `koi serve` and the
//! simulator as WeCom: an operator makes a channel code through the form,
//! customers scan it, and the operator sees them in the customer list and
//! detail, and in the code's stats; the QR downloads are real SVG and PNG.

use crate::api::wait_for;
use crate::support::*;
use crate::webdriver::Browser;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_makes_a_code_and_watches_customers_arrive() {
    // koi, the simulator as its WeCom, one store and two guides, as in acquisition.rs.
    let crate::acquisition::Acq { db: _db, sim, server, key, store_id, staff, http, owner } =
        crate::acquisition::Acq::start("sqlite").await;
    let b = Browser::start().await;
    b.goto(&server.url("/console/login")).await;
    b.type_into("#username", &owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_text("nav", "渠道活码").await;
    b.click("nav a[href='/console/channel-codes']").await;
    b.wait_text("#channel-codes", "还没有渠道活码").await;

    // A code without staff is refused next to the form, keeping what was typed.
    b.click("details summary").await;
    b.type_into("#new-code input[name=name]", "静安店门口海报").await;
    b.click("#new-code button[type=submit]").await;
    b.wait_text("#form-errors", "pool").await;

    // The name typed stays (it is not typed again); now the real thing: poster code, the store, both guides, a welcome.
    b.click("#new-code select[name=channel_type] option[value=store_poster]").await;
    b.click(&format!("#new-code select[name=store_id] option[value='{store_id}']")).await;
    for id in &staff {
        b.click(&format!("#new-code input[name=pool][value='{id}']")).await;
    }
    b.type_into("#new-code textarea[name=welcome_a]", "{客户昵称}您好，我是{门店}的{导购}").await;
    b.click("#new-code button[type=submit]").await;
    b.wait_url("ok=created").await;
    let url = b.url().await;
    let code_id: i64 = url
        .split("/console/channel-codes/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a code page: {url}"));
    assert!(b.exists("#qr svg").await, "the QR is on the page");
    assert!(b.text(".facts").await.contains("王芳"));
    assert_eq!(b.text("#total-adds").await, "0");

    // Three customers scan; the first deletes her guide afterwards.
    let code: Value = http
        .get(server.url(&format!("/api/v1/channel-codes/{code_id}")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("code")
        .json()
        .await
        .expect("code json");
    let config_id = code["config_id"].as_str().expect("a contact way").to_string();
    for name in ["顾客甲", "顾客乙", "顾客丙"] {
        let r = http
            .post(format!("{}/sim/scan", sim.base_url()))
            .json(&json!({"config_id": config_id, "customer": {"name": name}}))
            .send()
            .await
            .expect("scan");
        assert!(r.status().is_success());
    }
    let customers = wait_for(|| async {
        let v: Value =
            http.get(server.url("/api/v1/customers")).bearer_auth(&key).send().await.ok()?.json().await.ok()?;
        let list = v.as_array()?.clone();
        (list.len() == 3).then_some(list)
    })
    .await;
    let lost = customers.iter().find(|c| c["name"] == "顾客甲").expect("顾客甲 arrived");
    let lost_id = lost["id"].as_i64().expect("id");
    let guide = if lost["follows"][0]["staff_id"].as_i64() == Some(staff[0]) { "wang.fang" } else { "li.na" };
    let r = http
        .post(format!("{}/sim/customer/delete_staff", sim.base_url()))
        .json(&json!({"external_userid": lost["external_userid"], "userid": guide}))
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success());
    wait_for(|| async {
        let c: Value = http
            .get(server.url(&format!("/api/v1/customers/{lost_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (c["follows"][0]["deleted_by"] == "customer").then_some(())
    })
    .await;

    // The customer list, its lost filter, and the lost customer's story.
    b.goto(&server.url("/console/customers")).await;
    let list = b.text("#customers tbody").await;
    for name in ["顾客甲", "顾客乙", "顾客丙"] {
        assert!(list.contains(name), "{name} in {list}");
    }
    assert!(list.contains("静安店门口海报") && list.contains("静安店"));
    b.click("#customer-filters input[name=lost]").await;
    b.click("#customer-filters button[type=submit]").await;
    b.wait_url("lost=1").await;
    let lost_rows = b.text("#customers tbody").await;
    assert!(lost_rows.contains("顾客甲") && !lost_rows.contains("顾客乙"), "{lost_rows}");
    b.goto(&server.url(&format!("/console/customers?code={code_id}&kind=new"))).await;
    assert_eq!(b.text("#customers tbody").await.matches("顾客").count(), 3);
    b.goto(&server.url(&format!("/console/customers/{lost_id}"))).await;
    assert!(b.text("#follows").await.contains("已流失"));
    assert_eq!(b.text("#follows .deleted-by").await, "客户", "the customer deleted the guide");
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("添加好友") && timeline.contains("删除好友"), "{timeline}");
    assert!(!timeline.contains("customer."), "no raw event codes: {timeline}");

    // The code's numbers: three new, one lost, two net, on today's bar.
    b.goto(&server.url(&format!("/console/channel-codes/{code_id}"))).await;
    assert_eq!(b.text("#total-adds").await, "3");
    assert_eq!(b.text("#total-new").await, "3");
    assert_eq!(b.text("#total-returning").await, "0");
    assert_eq!(b.text("#total-deletions").await, "1");
    assert_eq!(b.text("#total-net").await, "2");
    assert!(b.exists("#stats svg g[data-adds='3'][data-deletions='1']").await, "today's bar");
    let today = b.text("#stats-days tbody tr").await;
    assert!(today.ends_with("3 3 0 1 2"), "day, adds, new, returning, deletions, net: {today}");
    assert!(b.text("#stats-stores").await.contains("静安店"));
    let by_staff = b.text("#stats-staff tbody").await;
    assert!(by_staff.contains("王芳") || by_staff.contains("李娜"));
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    b.screenshot(&shots.join("channel-code.png")).await;
    b.goto(&server.url("/console/channel-codes")).await;
    assert_eq!(b.text("#channel-codes td.adds").await, "3");
    assert_eq!(b.text("#channel-codes td.net").await, "2");

    // At phone size the pages fit; wide tables scroll inside.
    b.resize(390, 844).await;
    for path in
        [format!("/console/channel-codes/{code_id}"), "/console/customers".into(), "/console/channel-codes".into()]
    {
        b.goto(&server.url(&path)).await;
        assert!(b.overflow_x().await <= 0, "{path} is wider than a phone");
    }
    b.screenshot(&shots.join("channel-codes-phone.png")).await;
    b.goto(&server.url(&format!("/console/channel-codes/{code_id}/poster"))).await;
    assert!(b.text("#poster").await.contains("静安店"));
    assert!(b.overflow_x().await <= 0, "the poster is wider than a phone");
    b.screenshot(&shots.join("poster-phone.png")).await;
    drop(b);

    // Downloads, as the browser's session would fetch them.
    let c = login(&server, &owner, PASSWORD).await;
    let get = |path: String| c.get(server.url(&path)).send();
    let svg = get(format!("/console/channel-codes/{code_id}/qr.svg")).await.expect("svg");
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.expect("svg body");
    assert!(svg.starts_with("<svg") && svg.contains("<path class=\"qr\" fill=\"#000\" d=\"M"), "{svg:.200}");
    let png = get(format!("/console/channel-codes/{code_id}/qr.png")).await.expect("png");
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.expect("png body");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // Switching the code off deletes its contact way in WeCom.
    let token = csrf(&c, &server, &format!("/console/channel-codes/{code_id}")).await;
    let r = c
        .post(server.url(&format!("/console/channel-codes/{code_id}/deactivate")))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let page = get(format!("/console/channel-codes/{code_id}")).await.expect("page").text().await.expect("body");
    assert!(page.contains("id=\"code-inactive\""), "the code shows as switched off");
    assert!(sim.state().contact_ways().is_empty(), "its contact way is gone from WeCom");

    // WeCom gone: the form answers with an error page saying so, and no code is left half-made.
    sim.shutdown().await;
    let token = csrf(&c, &server, "/console/channel-codes").await;
    let (store, first) = (store_id.to_string(), staff[0].to_string());
    let form = [("_csrf", token.as_str()), ("name", "断网码"), ("store_id", &store), ("pool", &first)];
    let r = c.post(server.url("/console/channel-codes")).form(&form).send().await.expect("post");
    assert_eq!(r.status(), 503);
    assert!(r.text().await.expect("body").contains("data-code=\"unavailable\""));
    let list = c.get(server.url("/console/channel-codes")).send().await.expect("list").text().await.expect("body");
    assert!(!list.contains("断网码"));
}
