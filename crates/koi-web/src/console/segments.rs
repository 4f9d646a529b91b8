//! Segments (人群): saved expressions with their exact member counts now,
//! and the builder, where the count, a sample and any error follow the
//! expression as it is typed (`POST /console/segments/count`). Exports are
//! CSV, for a saved segment or an expression not saved yet.

use super::channel_codes::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::api::segments::csv_response;
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use koi_domain::access::Action;
use koi_domain::segment::Stage;
use koi_engine::customers::{SegmentInput, SegmentResult, SegmentView, TagGroupView};
use koi_engine::EngineError;

/// Members shown under the count.
const SAMPLE: usize = 10;

pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub expr: String,
    pub count: u64,
    pub updated: String,
    pub by: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct ListPage {
    c: Chrome,
    segments: Vec<SegmentRow>,
    can_manage: bool,
}

/// A member of the sample, as the builder lists it.
pub struct SampleRow {
    pub id: i64,
    pub name: String,
    pub stage: String,
}

#[derive(Template)]
#[template(path = "segment.html")]
struct BuilderPage {
    c: Chrome,
    /// None for a new segment.
    id: Option<i64>,
    form: FormView,
    can_manage: bool,
    tags: Vec<TagPick>,
    stores: Vec<Choice>,
    stages: Vec<Choice>,
    /// Group kinds, for `groupkind:`.
    group_kinds: Vec<Choice>,
    /// The expression's count and sample when it evaluated.
    count: Option<u64>,
    sample: Vec<SampleRow>,
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let found = state.engine.segments(c.who()).await.or_page(&c)?;
    let people = state.engine.people(c.who()).await.or_page(&c)?;
    let p = ListPage {
        c: Chrome::new(&state, &c, "segments").await.flash_from(n.ok.as_deref()),
        segments: found.into_iter().map(|s| row(&c, &people, s)).collect(),
        can_manage: c.who().allows(Action::ManageSegments),
    };
    Ok(render(&p))
}

fn row(c: &Console, people: &std::collections::BTreeMap<String, String>, s: SegmentView) -> SegmentRow {
    SegmentRow {
        id: s.id,
        name: s.name,
        // Tags by name; the stored `expr` keeps their ids.
        expr: s.named_expr,
        count: s.count,
        updated: crate::fmt::datetime(s.updated_at),
        by: super::profile::person(c.lang, people, &s.created_by),
    }
}

/// A tag the builder offers: what it inserts (by name when the name is
/// the corp's only tag so called, else by id) and what it shows.
pub struct TagPick {
    pub insert: String,
    pub name: String,
    pub group: String,
}

fn tag_picks(groups: &[TagGroupView]) -> Vec<TagPick> {
    let all: Vec<_> = groups.iter().flat_map(|g| g.tags.iter().map(move |t| (g, t))).collect();
    all.iter()
        .map(|(g, t)| {
            let unique = all.iter().filter(|(_, o)| o.name == t.name).count() == 1;
            let word = if unique {
                koi_domain::segment::Cond::Tag(t.name.clone())
            } else {
                koi_domain::segment::Cond::Tag(t.id.clone())
            };
            TagPick { insert: word.to_string(), name: t.name.clone(), group: g.name.clone() }
        })
        .collect()
}

/// A parse error in the page's language, by its code; the offending part
/// is quoted from the expression.
fn expression_error(c: &Console, code: &str, token: &str) -> String {
    let tr = crate::i18n::Tr(c.lang);
    let key = format!("expr_err_{code}");
    let text = match tr.s(&key) {
        k if k == key => tr.s("expr_err_other"),
        text => text,
    };
    text.replace("{token}", token)
}

/// 引流 in Chinese; `Attract · 引流` in English, the name operators share.
fn stage_label(c: &Console, stage: Stage) -> String {
    match c.lang {
        crate::i18n::Lang::Zh => stage.chinese().into(),
        crate::i18n::Lang::En => format!("{} · {}", crate::i18n::Tr(c.lang).s(stage_key(stage)), stage.chinese()),
    }
}

/// The i18n key of a stage's name (`stage_new` → 引流 / Attract).
pub fn stage_key(stage: Stage) -> &'static str {
    match stage {
        Stage::New => "stage_new",
        Stage::Stored => "stage_stored",
        Stage::Active => "stage_active",
        Stage::Converted => "stage_converted",
        Stage::Super => "stage_super",
    }
}

