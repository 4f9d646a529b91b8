//! 群活码 / Group codes: the list with each code's rotation status and
//! warning, the form that makes one (groups chosen by name, in the order
//! they fill), a code's page with its QR, downloads, groups and their
//! rotation state, the same form to edit it, and deleting it.

use super::groups::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use koi_domain::access::Action;
use koi_domain::group::{GroupCodeDraft, GroupCodeType, GroupKind, SlotState, StoreGroupCode};
use koi_domain::{FieldError, ValidationError};
use koi_engine::groups::{GroupCode, GroupCodeDetail, GroupQuery};
use koi_engine::EngineError;
use std::collections::HashMap;

/// A code in the list.
pub struct CodeLine {
    pub id: i64,
    pub name: String,
    pub nearest: bool,
    pub store: String,
    pub kind: String,
    pub groups: usize,
    pub open: usize,
    pub full_groups: usize,
    pub room: u32,
    /// The warning's key (`gc_warn_low_room` …), empty for none.
    pub warning: &'static str,
}

/// A group the form offers, with whether it is chosen and its place.
pub struct GroupPick {
    pub id: i64,
    pub name: String,
    pub members: i32,
    pub checked: bool,
    pub order: String,
}

/// A store of a nearest-store code and the code chosen for it.
pub struct StorePickRow {
    pub id: i64,
    pub name: String,
    pub code: String,
}

/// A group of a code on its page.
pub struct SlotLine {
    pub group_id: i64,
    pub name: String,
    pub members: i32,
    pub qr_joins: i64,
    pub code_joins: i64,
    pub state: &'static str,
    pub adopted: bool,
}

/// What the code form needs besides its values.
pub struct FormChoices {
    pub kinds: Vec<Choice>,
    pub stores: Vec<Choice>,
    pub groups: Vec<GroupPick>,
    pub store_codes: Vec<StorePickRow>,
    pub rotating: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "group_codes.html")]
struct ListPage {
    c: Chrome,
    codes: Vec<CodeLine>,
    can_manage: bool,
    form: FormView,
    ch: FormChoices,
    action: String,
}

#[derive(Template)]
#[template(path = "group_code.html")]
struct ShowPage {
    c: Chrome,
    code: GroupCode,
    line: CodeLine,
    slots: Vec<SlotLine>,
    qr_svg: Option<String>,
    landing_url: Option<String>,
    stores_shown: Vec<(String, String)>,
    can_manage: bool,
    form: FormView,
    ch: FormChoices,
    action: String,
    /// The invitation after a first order (education → paid), and its kinds.
    invite: koi_engine::groups::FirstOrderInviteView,
    invite_kinds: Vec<super::group_pulls::KindPick>,
    /// Poster templates to print the code on (id, name); empty for a user
    /// who may not see them (the built-in layout is always offered).
    poster_templates: Vec<(i64, String)>,
}

fn warning_key(code: &GroupCode) -> &'static str {
    match code.warning {
        Some(koi_domain::group::Warning::LowRoom) => "gc_warn_low_room",
        Some(koi_domain::group::Warning::LastGroup) => "gc_warn_last_group",
        Some(koi_domain::group::Warning::Full) => "gc_warn_full",
        None => "",
    }
}

fn slot_key(s: SlotState) -> &'static str {
    match s {
        SlotState::Open => "gc_slot_open",
        SlotState::Standby => "gc_slot_standby",
        SlotState::Full => "gc_slot_full",
        SlotState::Dismissed => "gc_slot_dismissed",
    }
}

fn line(c: &Chrome, d: &GroupCodeDetail, stores: &HashMap<i64, String>) -> CodeLine {
    let count = |s: SlotState| d.groups.iter().filter(|g| g.state == s).count();
    let code = &d.code;
    CodeLine {
        id: code.id,
        name: code.name.clone(),
        nearest: code.code_type == GroupCodeType::NearestStore,
        store: code.store_id.and_then(|s| stores.get(&s).cloned()).unwrap_or_default(),
        kind: c.t.s(&format!("group_kind_{}", code.group_kind)).to_string(),
        groups: d.groups.len(),
        open: count(SlotState::Open),
        full_groups: count(SlotState::Full),
        room: code.room,
        warning: warning_key(code),
    }
}

