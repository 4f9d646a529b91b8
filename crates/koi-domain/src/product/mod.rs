//! A light product catalogue for selling inside the private domain (seed
//! 001's ¥19.9 Double Eleven bundle, flash sales in paid groups,
//! Baiguoyuan's ¥1 fruit): what a product is, the price rules of a
//! checkout, and the checkout's states.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | a product as the operator edits it ([`ProductDraft`]), its validation and sale window |
//! | `pricing.rs` | price rules (bundle: N for X fen; second item half price) and the cart total |
//! | `checkout.rs` | a checkout's states and what a refund may take |
//!
//! koi is not a full mall: no variants, shipping or addresses. Brands with a
//! mall post orders in instead.

pub mod checkout;
pub mod pricing;

use crate::error::Checker;
use crate::{Millis, ValidationError};
pub use checkout::{CheckoutState, RefundCheck};
pub use pricing::{cart_total, line_total, CartLine, LineTotal, PriceRule};
use serde::{Deserialize, Serialize};

pub const MAX_SKU: usize = 64;
pub const MAX_NAME: usize = 60;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_IMAGES: usize = 9;
pub const MAX_IMAGE_URL: usize = 500;
pub const MAX_RULES: usize = 4;
/// ¥100,000: beyond a private-domain checkout.
pub const MAX_PRICE_FEN: i64 = 10_000_000;
pub const MAX_STOCK: i64 = 10_000_000;
/// Items of one product in one checkout.
pub const MAX_QTY: i64 = 99;

/// A product as typed in the console or posted to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductDraft {
    /// The shop's SKU code: letters, digits, `-`, `_`, `.`; unique in the corp.
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Price of one item, fen.
    pub price_fen: i64,
    /// Items left to sell (a checkout reserves, a closed one gives back).
    pub stock: i64,
    /// Image URLs (https), the first is the main picture.
    #[serde(default)]
    pub images: Vec<String>,
    /// Stores that sell it; empty: every store.
    #[serde(default)]
    pub store_ids: Vec<i64>,
    /// Sale window, ms; `None`: open on that side.
    #[serde(default)]
    pub sale_starts_at: Option<Millis>,
    #[serde(default)]
    pub sale_ends_at: Option<Millis>,
    /// Items one customer may buy in all (paid or waiting checkouts).
    #[serde(default)]
    pub per_customer_limit: Option<i64>,
    #[serde(default)]
    pub rules: Vec<PriceRule>,
    /// Off: the page says it is not on sale.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Whether a product can be bought now, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    OnSale,
    NotStarted,
    Ended,
    Inactive,
    SoldOut,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::OnSale => "on_sale",
            Availability::NotStarted => "not_started",
            Availability::Ended => "ended",
            Availability::Inactive => "inactive",
            Availability::SoldOut => "sold_out",
        }
    }
}

impl ProductDraft {
    /// Trims and checks every field; all errors at once.
    pub fn validate(self) -> Result<ProductDraft, ValidationError> {
        let mut c = Checker::default();
        let sku = c.ident("sku", &self.sku, MAX_SKU, &['-', '_', '.']);
        let name = c.text("name", &self.name, MAX_NAME, true);
        let description = c.text("description", &self.description, MAX_DESCRIPTION, false);
        if !(1..=MAX_PRICE_FEN).contains(&self.price_fen) {
            c.push("price_fen", "out_of_range", format!("price_fen is 1–{MAX_PRICE_FEN}"));
        }
        if !(0..=MAX_STOCK).contains(&self.stock) {
            c.push("stock", "out_of_range", format!("stock is 0–{MAX_STOCK}"));
        }
        if self.images.len() > MAX_IMAGES {
            c.push("images", "too_many", format!("at most {MAX_IMAGES} images"));
        }
        let images: Vec<String> = self.images.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
        for u in &images {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > MAX_IMAGE_URL || u.contains('"') {
                c.push("images", "invalid_url", format!("an image is an http(s) URL of ≤{MAX_IMAGE_URL} characters"));
                break;
            }
        }
        let mut store_ids = self.store_ids.clone();
        store_ids.sort_unstable();
        store_ids.dedup();
        if let (Some(a), Some(b)) = (self.sale_starts_at, self.sale_ends_at) {
            if a >= b {
                c.push("sale_ends_at", "before_start", "the sale ends after it starts");
            }
        }
        if self.per_customer_limit.is_some_and(|n| !(1..=MAX_QTY * 100).contains(&n)) {
            c.push("per_customer_limit", "out_of_range", "per_customer_limit is at least 1");
        }
        if self.rules.len() > MAX_RULES {
            c.push("rules", "too_many", format!("at most {MAX_RULES} price rules"));
        }
        // Rules are discounts on a valid price; a bad price is reported alone.
        for r in self.rules.iter().filter(|_| (1..=MAX_PRICE_FEN).contains(&self.price_fen)) {
            if let Err(e) = r.validate(self.price_fen) {
                c.extend(e);
            }
        }
        c.finish(ProductDraft { sku, name, description, images, store_ids, ..self })
    }

