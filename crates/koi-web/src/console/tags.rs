//! Tags (标签): the catalogue by group with how many customers carry each
//! tag, kept equal to WeCom's (every change goes through WeCom first); the
//! tag rules that tag by behaviour; and bulk tagging of a pasted or uploaded
//! list of customers, or of a segment.

use super::channel_codes::Choice;
use super::{error_page, render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::i18n::Lang;
use crate::AppState;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use koi_domain::access::Action;
use koi_domain::customer::{TagRule, Trigger};
use koi_domain::{FieldError, ValidationError};
use koi_engine::customers::{BulkOutcome, BulkTarget, SegmentInput, TagGroupView, TagRuleView};
use koi_engine::EngineError;
use std::collections::HashMap;

/// The triggers a rule can have, in the order the select lists them.
pub const TRIGGERS: [&str; 7] = [
    "added_via_code",
    "joined_group",
    "first_order",
    "no_order_for_days",
    "poll_answer",
    "opened_material",
    "joined_campaign",
];

pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub trigger: String,
    pub add: String,
    pub remove: String,
    pub active: bool,
}

/// The forms of the tags page, each with its own input and errors.
#[derive(Default)]
pub struct TagForms {
    pub create: FormView,
    pub rule: FormView,
    pub bulk: FormView,
}

#[derive(Template)]
#[template(path = "tags.html")]
struct ListPage {
    c: Chrome,
    groups: Vec<TagGroupView>,
    tag_count: usize,
    rules: Vec<RuleRow>,
    codes: Vec<Choice>,
    /// Coupon templates a rule may issue.
    coupons: Vec<Choice>,
    triggers: Vec<&'static str>,
    forms: TagForms,
    outcome: Option<BulkOutcome>,
}

#[derive(Template)]
#[template(path = "tag_rule.html")]
struct RulePage {
    c: Chrome,
    id: i64,
    groups: Vec<TagGroupView>,
    codes: Vec<Choice>,
    coupons: Vec<Choice>,
    triggers: Vec<&'static str>,
    forms: TagForms,
}

/// Tag id → name, for lists that hold ids.
fn tag_names(groups: &[TagGroupView]) -> HashMap<&str, &str> {
    groups.iter().flat_map(|g| &g.tags).map(|t| (t.id.as_str(), t.name.as_str())).collect()
}

fn rule_row(lang: Lang, r: TagRuleView, names: &HashMap<&str, &str>, codes: &[Choice]) -> RuleRow {
    let named = |ids: &[String]| {
        ids.iter().map(|t| names.get(t.as_str()).copied().unwrap_or(t.as_str())).collect::<Vec<_>>().join("、")
    };
    let trigger = match (&r.trigger, lang) {
        // The code by its name, not its number.
        (koi_domain::customer::Trigger::AddedViaCode { code_id }, _) => {
            let id = code_id.to_string();
            let tr = crate::i18n::Tr(lang);
            match codes.iter().find(|c| c.value == id) {
                Some(code) => tr.s("trigger_added_via_code").replace("{code}", &code.label),
                None => tr.s("trigger_added_via_deleted_code").to_string(),
            }
        }
        (_, Lang::Zh) => r.describe_zh,
        (_, Lang::En) => r.describe_en,
    };
    RuleRow {
        id: r.id,
        trigger,
        add: named(&r.add_tags),
        remove: named(&r.remove_tags),
        active: r.active,
        name: r.name,
    }
}

/// The live coupon templates, for a rule that issues one.
async fn coupon_choices(state: &AppState, c: &Console) -> Result<Vec<Choice>, Response> {
    if !c.who().allows(Action::ViewCoupons) {
        return Ok(vec![]);
    }
    let list = state.engine.coupon_templates(c.who()).await.or_page(c)?;
    Ok(list
        .into_iter()
        .filter(|t| !t.archived)
        .map(|t| Choice { value: t.id.to_string(), label: format!("{} · {}", t.draft.name, t.title) })
        .collect())
}

