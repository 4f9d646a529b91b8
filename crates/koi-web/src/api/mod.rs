//! `/api/v1`: JSON for integrations, authenticated by API keys, described by
//! the OpenAPI document at `/api/v1/openapi.json`. Routes and their
//! documentation are registered together, so the document cannot drift.

pub(crate) mod campaigns;
mod channel_codes;
mod coupons;
mod customers;
mod distribution;
mod fields;
mod group_assistant;
pub(crate) mod group_codes;
mod group_pulls;
mod groups;
mod handovers;
mod jobs;
mod mass_sends;
mod material_files;
mod me;
mod orders;
mod pay;
pub(crate) mod posters;
mod products;
mod reviews;
pub(crate) mod segments;
mod sops;
mod staff;
mod stores;
mod tags;

use crate::error::WebError;
use crate::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
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
        .routes(routes!(staff::sync))
        .routes(routes!(channel_codes::list, channel_codes::create))
        .routes(routes!(channel_codes::get_one, channel_codes::update, channel_codes::deactivate))
        .routes(routes!(customers::list))
        .routes(routes!(customers::get_one))
        .routes(routes!(customers::profile))
        .routes(routes!(customers::link, customers::revoke_link))
        .routes(routes!(customers::tag))
        .routes(routes!(customers::set_fields))
        .routes(routes!(customers::report))
        .routes(routes!(tags::list, tags::create))
        .routes(routes!(tags::rename, tags::delete))
        .routes(routes!(tags::sync))
        .routes(routes!(tags::bulk))
        .routes(routes!(tags::rules, tags::create_rule))
        .routes(routes!(tags::update_rule, tags::delete_rule))
        .routes(routes!(fields::list, fields::create))
        .routes(routes!(fields::delete))
        .routes(routes!(fields::rules, fields::set_rules))
        .routes(routes!(segments::evaluate))
        .routes(routes!(segments::list, segments::create))
        .routes(routes!(segments::get_one, segments::update, segments::delete))
        .routes(routes!(segments::export))
        .routes(routes!(groups::list))
        .routes(routes!(groups::metrics))
        .routes(routes!(groups::get_one, groups::update))
        .routes(routes!(groups::sync))
        .routes(routes!(group_codes::list, group_codes::create))
        .routes(routes!(group_codes::get_one, group_codes::update, group_codes::delete))
        .routes(routes!(group_codes::qr_png))
        .routes(routes!(group_codes::poster))
        .routes(routes!(group_pulls::first_order_invite, group_pulls::set_first_order_invite))
        .routes(routes!(group_pulls::list, group_pulls::create))
        .routes(routes!(group_pulls::get_one))
        .routes(routes!(group_pulls::refresh))
        .routes(routes!(mass_sends::list, mass_sends::create))
        .routes(routes!(mass_sends::preview))
        .routes(routes!(mass_sends::get_one))
        .routes(routes!(mass_sends::remind))
        .routes(routes!(mass_sends::refresh))
        .routes(routes!(mass_sends::cancel))
        .routes(routes!(mass_sends::settle_task))
        .routes(routes!(mass_sends::resend_task))
        .routes(routes!(mass_sends::fatigue_cap, mass_sends::set_fatigue_cap))
        .routes(routes!(mass_sends::moments, mass_sends::create_moment))
        .routes(routes!(mass_sends::moment))
        .routes(routes!(mass_sends::refresh_moment))
        .routes(routes!(handovers::list, handovers::create))
        .routes(routes!(handovers::preview))
        .routes(routes!(handovers::get_one))
        .routes(routes!(handovers::refresh))
        .routes(routes!(handovers::loss_report))
        .routes(routes!(handovers::recipients))
        .routes(routes!(handovers::set_recipients))
        .routes(routes!(handovers::send_summaries))
        .routes(routes!(group_assistant::rules, group_assistant::create_rule))
        .routes(routes!(group_assistant::rule, group_assistant::update_rule, group_assistant::delete_rule))
        .routes(routes!(group_assistant::settings, group_assistant::save_settings))
        .routes(routes!(group_assistant::read_feed))
        .routes(routes!(group_assistant::replies))
        .routes(routes!(group_assistant::alerts))
        .routes(routes!(group_assistant::welcomes, group_assistant::create_welcome))
        .routes(routes!(group_assistant::welcome, group_assistant::update_welcome, group_assistant::delete_welcome))
        .routes(routes!(campaigns::list, campaigns::create))
        .routes(routes!(campaigns::get_one, campaigns::update))
        .routes(routes!(campaigns::transition))
        .routes(routes!(campaigns::dashboard))
        .routes(routes!(campaigns::migration))
        .routes(routes!(campaigns::invites))
        .routes(routes!(campaigns::invites_csv))
        .routes(routes!(campaigns::override_invite))
        .routes(routes!(campaigns::participants, campaigns::enroll))
        .routes(routes!(campaigns::rewards))
        .routes(routes!(campaigns::retry_reward))
        .routes(routes!(campaigns::redeem))
        .routes(routes!(orders::list, orders::create))
        .routes(routes!(orders::get_one))
        .routes(routes!(orders::refund))
        .routes(routes!(reviews::get_one, reviews::create))
        .routes(routes!(orders::import))
        .routes(routes!(orders::report))
        .routes(routes!(orders::attribution, orders::set_attribution))
        .routes(routes!(orders::integrations, orders::create_integration))
        .routes(routes!(orders::update_integration, orders::delete_integration))
        .routes(routes!(coupons::templates, coupons::create_template))
        .routes(routes!(coupons::template, coupons::update_template, coupons::archive_template))
        .routes(routes!(coupons::issue))
        .routes(routes!(coupons::issues))
        .routes(routes!(coupons::issue_one))
        .routes(routes!(coupons::list))
        .routes(routes!(coupons::check))
        .routes(routes!(coupons::redeem))
        .routes(routes!(coupons::revoke))
        .routes(routes!(coupons::points_rules, coupons::set_points_rules))
        .routes(routes!(coupons::ledger))
        .routes(routes!(coupons::account, coupons::adjust))
        .routes(routes!(coupons::items, coupons::create_item))
        .routes(routes!(coupons::update_item))
        .routes(routes!(coupons::exchanges))
        .routes(routes!(pay::get_settings, pay::put_settings))
        .routes(routes!(products::list, products::create))
        .routes(routes!(products::get_one, products::update))
        .routes(routes!(products::checkouts))
        .routes(routes!(products::checkout))
        .routes(routes!(products::refund))
        .routes(routes!(distribution::get_settings, distribution::put_settings))
        .routes(routes!(distribution::distributors, distribution::opt_in))
        .routes(routes!(distribution::distributor, distribution::patch_distributor))
        .routes(routes!(distribution::commissions))
        .routes(routes!(distribution::report_order))
        .routes(routes!(distribution::report_refund))
        .routes(routes!(distribution::run_payouts))
        .routes(routes!(distribution::batches))
        .routes(routes!(distribution::payouts))
        .routes(routes!(distribution::payout))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::retry))
        .merge(posters::router())
        .merge(sops::router())
        .merge(material_files::router())
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
        .layer(axum::middleware::map_response(crate::error::json_errors))
}

/// `Json<T>` whose rejection is koi's error envelope: `malformed_json`, or
/// 413 `payload_too_large` for a body over the limit.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(WebError::PayloadTooLarge(rejection.body_text()))
            }
            Err(rejection) => Err(WebError::bad_request("malformed_json", rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn an_oversized_body_is_413_payload_too_large() {
        let echo = |ApiJson(v): ApiJson<serde_json::Value>| async move { Json(v) };
        let app =
            Router::new().route("/echo", axum::routing::post(echo)).layer(axum::extract::DefaultBodyLimit::max(64));
        let answer = |body: String| {
            let app = app.clone();
            async move {
                let req = Request::post("/echo")
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body))
                    .expect("a request");
                let res = app.oneshot(req).await.expect("an answer");
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.expect("a body");
                let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
                (status.as_u16(), v["error"]["code"].as_str().map(str::to_string))
            }
        };
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        assert_eq!(answer(big).await, (413, Some("payload_too_large".into())));
        assert_eq!(answer("{\"a\": ".into()).await, (400, Some("malformed_json".into())));
        assert_eq!(answer("{\"a\":1}".into()).await, (200, None));
    }
}
