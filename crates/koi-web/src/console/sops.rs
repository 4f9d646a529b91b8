//! SOP (标准作业流程) rules, the script library (话术库) and the material
//! centre (素材中心). The rule form picks tags, segments, groups, scripts and
//! materials from lists; a rule has up to [`FORM_STEPS`] steps on the form
//! (the API takes up to 10).

use super::{render, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use koi_domain::sop::festivals::BrandDay;
use koi_domain::sop::script::{MaterialDraft, MaterialKind, ScriptDraft};
use koi_domain::sop::{Audience, Hm, SopDraft, SopEvent, Step, StepAction, Trigger};
use koi_domain::ValidationError;
use koi_engine::materials::{Material, Script};
use koi_engine::sop::{Sop, SopFire, SopPickers, SopTemplate};

/// Step rows the form shows.
pub const FORM_STEPS: usize = 3;

/// One rule in the list.
pub struct SopLine {
    pub sop: Sop,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "sops.html")]
struct ListPage {
    c: Chrome,
    sops: Vec<SopLine>,
    templates: Vec<SopTemplate>,
    p: SopPickers,
    form: FormView,
    steps: Vec<usize>,
}

#[derive(Template)]
#[template(path = "sop.html")]
struct RulePage {
    c: Chrome,
    sop: Sop,
    summary: String,
    fires: Vec<SopFire>,
    p: SopPickers,
    form: FormView,
    steps: Vec<usize>,
}

#[derive(Template)]
#[template(path = "scripts.html")]
struct ScriptsPage {
    c: Chrome,
    scripts: Vec<Script>,
    form: FormView,
    q: String,
}

#[derive(Template)]
#[template(path = "materials.html")]
struct MaterialsPage {
    c: Chrome,
    materials: Vec<Material>,
    kinds: Vec<&'static str>,
    form: FormView,
}

#[derive(serde::Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
    ok: Option<String>,
}

/// A short description of a rule in the operator's language.
fn summary(t: crate::i18n::Tr, d: &SopDraft) -> String {
    let trig = match &d.trigger {
        Trigger::AfterAdd => t.s("sop_t_after_add").to_string(),
        Trigger::Weekly { weekdays } => format!(
            "{} {}",
            t.s("sop_t_weekly"),
            weekdays.iter().map(|w| t.s(WEEKDAY_KEYS[(*w as usize).clamp(1, 7) - 1])).collect::<Vec<_>>().join(" ")
        ),
        Trigger::Festival { festivals, brand_days } => {
            let mut names: Vec<String> = festivals
                .iter()
                .filter_map(|k| koi_domain::sop::festivals::festival(k))
                .map(|f| if t.html_lang() == "en" { f.en.to_string() } else { f.zh.to_string() })
                .collect();
            names.extend(brand_days.iter().map(|b| b.name.clone()));
            format!("{} {}", t.s("sop_t_festival"), names.join(" "))
        }
        Trigger::Event { event } => match event {
            SopEvent::Tagged { tag_id } => format!("{} {tag_id}", t.s("sop_e_tagged")),
            SopEvent::FirstOrder => t.s("sop_e_first_order").to_string(),
            SopEvent::StageChanged { to } => format!("{} {to}", t.s("sop_e_stage_changed")),
            SopEvent::NoOrderFor { days } => format!("{} {days}", t.s("sop_e_no_order_for")),
            SopEvent::JoinedGroup { group_kind } => format!("{} {group_kind}", t.s("sop_e_joined_group")),
        },
    };
    format!("{trig} · {} {}", d.steps.len(), t.s("sop_steps_n"))
}

const WEEKDAY_KEYS: [&str; 7] = ["wd_1", "wd_2", "wd_3", "wd_4", "wd_5", "wd_6", "wd_7"];

