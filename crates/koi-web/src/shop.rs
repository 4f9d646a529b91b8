//! The H5 shop and WeChat Pay's notifications: a product page
//! (`/h5/p/{product}?k={customer link}`), the checkout it starts (JSON), the
//! result page (`/h5/checkout/{out_trade_no}?k=…`) and its state (JSON, for
//! the page to poll), `POST /pay/notify/{corp}` where WeChat Pay tells
//! koi a checkout was paid, and `POST /pay/refund-notify/{corp}` where it
//! tells a refund ended (v2 XML in and out; a forged one is a 401 FAIL and
//! changes nothing).

use crate::error::WebError;
use crate::i18n::{Lang, Tr};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use koi_domain::product::PriceRule;
use koi_engine::checkout::{CheckoutStarted, CheckoutStatus, ProductPage};
use koi_engine::EngineError;

/// Customers read these pages in Chinese.
const LANG: Lang = Lang::Zh;

/// `19.90` for 1990 fen.
pub(crate) fn yuan(fen: i64) -> String {
    format!("{}{}.{:02}", if fen < 0 { "-" } else { "" }, fen.abs() / 100, fen.abs() % 100)
}

/// A price rule as the customer reads it.
pub(crate) fn rule_text(t: Tr, r: &PriceRule) -> String {
    match r {
        PriceRule::Bundle { qty, price_fen } => {
            t.s("p_rule_bundle").replace("{n}", &qty.to_string()).replace("{yuan}", &yuan(*price_fen))
        }
        PriceRule::SecondHalf => t.s("p_rule_second_half").to_string(),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct LinkKey {
    #[serde(default)]
    k: String,
}

#[derive(Template)]
#[template(path = "h5_product.html")]
struct ProductView {
    t: Tr,
    page: ProductPage,
    price: String,
    rules: Vec<String>,
    availability: String,
    buy_url: String,
    /// The other products the cart offers: (offer, price in yuan, rules).
    offers: Vec<(koi_engine::checkout::CartOffer, String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "h5_checkout.html")]
struct CheckoutView {
    t: Tr,
    k: CheckoutStatus,
    state_text: String,
    total: String,
    state_url: String,
}

#[derive(Template)]
#[template(path = "h5_missing.html")]
struct MissingPage {
    t: Tr,
}

fn html(page: &impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::Internal(format!("template: {e}")).into_response(),
    }
}

fn missing(e: EngineError) -> Response {
    match e {
        EngineError::NotFound(_) => html(&MissingPage { t: Tr(LANG) }, StatusCode::NOT_FOUND),
        e => WebError::from(e).into_response(),
    }
}

/// The product page: price, rules, stock and a buy button (for the
/// customer the link names; without one the page only shows the product).
pub async fn product_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(k): Query<LinkKey>,
) -> Response {
    let page = match state.engine.product_page(&token, Some(&k.k)).await {
        Ok(p) => p,
        Err(e) => return missing(e),
    };
    let t = Tr(LANG);
    let view = ProductView {
        t,
        price: yuan(page.product.price_fen),
        rules: page.product.rules.iter().map(|r| rule_text(t, r)).collect(),
        availability: t.s(&format!("p_avail_{}", page.product.availability.as_str())).to_string(),
        buy_url: format!("/h5/p/{token}/buy?k={}", k.k),
        offers: page
            .others
            .iter()
            .map(|o| (o.clone(), yuan(o.price_fen), o.rules.iter().map(|r| rule_text(t, r)).collect()))
            .collect(),
        page,
    };
    html(&view, StatusCode::OK)
}

#[derive(serde::Deserialize)]
pub struct BuyInput {
    /// Items of this page's product.
    qty: i64,
    /// Other products added to the same checkout (the page's small cart).
    #[serde(default)]
    items: Vec<koi_engine::checkout::CartItem>,
}