async fn code_choices(state: &AppState, c: &Console) -> Result<Vec<Choice>, Response> {
    let codes = state.engine.channel_codes(c.who()).await.or_page(c)?;
    Ok(codes.into_iter().map(|k| Choice { value: k.id.to_string(), label: k.name }).collect())
}

fn require(c: &Console, action: Action) -> Result<(), Response> {
    if c.who().allows(action) {
        Ok(())
    } else {
        Err(error_page(c, EngineError::Forbidden.into()))
    }
}

async fn list_page(
    state: &AppState,
    c: &Console,
    forms: TagForms,
    outcome: Option<BulkOutcome>,
) -> Result<ListPage, Response> {
    require(c, Action::ManageTags)?;
    let who = c.who();
    let groups = state.engine.tag_groups(who).await.or_page(c)?;
    let rules = state.engine.tag_rules(who).await.or_page(c)?;
    let names = tag_names(&groups);
    let codes = code_choices(state, c).await?;
    let rules = rules.into_iter().map(|r| rule_row(c.lang, r, &names, &codes)).collect();
    Ok(ListPage {
        c: Chrome::new(state, c, "tags").await,
        tag_count: groups.iter().map(|g| g.tags.len()).sum(),
        rules,
        codes,
        coupons: coupon_choices(state, c).await?,
        triggers: TRIGGERS.to_vec(),
        groups,
        forms,
        outcome,
    })
}

pub async fn list(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = list_page(&state, &c, TagForms::default(), None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// One name per line (or separated by commas), blanks dropped.
fn names_of(text: &str) -> Vec<String> {
    text.split(['\n', ',', '，']).map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
}

/// Creates tags in an existing group or a new one, through WeCom.
pub async fn create(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let c = &f.console;
    let group_id = Some(f.get("group_id").trim()).filter(|g| !g.is_empty());
    let group_name = Some(f.get("group_name").trim()).filter(|g| !g.is_empty() && group_id.is_none());
    let names = names_of(f.get("names"));
    match state.engine.create_tags(c.who(), group_id, group_name, &names).await {
        Ok(_) => Ok(see_other("/console/tags?ok=created")),
        Err(e) => {
            let create = FormView::failed(f.fields.clone(), e.into()).map_err(|e| error_page(c, e))?;
            let forms = TagForms { create, ..TagForms::default() };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, forms, None).await?))
        }
    }
}

pub async fn rename(State(state): State<AppState>, Path(id): Path<String>, f: ConsoleForm) -> Page {
    let c = &f.console;
    match state.engine.rename_tag(c.who(), &id, f.get("name")).await {
        Ok(()) => Ok(see_other("/console/tags?ok=saved")),
        Err(e) => {
            let create = FormView::failed(vec![], e.into()).map_err(|e| error_page(c, e))?;
            let forms = TagForms { create, ..TagForms::default() };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, c, forms, None).await?))
        }
    }
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>, f: ConsoleForm) -> Page {
    state.engine.delete_tag(f.console.who(), &id).await.or_page(&f.console)?;
    Ok(see_other("/console/tags?ok=deleted"))
}

/// Queues a full pull of WeCom's catalogue (tags an admin made in WeCom).
pub async fn sync(State(state): State<AppState>, f: ConsoleForm) -> Page {
    state.engine.request_tag_sync(f.console.who()).await.or_page(&f.console)?;
    Ok(see_other("/console/tags?ok=queued"))
}

