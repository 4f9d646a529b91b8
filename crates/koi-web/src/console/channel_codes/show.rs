//! A code's page: its QR, the last 30 days by day, member and store, how
//! each welcome variant did; and switching the code off.

use super::{channel_label, pool_names, staff_names, store_names};
use crate::auth::{Console, ConsoleForm};
use crate::console::{render, see_other, Chrome, Notice, OrPage, Page};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use koi_domain::access::Action;
use koi_domain::channel::CodeDayStats;
use koi_engine::acquisition::ChannelCode;

/// One line of a breakdown table.
pub struct StatRow {
    pub label: String,
    pub s: CodeDayStats,
}

/// One welcome variant's outcome: how many were greeted with it and how
/// many of those have left since.
pub struct VariantRow {
    pub name: String,
    pub text: String,
    pub sent: u32,
    pub lost: u32,
    pub retained: String,
}

#[derive(Template)]
#[template(path = "channel_code.html")]
struct DetailPage {
    c: Chrome,
    code: ChannelCode,
    channel: &'static str,
    store: String,
    pool: Vec<String>,
    created: String,
    expires: String,
    /// A nearest-store code's landing page, which its QR encodes.
    landing_url: Option<String>,
    qr_svg: Option<String>,
    chart: String,
    days: Vec<StatRow>,
    by_staff: Vec<StatRow>,
    by_store: Vec<StatRow>,
    total: CodeDayStats,
    /// The code's orders in the window.
    orders: koi_engine::reports::CodeOrders,
    variants: Vec<VariantRow>,
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let who = c.who();
    let code = state.engine.channel_code(who, id).await.or_page(&c)?;
    let report = state.engine.code_report(who, id).await.or_page(&c)?;
    let stores = state.engine.stores(who).await.or_page(&c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(&c)? } else { vec![] };
    let store_names = store_names(&stores);
    let staff_names = staff_names(&staff);
    let landing_url = super::landing_url(&state, &code);
    let qr_svg = match super::printed_url(&state, &code) {
        Some(url) => Some(crate::qr::svg(&url).map_err(WebError::Internal).or_page(&c)?),
        None => None,
    };
    let row = |label: String, s: CodeDayStats| StatRow { label, s };
    let page = DetailPage {
        c: Chrome::new(&state, &c, "channel_codes").await.flash_from(n.ok.as_deref()),
        channel: channel_label(&c, code.draft.channel_type),
        store: code.store_id.and_then(|s| store_names.get(&s).cloned()).unwrap_or_else(|| "—".into()),
        pool: pool_names(&code.draft.pool, &staff_names),
        created: crate::fmt::datetime(code.created_at),
        expires: crate::fmt::opt_datetime(code.draft.expires_at),
        landing_url,
        qr_svg,
        chart: crate::chart::daily_adds(&report.days),
        days: report
            .days
            .iter()
            .rev()
            .filter(|(_, s)| s.adds + s.deletions > 0)
            .map(|(d, s)| row(crate::fmt::date(*d), *s))
            .collect(),
        by_staff: report
            .by_staff
            .iter()
            .map(|(id, s)| row(staff_names.get(id).cloned().unwrap_or_else(|| format!("#{id}")), *s))
            .collect(),
        by_store: report
            .by_store
            .iter()
            .map(|(id, s)| row(id.and_then(|i| store_names.get(&i).cloned()).unwrap_or_else(|| "—".into()), *s))
            .collect(),
        total: report.total,
        orders: report.orders,
        variants: report
            .variants
            .iter()
            .map(|&(v, sent, lost)| VariantRow {
                name: char::from(b'A' + (v as u8).min(25)).to_string(),
                text: code.draft.welcome.get(v).map(|w| w.text.clone()).unwrap_or_default(),
                sent,
                lost,
                retained: if sent == 0 {
                    "—".into()
                } else {
                    format!("{:.0}%", 100.0 * f64::from(sent - lost.min(sent)) / f64::from(sent))
                },
            })
            .collect(),
        code,
    };
    Ok(render(&page))
}

/// Switches a code off: WeCom deletes its contact way, koi keeps its history.
pub async fn deactivate(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.deactivate_channel_code(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/channel-codes/{id}?ok=saved")))
}