    /// Whether it can be bought at `now` with `stock` left.
    pub fn availability(&self, stock: i64, now: Millis) -> Availability {
        if !self.active {
            Availability::Inactive
        } else if self.sale_starts_at.is_some_and(|s| now < s) {
            Availability::NotStarted
        } else if self.sale_ends_at.is_some_and(|e| now >= e) {
            Availability::Ended
        } else if stock <= 0 {
            Availability::SoldOut
        } else {
            Availability::OnSale
        }
    }

    /// Whether `qty` more items keep a customer who has `bought` within the limit.
    pub fn within_limit(&self, bought: i64, qty: i64) -> bool {
        self.per_customer_limit.is_none_or(|l| bought + qty <= l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn bundle() -> ProductDraft {
        ProductDraft {
            sku: " DBL11-199 ".into(),
            name: "双十一 19.9 元组合".into(),
            description: String::new(),
            price_fen: 990,
            stock: 100,
            images: vec!["https://img.example/1.jpg".into(), " ".into()],
            store_ids: vec![3, 1, 3],
            sale_starts_at: Some(1_000),
            sale_ends_at: Some(2_000),
            per_customer_limit: Some(2),
            rules: vec![PriceRule::Bundle { qty: 3, price_fen: 1990 }],
            active: true,
        }
    }

    #[test]
    fn a_product_is_trimmed_and_checked_whole() {
        let p = bundle().validate().expect("valid");
        assert_eq!((p.sku.as_str(), p.images.len(), p.store_ids.clone()), ("DBL11-199", 1, vec![1, 3]));
        let fields = |d: ProductDraft| -> Vec<String> {
            d.validate().expect_err("invalid").0.into_iter().map(|f| f.field).collect()
        };
        assert_eq!(fields(ProductDraft { sku: "双十一".into(), ..bundle() }), ["sku"]);
        assert_eq!(fields(ProductDraft { price_fen: 0, stock: -1, ..bundle() }), ["price_fen", "stock"]);
        assert_eq!(fields(ProductDraft { sale_ends_at: Some(1_000), ..bundle() }), ["sale_ends_at"]);
        assert_eq!(fields(ProductDraft { images: vec!["javascript:x".into()], ..bundle() }), ["images"]);
        assert_eq!(fields(ProductDraft { per_customer_limit: Some(0), ..bundle() }), ["per_customer_limit"]);
        assert_eq!(fields(ProductDraft { name: "名".repeat(61), ..bundle() }), ["name"]);
        // A "bundle" dearer than buying the items one by one is no discount.
        let dear = ProductDraft { rules: vec![PriceRule::Bundle { qty: 3, price_fen: 2970 }], ..bundle() };
        assert_eq!(fields(dear), ["rules"]);
    }

    #[test]
    fn availability_follows_the_window_the_switch_and_stock() {
        let p = bundle().validate().expect("valid");
        assert_eq!(p.availability(5, 999), Availability::NotStarted);
        assert_eq!(p.availability(5, 1_000), Availability::OnSale);
        assert_eq!(p.availability(0, 1_500), Availability::SoldOut);
        assert_eq!(p.availability(5, 2_000), Availability::Ended);
        assert_eq!(ProductDraft { active: false, ..p.clone() }.availability(5, 1_500), Availability::Inactive);
        assert!(p.within_limit(1, 1) && !p.within_limit(1, 2));
        assert!(ProductDraft { per_customer_limit: None, ..p }.within_limit(1000, 99));
    }
}
