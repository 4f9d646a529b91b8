//! 优惠券 / Coupons: the templates with their conversion, the form that
//! makes one, issuing (to a customer found by search, or to a saved
//! segment picked from a list), the segment issues, the redemption log;
//! and 积分 / Points: the rules, the latest ledger entries, the mall items
//! with the form that adds one.

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::coupon::points::PointsRules;
use koi_domain::coupon::{CouponKind, TemplateDraft};
use koi_domain::ValidationError;
use koi_engine::coupons::{Coupon, CouponIssue, CouponTemplate};
use koi_engine::points::{LedgerEntry, MallItem, MallItemDraft};
use koi_engine::reports::CustomerFilter;
use koi_engine::EngineError;

#[derive(Template)]
#[template(path = "coupons.html")]
struct CouponsPage {
    c: Chrome,
    templates: Vec<CouponTemplate>,
    issues: Vec<CouponIssue>,
    redeemed: Vec<Coupon>,
    segments: Vec<Choice>,
    can_manage: bool,
    form: FormView,
}

#[derive(Template)]
#[template(path = "points.html")]
struct PointsPage {
    c: Chrome,
    rules: PointsRules,
    ledger: Vec<LedgerEntry>,
    items: Vec<MallItem>,
    templates: Vec<Choice>,
    can_manage: bool,
    form: FormView,
}

/// Yuan to fen: "49", "49.9", "0.5".
pub fn fen(s: &str) -> i64 {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map_or(0, |v| (v * 100.0).round() as i64)
}

pub fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

fn int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

async fn coupons_page(state: &AppState, c: &Console, form: FormView) -> Result<CouponsPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "coupons").await;
    let templates = state.engine.coupon_templates(who).await.or_page(c)?;
    let issues = state.engine.coupon_issues(who).await.or_page(c)?;
    let redeemed = state.engine.coupons(who, None, None, Some("redeemed")).await.or_page(c)?;
    let segments = if who.allows(Action::ManageCoupons) {
        let list = state.engine.segments(who).await.or_page(c)?;
        list.into_iter()
            .map(|s| Choice { value: s.id.to_string(), label: format!("{} ({})", s.name, s.count) })
            .collect()
    } else {
        vec![]
    };
    let can_manage = who.allows(Action::ManageCoupons);
    Ok(CouponsPage { c: chrome, templates, issues, redeemed, segments, can_manage, form })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = coupons_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

async fn failed_coupons(state: &AppState, f: &ConsoleForm, e: EngineError) -> Page {
    let c = &f.console;
    let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &coupons_page(state, c, form).await?))
}

/// Makes a template from the form (amounts in yuan).
pub async fn create_template(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let kind = CouponKind::parse(f.get("kind")).unwrap_or(CouponKind::Cash);
    let draft = TemplateDraft {
        name: f.get("name").into(),
        kind,
        value_fen: fen(f.get("value")),
        min_fen: fen(f.get("min")),
        discount_pct: int(f.get("discount_pct")).unwrap_or(0) as i32,
        gift: f.get("gift").into(),
        valid_from: None,
        valid_to: None,
        valid_days: int(f.get("valid_days")).map(|d| d as i32),
        per_customer: int(f.get("per_customer")).unwrap_or(0) as i32,
        stock: int(f.get("stock")),
        store_ids: vec![],
    };
    match state.engine.create_coupon_template(f.console.who(), &draft).await {
        Ok(_) => Ok(see_other("/console/coupons?ok=created")),
        Err(e) => failed_coupons(&state, &f, e).await,
    }
}

/// Issues a template to a segment picked from the list, or to the one
/// customer a search finds.
pub async fn issue(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let who = f.console.who();
    let template = int(f.get("template_id")).unwrap_or(0);
    let result = if let Some(segment) = int(f.get("segment_id")) {
        state.engine.issue_coupons_to_segment(who, template, segment).await.map(|_| "queued")
    } else {
        let q = f.get("customer_q").trim().to_string();
        let filter = CustomerFilter { search: Some(q.clone()), ..Default::default() };
        match state.engine.customer_page(who, filter, 0, 5).await {
            Ok(p) if p.customers.len() == 1 => {
                state.engine.issue_coupon(who, template, p.customers[0].id).await.map(|_| "created")
            }
            Ok(p) => {
                let names: Vec<String> = p.customers.iter().map(|c| c.name.clone()).collect();
                let msg = if names.is_empty() {
                    format!("no customer matches {q:?}")
                } else {
                    format!("{} customers match: {}; search more exactly", p.total, names.join("、"))
                };
                Err(ValidationError::one("customer_q", "not_one_customer", msg).into())
            }
            Err(e) => Err(e),
        }
    };
    state.wake_worker();
    match result {
        Ok(ok) => Ok(see_other(&format!("/console/coupons?ok={ok}"))),
        Err(e) => failed_coupons(&state, &f, e).await,
    }
}

async fn points_page(state: &AppState, c: &Console, form: FormView) -> Result<PointsPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "points").await;
    let rules = state.engine.points_rules(who).await.or_page(c)?;
    let ledger = state.engine.points_ledger(who).await.or_page(c)?;
    let items = state.engine.mall_items(who).await.or_page(c)?;
    let templates = state
        .engine
        .coupon_templates(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|t| !t.archived)
        .map(|t| Choice { value: t.id.to_string(), label: format!("{} · {}", t.draft.name, t.title) })
        .collect();
    let can_manage = who.allows(Action::ManageCoupons);
    Ok(PointsPage { c: chrome, rules, ledger, items, templates, can_manage, form })
}

pub async fn points(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = points_page(&state, &c, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

async fn failed_points(state: &AppState, f: &ConsoleForm, e: EngineError) -> Page {
    let c = &f.console;
    let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &points_page(state, c, form).await?))
}

pub async fn save_rules(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let r = PointsRules {
        per_yuan: int(f.get("per_yuan")).unwrap_or(-1),
        checkin: int(f.get("checkin")).unwrap_or(-1),
        review: int(f.get("review")).unwrap_or(-1),
        expire_days: int(f.get("expire_days")).unwrap_or(-1) as i32,
        streak_days: int(f.get("streak_days")).unwrap_or(-1) as i32,
        streak_bonus: int(f.get("streak_bonus")).unwrap_or(-1),
    };
    match state.engine.set_points_rules(f.console.who(), &r).await {
        Ok(_) => Ok(see_other("/console/points?ok=saved")),
        Err(e) => failed_points(&state, &f, e).await,
    }
}

pub async fn create_item(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let d = MallItemDraft {
        name: f.get("name").into(),
        kind: f.get("kind").into(),
        template_id: int(f.get("template_id")),
        gift: f.get("gift").into(),
        points: int(f.get("points")).unwrap_or(0),
        stock: int(f.get("stock")),
        archived: false,
    };
    match state.engine.create_mall_item(f.console.who(), &d).await {
        Ok(_) => Ok(see_other("/console/points?ok=created")),
        Err(e) => failed_points(&state, &f, e).await,
    }
}
