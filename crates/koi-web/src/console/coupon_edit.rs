//! Editing a coupon template and a points-mall item after they were made,
//! and archiving them. What may change follows the engine's rules: once
//! coupons were issued, their terms (kind, amounts, gift, validity) are
//! locked and shown read-only; once an item was exchanged, its kind and
//! coupon template are.

use super::coupons::{fen, yuan};
use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::coupon::{CouponKind, TemplateDraft};
use koi_engine::coupons::CouponTemplate;
use koi_engine::points::{MallItem, MallItemDraft};
use koi_engine::EngineError;

#[derive(Template)]
#[template(path = "coupon_template_edit.html")]
struct TemplateEditPage {
    c: Chrome,
    t: CouponTemplate,
    /// Coupons were issued: the terms are read-only.
    locked: bool,
    form: FormView,
}

#[derive(Template)]
#[template(path = "mall_item_edit.html")]
struct ItemEditPage {
    c: Chrome,
    item: MallItem,
    locked: bool,
    templates: Vec<Choice>,
    form: FormView,
}

fn int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

fn template_values(t: &CouponTemplate) -> Vec<(String, String)> {
    let d = &t.draft;
    let mut v = vec![
        ("name".into(), d.name.clone()),
        ("kind".into(), d.kind.as_str().into()),
        ("value".into(), yuan(d.value_fen)),
        ("min".into(), yuan(d.min_fen)),
        ("discount_pct".into(), d.discount_pct.to_string()),
        ("gift".into(), d.gift.clone()),
        ("per_customer".into(), d.per_customer.to_string()),
    ];
    if let Some(days) = d.valid_days {
        v.push(("valid_days".into(), days.to_string()));
    }
    if let Some(s) = d.stock {
        v.push(("stock".into(), s.to_string()));
    }
    v
}

async fn template_page(state: &AppState, c: &Console, id: i64, form: FormView) -> Result<TemplateEditPage, Response> {
    let t = state.engine.coupon_template(c.who(), id).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "coupons").await;
    let form = if form.values.is_empty() { FormView { values: template_values(&t), ..form } } else { form };
    Ok(TemplateEditPage { c: chrome, locked: t.issued > 0, t, form })
}

pub async fn edit_template(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> Page {
    let mut p = template_page(&state, &c, id, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// Saves the form. Locked terms are not on the form once coupons were
/// issued: they are taken from the template as it is, so only what may
/// change can change (the engine checks it again).
pub async fn update_template(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let who = f.console.who();
    let old = state.engine.coupon_template(who, id).await.or_page(&f.console)?;
    let o = &old.draft;
    let locked = old.issued > 0;
    let draft = if locked {
        TemplateDraft {
            name: f.get("name").into(),
            per_customer: int(f.get("per_customer")).unwrap_or(0) as i32,
            stock: int(f.get("stock")),
            ..o.clone()
        }
    } else {
        let valid_days = int(f.get("valid_days")).map(|d| d as i32);
        TemplateDraft {
            name: f.get("name").into(),
            kind: CouponKind::parse(f.get("kind")).unwrap_or(o.kind),
            value_fen: fen(f.get("value")),
            min_fen: fen(f.get("min")),
            discount_pct: int(f.get("discount_pct")).unwrap_or(0) as i32,
            gift: f.get("gift").into(),
            // Fixed dates (set through the API) stay unless days are typed.
            valid_from: if valid_days.is_some() { None } else { o.valid_from },
            valid_to: if valid_days.is_some() { None } else { o.valid_to },
            valid_days: valid_days.or(o.valid_days.filter(|_| o.valid_from.is_none())),
            per_customer: int(f.get("per_customer")).unwrap_or(0) as i32,
            stock: int(f.get("stock")),
            store_ids: o.store_ids.clone(),
        }
    };
    match state.engine.update_coupon_template(who, id, &draft).await {
        Ok(_) => Ok(see_other(&format!("/console/coupons/templates/{id}?ok=saved"))),
        Err(e) => failed_template(&state, &f, id, e).await,
    }
}

async fn failed_template(state: &AppState, f: &ConsoleForm, id: i64, e: EngineError) -> Page {
    let c = &f.console;
    let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &template_page(state, c, id, form).await?))
}

/// Archives the template (`archived=1`) or brings it back (`archived=0`).
pub async fn archive_template(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let archived = f.get("archived") == "1";
    match state.engine.archive_coupon_template(f.console.who(), id, archived).await {
        Ok(_) => Ok(see_other(&format!("/console/coupons/templates/{id}?ok=saved"))),
        Err(e) => failed_template(&state, &f, id, e).await,
    }
}

fn item_values(i: &MallItem) -> Vec<(String, String)> {
    let d = &i.draft;
    let mut v = vec![
        ("name".into(), d.name.clone()),
        ("kind".into(), d.kind.clone()),
        ("gift".into(), d.gift.clone()),
        ("points".into(), d.points.to_string()),
    ];
    if let Some(t) = d.template_id {
        v.push(("template_id".into(), t.to_string()));
    }
    if let Some(s) = d.stock {
        v.push(("stock".into(), s.to_string()));
    }
    if d.archived {
        v.push(("archived".into(), "on".into()));
    }
    v
}

async fn item_page(state: &AppState, c: &Console, id: i64, form: FormView) -> Result<ItemEditPage, Response> {
    let who = c.who();
    let item = state.engine.mall_item(who, id).await.or_page(c)?;
    let templates = state
        .engine
        .coupon_templates(who)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|t| !t.archived || Some(t.id) == item.draft.template_id)
        .map(|t| Choice { value: t.id.to_string(), label: format!("{} · {}", t.draft.name, t.title) })
        .collect();
    let chrome = Chrome::new(state, c, "points").await;
    let form = if form.values.is_empty() { FormView { values: item_values(&item), ..form } } else { form };
    Ok(ItemEditPage { c: chrome, locked: item.exchanged > 0, item, templates, form })
}

pub async fn edit_item(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> Page {
    let mut p = item_page(&state, &c, id, FormView::default()).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn update_item(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let who = f.console.who();
    let old = state.engine.mall_item(who, id).await.or_page(&f.console)?;
    let locked = old.exchanged > 0;
    let d = MallItemDraft {
        name: f.get("name").into(),
        kind: if locked { old.draft.kind.clone() } else { f.get("kind").into() },
        template_id: if locked { old.draft.template_id } else { int(f.get("template_id")) },
        gift: f.get("gift").into(),
        points: int(f.get("points")).unwrap_or(0),
        stock: int(f.get("stock")),
        archived: f.get("archived") == "on",
    };
    match state.engine.update_mall_item(who, id, &d).await {
        Ok(_) => Ok(see_other(&format!("/console/points/items/{id}?ok=saved"))),
        Err(e) => {
            let c = &f.console;
            let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &item_page(&state, c, id, form).await?))
        }
    }
}
