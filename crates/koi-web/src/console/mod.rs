//! `/console`: the operators' web console, server-rendered from compiled
//! templates, zh-CN by default with an English switch, usable on a phone.
//! Each resource has its own module; this one holds the page chrome.

mod api_keys;
mod campaigns;
mod channel_codes;
mod coupon_edit;
mod coupons;
mod customers;
pub(crate) mod distribution;
mod fields;
mod group_assistant;
mod group_codes;
mod group_pulls;
mod groups;
mod handovers;
mod home;
mod jobs;
mod login;
pub(crate) mod mass_sends;
mod material_files;
pub(crate) mod orders;
mod posters;
mod products;
mod profile;
mod segments;
mod settings;
mod sop_report;
mod sops;
mod staff;
mod stores;
mod tags;
mod users;

use crate::auth::Console;
use crate::error::WebError;
use crate::i18n::Tr;
use crate::AppState;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use koi_domain::access::{Action, Principal};
use koi_domain::FieldError;
use koi_engine::EngineError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/lang", get(login::switch_lang))
        .route("/stores", get(stores::list).post(stores::create))
        .route("/stores/template.csv", get(stores::template))
        .route("/stores/import", post(stores::import))
        .route("/stores/{id}", get(stores::edit).post(stores::update))
        .route("/staff", get(staff::list).post(staff::create))
        .route("/staff/template.csv", get(staff::template))
        .route("/staff/import", post(staff::import))
        .route("/staff/sync", post(staff::sync))
        .route("/staff/{id}", get(staff::edit).post(staff::update))
        .route("/channel-codes", get(channel_codes::list).post(channel_codes::create))
        .route("/channel-codes/{id}", get(channel_codes::show))
        .route("/channel-codes/{id}/qr.svg", get(channel_codes::qr_svg))
        .route("/channel-codes/{id}/qr.png", get(channel_codes::qr_png))
        .route("/channel-codes/{id}/poster", get(channel_codes::poster))
        .route("/channel-codes/{id}/deactivate", post(channel_codes::deactivate))
        .route("/channel-codes/{id}/edit", get(channel_codes::edit).post(channel_codes::update))
        .route("/orders", get(orders::list))
        .route("/orders/import", post(orders::import))
        .route("/orders/template.csv", get(orders::template))
        .route("/orders/{id}", get(orders::show))
        .route("/orders/{id}/refund", post(orders::refund))
        .route("/order-integrations", get(orders::integrations).post(orders::create_integration))
        .route("/order-integrations/{id}", post(orders::change_integration))
        .route("/order-attribution", get(orders::attribution).post(orders::save_attribution))
        .route("/order-report", get(orders::report))
        .route("/customers", get(customers::list))
        .route("/customers/{id}", get(profile::show))
        .route("/customers/{id}/tags", post(profile::tag))
        .route("/customers/{id}/fields", post(profile::set_fields))
        .route("/tags", get(tags::list).post(tags::create))
        .route("/tags/sync", post(tags::sync))
        .route("/tags/bulk", post(tags::bulk))
        .route("/tags/{id}/rename", post(tags::rename))
        .route("/tags/{id}/delete", post(tags::delete))
        .route("/tag-rules", post(tags::create_rule))
        .route("/tag-rules/{id}", get(tags::edit_rule).post(tags::update_rule))
        .route("/tag-rules/{id}/delete", post(tags::delete_rule))
        .route("/segments", get(segments::list).post(segments::create))
        .route("/segments/new", get(segments::new))
        .route("/segments/count", post(segments::count))
        .route("/segments/export.csv", get(segments::export_expr))
        .route("/segments/{id}", get(segments::show).post(segments::update))
        .route("/segments/{id}/delete", post(segments::delete))
        .route("/segments/{id}/export.csv", get(segments::export))
        .route("/groups", get(groups::list))
        .route("/groups/sync", post(groups::sync))
        .route("/groups/{id}", get(groups::show).post(groups::update))
        .route("/group-codes", get(group_codes::list).post(group_codes::create))
        .route("/group-codes/{id}", get(group_codes::show).post(group_codes::update))
        .route("/group-codes/{id}/delete", post(group_codes::delete))
        .route("/group-codes/{id}/qr.png", get(group_codes::qr_png))
        .route("/group-codes/{id}/poster.jpg", get(group_codes::poster_jpg))
        .route("/group-codes/{id}/first-order-invite", post(group_pulls::save_first_order_invite))
        .route("/group-pulls", get(group_pulls::list).post(group_pulls::create))
        .route("/coupons", get(coupons::list))
        .route("/coupons/templates", post(coupons::create_template))
        .route("/coupons/issue", post(coupons::issue))
        .route("/coupons/templates/{id}", get(coupon_edit::edit_template).post(coupon_edit::update_template))
        .route("/coupons/templates/{id}/archive", post(coupon_edit::archive_template))
        .route("/points/items/{id}", get(coupon_edit::edit_item).post(coupon_edit::update_item))
        .route("/points", get(coupons::points))
        .route("/points/rules", post(coupons::save_rules))
        .route("/points/items", post(coupons::create_item))
        .route("/distribution", get(distribution::distributors))
        .route("/distribution/distributors", post(distribution::opt_in))
        .route("/distribution/distributors/{id}/active", post(distribution::toggle))
        .route("/distribution/settings", get(distribution::settings).post(distribution::save_settings))
        .route("/distribution/commissions", get(distribution::commissions))
        .route("/distribution/payouts", get(distribution::payouts))
        .route("/distribution/payouts/run", post(distribution::run_payouts))
        .route("/group-pulls/{id}", get(group_pulls::show))
        .route("/group-pulls/{id}/refresh", post(group_pulls::refresh))
        .route("/mass-sends", get(mass_sends::list).post(mass_sends::create))
        .route("/mass-sends/preview", post(mass_sends::preview))
        .route("/mass-sends/fatigue", post(mass_sends::save_fatigue))
        .route("/mass-sends/{id}", get(mass_sends::show))
        .route("/mass-sends/{id}/remind", post(mass_sends::remind))
        .route("/mass-sends/{id}/refresh", post(mass_sends::refresh))
        .route("/mass-sends/{id}/cancel", post(mass_sends::cancel))
        .route("/mass-sends/{id}/tasks/{task}/settle", post(mass_sends::settle_task))
        .route("/mass-sends/{id}/tasks/{task}/resend", post(mass_sends::resend_task))
        .route("/moments", get(mass_sends::moments).post(mass_sends::create_moment))
        .route("/moments/{id}", get(mass_sends::moment))
        .route("/moments/{id}/refresh", post(mass_sends::refresh_moment))
        .route("/handovers", get(handovers::list).post(handovers::create))
        .route("/handovers/{id}", get(handovers::show))
        .route("/handovers/{id}/refresh", post(handovers::refresh))
        .route("/loss-report", get(handovers::loss_report))
        .route("/loss-report/recipients/{store_id}", post(handovers::save_recipients))
        .route("/group-assistant", get(group_assistant::show))
        .route("/group-assistant/settings", post(group_assistant::save_settings))
        .route("/group-assistant/read-feed", post(group_assistant::read_feed))
        .route("/group-rules", post(group_assistant::create_rule))
        .route("/group-rules/{id}/delete", post(group_assistant::delete_rule))
        .route("/group-welcomes", post(group_assistant::create_welcome))
        .route("/group-welcomes/{id}/delete", post(group_assistant::delete_welcome))
        .route("/poster-templates", get(posters::list).post(posters::create).layer(poster_upload_limit()))
        .route("/poster-templates/{id}", get(posters::edit).post(posters::update).layer(poster_upload_limit()))
        .route("/poster-templates/{id}/preview.jpg", get(posters::preview))
        .route("/poster-templates/{id}/delete", post(posters::delete))
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/new", get(campaigns::new))
        .route("/campaigns/{id}", get(campaigns::show))
        .route("/campaigns/{id}/edit", get(campaigns::edit).post(campaigns::update))
        .route("/campaigns/{id}/transition", post(campaigns::transition))
        .route("/campaigns/{id}/invites.csv", get(campaigns::invites_csv))
        .route("/campaigns/{id}/invites/{invite_id}/override", post(campaigns::override_invite))
        .route("/campaigns/{id}/rewards/{reward_id}/retry", post(campaigns::retry_reward))
        .route("/products", get(products::list).post(products::create))
        .route("/products/{id}", get(products::edit).post(products::update))
        .route("/checkouts", get(products::checkouts))
        .route("/checkouts/{id}/refund", post(products::refund))
        .route("/redeem", get(campaigns::redeem_form).post(campaigns::redeem))
        .route("/sops", get(sops::list).post(sops::create))
        .route("/sops/template", post(sops::enable_template))
        .route("/sops/report", get(sop_report::report))
        .route("/sops/{id}", get(sops::show).post(sops::update))
        .route("/sops/{id}/enabled", post(sops::set_enabled))
        .route("/scripts", get(sops::scripts).post(sops::create_script))
        .route("/scripts/{id}/delete", post(sops::delete_script))
        .route("/materials", get(sops::materials).post(sops::create_material))
        .route("/materials/upload", post(material_files::upload).layer(material_files::upload_limit()))
        .route("/fields", get(fields::show).post(fields::define))
        .route("/fields/rules", post(fields::save_rules))
        .route("/fields/{name}/delete", post(fields::delete))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}/active", post(users::set_active))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/users/{id}/role", post(users::change_role))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/selftest", post(jobs::selftest))
        .route("/settings", get(settings::show).post(settings::save))
        .route("/settings/pay", post(settings::save_pay))
        .fallback(|c: Console| async move { error_page(&c, WebError::NotFound) })
        .layer(axum::middleware::map_response(page_headers))
}

