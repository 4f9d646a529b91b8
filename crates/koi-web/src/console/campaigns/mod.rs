//! 裂变活动 / Campaigns: the list with each campaign's headline counts, the
//! form that makes or edits one (stores, staff, the seed audience, the
//! poster template, the group code and each reward's coupon template or
//! group code chosen by name; reward tiers as rows; a migration's old
//! groups one a line), the live dashboard (a migration's per old group)
//! (figures, invites by day, the risk report, per guide and per store, the
//! participants with their H5 pages, invites with overrides, the reward
//! ledger with retries), and the stores' redemption page (核销).

pub(super) mod form;

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use koi_domain::access::Action;
use koi_domain::campaign::{CampaignState, RewardKind, Transition};
use koi_domain::group::GroupCodeType;
use koi_domain::FieldError;
use koi_engine::campaigns::{Campaign, Dashboard, Invite, InviteQuery, MigrationBoard, Participant, Reward};
use koi_engine::EngineError;
use serde::Deserialize;

/// A campaign in the list.
pub struct Line {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub window: String,
    pub participants: i64,
    pub valid: i64,
    pub pending: i64,
    pub rejected: i64,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    c: Chrome,
    lines: Vec<Line>,
    can_manage: bool,
}

/// A name the form offers as a checkbox or option.
pub struct Pick {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

/// What the form offers besides its values.
pub struct FormChoices {
    pub stores: Vec<Pick>,
    pub staff: Vec<Pick>,
    pub segments: Vec<Choice>,
    pub group_codes: Vec<Choice>,
    pub poster_templates: Vec<Choice>,
    /// Coupon templates a coupon reward issues (not archived).
    pub coupon_templates: Vec<Choice>,
    pub kinds: Vec<&'static str>,
    pub reward_kinds: Vec<&'static str>,
    pub tier_rows: Vec<usize>,
    /// A running or paused campaign: only safe changes.
    pub live: bool,
}

/// One row of reward tiers in the form.
pub struct TierRow {
    pub i: usize,
    pub threshold: String,
    pub kind: String,
    pub title: String,
    pub amount: String,
    pub url: String,
    pub cost: String,
    pub inventory: String,
    pub coupon_template: String,
    pub group_code: String,
    /// (field, message) of the row's errors.
    pub errs: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "campaign_edit.html")]
struct EditPage {
    c: Chrome,
    title: String,
    action: String,
    back: String,
    form: FormView,
    ch: FormChoices,
    tier_rows: Vec<TierRow>,
    friend_errs: Vec<(String, String)>,
}

impl EditPage {
    fn tr(&self, prefix: &str, v: &str) -> String {
        self.c.t.s(&format!("{prefix}{v}")).to_string()
    }

    /// Whether the seed expression is one of the saved segments.
    fn seed_saved(&self) -> bool {
        let v = self.form.v("seed_segment");
        self.ch.segments.iter().any(|s| s.value == v)
    }
}

impl ShowPage {
    fn tr(&self, prefix: &str, v: &str) -> String {
        self.c.t.s(&format!("{prefix}{v}")).to_string()
    }

    fn time(&self, ms: &i64) -> String {
        crate::fmt::datetime(*ms)
    }

    fn opt_time(&self, ms: &Option<i64>) -> String {
        crate::fmt::opt_datetime(*ms)
    }

    fn customer(&self, participant_id: &i64) -> String {
        self.participants.iter().find(|p| p.id == *participant_id).map(|p| p.name.clone()).unwrap_or_default()
    }

    fn amount(&self, r: &Reward) -> String {
        reward_amount(&r.kind, r.amount)
    }

    fn pct(&self, x: &f64) -> String {
        pct(*x)
    }
}

impl RedeemPage {
    fn tr(&self, prefix: &str, v: &str) -> String {
        self.c.t.s(&format!("{prefix}{v}")).to_string()
    }

    fn opt_time(&self, ms: &Option<i64>) -> String {
        crate::fmt::opt_datetime(*ms)
    }
}

fn tier_rows(form: &FormView, n: usize) -> Vec<TierRow> {
    (0..n)
        .map(|i| {
            let v = |k: &str| form.v(&format!("tier{i}_{k}")).to_string();
            let prefix = format!("tiers[{i}]");
            let errs = form
                .errors
                .iter()
                .filter(|e| e.field == prefix || e.field.starts_with(&format!("{prefix}.")))
                .map(|e| (e.field.clone(), e.message.clone()))
                .collect();
            TierRow {
                i,
                threshold: v("threshold"),
                kind: v("kind"),
                title: v("title"),
                amount: v("amount"),
                url: v("url"),
                cost: v("cost"),
                inventory: v("inventory"),
                coupon_template: v("coupon_template"),
                group_code: v("group_code"),
                errs,
            }
        })
        .collect()
}

