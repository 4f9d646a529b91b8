//! Products (list, create, edit; stores picked from a list) and checkouts
//! (list, refund through WeChat Pay).

use super::campaigns::form::{local_input, parse_local, parse_yuan, yuan};
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use koi_domain::access::Action;
use koi_domain::product::{PriceRule, ProductDraft};
use koi_domain::ValidationError;
use koi_engine::checkout::{CheckoutQuery, Product, RefundInput};
use koi_engine::EngineError;

pub struct ProductLine {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub price: String,
    pub stock: i64,
    pub availability: String,
    pub page_path: String,
}

pub struct StorePick {
    pub id: i64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    c: Chrome,
    products: Vec<ProductLine>,
    stores: Vec<StorePick>,
    can_edit: bool,
    form: FormView,
    /// The product being edited; none on the list.
    editing: Option<i64>,
}

pub struct CheckoutLine {
    pub id: i64,
    pub out_trade_no: String,
    pub customer: String,
    pub items: String,
    pub total: String,
    pub refunded: String,
    pub state: String,
    pub state_text: String,
    pub created_at: String,
    pub refundable: bool,
    /// Refunds WeChat Pay did not make: (amount, why in the operator's words, WeChat's reason).
    pub failed_refunds: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "checkouts.html")]
struct CheckoutsPage {
    c: Chrome,
    checkouts: Vec<CheckoutLine>,
    can_refund: bool,
    form: FormView,
}

async fn stores(state: &AppState, c: &Console) -> Result<Vec<StorePick>, axum::response::Response> {
    let list = state.engine.stores(c.who()).await.or_page(c)?;
    Ok(list.into_iter().map(|s| StorePick { id: s.id, name: format!("{} {}", s.code, s.name) }).collect())
}

async fn page(
    state: &AppState,
    c: &Console,
    form: FormView,
    editing: Option<i64>,
) -> Result<ProductsPage, axum::response::Response> {
    let t = crate::i18n::Tr(c.lang);
    let products = state
        .engine
        .products(c.who())
        .await
        .or_page(c)?
        .into_iter()
        .map(|p| ProductLine {
            id: p.id,
            sku: p.sku,
            name: p.name,
            price: yuan(p.price_fen),
            stock: p.stock,
            availability: t.s(&format!("p_avail_{}", p.availability.as_str())).to_string(),
            page_path: p.page_path,
        })
        .collect();
    Ok(ProductsPage {
        c: Chrome::new(state, c, "products").await,
        products,
        stores: stores(state, c).await?,
        can_edit: c.who().allows(Action::ManageProducts),
        form,
        editing,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut blank = FormView::default();
    blank.values.push(("active".into(), "on".into()));
    let mut p = page(&state, &c, blank, None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn invalid(field: &str, message: &str) -> WebError {
    WebError::Engine(EngineError::Invalid(ValidationError::one(field, "invalid", message)))
}

/// The form's product; money in yuan, times in Asia/Shanghai.
fn draft(f: &ConsoleForm) -> Result<ProductDraft, WebError> {
    let int = |name: &str| -> Result<Option<i64>, WebError> {
        match f.get(name).trim() {
            "" => Ok(None),
            t => t.parse().map(Some).map_err(|_| invalid(name, "a whole number")),
        }
    };
    let money = |name: &str| -> Result<Option<i64>, WebError> {
        match f.get(name).trim() {
            "" => Ok(None),
            t => parse_yuan(t).map(Some).ok_or_else(|| invalid(name, "an amount in yuan, like 19.9")),
        }
    };
    let time = |name: &str| -> Result<Option<i64>, WebError> {
        match f.get(name).trim() {
            "" => Ok(None),
            t => parse_local(t).map(Some).ok_or_else(|| invalid(name, "a date and time")),
        }
    };
    let mut rules = vec![];
    if let (Some(qty), Some(price_fen)) = (int("bundle_qty")?, money("bundle_price")?) {
        rules.push(PriceRule::Bundle { qty, price_fen });
    }
    if f.get("second_half") == "on" {
        rules.push(PriceRule::SecondHalf);
    }
    Ok(ProductDraft {
        sku: f.get("sku").into(),
        name: f.get("name").into(),
        description: f.get("description").into(),
        price_fen: money("price")?.unwrap_or(0),
        stock: int("stock")?.unwrap_or(0),
        images: f.get("images").lines().map(str::to_owned).collect(),
        store_ids: f.all("store_ids").filter_map(|s| s.parse().ok()).collect(),
        sale_starts_at: time("sale_starts_at")?,
        sale_ends_at: time("sale_ends_at")?,
        per_customer_limit: int("per_customer_limit")?,
        rules,
        active: f.get("active") == "on",
    })
}

fn values(p: &Product) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("sku".into(), p.sku.clone()),
        ("name".into(), p.name.clone()),
        ("description".into(), p.description.clone()),
        ("price".into(), yuan(p.price_fen)),
        ("stock".into(), p.stock.to_string()),
        ("images".into(), p.images.join("\n")),
        ("sale_starts_at".into(), p.sale_starts_at.map(local_input).unwrap_or_default()),
        ("sale_ends_at".into(), p.sale_ends_at.map(local_input).unwrap_or_default()),
        ("per_customer_limit".into(), p.per_customer_limit.map(|n| n.to_string()).unwrap_or_default()),
    ];
    for r in &p.rules {
        match r {
            PriceRule::Bundle { qty, price_fen } => {
                v.push(("bundle_qty".into(), qty.to_string()));
                v.push(("bundle_price".into(), yuan(*price_fen)));
            }
            PriceRule::SecondHalf => v.push(("second_half".into(), "on".into())),
        }
    }
    if p.active {
        v.push(("active".into(), "on".into()));
    }
    v.extend(p.store_ids.iter().map(|s| ("store_ids".into(), s.to_string())));
    v
}

async fn saved(state: &AppState, f: &ConsoleForm, id: Option<i64>) -> Page {
    let c = &f.console;
    let result = match draft(f) {
        Ok(d) => match id {
            Some(id) => state.engine.update_product(c.who(), id, &d).await.map_err(WebError::from),
            None => state.engine.create_product(c.who(), &d).await.map_err(WebError::from),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            Ok(see_other(if id.is_some() { "/console/products?ok=saved" } else { "/console/products?ok=created" }))
        }
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(state, c, form, id).await?))
        }
    }
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    saved(&state, &f, None).await
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let p = state.engine.product(c.who(), id).await.or_page(&c)?;
    Ok(render(&page(&state, &c, FormView::of(values(&p)), Some(id)).await?))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    saved(&state, &f, Some(id)).await
}

