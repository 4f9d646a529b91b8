//! Customer groups in step with WeCom (the simulator): a full sync finds
//! groups whose callbacks were lost; joins and leaves arrive as callbacks,
//! one of them twice and one not at all, and koi's membership still ends
//! equal to WeCom's; a customer's join is on their timeline, counted in
//! `groups_joined` and fires the "joined a group of kind Y" tag rule, once;
//! a dismissed group ends dismissed.

use crate::acquisition::Acq;
use crate::api::wait_for;
use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_wecom_sqlite() {
    groups_follow_wecom("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_follow_wecom_postgres() {
    groups_follow_wecom("postgres").await;
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

async fn faults(acq: &Acq, f: Value) {
    let url = format!("{}/sim/corps/{}/faults", acq.sim.base_url(), crate::acquisition::CORP);
    assert!(acq.http.put(url).json(&f).send().await.unwrap().status().is_success());
}

/// WeCom's present members of a group (the simulator's truth).
fn truth(acq: &Acq, chat_id: &str) -> BTreeSet<String> {
    let groups = acq.sim.state().groups();
    let g = groups.iter().find(|g| g.chat_id == chat_id).expect("the group is in WeCom");
    g.members.iter().map(|m| m.userid.clone()).collect()
}

/// koi's present members of a group.
async fn present(acq: &Acq, id: i64) -> BTreeSet<String> {
    let d = get(acq, &format!("/api/v1/groups/{id}")).await;
    d["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["left_at"].is_null())
        .map(|m| m["userid"].as_str().unwrap().to_string())
        .collect()
}

async fn groups_follow_wecom(backend: &str) {
    use reqwest::Method;
    let acq = Acq::start(backend).await;
    // A customer koi knows (a friend through a code), and a tag rule on VIP groups.
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "门店海报", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    let scan = acq.scan(code["config_id"].as_str().unwrap(), json!({"name": "顾客甲"})).await;
    let friend = scan["external_userid"].as_str().unwrap().to_string();
    let customer_id = wait_for(|| async {
        let c = get(&acq, "/api/v1/customers").await;
        c.as_array()
            .unwrap()
            .iter()
            .find(|c| c["external_userid"] == friend.as_str())
            .map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    let (status, tags) =
        call(&acq, Method::POST, "/api/v1/tags", Some(json!({"group_name": "社群", "names": ["VIP群成员"]}))).await;
    assert_eq!(status, 201, "{tags}");
    let vip_tag = tags["tags"][0]["id"].as_str().unwrap().to_string();
    let rule =
        json!({"name": "进VIP群", "trigger": {"on": "joined_group", "group_kind": "vip"}, "add_tags": [vip_tag]});
    let (status, v) = call(&acq, Method::POST, "/api/v1/tag-rules", Some(rule)).await;
    assert_eq!(status, 201, "{v}");

    // Two groups made while every callback is lost: only a full sync finds them.
    faults(&acq, json!({"callback_drop_rate": 1.0})).await;
    let vip =
        sim(&acq, "/sim/group/create", json!({"owner": "wang.fang", "name": "VIP 群", "members": ["li.na"]})).await;
    let vip = vip["chat_id"].as_str().unwrap().to_string();
    let other = sim(&acq, "/sim/group/create", json!({"owner": "li.na", "name": "静安一群", "members": []})).await;
    let other = other["chat_id"].as_str().unwrap().to_string();
    assert!(get(&acq, "/api/v1/groups").await.as_array().unwrap().is_empty());
    faults(&acq, json!({})).await;
    let (status, v) = call(&acq, Method::POST, "/api/v1/groups/sync", None).await;
    assert_eq!(status, 202, "{v}");
    let groups = wait_for(|| async {
        let g = get(&acq, "/api/v1/groups").await;
        (g.as_array().unwrap().iter().filter(|g| g["synced_at"].as_i64() > Some(0)).count() == 2).then_some(g)
    })
    .await;
    let id_of =
        |chat: &str| groups.as_array().unwrap().iter().find(|g| g["chat_id"] == chat).unwrap()["id"].as_i64().unwrap();
    let (vip_id, other_id) = (id_of(&vip), id_of(&other));
    let g = groups.as_array().unwrap().iter().find(|g| g["chat_id"] == vip.as_str()).unwrap();
    assert_eq!(
        (g["name"].as_str(), g["owner_userid"].as_str(), g["kind"].as_str()),
        (Some("VIP 群"), Some("wang.fang"), Some("custom"))
    );
    assert_eq!(g["owner_staff_id"].as_i64(), Some(acq.staff[0]), "the owner is linked to koi's staff");
    assert_eq!(present(&acq, vip_id).await, truth(&acq, &vip));

    // The operator says what the group is for; bad input changes nothing.
    let (status, v) =
        call(&acq, Method::PATCH, &format!("/api/v1/groups/{vip_id}"), Some(json!({"kind": "gold"}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let (status, v) =
        call(&acq, Method::PATCH, &format!("/api/v1/groups/{vip_id}"), Some(json!({"store_id": 999_999}))).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");
    let (status, v) = call(&acq, Method::PATCH, "/api/v1/groups/999999", Some(json!({"kind": "vip"}))).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = call(
        &acq,
        Method::PATCH,
        &format!("/api/v1/groups/{vip_id}"),
        Some(json!({"kind": "vip", "store_id": acq.store_id})),
    )
    .await;
    assert_eq!(
        (status, v["group"]["kind"].as_str(), v["group"]["store_id"].as_i64()),
        (200, Some("vip"), Some(acq.store_id)),
        "{v}"
    );
    let listed = get(&acq, &format!("/api/v1/groups?kind=vip&store_id={}&owner=wang.fang", acq.store_id)).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(get(&acq, "/api/v1/groups?kind=paid").await.as_array().unwrap().is_empty());
    let (status, v) = call(&acq, Method::GET, "/api/v1/groups?kind=gold", None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{v}");

    // The friend joins through a callback delivered twice; a stranger joins too.
    faults(&acq, json!({"callback_duplicate_rate": 1.0})).await;
    sim(&acq, "/sim/join", json!({"chat_id": vip, "join_scene": 3, "customer": {"external_userid": friend}})).await;
    let stranger = sim(&acq, "/sim/join", json!({"chat_id": vip, "join_scene": 3, "customer": {"name": "路人"}})).await;
    let stranger = stranger["external_userid"].as_str().unwrap().to_string();
    faults(&acq, json!({})).await;
    wait_for(|| async { (present(&acq, vip_id).await == truth(&acq, &vip)).then_some(()) }).await;
    // A third customer joins while callbacks are lost; the stranger's later
    // leave moves member_version again, and koi converges.
    faults(&acq, json!({"callback_drop_rate": 1.0})).await;
    let lost = sim(&acq, "/sim/join", json!({"chat_id": vip, "customer": {"name": "丢了回调"}})).await;
    let lost = lost["external_userid"].as_str().unwrap().to_string();
    faults(&acq, json!({})).await;
    sim(&acq, "/sim/group/leave", json!({"chat_id": vip, "userid": stranger})).await;
    let want = truth(&acq, &vip);
    assert!(want.contains(&lost) && want.contains(&friend) && !want.contains(&stranger));
    wait_for(|| async { (present(&acq, vip_id).await == want).then_some(()) }).await;
    let detail = get(&acq, &format!("/api/v1/groups/{vip_id}")).await;
    assert_eq!(detail["group"]["members"].as_i64(), Some(want.len() as i64));
    let stays = detail["members"].as_array().unwrap();
    let mine = stays.iter().find(|m| m["userid"] == friend.as_str()).unwrap();
    assert_eq!((mine["customer_id"].as_i64(), mine["member_type"].as_str()), (Some(customer_id), Some("customer")));
    let gone = stays.iter().find(|m| m["userid"] == stranger.as_str()).unwrap();
    assert!(gone["left_at"].is_i64() && gone["customer_id"].is_null(), "a stranger is kept, not a customer: {gone}");

    // The friend's join: on the timeline once, counted once, tagged by the rule.
    let profile = || async { get(&acq, &format!("/api/v1/customers/{customer_id}/profile")).await };
    let joins =
        |p: &Value| p["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "customer.group_joined").count();
    let p = profile().await;
    assert_eq!(joins(&p), 1, "{}", p["timeline"]);
    assert_eq!(p["groups_joined"].as_i64(), Some(1), "{p}");
    assert!(p["tags"].to_string().contains("VIP群成员"), "the rule fired: {}", p["tags"]);
    // The member who joined unseen becomes a friend: the next read links
    // them and records their join, once.
    let config_id = code["config_id"].as_str().unwrap();
    acq.scan(config_id, json!({"external_userid": lost})).await;
    let lost_id = wait_for(|| async {
        let c = get(&acq, "/api/v1/customers").await;
        c.as_array().unwrap().iter().find(|c| c["external_userid"] == lost.as_str()).map(|c| c["id"].as_i64().unwrap())
    })
    .await;
    // A full sync again records nothing twice.
    let synced = get(&acq, &format!("/api/v1/groups/{vip_id}")).await["group"]["synced_at"].as_i64();
    call(&acq, Method::POST, "/api/v1/groups/sync", None).await;
    wait_for(|| async {
        (get(&acq, &format!("/api/v1/groups/{vip_id}")).await["group"]["synced_at"].as_i64() > synced).then_some(())
    })
    .await;
    let p = profile().await;
    assert_eq!((joins(&p), p["groups_joined"].as_i64()), (1, Some(1)), "a re-sync is not a new join");
    assert_eq!(present(&acq, vip_id).await, truth(&acq, &vip));
    let d = get(&acq, &format!("/api/v1/groups/{vip_id}")).await;
    let stay = d["members"].as_array().unwrap().iter().find(|m| m["userid"] == lost.as_str()).cloned().unwrap();
    assert_eq!(stay["customer_id"].as_i64(), Some(lost_id), "linked once koi knows them");
    let p = get(&acq, &format!("/api/v1/customers/{lost_id}/profile")).await;
    assert_eq!((joins(&p), p["groups_joined"].as_i64()), (1, Some(1)), "their join counts: {}", p["timeline"]);

    // The console: the list with filters, the detail with members, kind and store set by form.
    let c = login(&acq.server, &acq.owner, PASSWORD).await;
    let page = |c: &reqwest::Client, path: &str| {
        let (c, url, path) = (c.clone(), acq.server.url(path), path.to_string());
        async move {
            let r = c.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };
    let list = page(&c, "/console/groups").await;
    assert!(list.contains("href=\"/console/groups\"") && list.contains("客户群"), "the nav links the page");
    assert!(list.contains("VIP 群") && list.contains("静安一群") && list.contains("id=\"sync-groups\""));
    let row = |id: i64| format!("<tr data-id=\"{id}\">");
    let vip_only = page(&c, "/console/groups?kind=vip").await;
    assert!(vip_only.contains(&row(vip_id)) && !vip_only.contains(&row(other_id)), "the kind filter");
    let by_owner = page(&c, "/console/groups?owner=li.na").await;
    assert!(by_owner.contains(&row(other_id)) && !by_owner.contains(&row(vip_id)), "the owner filter");
    let detail = page(&c, &format!("/console/groups/{vip_id}")).await;
    assert!(detail.contains(&format!("href=\"/console/customers/{customer_id}\"")), "a member links to the customer");
    assert!(detail.contains(&format!("href=\"/console/customers/{lost_id}\"")) && detail.contains("非好友客户"));
    assert!(detail.contains(&format!("<b id=\"group-present\">{}</b>", want.len())));
    let token = csrf(&c, &acq.server, &format!("/console/groups/{other_id}")).await;
    let post = |form: Vec<(&'static str, String)>| {
        let (c, url) = (c.clone(), acq.server.url(&format!("/console/groups/{other_id}")));
        let mut form = form;
        form.push(("_csrf", token.clone()));
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    let r = post(vec![("kind", "gold".into()), ("store_id", String::new())]).await;
    assert_eq!(r.status(), 422);
    assert_eq!(get(&acq, &format!("/api/v1/groups/{other_id}")).await["group"]["kind"], "custom", "nothing changed");
    let r = post(vec![("kind", "store".into()), ("store_id", acq.store_id.to_string())]).await;
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, format!("/console/groups/{other_id}?ok=saved").as_str())
    );
    let g = get(&acq, &format!("/api/v1/groups/{other_id}")).await;
    assert_eq!((g["group"]["kind"].as_str(), g["group"]["store_id"].as_i64()), (Some("store"), Some(acq.store_id)));
    let customer_page = page(&c, &format!("/console/customers/{customer_id}")).await;
    assert!(
        customer_page.contains("加入社群") && customer_page.contains("VIP 群 · VIP 群"),
        "the join on the timeline"
    );
    // In English.
    c.get(acq.server.url("/console/lang?to=en&next=/console/groups")).send().await.unwrap();
    let en = page(&c, "/console/groups").await;
    assert!(en.contains("Sync groups from WeCom") && en.contains("VIP</td>") && en.contains("Active"), "{en}");
    let r = c.post(acq.server.url("/console/groups/sync")).form(&[("_csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
        (303, "/console/groups?ok=sync_queued")
    );

    // Dismissed in WeCom: dismissed in koi, and the friend's leave is an event.
    sim(&acq, "/sim/group/dismiss", json!({"chat_id": vip})).await;
    wait_for(|| async {
        (get(&acq, &format!("/api/v1/groups/{vip_id}")).await["group"]["status"] == "dismissed").then_some(())
    })
    .await;
    assert!(present(&acq, vip_id).await.is_empty());
    let p = profile().await;
    assert!(p["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "customer.group_left"), "{}", p["timeline"]);
    let active = get(&acq, "/api/v1/groups?status=active").await;
    assert_eq!(active.as_array().unwrap().iter().map(|g| g["id"].as_i64().unwrap()).collect::<Vec<_>>(), [other_id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_and_metrics_follow_group_joins_sqlite() {
    segments_and_metrics_follow_group_joins("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_and_metrics_follow_group_joins_postgres() {
    segments_and_metrics_follow_group_joins("postgres").await;
}

/// The customer ids a segment holds now.
async fn segment(acq: &Acq, expr: &str) -> BTreeSet<i64> {
    let (status, v) =
        call(acq, reqwest::Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": expr, "ids": true}))).await;
    assert_eq!(status, 200, "{expr}: {v}");
    v["ids"].as_array().unwrap().iter().map(|i| i.as_i64().unwrap()).collect()
}

/// Waits until the segment holds exactly `want`.
async fn segment_is(acq: &Acq, expr: &str, want: &[i64]) {
    let want: BTreeSet<i64> = want.iter().copied().collect();
    wait_for(|| async { (segment(acq, expr).await == want).then_some(()) }).await;
}

/// Real joins and leaves through the simulator move `groupkind:`,
/// `group:` and `in_groups>=` segments exactly, and a group's kind changing
/// moves its members; the metrics count the same joins and leaves, and the
/// console draws them.
async fn segments_and_metrics_follow_group_joins(backend: &str) {
    use reqwest::Method;
    let acq = Acq::start(backend).await;
    let code = acq
        .post(
            "/api/v1/channel-codes",
            json!({"name": "社群海报", "store_id": acq.store_id, "kind": "single", "pool": [{"staff_id": acq.staff[0]}]}),
        )
        .await;
    let mut friends = Vec::new();
    for name in ["甲", "乙", "丙"] {
        let scan = acq.scan(code["config_id"].as_str().unwrap(), json!({"name": name})).await;
        let userid = scan["external_userid"].as_str().unwrap().to_string();
        let id = wait_for(|| async {
            let c = get(&acq, "/api/v1/customers").await;
            c.as_array()
                .unwrap()
                .iter()
                .find(|c| c["external_userid"] == userid.as_str())
                .map(|c| c["id"].as_i64().unwrap())
        })
        .await;
        friends.push((userid, id));
    }
    let [(a_user, a), (b_user, b), (c_user, c)] = <[(String, i64); 3]>::try_from(friends).unwrap();
    let paid = sim(&acq, "/sim/group/create", json!({"owner": "wang.fang", "name": "付费一群", "members": []})).await;
    let paid = paid["chat_id"].as_str().unwrap().to_string();
    let edu = sim(&acq, "/sim/group/create", json!({"owner": "wang.fang", "name": "新手教育群", "members": []})).await;
    let edu = edu["chat_id"].as_str().unwrap().to_string();
    let ids = wait_for(|| async {
        let g = get(&acq, "/api/v1/groups").await;
        let find =
            |chat: &str| g.as_array().unwrap().iter().find(|g| g["chat_id"] == chat).map(|g| g["id"].as_i64().unwrap());
        find(&paid).zip(find(&edu))
    })
    .await;
    let (paid_id, edu_id) = ids;
    for (id, kind) in [(paid_id, "paid"), (edu_id, "education")] {
        let (status, v) = call(&acq, Method::PATCH, &format!("/api/v1/groups/{id}"), Some(json!({"kind": kind}))).await;
        assert_eq!(status, 200, "{v}");
    }
    let join = |chat: &str, user: &str| {
        sim(&acq, "/sim/join", json!({"chat_id": chat, "customer": {"external_userid": user}}))
    };
    join(&paid, &a_user).await;
    join(&paid, &b_user).await;
    join(&edu, &c_user).await;
    segment_is(&acq, "groupkind:paid", &[a, b]).await;
    assert_eq!(segment(&acq, "groupkind:education").await, [c].into());
    assert_eq!(segment(&acq, &format!("group:{edu_id}")).await, [c].into());
    assert_eq!(segment(&acq, "group:\"付费一群\"").await, [a, b].into(), "a group by its name");
    let (status, v) =
        call(&acq, Method::POST, "/api/v1/segments/evaluate", Some(json!({"expr": "group:\"没有这个群\""}))).await;
    let reason = v["error"]["expression"]["reason"].as_str();
    assert_eq!((status, v["error"]["code"].as_str(), reason), (422, Some("invalid_expression"), Some("unknown_group")));

    // B leaves the paid group, C joins it too: now in two groups.
    sim(&acq, "/sim/group/leave", json!({"chat_id": paid, "userid": b_user})).await;
    join(&paid, &c_user).await;
    segment_is(&acq, "groupkind:paid", &[a, c]).await;
    assert_eq!(segment(&acq, "in_groups>=2").await, [c].into());
    assert_eq!(segment(&acq, "NOT in_groups>=1").await, [b].into(), "B is in no group now");
    // The education group becomes a paid one: its member moves with it.
    let (status, _) =
        call(&acq, Method::PATCH, &format!("/api/v1/groups/{edu_id}"), Some(json!({"kind": "paid"}))).await;
    assert_eq!(status, 200);
    segment_is(&acq, "groupkind:education", &[]).await;
    assert_eq!(segment(&acq, "groupkind:paid AND in_groups>=2").await, [c].into());

    // Metrics of today count the same stays; bad input is refused.
    let m = get(&acq, &format!("/api/v1/groups/metrics?by=group&group_id={paid_id}")).await;
    let row = &m["rows"][0];
    let detail = get(&acq, &format!("/api/v1/groups/{paid_id}")).await;
    let stays = detail["members"].as_array().unwrap();
    let left = stays.iter().filter(|s| s["left_at"].is_i64()).count() as i64;
    let t = &row["totals"];
    assert_eq!(row["key"].as_str(), Some(paid_id.to_string().as_str()));
    assert_eq!(row["label"].as_str(), Some("付费一群"));
    assert_eq!((t["joins"].as_i64(), t["leaves"].as_i64()), (Some(stays.len() as i64), Some(left)), "{t}");
    assert_eq!(left, 1, "B's leave");
    assert_eq!(t["members_end"].as_i64(), detail["group"]["members"].as_i64());
    assert_eq!(t["members_start"].as_i64(), Some(0), "the group is new today");
    assert_eq!(row["days"].as_array().unwrap().len(), 30);
    assert_eq!(detail["metrics"]["totals"], *t, "the detail carries the same last 30 days");
    let by_kind = get(&acq, "/api/v1/groups/metrics?by=kind").await;
    let kinds: Vec<&str> = by_kind["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["paid"], "both groups are paid now");
    for bad in ["by=owner", "from=2026-02-30", "from=2020-01-01&to=2026-01-01", "kind=gold"] {
        let (status, v) = call(&acq, Method::GET, &format!("/api/v1/groups/metrics?{bad}"), None).await;
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_input")), "{bad}: {v}");
    }
    // The list's size and activity filters (no one spoke: activity 0).
    let sized = get(&acq, "/api/v1/groups?min_members=3").await;
    assert_eq!(sized.as_array().unwrap().iter().map(|g| g["id"].as_i64().unwrap()).collect::<Vec<_>>(), [paid_id]);
    assert_eq!(get(&acq, "/api/v1/groups?max_activity=0").await.as_array().unwrap().len(), 2);
    assert!(get(&acq, "/api/v1/groups?min_activity=1").await.as_array().unwrap().is_empty());
    let (status, _) = call(&acq, Method::GET, "/api/v1/groups?min_activity=101", None).await;
    assert_eq!(status, 422);

    // The console draws the metrics on the groups page and the detail.
    let web = login(&acq.server, &acq.owner, PASSWORD).await;
    let text = |path: &str| {
        let (web, url) = (web.clone(), acq.server.url(path));
        async move { web.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let list = text("/console/groups?by=kind").await;
    assert!(list.contains("社群数据") && list.contains("<div id=\"metrics-flow\"><svg"), "the chart is drawn");
    assert_eq!(list.matches("<g data-day").count(), 60, "two charts of 30 days");
    assert!(list.contains("<tr data-key=\"paid\"><td>付费群</td>"), "a row per kind, in words");
    let one = text(&format!("/console/groups/{paid_id}")).await;
    assert!(one.contains("<div id=\"group-flow\"><svg") && one.contains("data-leaves=\"1\""), "B's leave on the chart");
    let builder = text("/console/segments/new").await;
    assert!(builder.contains("groupkind:") && builder.contains("in_groups&gt;=2"), "the editor knows the terms");
}
