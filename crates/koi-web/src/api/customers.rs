use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use koi_engine::acquisition::Customer;
use koi_engine::customers::{BehaviourOutcome, CustomerLink, CustomerProfileView};
use koi_engine::reports::CustomerFilter;

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct CustomerQuery {
    /// Customers who came through this channel code.
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    /// Customers of this guide.
    pub staff_id: Option<i64>,
    /// `true` returning customers only, `false` new ones only.
    pub returning: Option<bool>,
    /// Only customers with a lost follow (流失).
    #[serde(default)]
    pub lost: bool,
    /// Text in the name, a guide's remark or phone (case-insensitive), or
    /// the exact `external_userid`.
    pub q: Option<String>,
    /// Only customers carrying this WeCom tag (`et…`).
    pub tag_id: Option<String>,
    /// Only customers at this lifecycle stage: `new`, `stored`, `active`,
    /// `converted` or `super` (422 `invalid_input` otherwise).
    pub stage: Option<String>,
    /// Page number from 0.
    pub page: Option<i64>,
    /// At most 200; default 100.
    pub limit: Option<i64>,
}

/// The corp's customers, newest first, with their follows and attribution,
/// filtered like the console's customer list. The `X-Total-Count` header
/// says how many match over all pages.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = Vec<Customer>,
        headers(("X-Total-Count" = i64, description = "Customers matching the filters, over all pages"))),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Query(q): Query<CustomerQuery>,
) -> Result<([(&'static str, String); 1], Json<Vec<Customer>>), WebError> {
    let filter = CustomerFilter {
        code_id: q.code_id,
        store_id: q.store_id,
        staff_id: q.staff_id,
        returning: q.returning,
        lost: q.lost,
        search: q.q,
        tag_id: q.tag_id,
        stage: q.stage,
    };
    let page = state.engine.customer_page(&who, filter, q.page.unwrap_or(0), q.limit.unwrap_or(100)).await?;
    Ok(([("x-total-count", page.total.to_string())], Json(page.customers)))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<Customer>, WebError> {
    Ok(Json(state.engine.customer(&who, id).await?))
}

/// One customer's profile (客户画像): identity and follows, tags with their
/// cause, lifecycle stage, RFM, influence, behaviour counters, custom fields
/// and the timeline, newest first.
#[utoipa::path(get, path = "/customers/{id}/profile", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerProfileView), (status = 404, body = ErrorBody)))]
pub async fn profile(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CustomerProfileView>, WebError> {
    Ok(Json(state.engine.customer_profile(&who, id).await?))
}

/// The customer's own link to koi's H5 pages (wallet, checkout, earnings):
/// a token made on first ask, the same until revoked. Pages take it as
/// `?k={token}`.
#[utoipa::path(get, path = "/customers/{id}/link", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerLink), (status = 404, body = ErrorBody)))]
pub async fn link(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CustomerLink>, WebError> {
    Ok(Json(state.engine.customer_link(&who, id).await?))
}

/// Revokes the customer's link (it was forwarded): the old token stops
/// working; the next `GET …/link` makes a new one.
#[utoipa::path(delete, path = "/customers/{id}/link", tag = "customers", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_link(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
) -> Result<axum::http::StatusCode, WebError> {
    state.engine.revoke_customer_link(&who, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct TagChange {
    /// WeCom tag ids (`et…`) to add.
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TagChangeOutcome {
    /// What actually changed (tags already there, or already absent, are not repeated).
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Tags or untags a customer by hand; the change lands on the timeline and
/// is pushed to WeCom (`mark_tag`) for every guide the customer follows.
#[utoipa::path(post, path = "/customers/{id}/tags", tag = "customers", params(("id" = i64, Path)), request_body = TagChange,
    responses((status = 200, body = TagChangeOutcome), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tag(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(t): ApiJson<TagChange>,
) -> Result<Json<TagChangeOutcome>, WebError> {
    let (added, removed) = state.engine.tag_customer(&who, id, &t.add, &t.remove).await?;
    Ok(Json(TagChangeOutcome { added, removed }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct FieldValues {
    /// Field name → value (`null` clears it).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, Option<String>>,
    /// Home `[lat, lng]` (`null` clears it); omit to leave it.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<Vec<f64>>)]
    pub home: Option<Option<(f64, f64)>>,
}

/// Lets `"home": null` mean "clear" while a missing `home` means "leave".
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<(f64, f64)>>, D::Error> {
    serde::Deserialize::deserialize(d).map(Some)
}

/// Sets custom fields (and the home location) of a customer; every value is
/// checked against its field's definition, all errors at once.
#[utoipa::path(put, path = "/customers/{id}/fields", tag = "customers", params(("id" = i64, Path)), request_body = FieldValues,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_fields(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(v): ApiJson<FieldValues>,
) -> Result<axum::http::StatusCode, WebError> {
    state.engine.set_customer_fields(&who, id, &v.fields, v.home).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BehaviourReport {
    /// `{"kind":"order_placed","amount_fen":19900}`, `{"kind":"group_joined","group_kind":"vip"}`,
    /// `{"kind":"poll_answered","poll":"p1","answer":"A"}`, `{"kind":"material_opened","material":"m1"}`,
    /// `{"kind":"campaign_joined","campaign":"c1"}`, `{"kind":"message_replied"}`,
    /// `{"kind":"shared","what":"poster"}`, `{"kind":"friend_brought"}`, `{"kind":"order_refunded","amount_fen":100}`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub behaviour: koi_domain::customer::Behaviour,
    /// When it happened (ms); default now.
    pub occurred_at: Option<i64>,
    /// Your id for it (order number…): the same `ref` twice counts once.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

/// Reports a customer's behaviour (an order from the shop or POS, a group
/// join, a poll answer…): counters, lifecycle stage, RFM and influence are
/// recomputed and the tag rules fire, in one transaction.
#[utoipa::path(post, path = "/customers/{id}/events", tag = "customers", params(("id" = i64, Path)), request_body = BehaviourReport,
    responses((status = 200, body = BehaviourOutcome), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(r): ApiJson<BehaviourReport>,
) -> Result<Json<BehaviourOutcome>, WebError> {
    let out = state.engine.record_behaviour(&who, id, &r.behaviour, r.occurred_at, r.reference.as_deref()).await?;
    Ok(Json(out))
}
