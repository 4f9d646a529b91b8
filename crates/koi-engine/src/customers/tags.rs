//! The corp's tag catalogue (标签库), kept equal to WeCom's: koi creates,
//! renames and deletes tags through WeCom first and records what WeCom
//! answers; a `change_external_tag` callback (an admin edited tags in WeCom)
//! or "sync now" pulls WeCom's whole list and applies the difference. Also
//! the tag rules.

use super::tagging::Cause;
use super::SweepJob;
use crate::jobs::{Job, JobCtx, JobResult};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::customer::{diff_tags, validate_tag_name, TagDiff, TagRule, TagSnapshot, Trigger, MAX_CORP_TAGS};
use koi_domain::jobs::priority;
use koi_domain::ValidationError;
use koi_store::customers::{TagRow, TagRuleRow};
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{AddCorpTagRequest, ApiError, DelCorpTagRequest, EditCorpTagRequest, NewTag, Priority};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagGroupView {
    /// WeCom's group id (`et…`).
    pub id: String,
    pub name: String,
    pub tags: Vec<TagView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagView {
    /// WeCom's tag id (`et…`): what segments and rules name.
    pub id: String,
    pub name: String,
    /// Customers carrying it now.
    pub customers: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TagRuleView {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub trigger: Trigger,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// The coupon template the rule issues, if any.
    pub issue_coupon: Option<i64>,
    pub active: bool,
    /// The trigger in words, for lists.
    pub describe_zh: String,
    pub describe_en: String,
}

/// A tag rule as stored (the row holds id, name and active apart).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRule {
    trigger: Trigger,
    add_tags: Vec<String>,
    remove_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issue_coupon: Option<i64>,
}

/// Job: fetch the corp's tag list from WeCom and make koi's catalogue equal
/// (an admin changed tags in WeCom, or an operator asked for a sync).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TagSyncJob {}

impl Job for TagSyncJob {
    const KIND: &'static str = "tags.sync";
    const PRIORITY: i32 = priority::TAGS;
    /// What must change in koi's catalogue.
    type Prepared = TagDiff;

    /// WeCom's catalogue against koi's, before the sync's transaction.
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<TagDiff> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let list = client.get_corp_tag_list(&Default::default(), Priority::Bulk).await?;
        let wecom: Vec<TagSnapshot> = list
            .tag_group
            .iter()
            .filter(|g| !g.deleted)
            .flat_map(|g| {
                g.tag.iter().filter(|t| !t.deleted).map(|t| TagSnapshot {
                    group_id: g.group_id.clone(),
                    group_name: g.group_name.clone(),
                    group_order: g.order,
                    tag_id: t.id.clone(),
                    name: t.name.clone(),
                    order: t.order,
                })
            })
            .collect();
        let koi: Vec<TagSnapshot> = engine.db.tag_catalogue(ctx.corp_id).await?;
        Ok(diff_tags(&koi, &wecom))
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, diff: TagDiff, tx: &mut Tx) -> JobResult<JobEnd> {
        let (corp_id, now) = (ctx.corp_id, now_ms());
        for s in &diff.upsert {
            tx.upsert_tag(corp_id, s, now).await?;
        }
        for t in &diff.delete {
            forget_tag(tx, corp_id, t).await?;
        }
        if !(diff.upsert.is_empty() && diff.delete.is_empty()) {
            tracing::info!(corp_id, upserted = diff.upsert.len(), deleted = diff.delete.len(), "tag catalogue synced");
        }
        Ok(JobEnd::Done)
    }
}

pub(crate) fn rule_of(r: &TagRuleRow) -> Result<TagRule> {
    let s: StoredRule = serde_json::from_str(&r.rule)
        .map_err(|e| EngineError::Unavailable(format!("stored tag rule {}: {e}", r.id)))?;
    Ok(TagRule {
        id: r.id,
        name: r.name.clone(),
        trigger: s.trigger,
        add_tags: s.add_tags,
        remove_tags: s.remove_tags,
        issue_coupon: s.issue_coupon,
        active: r.active,
    })
}

/// WeCom's answer to a catalogue change made from the console or the API.
fn refused(e: ApiError) -> EngineError {
    EngineError::of_wecom_change(e)
}

