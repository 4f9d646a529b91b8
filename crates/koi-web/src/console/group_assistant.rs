//! 群助手 / Group assistant: keyword auto-reply rules, group welcome
//! templates, sensitive words and the feed settings, with the recent
//! replies and alerts — one page, each form posting to its own route.

use super::groups::Choice;
use super::{render, render_with, see_other, Chrome, FormView, Notice, OrPage, Page};
use crate::auth::{Console, ConsoleForm};
use crate::error::WebError;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use koi_domain::group::assistant::{
    QuietHours, ReplyContent, ReplyLink, ReplyRuleDraft, Scope, WelcomeAttachment, WelcomeTemplateDraft,
};
use koi_domain::group::GroupKind;
use koi_engine::groups::assistant::{AssistantSettings, GroupAlert, GroupReply, GroupReplyRule, GroupWelcome};

pub struct RuleLine {
    pub id: i64,
    pub name: String,
    pub matching: String,
    pub keywords: String,
    pub reply: String,
    pub scope: String,
    pub quiet: String,
    pub cooldown: u32,
    pub enabled: bool,
    pub priority: i32,
}

pub struct WelcomeLine {
    pub id: i64,
    pub name: String,
    pub template_id: String,
    pub text: String,
    pub link: String,
    pub groups: String,
}

pub struct ReplyLine {
    pub group: String,
    pub rule: String,
    pub sender: String,
    pub content: String,
    pub state: String,
    pub said: String,
}

pub struct AlertLine {
    pub group: String,
    pub sender: String,
    pub word: String,
    pub content: String,
    pub state: String,
    pub note: String,
    pub said: String,
}

#[derive(Template)]
#[template(path = "group_assistant.html")]
struct AssistantPage {
    c: Chrome,
    rules: Vec<RuleLine>,
    welcomes: Vec<WelcomeLine>,
    replies: Vec<ReplyLine>,
    alerts: Vec<AlertLine>,
    settings: AssistantSettings,
    words: String,
    kinds: Vec<Choice>,
    form: FormView,
}

fn scope_words(c: &Chrome, s: &Scope) -> String {
    if s.is_all() {
        return c.t.s("ga_all_groups").to_string();
    }
    let mut parts: Vec<String> =
        s.kinds.iter().map(|k| c.t.s(&format!("group_kind_{}", k.as_str())).to_string()).collect();
    parts.extend(s.store_ids.iter().map(|id| format!("{} #{id}", c.t.s("store"))));
    parts.extend(s.group_ids.iter().map(|id| format!("{} #{id}", c.t.s("group_name"))));
    parts.join("、")
}

fn rule_line(c: &Chrome, r: &GroupReplyRule) -> RuleLine {
    let rule = &r.rule;
    let link = rule.reply.link.as_ref().map(|l| format!(" 🔗{}", l.title)).unwrap_or_default();
    RuleLine {
        id: r.id,
        name: rule.name.clone(),
        matching: c
            .t
            .s(&format!(
                "ga_match_{}",
                serde_json::to_value(rule.match_kind)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ))
            .to_string(),
        keywords: rule.keywords.join("、"),
        reply: format!("{}{link}", rule.reply.text),
        scope: scope_words(c, &rule.scope),
        quiet: rule.quiet_hours.as_ref().map(|q| format!("{}–{}", q.start, q.end)).unwrap_or_default(),
        cooldown: rule.cooldown_minutes,
        enabled: rule.enabled,
        priority: rule.priority,
    }
}

fn welcome_line(w: &GroupWelcome) -> WelcomeLine {
    let link = match &w.template.attachment {
        Some(WelcomeAttachment::Link(l)) => format!("{} ({})", l.title, l.url),
        Some(WelcomeAttachment::Image { pic_url }) => pic_url.clone(),
        Some(WelcomeAttachment::Miniprogram { title, .. }) => title.clone(),
        None => String::new(),
    };
    WelcomeLine {
        id: w.id,
        name: w.template.name.clone(),
        template_id: w.template_id.clone(),
        text: w.template.text.clone(),
        link,
        groups: w
            .groups
            .iter()
            .map(|g| if g.name.is_empty() { g.chat_id.clone() } else { g.name.clone() })
            .collect::<Vec<_>>()
            .join("、"),
    }
}

fn state_words(c: &Chrome, state: &str) -> String {
    c.t.s(&format!("ga_state_{state}")).to_string()
}

fn reply_line(c: &Chrome, r: &GroupReply) -> ReplyLine {
    ReplyLine {
        group: r.group_name.clone(),
        rule: r.rule_name.clone(),
        sender: r.sender.clone(),
        content: r.content.clone(),
        state: state_words(c, &r.state),
        said: crate::fmt::datetime(r.said_at),
    }
}

fn alert_line(c: &Chrome, a: &GroupAlert) -> AlertLine {
    AlertLine {
        group: a.group_name.clone(),
        sender: a.sender.clone(),
        word: a.word.clone(),
        content: a.content.clone(),
        state: state_words(c, &a.state),
        note: a.note.clone(),
        said: crate::fmt::datetime(a.said_at),
    }
}

