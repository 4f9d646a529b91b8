//! The customer's side: the product page (`/h5/p/{product}?k={link}`), a
//! checkout and its status. The customer is whoever the link names (see
//! `customers/links.rs`); without a link the page shows the product but
//! cannot sell it.
//!
//! A checkout reserves its items and opens its row in one transaction, then
//! asks WeChat Pay for the prepay order **outside** it (a network call never
//! holds a transaction); the page gets the signed WeixinJSBridge parameters.
//! A prepay WeChat Pay refused closes the checkout at once (stock back); one
//! whose outcome is unknown stays `created` for the sweep to ask about.

use super::{draft_of, log, merchant_of, product_of, CheckoutItem, Product};
use crate::{Engine, EngineError, Result};
use koi_domain::product::{cart_total, Availability, CartLine, CheckoutState, MAX_QTY};
use koi_domain::ValidationError;
use koi_store::checkouts::{CheckoutItemRow, NewCheckout};
use koi_store::now_ms;
use koi_wecom::client::{ConvertToOpenidRequest, Priority};
use koi_wecom::pay::{beijing_compact, jsapi_params, JsapiParams, PayErrorKind, UnifiedOrderRequest};
use serde::{Deserialize, Serialize};

/// What the product page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ProductPage {
    pub product: Product,
    /// The customer the link names; `None` without a (live) link.
    pub customer_name: Option<String>,
    /// Items this customer bought or holds already.
    pub bought: i64,
    /// Most items one checkout may take now (0: cannot buy).
    pub max_qty: i64,
    /// Other products on sale the customer may add to the same checkout
    /// (none without a link).
    pub others: Vec<CartOffer>,
}

/// A checkout the page can pay.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutStarted {
    pub out_trade_no: String,
    pub total_fen: i64,
    pub prepay_id: String,
    /// For `WeixinJSBridge.invoke('getBrandWCPayRequest', jsapi, …)`.
    pub jsapi: JsapiParams,
    /// The result page (`/h5/checkout/{out_trade_no}?k=…`).
    pub status_path: String,
}

/// A checkout as its customer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutStatus {
    pub out_trade_no: String,
    pub state: CheckoutState,
    pub total_fen: i64,
    pub refunded_fen: i64,
    pub items: Vec<CheckoutItem>,
    pub prepay_id: String,
    pub paid_at: Option<i64>,
}

/// Most products one checkout takes.
pub const MAX_CART_LINES: usize = 10;

/// One line of a cart as the page posts it: a product's page token (the
/// last part of `/h5/p/{token}`) and how many.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CartItem {
    pub product: String,
    pub qty: i64,
}

/// Another product the page offers to add to the cart.
#[derive(Debug, Clone, Serialize)]
pub struct CartOffer {
    /// Its page token (what a cart line names).
    pub token: String,
    pub name: String,
    pub price_fen: i64,
    pub rules: Vec<koi_domain::product::PriceRule>,
    /// Most items this customer may add now.
    pub max_qty: i64,
}

fn sold_out(msg: &str) -> EngineError {
    ValidationError::one("qty", "sold_out", msg).into()
}

impl Engine {
    /// The customer of a link, or none when there is no link; a link that
    /// names nobody (revoked, made up) is `NotFound`.
    async fn link_customer(&self, link: Option<&str>) -> Result<Option<(i64, i64)>> {
        match link.filter(|k| !k.is_empty()) {
            Some(k) => Ok(Some(self.customer_by_link(k).await?)),
            None => Ok(None),
        }
    }

