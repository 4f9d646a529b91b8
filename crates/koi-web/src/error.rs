//! One error type for the web layer, mapped once to a status and a stable
//! code. API callers get `{"error":{"code","message"}}`; the console renders
//! the same error as a page (see `console::error_page`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use koi_engine::EngineError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("the CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("no such page or resource")]
    NotFound,
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        WebError::BadRequest { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Engine(e) => match e {
                EngineError::Unauthenticated | EngineError::BadCredentials => StatusCode::UNAUTHORIZED,
                EngineError::Forbidden => StatusCode::FORBIDDEN,
                EngineError::NotFound(_) => StatusCode::NOT_FOUND,
                EngineError::Invalid(_) | EngineError::ImportRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                EngineError::Conflict { .. } => StatusCode::CONFLICT,
                EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WebError::Engine(e) => e.code(),
            WebError::BadRequest { code, .. } => code,
            WebError::Csrf => "csrf_failed",
            WebError::NotFound => "not_found",
            WebError::Internal(_) => "internal",
        }
    }

    /// What a client may see. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            WebError::Engine(EngineError::Store(_)) | WebError::Internal(_) => {
                "something went wrong on our side; it has been logged".into()
            }
            other => other.to_string(),
        }
    }

    /// Logs the error once, at a level that matches whose fault it is.
    pub fn log(&self) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::warn!(code = self.code(), status = status.as_u16(), error = %self, "request refused");
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut err = json!({ "code": self.code(), "message": self.public_message() });
        match self {
            WebError::Engine(EngineError::Invalid(v)) => err["fields"] = json!(v.0),
            WebError::Engine(EngineError::ImportRejected(rows)) => err["rows"] = json!(rows),
            _ => {}
        }
        json!({ "error": err })
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log();
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<koi_store::StoreError> for WebError {
    fn from(e: koi_store::StoreError) -> Self {
        WebError::Engine(e.into())
    }
}