/// Poster backgrounds are the console's largest uploads (5 MiB).
fn poster_upload_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(koi_engine::posters::MAX_BACKGROUND_BYTES + 256 * 1024)
}

/// Console pages hold secrets (a new API key, CSRF tokens) and one-click
/// actions: keep them out of caches and out of other sites' frames, and
/// allow only koi's own scripts and styles.
async fn page_headers(mut res: Response) -> Response {
    use axum::http::{header, HeaderValue};
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    res
}

/// One entry of the side navigation. Modules still to come are listed so
/// operators see where the product is going, but are not links.
pub struct MenuItem {
    pub key: &'static str,
    pub href: &'static str,
    pub ready: bool,
}

fn menu(who: &Principal) -> Vec<MenuItem> {
    let item = |key, href, ready| MenuItem { key, href, ready };
    let mut m = vec![item("home", "/console", true)];
    if who.allows(Action::ViewStores) {
        m.push(item("stores", "/console/stores", true));
    }
    if who.allows(Action::ViewStaff) {
        m.push(item("staff", "/console/staff", true));
    }
    if who.allows(Action::ViewStores) {
        m.push(item("channel_codes", "/console/channel-codes", true));
    }
    if who.allows(Action::ViewCustomers) {
        m.push(item("customers", "/console/customers", true));
    }
    if who.allows(Action::ManageTags) {
        m.push(item("tags", "/console/tags", true));
    }
    if who.allows(Action::ViewCustomers) {
        m.push(item("segments", "/console/segments", true));
    }
    if who.allows(Action::ManageCustomerModel) {
        m.push(item("customer_model", "/console/fields", true));
    }
    if who.allows(Action::ViewGroups) {
        m.push(item("groups", "/console/groups", true));
        m.push(item("group_codes", "/console/group-codes", true));
        m.push(item("group_pulls", "/console/group-pulls", true));
    }
    if who.allows(Action::ManageGroups) {
        m.push(item("group_assistant", "/console/group-assistant", true));
    }
    if who.allows(Action::ViewMassSends) {
        m.push(item("mass_sends", "/console/mass-sends", true));
        m.push(item("moments", "/console/moments", true));
    }
    if who.allows(Action::ManageHandovers) {
        m.push(item("handovers", "/console/handovers", true));
    }
    if who.allows(Action::ViewCustomers) {
        m.push(item("loss_report", "/console/loss-report", true));
    }
    if who.allows(Action::ManagePosters) {
        m.push(item("poster_templates", "/console/poster-templates", true));
    }
    if who.allows(Action::ViewCampaigns) {
        m.push(item("campaigns", "/console/campaigns", true));
    }
    if who.allows(Action::ViewCoupons) {
        m.push(item("coupons", "/console/coupons", true));
        m.push(item("points", "/console/points", true));
    }
    if who.allows(Action::RedeemRewards) {
        m.push(item("redeem", "/console/redeem", true));
    }
    if who.allows(Action::ViewOrders) {
        m.push(item("order_list", "/console/orders", true));
        m.push(item("order_report", "/console/order-report", true));
        m.push(item("order_attribution", "/console/order-attribution", true));
    }
    if who.allows(Action::ManageOrders) {
        m.push(item("order_integrations", "/console/order-integrations", true));
    }
    if who.allows(Action::ViewSops) {
        m.push(item("sops", "/console/sops", true));
        m.push(item("scripts", "/console/scripts", true));
        m.push(item("materials", "/console/materials", true));
    }
    if who.allows(Action::ViewProducts) {
        m.push(item("products", "/console/products", true));
        m.push(item("checkouts", "/console/checkouts", true));
    }
    if who.allows(Action::ViewDistribution) {
        m.push(item("distribution", "/console/distribution", true));
    }
    m.push(item("analytics", "", false));
    if who.allows(Action::ManageUsers) {
        m.push(item("users", "/console/users", true));
    }
    if who.allows(Action::ManageApiKeys) {
        m.push(item("api_keys", "/console/api-keys", true));
    }
    if who.allows(Action::ViewJobs) {
        m.push(item("jobs", "/console/jobs", true));
    }
    if who.allows(Action::EditCorpSettings) {
        m.push(item("settings", "/console/settings", true));
    }
    m
}