async fn builder(
    state: &AppState,
    c: &Console,
    id: Option<i64>,
    form: FormView,
    evaluate: bool,
) -> Result<BuilderPage, Response> {
    let who = c.who();
    let groups = state.engine.tag_groups(who).await.or_page(c)?;
    let stores = state.engine.stores(who).await.or_page(c)?;
    let (mut count, mut sample) = (None, vec![]);
    let expr = form.v("expr").trim().to_string();
    if evaluate && !expr.is_empty() {
        // The page shows what the builder's script would: the exact count,
        // or nothing when the expression does not evaluate (the script
        // shows why as soon as it runs).
        if let Ok(r) = state.engine.evaluate_segment(who, &SegmentInput::Text(expr), SAMPLE, false).await {
            count = Some(r.count);
            sample = sample_rows(c, r);
        }
    }
    Ok(BuilderPage {
        c: Chrome::new(state, c, "segments").await,
        id,
        form,
        can_manage: who.allows(Action::ManageSegments),
        tags: tag_picks(&groups),
        stores: stores.into_iter().map(|s| Choice { value: s.id.to_string(), label: s.name }).collect(),
        stages: Stage::ALL.into_iter().map(|s| Choice { value: s.as_str().into(), label: stage_label(c, s) }).collect(),
        group_kinds: koi_domain::group::GroupKind::ALL
            .iter()
            .map(|k| Choice {
                value: k.as_str().into(),
                label: crate::i18n::Tr(c.lang).s(&format!("group_kind_{}", k.as_str())).into(),
            })
            .collect(),
        count,
        sample,
    })
}

/// A stage code (`stored`) in the page's language.
fn stage_name(c: &Console, code: &str) -> String {
    Stage::from_name(code).map_or_else(|| code.to_string(), |s| crate::i18n::Tr(c.lang).s(stage_key(s)).to_string())
}

fn sample_rows(c: &Console, r: SegmentResult) -> Vec<SampleRow> {
    r.sample.into_iter().map(|m| SampleRow { id: m.id, stage: stage_name(c, &m.stage), name: m.name }).collect()
}

#[derive(serde::Deserialize, Default)]
pub struct ExprQuery {
    expr: Option<String>,
}

/// The builder for a new segment; `?expr=` starts it with an expression
/// (the tags page links each tag's count here).
pub async fn new(State(state): State<AppState>, c: Console, Query(q): Query<ExprQuery>) -> Page {
    let form = FormView::of(vec![("expr".into(), q.expr.unwrap_or_default())]);
    Ok(render(&builder(&state, &c, None, form, true).await?))
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let s = state.engine.segment(c.who(), id).await.or_page(&c)?;
    let form = FormView::of(vec![("name".into(), s.name), ("expr".into(), s.named_expr)]);
    let mut p = builder(&state, &c, Some(id), form, true).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

async fn save(state: &AppState, f: &ConsoleForm, id: Option<i64>) -> Page {
    let c = &f.console;
    let input = SegmentInput::Text(f.get("expr").trim().to_string());
    match state.engine.save_segment(c.who(), id, f.get("name"), &input).await {
        Ok(s) => Ok(see_other(&format!("/console/segments/{}?ok=saved", s.id))),
        Err(EngineError::BadExpression(e)) => {
            let message = expression_error(c, e.code, &e.token);
            let form = FormView {
                values: f.fields.clone(),
                errors: vec![koi_domain::FieldError::new("expr", e.code, message)],
            };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &builder(state, c, id, form, true).await?))
        }
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e.into()).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &builder(state, c, id, form, true).await?))
        }
    }
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    save(&state, &f, None).await
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    save(&state, &f, Some(id)).await
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.delete_segment(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/segments?ok=deleted"))
}

/// What the builder's script gets back: the exact count and a sample, or
/// the API's error envelope (422 `invalid_expression` with the offset and
/// token of the offending part).
pub async fn count(State(state): State<AppState>, f: ConsoleForm) -> Response {
    let input = SegmentInput::Text(f.get("expr").to_string());
    match state.engine.evaluate_segment(f.console.who(), &input, SAMPLE, false).await {
        Ok(mut r) => {
            for m in &mut r.sample {
                m.stage = stage_name(&f.console, &m.stage);
            }
            Json(r).into_response()
        }
        Err(EngineError::BadExpression(e)) => {
            // The API's envelope, with the message in the page's language.
            let message = expression_error(&f.console, e.code, &e.token);
            let body = serde_json::json!({ "error": {
                "code": "invalid_expression", "message": message,
                "expression": { "reason": e.code, "offset": e.offset, "token": e.token },
            }});
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

pub async fn export(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let s = state.engine.segment(c.who(), id).await.or_page(&c)?;
    let rows = state.engine.export_segment(c.who(), &SegmentInput::Text(s.expr)).await.or_page(&c)?;
    Ok(csv_response(&format!("segment-{id}.csv"), &rows).or_page(&c)?.into_response())
}

/// Exports an expression that was not saved: `?expr=tag:VIP`.
pub async fn export_expr(State(state): State<AppState>, c: Console, Query(q): Query<ExprQuery>) -> Page {
    let expr = q.expr.unwrap_or_default();
    if expr.trim().is_empty() {
        return Err(error_page(&c, WebError::Engine(EngineError::NotFound("segment"))));
    }
    let rows = state.engine.export_segment(c.who(), &SegmentInput::Text(expr)).await.or_page(&c)?;
    Ok(csv_response("segment.csv", &rows).or_page(&c)?.into_response())
}