/// The form's values of a saved rule (to edit it).
fn values_of(d: &SopDraft) -> Vec<(String, String)> {
    let mut v = vec![("name".to_string(), d.name.clone())];
    let mut push = |k: &str, val: String| v.push((k.to_string(), val));
    push("trigger", d.trigger.kind().into());
    match &d.trigger {
        Trigger::Weekly { weekdays } => weekdays.iter().for_each(|w| push("weekdays", w.to_string())),
        Trigger::Festival { festivals, brand_days } => {
            festivals.iter().for_each(|f| push("festivals", f.clone()));
            if let Some(b) = brand_days.first() {
                push("brand_name", b.name.clone());
                push("brand_month", b.month.map(|m| m.to_string()).unwrap_or_default());
                push("brand_day", b.day.to_string());
            }
        }
        Trigger::Event { event } => match event {
            SopEvent::Tagged { tag_id } => {
                push("event", "tagged".into());
                push("event_tag", tag_id.clone());
            }
            SopEvent::FirstOrder => push("event", "first_order".into()),
            SopEvent::StageChanged { to } => {
                push("event", "stage_changed".into());
                push("event_stage", to.clone());
            }
            SopEvent::NoOrderFor { days } => {
                push("event", "no_order_for".into());
                push("event_days", days.to_string());
            }
            SopEvent::JoinedGroup { group_kind } => {
                push("event", "joined_group".into());
                push("event_group_kind", group_kind.clone());
            }
        },
        Trigger::AfterAdd => {}
    }
    match &d.audience {
        Audience::Customers { tag_ids, segment_id } => {
            push("audience", "customers".into());
            tag_ids.iter().for_each(|t| push("tag_ids", t.clone()));
            push("segment_id", segment_id.map(|s| s.to_string()).unwrap_or_default());
        }
        Audience::Groups { group_ids } => {
            push("audience", "groups".into());
            group_ids.iter().for_each(|g| push("group_ids", g.to_string()));
        }
    }
    for (i, s) in d.steps.iter().enumerate() {
        push(&format!("step_day_{i}"), s.day.to_string());
        push(&format!("step_at_{i}"), s.at.map(|a| a.to_string()).unwrap_or_default());
        match &s.action {
            StepAction::GuideTask { title, script_id, material_id } => {
                push(&format!("step_action_{i}"), "guide_task".into());
                push(&format!("step_text_{i}"), title.clone());
                push(&format!("step_script_{i}"), script_id.map(|x| x.to_string()).unwrap_or_default());
                push(&format!("step_material_{i}"), material_id.map(|x| x.to_string()).unwrap_or_default());
            }
            StepAction::MassMessage { text, material_id } => {
                push(&format!("step_action_{i}"), "mass_message".into());
                push(&format!("step_text_{i}"), text.clone());
                push(&format!("step_material_{i}"), material_id.map(|x| x.to_string()).unwrap_or_default());
            }
        }
    }
    v
}

fn bad(field: &str, code: &str, message: String) -> WebError {
    WebError::Engine(koi_engine::EngineError::Invalid(ValidationError::one(field, code, message)))
}

fn opt_id(f: &ConsoleForm, name: &str) -> Result<Option<i64>, WebError> {
    let v = f.get(name).trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| bad(name, "not_a_number", format!("{name} {v:?} is not a number")))
}

fn number<T: std::str::FromStr>(f: &ConsoleForm, name: &str, default: T) -> Result<T, WebError> {
    let v = f.get(name).trim();
    if v.is_empty() {
        return Ok(default);
    }
    v.parse().map_err(|_| bad(name, "not_a_number", format!("{name} {v:?} is not a number")))
}

