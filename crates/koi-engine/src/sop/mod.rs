//! SOP (标准作业流程): rules that schedule touches of customers and groups.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the operator's use cases: list, create, edit, enable / disable a rule; enable a template |
//! | `tick.rs` | the SOP timer (`SopTickJob`, from the worker's loop): finds the steps that came due (day N after add, weekly, festival, no order for N days), records each once and acts on it |
//! | `hooks.rs` | event rules (tagged, first order, stage changed, joined a group): recorded in the transaction of the event that triggers them |
//! | `report.rs` | the report per guide and per store: tasks planned, done, overdue; steps skipped |
//! | `jsapi.rs` | the JS-SDK bridge for the sidebar inside WeCom: `wx.config` / `wx.agentConfig` signatures over cached tickets, and the chat context of the customer the JS-SDK names |
//! | `sidebar.rs` | the guide's sidebar: the signed chat context, WeCom OAuth sign-in, the guide's session, the page's data, tasks and notes |
//!
//! Exactly once: each (rule, step, target, occurrence) is one `sop_fires`
//! row, its action happens in the transaction that moves it out of
//! `pending`, and a fire makes at most one task (see `koi_store::sop`).
//! Two nodes or a restart find the row there and do nothing.

mod hooks;
pub mod jsapi;
pub mod report;
pub mod sidebar;
mod tick;

pub(crate) use hooks::on_happened;
pub(crate) use tick::SopTickJob;

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::sop::template::{template, TEMPLATES};
use koi_domain::sop::{Audience, SopDraft, SopEvent, Trigger};
use koi_domain::ValidationError;
use koi_store::now_ms;
use koi_store::sop::SopRuleRow;
use serde::Serialize;
use std::collections::BTreeSet;

/// A rule as the API and console show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sop {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    /// The template it came from, if any (`periodic_hot_products`).
    pub template: String,
    pub draft: SopDraft,
    /// Steps recorded and waiting for their time.
    pub pending: i64,
    /// Steps that acted (a task made, a message sent).
    pub done: i64,
    /// Steps skipped, with their reason on the rule's page (no guide, the
    /// fatigue cap, not in the audience any more, the rule disabled).
    pub skipped: i64,
    /// Tasks the guides marked done.
    pub tasks_done: i64,
    pub enabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A template as the console offers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopTemplate {
    pub key: String,
    pub zh: String,
    pub en: String,
    pub rules: Vec<SopDraft>,
}

/// One fire of a rule, for its page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopFire {
    pub step: i32,
    pub target_kind: String,
    pub target_id: i64,
    pub occurrence: i64,
    pub due_at: i64,
    pub state: String,
    pub note: String,
    pub fired_at: Option<i64>,
}

pub(crate) fn draft_of(row: &SopRuleRow) -> Result<SopDraft> {
    serde_json::from_str(&row.draft)
        .map_err(|e| EngineError::Unavailable(format!("stored SOP rule {} does not read: {e}", row.id)))
}

