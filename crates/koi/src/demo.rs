//! `koi demo`: a fresh demo brand on SQLite, with the WeCom simulator in this
//! process and virtual customers scanning the stores' codes.

use crate::serve::{bind, serve};
use anyhow::{bail, Context, Result};
use clap::Args;
use koi_engine::{Engine, Settings};
use koi_store::Db;
use koi_web::WebConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Folder for the demo database (recreated on every run).
    #[arg(long, default_value = "./koi-data")]
    data_dir: PathBuf,
    /// Password for the demo users (default: a random one, printed).
    #[arg(long, env = "KOI_DEMO_PASSWORD")]
    password: Option<String>,
}

pub(crate) async fn run(a: DemoArgs) -> Result<()> {
    let path = a.data_dir.join("demo.db");
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", path.display()));
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("cannot remove the old demo database {}", f.display()))?;
        }
    }
    let db = Db::open(&format!("sqlite://{}", path.display())).await?;
    db.migrate().await?;
    let (db, _) = crate::database::with_master_key(db, &a.data_dir.join("master.key")).await?;
    let engine = Engine::new(db.clone(), Settings::default());
    let brand = engine.seed_demo(a.password).await?;
    let listener = bind(a.listen).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let sim = demo_wecom(&engine, brand.corp_id, &url).await?;
    // From here on koi talks to the simulator as it would to WeCom.
    let settings = Settings { wecom_base_url: sim.base_url(), public_url: url.clone(), ..Settings::default() };
    let engine = Engine::new(db.clone(), settings);
    let codes = engine.seed_demo_codes(brand.corp_id).await.context("creating the demo channel codes")?;
    engine.seed_demo_customers(brand.corp_id, DEMO_HISTORY).await.context("seeding the demo's customers")?;
    engine.seed_demo_coupons(brand.corp_id).await.context("seeding the demo's coupons and points")?;
    engine.seed_demo_commerce(brand.corp_id).await.context("seeding the demo's orders, distribution and shop")?;
    let merchant = demo_pay(&engine, brand.corp_id, &sim).await.context("setting up the demo's WeChat Pay")?;
    let campaign = engine.seed_demo_campaign(brand.corp_id).await.context("creating the demo campaign")?;
    tokio::spawn(demo_fission(engine.clone(), brand.corp_id, sim.state(), codes.clone(), campaign.clone()));
    tokio::spawn(demo_community_and_traffic(engine.clone(), brand.corp_id, sim.state(), codes));
    tokio::spawn(demo_behaviour(engine.clone(), brand.corp_id));
    tokio::spawn(crate::demo_shop::run(engine.clone(), brand.corp_id, sim.state(), url.clone()));
    println!("koi demo is running: 悦步女鞋 Yuebu Shoes, 2 stores in Shanghai, 10 shopping guides");
    println!("  console:  {url}/console");
    println!("  login:    {} / {}", brand.users[0].0, brand.password);
    for (user, role) in &brand.users[1..] {
        println!("  also:     {user} ({role}), same password");
    }
    println!("  WeCom:    {} (the simulator, delivering callbacks to koi; control API under /sim/)", sim.base_url());
    println!(
        "  pay:      WeChat Pay merchant {} with ¥{} (the simulator under /pay; truth at /sim/pay/merchants/{})",
        merchant.mch_id,
        merchant.balance_fen / 100,
        merchant.mch_id
    );
    println!("  traffic:  virtual customers scan the two stores' poster codes, about 2 a minute; watch them arrive");
    println!(
        "  groups:   each store's 福利群 fill through its group code; members chat, get keyword replies and leave"
    );
    println!(
        "  campaign: {} (task fission #{}): 20 customers invite friends every few seconds; 3 friends who stay {} min \
         bring a ¥5 red envelope through WeChat Pay, 10 a canvas bag; some friends cheat (one phone, leaving early, \
         re-adding, inviting themselves) and the risk report catches them",
        koi_engine::demo::DEMO_CAMPAIGN_NAME,
        campaign.id,
        koi_engine::demo::DEMO_CAMPAIGN_HOLD_SECS / 60
    );
    println!(
        "            watch it at {url}/console/campaigns (the API: {url}/api/v1/campaigns/{}/dashboard)",
        campaign.id
    );
    println!(
        "  shop:     customers buy on the H5 shop (WeChat Pay), the mini-program posts signed orders, stores \
         redeem coupons and refunds go back, every few seconds: {url}/console/orders, /console/checkouts, /console/coupons"
    );
    println!("  history:  {DEMO_HISTORY} earlier customers with tags, orders and fields; customers order, vote and share as you watch");
    println!("  data:     {} (recreated on every `koi demo`)", path.display());
    println!("Press Ctrl+C to stop.");
    let served = serve(engine, listener, WebConfig { public_url: url, ..WebConfig::default() }, Some(300_000)).await;
    sim.shutdown().await;
    served
}

