//! 订单 / Orders: the list (filters picked from lists, paging), an order's
//! page (items, refunds, the customer it found, its attribution with the
//! rule that decided, a refund form), the shops' integrations (the secret
//! shown once), the attribution rules, the report by guide, store or code,
//! and the CSV import.

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::order::{AttributionRule, AttributionSettings, DutyGuide, RefundDraft};
use koi_engine::orders::{IntegrationView, OrderDetail, OrderQuery, OrderView, ReportView};

const PAGE: i64 = 50;

pub fn yuan(fen: &i64) -> String {
    format!("¥{}.{:02}", fen / 100, (fen % 100).abs())
}

/// A rule's or a status's words.
fn words(c: &Chrome, prefix: &str, key: &str) -> String {
    c.t.s(&format!("{prefix}{key}")).to_string()
}

pub struct Row {
    pub o: OrderView,
    pub status: String,
    pub rule: String,
}

fn row(c: &Chrome, o: OrderView) -> Row {
    Row { status: words(c, "o_status_", &o.status), rule: words(c, "o_rule_", &o.rule), o }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    total: i64,
    q: FormView,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    statuses: Vec<Choice>,
    prev: Option<String>,
    next: Option<String>,
    can_manage: bool,
    row_errors: Vec<koi_domain::import::RowError>,
    report: Option<koi_domain::import::ImportReport>,
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    store_id: Option<String>,
    staff_id: Option<String>,
    matched: Option<String>,
    shop_order_id: Option<String>,
    offset: Option<i64>,
    ok: Option<String>,
}

fn id_of(s: &Option<String>) -> Option<i64> {
    s.as_deref().and_then(|v| v.trim().parse().ok())
}

async fn choices(state: &AppState, c: &Console) -> Result<(Vec<Choice>, Vec<Choice>), Response> {
    let stores = state.engine.stores(c.who()).await.or_page(c)?;
    let stores = stores.into_iter().map(|s| Choice { value: s.id.to_string(), label: s.name }).collect();
    let staff = state.engine.staff_list(c.who()).await.or_page(c)?;
    let staff = staff.into_iter().map(|s| Choice { value: s.id.to_string(), label: s.name }).collect();
    Ok((stores, staff))
}

async fn list_page(
    state: &AppState,
    c: &Console,
    l: &ListQuery,
    import_errors: Vec<koi_domain::import::RowError>,
) -> Result<ListPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "order_list").await.flash_from(l.ok.as_deref());
    let offset = l.offset.unwrap_or(0).max(0);
    let q = OrderQuery {
        status: l.status.clone().filter(|s| !s.is_empty()),
        store_id: id_of(&l.store_id),
        staff_id: id_of(&l.staff_id),
        matched: match l.matched.as_deref() {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        },
        shop_order_id: l.shop_order_id.clone().filter(|s| !s.trim().is_empty()),
        limit: Some(PAGE),
        offset: Some(offset),
        ..Default::default()
    };
    let list = state.engine.orders(who, &q).await.or_page(c)?;
    let (stores, staff) = choices(state, c).await?;
    let values: Vec<(String, String)> = [
        ("status", &l.status),
        ("store_id", &l.store_id),
        ("staff_id", &l.staff_id),
        ("matched", &l.matched),
        ("shop_order_id", &l.shop_order_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone().unwrap_or_default()))
    .collect();
    let link = |off: i64| {
        let mut s = String::from("/console/orders?");
        for (k, v) in &values {
            s.push_str(&format!("{k}={}&", urlencoding(v)));
        }
        format!("{s}offset={off}")
    };
    let statuses = koi_domain::order::OrderStatus::ALL
        .iter()
        .map(|s| Choice { value: s.as_str().into(), label: words(&chrome, "o_status_", s.as_str()) })
        .collect();
    Ok(ListPage {
        prev: (offset > 0).then(|| link((offset - PAGE).max(0))),
        next: (offset + PAGE < list.total).then(|| link(offset + PAGE)),
        rows: list.orders.into_iter().map(|o| row(&chrome, o)).collect(),
        total: list.total,
        q: FormView::of(values),
        stores,
        staff,
        statuses,
        can_manage: who.allows(Action::ManageOrders),
        row_errors: import_errors,
        report: None,
        c: chrome,
    })
}

fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn list(State(state): State<AppState>, c: Console, Query(l): Query<ListQuery>) -> Page {
    Ok(render(&list_page(&state, &c, &l, vec![]).await?))
}