fn view(row: &SopRuleRow, counts: Option<&koi_store::sop::SopRuleCounts>) -> Result<Sop> {
    let c = counts.cloned().unwrap_or_default();
    Ok(Sop {
        id: row.id,
        name: row.name.clone(),
        enabled: row.enabled,
        template: row.template.clone(),
        draft: draft_of(row)?,
        pending: c.pending,
        done: c.done,
        skipped: c.skipped,
        tasks_done: c.tasks_done,
        enabled_at: row.enabled_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl Engine {
    pub async fn sops(&self, who: &Principal) -> Result<Vec<Sop>> {
        require(who, Action::ViewSops)?;
        let counts = self.db.sop_rule_counts(who.corp_id).await?;
        let rows = self.db.sop_rules(who.corp_id).await?;
        rows.iter().map(|r| view(r, counts.iter().find(|c| c.rule_id == r.id))).collect()
    }

    pub async fn sop(&self, who: &Principal, id: i64) -> Result<Sop> {
        require(who, Action::ViewSops)?;
        let row = self.db.sop_rule(who.corp_id, id).await?.ok_or(EngineError::NotFound("sop"))?;
        let counts = self.db.sop_rule_counts(who.corp_id).await?;
        view(&row, counts.iter().find(|c| c.rule_id == id))
    }

    /// The latest fires of a rule (its page).
    pub async fn sop_fires(&self, who: &Principal, id: i64) -> Result<Vec<SopFire>> {
        require(who, Action::ViewSops)?;
        self.db.sop_rule(who.corp_id, id).await?.ok_or(EngineError::NotFound("sop"))?;
        Ok(self
            .db
            .sop_fires_of(who.corp_id, id, 200)
            .await?
            .into_iter()
            .map(|f| SopFire {
                step: f.step,
                target_kind: f.target_kind,
                target_id: f.target_id,
                occurrence: f.occurrence,
                due_at: f.due_at,
                state: f.state,
                note: f.note,
                fired_at: f.fired_at,
            })
            .collect())
    }

    pub fn sop_templates(&self) -> Vec<SopTemplate> {
        TEMPLATES
            .iter()
            .map(|t| SopTemplate { key: t.key.into(), zh: t.zh.into(), en: t.en.into(), rules: (t.rules)() })
            .collect()
    }

    /// Creates a rule (enabled at once when `enabled`).
    pub async fn create_sop(&self, who: &Principal, draft: SopDraft, enabled: bool) -> Result<Sop> {
        require(who, Action::ManageSops)?;
        let d = self.check_sop(who.corp_id, draft).await?;
        let json = serde_json::to_string(&d).expect("a rule serialises");
        let mut tx = self.db.begin().await?;
        let id = tx.insert_sop_rule(who.corp_id, &d.name, d.trigger.kind(), &json, "", enabled, now_ms()).await?;
        tx.commit().await?;
        self.sop(who, id).await
    }

    /// Replaces a rule's trigger, audience and steps. Steps already fired
    /// stay fired (a step is known by its place in the list).
    pub async fn update_sop(&self, who: &Principal, id: i64, draft: SopDraft) -> Result<Sop> {
        require(who, Action::ManageSops)?;
        let d = self.check_sop(who.corp_id, draft).await?;
        let json = serde_json::to_string(&d).expect("a rule serialises");
        let mut tx = self.db.begin().await?;
        if !tx.update_sop_rule(who.corp_id, id, &d.name, d.trigger.kind(), &json, now_ms()).await? {
            return Err(EngineError::NotFound("sop"));
        }
        tx.commit().await?;
        self.sop(who, id).await
    }

    /// Enables a rule from now on (steps that came due while it was off are
    /// not fired late), or disables it (its waiting steps are skipped).
    pub async fn set_sop_enabled(&self, who: &Principal, id: i64, enabled: bool) -> Result<Sop> {
        require(who, Action::ManageSops)?;
        self.db.sop_rule(who.corp_id, id).await?.ok_or(EngineError::NotFound("sop"))?;
        let mut tx = self.db.begin().await?;
        tx.set_sop_rule_enabled(who.corp_id, id, enabled, now_ms()).await?;
        tx.commit().await?;
        self.sop(who, id).await
    }

    /// Creates a template's rules, enabled.
    pub async fn enable_sop_template(&self, who: &Principal, key: &str) -> Result<Vec<Sop>> {
        require(who, Action::ManageSops)?;
        let t = template(key).ok_or(EngineError::NotFound("sop template"))?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::new();
        for d in (t.rules)() {
            let d = d.validate()?;
            let json = serde_json::to_string(&d).expect("a rule serialises");
            ids.push(tx.insert_sop_rule(who.corp_id, &d.name, d.trigger.kind(), &json, t.key, true, now).await?);
        }
        tx.commit().await?;
        let mut out = Vec::new();
        for id in ids {
            out.push(self.sop(who, id).await?);
        }
        Ok(out)
    }

    /// Validates a draft and checks the tags, segment, groups, scripts
    /// and materials it names belong to the corp.
    async fn check_sop(&self, corp_id: i64, draft: SopDraft) -> Result<SopDraft> {
        let d = draft.validate()?;
        let mut c = koi_domain::error::Checker::default();
        let known: BTreeSet<String> = self.db.tag_catalogue(corp_id).await?.into_iter().map(|t| t.tag_id).collect();
        let mut tags: Vec<&String> = Vec::new();
        if let Trigger::Event { event: SopEvent::Tagged { tag_id } } = &d.trigger {
            tags.push(tag_id);
        }
        match &d.audience {
            Audience::Customers { tag_ids, segment_id } => {
                tags.extend(tag_ids);
                if let Some(s) = segment_id {
                    if self.db.segment(corp_id, *s).await?.is_none() {
                        c.push("audience.segment_id", "unknown", format!("no segment {s}"));
                    }
                }
            }
            Audience::Groups { group_ids } => {
                for g in group_ids {
                    if self.db.group(corp_id, *g).await?.is_none() {
                        c.push("audience.group_ids", "unknown", format!("no group {g}"));
                    }
                }
            }
        }
        for t in tags {
            if !known.contains(t) {
                c.push("tags", "unknown_tag", format!("no tag {t:?} in the catalogue"));
            }
        }
        let (scripts, materials) = d.referenced();
        for s in scripts {
            if self.db.script(corp_id, s).await?.is_none() {
                c.push("steps.action.script_id", "unknown", format!("no script {s}"));
            }
        }
        for m in materials {
            if self.db.material(corp_id, m).await?.is_none() {
                c.push("steps.action.material_id", "unknown", format!("no material {m}"));
            }
        }
        c.finish(())?;
        Ok(d)
    }
}

/// A validation error naming one field (for the use cases of this area).
pub(crate) fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

/// What the SOP form offers to pick from: every id by its name.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SopPickers {
    /// (tag id, name)
    pub tags: Vec<(String, String)>,
    pub segments: Vec<(i64, String)>,
    pub groups: Vec<(i64, String)>,
    pub scripts: Vec<(i64, String)>,
    pub materials: Vec<(i64, String)>,
    /// (key, 中文, English)
    pub festivals: Vec<(String, String, String)>,
}

impl Engine {
    /// The lists the SOP form picks from.
    pub async fn sop_pickers(&self, who: &Principal) -> Result<SopPickers> {
        require(who, Action::ViewSops)?;
        let corp = who.corp_id;
        let groups = self.db.groups(corp, &koi_store::groups::GroupFilter::default(), 1000).await?;
        Ok(SopPickers {
            tags: self.db.tag_catalogue(corp).await?.into_iter().map(|t| (t.tag_id, t.name)).collect(),
            segments: self.db.segments(corp).await?.into_iter().map(|s| (s.id, s.name)).collect(),
            groups: groups.into_iter().map(|g| (g.id, if g.name.is_empty() { g.chat_id } else { g.name })).collect(),
            scripts: self.db.scripts(corp, "", "").await?.into_iter().map(|s| (s.id, s.title)).collect(),
            materials: self.db.materials(corp, "", "").await?.into_iter().map(|m| (m.id, m.title)).collect(),
            festivals: koi_domain::sop::festivals::FESTIVALS
                .iter()
                .map(|f| (f.key.to_string(), f.zh.to_string(), f.en.to_string()))
                .collect(),
        })
    }
}

/// A task an SOP rule gave a guide, for the rule's page and the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopTask {
    pub id: i64,
    pub staff_id: i64,
    pub customer_id: Option<i64>,
    pub group_id: Option<i64>,
    /// The customer's or group's name.
    pub target: String,
    pub title: String,
    pub script_id: Option<i64>,
    pub material_id: Option<i64>,
    /// todo or done.
    pub state: String,
    pub due_at: i64,
    pub done_at: Option<i64>,
}

impl Engine {
    /// The latest 200 tasks a rule gave guides.
    pub async fn sop_tasks(&self, who: &Principal, id: i64) -> Result<Vec<SopTask>> {
        require(who, Action::ViewSops)?;
        self.db.sop_rule(who.corp_id, id).await?.ok_or(EngineError::NotFound("sop"))?;
        Ok(self
            .db
            .sop_tasks_of_rule(who.corp_id, id, 200)
            .await?
            .into_iter()
            .map(|t| SopTask {
                id: t.id,
                staff_id: t.staff_id,
                customer_id: t.customer_id,
                group_id: t.group_id,
                target: t.target_name.unwrap_or_default(),
                title: t.title,
                script_id: t.script_id,
                material_id: t.material_id,
                state: t.state,
                due_at: t.due_at,
                done_at: t.done_at,
            })
            .collect())
    }
}