/// The rule a form describes; blank step rows are left out.
fn draft_of(f: &ConsoleForm) -> Result<SopDraft, WebError> {
    let trigger = match f.get("trigger") {
        "weekly" => Trigger::Weekly { weekdays: f.all("weekdays").filter_map(|w| w.parse().ok()).collect() },
        "festival" => {
            let mut brand_days = Vec::new();
            if !f.get("brand_name").trim().is_empty() || !f.get("brand_day").trim().is_empty() {
                let month = match f.get("brand_month").trim() {
                    "" => None,
                    _ => Some(number(f, "brand_month", 0u32)?),
                };
                brand_days.push(BrandDay {
                    name: f.get("brand_name").to_string(),
                    month,
                    day: number(f, "brand_day", 0u32)?,
                });
            }
            Trigger::Festival { festivals: f.all("festivals").map(String::from).collect(), brand_days }
        }
        "event" => Trigger::Event {
            event: match f.get("event") {
                "tagged" => SopEvent::Tagged { tag_id: f.get("event_tag").to_string() },
                "first_order" => SopEvent::FirstOrder,
                "stage_changed" => SopEvent::StageChanged { to: f.get("event_stage").to_string() },
                "no_order_for" => SopEvent::NoOrderFor { days: number(f, "event_days", 0u32)? },
                "joined_group" => SopEvent::JoinedGroup { group_kind: f.get("event_group_kind").to_string() },
                other => return Err(bad("event", "unknown", format!("no event {other:?}"))),
            },
        },
        _ => Trigger::AfterAdd,
    };
    let audience = match f.get("audience") {
        "groups" => {
            let ids: Result<Vec<i64>, _> = f.all("group_ids").map(str::parse).collect();
            Audience::Groups { group_ids: ids.map_err(|_| bad("group_ids", "not_a_number", "pick groups".into()))? }
        }
        _ => Audience::Customers {
            tag_ids: f.all("tag_ids").filter(|t| !t.is_empty()).map(String::from).collect(),
            segment_id: opt_id(f, "segment_id")?,
        },
    };
    let mut steps = Vec::new();
    for i in 0..FORM_STEPS {
        let text = f.get(&format!("step_text_{i}")).to_string();
        if text.trim().is_empty() {
            continue;
        }
        let at_field = format!("step_at_{i}");
        let at = match f.get(&at_field).trim() {
            "" => None,
            t => Some(Hm::parse(t).ok_or_else(|| bad(&at_field, "not_a_time", format!("{t:?} is not HH:MM")))?),
        };
        let material_id = opt_id(f, &format!("step_material_{i}"))?;
        let action = match f.get(&format!("step_action_{i}")) {
            "mass_message" => StepAction::MassMessage { text, material_id },
            _ => StepAction::GuideTask { title: text, script_id: opt_id(f, &format!("step_script_{i}"))?, material_id },
        };
        steps.push(Step { day: number(f, &format!("step_day_{i}"), 0i32)?, at, action });
    }
    Ok(SopDraft { name: f.get("name").to_string(), trigger, audience, steps })
}

async fn list_page(state: &AppState, c: &Console, form: FormView, ok: Option<&str>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(state, c, "sops").await.flash_from(ok);
    let sops = state.engine.sops(who).await.or_page(c)?;
    let sops = sops.into_iter().map(|s| SopLine { summary: summary(chrome.t, &s.draft), sop: s }).collect();
    let p = state.engine.sop_pickers(who).await.or_page(c)?;
    let page = ListPage {
        c: chrome,
        sops,
        templates: state.engine.sop_templates(),
        p,
        form,
        steps: (0..FORM_STEPS).collect(),
    };
    Ok(render(&page))
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let form = FormView::of(vec![("step_day_0".into(), "0".into())]);
    list_page(&state, &c, form, n.ok.as_deref()).await
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let r = match draft_of(&f) {
        Ok(d) => state.engine.create_sop(c.who(), d, f.get("enabled") == "1").await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(s) => Ok(see_other(&format!("/console/sops/{}?ok=created", s.id))),
        Err(e) => list_page(&state, c, FormView::failed(f.fields.clone(), e).or_page(c)?, None).await,
    }
}

