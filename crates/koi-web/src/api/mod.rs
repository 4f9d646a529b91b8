//! `/api/v1`: JSON for integrations, authenticated by API keys, described by
//! the OpenAPI document at `/api/v1/openapi.json`. Routes and their
//! documentation are registered together, so the document cannot drift.

mod jobs;
mod me;
mod staff;
mod stores;

use crate::error::WebError;
use crate::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "koi API", description = "koi's REST API. Authenticate with `Authorization: Bearer koi_…` (API keys are created in the console by an owner). Errors are `{\"error\":{\"code\",\"message\"}}`; `code` is stable."),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("koi_…").build()),
        );
    }
}

/// The error envelope every failing call returns.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `invalid_input`, `duplicate_store_code`.
    pub code: String,
    pub message: String,
    /// For `invalid_input`: the offending fields.
    #[schema(value_type = Option<Vec<koi_domain::FieldError>>)]
    pub fields: Option<serde_json::Value>,
    /// For `import_rejected`: the offending rows.
    #[schema(value_type = Option<Vec<koi_domain::import::RowError>>)]
    pub rows: Option<serde_json::Value>,
}

fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me::me))
        .routes(routes!(stores::list, stores::create))
        .routes(routes!(stores::get_one, stores::update))
        .routes(routes!(stores::import))
        .routes(routes!(staff::list, staff::create))
        .routes(routes!(staff::get_one, staff::update))
        .routes(routes!(staff::import))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::retry))
        .split_for_parts()
}

/// The OpenAPI document, as served (also written by `koi openapi`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = parts().1;
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    doc
}

pub fn router() -> Router<AppState> {
    let doc = openapi_document();
    parts()
        .0
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .fallback(|| async { WebError::NotFound })
        .layer(axum::middleware::map_response(json_errors))
}

/// Rejections made by axum itself (a bad path parameter, a wrong method, an
/// oversized body) come as plain text; API clients get the JSON envelope.
async fn json_errors(res: Response) -> Response {
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

/// `Json<T>` whose rejection is koi's error envelope with `malformed_json`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(WebError::bad_request("malformed_json", rejection.body_text())),
        }
    }
}