async fn page(
    state: &AppState,
    c: &Console,
    form: Option<FormView>,
) -> Result<AssistantPage, axum::response::Response> {
    let who = c.who();
    let chrome = Chrome::new(state, c, "group_assistant").await;
    let rules = state.engine.group_reply_rules(who).await.or_page(c)?;
    let welcomes = state.engine.group_welcomes(who).await.or_page(c)?;
    let replies = state.engine.group_replies(who).await.or_page(c)?;
    let alerts = state.engine.group_alerts(who).await.or_page(c)?;
    let settings = state.engine.group_assistant_settings(who).await.or_page(c)?;
    let kinds = GroupKind::ALL
        .iter()
        .map(|k| Choice { value: k.as_str().into(), label: chrome.t.s(&format!("group_kind_{}", k.as_str())).into() })
        .collect();
    Ok(AssistantPage {
        rules: rules.iter().map(|r| rule_line(&chrome, r)).collect(),
        welcomes: welcomes.iter().map(welcome_line).collect(),
        replies: replies.iter().take(50).map(|r| reply_line(&chrome, r)).collect(),
        alerts: alerts.iter().take(50).map(|a| alert_line(&chrome, a)).collect(),
        words: settings.sensitive_words.join("\n"),
        settings,
        kinds,
        form: form.unwrap_or_else(|| FormView::of(vec![])),
        c: chrome,
    })
}

pub async fn show(State(state): State<AppState>, c: Console, Query(n): Query<Notice>) -> Page {
    let mut p = page(&state, &c, None).await?;
    p.c = p.c.flash_from(n.ok.as_deref());
    Ok(render(&p))
}

/// Re-renders the page with the form's input and its errors (422).
async fn failed(state: &AppState, f: &ConsoleForm, e: koi_engine::EngineError) -> Page {
    let c = &f.console;
    let form = FormView::failed(f.fields.clone(), WebError::from(e)).map_err(|e| super::error_page(c, e))?;
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page(state, c, Some(form)).await?))
}

/// Lines of a textarea or commas of an input, trimmed, without blanks.
fn list(text: &str) -> Vec<String> {
    text.split(['\n', ',', '，']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn scope_of(f: &ConsoleForm) -> Scope {
    Scope { kinds: f.all("kinds").filter_map(GroupKind::parse).collect(), ..Scope::default() }
}

fn link_of(f: &ConsoleForm) -> Option<ReplyLink> {
    let (title, url) = (f.get("link_title").trim(), f.get("link_url").trim());
    (!title.is_empty() || !url.is_empty()).then(|| ReplyLink {
        title: title.into(),
        url: url.into(),
        desc: String::new(),
    })
}

pub async fn save_settings(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let agent = f.get("agent_id").trim();
    let agent_id = if agent.is_empty() { None } else { Some(agent.parse().unwrap_or(-1)) };
    let s = AssistantSettings {
        feed_enabled: f.get("feed_enabled") == "on",
        agent_id,
        sensitive_words: list(f.get("sensitive_words")),
    };
    match state.engine.save_group_assistant_settings(f.console.who(), &s).await {
        Ok(_) => Ok(see_other("/console/group-assistant?ok=saved")),
        Err(e) => failed(&state, &f, e).await,
    }
}

pub async fn read_feed(State(state): State<AppState>, f: ConsoleForm) -> Page {
    state.engine.read_group_feed(f.console.who()).await.or_page(&f.console)?;
    state.wake_worker();
    Ok(see_other("/console/group-assistant?ok=queued"))
}

pub async fn create_rule(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let (start, end) = (f.get("quiet_start").trim(), f.get("quiet_end").trim());
    let draft = ReplyRuleDraft {
        name: f.get("name").into(),
        scope: scope_of(&f),
        match_kind: Some(f.get("match_kind").into()),
        keywords: list(f.get("keywords")),
        reply: ReplyContent { text: f.get("reply_text").into(), link: link_of(&f) },
        quiet_hours: (!start.is_empty() || !end.is_empty())
            .then(|| QuietHours { start: start.into(), end: end.into() }),
        cooldown_minutes: f.get("cooldown_minutes").trim().parse().unwrap_or(0),
        enabled: Some(true),
        priority: f.get("priority").trim().parse().unwrap_or(0),
    };
    match state.engine.create_group_reply_rule(f.console.who(), &draft).await {
        Ok(_) => Ok(see_other("/console/group-assistant?ok=created")),
        Err(e) => failed(&state, &f, e).await,
    }
}

pub async fn delete_rule(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.delete_group_reply_rule(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/group-assistant?ok=deleted"))
}

pub async fn create_welcome(State(state): State<AppState>, f: ConsoleForm) -> Page {
    let draft = WelcomeTemplateDraft {
        name: f.get("name").into(),
        text: f.get("text").into(),
        attachment: link_of(&f).map(WelcomeAttachment::Link),
        scope: scope_of(&f),
    };
    match state.engine.create_group_welcome(f.console.who(), &draft).await {
        Ok(_) => Ok(see_other("/console/group-assistant?ok=created")),
        Err(e) => failed(&state, &f, e).await,
    }
}

pub async fn delete_welcome(State(state): State<AppState>, Path(id): Path<i64>, f: ConsoleForm) -> Page {
    state.engine.delete_group_welcome(f.console.who(), id).await.or_page(&f.console)?;
    Ok(see_other("/console/group-assistant?ok=deleted"))
}