/// The CSV upload: all or nothing, with the report or every bad row.
pub async fn import(State(state): State<AppState>, c: Console, upload: Multipart) -> Page {
    let bytes = super::read_upload(&c, upload).await?;
    match state.engine.import_orders(c.who(), &bytes).await {
        Ok(report) => {
            let mut p = list_page(&state, &c, &ListQuery::default(), vec![]).await?;
            p.report = Some(report);
            Ok(render(&p))
        }
        Err(koi_engine::EngineError::ImportRejected(rows)) => {
            let p = list_page(&state, &c, &ListQuery::default(), rows).await?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(error_page(&c, e.into())),
    }
}

pub async fn template(_c: Console) -> Response {
    super::csv_download(
        "orders.csv",
        "shop_order_id,ordered_at,store_code,amount,paid,sku,name,qty,price,member_id,phone_hash,unionid\n\
         SO-1001,2026-11-11 10:00:00,SH-001,39.80,29.80,SKU-1,苹果礼盒,2,19.90,M-1001,,\n",
    )
}

#[derive(Template)]
#[template(path = "order.html")]
struct ShowPage {
    c: Chrome,
    d: OrderDetail,
    r: Row,
    can_manage: bool,
    form: FormView,
}

async fn show_page(
    state: &AppState,
    c: &Console,
    id: i64,
    form: FormView,
    ok: Option<&str>,
) -> Result<ShowPage, Response> {
    let d = state.engine.order(c.who(), id).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "order_list").await.flash_from(ok);
    Ok(ShowPage {
        r: row(&chrome, d.order.clone()),
        d,
        c: chrome,
        can_manage: c.who().allows(Action::ManageOrders),
        form,
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    Ok(render(&show_page(&state, &c, id, FormView::default(), n.ok.as_deref()).await?))
}

pub async fn refund(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let amount = f.get("amount").trim();
    let amount_fen = match amount {
        "" => None,
        a => match koi_domain::order::yuan_to_fen(a) {
            Some(fen) => Some(fen),
            None => {
                let e = koi_domain::ValidationError::one("amount_fen", "not_money", "the amount is yuan like 19.90");
                let form = FormView { values: f.fields.clone(), errors: e.0 };
                return Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &show_page(&state, c, id, form, None).await?));
            }
        },
    };
    let draft = RefundDraft { refund_id: f.get("refund_id").into(), amount_fen, reason: f.get("reason").into() };
    match state.engine.refund_order(c.who(), id, &draft).await {
        Ok(_) => Ok(see_other(&format!("/console/orders/{id}?ok=saved"))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &show_page(&state, c, id, form, None).await?))
        }
    }
}

#[derive(Template)]
#[template(path = "order_integrations.html")]
struct IntegrationsPage {
    c: Chrome,
    integrations: Vec<IntegrationView>,
    /// A secret just made, shown this once.
    secret: Option<(String, String)>,
    form: FormView,
}

async fn integrations_page(
    state: &AppState,
    c: &Console,
    secret: Option<(String, String)>,
    form: FormView,
    ok: Option<&str>,
) -> Result<IntegrationsPage, Response> {
    let integrations = state.engine.order_integrations(c.who()).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "order_integrations").await.flash_from(ok);
    Ok(IntegrationsPage { c: chrome, integrations, secret, form })
}

pub async fn integrations(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    Ok(render(&integrations_page(&state, &c, None, FormView::default(), n.ok.as_deref()).await?))
}

pub async fn create_integration(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.create_order_integration(c.who(), f.get("name")).await {
        Ok(made) => {
            let secret = Some((made.integration.name.clone(), made.secret));
            Ok(render(&integrations_page(&state, c, secret, FormView::default(), Some("created")).await?))
        }
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &integrations_page(&state, c, None, form, None).await?))
        }
    }
}

/// Switch on/off, a new secret, or delete (`action`).
pub async fn change_integration(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let list = state.engine.order_integrations(c.who()).await.or_page(c)?;
    let Some(i) = list.into_iter().find(|i| i.id == id) else {
        return Err(error_page(c, WebError::NotFound));
    };
    match f.get("action") {
        "delete" => {
            state.engine.delete_order_integration(c.who(), id).await.or_page(c)?;
            Ok(see_other("/console/order-integrations?ok=deleted"))
        }
        "secret" => {
            let s = state.engine.update_order_integration(c.who(), id, &i.name, i.active, true).await.or_page(c)?;
            let secret = s.map(|s| (i.name.clone(), s));
            Ok(render(&integrations_page(&state, c, secret, FormView::default(), Some("saved")).await?))
        }
        _ => {
            state.engine.update_order_integration(c.who(), id, &i.name, !i.active, false).await.or_page(c)?;
            Ok(see_other("/console/order-integrations?ok=saved"))
        }
    }
}

pub struct RuleSlot {
    pub position: usize,
    pub chosen: String,
}

pub struct DutyRow {
    pub store_id: i64,
    pub store: String,
    /// The guide's id, '' for none.
    pub chosen: String,
}

