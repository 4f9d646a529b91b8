//! Channel codes (渠道活码): the list with each code's adds so far, the
//! editor, and a code's page with its QR, downloads, printable poster and
//! last 30 days.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use koi_domain::access::Action;
use koi_domain::channel::{
    ChannelCodeDraft, ChannelType, CodeDayStats, PoolMember, Routing, WelcomeDraft, WorkingHours,
};
use koi_domain::org::{Staff, Store};
use koi_domain::ValidationError;
use koi_engine::acquisition::ChannelCode;
use koi_engine::EngineError;
use std::collections::HashMap;

pub struct CodeRow {
    pub id: i64,
    pub name: String,
    pub channel: &'static str,
    pub store: String,
    pub pool: String,
    pub active: bool,
    pub created: String,
    pub adds: i64,
    pub net: i64,
}

/// A choice in a select: value, label.
pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "channel_codes.html")]
struct ListPage {
    c: Chrome,
    codes: Vec<CodeRow>,
    can_create: bool,
    form: FormView,
    channel_types: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    routings: Vec<&'static str>,
}

/// One line of a breakdown table.
pub struct StatRow {
    pub label: String,
    pub s: CodeDayStats,
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
    qr_svg: Option<String>,
    chart: String,
    days: Vec<StatRow>,
    by_staff: Vec<StatRow>,
    by_store: Vec<StatRow>,
    total: CodeDayStats,
    variants: Vec<VariantRow>,
}

#[derive(Template)]
#[template(path = "channel_code_poster.html")]
struct PosterPage {
    c: Chrome,
    code_id: i64,
    brand: String,
    store: String,
    code_name: String,
    qr_svg: String,
}

fn channel_label(c: &Console, t: ChannelType) -> &'static str {
    match c.lang {
        crate::i18n::Lang::Zh => t.label_zh(),
        crate::i18n::Lang::En => t.label_en(),
    }
}

fn names<T>(items: &[T], id: impl Fn(&T) -> i64, name: impl Fn(&T) -> &str) -> HashMap<i64, String> {
    items.iter().map(|i| (id(i), name(i).to_string())).collect()
}

const ROUTINGS: [&str; 5] = ["wecom_random", "round_robin", "daily_cap", "working_hours", "nearest_store"];

/// The choices the code editor offers.
struct EditorChoices {
    channel_types: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    routings: Vec<&'static str>,
}

fn editor_choices(c: &Console, stores: &[Store], staff: &[Staff]) -> EditorChoices {
    EditorChoices {
        channel_types: ChannelType::ALL
            .into_iter()
            .map(|t| Choice { value: t.as_str().into(), label: channel_label(c, t).into() })
            .collect(),
        stores: stores.iter().map(|s| Choice { value: s.id.to_string(), label: s.name.clone() }).collect(),
        staff: staff
            .iter()
            .filter(|s| s.active)
            .map(|s| Choice { value: s.id.to_string(), label: s.name.clone() })
            .collect(),
        routings: ROUTINGS.to_vec(),
    }
}

#[derive(Template)]
#[template(path = "channel_code_edit.html")]
struct EditPage {
    c: Chrome,
    id: i64,
    form: FormView,
    channel_types: Vec<Choice>,
    stores: Vec<Choice>,
    staff: Vec<Choice>,
    routings: Vec<&'static str>,
}

async fn edit_page(state: &AppState, c: &Console, id: i64, form: FormView) -> Result<EditPage, Response> {
    let who = c.who();
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(c)? } else { vec![] };
    let ch = editor_choices(c, &stores, &staff);
    Ok(EditPage {
        c: Chrome::new(state, c, "channel_codes").await,
        id,
        form,
        channel_types: ch.channel_types,
        stores: ch.stores,
        staff: ch.staff,
        routings: ch.routings,
    })
}