impl Engine {
    /// The catalogue, by group, with how many customers carry each tag.
    pub async fn tag_groups(&self, who: &Principal) -> Result<Vec<TagGroupView>> {
        require(who, Action::ViewCustomers)?;
        let counts = self.db.tag_counts(who.corp_id).await?;
        let mut groups: Vec<TagGroupView> = Vec::new();
        for t in self.db.tag_catalogue(who.corp_id).await? {
            let tag = TagView { customers: counts.get(&t.tag_id).copied().unwrap_or(0), id: t.tag_id, name: t.name };
            match groups.last_mut() {
                Some(g) if g.id == t.group_id => g.tags.push(tag),
                _ => groups.push(TagGroupView { id: t.group_id, name: t.group_name, tags: vec![tag] }),
            }
        }
        Ok(groups)
    }

    /// Creates tags in a group (an existing group id, or a new group by
    /// name) in WeCom, then in koi.
    pub async fn create_tags(
        &self,
        who: &Principal,
        group_id: Option<&str>,
        group_name: Option<&str>,
        names: &[String],
    ) -> Result<TagGroupView> {
        require(who, Action::ManageTags)?;
        let mut c = koi_domain::error::Checker::default();
        let mut clean = Vec::new();
        for (i, n) in names.iter().enumerate() {
            match validate_tag_name(&format!("names[{i}]"), n) {
                Ok(n) if clean.contains(&n) => c.push(&format!("names[{i}]"), "duplicate", "the same name twice"),
                Ok(n) => clean.push(n),
                Err(e) => c.extend(e),
            }
        }
        if clean.is_empty() && names.is_empty() {
            c.push("names", "required", "name at least one tag");
        }
        let group_name = match (group_id, group_name) {
            (Some(_), _) => None,
            (None, Some(g)) => match validate_tag_name("group_name", g) {
                Ok(g) => Some(g),
                Err(e) => {
                    c.extend(e);
                    None
                }
            },
            (None, None) => {
                c.push("group_name", "required", "name the group or give its id");
                None
            }
        };
        let catalogue = self.db.tag_catalogue(who.corp_id).await?;
        if catalogue.len() + clean.len() > MAX_CORP_TAGS {
            c.push("names", "too_many", format!("WeCom allows at most {MAX_CORP_TAGS} corp tags"));
        }
        if let Some(g) = group_id {
            if !catalogue.iter().any(|t| t.group_id == g) {
                c.push("group_id", "unknown_group", format!("no tag group {g:?}"));
            }
        }
        c.finish(())?;
        let req = AddCorpTagRequest {
            group_id: group_id.map(str::to_string),
            group_name,
            tag: clean.iter().map(|n| NewTag { name: n.clone(), order: None }).collect(),
            ..Default::default()
        };
        let client = self.wecom_for(who.corp_id).await?;
        let made = client.add_corp_tag(&req, Priority::Interactive).await.map_err(refused)?.tag_group;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for t in &made.tag {
            let r = TagRow {
                group_id: made.group_id.clone(),
                group_name: made.group_name.clone(),
                group_order: made.order,
                tag_id: t.id.clone(),
                name: t.name.clone(),
                order: t.order,
            };
            tx.upsert_tag(who.corp_id, &r, now).await?;
        }
        tx.commit().await?;
        let groups = self.tag_groups(who).await?;
        groups.into_iter().find(|g| g.id == made.group_id).ok_or(EngineError::NotFound("tag group"))
    }