async fn store_names(state: &AppState, c: &Console) -> Result<HashMap<i64, String>, Response> {
    Ok(state.engine.stores(c.who()).await.or_page(c)?.into_iter().map(|s| (s.id, s.name)).collect())
}

/// The form's choices: kinds, stores, the active groups (chosen ones first,
/// in their order), and for nearest-store codes each store's code.
async fn choices(state: &AppState, c: &Console, form: &FormView) -> Result<FormChoices, Response> {
    let who = c.who();
    let chrome_t = crate::i18n::Tr(c.lang);
    let stores = store_names(state, c).await?;
    let mut store_list: Vec<Choice> =
        stores.iter().map(|(id, n)| Choice { value: id.to_string(), label: n.clone() }).collect();
    store_list.sort_by(|a, b| a.label.cmp(&b.label));
    let q = GroupQuery { status: Some("active".into()), ..Default::default() };
    let all = state.engine.groups(who, &q).await.or_page(c)?;
    let mut groups: Vec<GroupPick> = all
        .iter()
        .map(|g| {
            let id = g.id.to_string();
            GroupPick {
                id: g.id,
                name: if g.name.is_empty() { g.chat_id.clone() } else { g.name.clone() },
                members: g.members,
                checked: form.checked("group", &id),
                order: form.v(&format!("order_{id}")).to_string(),
            }
        })
        .collect();
    groups.sort_by_key(|g| (!g.checked, g.order.parse::<i64>().unwrap_or(i64::MAX), g.name.clone()));
    let codes = state.engine.group_codes(who).await.or_page(c)?;
    let rotating: Vec<Choice> = codes
        .iter()
        .filter(|g| g.code_type == GroupCodeType::Rotating)
        .map(|g| Choice { value: g.id.to_string(), label: g.name.clone() })
        .collect();
    let store_codes = store_list
        .iter()
        .map(|s| StorePickRow {
            id: s.value.parse().unwrap_or(0),
            name: s.label.clone(),
            code: form.v(&format!("store_code_{}", s.value)).to_string(),
        })
        .collect();
    let kinds = GroupKind::ALL
        .iter()
        .map(|k| Choice { value: k.as_str().into(), label: chrome_t.s(&format!("group_kind_{}", k.as_str())).into() })
        .collect();
    Ok(FormChoices { kinds, stores: store_list, groups, store_codes, rotating })
}

/// The form's values for a saved code: the inverse of [`draft`].
fn values_of(d: &GroupCodeDraft) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("name".into(), d.name.clone()),
        ("code_type".into(), d.code_type.as_str().into()),
        ("group_kind".into(), d.group_kind.clone().unwrap_or_else(|| "custom".into())),
        ("store_id".into(), d.store_id.map(|s| s.to_string()).unwrap_or_default()),
        ("room_base_name".into(), d.room_base_name.clone()),
        ("room_base_id".into(), d.room_base_id.map(|s| s.to_string()).unwrap_or_default()),
        ("cap".into(), d.cap.to_string()),
        ("warn_below".into(), d.warn_below.to_string()),
        ("radius_m".into(), if d.radius_m > 0 { d.radius_m.to_string() } else { String::new() }),
        ("fallback_store_id".into(), d.fallback_store_id.map(|s| s.to_string()).unwrap_or_default()),
    ];
    if d.auto_create_room {
        v.push(("auto_create_room".into(), "on".into()));
    }
    for (i, g) in d.group_ids.iter().enumerate() {
        v.push(("group".into(), g.to_string()));
        v.push((format!("order_{g}"), (i + 1).to_string()));
    }
    for s in &d.stores {
        v.push((format!("store_code_{}", s.store_id), s.code_id.to_string()));
    }
    v
}

