//! Products and checkout: a light catalogue sold from an H5 page through
//! WeChat Pay's JSAPI payments.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the views; products (create, edit, list); checkouts (list, detail) and refunds from the console or the API |
//! | `buy.rs` | the customer's side (`/h5/p/{product}?k={link}`): the page, a checkout (stock reserved, then the prepay order outside the transaction, the WeixinJSBridge parameters), its status |
//! | `notify.rs` | WeChat Pay's payment notification: signature first (a forged one changes nothing), amount checked, paid once however often it comes; a paid checkout becomes an order (`orders::ingest_in`) |
//! | `sweep.rs` | the periodic job: checkouts left unpaid are asked about (`orderquery`) and closed when expired (stock back) |
//! | `refund.rs` | refunds through WeChat Pay: `RefundJob` (refund, then refundquery) and the refund notification (`req_info` opened with the merchant key, checked), both ending in `settle_refund_in`, the one place a refund becomes done or failed |
//!
//! Money moves only on WeChat Pay's word: a verified notification or an
//! `orderquery` marks a checkout paid (a conditional update: once), and a
//! refund is claimed against what was paid before WeChat Pay is asked, with
//! its own `out_refund_no` on every retry, and ends (once) on its
//! `refundquery` or its refund notification, whichever comes first.

mod buy;
mod notify;
mod refund;
mod sweep;

pub use buy::{CartItem, CartOffer, CheckoutStarted, CheckoutStatus, ProductPage, MAX_CART_LINES};
pub use koi_wecom::pay::notify_answer;
pub use notify::NotifyOutcome;
pub(crate) use refund::RefundJob;
pub use refund::RefundNotifyOutcome;
pub(crate) use sweep::CheckoutSweepJob;

use crate::{actor, random_hex, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::product::{Availability, CheckoutState, PriceRule, ProductDraft, RefundCheck};
use koi_domain::ValidationError;
use koi_store::checkouts::{CheckoutItemRow, CheckoutListRow, CheckoutRow, ProductRow, ProductWrite, RefundRow};
use koi_store::events::NewEvent;
use koi_store::pay::PaySettingsRow;
use koi_store::{now_ms, Tx};
use koi_wecom::pay::{Merchant, DEFAULT_PAY_BASE_URL};
use serde::{Deserialize, Serialize};

/// Rows one list shows.
pub const LIST_LIMIT: i64 = 500;

/// A product as the API and console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_fen: i64,
    /// Items left (checkouts waiting for payment hold theirs).
    pub stock: i64,
    pub images: Vec<String>,
    pub store_ids: Vec<i64>,
    pub sale_starts_at: Option<i64>,
    pub sale_ends_at: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub rules: Vec<PriceRule>,
    pub active: bool,
    /// Whether it can be bought now.
    pub availability: Availability,
    /// The product's H5 page (`/h5/p/{random token}` under koi's public URL);
    /// a customer's link adds `?k=` and their link token.
    pub page_path: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One line of a checkout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckoutItem {
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub qty: i64,
    pub unit_fen: i64,
    /// The line after its price rule.
    pub total_fen: i64,
}

/// A refund of a checkout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: i64,
    /// WeChat Pay's idempotency key of this refund.
    pub out_refund_no: String,
    pub amount_fen: i64,
    pub reason: String,
    /// pending (asked for), done or failed.
    pub state: String,
    pub error: String,
    /// Why a failed refund failed: `change` (WeChat Pay could not pay it
    /// back, CHANGE), `closed` (REFUNDCLOSE) or `refused` (the request was
    /// refused); empty unless failed.
    pub failure: String,
    pub created_at: i64,
}

/// A checkout as the API and console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checkout {
    pub id: i64,
    /// WeChat Pay's order number (商户订单号).
    pub out_trade_no: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub state: CheckoutState,
    pub subtotal_fen: i64,
    pub total_fen: i64,
    /// Refunds asked for (done or pending).
    pub refunded_fen: i64,
    pub prepay_id: String,
    /// WeChat Pay's transaction id, once paid.
    pub transaction_id: String,
    /// Why a checkout was closed, or what went wrong.
    pub error: String,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub created_at: i64,
    /// Empty in lists.
    pub items: Vec<CheckoutItem>,
    pub refunds: Vec<Refund>,
}

