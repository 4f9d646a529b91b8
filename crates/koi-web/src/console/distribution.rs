//! 分销 / Distribution: the distributors with their earnings (and making a
//! customer one, found by name), the settings (rates per level, per product
//! and per campaign picked from the list, the refund window, payout
//! bounds), the commission ledger, and payout batches (run one, see how
//! each transfer went).

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::customer::CustomerFilter;
use koi_domain::distribution::{DistributionSettings, PayoutEvery, PayoutSchedule, RateRule};
use koi_engine::distribution::{Commission, CommissionQuery, Distributor, OptIn, Payout, PayoutBatch};

/// Money as the console shows it: ¥12.34.
pub fn yuan(fen: &i64) -> String {
    let sign = if *fen < 0 { "-" } else { "" };
    let f = fen.abs();
    format!("{sign}¥{}.{:02}", f / 100, f % 100)
}

/// Basis points as a percentage: 1250 → 12.5.
pub fn percent(bp: &i64) -> String {
    let s = format!("{}.{:02}", bp / 100, bp % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[derive(Template)]
#[template(path = "distribution.html")]
struct DistributorsPage {
    c: Chrome,
    distributors: Vec<Distributor>,
    can_manage: bool,
    q: String,
    /// Customers matching `q`, to make distributors: (id, name).
    found: Vec<(i64, String)>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Search {
    q: String,
    ok: Option<String>,
}

pub async fn distributors(State(state): State<AppState>, c: Console, Query(s): Query<Search>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(&state, &c, "distribution").await.flash_from(s.ok.as_deref());
    let distributors = state.engine.distributors(who).await.or_page(&c)?;
    let q = s.q.trim().to_string();
    let mut found = vec![];
    if !q.is_empty() && who.allows(Action::ViewCustomers) {
        let filter = CustomerFilter { search: Some(q.clone()), ..Default::default() };
        let page = state.engine.customer_page(who, filter, 0, 20).await.or_page(&c)?;
        found = page.customers.into_iter().map(|x| (x.id, x.name)).collect();
    }
    let can_manage = who.allows(Action::ManageDistribution);
    Ok(render(&DistributorsPage { c: chrome, distributors, can_manage, q, found }))
}

pub async fn opt_in(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let customer_id = f.get("customer_id").trim().parse().unwrap_or(0);
    state.engine.opt_in_distributor(c.who(), OptIn { customer_id }).await.or_page(c)?;
    Ok(see_other("/console/distribution?ok=created"))
}

pub async fn toggle(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    f: ConsoleForm,
) -> Page {
    let c = &f.console;
    let patch = koi_engine::distribution::DistributorPatch { active: f.get("active") == "true" };
    state.engine.set_distributor_active(c.who(), id, patch).await.or_page(c)?;
    Ok(see_other("/console/distribution?ok=saved"))
}

/// A campaign row of the settings form: its rates when it has a rule.
pub struct CampaignRate {
    pub id: i64,
    pub name: String,
    pub level1: String,
    pub level2: String,
}

#[derive(Template)]
#[template(path = "distribution_settings.html")]
struct SettingsPage {
    c: Chrome,
    form: FormView,
    campaigns: Vec<CampaignRate>,
    can_manage: bool,
}

fn settings_values(s: &DistributionSettings) -> Vec<(String, String)> {
    let skus: Vec<String> = s
        .rules
        .iter()
        .filter_map(|r| {
            r.sku.as_ref().map(|sku| format!("{sku}, {}, {}", percent(&r.level1_bp), percent(&r.level2_bp)))
        })
        .collect();
    let mut v = vec![
        ("level1".into(), percent(&s.level1_bp)),
        ("level2".into(), percent(&s.level2_bp)),
        ("window_hours".into(), format!("{}", s.window_secs as f64 / 3600.0)),
        ("min_payout".into(), format!("{:.2}", s.min_payout_fen as f64 / 100.0)),
        ("max_payout".into(), format!("{:.2}", s.max_payout_fen as f64 / 100.0)),
        ("payout_desc".into(), s.payout_desc.clone()),
        ("sku_rules".into(), skus.join("\n")),
        ("payout_every".into(), every_name(s.payout_schedule.every).into()),
        ("payout_weekday".into(), s.payout_schedule.weekday.to_string()),
        ("payout_hour".into(), s.payout_schedule.hour.to_string()),
    ];
    if s.enabled {
        v.push(("enabled".into(), "on".into()));
    }
    v
}

async fn settings_page(
    state: &AppState,
    c: &Console,
    form: FormView,
    s: &DistributionSettings,
) -> Result<SettingsPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "distribution").await;
    let campaigns =
        if who.allows(Action::ViewCampaigns) { state.engine.campaigns(who).await.or_page(c)? } else { vec![] };
    let campaigns = campaigns
        .into_iter()
        .map(|x| {
            let id = x.campaign.id;
            let rule = s.rules.iter().find(|r| r.campaign_id == Some(id));
            let kept = |k: &str| form.values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            CampaignRate {
                id,
                name: x.campaign.name,
                level1: kept(&format!("c{id}_1"))
                    .unwrap_or_else(|| rule.map(|r| percent(&r.level1_bp)).unwrap_or_default()),
                level2: kept(&format!("c{id}_2"))
                    .unwrap_or_else(|| rule.map(|r| percent(&r.level2_bp)).unwrap_or_default()),
            }
        })
        .collect();
    Ok(SettingsPage { c: chrome, form, campaigns, can_manage: who.allows(Action::ManageDistribution) })
}

pub async fn settings(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let s = state.engine.distribution_settings(c.who()).await.or_page(&c)?;
    let mut p = settings_page(&state, &c, FormView::of(settings_values(&s)), &s).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn invalid(field: &str, message: &str) -> WebError {
    WebError::Engine(koi_engine::EngineError::Invalid(koi_domain::ValidationError::one(field, "not_a_number", message)))
}

/// "12.5" (percent) → 1250 basis points; empty → `None`.
fn bp_of(field: &str, text: &str) -> Result<Option<i64>, WebError> {
    let t = text.trim().trim_end_matches('%');
    if t.is_empty() {
        return Ok(None);
    }
    let v: f64 = t.parse().map_err(|_| invalid(field, "a percentage, such as 10 or 2.5"))?;
    Ok(Some((v * 100.0).round() as i64))
}

/// "1.50" (yuan) → 150 fen.
fn fen_of(field: &str, text: &str) -> Result<i64, WebError> {
    let v: f64 = text.trim().parse().map_err(|_| invalid(field, "an amount in yuan, such as 1.50"))?;
    Ok((v * 100.0).round() as i64)
}

fn every_name(e: PayoutEvery) -> &'static str {
    match e {
        PayoutEvery::Off => "off",
        PayoutEvery::Daily => "daily",
        PayoutEvery::Weekly => "weekly",
    }
}

/// The schedule fields of the form: how often, the weekday, the hour.
fn schedule_of(f: &ConsoleForm) -> Result<PayoutSchedule, WebError> {
    let bad = |field: &str, message: &str| {
        WebError::Engine(koi_engine::EngineError::Invalid(koi_domain::ValidationError::one(field, "invalid", message)))
    };
    // A field the form did not send (an older page) keeps the default.
    let d = PayoutSchedule::default();
    let every = match f.get("payout_every") {
        "" => d.every,
        "off" => PayoutEvery::Off,
        "daily" => PayoutEvery::Daily,
        "weekly" => PayoutEvery::Weekly,
        _ => return Err(bad("payout_schedule.every", "off, daily or weekly")),
    };
    let number = |name: &str, field: &str, message: &str, default: u8| match f.get(name).trim() {
        "" => Ok(default),
        t => t.parse().map_err(|_| bad(field, message)),
    };
    let weekday = number("payout_weekday", "payout_schedule.weekday", "1 (Monday) – 7 (Sunday)", d.weekday)?;
    let hour = number("payout_hour", "payout_schedule.hour", "an hour, 0–23", d.hour)?;
    Ok(PayoutSchedule { every, weekday, hour })
}

fn settings_of(f: &ConsoleForm, campaign_ids: &[i64]) -> Result<DistributionSettings, WebError> {
    let hours: f64 = f.get("window_hours").trim().parse().map_err(|_| invalid("window_secs", "hours, such as 168"))?;
    let mut rules = vec![];
    for (i, line) in f.get("sku_rules").lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split([',', '，']).map(str::trim).collect();
        let field = format!("rules[{i}]");
        if parts.len() != 3 {
            return Err(invalid(&field, "one rule a line: SKU, level-1 %, level-2 %"));
        }
        rules.push(RateRule {
            sku: Some(parts[0].to_string()),
            campaign_id: None,
            level1_bp: bp_of(&field, parts[1])?.unwrap_or(0),
            level2_bp: bp_of(&field, parts[2])?.unwrap_or(0),
        });
    }
    for id in campaign_ids {
        let (one, two) = (bp_of("rules", f.get(&format!("c{id}_1")))?, bp_of("rules", f.get(&format!("c{id}_2")))?);
        if one.is_some() || two.is_some() {
            rules.push(RateRule {
                sku: None,
                campaign_id: Some(*id),
                level1_bp: one.unwrap_or(0),
                level2_bp: two.unwrap_or(0),
            });
        }
    }
    Ok(DistributionSettings {
        enabled: f.get("enabled") == "on",
        level1_bp: bp_of("level1_bp", f.get("level1"))?.unwrap_or(0),
        level2_bp: bp_of("level2_bp", f.get("level2"))?.unwrap_or(0),
        rules,
        window_secs: (hours * 3600.0).round() as i64,
        min_payout_fen: fen_of("min_payout_fen", f.get("min_payout"))?,
        max_payout_fen: fen_of("max_payout_fen", f.get("max_payout"))?,
        payout_desc: f.get("payout_desc").to_string(),
        payout_schedule: schedule_of(f)?,
    })
}