/// Reads the form into a draft: the ticked groups in the order their
/// numbers give (unnumbered ones after, as listed).
fn draft(f: &ConsoleForm) -> Result<GroupCodeDraft, ValidationError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut int = |field: &str| -> Option<i64> {
        let t = f.get(field).trim();
        if t.is_empty() {
            return None;
        }
        t.parse().map_err(|_| errors.push(FieldError::new(field, "not_a_number", format!("{t:?}")))).ok()
    };
    let store_id = int("store_id");
    let room_base_id = int("room_base_id");
    let cap = int("cap");
    let warn_below = int("warn_below");
    let radius_m = int("radius_m");
    let fallback_store_id = int("fallback_store_id");
    let mut picked: Vec<(i64, usize, i64)> = Vec::new();
    for (i, id) in f.all("group").enumerate() {
        let Ok(id) = id.trim().parse::<i64>() else { continue };
        let order = f.get(&format!("order_{id}")).trim().parse::<i64>().unwrap_or(i64::MAX);
        picked.push((order, i, id));
    }
    picked.sort_unstable();
    let mut stores = Vec::new();
    for (k, v) in &f.fields {
        let Some(store) = k.strip_prefix("store_code_").and_then(|s| s.parse::<i64>().ok()) else { continue };
        if let Ok(code_id) = v.trim().parse::<i64>() {
            stores.push(StoreGroupCode { store_id: store, code_id });
        }
    }
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    let num = |v: Option<i64>, default: u32| v.map_or(default, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let code_type =
        if f.get("code_type") == "nearest_store" { GroupCodeType::NearestStore } else { GroupCodeType::Rotating };
    Ok(GroupCodeDraft {
        name: f.get("name").into(),
        code_type,
        group_kind: Some(f.get("group_kind").to_string()).filter(|k| !k.is_empty()),
        store_id,
        group_ids: if code_type == GroupCodeType::Rotating {
            picked.into_iter().map(|p| p.2).collect()
        } else {
            vec![]
        },
        auto_create_room: code_type == GroupCodeType::Rotating && f.get("auto_create_room") == "on",
        room_base_name: f.get("room_base_name").into(),
        room_base_id,
        cap: num(cap, koi_domain::group::QR_CUT),
        warn_below: num(warn_below, koi_domain::group::DEFAULT_WARN_BELOW),
        stores: if code_type == GroupCodeType::NearestStore { stores } else { vec![] },
        radius_m: num(radius_m, 0),
        fallback_store_id,
    })
}

async fn list_page(state: &AppState, c: &Console, form: FormView) -> Result<ListPage, Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "group_codes").await;
    let stores = store_names(state, c).await?;
    let mut codes = Vec::new();
    for code in state.engine.group_codes(who).await.or_page(c)? {
        let d = state.engine.group_code(who, code.id).await.or_page(c)?;
        codes.push(line(&chrome, &d, &stores));
    }
    let ch = choices(state, c, &form).await?;
    Ok(ListPage {
        c: chrome,
        codes,
        can_manage: who.allows(Action::ManageGroups),
        form,
        ch,
        action: "/console/group-codes".into(),
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let defaults = FormView::of(values_of(&GroupCodeDraft::default()));
    let mut p = list_page(&state, &c, defaults).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

fn read(f: &ConsoleForm) -> Result<GroupCodeDraft, WebError> {
    draft(f).map_err(|e| WebError::Engine(EngineError::Invalid(e)))
}

pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match read(&f) {
        Ok(d) => state.engine.create_group_code(c.who(), d).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(see_other(&format!("/console/group-codes/{}?ok=created", d.code.id))),
        Err(e) => {
            let form = failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, form).await?))
        }
    }
}

/// Field errors and WeCom's refusal are shown on the form (nothing changed).
fn failed(values: Vec<(String, String)>, e: WebError) -> Result<FormView, WebError> {
    match e {
        WebError::Engine(e @ EngineError::WecomRefused(_)) => {
            Ok(FormView { values, errors: vec![FieldError::new("", e.code(), e.to_string())] })
        }
        other => FormView::failed(values, other),
    }
}