async fn rule_page(state: &AppState, c: &Console, id: i64, form: Option<FormView>, ok: Option<&str>) -> Page {
    let who = c.who();
    let chrome = Chrome::new(state, c, "sops").await.flash_from(ok);
    let sop = state.engine.sop(who, id).await.or_page(c)?;
    let fires = state.engine.sop_fires(who, id).await.or_page(c)?;
    let p = state.engine.sop_pickers(who).await.or_page(c)?;
    let form = form.unwrap_or_else(|| FormView::of(values_of(&sop.draft)));
    let page = RulePage {
        summary: summary(chrome.t, &sop.draft),
        c: chrome,
        sop,
        fires,
        p,
        form,
        steps: (0..FORM_STEPS).collect(),
    };
    Ok(render(&page))
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    rule_page(&state, &c, id, None, n.ok.as_deref()).await
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let r = match draft_of(&f) {
        Ok(d) => state.engine.update_sop(c.who(), id, d).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&format!("/console/sops/{id}?ok=saved"))),
        Err(e) => rule_page(&state, c, id, Some(FormView::failed(f.fields.clone(), e).or_page(c)?), None).await,
    }
}

pub async fn set_enabled(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.set_sop_enabled(c.who(), id, f.get("enabled") == "1").await.or_page(c)?;
    Ok(see_other(&format!("/console/sops/{id}?ok=saved")))
}

pub async fn enable_template(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.enable_sop_template(c.who(), f.get("template")).await.or_page(c)?;
    Ok(see_other("/console/sops?ok=created"))
}

async fn scripts_page(state: &AppState, c: &Console, q: &str, form: FormView, ok: Option<&str>) -> Page {
    let chrome = Chrome::new(state, c, "scripts").await.flash_from(ok);
    let scripts = state.engine.scripts(c.who(), q, "").await.or_page(c)?;
    Ok(render(&ScriptsPage { c: chrome, scripts, form, q: q.to_string() }))
}

pub async fn scripts(State(state): State<AppState>, c: Console, Query(s): Query<Search>) -> Page {
    scripts_page(&state, &c, &s.q, FormView::default(), s.ok.as_deref()).await
}

pub async fn create_script(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let d = ScriptDraft {
        folder: f.get("folder").to_string(),
        title: f.get("title").to_string(),
        body: f.get("body").to_string(),
        keywords: f.get("keywords").split([' ', ',', '，']).filter(|k| !k.is_empty()).map(String::from).collect(),
    };
    match state.engine.save_script(c.who(), None, d).await {
        Ok(_) => Ok(see_other("/console/scripts?ok=created")),
        Err(e) => scripts_page(&state, c, "", FormView::failed(f.fields.clone(), e.into()).or_page(c)?, None).await,
    }
}

pub async fn delete_script(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    state.engine.delete_script(c.who(), id).await.or_page(c)?;
    Ok(see_other("/console/scripts?ok=deleted"))
}

pub(super) async fn materials_page(state: &AppState, c: &Console, form: FormView, ok: Option<&str>) -> Page {
    let chrome = Chrome::new(state, c, "materials").await.flash_from(ok);
    let materials = state.engine.materials(c.who(), "", "").await.or_page(c)?;
    let kinds = MaterialKind::ALL.iter().map(|k| k.as_str()).collect();
    Ok(render(&MaterialsPage { c: chrome, materials, kinds, form }))
}

pub async fn materials(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    materials_page(&state, &c, FormView::default(), n.ok.as_deref()).await
}

pub async fn create_material(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let r = match MaterialKind::parse(f.get("kind")) {
        Some(kind) => {
            let d = MaterialDraft {
                kind,
                folder: f.get("folder").to_string(),
                title: f.get("title").to_string(),
                url: f.get("url").to_string(),
                description: f.get("description").to_string(),
                appid: f.get("appid").to_string(),
                page: f.get("page").to_string(),
            };
            state.engine.save_material(c.who(), None, d).await.map_err(WebError::from)
        }
        None => Err(bad("kind", "unknown", "pick a kind".into())),
    };
    match r {
        Ok(_) => Ok(see_other("/console/materials?ok=created")),
        Err(e) => materials_page(&state, c, FormView::failed(f.fields.clone(), e).or_page(c)?, None).await,
    }
}
