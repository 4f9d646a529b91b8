//! The customer model (字段与分层): custom fields guides fill in, and the
//! value rules that read customers — lifecycle stage thresholds, RFM band
//! edges and influence weights — with the stage rules in plain words.

use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::i18n::Lang;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::customer::{FieldDef, FieldKind, InfluenceWeights, RfmRules, StageRules, ValueRules};
use koi_domain::{FieldError, ValidationError};
use koi_engine::EngineError;

pub struct FieldRow {
    pub name: String,
    pub label: String,
    pub kind: String,
}

/// A stage and its rule in words.
pub struct StageLine {
    pub name: String,
    pub code: &'static str,
    pub rule: String,
}

#[derive(Template)]
#[template(path = "fields.html")]
struct FieldsPage {
    c: Chrome,
    fields: Vec<FieldRow>,
    stages: Vec<StageLine>,
    /// The new-field form.
    form: FormView,
    /// The value rules form.
    rules: FormView,
}

fn kind_words(c: &Console, k: &FieldKind) -> String {
    let t = crate::i18n::Tr(c.lang);
    let bound = |b: &Option<f64>| b.map(|b| b.to_string()).unwrap_or_default();
    match k {
        FieldKind::Text { max_len } => format!("{} ≤ {max_len}", t.s("kind_text")),
        FieldKind::Number { min: None, max: None } => t.s("kind_number").into(),
        FieldKind::Number { min, max } => format!("{} {}–{}", t.s("kind_number"), bound(min), bound(max)),
        FieldKind::Date => t.s("kind_date").into(),
        FieldKind::Choice { options } => format!("{}: {}", t.s("kind_choice"), options.join(" / ")),
    }
}

/// The value rules as form fields (money in yuan).
fn rule_values(r: &ValueRules) -> Vec<(String, String)> {
    let mut v = vec![
        ("stages.new_days".to_string(), r.stages.new_days.to_string()),
        ("stages.active_days".into(), r.stages.active_days.to_string()),
        ("stages.super_orders".into(), r.stages.super_orders.to_string()),
        ("stages.super_influence".into(), r.stages.super_influence.to_string()),
        ("influence.friend".into(), r.influence.friend.to_string()),
        ("influence.group".into(), r.influence.group.to_string()),
        ("influence.share".into(), r.influence.share.to_string()),
    ];
    for i in 0..4 {
        v.push((format!("rfm.recency_days.{i}"), r.rfm.recency_days[i].to_string()));
        v.push((format!("rfm.frequency.{i}"), r.rfm.frequency[i].to_string()));
        let fen = r.rfm.monetary_fen[i];
        let yuan = if fen % 100 == 0 { (fen / 100).to_string() } else { format!("{}.{:02}", fen / 100, fen % 100) };
        v.push((format!("rfm.monetary_fen.{i}"), yuan));
    }
    v
}

/// Reads the rules form; a box that is not a number is an error on it.
fn rules_of(f: &ConsoleForm) -> Result<ValueRules, ValidationError> {
    let mut errors = Vec::new();
    let mut num = |name: &str| -> u32 {
        let t = f.get(name).trim();
        t.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new(name, "not_a_number", format!("{t:?} is not a whole number")));
            0
        })
    };
    let stages = StageRules {
        new_days: num("stages.new_days"),
        active_days: num("stages.active_days"),
        super_orders: num("stages.super_orders"),
        super_influence: num("stages.super_influence"),
    };
    let influence = InfluenceWeights {
        friend: num("influence.friend"),
        group: num("influence.group"),
        share: num("influence.share"),
    };
    let recency_days = [0, 1, 2, 3].map(|i| num(&format!("rfm.recency_days.{i}")));
    let frequency = [0, 1, 2, 3].map(|i| num(&format!("rfm.frequency.{i}")));
    let monetary_fen = [0, 1, 2, 3].map(|i| {
        let name = format!("rfm.monetary_fen.{i}");
        let t = f.get(&name).trim();
        fen_of(t).unwrap_or_else(|| {
            errors.push(FieldError::new(&name, "not_a_number", format!("{t:?} is not an amount in yuan")));
            0
        })
    });
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    Ok(ValueRules { stages, rfm: RfmRules { recency_days, frequency, monetary_fen }, influence })
}

