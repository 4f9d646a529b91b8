//! `koi migrate`: apply the database migrations and exit.

use crate::database::{redact, DbArgs};
use anyhow::{Context, Result};
use koi_store::Db;

pub(crate) async fn run(db: DbArgs) -> Result<()> {
    let url = db.url();
    let handle = Db::open(&url).await.with_context(|| format!("cannot open {}", redact(&url)))?;
    let ran = handle.migrate().await?;
    println!("{ran} migration(s) applied to {}", redact(&url));
    // Corp secrets from before sealing are sealed now too.
    drop(handle);
    db.open().await?;
    Ok(())
}