/// Reads the rule form into a rule; problems with the form itself (a day
/// count that is not a number) are reported like the domain's checks.
fn rule_of(f: &ConsoleForm) -> Result<TagRule, ValidationError> {
    let mut errors = Vec::new();
    let text = |name: &str| f.get(name).trim().to_string();
    let mut number = |name: &str| -> i64 {
        let t = f.get(name).trim();
        t.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new(&format!("trigger.{name}"), "not_a_number", format!("{t:?} is not a number")));
            0
        })
    };
    let trigger = match f.get("trigger") {
        "added_via_code" => Trigger::AddedViaCode { code_id: number("code_id") },
        "joined_group" => Trigger::JoinedGroup { group_kind: text("group_kind") },
        "first_order" => Trigger::FirstOrder,
        "no_order_for_days" => Trigger::NoOrderForDays { days: u32::try_from(number("days")).unwrap_or(0) },
        "poll_answer" => Trigger::PollAnswer { poll: text("poll"), answer: text("answer") },
        "opened_material" => Trigger::OpenedMaterial { material: text("material") },
        "joined_campaign" => Trigger::JoinedCampaign { campaign: text("campaign") },
        other => {
            errors.push(FieldError::new("trigger", "unknown_trigger", format!("no trigger {other:?}")));
            Trigger::FirstOrder
        }
    };
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    Ok(TagRule {
        id: 0,
        name: f.get("name").trim().to_string(),
        trigger,
        add_tags: f.all("add_tags").map(str::to_string).collect(),
        remove_tags: f.all("remove_tags").map(str::to_string).collect(),
        issue_coupon: f.get("issue_coupon").trim().parse().ok(),
        active: f.get("active") == "on",
    })
}

/// The rule form's fields for a saved rule: the inverse of [`rule_of`].
fn rule_values(r: &TagRuleView) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![("name".into(), r.name.clone())];
    let mut put = |k: &str, x: String| v.push((k.into(), x));
    let on = match &r.trigger {
        Trigger::AddedViaCode { code_id } => {
            put("code_id", code_id.to_string());
            "added_via_code"
        }
        Trigger::JoinedGroup { group_kind } => {
            put("group_kind", group_kind.clone());
            "joined_group"
        }
        Trigger::FirstOrder => "first_order",
        Trigger::NoOrderForDays { days } => {
            put("days", days.to_string());
            "no_order_for_days"
        }
        Trigger::PollAnswer { poll, answer } => {
            put("poll", poll.clone());
            put("answer", answer.clone());
            "poll_answer"
        }
        Trigger::OpenedMaterial { material } => {
            put("material", material.clone());
            "opened_material"
        }
        Trigger::JoinedCampaign { campaign } => {
            put("campaign", campaign.clone());
            "joined_campaign"
        }
    };
    put("trigger", on.into());
    if let Some(t) = r.issue_coupon {
        put("issue_coupon", t.to_string());
    }
    for t in &r.add_tags {
        put("add_tags", t.clone());
    }
    for t in &r.remove_tags {
        put("remove_tags", t.clone());
    }
    if r.active {
        put("active", "on".into());
    }
    v
}

async fn rule_page(state: &AppState, c: &Console, id: i64, rule: FormView) -> Result<RulePage, Response> {
    require(c, Action::ManageTags)?;
    Ok(RulePage {
        c: Chrome::new(state, c, "tags").await,
        id,
        groups: state.engine.tag_groups(c.who()).await.or_page(c)?,
        codes: code_choices(state, c).await?,
        coupons: coupon_choices(state, c).await?,
        triggers: TRIGGERS.to_vec(),
        forms: TagForms { rule, ..TagForms::default() },
    })
}

pub async fn edit_rule(State(state): State<AppState>, c: Console, Path(id): Path<i64>) -> Page {
    let rules = state.engine.tag_rules(c.who()).await.or_page(&c)?;
    let rule = rules.iter().find(|r| r.id == id).ok_or(EngineError::NotFound("tag rule")).or_page(&c)?;
    Ok(render(&rule_page(&state, &c, id, FormView::of(rule_values(rule))).await?))
}

