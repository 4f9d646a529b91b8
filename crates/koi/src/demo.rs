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
    let engine = Engine::new(db.clone(), Settings { wecom_base_url: sim.base_url(), ..Settings::default() });
    let codes = engine.seed_demo_codes(brand.corp_id).await.context("creating the demo channel codes")?;
    engine.seed_demo_customers(brand.corp_id, DEMO_HISTORY).await.context("seeding the demo's customers")?;
    start_demo_traffic(&engine, brand.corp_id, &sim, &codes).await?;
    tokio::spawn(demo_behaviour(engine.clone(), brand.corp_id));
    println!("koi demo is running: 悦步女鞋 Yuebu Shoes, 2 stores in Shanghai, 10 shopping guides");
    println!("  console:  {url}/console");
    println!("  login:    {} / {}", brand.users[0].0, brand.password);
    for (user, role) in &brand.users[1..] {
        println!("  also:     {user} ({role}), same password");
    }
    println!("  WeCom:    {} (the simulator, delivering callbacks to koi; control API under /sim/)", sim.base_url());
    println!("  traffic:  virtual customers scan the two stores' poster codes, about 2 a minute; watch them arrive");
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
            let b = match rng.gen_range(0..6) {
                0 | 1 => Behaviour::OrderPlaced { amount_fen: rng.gen_range(199..1299) * 100 },
                2 => Behaviour::PollAnswered {
                    poll: "周年庆新款".into(),
                    answer: ["A", "B"][rng.gen_range(0..2)].into(),
                },
                3 => Behaviour::Shared { what: "海报".into() },
                4 => Behaviour::GroupJoined { group_kind: "会员群".into() },
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

/// Virtual customers living around the demo stores scan their poster
/// codes on WeCom's real-time clock, so a new user sees customers arrive,
/// get tagged and greeted.
async fn start_demo_traffic(
    engine: &Engine,
    corp_id: i64,
    sim: &koi_sim::SimHandle,
    codes: &[koi_engine::acquisition::ChannelCode],
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
    scenario.rates.join_group = 0.0;
    scenario.rates.order = 0.0;
    // Some leave their guide (about one in seven within a day of adding) and
    // some of those come back, so a code's losses and returns move too.
    scenario.rates.delete_guide = 0.15;
    scenario.rates.readd = 0.5;
    for code in codes {
        let Some(store) = code.store_id else { continue };
        let Some(store) = engine.db.store(corp_id, store).await? else { continue };
        let (Some(lat), Some(lng)) = (store.lat, store.lng) else { continue };
        scenario.stores.push(koi_sim::population::Store {
            name: store.name,
            lat,
            lng,
            contact_way: code.config_id.clone(),
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
