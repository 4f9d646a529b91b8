//! One error type for the web layer, mapped once to a status and a stable
//! code. API callers get `{"error":{"code","message"}}`; the console renders
//! the same error as a page (see `console::error_page`).

use axum::http::{header, StatusCode};
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
    /// A body over the limit: 413 `payload_too_large`, as axum's own
    /// rejection and the callback endpoint answer.
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("the CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("no such page or resource")]
    NotFound,
    #[error("too many requests; try again in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
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
                EngineError::Unauthenticated | EngineError::BadCredentials | EngineError::BadSignature { .. } => {
                    StatusCode::UNAUTHORIZED
                }
                EngineError::Forbidden => StatusCode::FORBIDDEN,
                EngineError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
                EngineError::NotFound(_) | EngineError::UnknownCorp(_) => StatusCode::NOT_FOUND,
                EngineError::BadCallback { .. } => StatusCode::BAD_REQUEST,
                EngineError::Invalid(_) | EngineError::ImportRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
                EngineError::Conflict { .. } => StatusCode::CONFLICT,
                EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                EngineError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                EngineError::BadExpression(_) => StatusCode::UNPROCESSABLE_ENTITY,
                EngineError::WecomRefused(_) => StatusCode::BAD_GATEWAY,
            },
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            WebError::Engine(e) => e.code(),
            WebError::BadRequest { code, .. } => code,
            WebError::PayloadTooLarge(_) => "payload_too_large",
            WebError::Csrf => "csrf_failed",
            WebError::NotFound => "not_found",
            WebError::RateLimited { .. } => "rate_limited",
            WebError::Internal(_) => "internal",
        }
    }

    /// What a client may see. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            WebError::Engine(EngineError::Store(_) | EngineError::Unavailable(_)) | WebError::Internal(_) => {
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
            WebError::Engine(EngineError::BadExpression(e)) => {
                err["expression"] = json!({ "reason": e.code, "offset": e.offset, "token": e.token })
            }
            _ => {}
        }
        json!({ "error": err })
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log();
        let mut res = (self.status(), Json(self.body())).into_response();
        if let WebError::RateLimited { retry_after_s } = self {
            res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after_s));
        }
        res
    }
}

/// Rejections made by axum itself (a bad path parameter, a wrong method, an
/// oversized body) come as plain text; API clients get the JSON envelope.
pub async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let text = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = String::from_utf8_lossy(&text).trim().to_string();
    tracing::warn!(code, status = status.as_u16(), %message, "request refused");
    (status, Json(serde_json::json!({ "error": { "code": code, "message": message } }))).into_response()
}