/// Customers who came before the demo started.
const DEMO_HISTORY: usize = 2000;

/// Customers keep behaving while the demo runs: an order, a poll answer, a
/// share or a reply every few seconds, reported through the same use case
/// a shop or POS integration calls, so stages, RFM and rules move live.
async fn demo_behaviour(engine: Engine, corp_id: i64) {
    use koi_domain::customer::Behaviour;
    use rand::Rng;
    let owner = koi_engine::Principal {
        corp_id,
        role: koi_domain::access::Role::Owner,
        user_id: None,
        store_ids: vec![],
        staff_id: None,
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        let (after, b) = {
            let mut rng = rand::thread_rng();
            let b = match rng.gen_range(0..5) {
                0 | 1 => Behaviour::OrderPlaced { amount_fen: rng.gen_range(199..1299) * 100 },
                2 => Behaviour::PollAnswered {
                    poll: "周年庆新款".into(),
                    answer: ["A", "B"][rng.gen_range(0..2)].into(),
                },
                3 => Behaviour::Shared { what: "海报".into() },
                _ => Behaviour::MessageReplied,
            };
            (rng.gen_range(0..DEMO_HISTORY as i64), b)
        };
        let Ok(page) = engine.db.activity_page(corp_id, after, 1).await else { continue };
        if let Some(c) = page.first() {
            if let Err(e) = engine.record_behaviour(&owner, c.id, &b, None, None).await {
                tracing::warn!(error = %e, "demo behaviour failed");
            }
        }
    }
}

/// Once koi is serving: the stores' groups, then the traffic. The groups
/// need koi to take WeCom's callbacks, so they cannot be made before.
async fn demo_community_and_traffic(
    engine: Engine,
    corp_id: i64,
    sim: std::sync::Arc<koi_sim::SimState>,
    codes: Vec<koi_engine::acquisition::ChannelCode>,
) {
    let ways = match demo_community(&engine, corp_id, &sim).await {
        Ok(ways) => ways,
        Err(e) => {
            tracing::warn!(error = %e, "the demo's groups could not be set up; traffic runs without them");
            Vec::new()
        }
    };
    if let Err(e) = start_demo_traffic(&engine, corp_id, &sim, &codes, &ways).await {
        tracing::warn!(error = %e, "the demo's traffic could not start");
    }
    if let Err(e) = demo_group_pull(&engine, corp_id, &sim, &codes, &ways).await {
        tracing::warn!(error = %e, "the demo's group pull could not run");
    }
}

/// Customers the demo's group pull invites.
const DEMO_PULL_CUSTOMERS: usize = 60;