async fn checkouts_page(
    state: &AppState,
    c: &Console,
    form: FormView,
) -> Result<CheckoutsPage, axum::response::Response> {
    let t = crate::i18n::Tr(c.lang);
    let list = state.engine.checkouts(c.who(), &CheckoutQuery::default()).await.or_page(c)?;
    let mut checkouts = vec![];
    for k in list.into_iter().take(200) {
        let detail = state.engine.checkout(c.who(), k.id).await.or_page(c)?;
        let items = detail.items.iter().map(|i| format!("{} × {}", i.name, i.qty)).collect::<Vec<_>>().join("，");
        let failed_refunds = detail
            .refunds
            .iter()
            .filter(|r| !r.failure.is_empty())
            .map(|r| (yuan(r.amount_fen), t.s(&format!("refund_failure_{}", r.failure)).to_string(), r.error.clone()))
            .collect();
        checkouts.push(CheckoutLine {
            id: k.id,
            refundable: k.state.was_paid() && k.refunded_fen < k.total_fen,
            out_trade_no: k.out_trade_no,
            customer: k.customer_name,
            items,
            total: yuan(k.total_fen),
            refunded: yuan(k.refunded_fen),
            state: k.state.as_str().to_string(),
            state_text: t.s(&format!("p_state_{}", k.state.as_str())).to_string(),
            created_at: crate::fmt::datetime(k.created_at),
            failed_refunds,
        });
    }
    Ok(CheckoutsPage {
        c: Chrome::new(state, c, "checkouts").await,
        checkouts,
        can_refund: c.who().allows(Action::ManageProducts),
        form,
    })
}

pub async fn checkouts(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = checkouts_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    if n.ok.as_deref() == Some("refund_requested") {
        p.c.flash = Some("flash_refund_requested");
    }
    Ok(render(&p))
}

pub async fn refund(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let amount = match f.get("amount").trim() {
        "" => Ok(None),
        t => parse_yuan(t).map(Some).ok_or_else(|| invalid("amount_fen", "an amount in yuan, like 9.9")),
    };
    let result = match amount {
        Ok(amount_fen) => {
            let input = RefundInput { amount_fen, reason: f.get("reason").into() };
            state.engine.refund_checkout(c.who(), id, &input).await.map_err(WebError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            state.wake_worker();
            Ok(see_other("/console/checkouts?ok=refund_requested"))
        }
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &checkouts_page(&state, c, form).await?))
        }
    }
}
