use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique key already holds this value; `what` names the key for the
    /// caller's error message (`store_code`, `username`, …).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration {version}: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("bad database url: {0}")]
    BadUrl(String),
    /// A stored value (a JSON column) that is not what koi wrote there.
    #[error("{what} of row {id} does not decode: {message}")]
    Undecodable { what: &'static str, id: i64, message: String },
    /// A corp secret that the master key in use cannot open.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

impl StoreError {
    /// Turns a unique violation into [`StoreError::Conflict`] so callers can
    /// answer 409 without parsing backend-specific messages.
    pub(crate) fn conflict_on(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match e.as_database_error() {
            Some(d) if d.is_unique_violation() => StoreError::Conflict { what },
            _ => StoreError::Database(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}