/// A figure of the dashboard.
pub struct Figure {
    pub key: &'static str,
    pub id: &'static str,
    pub value: String,
}

/// A reason of the risk report.
pub struct ReasonLine {
    pub reason: String,
    pub invites: i64,
}

#[derive(Template)]
#[template(path = "campaign.html")]
struct ShowPage {
    c: Chrome,
    campaign: Campaign,
    state: &'static str,
    window: String,
    figures: Vec<Figure>,
    chart: String,
    d: Dashboard,
    reasons: Vec<ReasonLine>,
    participants: Vec<Participant>,
    invites: Vec<Invite>,
    rewards: Vec<Reward>,
    filter_state: String,
    filter_reason: String,
    reason_keys: Vec<&'static str>,
    actions: Vec<&'static str>,
    can_manage: bool,
    /// A migration's dashboard per old group.
    migration: Option<MigrationBoard>,
}

#[derive(Template)]
#[template(path = "campaign_redeem.html")]
struct RedeemPage {
    c: Chrome,
    code: String,
    redeemed: Option<Reward>,
    error: Option<String>,
    stores: Vec<Choice>,
    store: String,
}

fn kind_key(k: koi_domain::campaign::CampaignKind) -> &'static str {
    match k {
        koi_domain::campaign::CampaignKind::Task => "c_kind_task",
        koi_domain::campaign::CampaignKind::Group => "c_kind_group",
        koi_domain::campaign::CampaignKind::Poster => "c_kind_poster",
        koi_domain::campaign::CampaignKind::Migration => "c_kind_migration",
    }
}

fn state_key(s: CampaignState) -> &'static str {
    match s {
        CampaignState::Draft => "c_state_draft",
        CampaignState::Scheduled => "c_state_scheduled",
        CampaignState::Running => "c_state_running",
        CampaignState::Paused => "c_state_paused",
        CampaignState::Ended => "c_state_ended",
    }
}

fn window(c: &Campaign) -> String {
    format!("{} – {}", crate::fmt::datetime(c.starts_at), crate::fmt::datetime(c.ends_at))
}

/// ¥12.50
pub fn money(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, (fen % 100).abs())
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let who = c.who();
    let lines = state
        .engine
        .campaigns(who)
        .await
        .or_page(&c)?
        .into_iter()
        .map(|s| Line {
            id: s.campaign.id,
            name: s.campaign.name.clone(),
            kind: kind_key(s.campaign.kind),
            state: state_key(s.campaign.state),
            window: window(&s.campaign),
            participants: s.totals.participants,
            valid: s.totals.valid,
            pending: s.totals.pending,
            rejected: s.totals.rejected,
            cost: money(s.totals.cost_fen),
        })
        .collect();
    let chrome = Chrome::new(&state, &c, "campaigns").await.flash_from(n.ok.as_deref());
    Ok(render(&ListPage { c: chrome, lines, can_manage: who.allows(Action::ManageCampaigns) }))
}

fn sort_choices(list: &mut [Choice]) {
    list.sort_by(|a, b| a.label.cmp(&b.label));
}