    /// Renames a tag in WeCom, then in koi.
    pub async fn rename_tag(&self, who: &Principal, tag_id: &str, name: &str) -> Result<()> {
        require(who, Action::ManageTags)?;
        let name = validate_tag_name("name", name)?;
        let catalogue = self.db.tag_catalogue(who.corp_id).await?;
        let mut t = catalogue.into_iter().find(|t| t.tag_id == tag_id).ok_or(EngineError::NotFound("tag"))?;
        let client = self.wecom_for(who.corp_id).await?;
        let req = EditCorpTagRequest { id: tag_id.to_string(), name: Some(name.clone()), ..Default::default() };
        client.edit_corp_tag(&req, Priority::Interactive).await.map_err(refused)?;
        t.name = name;
        let mut tx = self.db.begin().await?;
        tx.upsert_tag(who.corp_id, &t, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a tag in WeCom, then from koi and every customer carrying it.
    pub async fn delete_tag(&self, who: &Principal, tag_id: &str) -> Result<u64> {
        require(who, Action::ManageTags)?;
        if !self.db.tag_catalogue(who.corp_id).await?.iter().any(|t| t.tag_id == tag_id) {
            return Err(EngineError::NotFound("tag"));
        }
        let client = self.wecom_for(who.corp_id).await?;
        let req = DelCorpTagRequest { tag_id: Some(vec![tag_id.to_string()]), ..Default::default() };
        client.del_corp_tag(&req, Priority::Interactive).await.map_err(refused)?;
        let mut tx = self.db.begin().await?;
        let holders = forget_tag(&mut tx, who.corp_id, tag_id).await?;
        tx.commit().await?;
        Ok(holders)
    }

    /// Asks for a full sync of the catalogue from WeCom.
    pub async fn request_tag_sync(&self, who: &Principal) -> Result<i64> {
        require(who, Action::ManageTags)?;
        self.enqueue_now(who.corp_id, &TagSyncJob {}).await
    }

    pub async fn tag_rules(&self, who: &Principal) -> Result<Vec<TagRuleView>> {
        require(who, Action::ViewCustomers)?;
        let rows = self.db.tag_rules(who.corp_id).await?;
        rows.iter().map(|r| rule_of(r).map(view)).collect()
    }

    /// Creates (`id` None) or replaces a tag rule.
    pub async fn save_tag_rule(&self, who: &Principal, id: Option<i64>, mut rule: TagRule) -> Result<TagRuleView> {
        require(who, Action::ManageTags)?;
        rule.id = id.unwrap_or(0);
        rule.validate()?;
        // A rule that only issues a coupon names no tags (validate made sure it does one or the other).
        if !(rule.add_tags.is_empty() && rule.remove_tags.is_empty()) {
            self.check_tags_known(who.corp_id, rule.add_tags.iter().chain(&rule.remove_tags)).await?;
        }
        if let Some(t) = rule.issue_coupon {
            if self.db.coupon_template(who.corp_id, t).await?.is_none_or(|t| t.archived) {
                return Err(ValidationError::one("issue_coupon", "unknown_template", "no such coupon template").into());
            }
        }
        if let Trigger::AddedViaCode { code_id } = rule.trigger {
            if self.db.channel_code(who.corp_id, code_id).await?.is_none() {
                return Err(
                    ValidationError::one("trigger", "unknown_code", format!("no channel code {code_id}")).into()
                );
            }
        }
        let stored = StoredRule {
            trigger: rule.trigger.clone(),
            add_tags: rule.add_tags.clone(),
            remove_tags: rule.remove_tags.clone(),
            issue_coupon: rule.issue_coupon,
        };
        let json = serde_json::to_string(&stored).expect("a tag rule is plain data and serialises");
        let now = now_ms();
        match id {
            Some(id) => {
                if !self.db.update_tag_rule(who.corp_id, id, &rule.name, &json, rule.active, now).await? {
                    return Err(EngineError::NotFound("tag rule"));
                }
            }
            None => {
                let mut tx = self.db.begin().await?;
                rule.id = tx.insert_tag_rule(who.corp_id, &rule.name, &json, rule.active, now).await?;
                tx.commit().await?;
            }
        }
        if matches!(rule.trigger, Trigger::NoOrderForDays { .. }) && rule.active {
            // Time-based: apply it now rather than at the next hourly sweep.
            self.enqueue_now(who.corp_id, &SweepJob {}).await?;
        }
        Ok(view(rule))
    }

    pub async fn delete_tag_rule(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageTags)?;
        if self.db.delete_tag_rule(who.corp_id, id).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("tag rule"))
        }
    }
}

fn view(r: TagRule) -> TagRuleView {
    TagRuleView {
        describe_zh: r.trigger.describe_zh(),
        describe_en: r.trigger.describe_en(),
        id: r.id,
        name: r.name,
        trigger: r.trigger,
        add_tags: r.add_tags,
        remove_tags: r.remove_tags,
        issue_coupon: r.issue_coupon,
        active: r.active,
    }
}

/// Removes a tag WeCom no longer has from the catalogue and customers,
/// with an untag event on each holder's timeline.
async fn forget_tag(tx: &mut Tx, corp_id: i64, tag_id: &str) -> Result<u64> {
    let holders = tx.delete_tag(corp_id, tag_id).await?;
    for &customer in &holders {
        let payload = serde_json::json!({ "tag_ids": [tag_id], "cause": Cause::TagDeleted });
        let e = koi_store::events::NewEvent {
            corp_id,
            kind: "customer.untagged",
            subject: &format!("customer:{customer}"),
            actor: "system",
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now_ms(),
        };
        tx.append_event(&e, now_ms()).await?;
    }
    Ok(holders.len() as u64)
}