    /// The product page of `token` for the customer of `link`.
    pub async fn product_page(&self, token: &str, link: Option<&str>) -> Result<ProductPage> {
        let row = self.db.product_by_token(token).await?.ok_or(EngineError::NotFound("product"))?;
        let product = product_of(&row, now_ms())?;
        let who = self.link_customer(link).await?.filter(|(corp, _)| *corp == row.corp_id);
        let (customer_name, bought) = match who {
            Some((corp, customer)) => {
                let name = self.db.customer(corp, customer).await?.map(|c| c.name).unwrap_or_default();
                (Some(name), self.db.items_bought(corp, customer, row.id).await?)
            }
            None => (None, 0),
        };
        let left = product.per_customer_limit.map_or(MAX_QTY, |l| (l - bought).max(0));
        let max_qty = if customer_name.is_some() && product.availability == Availability::OnSale {
            left.min(product.stock).min(MAX_QTY)
        } else {
            0
        };
        let mut others = Vec::new();
        if let Some((corp, customer)) = who.filter(|_| max_qty > 0) {
            let now = now_ms();
            for r in self.db.products(corp).await?.iter().filter(|r| r.id != row.id) {
                let d = draft_of(r)?;
                if d.availability(r.stock, now) != Availability::OnSale {
                    continue;
                }
                let bought = self.db.items_bought(corp, customer, r.id).await?;
                let left = d.per_customer_limit.map_or(MAX_QTY, |l| (l - bought).max(0)).min(r.stock).min(MAX_QTY);
                if left > 0 {
                    let (name, price_fen, rules) = (d.name, d.price_fen, d.rules);
                    others.push(CartOffer { token: r.public_token.clone(), name, price_fen, rules, max_qty: left });
                }
                if others.len() + 1 >= MAX_CART_LINES {
                    break;
                }
            }
        }
        Ok(ProductPage { product, customer_name, bought, max_qty, others })
    }

    /// Opens a checkout of `qty` items of product `token` for the customer
    /// of `link`, and its prepay order at WeChat Pay.
    pub async fn start_checkout(&self, token: &str, link: &str, qty: i64, client_ip: &str) -> Result<CheckoutStarted> {
        self.start_cart_checkout(link, &[CartItem { product: token.to_owned(), qty }], client_ip).await
    }