pub async fn save_settings(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let who = c.who();
    let campaign_ids: Vec<i64> = if who.allows(Action::ViewCampaigns) {
        state.engine.campaigns(who).await.or_page(c)?.into_iter().map(|x| x.campaign.id).collect()
    } else {
        vec![]
    };
    let saved = match settings_of(&f, &campaign_ids) {
        Ok(s) => state.engine.save_distribution_settings(who, s).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Ok(see_other("/console/distribution/settings?ok=saved")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            let current = state.engine.distribution_settings(who).await.or_page(c)?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &settings_page(&state, c, form, &current).await?))
        }
    }
}

#[derive(Template)]
#[template(path = "distribution_commissions.html")]
struct CommissionsPage {
    c: Chrome,
    commissions: Vec<Commission>,
    state: String,
    /// distributor id → name
    names: std::collections::HashMap<i64, String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct StateFilter {
    state: String,
}

impl CommissionsPage {
    fn name_of(&self, id: &i64) -> &str {
        self.names.get(id).map_or("", String::as_str)
    }
}

pub async fn commissions(State(state): State<AppState>, c: Console, Query(q): Query<StateFilter>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(&state, &c, "distribution").await;
    let filter = CommissionQuery { state: Some(q.state.clone()).filter(|s| !s.is_empty()), ..Default::default() };
    let commissions = state.engine.commissions(who, &filter).await.or_page(&c)?;
    let names = state.engine.distributors(who).await.or_page(&c)?.into_iter().map(|d| (d.id, d.name)).collect();
    Ok(render(&CommissionsPage { c: chrome, commissions, state: q.state, names }))
}

#[derive(Template)]
#[template(path = "distribution_payouts.html")]
struct PayoutsPage {
    c: Chrome,
    batches: Vec<PayoutBatch>,
    payouts: Vec<Payout>,
    names: std::collections::HashMap<i64, String>,
    can_manage: bool,
}

impl PayoutsPage {
    fn name_of(&self, id: &i64) -> &str {
        self.names.get(id).map_or("", String::as_str)
    }
}

pub async fn payouts(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(&state, &c, "distribution").await.flash_from(n.ok.as_deref());
    let batches = state.engine.payout_batches(who).await.or_page(&c)?;
    let payouts = state.engine.payouts(who, None).await.or_page(&c)?;
    let names = state.engine.distributors(who).await.or_page(&c)?.into_iter().map(|d| (d.id, d.name)).collect();
    let can_manage = who.allows(Action::ManageDistribution);
    Ok(render(&PayoutsPage { c: chrome, batches, payouts, names, can_manage }))
}

pub async fn run_payouts(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.run_payouts(c.who()).await.or_page(c)?;
    state.wake_worker();
    Ok(see_other("/console/distribution/payouts?ok=queued"))
}
