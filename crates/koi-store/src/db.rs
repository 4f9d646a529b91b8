//! Connections, transactions and migrations for both backends.
//!
//! SQLite runs with one writer connection (WAL lets readers go on beside it),
//! so writes never fight over the file lock; PostgreSQL gets one pool.
//! Queries are written once and expanded for each backend by the `on_*`
//! macros, which keeps dialect branches out of the query functions.

use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Pools {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pub(crate) pools: Pools,
    /// Seals corp secrets at rest; `None` keeps them as plain text (tests,
    /// benchmarks). Every `koi` command that opens a database sets one.
    pub(crate) master_key: Option<std::sync::Arc<crate::secrets::MasterKey>>,
}

/// A write transaction. Domain writes and the jobs and events they cause go
/// through one `Tx`, so they commit or vanish together.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$c` bound to the backend's pool (the writer for SQLite
/// when `write`, a reader otherwise).
macro_rules! on_pool {
    ($db:expr, $write:expr, |$c:ident| $body:expr) => {
        match &$db.pools {
            $crate::db::Pools::Sqlite { write, read } => {
                let $c = if $write { write } else { read };
                $body
            }
            $crate::db::Pools::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

pub(crate) use {on_pool, on_tx};

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_foundation.sql")),
    (2, include_str!("../migrations/sqlite/0002_wecom_inbox.sql")),
    (3, include_str!("../migrations/sqlite/0003_acquisition.sql")),
    (4, include_str!("../migrations/sqlite/0004_customers.sql")),
    (5, include_str!("../migrations/sqlite/0005_public_tokens.sql")),
    (6, include_str!("../migrations/sqlite/0006_login_limits.sql")),
    (7, include_str!("../migrations/sqlite/0007_customer_search.sql")),
    (8, include_str!("../migrations/sqlite/0008_groups.sql")),
    (9, include_str!("../migrations/sqlite/0009_group_messages.sql")),
    (10, include_str!("../migrations/sqlite/0010_group_codes.sql")),
    (11, include_str!("../migrations/sqlite/0011_group_metrics.sql")),
    (12, include_str!("../migrations/sqlite/0012_group_assistant.sql")),
    (13, include_str!("../migrations/sqlite/0013_campaigns.sql")),
    (14, include_str!("../migrations/sqlite/0014_posters.sql")),
    (15, include_str!("../migrations/sqlite/0015_pay.sql")),
    (16, include_str!("../migrations/sqlite/0016_group_pulls.sql")),
    (17, include_str!("../migrations/sqlite/0017_customer_links.sql")),
    (18, include_str!("../migrations/sqlite/0018_orders.sql")),
    (19, include_str!("../migrations/sqlite/0019_coupons.sql")),
    (20, include_str!("../migrations/sqlite/0020_checkout.sql")),
    (21, include_str!("../migrations/sqlite/0021_distribution.sql")),
    (22, include_str!("../migrations/sqlite/0022_mass_messages.sql")),
    (23, include_str!("../migrations/sqlite/0023_sop.sql")),
    (24, include_str!("../migrations/sqlite/0024_handover.sql")),
    (25, include_str!("../migrations/sqlite/0025_group_sends.sql")),
    (26, include_str!("../migrations/sqlite/0026_material_files.sql")),
    (27, include_str!("../migrations/sqlite/0027_order_campaigns.sql")),
    (28, include_str!("../migrations/sqlite/0028_loyalty.sql")),
    (29, include_str!("../migrations/sqlite/0029_campaign_migration.sql")),
    (31, include_str!("../migrations/sqlite/0031_distribution_schedule.sql")),
    (32, include_str!("../migrations/sqlite/0032_mass_send_chunks.sql")),
    (33, include_str!("../migrations/sqlite/0033_invite_graph.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_foundation.sql")),
    (2, include_str!("../migrations/postgres/0002_wecom_inbox.sql")),
    (3, include_str!("../migrations/postgres/0003_acquisition.sql")),
    (4, include_str!("../migrations/postgres/0004_customers.sql")),
    (5, include_str!("../migrations/postgres/0005_public_tokens.sql")),
    (6, include_str!("../migrations/postgres/0006_login_limits.sql")),
    (7, include_str!("../migrations/postgres/0007_customer_search.sql")),
    (8, include_str!("../migrations/postgres/0008_groups.sql")),
    (9, include_str!("../migrations/postgres/0009_group_messages.sql")),
    (10, include_str!("../migrations/postgres/0010_group_codes.sql")),
    (11, include_str!("../migrations/postgres/0011_group_metrics.sql")),
    (12, include_str!("../migrations/postgres/0012_group_assistant.sql")),
    (13, include_str!("../migrations/postgres/0013_campaigns.sql")),
    (14, include_str!("../migrations/postgres/0014_posters.sql")),
    (15, include_str!("../migrations/postgres/0015_pay.sql")),
    (16, include_str!("../migrations/postgres/0016_group_pulls.sql")),
    (17, include_str!("../migrations/postgres/0017_customer_links.sql")),
    (18, include_str!("../migrations/postgres/0018_orders.sql")),
    (19, include_str!("../migrations/postgres/0019_coupons.sql")),
    (20, include_str!("../migrations/postgres/0020_checkout.sql")),
    (21, include_str!("../migrations/postgres/0021_distribution.sql")),
    (22, include_str!("../migrations/postgres/0022_mass_messages.sql")),
    (23, include_str!("../migrations/postgres/0023_sop.sql")),
    (24, include_str!("../migrations/postgres/0024_handover.sql")),
    (25, include_str!("../migrations/postgres/0025_group_sends.sql")),
    (26, include_str!("../migrations/postgres/0026_material_files.sql")),
    (27, include_str!("../migrations/postgres/0027_order_campaigns.sql")),
    (28, include_str!("../migrations/postgres/0028_loyalty.sql")),
    (29, include_str!("../migrations/postgres/0029_campaign_migration.sql")),
    (31, include_str!("../migrations/postgres/0031_distribution_schedule.sql")),
    (32, include_str!("../migrations/postgres/0032_mass_send_chunks.sql")),
    (33, include_str!("../migrations/postgres/0033_invite_graph.sql")),
];

impl Db {
    /// Opens `url` (`sqlite://path`, `postgres://…`). A SQLite file and its
    /// folder are created when missing. Does not migrate: call [`Db::migrate`].
    pub async fn open(url: &str) -> Result<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(e.to_string()))?
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            return Ok(Db { pools: Pools::Postgres(pool), master_key: None });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::BadUrl(format!("{url}: expected sqlite://PATH or postgres://…")))?;
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::BadUrl(format!("{}: {e}", dir.display())))?;
            }
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a killed process; only an OS crash
            // can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Checkpoints (copying the WAL into the database file, with an fsync)
        // run beside the writer instead of inside whichever commit crosses
        // the WAL threshold, so no acknowledgement waits for one.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(opts.clone().read_only(true)).await?;
        let checkpointer = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                if checkpointer.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&checkpointer).await {
                    if checkpointer.is_closed() {
                        break;
                    }
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        });
        Ok(Db { pools: Pools::Sqlite { write, read }, master_key: None })
    }

    /// This handle with corp secrets sealed under `key`.
    pub fn with_master_key(mut self, key: crate::secrets::MasterKey) -> Db {
        self.master_key = Some(std::sync::Arc::new(key));
        self
    }

    pub fn master_key(&self) -> Option<&crate::secrets::MasterKey> {
        self.master_key.as_deref()
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations this database has not seen yet, each in its own
    /// transaction. Returns how many ran. Safe to call on every start.
    pub async fn migrate(&self) -> Result<usize> {
        self.migrate_through(i64::MAX).await
    }

    /// Applies the migrations up to and including `last`: how a test sets up
    /// the data a later migration must carry over (a backfill).
    pub async fn migrate_through(&self, last: i64) -> Result<usize> {
        let (create, list) = match self.backend() {
            Backend::Sqlite => (
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                SQLITE_MIGRATIONS,
            ),
            Backend::Postgres => (
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                POSTGRES_MIGRATIONS,
            ),
        };
        let mut ran = 0;
        for (version, sql) in list.iter().filter(|(v, _)| *v <= last) {
            let mut tx = self.begin().await?;
            // Nodes starting at once: the first takes the lock and migrates;
            // the others wait, then find each version recorded.
            if let Tx::Postgres(t) = &mut tx {
                sqlx::query("SELECT pg_advisory_xact_lock(7355608)").execute(&mut **t).await?;
            }
            on_tx!(&mut tx, |c| sqlx::query(create).execute(&mut *c).await.map(|r| r.rows_affected()))?;
            let done: Option<i64> = on_tx!(&mut tx, |c| {
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *c)
                    .await
            })?;
            if done.is_some() {
                continue;
            }
            let migration = |source| StoreError::Migration { version: *version, source };
            on_tx!(&mut tx, |c| sqlx::raw_sql(sql).execute(&mut *c).await.map(|r| r.rows_affected()))
                .map_err(migration)?;
            on_tx!(&mut tx, |c| {
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
            tx.commit().await?;
            tracing::info!(version, "migration applied");
            ran += 1;
        }
        Ok(ran)
    }

    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pools {
            // IMMEDIATE takes the write lock up front: a transaction that reads
            // then writes cannot fail half-way because another process (the
            // CLI beside a running server) wrote the file in between.
            Pools::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, false, |c| sqlx::query("SELECT 1").execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Wall-clock milliseconds; the store stamps rows with it where callers do not.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
