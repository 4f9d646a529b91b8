//! Tagging customers: by hand, in bulk (a segment or a list), and by rules.
//! Every change is a `customer.tagged` / `customer.untagged` event with its
//! cause, and (unless it came from WeCom) a `mark_tag` job that pushes it to
//! every guide the customer follows.

use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{actor, require, Engine, Principal, Result};
use koi_domain::access::Action;
use koi_domain::customer::{due_rules, fire, Happening, TagRule, MAX_RULE_TAGS};
use koi_domain::jobs::priority;
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{GetExternalContactRequest, MarkTagRequest, Priority};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why a customer's tags changed; recorded with every tag event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cause {
    /// A console user or an API key, by hand.
    Hand { actor: String },
    /// The auto-tags of the channel code the customer came through.
    Code { code_id: i64 },
    /// A tag rule fired.
    Rule { rule_id: i64, name: String },
    /// Bulk tagging of a segment or a list.
    Bulk { actor: String, source: String },
    /// A guide changed the tags in WeCom.
    Wecom,
    /// The tag was deleted from the catalogue.
    TagDeleted,
}

impl Cause {
    /// The short form kept with each customer tag.
    fn source(&self) -> String {
        match self {
            Cause::Hand { actor } => actor.clone(),
            Cause::Code { code_id } => format!("code:{code_id}"),
            Cause::Rule { rule_id, .. } => format!("rule:{rule_id}"),
            Cause::Bulk { .. } => "bulk".into(),
            Cause::Wecom => "wecom".into(),
            Cause::TagDeleted => "tag_deleted".into(),
        }
    }

    fn pushes_to_wecom(&self) -> bool {
        !matches!(self, Cause::Wecom | Cause::TagDeleted)
    }
}

/// Job: push one customer's tag change to WeCom (`mark_tag`, for every
/// guide the customer follows: WeCom keeps tags per relation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MarkJob {
    customer_id: i64,
    add: Vec<String>,
    remove: Vec<String>,
}