/// Everything the layout around a page needs.
pub struct Chrome {
    pub t: Tr,
    pub corp: String,
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: &'static str,
    pub path: String,
    pub flash: Option<&'static str>,
    pub menu: Vec<MenuItem>,
}

impl Chrome {
    pub async fn new(state: &AppState, c: &Console, nav: &'static str) -> Chrome {
        let corp = state.engine.corp_name(c.who()).await.unwrap_or_default();
        Chrome {
            t: Tr(c.lang),
            corp,
            user: c.ctx.user.display_name.clone(),
            role: c.who().role.as_str(),
            csrf: c.ctx.csrf_token.clone(),
            nav,
            path: c.path.clone(),
            flash: None,
            menu: menu(c.who()),
        }
    }

    /// Picks up a `?ok=…` notice left by a redirect after a successful post.
    pub fn flash_from(mut self, ok: Option<&str>) -> Chrome {
        self.flash = match ok {
            Some("created") => Some("flash_created"),
            Some("saved") => Some("flash_saved"),
            Some("revoked") => Some("flash_revoked"),
            Some("retried") => Some("flash_retried"),
            Some("queued") => Some("flash_queued"),
            Some("sync_queued") => Some("flash_sync_queued"),
            Some("deleted") => Some("flash_deleted"),
            Some("recompute") => Some("flash_recompute"),
            Some("tagged") => Some("flash_tagged"),
            Some("password_reset") => Some("flash_password_reset"),
            Some("role_changed") => Some("flash_role_changed"),
            _ => None,
        };
        self
    }
}