async fn choices(
    state: &AppState,
    c: &Console,
    form: &FormView,
    live: bool,
) -> Result<FormChoices, axum::response::Response> {
    let who = c.who();
    let pick = |id: i64, name: String, field: &str| Pick {
        checked: form.checked(field, &id.to_string()),
        id: id.to_string(),
        name,
    };
    let mut stores: Vec<Pick> =
        state.engine.stores(who).await.or_page(c)?.into_iter().map(|s| pick(s.id, s.name, "store")).collect();
    stores.sort_by(|a, b| a.name.cmp(&b.name));
    let mut staff: Vec<Pick> = state
        .engine
        .staff_list(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|s| s.active || form.checked("staff", &s.id.to_string()))
        .map(|s| pick(s.id, s.name, "staff"))
        .collect();
    staff.sort_by(|a, b| a.name.cmp(&b.name));
    let segments = match state.engine.segments(who).await {
        Ok(list) => list.into_iter().map(|s| Choice { value: s.expr, label: s.name }).collect(),
        Err(EngineError::Forbidden) => vec![],
        Err(e) => return Err(error_page(c, e.into())),
    };
    let group_codes = match state.engine.group_codes(who).await {
        Ok(list) => list
            .into_iter()
            .filter(|g| g.code_type == GroupCodeType::Rotating)
            .map(|g| Choice { value: g.id.to_string(), label: g.name })
            .collect(),
        Err(EngineError::Forbidden) => vec![],
        Err(e) => return Err(error_page(c, e.into())),
    };
    let mut poster_templates = match state.engine.poster_templates(who).await {
        Ok(list) => list.into_iter().map(|t| Choice { value: t.id.to_string(), label: t.name }).collect(),
        Err(EngineError::Forbidden) => vec![],
        Err(e) => return Err(error_page(c, e.into())),
    };
    sort_choices(&mut poster_templates);
    let mut coupon_templates = match state.engine.coupon_templates(who).await {
        Ok(list) => list
            .into_iter()
            .filter(|t| !t.archived)
            .map(|t| Choice { value: t.id.to_string(), label: format!("{}（{}）", t.draft.name, t.title) })
            .collect(),
        Err(EngineError::Forbidden) => vec![],
        Err(e) => return Err(error_page(c, e.into())),
    };
    sort_choices(&mut coupon_templates);
    Ok(FormChoices {
        stores,
        staff,
        segments,
        group_codes,
        poster_templates,
        coupon_templates,
        kinds: vec!["task", "group", "poster", "migration"],
        reward_kinds: vec!["coupon", "red_envelope", "points", "gift", "group"],
        tier_rows: (0..form::tier_rows(&form.values)).collect(),
        live,
    })
}

async fn edit_page(
    state: &AppState,
    c: &Console,
    id: Option<i64>,
    form: FormView,
    live: bool,
) -> Result<EditPage, axum::response::Response> {
    let ch = choices(state, c, &form, live).await?;
    let chrome = Chrome::new(state, c, "campaigns").await;
    let (title, action, back) = match id {
        Some(id) => (
            chrome.t.s("c_edit").to_string(),
            format!("/console/campaigns/{id}/edit"),
            format!("/console/campaigns/{id}"),
        ),
        None => (chrome.t.s("c_new").to_string(), "/console/campaigns".into(), "/console/campaigns".into()),
    };
    let tier_rows = tier_rows(&form, ch.tier_rows.len());
    let friend_errs = form
        .errors
        .iter()
        .filter(|e| e.field.starts_with("invitee_reward"))
        .map(|e| (e.field.clone(), e.message.clone()))
        .collect();
    Ok(EditPage { c: chrome, title, action, back, form, ch, tier_rows, friend_errs })
}

/// Only those who manage campaigns get the form (the engine refuses the post anyway).
fn may_manage(c: &Console) -> Result<(), axum::response::Response> {
    if c.who().allows(Action::ManageCampaigns) {
        Ok(())
    } else {
        Err(error_page(c, WebError::Engine(EngineError::Forbidden)))
    }
}

pub async fn new(State(state): State<AppState>, c: Console) -> Page {
    may_manage(&c)?;
    let f = FormView::of(form::values_of(&form::blank(now_ms())));
    Ok(render(&edit_page(&state, &c, None, f, false).await?))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Field errors are shown on the form with what was typed; tier errors
/// name the form's row.
fn failed(values: Vec<(String, String)>, e: WebError, rows: &[usize]) -> Result<FormView, WebError> {
    let mut f = FormView::failed(values, e)?;
    f.errors = form::remap(std::mem::take(&mut f.errors), rows);
    for e in &mut f.errors {
        if e.field == "expr" {
            e.field = "seed_segment".into();
        }
    }
    Ok(f)
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let (result, rows) = match form::draft(&f) {
        Ok((d, rows)) => (state.engine.create_campaign(c.who(), &d).await.map_err(WebError::from), rows),
        Err(e) => (Err(WebError::Engine(EngineError::Invalid(e))), vec![]),
    };
    match result {
        Ok(camp) => Ok(see_other(&format!("/console/campaigns/{}?ok=created", camp.id))),
        Err(e) => {
            let form = failed(f.fields.clone(), e, &rows).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&state, c, None, form, false).await?))
        }
    }
}

fn is_live(s: CampaignState) -> bool {
    matches!(s, CampaignState::Running | CampaignState::Paused)
}

