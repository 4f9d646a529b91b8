//! `koi demo`'s data as an operator first meets it: a code's page tells a
//! consistent story (the code existed before its adds) and its losses and
//! returns are not always zero; its fission campaign is running and its
//! virtual customers invite friends; its shoppers keep buying, redeeming
//! and refunding.

use crate::support::{csrf, login, Server};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The text of the element with `id` on a page (no nested tags).
fn by_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("#{id} on the page")) + id.len() + 6;
    &html[at..at + html[at..].find('<').expect("the element ends")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_codes_have_a_past_with_losses_and_returns() {
    let data = std::env::temp_dir().join(format!("koi-e2e-demo-data-{}", std::process::id()));
    let data_arg = data.display().to_string();
    let demo =
        Server::start(&["demo", "--listen", "127.0.0.1:0", "--data-dir", &data_arg, "--password", "demo-pass-2"]);
    let console = login(&demo, "admin", "demo-pass-2").await;
    for code in [1, 2] {
        let page = console
            .get(demo.url(&format!("/console/channel-codes/{code}")))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("body");
        // The oldest day with adds is not before the code was made.
        let created = &by_id(&page, "code-created")[..10];
        let table = &page[page.find("id=\"stats-days\"").expect("the days")..];
        let table = &table[..table.find("</table>").expect("the table ends")];
        let days: Vec<&str> = table.split("<tr><td>").skip(1).map(|r| &r[..10]).collect();
        assert!(days.len() > 10, "code {code}: 30 days of adds: {days:?}");
        assert!(days.iter().all(|d| *d >= created), "code {code} made {created}, adds on {days:?}");
        let n = |id: &str| by_id(&page, id).parse::<i64>().unwrap_or_else(|_| panic!("{id} is a number"));
        assert!(n("total-deletions") > 0, "code {code}: some customers left");
        assert!(n("total-returning") > 0, "code {code}: some came back");
        assert!(page.contains("<div class=\"tile warn\"><b id=\"total-deletions\">"), "losses in red");
    }
    the_campaign_runs(&demo, &console).await;
    drop(demo);
    let _ = std::fs::remove_dir_all(&data);
}

/// The demo campaign exists and runs; its seed audience takes part and
/// friends come in through their entries (pending, or decided later).
async fn the_campaign_runs(demo: &Server, console: &reqwest::Client) {
    let token = csrf(console, demo, "/console/api-keys").await;
    let form = [("_csrf", token.as_str()), ("name", "demo-e2e"), ("role", "hq_operator")];
    let html = console.post(demo.url("/console/api-keys")).form(&form).send().await.expect("key");
    let html = html.text().await.expect("body");
    let at = html.find("id=\"new-key\">").expect("the new key is shown once") + 13;
    let key = html[at..].split('<').next().expect("key").to_string();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let r = http.get(demo.url(&path)).bearer_auth(&key).send();
        async move { r.await.expect("api").json::<Value>().await.expect("json") }
    };
    let list = get("/api/v1/campaigns".into()).await;
    let campaign = list
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| &c["campaign"])
        .find(|c| c["name"] == koi_engine::demo::DEMO_CAMPAIGN_NAME)
        .unwrap_or_else(|| panic!("the demo campaign in {list}"))
        .clone();
    assert_eq!(campaign["state"], "running", "{campaign}");
    assert_eq!(campaign["kind"], "task", "{campaign}");
    let id = campaign["id"].as_i64().expect("id");
    // Twenty seeds, then a friend every few seconds: 40 s is plenty.
    let deadline = Instant::now() + Duration::from_secs(40);
    let (participants, invites) = loop {
        let d = get(format!("/api/v1/campaigns/{id}/dashboard")).await;
        let t = &d["totals"];
        let n = |k: &str| t[k].as_i64().unwrap_or(0);
        let invites = n("pending") + n("valid") + n("rejected");
        if n("participants") >= 20 && invites >= 3 {
            break (n("participants"), invites);
        }
        assert!(Instant::now() < deadline, "no invites in the demo campaign within 40 s: {d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let listed = get(format!("/api/v1/campaigns/{id}/invites")).await;
    assert!(listed.as_array().expect("invites").len() as i64 >= invites.min(3), "{listed}");
    let seeds = get(format!("/api/v1/campaigns/{id}/participants")).await;
    let seeds = seeds.as_array().expect("participants").iter().filter(|p| p["depth"] == 0).count();
    assert_eq!(seeds, 20, "the seed audience: {participants} participants in all");
    commerce_is_seeded(&get).await;
}

/// The demo's orders earned what they earn: a month of orders (one partly
/// and one wholly refunded), commission at both levels of the referral
/// chain, and a product in the H5 shop.
async fn commerce_is_seeded<F, Fut>(get: &F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let orders = get("/api/v1/orders?limit=200".into()).await;
    let rows = orders["orders"].as_array().unwrap_or_else(|| panic!("orders: {orders}"));
    // The seeded month (`DEMO-…`); the live shoppers' orders come beside them.
    let rows: Vec<&Value> =
        rows.iter().filter(|o| o["shop_order_id"].as_str().is_some_and(|s| s.starts_with("DEMO-"))).collect();
    assert_eq!(rows.len(), 23, "one order each for the 2nd..24th customers: {orders}");
    let status = |s: &str| rows.iter().filter(|o| o["status"] == s).count();
    assert_eq!((status("part_refunded"), status("refunded")), (1, 1), "{orders}");
    let commissions = get("/api/v1/distribution/commissions".into()).await;
    let levels: Vec<i64> =
        commissions.as_array().expect("commissions").iter().map(|c| c["level"].as_i64().unwrap_or(0)).collect();
    assert!(levels.contains(&1) && levels.contains(&2), "both levels earn: {commissions}");
    let products = get("/api/v1/products".into()).await;
    assert!(products.as_array().expect("products").iter().any(|p| p["sku"] == "YB-BUNDLE-199"), "{products}");
    commerce_moves(get).await;
}

/// While the demo runs its customers keep buying: H5 checkouts paid through
/// the simulated WeChat Pay and the shop's signed orders come in, a store
/// redeems a coupon, and something is refunded, within a minute.
async fn commerce_moves<F, Fut>(get: &F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let orders = get("/api/v1/orders?limit=200".into()).await;
        let live: Vec<&Value> = orders["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .filter(|o| o["shop_order_id"].as_str().is_some_and(|s| !s.starts_with("DEMO-")))
            .collect();
        let paid_on_h5 = live.iter().filter(|o| o["source"] == "checkout").count();
        let from_shop = live.iter().filter(|o| o["source"].as_str().is_some_and(|s| s.starts_with("webhook:"))).count();
        let refunded = live.iter().filter(|o| o["refunded_fen"].as_i64().unwrap_or(0) > 0).count();
        let redeemed = get("/api/v1/coupons?state=redeemed".into()).await;
        let redeemed = redeemed.as_array().expect("coupons").len();
        if paid_on_h5 >= 2 && from_shop >= 1 && refunded >= 1 && redeemed >= 1 {
            let checkouts = get("/api/v1/checkouts".into()).await;
            assert!(checkouts.as_array().expect("checkouts").len() >= paid_on_h5, "{checkouts}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's commerce did not move within 90 s: {paid_on_h5} paid on H5, {from_shop} from the shop, \
             {refunded} refunded, {redeemed} coupons redeemed"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