/// The editor's fields for a saved code: the inverse of [`draft`].
fn values_of(d: &ChannelCodeDraft) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("name".into(), d.name.clone()),
        ("channel_type".into(), d.channel_type.as_str().into()),
        ("routing".into(), d.routing.as_str().into()),
        ("auto_tag_ids".into(), d.auto_tag_ids.join(", ")),
        ("remark".into(), d.remark.clone()),
    ];
    let store = match d.routing {
        Routing::NearestStore { fallback_store_id, radius_m } => {
            v.push(("radius_m".into(), radius_m.to_string()));
            Some(fallback_store_id)
        }
        _ => d.store_id,
    };
    if let Some(s) = store {
        v.push(("store_id".into(), s.to_string()));
    }
    for m in &d.pool {
        v.push(("pool".into(), m.staff_id.to_string()));
        if m.backup {
            v.push(("backup".into(), m.staff_id.to_string()));
        }
    }
    if let Some(cap) = d.pool.iter().find_map(|m| m.daily_cap) {
        v.push(("daily_cap".into(), cap.to_string()));
    }
    if let Some(h) = d.pool.iter().find_map(|m| m.hours) {
        v.push(("hours_start".into(), format!("{:02}:{:02}", h.start_minute / 60, h.start_minute % 60)));
        v.push(("hours_end".into(), format!("{:02}:{:02}", h.end_minute / 60, h.end_minute % 60)));
    }
    for (i, w) in d.welcome.iter().take(2).enumerate() {
        let (text, weight) = if i == 0 { ("welcome_a", "weight_a") } else { ("welcome_b", "weight_b") };
        v.push((text.into(), w.text.clone()));
        v.push((weight.into(), w.weight.to_string()));
    }
    if let Some(t) = d.expires_at {
        let day = koi_domain::channel::local_day(t, crate::fmt::DISPLAY_OFFSET_MINUTES as i32);
        v.push(("expires_on".into(), crate::fmt::date(day)));
    }
    if d.skip_verify {
        v.push(("skip_verify".into(), "on".into()));
    }
    v
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let code = state.engine.channel_code(c.who(), id).await.or_page(&c)?;
    Ok(render(&edit_page(&state, &c, id, FormView::of(values_of(&code.draft))).await?))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.update_channel_code(c.who(), id, d).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/console/channel-codes/{id}?ok=saved"))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&state, c, id, form).await?))
        }
    }
}

async fn list_page(state: &AppState, c: &Console, form: FormView) -> Result<ListPage, Response> {
    let who = c.who();
    let codes = state.engine.channel_codes(who).await.or_page(c)?;
    let totals = state.engine.code_totals(who).await.or_page(c)?;
    let stores = state.engine.stores(who).await.or_page(c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(c)? } else { vec![] };
    let store_names = names(&stores, |s: &Store| s.id, |s| &s.name);
    let staff_names = names(&staff, |s: &Staff| s.id, |s| &s.name);
    let rows = codes
        .into_iter()
        .rev()
        .map(|code| {
            let (adds, live) = totals.get(&code.id).copied().unwrap_or((0, 0));
            CodeRow {
                id: code.id,
                channel: channel_label(c, code.draft.channel_type),
                store: code.store_id.and_then(|s| store_names.get(&s).cloned()).unwrap_or_else(|| "—".into()),
                pool: pool_names(&code.draft.pool, &staff_names).join("、"),
                active: code.active,
                created: crate::fmt::datetime(code.created_at),
                adds,
                net: live,
                name: code.name,
            }
        })
        .collect();
    let ch = editor_choices(c, &stores, &staff);
    Ok(ListPage {
        c: Chrome::new(state, c, "channel_codes").await,
        codes: rows,
        can_create: who.allows(Action::CreateStores),
        form,
        channel_types: ch.channel_types,
        stores: ch.stores,
        staff: ch.staff,
        routings: ch.routings,
    })
}

fn pool_names(pool: &[PoolMember], staff: &HashMap<i64, String>) -> Vec<String> {
    pool.iter()
        .map(|m| {
            let name = staff.get(&m.staff_id).cloned().unwrap_or_else(|| format!("#{}", m.staff_id));
            if m.backup {
                format!("{name}*")
            } else {
                name
            }
        })
        .collect()
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match draft(&f) {
        Ok(d) => state.engine.create_channel_code(c.who(), d).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(code) => Ok(see_other(&format!("/console/channel-codes/{}?ok=created", code.id))),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form).await?))
        }
    }
}

