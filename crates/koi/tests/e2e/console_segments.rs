//! Customers, tags and segments in the console, in a real browser against
//! `koi serve` and the simulator as WeCom: an operator makes tags (they
//! appear in WeCom), tags a customer on the profile and a list in bulk,
//! writes a tag rule, defines a custom field and fills it in, and builds a
//! segment whose live count is the exact one the API gives — with the
//! offending part of a broken expression marked — then saves and exports it.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use crate::support::*;
use crate::webdriver::Browser;
use serde_json::{json, Value};

/// Waits until the text of `css` is exactly `want`.
async fn wait_exact(b: &Browser, css: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..50 {
        last = b.text(css).await;
        if last == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never read {want:?}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_tags_customers_and_builds_a_segment() {
    let Acq { db: _db, sim, server, key, store_id, staff, http, owner } = Acq::start("sqlite").await;
    let api = |path: &str| server.url(&format!("/api/v1{path}"));

    // Three customers scan a store poster code.
    let code = json!({"name": "静安店海报", "channel_type": "store_poster", "store_id": store_id,
                      "pool": [{"staff_id": staff[0]}, {"staff_id": staff[1]}]});
    let r = http.post(api("/channel-codes")).bearer_auth(&key).json(&code).send().await.expect("code");
    assert_eq!(r.status(), 201);
    let code: Value = r.json().await.expect("code json");
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
        let v: Value = http.get(api("/customers")).bearer_auth(&key).send().await.ok()?.json().await.ok()?;
        let list = v.as_array()?.clone();
        (list.len() == 3).then_some(list)
    })
    .await;
    // Found by name through the API, with the total in a header; a stage
    // koi does not know is refused, not ignored.
    let r = http.get(api("/customers?q=顾客乙")).bearer_auth(&key).send().await.expect("search");
    assert_eq!(r.headers()["x-total-count"], "1");
    let found: Value = r.json().await.expect("json");
    assert_eq!(
        found.as_array().map(|l| l.iter().map(|c| c["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("顾客乙")])
    );
    let r = http.get(api("/customers?stage=bogus")).bearer_auth(&key).send().await.expect("bad stage");
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.expect("json")["error"]["code"], "invalid_input");
    let r = http.get(api("/customers?stage=new&limit=1")).bearer_auth(&key).send().await.expect("stage");
    assert_eq!(r.headers()["x-total-count"], "3", "all three are new; one per page");
    let doc: Value =
        http.get(server.url("/api/v1/openapi.json")).send().await.expect("doc").json().await.expect("json");
    let params = doc["paths"]["/customers"]["get"]["parameters"].to_string();
    assert!(["\"q\"", "\"tag_id\"", "\"stage\""].iter().all(|p| params.contains(p)), "{params}");
    let by_name = |n: &str| customers.iter().find(|c| c["name"] == n).expect("arrived").clone();
    let (jia, yi) = (by_name("顾客甲"), by_name("顾客乙"));
    let jia_id = jia["id"].as_i64().expect("id");
    let count_by_api = |expr: &'static str| {
        let (http, key, url) = (http.clone(), key.clone(), api("/segments/evaluate"));
        async move {
            let r = http.post(url).bearer_auth(key).json(&json!({ "expr": expr })).send().await.expect("evaluate");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")["count"].as_u64().expect("count")
        }
    };

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let b = Browser::start().await;
    b.goto(&server.url("/console/login")).await;
    b.type_into("#username", &owner).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    let nav = b.wait_text("nav", "标签").await;
    assert!(nav.contains("人群") && nav.contains("字段与分层"), "{nav}");

    // Tags made in the console are made in WeCom.
    b.click("nav a[href='/console/tags']").await;
    b.wait_text("#tag-groups", "还没有标签").await;
    b.click("#new-tags-card summary").await;
    b.type_into("#new-tags input[name=group_name]", "会员等级").await;
    b.type_into("#new-tags textarea[name=names]", "VIP\n老客").await;
    b.click("#new-tags button[type=submit]").await;
    b.wait_url("ok=created").await;
    b.wait_text("#tag-groups", "老客").await;
    let in_wecom: Vec<(String, String, String)> = sim
        .state()
        .inspect(Some(CORP), |w| {
            w.tag_groups
                .iter()
                .flat_map(|g| g.tags.iter().map(|t| (g.group_name.clone(), t.name.clone(), t.id.clone())))
                .collect()
        })
        .expect("the corp");
    let tag_id = |name: &str| {
        in_wecom.iter().find(|(g, n, _)| g == "会员等级" && n == name).map(|t| t.2.clone()).unwrap_or_else(|| {
            panic!("{name} is not in WeCom's tag list: {in_wecom:?}");
        })
    };
    let (vip, regular) = (tag_id("VIP"), tag_id("老客"));

    // A tag rule: the first order makes a customer a regular.
    b.click("#new-rule-card summary").await;
    b.type_into("#new-rule input[name=name]", "首单即老客").await;
    b.click("#new-rule select[name=trigger] option[value=first_order]").await;
    b.click(&format!("#new-rule input[name=add_tags][value='{regular}']")).await;
    b.click("#new-rule button[type=submit]").await;
    b.wait_url("ok=saved").await;
    let rules = b.wait_text("#tag-rules", "首单即老客").await;
    assert!(rules.contains("首次下单") && rules.contains("老客"), "{rules}");

    // Bulk tagging a pasted list: two known customers, one unknown id.
    b.click("#bulk-card summary").await;
    let list =
        format!("{}\n{}\nwmNOBODY", jia["external_userid"].as_str().unwrap(), yi["external_userid"].as_str().unwrap());
    b.type_into("#bulk-tag textarea[name=ids]", &list).await;
    b.click(&format!("#bulk-tag input[name=add][value='{regular}']")).await;
    b.click("#bulk-tag button[type=submit]").await;
    wait_exact(&b, "#bulk-matched", "2").await;
    assert_eq!(b.text("#bulk-changed").await, "2");
    assert_eq!(b.text("#bulk-unknown-ids").await, "wmNOBODY");
    assert_eq!(b.text(&format!("tr[data-tag='{regular}'] .tag-customers")).await, "2");
    b.screenshot(&shots.join("tags.png")).await;

    // A custom field, then the profile: tag by hand, fill the field in.
    b.goto(&server.url("/console/fields")).await;
    b.click("#new-field-card summary").await;
    b.type_into("#new-field input[name=name]", "shoe_size").await;
    b.type_into("#new-field input[name=label]", "鞋码").await;
    b.click("#new-field select[name=kind] option[value=number]").await;
    b.type_into("#new-field input[name='kind.min']", "30").await;
    b.type_into("#new-field input[name='kind.max']", "50").await;
    b.click("#new-field button[type=submit]").await;
    b.wait_url("ok=created").await;
    assert!(b.wait_text("#field-defs", "shoe_size").await.contains("鞋码"));
    assert!(b.text("#stage-rules").await.contains("添加不满 7 天"));

    b.goto(&server.url(&format!("/console/customers/{jia_id}"))).await;
    assert_eq!(b.text("#stage").await, "引流");
    assert!(b.text("#customer-tags").await.contains("老客"));
    b.click("#add-tags-card summary").await;
    b.click(&format!("#add-tags input[value='{vip}']")).await;
    b.click("#add-tags button[type=submit]").await;
    b.wait_url("ok=tagged").await;
    let chips = b.wait_text("#customer-tags", "VIP").await;
    assert!(chips.contains("手动"), "the chip says who put it there: {chips}");
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("打上标签: VIP") && timeline.contains("批量打标签"), "{timeline}");
    assert!(!timeline.contains("user:"), "people are named, not numbered: {timeline}");
    b.type_into("#customer-fields input[name='f.shoe_size']", "60").await;
    b.click("#customer-fields button[type=submit]").await;
    let err = b.wait_text(".field-err[data-field=shoe_size]", "60").await;
    assert!(err.contains("30..=50"), "{err}");
    b.type_into("#customer-fields input[name='f.shoe_size']", "38").await;
    b.click("#customer-fields button[type=submit]").await;
    b.wait_url("ok=saved").await;
    assert!(b.wait_text("#timeline", "更新资料").await.contains("鞋码 = 38"), "fields by their label");
    b.screenshot(&shots.join("customer-profile.png")).await;
    // The hand tagging reaches WeCom.
    let jia_ext = jia["external_userid"].as_str().expect("external userid").to_string();
    wait_for(|| async {
        sim.state().tags_marked().iter().any(|m| m.external_userid == jia_ext && m.add_tag.contains(&vip)).then_some(())
    })
    .await;

    // The builder: the count follows the expression and equals the API's.
    b.goto(&server.url("/console/segments/new")).await;
    for expr in ["tag:VIP", "tag:老客 AND NOT tag:VIP", "tag:VIP OR stage:new", "field:shoe_size>37"] {
        b.type_into("#expr", expr).await;
        let want = count_by_api(expr).await;
        wait_exact(&b, "#segment-count", &want.to_string()).await;
    }
    b.type_into("#expr", "tag:VIP").await;
    wait_exact(&b, "#segment-count", "1").await;
    assert_eq!(b.text("#segment-sample").await.trim(), "顾客甲 引流");
    assert!(b.exists(&format!("#segment-sample a[href='/console/customers/{jia_id}']")).await);

    // A typo is marked where it is.
    b.type_into("#expr", "tag:VIP AND sotre:1").await;
    let message = b.wait_text("#expr-error", "sotre").await;
    assert!(message.contains("不认识的条件或字段"), "in the page's language: {message}");
    wait_exact(&b, "#expr-mark", "sotre").await;
    assert_eq!(b.text("#expr-mirror").await, "tag:VIP AND sotre:1");
    assert!(b.exists("#expr[aria-invalid=true]").await);
    assert_eq!(b.text("#segment-count").await, "—");
    b.screenshot(&shots.join("segment-error.png")).await;
    // Also past Chinese text, where bytes and characters differ.
    b.type_into("#expr", "tag:老客 且 tag:不存在").await;
    wait_exact(&b, "#expr-mark", "不存在").await;

    // Fixed and saved: it is in the list with its exact count.
    b.type_into("#expr", "tag:VIP OR tag:老客").await;
    wait_exact(&b, "#segment-count", "2").await;
    assert!(!b.exists("#expr[aria-invalid=true]").await);
    b.type_into("#segment-form input[name=name]", "会员与老客").await;
    b.click("#save-segment").await;
    b.wait_url("ok=saved").await;
    let url = b.url().await;
    let segment_id: i64 = url
        .split("/console/segments/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a segment page: {url}"));
    wait_exact(&b, "#segment-count", "2").await;
    b.goto(&server.url("/console/segments")).await;
    assert!(b.text("#segments").await.contains("会员与老客"));
    assert_eq!(b.text(&format!("#segments tr[data-id='{segment_id}'] .segment-count")).await, "2");

    // At phone size the new pages fit; wide tables scroll inside.
    b.resize(390, 844).await;
    for path in [
        "/console/tags".to_string(),
        "/console/segments".into(),
        format!("/console/segments/{segment_id}"),
        format!("/console/customers/{jia_id}"),
        "/console/fields".into(),
    ] {
        b.goto(&server.url(&path)).await;
        assert!(b.overflow_x().await <= 0, "{path} is wider than a phone: {}", b.too_wide().await);
    }
    b.screenshot(&shots.join("segment-phone.png")).await;
    drop(b);

    // The exports, as the browser's session and an integration fetch them.
    let c = login(&server, &owner, PASSWORD).await;
    let r = c.get(server.url(&format!("/console/segments/{segment_id}/export.csv"))).send().await.expect("export");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/csv"));
    let csv = r.text().await.expect("csv");
    assert_eq!(csv.lines().count(), 3, "a header and two members: {csv}");
    assert!(csv.contains("顾客甲") && csv.contains("顾客乙") && csv.contains(&jia_ext), "{csv}");
    let r = c.get(server.url("/console/segments/export.csv?expr=stage%3Anew")).send().await.expect("export");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("csv").lines().count(), 4, "all three are new");
    let r = http.get(api(&format!("/segments/{segment_id}/export"))).bearer_auth(&key).send().await.expect("api");
    assert_eq!(r.text().await.expect("csv"), csv, "the API exports the same");
}