/// `800` or `800.5` yuan → fen.
fn fen_of(yuan: &str) -> Option<i64> {
    let (whole, frac) = yuan.split_once('.').unwrap_or((yuan, ""));
    if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    whole.checked_mul(100)?.checked_add(frac)
}

async fn page(state: &AppState, c: &Console, form: FormView, rules: Option<FormView>) -> Result<FieldsPage, Response> {
    let who = c.who();
    if !who.allows(Action::ManageCustomerModel) {
        return Err(error_page(c, EngineError::Forbidden.into()));
    }
    let defs = state.engine.field_defs(who).await.or_page(c)?;
    let current = state.engine.value_rules(who).await.or_page(c)?;
    let stages = current
        .stages
        .describe()
        .into_iter()
        .map(|(s, zh, en)| StageLine {
            name: crate::i18n::Tr(c.lang).s(super::segments::stage_key(s)).to_string(),
            code: s.as_str(),
            rule: match c.lang {
                Lang::Zh => zh,
                Lang::En => en,
            },
        })
        .collect();
    Ok(FieldsPage {
        c: Chrome::new(state, c, "customer_model").await,
        fields: defs
            .into_iter()
            .map(|d| FieldRow { kind: kind_words(c, &d.kind), name: d.name, label: d.label })
            .collect(),
        stages,
        form,
        rules: rules.unwrap_or_else(|| FormView::of(rule_values(&current))),
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, FormView::default(), None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// Reads the new-field form into a definition.
fn def_of(f: &ConsoleForm) -> Result<FieldDef, ValidationError> {
    let mut errors = Vec::new();
    let mut bound = |name: &str| -> Option<f64> {
        let t = f.get(name).trim();
        if t.is_empty() {
            return None;
        }
        t.parse().map_err(|_| errors.push(FieldError::new(name, "not_a_number", format!("{t:?}")))).ok()
    };
    let kind = match f.get("kind") {
        "number" => FieldKind::Number { min: bound("kind.min"), max: bound("kind.max") },
        "date" => FieldKind::Date,
        "choice" => FieldKind::Choice {
            options: f.get("options").lines().map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect(),
        },
        _ => {
            let t = f.get("kind.max_len").trim();
            let max_len = if t.is_empty() {
                100
            } else {
                t.parse().unwrap_or_else(|_| {
                    errors.push(FieldError::new("kind.max_len", "not_a_number", format!("{t:?}")));
                    0
                })
            };
            FieldKind::Text { max_len }
        }
    };
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    Ok(FieldDef { name: f.get("name").trim().into(), label: f.get("label").trim().into(), kind })
}

pub async fn define(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match def_of(&f) {
        Ok(d) => state.engine.define_field(c.who(), d).await.map(|_| ()).map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(()) => Ok(see_other("/console/fields?ok=created")),
        Err(e) => {
            let form = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(&state, c, form, None).await?))
        }
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>, f: ConsoleForm) -> Page {
    state.engine.delete_field(f.console.who(), &name).await.or_page(&f.console)?;
    Ok(see_other("/console/fields?ok=deleted"))
}

/// Saves the value rules; every customer is recomputed in the background.
pub async fn save_rules(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match rules_of(&f) {
        Ok(r) => state.engine.set_value_rules(c.who(), &r).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(()) => Ok(see_other("/console/fields?ok=recompute#value-rules")),
        Err(e) => {
            let rules = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            let p = page(&state, c, FormView::default(), Some(rules)).await?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fen_of;

    #[test]
    fn yuan_becomes_fen() {
        assert_eq!(fen_of("800"), Some(80_000));
        assert_eq!(fen_of("800.5"), Some(80_050));
        assert_eq!(fen_of("0.05"), Some(5));
        assert_eq!(fen_of("1.234"), None);
        assert_eq!(fen_of("abc"), None);
    }
}