async fn save_rule(state: &AppState, f: &ConsoleForm, id: Option<i64>) -> Page {
    let c = &f.console;
    let result = match rule_of(f) {
        Ok(rule) => state.engine.save_tag_rule(c.who(), id, rule).await.map_err(WebError::from),
        Err(e) => Err(WebError::Engine(EngineError::Invalid(e))),
    };
    match result {
        Ok(_) => Ok(see_other("/console/tags?ok=saved#rules")),
        Err(e) => {
            let rule = FormView::failed(f.fields.clone(), e).map_err(|e| error_page(c, e))?;
            let page = match id {
                Some(id) => render_with(StatusCode::UNPROCESSABLE_ENTITY, &rule_page(state, c, id, rule).await?),
                None => {
                    let forms = TagForms { rule, ..TagForms::default() };
                    render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(state, c, forms, None).await?)
                }
            };
            Ok(page)
        }
    }
}

pub async fn create_rule(State(state): State<AppState>, f: ConsoleForm) -> Page {
    save_rule(&state, &f, None).await
}

pub async fn update_rule(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    save_rule(&state, &f, Some(id)).await
}

pub async fn delete_rule(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.delete_tag_rule(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/tags?ok=deleted#rules"))
}

/// The external userids in a pasted list or an uploaded CSV: the
/// `external_userid` column when the file has that header (koi's own
/// segment export does), else the first column; blanks dropped.
fn userids_of(pasted: &str, file: &[u8]) -> Vec<String> {
    let mut ids: Vec<String> =
        pasted.split(|ch: char| ch == ',' || ch == '，' || ch.is_whitespace()).map(str::to_string).collect();
    let text = String::from_utf8_lossy(file);
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut column = 0;
    for (i, row) in rows.records().enumerate() {
        let Ok(row) = row else { continue };
        if i == 0 {
            if let Some(at) = row.iter().position(|h| h.trim() == "external_userid") {
                column = at;
                continue;
            }
        }
        ids.extend(row.get(column).map(str::to_string));
    }
    ids.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Bulk tagging: a multipart form, since the list may come as a file.
pub async fn bulk(State(state): State<AppState>, c: Console, mut form: Multipart) -> Page {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut file = Vec::new();
    while let Some(field) =
        form.next_field().await.map_err(|e| error_page(&c, WebError::bad_request("malformed_upload", e.body_text())))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| error_page(&c, WebError::bad_request("malformed_upload", e.body_text())))?;
        if name == "file" {
            file = bytes.to_vec();
        } else {
            values.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    let get = |k: &str| values.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    c.check_csrf(Some(get("_csrf"))).map_err(|e| error_page(&c, e))?;
    let pick = |k: &str| values.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let (add, remove) = (pick("add"), pick("remove"));
    let target = if get("target") == "segment" {
        BulkTarget::Segment(SegmentInput::Text(get("expr").trim().to_string()))
    } else {
        let ids = userids_of(get("ids"), &file);
        if ids.is_empty() {
            let e = ValidationError::one("ids", "required", "paste external userids or choose a CSV file");
            let bulk = FormView { values, errors: e.0 };
            let forms = TagForms { bulk, ..TagForms::default() };
            return Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, &c, forms, None).await?));
        }
        BulkTarget::Customers(ids)
    };
    match state.engine.bulk_tag(c.who(), &target, &add, &remove).await {
        Ok(outcome) => {
            let mut p = list_page(&state, &c, TagForms::default(), Some(outcome)).await?;
            p.c.flash = Some("flash_tagged");
            Ok(render(&p))
        }
        Err(e) => {
            let bulk = FormView::failed(values, e.into()).map_err(|e| error_page(&c, e))?;
            let forms = TagForms { bulk, ..TagForms::default() };
            Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &list_page(&state, &c, forms, None).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::userids_of;

    #[test]
    fn userids_come_from_a_paste_or_the_right_column() {
        assert_eq!(userids_of("wmA, wmB\nwoC ", b""), ["wmA", "wmB", "woC"]);
        assert_eq!(userids_of("", b"wmA\r\nwmB,ignored\r\n\r\n"), ["wmA", "wmB"]);
        let export = "\u{feff}id,external_userid,name\n1,wmA,甲\n2,wmB,乙\n";
        assert_eq!(userids_of("", export.as_bytes()), ["wmA", "wmB"]);
    }
}