#[derive(serde::Deserialize, Default)]
pub struct Notice {
    pub ok: Option<String>,
}

/// The values and errors of a form being shown again.
#[derive(Default)]
pub struct FormView {
    pub values: Vec<(String, String)>,
    pub errors: Vec<FieldError>,
}

impl FormView {
    pub fn of(values: Vec<(String, String)>) -> Self {
        FormView { values, errors: vec![] }
    }

    pub fn v(&self, name: &str) -> &str {
        self.values.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn checked(&self, name: &str, value: &str) -> bool {
        self.values.iter().any(|(k, v)| k == name && v == value)
    }

    /// The first error about `field` (or a part of it, `rfm.frequency`
    /// for `rfm.frequency.2`), to show next to its input.
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// Keeps the user's input and takes the field errors out of `err`, or
    /// returns `err` when it is not about fields.
    pub fn failed(values: Vec<(String, String)>, err: WebError) -> Result<FormView, WebError> {
        match err {
            WebError::Engine(koi_engine::EngineError::Invalid(v)) => Ok(FormView { values, errors: v.0 }),
            WebError::Engine(e @ koi_engine::EngineError::Conflict { .. }) => {
                let errors = vec![FieldError::new("", e.code(), e.to_string())];
                Ok(FormView { values, errors })
            }
            WebError::Engine(koi_engine::EngineError::BadExpression(e)) => {
                let errors = vec![FieldError::new("expr", e.code, e.message)];
                Ok(FormView { values, errors })
            }
            other => Err(other),
        }
    }
}

/// Parses an optional decimal form field; an error names the field.
pub fn parse_coordinate(field: &str, text: &str) -> Result<Option<f64>, WebError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>().map(Some).map_err(|_| {
        let e = koi_domain::ValidationError::one(field, "not_a_number", format!("{field} {t:?} is not a number"));
        WebError::Engine(EngineError::Invalid(e))
    })
}

pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

pub fn render_with(status: StatusCode, t: &impl Template) -> Response {
    let mut r = render(t);
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    code: &'static str,
    message: String,
}

/// The console's rendering of an error: the layout, the message and the
/// stable code, with the error's status.
pub fn error_page(console: &Console, err: WebError) -> Response {
    err.log();
    let t = Tr(console.lang);
    let c = Chrome {
        t,
        corp: String::new(),
        user: console.ctx.user.display_name.clone(),
        role: console.who().role.as_str(),
        csrf: console.ctx.csrf_token.clone(),
        nav: "error",
        path: console.path.clone(),
        flash: None,
        menu: menu(console.who()),
    };
    let page = ErrorPage { c, code: err.code(), message: err.public_message() };
    render_with(err.status(), &page)
}

/// Console handlers return this: a page, a redirect, or an error page.
pub type Page = Result<Response, Response>;

pub trait OrPage<T> {
    fn or_page(self, c: &Console) -> Result<T, Response>;
}

impl<T, E: Into<WebError>> OrPage<T> for Result<T, E> {
    fn or_page(self, c: &Console) -> Result<T, Response> {
        self.map_err(|e| error_page(c, e.into()))
    }
}

pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A CSV file download.
pub fn csv_download(name: &str, body: &'static str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// Reads a CSV upload (`file`) and its CSRF token from a multipart form.
pub async fn read_upload(c: &Console, mut form: axum::extract::Multipart) -> Result<Vec<u8>, Response> {
    let mut csrf = None;
    let mut file = None;
    while let Some(field) =
        form.next_field().await.map_err(|e| error_page(c, WebError::bad_request("malformed_upload", e.body_text())))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| error_page(c, WebError::bad_request("malformed_upload", e.body_text())))?;
                file = Some(bytes.to_vec());
            }
            _ => {}
        }
    }
    c.check_csrf(csrf.as_deref()).map_err(|e| error_page(c, e))?;
    file.ok_or_else(|| error_page(c, WebError::bad_request("missing_file", "choose a CSV file to import")))
}