/// A group pull (标签拉群) whose page has numbers to show: 60 customers add
/// the stores' guides now; "today's new customers" are invited to the
/// nearest-store group code by their guides; half of the guides confirm
/// the task in WeCom (the others never do), and a third of the invited
/// customers join their store's group through its code.
async fn demo_group_pull(
    engine: &Engine,
    corp_id: i64,
    sim: &koi_sim::SimState,
    codes: &[koi_engine::acquisition::ChannelCode],
    ways: &[(i64, String)],
) -> Result<()> {
    let owner = koi_engine::Principal {
        corp_id,
        role: koi_domain::access::Role::Owner,
        user_id: None,
        store_ids: vec![],
        staff_id: None,
    };
    let corp = engine.db.corp(corp_id).await?.context("the demo corp")?;
    let wecom = Some(corp.wecom_corp_id.as_str());
    let posters: Vec<(i64, String)> = codes.iter().filter_map(|c| Some((c.store_id?, c.config_id.clone()?))).collect();
    let mut added: Vec<(i64, String)> = Vec::new();
    for n in 0..DEMO_PULL_CUSTOMERS {
        let Some((store, config_id)) = posters.get(n % posters.len().max(1)) else { break };
        let customer = koi_sim::NewCustomer { name: Some(format!("社群新客{n}")), ..Default::default() };
        let now_ms = sim.clock.now_ms();
        let scanned = sim.act_on(wecom, |w| w.scan(config_id, &customer, None, false, now_ms, &sim.limits));
        if let Some(Ok(s)) = scanned {
            added.push((*store, s.external_userid));
        }
    }
    let today = koi_domain::group::day_text(koi_domain::group::local_day(koi_store::now_ms()));
    let expr = koi_engine::customers::SegmentInput::Text(format!("added:{today}..{today}"));
    for _ in 0..120 {
        if engine.evaluate_segment(&owner, &expr, 0, false).await?.count >= added.len() as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let segment = engine.save_segment(&owner, None, "今日新客", &expr).await?;
    let code = engine.group_codes(&owner).await?.into_iter().find(|c| c.name == "附近门店福利群");
    let code = code.context("the demo's nearest-store group code")?;
    let draft = koi_domain::group::pull::GroupPullDraft {
        name: "今日新客进福利群".into(),
        segment_id: segment.id,
        code_id: code.id,
        text: "欢迎来到悦步！进门店福利群，每周三会员日专享 8.5 折，还有新客 20 元券～".into(),
    };
    let pull = engine.create_group_pull(&owner, &draft).await?.pull;
    // The guides' tasks reach WeCom through the job queue.
    let mut tasks = Vec::new();
    for _ in 0..120 {
        tasks = engine.db.guide_tasks_of(corp_id, "group_pull", pull.id).await?;
        if tasks.iter().all(|t| t.state != "queued" && t.state != "sending") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let now_s = sim.clock.now_s();
    for t in tasks.iter().filter(|t| !t.wecom_msgid.is_empty()).step_by(2) {
        sim.act_on(wecom, |w| w.confirm_mass(&t.wecom_msgid, Some(&t.sender), now_s, &sim.limits));
    }
    let sent: std::collections::HashSet<String> = sim
        .mass_tasks()
        .into_iter()
        .flat_map(|t| t.task.recipients)
        .filter(|r| r.status == 1)
        .filter_map(|r| r.external_userid)
        .collect();
    for (store, ext) in added.iter().filter(|(_, e)| sent.contains(e)).step_by(3) {
        let Some((_, way)) = ways.iter().find(|(s, _)| s == store) else { continue };
        let customer = koi_sim::NewCustomer { external_userid: Some(ext.clone()), ..Default::default() };
        let now_s = sim.clock.now_s();
        let _ = sim.act_on(wecom, |w| w.join_via_way(way, &customer, now_s, &sim.limits));
    }
    engine.refresh_group_pull(&owner, pull.id).await?;
    Ok(())
}

/// Each store's two 福利群 in WeCom (owned by one of its guides), synced
/// into koi as store groups behind one rotating group code that lets WeCom
/// open more rooms; a nearest-store code over both; the group assistant's
/// keyword replies, sensitive words and a group welcome. Returns each
/// store's join way.
async fn demo_community(engine: &Engine, corp_id: i64, sim: &koi_sim::SimState) -> Result<Vec<(i64, String)>> {
    let owner = koi_engine::Principal {
        corp_id,
        role: koi_domain::access::Role::Owner,
        user_id: None,
        store_ids: vec![],
        staff_id: None,
    };
    let corp = engine.db.corp(corp_id).await?.context("the demo corp")?;
    let wecom = Some(corp.wecom_corp_id.as_str());
    let staff = engine.db.staff_list(corp_id).await?;
    let now_s = sim.clock.now_s();
    let mut store_codes = Vec::new();
    let mut ways = Vec::new();
    let mut chats = Vec::new();
    for store in engine.db.stores(corp_id).await? {
        let Some(guide) = staff.iter().find(|m| m.store_ids.contains(&store.id)) else { continue };
        let base = format!("{}福利群", store.name);
        let made = sim.act_on(wecom, |w| {
            (1..=2).map(|n| w.create_group(&guide.userid, &format!("{base}{n}"), now_s)).collect::<Result<Vec<_>, _>>()
        });
        let made = made.context("the demo corp in the simulator")?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut group_ids = Vec::new();
        for chat_id in &made {
            let id = synced_group(engine, corp_id, chat_id).await?;
            let edit = serde_json::from_value(serde_json::json!({ "kind": "store", "store_id": store.id }))?;
            engine.update_group(&owner, id, &edit).await?;
            group_ids.push(id);
        }
        chats.extend(made);
        let draft = serde_json::from_value(serde_json::json!({
            "name": base, "group_kind": "store", "store_id": store.id, "group_ids": group_ids,
            "auto_create_room": true, "room_base_name": base, "room_base_id": 3,
        }))?;
        let code = engine.create_group_code(&owner, draft).await?.code;
        store_codes.push(serde_json::json!({ "store_id": store.id, "code_id": code.id }));
        ways.extend(code.config_id.map(|c| (store.id, c)));
    }
    let nearest = serde_json::from_value(serde_json::json!({
        "name": "附近门店福利群", "code_type": "nearest_store", "radius_m": 5000,
        "fallback_store_id": store_codes.first().map(|c| c["store_id"].clone()), "stores": store_codes,
    }))?;
    engine.create_group_code(&owner, nearest).await?;
    demo_assistant(engine, &owner, sim, wecom, &chats).await?;
    Ok(ways)
}

/// koi's copy of a group WeCom just made, once the callback has been read.
async fn synced_group(engine: &Engine, corp_id: i64, chat_id: &str) -> Result<i64> {
    for _ in 0..120 {
        if let Some(g) = engine.db.group_by_chat_id(corp_id, chat_id).await? {
            return Ok(g.id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    bail!("koi did not sync the demo group {chat_id} within 30 s")
}

/// The group assistant as a store would set it up: the feed on, keyword
/// replies for coupons and the live stream, sensitive words, and a welcome
/// every demo group greets joiners with.
async fn demo_assistant(
    engine: &Engine,
    owner: &koi_engine::Principal,
    sim: &koi_sim::SimState,
    wecom: Option<&str>,
    chats: &[String],
) -> Result<()> {
    let settings = serde_json::from_value(serde_json::json!({
        "feed_enabled": true, "agent_id": 1000002, "sensitive_words": ["加我微信", "代购", "返现"],
    }))?;
    engine.save_group_assistant_settings(owner, &settings).await?;
    let rules = [
        serde_json::json!({
            "name": "优惠咨询", "scope": {"kinds": ["store"], "store_ids": [], "group_ids": []},
            "match_kind": "contains", "keywords": ["优惠", "价格"],
            "reply": {"text": "本周三会员日全场 8.5 折，新朋友另有 20 元券～",
                      "link": {"title": "领取 20 元新客券", "url": "https://yuebu.example/coupon/new20"}},
            "quiet_hours": {"start": "22:00", "end": "08:00"}, "cooldown_minutes": 30, "priority": 1,
        }),
        serde_json::json!({
            "name": "直播时间", "scope": {"kinds": [], "store_ids": [], "group_ids": []},
            "match_kind": "wildcard", "keywords": ["*直播*"],
            "reply": {"text": "今晚 8 点直播间见，新款秋鞋首发～"},
            "cooldown_minutes": 60, "priority": 2,
        }),
    ];
    for rule in rules {
        engine.create_group_reply_rule(owner, &serde_json::from_value(rule)?).await?;
    }
    let welcome = serde_json::from_value(serde_json::json!({
        "name": "门店福利群欢迎语",
        "text": "欢迎入群！每周三会员日直播，群内专享 8.5 折，进群先领一张 20 元券～",
        "attachment": {"type": "link", "title": "领取 20 元新客券", "url": "https://yuebu.example/coupon/new20"},
        "scope": {"kinds": ["store"], "store_ids": [], "group_ids": []},
    }))?;
    let welcome = engine.create_group_welcome(owner, &welcome).await?;
    // Each owner picks the template in the group's settings (no API does).
    sim.act_on(wecom, |w| {
        for chat_id in chats {
            let _ = w.bind_group_welcome(chat_id, &welcome.template_id);
        }
    });
    Ok(())
}

/// Virtual customers living around the demo stores scan their poster
/// codes on WeCom's real-time clock, so a new user sees customers arrive,
/// get tagged and greeted; added customers join their store's group through
/// its group code, talk there and some leave.
async fn start_demo_traffic(
    engine: &Engine,
    corp_id: i64,
    sim: &koi_sim::SimState,
    codes: &[koi_engine::acquisition::ChannelCode],
    ways: &[(i64, String)],
) -> Result<()> {
    let mut scenario = koi_sim::Scenario {
        seed: Some(2026),
        duration_hours: 24.0,
        tick_minutes: 1.0,
        realtime: true,
        ..koi_sim::Scenario::default()
    };
    scenario.population.size = 3000;
    scenario.rates.scan = 1.0;
    // Added customers join their store's group within a minute or two, say
    // something every few minutes while the demo is watched, and some leave
    // within hours.
    scenario.rates.join_group = 1000.0;
    scenario.rates.talk = 720.0;
    scenario.rates.leave_group = 3.0;
    scenario.rates.order = 0.0;
    // Some leave their guide (about one in seven within a day of adding) and
    // some of those come back, so a code's losses and returns move too.
    scenario.rates.delete_guide = 0.15;
    scenario.rates.readd = 0.5;
    for code in codes {
        let Some(store) = code.store_id else { continue };
        let join_way = ways.iter().find(|(s, _)| *s == store).map(|(_, w)| w.clone());
        let Some(store) = engine.db.store(corp_id, store).await? else { continue };
        let (Some(lat), Some(lng)) = (store.lat, store.lng) else { continue };
        scenario.stores.push(koi_sim::population::Store {
            name: store.name,
            lat,
            lng,
            contact_way: code.config_id.clone(),
            join_way,
            ..Default::default()
        });
    }
    let toml = toml::to_string(&scenario).context("the demo scenario")?;
    let r = reqwest::Client::new().post(format!("{}/sim/scenario", sim.base_url())).body(toml).send().await?;
    if !r.status().is_success() {
        bail!("the simulator refused the demo scenario: {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// WeChat Pay for rewards: the simulator's merchant for the demo corp,
/// funded with ¥50,000, set in the corp's pay settings as an operator would.
async fn demo_pay(engine: &Engine, corp_id: i64, sim: &koi_sim::SimHandle) -> Result<koi_sim::SimMerchant> {
    let mut merchant = sim.state().pay_merchants().into_iter().next().context("the simulator hosts a merchant")?;
    merchant.balance_fen = 5_000_000;
    sim.state().set_pay_balance(&merchant.mch_id, merchant.balance_fen);
    let owner = koi_engine::Principal {
        corp_id,
        role: koi_domain::access::Role::Owner,
        user_id: None,
        store_ids: vec![],
        staff_id: None,
    };
    let input = koi_engine::pay::PaySettingsInput {
        enabled: true,
        mch_id: merchant.mch_id.clone(),
        wxappid: merchant.wxappid.clone(),
        api_key: merchant.api_key.clone(),
        workwx_secret: merchant.workwx_secret.clone(),
        base_url: format!("{}/pay", sim.base_url()),
        act_name: "老带新有礼".into(),
        wishing: "感谢推荐好友，恭喜发财！".into(),
    };
    engine.save_pay_settings(&owner, input).await?;
    Ok(merchant)
}

/// The demo brand's WeCom: the simulator, in this process, hosting the demo
/// corp with its guides and delivering callbacks to koi.
async fn demo_wecom(engine: &Engine, corp_id: i64, koi_url: &str) -> Result<koi_sim::SimHandle> {
    let corp = engine.db.corp(corp_id).await?.context("the demo corp was just created")?;
    let staff = engine.db.staff_list(corp_id).await?;
    let config = koi_sim::SimConfig {
        seed: 2026,
        corps: vec![koi_sim::SimCorp {
            callback_url: Some(format!("{koi_url}/wecom/callback/{}", corp.wecom_corp_id)),
            staff: staff
                .iter()
                .map(|m| koi_sim::SimStaff::new(&m.userid, &m.name, m.store_ids.first().copied().unwrap_or(1) as u64))
                .collect(),
            corp_id: corp.wecom_corp_id,
            secret: corp.app_secret,
            token: corp.callback_token,
            encoding_aes_key: corp.encoding_aes_key,
            faults: koi_sim::Faults::default(),
        }],
        ..koi_sim::SimConfig::default()
    };
    let listener = bind("127.0.0.1:0".parse().expect("a literal address")).await?;
    koi_sim::Simulator::start(config, listener).await.context("starting the WeCom simulator")
}

/// Customers the demo campaign enrolls at the start (its seed audience).
const CAMPAIGN_SEEDS: usize = 20;
/// Earlier customers who later come back through a friend's entry (not new).
const CAMPAIGN_OLD: usize = 6;
/// Friends the star participant brings, past the canvas bag's 10.
const STAR_FRIENDS: usize = 12;

const NAMES_A: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const NAMES_B: [&str; 11] = ["小雅", "思琪", "梦瑶", "欣怡", "可馨", "诗涵", "晓彤", "雨萱", "佳琪", "子涵", "一诺"];

/// The demo campaign at work: its seed audience enrolled, then virtual
/// customers scanning participants' entries every few seconds. Most are
/// honest friends who stay past the hold (tiers are reached, red envelopes
/// paid through the simulated WeChat Pay, the guide tells the participant)
/// and open their own page, so they invite in turn; some are what the risk
/// checks are for: a friend who deletes the guide within the hold, four
/// friends on one phone, an earlier customer, a delete-and-re-add, a
/// participant scanning their own entry.
async fn demo_fission(
    engine: Engine,
    corp_id: i64,
    sim: std::sync::Arc<koi_sim::SimState>,
    codes: Vec<koi_engine::acquisition::ChannelCode>,
    campaign: koi_engine::campaigns::Campaign,
) {
    let mut f = match Fission::start(engine, corp_id, sim, &codes, campaign).await {
        Ok(f) => f,
        Err(e) => return tracing::warn!(error = %e, "the demo campaign could not enroll its participants"),
    };
    let started = std::time::Instant::now();
    let mut round = 0usize;
    loop {
        // Busy while the demo is new, calmer after (it runs for hours on small machines).
        let pace = if started.elapsed() < std::time::Duration::from_secs(900) { 4 } else { 12 };
        if let Err(e) = f.round(round, std::time::Duration::from_secs(pace)).await {
            tracing::warn!(error = %e, "a round of the demo campaign failed");
            tokio::time::sleep(std::time::Duration::from_secs(pace)).await;
        }
        round += 1;
    }
}

struct Fission {
    engine: Engine,
    corp_id: i64,
    sim: std::sync::Arc<koi_sim::SimState>,
    wecom: String,
    campaign: koi_engine::campaigns::Campaign,
    /// The campaign's part of page links (`/h5/c/{this}`).
    page_token: String,
    /// Every virtual customer's external_userid → the guide they added last.
    guide_of: std::collections::HashMap<String, String>,
    /// Participants who share their entry (external_userid), taking turns.
    inviters: std::collections::VecDeque<String>,
    /// A friend of the last round who shares their entry at once.
    keen: Option<String>,
    /// Friends who have not opened their page yet, with the phone they use.
    unopened: Vec<(String, String)>,
    old: Vec<String>,
    star: String,
    star_friends: usize,
    /// Customers made so far (names, phones).
    n: usize,
    stores: Vec<(f64, f64)>,
}

impl Fission {
    async fn start(
        engine: Engine,
        corp_id: i64,
        sim: std::sync::Arc<koi_sim::SimState>,
        codes: &[koi_engine::acquisition::ChannelCode],
        campaign: koi_engine::campaigns::Campaign,
    ) -> Result<Self> {
        let corp = engine.db.corp(corp_id).await?.context("the demo corp")?;
        let stores = engine.db.stores(corp_id).await?.iter().filter_map(|s| Some((s.lat?, s.lng?))).collect();
        let page_token = campaign.h5_path.trim_start_matches("/h5/c/").to_string();
        let mut f = Fission {
            engine,
            corp_id,
            sim,
            wecom: corp.wecom_corp_id,
            campaign,
            page_token,
            guide_of: Default::default(),
            inviters: Default::default(),
            keen: None,
            unopened: vec![],
            old: vec![],
            star: String::new(),
            star_friends: 0,
            n: 0,
            stores,
        };
        // Earlier customers of the stores, added through their posters.
        let posters: Vec<String> = codes.iter().filter_map(|c| c.config_id.clone()).collect();
        let mut seeds = Vec::new();
        for k in 0..CAMPAIGN_SEEDS + CAMPAIGN_OLD {
            let Some(poster) = posters.get(k % posters.len().max(1)) else { bail!("the demo has no poster codes") };
            let ext = f.scan(poster, None).context("a demo customer scanning a poster")?;
            if k < CAMPAIGN_SEEDS {
                seeds.push(ext);
            } else {
                f.old.push(ext);
            }
        }
        let mut ids = Vec::new();
        for ext in &seeds {
            ids.push(f.customer_id(ext, true).await?.context("koi did not sync a demo customer within 30 s")?);
        }
        f.engine.enroll_participants(&owner(corp_id), f.campaign.id, &ids).await?;
        f.star = seeds[0].clone();
        f.inviters = seeds[1..].iter().cloned().collect();
        Ok(f)
    }

    /// One round: an inviter's three friends, a friend of the star, and one
    /// kind of fraud, taking turns.
    async fn round(&mut self, round: usize, pace: std::time::Duration) -> Result<()> {
        let wait = || tokio::time::sleep(pace);
        // Last round's friends open the link koi's welcome sent them: their
        // page, and their own entry to share.
        for (ext, phone) in std::mem::take(&mut self.unopened) {
            if !self.open_page(&ext, &phone).await? {
                self.unopened.push((ext, phone));
            }
        }
        // Every other round a friend of the last round shares at once, so
        // the invite tree grows deeper while the others wait their turn.
        let keen = match self.keen.take() {
            Some(k) if round % 2 == 1 && self.entry_of(&k).await?.is_some() => Some(k),
            _ => None,
        };
        let inviter = match keen {
            Some(k) => k,
            None => match self.next_ready().await? {
                Some(i) => i,
                None => {
                    wait().await;
                    return Ok(());
                }
            },
        };
        for _ in 0..3 {
            if let Some(friend) = self.invite(&inviter).await? {
                self.inviters.push_back(friend.clone());
                self.keen = Some(friend);
            }
            wait().await;
        }
        // The keen one opens their page now, so their entry is ready next round.
        if let Some(at) = self.keen.as_ref().and_then(|k| self.unopened.iter().position(|(e, _)| e == k)) {
            let (ext, phone) = self.unopened.remove(at);
            if !self.open_page(&ext, &phone).await? {
                self.unopened.push((ext, phone));
            }
        }
        if self.star_friends < STAR_FRIENDS {
            let star = self.star.clone();
            if self.entry_of(&star).await?.is_some() {
                self.invite(&star).await?;
                self.star_friends += 1;
                wait().await;
            }
        }
        match round % 5 {
            0 => {
                // A friend who deletes the guide within the hold.
                let Some(entry) = self.entry_of(&inviter).await? else { return Ok(()) };
                let ext = self.scan(&entry, None)?;
                wait().await;
                wait().await;
                self.delete(&ext);
            }
            1 => {
                // Four friends of one participant, all on one phone.
                let Some(victim) = self.next_ready().await? else { return Ok(()) };
                let Some(entry) = self.entry_of(&victim).await? else { return Ok(()) };
                let phone = format!("farm-{round}");
                for _ in 0..4 {
                    let ext = self.scan(&entry, None)?;
                    self.unopened.push((ext, phone.clone()));
                    wait().await;
                }
            }
            2 => {
                // An earlier customer comes back through a friend's entry.
                let Some(entry) = self.entry_of(&inviter).await? else { return Ok(()) };
                let old = self.old[round / 5 % self.old.len()].clone();
                self.delete(&old);
                self.scan(&entry, Some(&old))?;
                wait().await;
            }
            3 => {
                // A friend who deletes the guide and adds again.
                let Some(entry) = self.entry_of(&inviter).await? else { return Ok(()) };
                let ext = self.scan(&entry, None)?;
                wait().await;
                self.delete(&ext);
                wait().await;
                self.scan(&entry, Some(&ext))?;
                wait().await;
            }
            _ => {
                // A participant who deletes the guide to scan their own entry.
                let Some(entry) = self.entry_of(&inviter).await? else { return Ok(()) };
                self.delete(&inviter);
                self.scan(&entry, Some(&inviter))?;
                wait().await;
            }
        }
        Ok(())
    }

    /// A new friend scans `inviter`'s entry; returns them once they will
    /// open their page from their own phone.
    async fn invite(&mut self, inviter: &str) -> Result<Option<String>> {
        let Some(entry) = self.entry_of(inviter).await? else { return Ok(None) };
        let ext = self.scan(&entry, None)?;
        self.unopened.push((ext.clone(), format!("phone-{}", self.n)));
        Ok(Some(ext))
    }

    /// The next participant, in turn, whose entry is ready.
    async fn next_ready(&mut self) -> Result<Option<String>> {
        for _ in 0..self.inviters.len() {
            let Some(ext) = self.inviters.pop_front() else { break };
            self.inviters.push_back(ext.clone());
            if self.entry_of(&ext).await?.is_some() {
                return Ok(Some(ext));
            }
        }
        Ok(None)
    }

    /// A customer scans a contact way: `who`, or a new customer with a name.
    fn scan(&mut self, config_id: &str, who: Option<&str>) -> Result<String> {
        self.n += 1;
        let n = self.n;
        let customer = koi_sim::NewCustomer {
            external_userid: who.map(str::to_string),
            name: who.is_none().then(|| format!("{}{}", NAMES_A[n % 10], NAMES_B[n / 10 % 11])),
            ..Default::default()
        };
        let now_ms = self.sim.clock.now_ms();
        let sim = &self.sim;
        let out = sim.act_on(Some(&self.wecom), |w| w.scan(config_id, &customer, None, false, now_ms, &sim.limits));
        let out = out.context("the demo corp in the simulator")?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        self.guide_of.insert(out.external_userid.clone(), out.userid);
        Ok(out.external_userid)
    }

    /// The customer deletes the guide they added last (if they still have them).
    fn delete(&self, ext: &str) {
        let Some(userid) = self.guide_of.get(ext) else { return };
        let now_s = self.sim.clock.now_s();
        self.sim.act_on(Some(&self.wecom), |w| w.customer_deletes(ext, userid, now_s));
    }

    async fn customer_id(&self, ext: &str, wait: bool) -> Result<Option<i64>> {
        for _ in 0..if wait { 120 } else { 1 } {
            let mut tx = self.engine.db.begin().await?;
            if let Some(id) = tx.customer_id(self.corp_id, ext).await? {
                return Ok(Some(id));
            }
            drop(tx);
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        Ok(None)
    }

    async fn participant(&self, ext: &str) -> Result<Option<koi_store::campaigns::ParticipantRow>> {
        let Some(id) = self.customer_id(ext, false).await? else { return Ok(None) };
        let mut tx = self.engine.db.begin().await?;
        Ok(tx.participant_of(self.campaign.id, id).await?)
    }

    /// A participant's entry (its config_id), once WeCom has made it.
    async fn entry_of(&self, ext: &str) -> Result<Option<String>> {
        let p = self.participant(ext).await?;
        Ok(p.filter(|p| p.entry_state == "ready").and_then(|p| p.config_id))
    }

    /// The participant opens their page on `phone`, near a store: the page
    /// makes their entry and the visit is recorded for the risk checks.
    /// Each virtual phone has its own network address (over loopback HTTP
    /// they all would share one), so this goes to the engine as the H5
    /// handler does. False when koi does not know them as a participant yet.
    async fn open_page(&self, ext: &str, phone: &str) -> Result<bool> {
        let Some(p) = self.participant(ext).await? else { return Ok(false) };
        self.engine.campaign_page(&self.page_token, &p.token).await?;
        let (lat, lng) = self.stores[self.n % self.stores.len().max(1)];
        let jitter = (self.n % 17) as f64 * 0.002;
        let visit = koi_engine::campaigns::VisitInput {
            device: phone.to_string(),
            lat: Some(lat + jitter),
            lng: Some(lng - jitter),
        };
        // One address per phone (FNV-1a of its name).
        let h = phone.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        let address = format!("10.{}.{}.{}", h >> 16 & 255, h >> 8 & 255, h & 255);
        self.engine.record_campaign_visit(&self.page_token, &p.token, &visit, &address).await?;
        Ok(true)
    }
}

pub(crate) fn owner(corp_id: i64) -> koi_engine::Principal {
    koi_engine::Principal {
        corp_id,
        role: koi_domain::access::Role::Owner,
        user_id: None,
        store_ids: vec![],
        staff_id: None,
    }
}
