//! `koi inbox …`: the durable WeCom callback inbox.

use crate::database::DbArgs;
use anyhow::{bail, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum InboxCommand {
    /// How many of the corp's callbacks are pending, running, done or failed.
    Status {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
    },
    /// Run the corp's callbacks of the last N hours through the pipeline
    /// again (it is idempotent: what was done once is not done twice).
    Replay {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
    },
}

pub(crate) async fn run(command: InboxCommand) -> Result<()> {
    match command {
        InboxCommand::Status { db, corp } => {
            for (state, n) in db.open().await?.inbox_counts(corp).await? {
                println!("{state}\t{n}");
            }
            Ok(())
        }
        InboxCommand::Replay { db, corp, hours } => {
            if !(hours.is_finite() && hours > 0.0) {
                bail!("--hours must be more than 0");
            }
            let since = koi_store::now_ms() - (hours * 3_600_000.0) as i64;
            let n = db.open().await?.inbox_replay(corp, since).await?;
            println!("{n} callback(s) queued again; a running koi serve processes them");
            Ok(())
        }
    }
}
