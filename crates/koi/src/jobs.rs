//! `koi jobs …`: background job tools.

use crate::database::DbArgs;
use anyhow::Result;
use clap::Subcommand;
use koi_engine::{Engine, Settings};

#[derive(Subcommand)]
pub(crate) enum JobsCommand {
    /// Enqueue self-test jobs, which record which worker ran them.
    Selftest {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        corp: i64,
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Make the jobs fail, to see dead letters.
        #[arg(long)]
        fail: bool,
    },
}

pub(crate) async fn run(command: JobsCommand) -> Result<()> {
    match command {
        JobsCommand::Selftest { db, corp, count, fail } => {
            let engine = Engine::new(db.open().await?, Settings::default());
            let ids = engine.enqueue_selftest(corp, count, fail).await?;
            println!("{} self-test job(s) queued", ids.len());
            Ok(())
        }
    }
}
