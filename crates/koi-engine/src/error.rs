use koi_domain::import::RowError;
use koi_domain::ValidationError;
use koi_store::StoreError;
use thiserror::Error;

/// Everything a use case can refuse or fail with. The web layer maps each
/// variant once to an HTTP status and a stable `code`.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("sign in first")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("your role may not do this")]
    Forbidden,
    #[error("too many failed sign-ins; try again in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: i64 },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("the import has {} bad row(s); nothing was imported", .0.len())]
    ImportRejected(Vec<RowError>),
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error("no corp has WeCom CorpID {0}")]
    UnknownCorp(String),
    /// A callback that failed verification, decryption or parsing.
    #[error("{message}")]
    BadCallback { code: &'static str, message: String },
    /// A signed post (an order webhook) whose signature does not verify or
    /// whose timestamp is outside the window: nothing was done.
    #[error("{message}")]
    BadSignature { code: &'static str, message: String },
    /// A part of this node cannot take work now; the caller may retry.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A segment expression that does not parse or names what does not exist.
    #[error(transparent)]
    BadExpression(#[from] koi_domain::segment::ParseError),
    /// WeCom refused a change koi asked for (a duplicate tag name, a tag
    /// another app made); nothing was changed.
    #[error("WeCom refused: {0}")]
    WecomRefused(String),
    #[error(transparent)]
    Store(StoreError),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Unauthenticated => "unauthenticated",
            EngineError::BadCredentials => "bad_credentials",
            EngineError::Forbidden => "forbidden",
            EngineError::TooManyAttempts { .. } => "too_many_attempts",
            EngineError::NotFound(_) => "not_found",
            EngineError::Invalid(_) => "invalid_input",
            EngineError::ImportRejected(_) => "import_rejected",
            EngineError::Conflict { what } => match *what {
                "store_code" => "duplicate_store_code",
                "staff_userid" => "duplicate_staff_userid",
                "username" => "duplicate_username",
                "corp_id" => "duplicate_corp_id",
                "field_name" => "duplicate_field",
                "integration_name" => "duplicate_integration_name",
                "a redemption of this coupon" => "already_redeemed",
                "a review of this order" => "already_reviewed",
                _ => "conflict",
            },
            EngineError::UnknownCorp(_) => "unknown_corp",
            EngineError::BadCallback { code, .. } => code,
            EngineError::BadSignature { code, .. } => code,
            EngineError::Unavailable(_) => "unavailable",
            EngineError::BadExpression(_) => "invalid_expression",
            EngineError::WecomRefused(_) => "wecom_refused",
            EngineError::Store(_) => "internal",
        }
    }
}

impl EngineError {
    /// WeCom's answer to a change made from the console or the API (a tag,
    /// a join way): a final refusal is `wecom_refused`, and nothing was
    /// changed; anything else (busy, rate-limited, the network) may work later.
    pub(crate) fn of_wecom_change(e: koi_wecom::client::ApiError) -> Self {
        if e.is_final() {
            EngineError::WecomRefused(e.to_string())
        } else {
            EngineError::Unavailable(format!("WeCom: {e}"))
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => EngineError::Conflict { what },
            other => EngineError::Store(other),
        }
    }
}
