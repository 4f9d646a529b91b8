//! Customers, tags, lifecycle and segments end to end, with the simulator as
//! WeCom: tags made in koi appear in WeCom and tags made in WeCom appear in
//! koi; rules tag on adds and first orders; behaviour moves stages and RFM;
//! segments count exactly what the data says, point at a bad part of an
//! expression, save, export and drive bulk tagging.

use crate::acquisition::{Acq, CORP};
use crate::api::wait_for;
use koi_wecom::client::{
    AddCorpTagRequest, ClientConfig, CorpClient, GetCorpTagListRequest, MarkTagRequest, NewTag, Priority, WecomClient,
};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_rules_and_segments_sqlite() {
    tags_rules_and_segments("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_rules_and_segments_postgres() {
    tags_rules_and_segments("postgres").await;
}

/// WeCom itself, as an admin or a guide would use it.
fn wecom(acq: &Acq) -> CorpClient {
    WecomClient::new(ClientConfig { base_url: acq.sim.base_url(), ..Default::default() })
        .unwrap()
        .corp(CORP, "app-secret-value-123")
}

/// The tag names WeCom has now.
async fn wecom_tag_names(acq: &Acq) -> Vec<String> {
    let list = wecom(acq).get_corp_tag_list(&GetCorpTagListRequest::default(), Priority::Interactive).await.unwrap();
    list.tag_group.iter().flat_map(|g| g.tag.iter().map(|t| t.name.clone())).collect()
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

fn tag_id(groups: &Value, name: &str) -> String {
    groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["tags"].as_array().unwrap().iter())
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tag {name} in {groups}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn count(acq: &Acq, expr: &str) -> u64 {
    let (status, v) = call(acq, reqwest::Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": expr}))).await;
    assert_eq!(status, 200, "{expr}: {v}");
    v["count"].as_u64().unwrap()
}

fn profile_tags(p: &Value) -> Vec<(String, String)> {
    p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["source"].as_str().unwrap().to_string()))
        .collect()
}

async fn tags_rules_and_segments(backend: &str) {
    use reqwest::Method;
    let acq = Acq::start(backend).await;

    // Tags made in koi are made in WeCom first.
    let (status, group) =
        call(&acq, Method::POST, "/api/v1/tags", Some(json!({"group_name": "会员", "names": ["VIP", "新客"]}))).await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["tags"].as_array().unwrap().len(), 2);
    let names = wecom_tag_names(&acq).await;
    assert!(names.contains(&"VIP".to_string()) && names.contains(&"新客".to_string()), "{names:?}");
    // Over WeCom's 30 characters, or a name WeCom already has: refused, nothing kept.
    let long = "长".repeat(31);
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/tags", Some(json!({"group_name": "会员", "names": [long]}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let group_id = group["id"].as_str().unwrap();
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/tags", Some(json!({"group_id": group_id, "names": ["VIP"]}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (502, Some("wecom_refused")), "{v}");

    // An admin adds a tag in WeCom's console: the callback makes koi sync.
    let made = wecom(&acq)
        .add_corp_tag(
            &AddCorpTagRequest {
                group_name: Some("兴趣".into()),
                tag: vec![NewTag { name: "跑步".into(), order: None }],
                ..Default::default()
            },
            Priority::Interactive,
        )
        .await
        .unwrap();
    let run_id = made.tag_group.tag[0].id.clone();
    let r = acq
        .http
        .post(format!("{}/sim/tag/event", acq.sim.base_url()))
        .json(&json!({"change": "create", "id": run_id, "tag_type": "tag"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let tags = wait_for(|| async {
        let t = get(&acq, "/api/v1/tags").await;
        t.to_string().contains("跑步").then_some(t)
    })
    .await;
    let (vip, newbie, run) = (tag_id(&tags, "VIP"), tag_id(&tags, "新客"), run_id.clone());
    assert_eq!(tag_id(&tags, "跑步"), run);

    // Rules: tag 新客 on an add through the code, VIP on a first order.
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "门店海报", "store_id": acq.store_id, "kind": "multi", "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    let (code_id, config_id) = (code["id"].as_i64().unwrap(), code["config_id"].as_str().unwrap().to_string());
    let rule =
        json!({"name": "海报新客", "trigger": {"on": "added_via_code", "code_id": code_id}, "add_tags": [newbie]});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(rule)).await;
    assert_eq!(status, 201, "{v}");
    let rule_id = v["id"].as_i64().unwrap();
    let rule = json!({"name": "首单VIP", "trigger": {"on": "first_order"}, "add_tags": [vip], "remove_tags": [newbie]});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(rule)).await;
    assert_eq!(status, 201, "{v}");
    let vip_rule = v["id"].as_i64().unwrap();
    let bad = json!({"name": "坏", "trigger": {"on": "first_order"}, "add_tags": ["etNOPE"]});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(bad)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");

    for name in ["甲", "乙", "丙"] {
        acq.scan(&config_id, json!({ "name": name })).await;
    }
    let customers = wait_for(|| async {
        let c = get(&acq, "/api/v1/customers").await;
        (c.as_array().unwrap().len() == 3).then_some(c)
    })
    .await;
    let id_of =
        |name: &str| customers.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["id"].as_i64().unwrap();
    let external_of = |name: &str| {
        customers.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["external_userid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b, c) = (id_of("甲"), id_of("乙"), id_of("丙"));
    for id in [a, b, c] {
        let p = get(&acq, &format!("/api/v1/customers/{id}/profile")).await;
        assert_eq!(profile_tags(&p), [("新客".to_string(), format!("rule:{rule_id}"))]);
        assert_eq!((p["stage"].as_str(), p["stage_zh"].as_str()), (Some("new"), Some("引流")));
    }
    // …and pushed to WeCom with mark_tag.
    let state = acq.sim.state();
    wait_for(|| async {
        (state.tags_marked().iter().filter(|t| t.add_tag == [newbie.clone()]).count() == 3).then_some(())
    })
    .await;

    // A first order: stage, RFM, the first-order rule; the same ref twice counts once.
    let order = json!({"kind": "order_placed", "amount_fen": 59_900, "ref": "SO-1"});
    let (status, v) = call(&acq, Method::POST, &format!("/api/v1/customers/{a}/events"), Some(order.clone())).await;
    assert_eq!((status, v["recorded"].as_bool(), v["stage"].as_str()), (200, Some(true), Some("converted")), "{v}");
    let (_, v) = call(&acq, Method::POST, &format!("/api/v1/customers/{a}/events"), Some(order)).await;
    assert_eq!(v["recorded"], false);
    let (status, v) = call(
        &acq,
        Method::POST,
        &format!("/api/v1/customers/{a}/events"),
        Some(json!({"kind": "order_placed", "amount_fen": -5})),
    )
    .await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let p = get(&acq, &format!("/api/v1/customers/{a}/profile")).await;
    assert_eq!((p["orders"].as_i64(), p["spent_fen"].as_i64()), (Some(1), Some(59_900)));
    assert_eq!(p["rfm"], json!([5, 1, 2]), "ordered today, once, ¥599");
    assert_eq!(profile_tags(&p), [("VIP".to_string(), format!("rule:{vip_rule}"))]);
    let kinds: Vec<&str> = p["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["customer.order_placed", "customer.stage_changed", "customer.tagged", "customer.untagged"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }

    // By hand: the event names who did it.
    let (status, v) =
        call(&acq, Method::POST, &format!("/api/v1/customers/{b}/tags"), Some(json!({"add": [run.clone()]}))).await;
    assert_eq!((status, v["added"].clone()), (200, json!([run.clone()])), "{v}");
    let p = get(&acq, &format!("/api/v1/customers/{b}/profile")).await;
    let tagged = p["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "customer.tagged").unwrap();
    assert_eq!(tagged["payload"]["cause"]["by"], "hand");
    let (status, _) =
        call(&acq, Method::POST, &format!("/api/v1/customers/{b}/tags"), Some(json!({"add": ["etNOPE"]}))).await;
    assert_eq!(status, 422);

    // A guide tags 丙 VIP in WeCom: the edit callback makes koi pull it.
    let mark = MarkTagRequest {
        userid: "wang.fang".into(),
        external_userid: external_of("丙"),
        add_tag: Some(vec![vip.clone()]),
        remove_tag: None,
    };
    wecom(&acq).mark_tag(&mark, Priority::Interactive).await.unwrap();
    let r = acq
        .http
        .post(format!("{}/sim/staff/edit_customer", acq.sim.base_url()))
        .json(&json!({"userid": "wang.fang", "external_userid": external_of("丙")}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for(|| async {
        let p = get(&acq, &format!("/api/v1/customers/{c}/profile")).await;
        profile_tags(&p).contains(&("VIP".to_string(), "wecom".to_string())).then_some(())
    })
    .await;

    // Segments count exactly, by id or by name, and are visible at once.
    assert_eq!(count(&acq, &format!("tag:{vip}")).await, 2);
    assert_eq!(count(&acq, "tag:VIP AND NOT orders>=1").await, 1);
    assert_eq!(count(&acq, &format!("code:{code_id} AND (tag:跑步 OR stage:converted)")).await, 2);
    assert_eq!(count(&acq, "stage:养鱼").await, 1);
    // A bad part is pointed at.
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "tag:VIP AND sotre:1"}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_expression")), "{v}");
    assert_eq!(v["error"]["expression"]["offset"], 12, "{v}");
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "stage:new AND tag:没有"}))).await;
    assert_eq!(status, 422);
    assert_eq!(v["error"]["expression"]["reason"], "unknown_tag", "{v}");
    assert_eq!(v["error"]["expression"]["token"], "没有", "{v}");
    let (status, _) = call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": {"or": []}}))).await;
    assert_eq!(status, 422, "an empty group is refused");

    // Custom fields, validated, then segmentable.
    let def = json!({"name": "shoe_size", "label": "鞋码", "kind": {"number": {"min": 30, "max": 50}}});
    assert_eq!(call(&acq, Method::POST, "/api/v1/fields", Some(def.clone())).await.0, 201);
    assert_eq!(call(&acq, Method::POST, "/api/v1/fields", Some(def)).await.0, 409);
    let fields_of = |id: i64| format!("/api/v1/customers/{id}/fields");
    let (status, v) = call(&acq, Method::PUT, &fields_of(a), Some(json!({"fields": {"shoe_size": "55"}}))).await;
    assert_eq!((status, v["error"]["fields"][0]["code"].as_str()), (422, Some("out_of_range")), "{v}");
    assert_eq!(
        call(&acq, Method::PUT, &fields_of(a), Some(json!({"fields": {"shoe_size": "38"}, "home": [31.23, 121.45]})))
            .await
            .0,
        204
    );
    assert_eq!(call(&acq, Method::PUT, &fields_of(b), Some(json!({"fields": {"shoe_size": "41"}}))).await.0, 204);
    assert_eq!(count(&acq, "field:shoe_size<40").await, 1);
    assert_eq!(count(&acq, "field:shoe_size>=38").await, 2, "at least, not more than the text \"=38\"");
    assert_eq!(count(&acq, "field:shoe_size<=38").await, 1);
    assert_eq!(count(&acq, "field:shoe_size!=38").await, 1);
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "field:shoe_size<abc"}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_expression")), "{v}");
    assert_eq!(
        (v["error"]["expression"]["reason"].as_str(), v["error"]["expression"]["offset"].as_u64()),
        (Some("bad_number"), Some(16)),
        "{v}"
    );
    let ge = json!({"expr": {"field": {"name": "shoe_size", "op": "ge", "value": "38"}}});
    let (status, v) = call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(ge)).await;
    assert_eq!((status, v["count"].as_u64(), v["expr"].as_str()), (200, Some(2), Some("field:shoe_size>=38")), "{v}");
    assert_eq!(count(&acq, &format!("within:{}:3km", acq.store_id)).await, 1);

    // Saved, counted, exported.
    let (status, seg) =
        call(&acq, Method::POST, "/api/v1/segments", Some(json!({"name": "VIP 会员", "expr": "tag:VIP"}))).await;
    assert_eq!(status, 201, "{seg}");
    assert_eq!((seg["count"].as_u64(), seg["expr"].as_str()), (Some(2), Some(format!("tag:{vip}").as_str())));
    let r = acq
        .http
        .get(acq.server.url(&format!("/api/v1/segments/{}/export", seg["id"])))
        .bearer_auth(&acq.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("id,external_userid,name,stage"));
    assert!(csv.contains("甲") && csv.contains("丙") && !csv.contains("乙"));

    // Bulk: everyone still new gets 跑步 (乙 had it already).
    let bulk = json!({"target": {"segment": "stage:new"}, "add": [run.clone()]});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tags/bulk", Some(bulk)).await;
    assert_eq!((status, v["matched"].as_u64(), v["changed"].as_u64()), (200, Some(2), Some(1)), "{v}");
    let bulk = json!({"target": {"customers": [external_of("甲"), "wmNOBODY"]}, "add": [run.clone()]});
    let (_, v) = call(&acq, Method::POST, "/api/v1/tags/bulk", Some(bulk)).await;
    assert_eq!((v["matched"].as_u64(), v["unknown"].clone()), (Some(1), json!(["wmNOBODY"])), "{v}");
    assert_eq!(count(&acq, &format!("tag:{run}")).await, 3);

    // Deleting a tag deletes it in WeCom and from every customer.
    let (status, _) = call(&acq, Method::DELETE, &format!("/api/v1/tags/{run}"), None).await;
    assert_eq!(status, 204);
    assert!(!wecom_tag_names(&acq).await.contains(&"跑步".to_string()));
    let (status, v) = call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "tag:跑步"}))).await;
    assert_eq!((status, v["error"]["expression"]["reason"].as_str()), (422, Some("unknown_tag")));
    let p = get(&acq, &format!("/api/v1/customers/{b}/profile")).await;
    assert!(p["timeline"].to_string().contains("tag_deleted"));

    // An admin deletes VIP in WeCom's console: the callback makes koi drop it everywhere.
    let del = koi_wecom::client::DelCorpTagRequest { tag_id: Some(vec![vip.clone()]), ..Default::default() };
    wecom(&acq).del_corp_tag(&del, Priority::Interactive).await.unwrap();
    let r = acq
        .http
        .post(format!("{}/sim/tag/event", acq.sim.base_url()))
        .json(&json!({"change": "delete", "id": vip, "tag_type": "tag"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for(|| async { (!get(&acq, "/api/v1/tags").await.to_string().contains(&vip)).then_some(()) }).await;
    let p = get(&acq, &format!("/api/v1/customers/{c}/profile")).await;
    assert!(profile_tags(&p).iter().all(|(name, _)| name != "VIP"), "{p}");
    assert!(p["timeline"].to_string().contains(&vip), "the untagging is on the timeline");
    let seg = get(&acq, &format!("/api/v1/segments/{}", seg["id"])).await;
    assert_eq!(seg["count"], 0, "a saved segment on a deleted tag counts no one");

    // Value rules: checked, then applied to everyone.
    let (status, _) = call(&acq, Method::PUT, "/api/v1/value-rules", Some(json!({"stages": {"new_days": 0}}))).await;
    assert_eq!(status, 422);
    let rules = json!({"stages": {"super_orders": 2, "super_influence": 1}, "influence": {"friend": 5, "group": 1, "share": 2}});
    assert_eq!(call(&acq, Method::PUT, "/api/v1/value-rules", Some(rules)).await.0, 202);
    let friend = json!({"kind": "friend_brought", "ref": "inv-1"});
    let (_, v) = call(&acq, Method::POST, &format!("/api/v1/customers/{a}/events"), Some(friend)).await;
    assert_eq!(v["stage"], "super", "{v}");
    assert_eq!(count(&acq, "stage:super AND influence>=5").await, 1);

    // A customer WeCom no longer knows (imported, long gone): the tag is kept
    // in koi, and its push to WeCom ends refused — on the jobs list and the
    // customer's timeline, with WeCom's reason — instead of a silent "done".
    // The scenario's only corp (its secrets are sealed under koi's master
    // key, which this test's own handle on the database does not hold).
    let corp_id = 1;
    let gone = {
        let mut tx = acq.db.db.begin().await.unwrap();
        let p = koi_store::acquisition::CustomerProfile {
            external_userid: "wmGONE".into(),
            name: "旧客".into(),
            kind: 1,
            ..Default::default()
        };
        let (id, _) = tx.upsert_customer(corp_id, &p, None, Some(acq.store_id), 1, 1).await.unwrap();
        let follow = koi_store::acquisition::NewFollow {
            corp_id,
            customer_id: id,
            staff_id: acq.staff[0],
            added_at: 1,
            add_way: 0,
            state: "",
            code_id: None,
            store_id: Some(acq.store_id),
            returning: false,
        };
        tx.upsert_follow(&follow, 1).await.unwrap();
        tx.commit().await.unwrap();
        id
    };
    let (status, _) =
        call(&acq, Method::POST, &format!("/api/v1/customers/{gone}/tags"), Some(json!({"add": [newbie.clone()]})))
            .await;
    assert_eq!(status, 200);
    // (Earlier steps leave refusals of their own: a tag deleted in WeCom
    // while its push was queued is refused with 40068.)
    let unknown_customer = |j: &&Value| {
        let why = j["last_error"].as_str().unwrap_or_default();
        j["kind"] == "tags.mark" && (why.contains("84061") || why.contains("40096"))
    };
    wait_for(|| async {
        let jobs = get(&acq, "/api/v1/jobs?state=refused").await;
        jobs.as_array().unwrap().iter().find(unknown_customer).cloned()
    })
    .await;
    let p = get(&acq, &format!("/api/v1/customers/{gone}/profile")).await;
    let on_timeline = p["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "wecom.refused").cloned();
    let on_timeline = on_timeline.unwrap_or_else(|| panic!("the refusal is on the timeline: {p}"));
    assert_eq!(on_timeline["payload"]["job"], "tags.mark");
    assert!(profile_tags(&p).iter().any(|(name, _)| name == "新客"), "the tag stays in koi: {p}");
}