/// A refund as an operator asks for it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RefundInput {
    /// Fen to refund; absent: everything left.
    #[serde(default)]
    pub amount_fen: Option<i64>,
    #[serde(default)]
    pub reason: String,
}

/// Which checkouts a list shows.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct CheckoutQuery {
    /// created, paid, closed, part_refunded or refunded.
    pub state: Option<String>,
}

pub(crate) fn draft_of(row: &ProductRow) -> Result<ProductDraft> {
    let mut d: ProductDraft = serde_json::from_str(&row.draft)
        .map_err(|e| EngineError::Unavailable(format!("product {} has an unreadable draft: {e}", row.id)))?;
    d.stock = row.stock;
    Ok(d)
}

/// Whether `who` sees a product: everyone but a store manager sees all; a
/// store manager those sold in one of their stores, or in every store.
fn sold_where_seen(who: &Principal, p: &Product) -> bool {
    who.store_scope().is_none() || p.store_ids.is_empty() || p.store_ids.iter().any(|s| who.sees_store(*s))
}

pub(crate) fn product_of(row: &ProductRow, now: i64) -> Result<Product> {
    let d = draft_of(row)?;
    Ok(Product {
        id: row.id,
        availability: d.availability(row.stock, now),
        sku: d.sku,
        name: d.name,
        description: d.description,
        price_fen: d.price_fen,
        stock: row.stock,
        images: d.images,
        store_ids: d.store_ids,
        sale_starts_at: d.sale_starts_at,
        sale_ends_at: d.sale_ends_at,
        per_customer_limit: d.per_customer_limit,
        rules: d.rules,
        active: d.active,
        page_path: format!("/h5/p/{}", row.public_token),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn item_of(r: CheckoutItemRow) -> CheckoutItem {
    CheckoutItem {
        product_id: r.product_id,
        sku: r.sku,
        name: r.name,
        qty: r.qty,
        unit_fen: r.unit_fen,
        total_fen: r.total_fen,
    }
}

fn refund_of(r: RefundRow) -> Refund {
    Refund {
        failure: refund::failure_kind(&r.state, &r.error).to_owned(),
        id: r.id,
        out_refund_no: r.out_refund_no,
        amount_fen: r.amount_fen,
        reason: r.reason,
        state: r.state,
        error: r.error,
        created_at: r.created_at,
    }
}

pub(crate) fn checkout_of(r: CheckoutRow, customer_name: String) -> Checkout {
    Checkout {
        id: r.id,
        out_trade_no: r.out_trade_no,
        customer_id: r.customer_id,
        customer_name,
        state: CheckoutState::parse(&r.state).unwrap_or(CheckoutState::Closed),
        subtotal_fen: r.subtotal_fen,
        total_fen: r.total_fen,
        refunded_fen: r.refunded_fen,
        prepay_id: r.prepay_id,
        transaction_id: r.transaction_id,
        error: r.error,
        expires_at: r.expires_at,
        paid_at: r.paid_at,
        closed_at: r.closed_at,
        created_at: r.created_at,
        items: vec![],
        refunds: vec![],
    }
}

/// The merchant a corp's checkouts are paid to: its pay settings, with the
/// API key (JSAPI payments need no 企业支付 secret).
impl Engine {
    /// The corp's merchant for a WeChat Pay notification: without one, the
    /// notification cannot be genuine (`bad_signature`).
    pub(crate) async fn notified_merchant(&self, corp_id: i64) -> Result<Merchant> {
        self.db.pay_settings(corp_id).await?.and_then(merchant_of).ok_or_else(|| EngineError::BadCallback {
            code: "bad_signature",
            message: "no WeChat Pay merchant is set up for this corp".into(),
        })
    }
}

pub(crate) fn merchant_of(s: PaySettingsRow) -> Option<Merchant> {
    if !s.enabled || s.api_key.is_empty() || s.mch_id.is_empty() {
        return None;
    }
    Some(Merchant {
        base_url: if s.base_url.is_empty() { DEFAULT_PAY_BASE_URL.to_owned() } else { s.base_url },
        mch_id: s.mch_id,
        wxappid: s.wxappid,
        api_key: s.api_key,
        workwx_secret: s.workwx_secret,
    })
}

pub(crate) async fn log(
    tx: &mut Tx,
    corp_id: i64,
    kind: &str,
    subject: String,
    actor: &str,
    payload: serde_json::Value,
) -> Result<()> {
    let now = now_ms();
    let e = NewEvent {
        corp_id,
        kind,
        subject: &subject,
        actor,
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

impl Engine {
    /// The corp's products; a store manager's, those sold in their stores
    /// (a product with no stores is sold in all).
    pub async fn products(&self, who: &Principal) -> Result<Vec<Product>> {
        require(who, Action::ViewProducts)?;
        let now = now_ms();
        let all =
            self.db.products(who.corp_id).await?.iter().map(|r| product_of(r, now)).collect::<Result<Vec<_>>>()?;
        Ok(all.into_iter().filter(|p| sold_where_seen(who, p)).collect())
    }

    pub async fn product(&self, who: &Principal, id: i64) -> Result<Product> {
        require(who, Action::ViewProducts)?;
        let row = self.db.product(who.corp_id, id).await?.ok_or(EngineError::NotFound("product"))?;
        let p = product_of(&row, now_ms())?;
        if !sold_where_seen(who, &p) {
            return Err(EngineError::NotFound("product"));
        }
        Ok(p)
    }

    async fn check_product_refs(&self, who: &Principal, d: &ProductDraft) -> Result<()> {
        for s in &d.store_ids {
            if self.db.store(who.corp_id, *s).await?.is_none() {
                return Err(ValidationError::one("store_ids", "unknown", format!("store {s} does not exist")).into());
            }
        }
        Ok(())
    }

    /// A new product; its page is reachable at once by its random token.
    pub async fn create_product(&self, who: &Principal, draft: &ProductDraft) -> Result<Product> {
        require(who, Action::ManageProducts)?;
        let d = draft.clone().validate()?;
        self.check_product_refs(who, &d).await?;
        let json = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let w = ProductWrite {
            sku: &d.sku,
            name: &d.name,
            price_fen: d.price_fen,
            stock: d.stock,
            active: d.active,
            draft: &json,
            now: now_ms(),
        };
        let mut tx = self.db.begin().await?;
        let id = tx.insert_product(who.corp_id, &w, &random_hex(16)).await?;
        log(
            &mut tx,
            who.corp_id,
            "product.created",
            format!("product:{id}"),
            &actor(who),
            serde_json::json!({"sku": d.sku}),
        )
        .await?;
        tx.commit().await?;
        self.product(who, id).await
    }

    /// Replaces a product. `stock` is what is left to sell now (checkouts
    /// waiting for payment keep what they hold and give it back on top if
    /// they close).
    pub async fn update_product(&self, who: &Principal, id: i64, draft: &ProductDraft) -> Result<Product> {
        require(who, Action::ManageProducts)?;
        let d = draft.clone().validate()?;
        self.check_product_refs(who, &d).await?;
        let json = serde_json::to_string(&d).expect("a draft is plain data and serialises");
        let w = ProductWrite {
            sku: &d.sku,
            name: &d.name,
            price_fen: d.price_fen,
            stock: d.stock,
            active: d.active,
            draft: &json,
            now: now_ms(),
        };
        let mut tx = self.db.begin().await?;
        if !tx.update_product(who.corp_id, id, &w).await? {
            return Err(EngineError::NotFound("product"));
        }
        log(
            &mut tx,
            who.corp_id,
            "product.updated",
            format!("product:{id}"),
            &actor(who),
            serde_json::json!({"sku": d.sku}),
        )
        .await?;
        tx.commit().await?;
        self.product(who, id).await
    }

    /// Checkouts, newest first (at most [`LIST_LIMIT`]).
    pub async fn checkouts(&self, who: &Principal, q: &CheckoutQuery) -> Result<Vec<Checkout>> {
        require(who, Action::ViewProducts)?;
        let state = q.state.as_deref().unwrap_or("");
        if !state.is_empty() && CheckoutState::parse(state).is_none() {
            return Err(ValidationError::one(
                "state",
                "unknown",
                "state is created, paid, closed, part_refunded or refunded",
            )
            .into());
        }
        let rows = self.db.checkouts(who.corp_id, state, who.store_scope(), LIST_LIMIT).await?;
        Ok(rows
            .into_iter()
            .map(|CheckoutListRow { checkout, customer_name }| checkout_of(checkout, customer_name))
            .collect())
    }

    /// One checkout with its lines and refunds.
    pub async fn checkout(&self, who: &Principal, id: i64) -> Result<Checkout> {
        require(who, Action::ViewProducts)?;
        // Refunds before the checkout: a refund the job finished commits with
        // the checkout's new state, so a refund read as done is never shown
        // beside the state from before it (the reads are separate).
        let refunds = self.db.checkout_refunds(id).await?;
        let row = self.db.checkout(who.corp_id, id).await?.ok_or(EngineError::NotFound("checkout"))?;
        // A store manager sees the checkouts of their stores' customers.
        let name = match self.customer(who, row.customer_id).await {
            Ok(c) => c.name,
            Err(EngineError::NotFound(_)) if who.store_scope().is_some() => {
                return Err(EngineError::NotFound("checkout"))
            }
            Err(EngineError::NotFound(_)) => String::new(),
            Err(e) => return Err(e),
        };
        let mut k = checkout_of(row, name);
        k.items = self.db.checkout_items(id).await?.into_iter().map(item_of).collect();
        k.refunds = refunds.into_iter().map(refund_of).collect();
        Ok(k)
    }

    /// Refunds a paid checkout, in full (no amount) or in part, through
    /// WeChat Pay: the amount is claimed against what is left in this
    /// transaction (two refunds can never take more than was paid), and a
    /// job asks WeChat Pay with the refund's own `out_refund_no` until it
    /// answers. The checkout shows the refund `pending` until its
    /// `refundquery` or its refund notification says it ended (`refund.rs`).
    pub async fn refund_checkout(&self, who: &Principal, id: i64, input: &RefundInput) -> Result<Checkout> {
        require(who, Action::ManageProducts)?;
        let reason = input.reason.trim();
        if reason.chars().count() > 80 {
            return Err(ValidationError::one("reason", "too_long", "reason is at most 80 characters").into());
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let row =
            tx.checkout_in(id).await?.filter(|k| k.corp_id == who.corp_id).ok_or(EngineError::NotFound("checkout"))?;
        let state = CheckoutState::parse(&row.state).unwrap_or(CheckoutState::Closed);
        let check = RefundCheck { state, total_fen: row.total_fen, refunded_fen: row.refunded_fen };
        let amount = check.amount(input.amount_fen)?;
        if !tx.claim_refund(id, amount, now).await? {
            return Err(ValidationError::one("amount_fen", "out_of_range", "more than is left to refund").into());
        }
        let out_refund_no = format!("R{}", random_hex(12));
        let refund_id =
            tx.insert_checkout_refund(who.corp_id, id, &out_refund_no, amount, reason, &actor(who), now).await?;
        crate::jobs::enqueue(&mut tx, who.corp_id, &RefundJob { refund_id }).await?;
        let payload = serde_json::json!({"amount_fen": amount, "out_refund_no": out_refund_no, "reason": reason});
        log(&mut tx, who.corp_id, "checkout.refund_requested", format!("checkout:{id}"), &actor(who), payload).await?;
        tx.commit().await?;
        self.checkout(who, id).await
    }
}