    /// Opens one checkout of a small cart (each line a product's page token
    /// and a quantity) for the customer of `link`, and its prepay order at
    /// WeChat Pay. Each line keeps its own price rules and per-customer
    /// limit; every line's stock is reserved in one transaction, so a cart
    /// one of whose products ran out reserves nothing.
    pub async fn start_cart_checkout(&self, link: &str, cart: &[CartItem], client_ip: &str) -> Result<CheckoutStarted> {
        let (corp_id, customer_id) = self.customer_by_link(link).await?;
        if cart.is_empty() || cart.len() > MAX_CART_LINES {
            let msg = format!("a checkout has 1–{MAX_CART_LINES} products");
            return Err(ValidationError::one("items", "out_of_range", msg).into());
        }
        let now = now_ms();
        let mut lines = Vec::with_capacity(cart.len());
        for item in cart {
            let row = self
                .db
                .product_by_token(&item.product)
                .await?
                .filter(|p| p.corp_id == corp_id)
                .ok_or(EngineError::NotFound("product"))?;
            if lines.iter().any(|(r, _, _): &(koi_store::checkouts::ProductRow, _, _)| r.id == row.id) {
                return Err(ValidationError::one("items", "duplicate", "each product once per checkout").into());
            }
            if !(1..=MAX_QTY).contains(&item.qty) {
                return Err(ValidationError::one("qty", "out_of_range", format!("qty is 1–{MAX_QTY}")).into());
            }
            let d = draft_of(&row)?;
            match d.availability(row.stock, now) {
                Availability::OnSale => {}
                Availability::SoldOut => return Err(sold_out(&format!("{} is sold out", d.name))),
                other => {
                    let msg = format!("{} is not on sale now", d.name);
                    return Err(ValidationError::one("product", other.as_str(), msg).into());
                }
            }
            let bought = self.db.items_bought(corp_id, customer_id, row.id).await?;
            if !d.within_limit(bought, item.qty) {
                return Err(ValidationError::one("qty", "over_limit", "more than one customer may buy").into());
            }
            lines.push((row, d, item.qty));
        }
        let merchant = self.db.pay_settings(corp_id).await?.and_then(merchant_of).ok_or_else(|| {
            EngineError::Invalid(ValidationError::one("pay", "not_configured", "WeChat Pay is not set up"))
        })?;
        let customer = self.db.customer(corp_id, customer_id).await?.ok_or(EngineError::NotFound("customer"))?;
        // The customer's openid under the merchant's appid (WeCom's
        // convert_to_openid; a real shop's page would read it by OAuth).
        let wecom = self.wecom_for(corp_id).await?;
        let req = ConvertToOpenidRequest { external_userid: customer.external_userid.clone() };
        let openid = match wecom.convert_to_openid(&req, Priority::Interactive).await {
            Ok(a) if !a.openid.is_empty() => a.openid,
            Ok(_) => return Err(EngineError::Unavailable("convert_to_openid answered no openid".into())),
            Err(e) => return Err(EngineError::Unavailable(format!("convert_to_openid: {e}"))),
        };
        let priced: Vec<CartLine<'_>> =
            lines.iter().map(|(_, d, qty)| CartLine { unit_fen: d.price_fen, qty: *qty, rules: &d.rules }).collect();
        let (totals, subtotal_fen, total_fen) = cart_total(&priced);
        let out_trade_no = format!("K{corp_id}x{}", crate::random_hex(10));
        let expires_at = now + self.settings.checkout_window_ms;

        let mut tx = self.db.begin().await?;
        for (row, d, qty) in &lines {
            if !tx.reserve_stock(row.id, *qty, now).await? {
                // Dropping the transaction gives back what earlier lines took.
                return Err(sold_out(&format!("not enough {} left", d.name)));
            }
        }
        let k =
            NewCheckout { corp_id, customer_id, out_trade_no: &out_trade_no, subtotal_fen, total_fen, expires_at, now };
        let id = tx.insert_checkout(&k).await?;
        for ((row, d, qty), line) in lines.iter().zip(&totals) {
            let item = CheckoutItemRow {
                checkout_id: id,
                product_id: row.id,
                sku: d.sku.clone(),
                name: d.name.clone(),
                qty: *qty,
                unit_fen: d.price_fen,
                total_fen: line.total_fen,
            };
            tx.insert_checkout_item(&item).await?;
        }
        let items: Vec<_> =
            lines.iter().map(|(row, _, qty)| serde_json::json!({"product_id": row.id, "qty": qty})).collect();
        let payload = serde_json::json!({"out_trade_no": out_trade_no, "total_fen": total_fen, "items": items});
        log(&mut tx, corp_id, "checkout.created", format!("customer:{customer_id}"), "customer", payload).await?;
        tx.commit().await?;

        let first = &lines[0].1.name;
        let body = if lines.len() == 1 { first.clone() } else { format!("{first} 等{}件", lines.len()) };
        let order = UnifiedOrderRequest {
            out_trade_no: out_trade_no.clone(),
            body: body.chars().take(40).collect(),
            total_fee: total_fen,
            openid: openid.clone(),
            notify_url: format!("{}/pay/notify/{corp_id}", self.settings.public_url.trim_end_matches('/')),
            client_ip: client_ip.to_owned(),
            time_expire: beijing_compact(expires_at),
            attach: String::new(),
        };
        let prepay_id = match self.pay.unified_order(&merchant, &order).await {
            Ok(p) => p,
            Err(e) if e.kind() == PayErrorKind::Final => {
                let mut tx = self.db.begin().await?;
                tx.close_checkout(id, &format!("prepay refused: {e}"), now_ms()).await?;
                tx.commit().await?;
                return Err(EngineError::Unavailable(format!("WeChat Pay refused the order: {e}")));
            }
            Err(e) => {
                let mut tx = self.db.begin().await?;
                tx.set_checkout_error(id, &format!("prepay unknown: {e}"), now_ms()).await?;
                tx.commit().await?;
                return Err(EngineError::Unavailable(format!("WeChat Pay did not answer: {e}")));
            }
        };
        let mut tx = self.db.begin().await?;
        tx.set_checkout_prepay(id, &prepay_id, &openid, now_ms()).await?;
        tx.commit().await?;
        Ok(CheckoutStarted {
            jsapi: jsapi_params(&merchant, &prepay_id, now / 1000),
            status_path: format!("/h5/checkout/{out_trade_no}?k={link}"),
            out_trade_no,
            total_fen,
            prepay_id,
        })
    }

    /// A checkout as the customer of `link` sees it (none of another's).
    pub async fn checkout_status(&self, out_trade_no: &str, link: &str) -> Result<CheckoutStatus> {
        let (corp_id, customer_id) = self.customer_by_link(link).await?;
        let k = self
            .db
            .checkout_by_trade_no(out_trade_no)
            .await?
            .filter(|k| k.corp_id == corp_id && k.customer_id == customer_id)
            .ok_or(EngineError::NotFound("checkout"))?;
        let items = self.db.checkout_items(k.id).await?.into_iter().map(super::item_of).collect();
        Ok(CheckoutStatus {
            state: CheckoutState::parse(&k.state).unwrap_or(CheckoutState::Closed),
            out_trade_no: k.out_trade_no,
            total_fen: k.total_fen,
            refunded_fen: k.refunded_fen,
            items,
            prepay_id: k.prepay_id,
            paid_at: k.paid_at,
        })
    }
}
