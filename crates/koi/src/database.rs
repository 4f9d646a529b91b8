//! Where the admin commands find the database: `--database-url`, or SQLite
//! in `--data-dir`.

use anyhow::{Context, Result};
use clap::Args;
use koi_store::Db;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub(crate) struct DbArgs {
    /// postgres://… or sqlite://PATH. Default: SQLite in --data-dir.
    #[arg(long, env = "KOI_DATABASE_URL")]
    database_url: Option<String>,
    /// Where the embedded SQLite database lives.
    #[arg(long, env = "KOI_DATA_DIR", default_value = "./koi-data")]
    data_dir: PathBuf,
}

impl DbArgs {
    pub(crate) fn url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("koi.db").display()))
    }

    /// Opens the database and brings its schema up to date.
    pub(crate) async fn open(&self) -> Result<Db> {
        let url = self.url();
        let db = Db::open(&url).await.with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        db.migrate().await.context("migrating the database")?;
        Ok(db)
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}