/// Reads the editor's fields into a draft. Problems with the form itself
/// (a number that is not one) are reported like the domain's own checks.
fn draft(f: &ConsoleForm) -> Result<ChannelCodeDraft, ValidationError> {
    let mut errors: Vec<koi_domain::FieldError> = Vec::new();
    let mut int = |field: &str| -> Option<i64> {
        let t = f.get(field).trim();
        if t.is_empty() {
            return None;
        }
        t.parse().map_err(|_| errors.push(koi_domain::FieldError::new(field, "not_a_number", format!("{t:?}")))).ok()
    };
    let store_id = int("store_id");
    let daily_cap = int("daily_cap");
    let radius_m = int("radius_m");
    let weight_a = int("weight_a").unwrap_or(50);
    let weight_b = int("weight_b").unwrap_or(50);
    let hours = match (minute_of(f.get("hours_start")), minute_of(f.get("hours_end"))) {
        (Some(s), Some(e)) => Some(WorkingHours::new(WorkingHours::EVERY_DAY, s, e)),
        _ => None,
    };
    let routing = match f.get("routing") {
        "round_robin" => Routing::RoundRobin,
        "daily_cap" => Routing::DailyCap,
        "working_hours" => Routing::WorkingHours,
        "nearest_store" => Routing::NearestStore {
            radius_m: radius_m.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
            fallback_store_id: store_id.unwrap_or(0),
        },
        _ => Routing::WecomRandom,
    };
    let backups: Vec<&str> = f.all("backup").collect();
    let mut pool = Vec::new();
    for id in f.all("pool") {
        let Ok(staff_id) = id.parse::<i64>() else { continue };
        let backup = backups.contains(&id);
        pool.push(PoolMember {
            staff_id,
            backup,
            daily_cap: (routing == Routing::DailyCap && !backup)
                .then(|| daily_cap.and_then(|n| u32::try_from(n).ok()))
                .flatten(),
            hours: (routing == Routing::WorkingHours && !backup).then_some(hours).flatten(),
        });
    }
    let mut welcome = Vec::new();
    for (text, weight) in [("welcome_a", weight_a), ("welcome_b", weight_b)] {
        let text = f.get(text).trim();
        if !text.is_empty() {
            let weight = u8::try_from(weight).unwrap_or(0);
            welcome.push(WelcomeDraft { weight, ..WelcomeDraft::text(text) });
        }
    }
    let expires_at = match f.get("expires_on").trim() {
        "" => None,
        day => match end_of_local_day(day) {
            Some(ms) => Some(ms),
            None => {
                errors.push(koi_domain::FieldError::new("expires_at", "not_a_date", format!("{day:?}")));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    Ok(ChannelCodeDraft {
        name: f.get("name").into(),
        channel_type: ChannelType::parse(f.get("channel_type")).unwrap_or_default(),
        store_id,
        pool,
        routing,
        auto_tag_ids: f
            .get("auto_tag_ids")
            .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        welcome,
        skip_verify: f.get("skip_verify") == "on",
        expires_at,
        remark: f.get("remark").into(),
        ..ChannelCodeDraft::default()
    })
}

/// `09:30` → 570.
fn minute_of(t: &str) -> Option<u16> {
    let (h, m) = t.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The last millisecond of `2026-12-31` in the brand's time zone: a code
/// "until the 31st" works through that whole day.
fn end_of_local_day(date: &str) -> Option<i64> {
    let day = koi_domain::calendar::parse_date(date)?;
    Some((day + 1) * 86_400_000 - crate::fmt::DISPLAY_OFFSET_MINUTES * 60_000 - 1)
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

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let who = c.who();
    let code = state.engine.channel_code(who, id).await.or_page(&c)?;
    let report = state.engine.code_report(who, id).await.or_page(&c)?;
    let stores = state.engine.stores(who).await.or_page(&c)?;
    let staff = if who.allows(Action::ViewStaff) { state.engine.staff_list(who).await.or_page(&c)? } else { vec![] };
    let store_names = names(&stores, |s: &Store| s.id, |s| &s.name);
    let staff_names = names(&staff, |s: &Staff| s.id, |s| &s.name);
    let qr_svg = match code.qr_code.as_deref().filter(|q| !q.is_empty()) {
        Some(url) => Some(crate::qr::svg(url).map_err(WebError::Internal).or_page(&c)?),
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

/// The contact way's URL, or a not-found page when WeCom never gave one.
async fn qr_url(state: &AppState, c: &Console, id: i64) -> Result<(ChannelCode, String), Response> {
    let code = state.engine.channel_code(c.who(), id).await.or_page(c)?;
    match code.qr_code.clone().filter(|q| !q.is_empty()) {
        Some(url) => Ok((code, url)),
        None => Err(error_page(c, WebError::NotFound)),
    }
}

fn download(kind: &'static str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

pub async fn qr_svg(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (_, url) = qr_url(&state, &c, id).await?;
    let svg = crate::qr::svg(&url).map_err(WebError::Internal).or_page(&c)?;
    Ok(download("image/svg+xml", format!("channel-code-{id}.svg"), svg.into_bytes()))
}

pub async fn qr_png(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (_, url) = qr_url(&state, &c, id).await?;
    // 10 px a module: about 450 px square, sharp on a printed A6 card.
    let png = crate::qr::png(&url, 10).map_err(WebError::Internal).or_page(&c)?;
    Ok(download("image/png", format!("channel-code-{id}.png"), png))
}

pub async fn poster(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let (code, url) = qr_url(&state, &c, id).await?;
    let store = match code.store_id {
        Some(s) => state.engine.store(c.who(), s).await.map(|s| s.name).unwrap_or_default(),
        None => String::new(),
    };
    let page = PosterPage {
        brand: state.engine.corp_name(c.who()).await.unwrap_or_default(),
        c: Chrome::new(&state, &c, "channel_codes").await,
        code_id: id,
        store,
        code_name: code.name,
        qr_svg: crate::qr::svg(&url).map_err(WebError::Internal).or_page(&c)?,
    };
    Ok(render(&page))
}

/// Switches a code off: WeCom deletes its contact way, koi keeps its history.
pub async fn deactivate(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.deactivate_channel_code(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other(&format!("/console/channel-codes/{id}?ok=saved")))
}
