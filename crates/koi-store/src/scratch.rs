//! Throwaway databases for tests and benchmarks: a SQLite file in a temp
//! folder, or a fresh PostgreSQL database that is dropped again afterwards.

use crate::{Db, Result, StoreError};
use sqlx::Connection;

/// The PostgreSQL server tests use; `KOI_TEST_POSTGRES` overrides it.
pub fn postgres_server() -> String {
    std::env::var("KOI_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database that exists as long as this value does.
pub struct ScratchDb {
    pub url: String,
    pub db: Db,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Postgres { server: String, name: String },
}

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("koi_test_{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

impl ScratchDb {
    pub async fn sqlite() -> Result<ScratchDb> {
        ScratchDb::sqlite_through(i64::MAX).await
    }

    /// A SQLite database migrated only up to `version`.
    pub async fn sqlite_through(version: i64) -> Result<ScratchDb> {
        let dir = std::env::temp_dir().join(unique_name());
        let url = format!("sqlite://{}/koi.db", dir.display());
        let db = Db::open(&url).await?;
        db.migrate_through(version).await?;
        Ok(ScratchDb { url, db, cleanup: Cleanup::Dir(dir) })
    }

    pub async fn postgres() -> Result<ScratchDb> {
        ScratchDb::postgres_through(i64::MAX).await
    }

    /// A PostgreSQL database migrated only up to `version`.
    pub async fn postgres_through(version: i64) -> Result<ScratchDb> {
        let server = postgres_server();
        let name = unique_name();
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.map_err(|e| {
            StoreError::BadUrl(format!(
                "PostgreSQL at {server} is not reachable ({e}); start it or set KOI_TEST_POSTGRES"
            ))
        })?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        admin.close().await?;
        let url = format!("{server}/{name}");
        let db = Db::open(&url).await?;
        db.migrate_through(version).await?;
        Ok(ScratchDb { url, db, cleanup: Cleanup::Postgres { server, name } })
    }

    /// Opens the same kind of database as `backend` names: `sqlite` or `postgres`.
    pub async fn of(backend: &str) -> Result<ScratchDb> {
        match backend {
            "postgres" => ScratchDb::postgres().await,
            _ => ScratchDb::sqlite().await,
        }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server, name } => {
                // Drop runs inside async tests; a side thread with its own
                // runtime can block on the DROP without stalling the caller's.
                let (server, name) = (server.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await {
                                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                    .execute(&mut c)
                                    .await;
                            }
                        });
                    }
                })
                .join();
            }
        }
    }
}