impl Job for MarkJob {
    const KIND: &'static str = "tags.mark";
    const PRIORITY: i32 = priority::TAGS;
    /// The guides WeCom refused the change for, with its reason.
    type Prepared = Vec<(String, String)>;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Self::Prepared> {
        let corp_id = ctx.corp_id;
        let customer = engine.db.customer(corp_id, self.customer_id).await?;
        let customer = customer.ok_or_else(|| JobError::Done("the customer is gone".into()))?;
        let follows = engine.db.follows_of(corp_id, self.customer_id).await?;
        let client = engine.wecom_for(corp_id).await?;
        let mut refused = Vec::new();
        for f in follows.iter().filter(|f| f.deleted_at.is_none()) {
            let Some(staff) = engine.db.staff(corp_id, f.staff_id).await? else { continue };
            let req = MarkTagRequest {
                userid: staff.userid.clone(),
                external_userid: customer.external_userid.clone(),
                add_tag: (!self.add.is_empty()).then(|| self.add.clone()),
                remove_tag: (!self.remove.is_empty()).then(|| self.remove.clone()),
            };
            match client.mark_tag(&req, Priority::Bulk).await {
                Ok(()) => {}
                // The relation ended since, WeCom no longer knows the customer
                // (an imported one who left), a permission is missing: this
                // guide's copy of the tags stays as it is, and it shows.
                Err(e) if e.is_final() => refused.push((staff.userid, e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(refused)
    }

    async fn record(&self, _: &Engine, _: &JobCtx, refused: Self::Prepared, _: &mut Tx) -> JobResult<JobEnd> {
        if refused.is_empty() {
            return Ok(JobEnd::Done);
        }
        let reasons: Vec<String> = refused.iter().map(|(userid, why)| format!("{userid}: {why}")).collect();
        Ok(JobEnd::Refused(reasons.join("; ")))
    }

    fn customer(&self) -> Option<i64> {
        Some(self.customer_id)
    }
}

/// Job: pull one customer's tags from WeCom after a guide edited them there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PullJob {
    external_userid: String,
    /// When the guide's edit happened.
    at: i64,
}

impl Job for PullJob {
    const KIND: &'static str = "tags.pull";
    const PRIORITY: i32 = priority::TAGS;
    /// WeCom's tags of the customer (the union over their guides), and
    /// each guide's remark and phones for them: `(userid, remark, phones)`.
    type Prepared = (Vec<String>, Vec<(String, String, Vec<String>)>);

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Self::Prepared> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let req = GetExternalContactRequest { external_userid: self.external_userid.clone(), cursor: None };
        let got = client.get_external_contact(&req, Priority::Bulk).await?;
        let tags: BTreeSet<String> =
            got.follow_user.iter().flat_map(|f| f.tags.iter().filter_map(|t| t.tag_id.clone())).collect();
        let notes = got.follow_user.into_iter().map(|f| (f.userid, f.remark, f.remark_mobiles)).collect();
        Ok((tags.into_iter().collect(), notes))
    }

    /// Makes koi's tags of the customer equal WeCom's. A tag koi set in the
    /// last [`PUSH_GRACE_MS`] is kept even if WeCom lacks it: its `mark_tag`
    /// may still be on the way.
    /// The guides' remarks and phones are taken as WeCom has them.
    async fn record(&self, engine: &Engine, ctx: &JobCtx, got: Self::Prepared, tx: &mut Tx) -> JobResult<JobEnd> {
        let (wecom, notes) = got;
        let corp_id = ctx.corp_id;
        let Some(customer_id) = tx.customer_id(corp_id, &self.external_userid).await? else {
            return Err(JobError::Done("koi does not know the customer".into()));
        };
        for (userid, remark, phones) in &notes {
            let Some(staff_id) = tx.staff_id_by_userid(corp_id, userid).await? else { continue };
            if let Some(f) = tx.follow(corp_id, customer_id, staff_id).await? {
                tx.set_follow_remark(f.id, remark, phones).await?;
            }
        }
        let known: BTreeSet<String> = engine.db.tag_catalogue(corp_id).await?.into_iter().map(|t| t.tag_id).collect();
        let mine = engine.db.customer_tags(corp_id, customer_id).await?;
        let now = now_ms();
        let add: Vec<String> =
            wecom.iter().filter(|t| known.contains(*t) && !mine.iter().any(|m| &m.tag_id == *t)).cloned().collect();
        let remove: Vec<String> = mine
            .iter()
            .filter(|m| !wecom.contains(&m.tag_id) && now - m.tagged_at > PUSH_GRACE_MS)
            .map(|m| m.tag_id.clone())
            .collect();
        change_tags(tx, corp_id, customer_id, &add, &remove, &Cause::Wecom).await?;
        Ok(JobEnd::Done)
    }
}

/// What a bulk tagging applies to.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkTarget {
    /// Everyone in a segment expression (text or JSON).
    Segment(super::SegmentInput),
    /// Customers by external userid (`wm…`/`wo…`), e.g. from a CSV.
    Customers(Vec<String>),
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    /// Customers the target named that koi knows.
    pub matched: u64,
    /// Customers whose tags actually changed.
    pub changed: u64,
    /// External userids in the list that koi does not know (at most 100 shown).
    pub unknown: Vec<String>,
    /// Set when the tagging was too large to do before answering and runs
    /// as this background job (see `/api/v1/jobs`).
    pub job_id: Option<i64>,
}

/// Job: a bulk tagging too large to finish before answering.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BulkJob {
    ids: Vec<i64>,
    add: Vec<String>,
    remove: Vec<String>,
    actor: String,
    source: String,
}

impl Job for BulkJob {
    const KIND: &'static str = "tags.bulk";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = ();

    /// Tags the customers a chunk per transaction of its own (the change
    /// log's readers never wait on one long transaction); idempotent, so a
    /// rerun after a crash changes only what is still to change.
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<()> {
        let cause = Cause::Bulk { actor: self.actor.clone(), source: self.source.clone() };
        let changed = engine.bulk_apply(ctx.corp_id, &self.ids, &self.add, &self.remove, &cause).await?;
        tracing::info!(corp_id = ctx.corp_id, job = ctx.id, customers = self.ids.len(), changed, "bulk tagging done");
        Ok(())
    }

    async fn record(&self, _: &Engine, _: &JobCtx, _: (), _: &mut Tx) -> JobResult<JobEnd> {
        Ok(JobEnd::Done)
    }
}

/// Customers per bulk transaction: small enough that the change log's
/// readers never wait on a long transaction.
const BULK_CHUNK: usize = 500;
/// Most customers one bulk tagging may change.
pub const BULK_MAX: usize = 1_000_000;
/// Bulk taggings up to this size finish before the answer; larger ones run
/// as a job (the default of `Settings::bulk_inline_max`).
pub const BULK_INLINE: usize = 10_000;