async fn show_page(state: &AppState, c: &Console, id: i64, form: Option<FormView>) -> Result<ShowPage, Response> {
    let who = c.who();
    let d = state.engine.group_code(who, id).await.or_page(c)?;
    let chrome = Chrome::new(state, c, "group_codes").await;
    let stores = store_names(state, c).await?;
    let url = crate::api::group_codes::printed_url(state, &d.code);
    let qr_svg = url.as_deref().map(crate::qr::svg).transpose().map_err(WebError::Internal).or_page(c)?;
    let names: HashMap<i64, String> =
        state.engine.group_codes(who).await.or_page(c)?.into_iter().map(|g| (g.id, g.name)).collect();
    let stores_shown = d
        .code
        .settings
        .stores
        .iter()
        .map(|s| {
            let store = stores.get(&s.store_id).cloned().unwrap_or_else(|| format!("#{}", s.store_id));
            (store, names.get(&s.code_id).cloned().unwrap_or_default())
        })
        .collect();
    let form = form.unwrap_or_else(|| FormView::of(values_of(&d.code.settings)));
    let ch = choices(state, c, &form).await?;
    let slots = d
        .groups
        .iter()
        .map(|g| SlotLine {
            group_id: g.group_id,
            name: if g.name.is_empty() { g.chat_id.clone() } else { g.name.clone() },
            members: g.members,
            qr_joins: g.qr_joins,
            code_joins: g.code_joins,
            state: slot_key(g.state),
            adopted: g.adopted,
        })
        .collect();
    let invite = state.engine.first_order_invite(who, id).await.or_page(c)?;
    let chosen = invite.invite.as_ref().map_or_else(|| vec![GroupKind::Education], |i| i.from_kinds.clone());
    let invite_kinds = super::group_pulls::kind_picks(&chrome, &chosen);
    let poster_templates = match who.allows(Action::ManagePosters) {
        true => state.engine.poster_templates(who).await.or_page(c)?.into_iter().map(|t| (t.id, t.name)).collect(),
        false => vec![],
    };
    Ok(ShowPage {
        poster_templates,
        invite,
        invite_kinds,
        line: line(&chrome, &d, &stores),
        landing_url: d.code.landing_path.as_ref().and(url.clone()),
        code: d.code,
        slots,
        qr_svg,
        stores_shown,
        can_manage: who.allows(Action::ManageGroups),
        form,
        ch,
        action: format!("/console/group-codes/{id}"),
        c: chrome,
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Path(id): Path<i64>, Query(n): Query<Notice>) -> Page {
    let mut p = show_page(&state, &c, id, None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

pub async fn update(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let result = match read(&f) {
        Ok(d) => state.engine.update_group_code(c.who(), id, d).await.map_err(WebError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/console/group-codes/{id}?ok=saved"))),
        Err(e) => {
            let form = failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &show_page(&state, c, id, Some(form)).await?))
        }
    }
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.delete_group_code(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/group-codes?ok=deleted"))
}

pub async fn qr_png(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let d = state.engine.group_code(c.who(), id).await.or_page(&c)?;
    let url = crate::api::group_codes::printed_url(&state, &d.code).ok_or(WebError::NotFound).or_page(&c)?;
    // 10 px a module: about 450 px square, sharp on a printed A6 card.
    let png = crate::qr::png(&url, 10).map_err(WebError::Internal).or_page(&c)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"group-code-{id}.png\"")),
        ],
        png,
    )
        .into_response())
}

/// The poster form's fields (an empty template is the built-in layout).
#[derive(serde::Deserialize)]
pub struct PosterForm {
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    title: String,
}

/// The code's printable poster as a JPEG download, in the console's language.
pub async fn poster_jpg(
    State(state): State<AppState>,
    c: Console,
    Path(id): Path<i64>,
    Query(f): Query<PosterForm>,
) -> Page {
    let template_id = match f.template_id.trim() {
        "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| WebError::bad_request("invalid_input", "template_id is not a number"))
                .or_page(&c)?,
        ),
    };
    let t = crate::i18n::Tr(c.lang);
    let texts = [("hint", t.s("gc_poster_hint")), ("sub", t.s("gc_poster_sub"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = koi_engine::groups::GroupPosterRequest { template_id, title: f.title, texts };
    let jpeg = state.engine.group_code_poster(c.who(), id, req).await.or_page(&c)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"group-code-{id}-poster.jpg\"")),
        ],
        jpeg.as_ref().clone(),
    )
        .into_response())
}