pub async fn edit(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    may_manage(&c)?;
    let camp = state.engine.campaign(c.who(), id).await.or_page(&c)?;
    let f = FormView::of(form::values_of(&camp.draft));
    Ok(render(&edit_page(&state, &c, Some(id), f, is_live(camp.state)).await?))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let camp = state.engine.campaign(c.who(), id).await.or_page(c)?;
    let (result, rows) = match form::draft(&f) {
        Ok((d, rows)) => (state.engine.update_campaign(c.who(), id, &d).await.map_err(WebError::from), rows),
        Err(e) => (Err(WebError::Engine(EngineError::Invalid(e))), vec![]),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/console/campaigns/{id}?ok=saved"))),
        Err(e) => {
            let form = failed(f.fields.clone(), e, &rows).map_err(|e| error_page(c, e))?;
            let page = edit_page(&state, c, Some(id), form, is_live(camp.state)).await?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    pub ok: Option<String>,
    pub state: Option<String>,
    pub reason: Option<String>,
}

fn actions(s: CampaignState) -> Vec<&'static str> {
    match s {
        CampaignState::Draft => vec!["launch", "end"],
        CampaignState::Scheduled => vec!["end"],
        CampaignState::Running => vec!["pause", "end"],
        CampaignState::Paused => vec!["resume", "end"],
        CampaignState::Ended => vec![],
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(q): Query<ShowQuery>) -> Page {
    let who = c.who();
    let d = state.engine.campaign_dashboard(who, id).await.or_page(&c)?;
    let iq = InviteQuery { state: q.state.clone(), reason: q.reason.clone(), participant_id: None };
    let invites = state.engine.campaign_invites(who, id, &iq).await.or_page(&c)?;
    let participants = state.engine.campaign_participants(who, id).await.or_page(&c)?;
    let rewards = state.engine.campaign_rewards(who, id, None).await.or_page(&c)?;
    let migration = if d.campaign.kind == koi_domain::campaign::CampaignKind::Migration {
        Some(state.engine.migration_board(who, id).await.or_page(&c)?)
    } else {
        None
    };
    let t = &d.totals;
    let fig = |key, id, value: String| Figure { key, id, value };
    let figures = vec![
        fig("c_participants", "fig-participants", t.participants.to_string()),
        fig("c_sharers", "fig-sharers", t.sharers.to_string()),
        fig("c_max_depth", "fig-depth", t.max_depth.to_string()),
        fig("c_valid", "fig-valid", t.valid.to_string()),
        fig("c_pending", "fig-pending", t.pending.to_string()),
        fig("c_rejected", "fig-rejected", t.rejected.to_string()),
        fig("c_k_factor", "fig-k", format!("{:.2}", t.k_factor)),
        fig("c_rewards_issued", "fig-issued", t.rewards_issued.to_string()),
        fig("c_rewards_waiting", "fig-waiting", t.rewards_waiting.to_string()),
        fig("c_rewards_failed", "fig-failed", t.rewards_failed.to_string()),
        fig("c_cost", "fig-cost", money(t.cost_fen)),
        fig("c_cost_per_retained", "fig-cpr", t.cost_per_retained_fen.map(money).unwrap_or_else(|| "—".into())),
        fig("c_rejection_rate", "fig-rejection", pct(t.rejection_rate)),
        fig("c_orders", "fig-orders", d.commerce.orders.to_string()),
        fig("c_first_order_rate", "fig-first-order-rate", format!("{:.1}%", d.commerce.first_order_rate_pct)),
        fig("c_gmv", "fig-gmv", money(d.commerce.gmv_fen)),
    ];
    let days: Vec<(i64, i64, i64, i64)> = d.days.iter().map(|x| (x.day, x.valid, x.pending, x.rejected)).collect();
    let chart = crate::chart::campaign_invites(&days);
    let reasons = d.reasons.iter().map(|r| ReasonLine { reason: r.reason.clone(), invites: r.invites }).collect();
    let chrome = Chrome::new(&state, &c, "campaigns").await.flash_from(q.ok.as_deref());
    let campaign = d.campaign.clone();
    Ok(render(&ShowPage {
        state: state_key(campaign.state),
        window: window(&campaign),
        actions: actions(campaign.state),
        campaign,
        figures,
        chart,
        reasons,
        d,
        participants,
        invites,
        rewards,
        filter_state: q.state.unwrap_or_default(),
        filter_reason: q.reason.unwrap_or_default(),
        reason_keys: koi_domain::campaign::RejectReason::ALL
            .iter()
            .map(|r| r.as_str())
            .chain([koi_engine::campaigns::OVERRIDE_REASON])
            .collect(),
        can_manage: who.allows(Action::ManageCampaigns),
        migration,
        c: chrome,
    }))
}

pub async fn transition(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let t = match f.get("action") {
        "launch" => Transition::Launch,
        "pause" => Transition::Pause,
        "resume" => Transition::Resume,
        "end" => Transition::End,
        other => return Err(error_page(c, WebError::bad_request("unknown_action", format!("no action {other:?}")))),
    };
    state.engine.campaign_transition(c.who(), id, t).await.or_page(c)?;
    Ok(see_other(&format!("/console/campaigns/{id}?ok=saved")))
}

pub async fn override_invite(
    State(state): State<AppState>,
    Path((id, invite)): Path<(i64, i64)>,
    f: ConsoleForm,
) -> Page {
    let c = &f.console;
    let valid = f.get("valid") == "true";
    state.engine.override_invite(c.who(), id, invite, valid).await.or_page(c)?;
    Ok(see_other(&format!("/console/campaigns/{id}?ok=saved#invites")))
}

pub async fn retry_reward(State(state): State<AppState>, Path((id, reward)): Path<(i64, i64)>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let r = state.engine.campaign_rewards(c.who(), id, None).await.or_page(c)?;
    if !r.iter().any(|r| r.id == reward) {
        return Err(error_page(c, WebError::NotFound));
    }
    state.engine.retry_reward(c.who(), reward).await.or_page(c)?;
    Ok(see_other(&format!("/console/campaigns/{id}?ok=retried#rewards")))
}

pub async fn invites_csv(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let rows = state.engine.campaign_csv(c.who(), id).await.or_page(&c)?;
    let r = crate::api::campaigns::csv_download(&format!("campaign-{id}-invites.csv"), &rows).or_page(&c)?;
    Ok(r.into_response())
}

async fn redeem_page(
    state: &AppState,
    c: &Console,
    code: String,
    store: String,
    redeemed: Option<Reward>,
    error: Option<String>,
) -> Result<RedeemPage, axum::response::Response> {
    let who = c.who();
    let mut stores: Vec<Choice> = state
        .engine
        .stores(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|s| who.sees_store(s.id))
        .map(|s| Choice { value: s.id.to_string(), label: s.name })
        .collect();
    stores.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(RedeemPage { c: Chrome::new(state, c, "redeem").await, code, redeemed, error, stores, store })
}

pub async fn redeem_form(State(state): State<AppState>, c: Console) -> Page {
    if !c.who().allows(Action::RedeemRewards) {
        return Err(error_page(&c, WebError::Engine(EngineError::Forbidden)));
    }
    Ok(render(&redeem_page(&state, &c, String::new(), String::new(), None, None).await?))
}

/// Redeems a code: the reward shown, or why not in words a clerk reads.
pub async fn redeem(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let code = f.get("code").trim().to_string();
    let store = f.get("store_id").trim().to_string();
    let store_id = store.parse::<i64>().ok();
    let t = crate::i18n::Tr(c.lang);
    let (redeemed, error, status) = if code.is_empty() {
        (None, Some(t.s("c_redeem_empty").to_string()), StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        match state.engine.redeem_reward(c.who(), &code, store_id).await {
            Ok(r) => (Some(r), None, StatusCode::OK),
            Err(EngineError::NotFound(_)) => (None, Some(t.s("c_redeem_unknown").to_string()), StatusCode::NOT_FOUND),
            Err(EngineError::Conflict { .. }) => {
                (None, Some(t.s("c_redeem_already").to_string()), StatusCode::CONFLICT)
            }
            Err(EngineError::Invalid(v)) => {
                let msg = v.0.first().map(|e: &FieldError| e.message.clone()).unwrap_or_default();
                (None, Some(format!("{}（{msg}）", t.s("c_redeem_not_issued"))), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(e) => return Err(error_page(c, e.into())),
        }
    };
    let page =
        redeem_page(&state, c, if redeemed.is_some() { String::new() } else { code }, store, redeemed, error).await?;
    Ok(render_with(status, &page))
}

/// The words for a reward's amount: yuan for red envelopes, points.
pub fn reward_amount(kind: &str, amount: i64) -> String {
    match RewardKind::parse(kind) {
        Some(RewardKind::RedEnvelope) => money(amount),
        Some(RewardKind::Points) => amount.to_string(),
        _ => String::new(),
    }
}