/// Adds and removes tags of one customer inside `tx`; records the events
/// and (for changes made in koi) the `mark_tag` job. Returns what changed.
pub(crate) async fn change_tags(
    tx: &mut Tx,
    corp_id: i64,
    customer_id: i64,
    add: &[String],
    remove: &[String],
    cause: &Cause,
) -> Result<(Vec<String>, Vec<String>)> {
    let now = now_ms();
    let source = cause.source();
    let mut added = Vec::new();
    for t in add {
        if tx.tag_customer(corp_id, customer_id, t, &source, now).await? {
            added.push(t.clone());
        }
    }
    let mut removed = Vec::new();
    for t in remove {
        if !add.contains(t) && tx.untag_customer(corp_id, customer_id, t).await? {
            removed.push(t.clone());
        }
    }
    let subject = format!("customer:{customer_id}");
    let actor = match cause {
        Cause::Hand { actor } | Cause::Bulk { actor, .. } => actor.as_str(),
        Cause::Wecom => "wecom",
        _ => "system",
    };
    for (kind, tags) in [("customer.tagged", &added), ("customer.untagged", &removed)] {
        if tags.is_empty() {
            continue;
        }
        let payload = serde_json::json!({ "tag_ids": tags, "cause": cause });
        let e = NewEvent {
            corp_id,
            kind,
            subject: &subject,
            actor,
            payload: &payload.to_string(),
            dedup_key: None,
            occurred_at: now,
        };
        tx.append_event(&e, now).await?;
    }
    if cause.pushes_to_wecom() && !(added.is_empty() && removed.is_empty()) {
        enqueue(tx, corp_id, &MarkJob { customer_id, add: added.clone(), remove: removed.clone() }).await?;
    }
    if !added.is_empty() {
        crate::sop::on_happened(tx, corp_id, customer_id, &koi_domain::sop::Happened::Tagged(&added)).await?;
    }
    Ok((added, removed))
}

/// The corp's active rules, as the domain reads them (unreadable ones are
/// skipped with a warning rather than stopping every add).
pub(crate) async fn active_rules(tx: &mut Tx, corp_id: i64) -> Result<Vec<TagRule>> {
    let rows = tx.tag_rules(corp_id).await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.active)
        .filter_map(|r| match super::tags::rule_of(&r) {
            Ok(rule) => Some(rule),
            Err(e) => {
                tracing::warn!(rule = r.id, error = %e, "skipping an unreadable tag rule");
                None
            }
        })
        .collect())
}

/// Applies the rules a happening fires to one customer.
pub(crate) async fn apply_rules(tx: &mut Tx, corp_id: i64, customer_id: i64, h: &Happening<'_>) -> Result<()> {
    let rules = active_rules(tx, corp_id).await?;
    for rule in fire(&rules, h) {
        let cause = Cause::Rule { rule_id: rule.id, name: rule.name.clone() };
        change_tags(tx, corp_id, customer_id, &rule.add_tags, &rule.remove_tags, &cause).await?;
        rule_coupon(tx, corp_id, customer_id, rule).await?;
    }
    Ok(())
}

/// The coupon a fired rule issues: once per customer and rule.
async fn rule_coupon(tx: &mut Tx, corp_id: i64, customer_id: i64, rule: &TagRule) -> Result<()> {
    if let Some(t) = rule.issue_coupon {
        let source_ref = format!("rule:{}", rule.id);
        crate::coupons::issue_automatically(tx, corp_id, t, customer_id, "tag_rule", &source_ref, now_ms()).await?;
    }
    Ok(())
}

impl Engine {
    /// Tags and untags one customer by hand.
    pub async fn tag_customer(
        &self,
        who: &Principal,
        customer_id: i64,
        add: &[String],
        remove: &[String],
    ) -> Result<(Vec<String>, Vec<String>)> {
        require(who, Action::TagCustomers)?;
        self.customer(who, customer_id).await?; // visibility
        self.check_tags_known(who.corp_id, add.iter().chain(remove)).await?;
        let mut tx = self.db.begin().await?;
        let cause = Cause::Hand { actor: actor(who) };
        let changed = change_tags(&mut tx, who.corp_id, customer_id, add, remove, &cause).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Refuses tag ids the catalogue does not hold, and empty changes.
    pub(crate) async fn check_tags_known<'a>(
        &self,
        corp_id: i64,
        tags: impl Iterator<Item = &'a String>,
    ) -> Result<()> {
        let known: BTreeSet<String> = self.db.tag_catalogue(corp_id).await?.into_iter().map(|t| t.tag_id).collect();
        let mut c = koi_domain::error::Checker::default();
        let mut n = 0;
        for t in tags {
            n += 1;
            if !known.contains(t) {
                c.push("tags", "unknown_tag", format!("no tag {t:?} in the catalogue; sync tags or create it first"));
            }
        }
        if n == 0 {
            c.push("tags", "empty", "name at least one tag to add or remove");
        }
        if n > MAX_RULE_TAGS {
            c.push("tags", "too_many", format!("at most {MAX_RULE_TAGS} tags at once"));
        }
        Ok(c.finish(())?)
    }