#[derive(Template)]
#[template(path = "order_attribution.html")]
struct AttributionPage {
    c: Chrome,
    slots: Vec<RuleSlot>,
    rules: Vec<Choice>,
    lock_days: u32,
    duty: Vec<DutyRow>,
    staff: Vec<Choice>,
    can_manage: bool,
    form: FormView,
    campaign_window_days: u32,
}

const RULE_NAMES: [&str; 5] = ["coupon_guide", "locked_guide", "first_guide", "last_guide", "store_on_duty"];

async fn attribution_page(
    state: &AppState,
    c: &Console,
    form: FormView,
    ok: Option<&str>,
) -> Result<AttributionPage, Response> {
    let s = state.engine.attribution_settings(c.who()).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "order_attribution").await.flash_from(ok);
    let (stores, staff) = choices(state, c).await?;
    let lock_days = s
        .rules
        .iter()
        .find_map(|r| match r {
            AttributionRule::LockedGuide { days } => Some(*days),
            _ => None,
        })
        .unwrap_or(30);
    Ok(AttributionPage {
        slots: (0..RULE_NAMES.len())
            .map(|i| RuleSlot { position: i + 1, chosen: s.rules.get(i).map_or("", |r| r.name()).into() })
            .collect(),
        rules: RULE_NAMES.iter().map(|r| Choice { value: (*r).into(), label: words(&chrome, "o_rule_", r) }).collect(),
        lock_days,
        campaign_window_days: s.campaign_window_days,
        duty: stores
            .into_iter()
            .map(|st| {
                let id: i64 = st.value.parse().unwrap_or(0);
                let chosen =
                    s.duty.iter().find(|d| d.store_id == id).map(|d| d.staff_id.to_string()).unwrap_or_default();
                DutyRow { store_id: id, chosen, store: st.label }
            })
            .collect(),
        staff,
        can_manage: c.who().allows(Action::ManageOrders),
        form,
        c: chrome,
    })
}

pub async fn attribution(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    Ok(render(&attribution_page(&state, &c, FormView::default(), n.ok.as_deref()).await?))
}

pub async fn save_attribution(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let days: u32 = f.get("lock_days").trim().parse().unwrap_or(0);
    let mut rules = Vec::new();
    for i in 1..=RULE_NAMES.len() {
        let rule = match f.get(&format!("rule{i}")) {
            "coupon_guide" => AttributionRule::CouponGuide,
            "locked_guide" => AttributionRule::LockedGuide { days },
            "first_guide" => AttributionRule::FirstGuide,
            "last_guide" => AttributionRule::LastGuide,
            "store_on_duty" => AttributionRule::StoreOnDuty,
            _ => continue,
        };
        rules.push(rule);
    }
    let duty = f
        .fields
        .iter()
        .filter_map(|(k, v)| {
            let store_id = k.strip_prefix("duty_")?.parse().ok()?;
            let staff_id = v.parse().ok()?;
            Some(DutyGuide { store_id, staff_id })
        })
        .collect();
    let campaign_window_days = match f.get("campaign_window_days").trim() {
        "" => koi_domain::order::DEFAULT_CAMPAIGN_WINDOW_DAYS,
        v => v.parse().unwrap_or(0),
    };
    let settings = AttributionSettings { rules, duty, campaign_window_days };
    match state.engine.set_attribution_settings(c.who(), &settings).await {
        Ok(()) => Ok(see_other("/console/order-attribution?ok=saved")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &attribution_page(&state, c, form, None).await?))
        }
    }
}

#[derive(Template)]
#[template(path = "order_report.html")]
struct ReportPage {
    c: Chrome,
    r: ReportView,
    from: String,
    to: String,
}

#[derive(serde::Deserialize, Default)]
pub struct ReportQuery {
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A `YYYY-MM-DD` date as the start of that day, Beijing time.
fn day_start(text: &str) -> Option<i64> {
    koi_domain::order::parse_time(&format!("{} 00:00", text.trim()))
}

pub async fn report(State(state): State<AppState>, c: Console, Query(q): Query<ReportQuery>) -> Page {
    let now = koi_store_now();
    let to_text = q.to.clone().filter(|t| day_start(t).is_some()).unwrap_or_else(|| crate::fmt::date(now / 86_400_000));
    let from_text =
        q.from.clone().filter(|t| day_start(t).is_some()).unwrap_or_else(|| crate::fmt::date(now / 86_400_000 - 30));
    let from = day_start(&from_text).unwrap_or(0);
    let to = day_start(&to_text).unwrap_or(now) + 86_400_000;
    let by =
        q.by.clone().filter(|b| matches!(b.as_str(), "staff" | "store" | "code")).unwrap_or_else(|| "staff".into());
    let r = state.engine.orders_report(c.who(), &by, from, to).await.or_page(&c)?;
    let chrome = Chrome::new(&state, &c, "order_report").await;
    Ok(render(&ReportPage { c: chrome, r, from: from_text, to: to_text }))
}

fn koi_store_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
