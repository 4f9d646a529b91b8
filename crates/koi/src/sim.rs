//! `koi sim`: the WeCom simulator alone, from a config file and an optional
//! scenario of virtual customers.

use crate::serve::{bind, shutdown_signal};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub(crate) struct SimArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// A TOML simulator config (corps, staff, limits, faults); see examples/sim.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for every id, member pick and fault draw (overrides the config).
    #[arg(long)]
    seed: Option<u64>,
    /// Virtual-clock speed: 60 makes a real second a virtual minute (overrides the config).
    #[arg(long)]
    clock_speed: Option<f64>,
    /// A TOML scenario of virtual customers to run once started; its report is printed as JSON.
    #[arg(long)]
    scenario: Option<PathBuf>,
}

pub(crate) async fn run(a: SimArgs) -> Result<()> {
    let mut config = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<koi_sim::SimConfig>(&text)
                .with_context(|| format!("{} is not a simulator config", path.display()))?
        }
        None => koi_sim::SimConfig::default(),
    };
    if let Some(seed) = a.seed {
        config.seed = seed;
    }
    if let Some(speed) = a.clock_speed {
        if speed.is_nan() || speed < 0.0 {
            bail!("--clock-speed must be 0 (frozen) or more");
        }
        config.clock_speed = speed;
    }
    let scenario = match &a.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(koi_sim::scenario_from_toml(&text).with_context(|| format!("{}", path.display()))?)
        }
        None => None,
    };
    let corps: Vec<_> =
        config.corps.iter().map(|c| (c.corp_id.clone(), c.secret.clone(), c.callback_url.clone())).collect();
    let sim = koi_sim::Simulator::start(config, bind(a.listen).await?).await.context("starting the simulator")?;
    println!("WeCom simulator at {} (control API under /sim/)", sim.base_url());
    for (corp_id, secret, callback) in corps {
        println!("  corp {corp_id}  secret {secret}  callbacks to {}", callback.as_deref().unwrap_or("(none)"));
    }
    if let Some(s) = scenario {
        let report = sim.run_scenario(&s).await.context("running the scenario")?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    println!("Press Ctrl+C to stop.");
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