/// Starts a checkout of this page's product and any others in the cart:
/// the signed parameters for WeixinJSBridge and the result page's path.
pub async fn buy(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(k): Query<LinkKey>,
    addr: Option<axum::Extension<crate::h5_guard::ClientAddr>>,
    crate::api::ApiJson(input): crate::api::ApiJson<BuyInput>,
) -> Result<Json<CheckoutStarted>, WebError> {
    let ip = addr.map(|a| a.0 .0).unwrap_or_default();
    let ip = if ip.parse::<std::net::IpAddr>().is_ok() { ip } else { String::new() };
    let mut cart = vec![koi_engine::checkout::CartItem { product: token, qty: input.qty }];
    cart.extend(input.items);
    Ok(Json(state.engine.start_cart_checkout(&k.k, &cart, &ip).await?))
}

/// The result page: waiting for WeChat Pay, paid, or closed.
pub async fn checkout_page(
    State(state): State<AppState>,
    Path(no): Path<String>,
    Query(k): Query<LinkKey>,
) -> Response {
    let status = match state.engine.checkout_status(&no, &k.k).await {
        Ok(s) => s,
        Err(e) => return missing(e),
    };
    let view = CheckoutView {
        t: Tr(LANG),
        total: yuan(status.total_fen),
        state_text: Tr(LANG).s(&format!("p_state_{}", status.state.as_str())).to_string(),
        state_url: format!("/h5/checkout/{no}/state?k={}", k.k),
        k: status,
    };
    html(&view, StatusCode::OK)
}

/// The checkout's state, for the result page to poll.
pub async fn checkout_state(
    State(state): State<AppState>,
    Path(no): Path<String>,
    Query(k): Query<LinkKey>,
) -> Result<Json<CheckoutStatus>, WebError> {
    Ok(Json(state.engine.checkout_status(&no, &k.k).await?))
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// WeChat Pay's payment notification for the corp `corp` (koi's corp id).
/// SUCCESS stops WeChat's retries; FAIL (with a 4xx/5xx) asks it to try
/// again later, or tells a forger nothing happened.
pub async fn notify(State(state): State<AppState>, Path(corp): Path<i64>, body: String) -> Response {
    use koi_engine::checkout::notify_answer;
    match state.engine.receive_pay_notification(corp, &body).await {
        Ok(_) => xml(StatusCode::OK, notify_answer(true, "OK")),
        Err(e) => {
            tracing::warn!(corp, error = %e, code = e.code(), "payment notification refused");
            xml(refused_status(&e), notify_answer(false, e.code()))
        }
    }
}

/// The status a refused notification is answered with.
fn refused_status(e: &EngineError) -> StatusCode {
    match e {
        EngineError::BadCallback { code: "bad_signature", .. } => StatusCode::UNAUTHORIZED,
        EngineError::BadCallback { .. } => StatusCode::BAD_REQUEST,
        EngineError::NotFound(_) => StatusCode::NOT_FOUND,
        EngineError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// WeChat Pay's refund result notification for the corp `corp`: SUCCESS
/// once the refund has ended in koi (now or before); FAIL with a 4xx for
/// what is not this corp's refund (nothing changes), a 503 to be asked
/// again when koi could not write.
pub async fn refund_notify(State(state): State<AppState>, Path(corp): Path<i64>, body: String) -> Response {
    use koi_engine::checkout::notify_answer;
    match state.engine.receive_refund_notification(corp, &body).await {
        Ok(_) => xml(StatusCode::OK, notify_answer(true, "OK")),
        Err(e) => {
            tracing::warn!(corp, error = %e, code = e.code(), "refund notification refused");
            xml(refused_status(&e), notify_answer(false, e.code()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_in_yuan() {
        assert_eq!(yuan(1990), "19.90");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-100), "-1.00");
        let t = Tr(LANG);
        assert_eq!(rule_text(t, &PriceRule::Bundle { qty: 3, price_fen: 1990 }), "3 件 19.90 元");
    }
}