    /// Tags every customer of a segment or a list, in chunks of
    /// [`BULK_CHUNK`]. Up to `bulk_inline_max` ([`BULK_INLINE`]) customers are done before
    /// answering; more are handed to a job (`job_id` in the outcome), and the
    /// counts are then those the job found when it was queued.
    pub async fn bulk_tag(
        &self,
        who: &Principal,
        target: &BulkTarget,
        add: &[String],
        remove: &[String],
    ) -> Result<BulkOutcome> {
        require(who, Action::ManageTags)?;
        self.check_tags_known(who.corp_id, add.iter().chain(remove)).await?;
        let (ids, unknown, source) = self.bulk_targets(who, target).await?;
        if ids.len() > self.settings.bulk_inline_max {
            let job =
                BulkJob { ids: ids.clone(), add: add.to_vec(), remove: remove.to_vec(), actor: actor(who), source };
            let job_id = self.enqueue_now(who.corp_id, &job).await?;
            return Ok(BulkOutcome { matched: ids.len() as u64, changed: 0, unknown, job_id: Some(job_id) });
        }
        let cause = Cause::Bulk { actor: actor(who), source };
        let changed = self.bulk_apply(who.corp_id, &ids, add, remove, &cause).await?;
        Ok(BulkOutcome { matched: ids.len() as u64, changed, unknown, job_id: None })
    }

    /// Tags customers a chunk per transaction; returns how many changed.
    async fn bulk_apply(
        &self,
        corp_id: i64,
        ids: &[i64],
        add: &[String],
        remove: &[String],
        cause: &Cause,
    ) -> Result<u64> {
        let mut changed = 0;
        for chunk in ids.chunks(BULK_CHUNK) {
            let mut tx = self.db.begin().await?;
            for &id in chunk {
                let (a, r) = change_tags(&mut tx, corp_id, id, add, remove, cause).await?;
                changed += u64::from(!(a.is_empty() && r.is_empty()));
            }
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// The customers a bulk tagging names, the unknown keys, and a label.
    async fn bulk_targets(&self, who: &Principal, target: &BulkTarget) -> Result<(Vec<i64>, Vec<String>, String)> {
        Ok(match target {
            BulkTarget::Segment(input) => {
                let ids = self.segment_customer_ids(who, input).await?;
                (ids, Vec::new(), format!("segment {}", input.text()))
            }
            BulkTarget::Customers(keys) => {
                if keys.len() > BULK_MAX {
                    return Err(ValidationError::one(
                        "customers",
                        "too_many",
                        format!("at most {BULK_MAX} customers at once"),
                    )
                    .into());
                }
                let found = self.db.resolve_customers(who.corp_id, keys).await?;
                let known: BTreeSet<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
                let unknown: Vec<String> =
                    keys.iter().filter(|k| !known.contains(k.as_str())).take(100).cloned().collect();
                let mut ids: Vec<i64> = found.into_iter().map(|(_, id)| id).collect();
                ids.sort_unstable();
                ids.dedup();
                (ids, unknown, format!("list of {}", keys.len()))
            }
        })
    }

    /// Enqueues a pull of the customer's tags from WeCom (a guide edited them).
    pub(crate) async fn enqueue_tag_pull(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        external_userid: &str,
        occurred_at: i64,
    ) -> Result<()> {
        enqueue(tx, corp_id, &PullJob { external_userid: external_userid.to_string(), at: occurred_at }).await?;
        Ok(())
    }

    /// Applies the time-based rules (`no order for N days`) to one customer.
    pub(crate) async fn apply_due_rules(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        customer_id: i64,
        activity: &koi_domain::customer::Activity,
        rules: &[TagRule],
        now: i64,
    ) -> Result<()> {
        for rule in due_rules(rules, activity, now) {
            let cause = Cause::Rule { rule_id: rule.id, name: rule.name.clone() };
            change_tags(tx, corp_id, customer_id, &rule.add_tags, &rule.remove_tags, &cause).await?;
            rule_coupon(tx, corp_id, customer_id, rule).await?;
        }
        Ok(())
    }
}

/// How long a tag set in koi is trusted over WeCom's word while its
/// `mark_tag` may still be queued.
const PUSH_GRACE_MS: i64 = 10 * 60_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_say_where_a_tag_came_from() {
        assert_eq!(Cause::Code { code_id: 3 }.source(), "code:3");
        assert_eq!(Cause::Rule { rule_id: 2, name: "x".into() }.source(), "rule:2");
        assert!(!Cause::Wecom.pushes_to_wecom());
        assert!(Cause::Hand { actor: "user:1".into() }.pushes_to_wecom());
        let v = serde_json::to_value(Cause::Rule { rule_id: 2, name: "付款".into() }).unwrap();
        assert_eq!(v, serde_json::json!({"by": "rule", "rule_id": 2, "name": "付款"}));
    }
}
