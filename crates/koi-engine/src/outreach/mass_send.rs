//! Mass sends (群发): a segment's customers, each once under the guide who
//! owns the relation by the chosen rule, admitted by the fatigue cap, one
//! guide task per guide (`guide_tasks.rs`: created once in WeCom, results
//! read later), reminders to guides who have not confirmed (at most 3,
//! never at night), and reports per guide and per store.
//!
//! The path: [`create_in`] records the send (`queued`, or `scheduled` with
//! its time) and enqueues [`MassSendStartJob`] for its time. The job
//! resolves the audience outside any transaction and stages the split
//! (each customer once, under their guide) in small commits, cut into
//! chunks of whole guides; its transaction moves the send from `queued` to
//! `planning` and enqueues the first [`MassSendChunkJob`]. Each chunk, in
//! a transaction of its own, takes its rows out of the stage, admits them
//! through the fatigue cap, records the skipped ones with their reason,
//! plans its guides' tasks and enqueues the next chunk — exactly once (a
//! chunk whose rows are gone was planned); the last one moves the send to
//! `planned`. No transaction
//! grows with the audience, so other writers (SQLite has one) never wait
//! long. [`MassSendRemindJob`] reminds.

use std::collections::{BTreeMap, HashMap};

use crate::campaigns::system;
use crate::customers::SegmentInput;
use crate::jobs::{enqueue, enqueue_at, Job, JobCtx, JobError, JobResult};
use crate::outreach::fatigue::{self, SkipReason};
use crate::outreach::guide_tasks::{material_attachment, plan_guide_task};
use crate::outreach::GuideContent;
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::group::pull::{split_by_guide, MAX_TASK_CUSTOMERS};
use koi_domain::jobs::priority;
use koi_domain::outreach::mass_send::{
    assign_guides, by_day, is_night, next_reminder, Audience, FollowCandidate, GuideRule, MassAttachment, MassContent,
    MassSendDraft, GROUP_RESPONSE_WINDOW_MS, MAX_REMINDERS, MAX_TASK_GROUPS,
};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::groups::GroupFilter;
use koi_store::jobs::JobEnd;
use koi_store::mass_sends::{NewMassSend, SenderInfo, StagedCustomer, MASS_SEND_PURPOSE, MASS_SEND_SOURCE};
use koi_store::outreach::NewGuideTask;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    Attachment, CancelGroupmsgSendRequest, GetGroupmsgTaskRequest, Link, MiniProgram, Priority,
    RemindGroupmsgSendRequest,
};
use serde::{Deserialize, Serialize};

/// Sends one list shows.
pub const MASS_SENDS_LIMIT: i64 = 200;
/// Customers not sent a send's page shows.
pub const UNSENT_LIMIT: i64 = 1_000;
/// Groups a send to groups reaches at most.
const ALL_GROUPS: i64 = 100_000;

/// A mass send with its totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MassSend {
    pub id: i64,
    pub name: String,
    pub audience: Audience,
    /// The segment's name when the send started.
    pub audience_label: String,
    pub content: MassContent,
    pub guide_rule: GuideRule,
    /// console, api or `sop:<rule id>`.
    pub origin: String,
    /// scheduled, queued (starting), planning (its chunks being planned),
    /// planned (every guide task made) or cancelled.
    pub state: String,
    /// ms.
    pub send_at: i64,
    /// Customers given to a guide.
    pub planned: i64,
    /// Customers skipped (fatigue cap, no guide).
    pub skipped: i64,
    /// Customers WeCom reports sent.
    pub sent: i64,
    pub failed: i64,
    /// Guides given a task, and those who confirmed it.
    pub guides: i64,
    pub confirmed_guides: i64,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
}

/// One guide's numbers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideReport {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub store_id: Option<i64>,
    pub store_name: String,
    pub planned: i64,
    /// The guide confirmed the task in WeCom.
    pub confirmed: bool,
    pub sent: i64,
    /// Unsent after the guide confirmed, or never confirmed in time.
    pub not_sent: i64,
    /// Not a friend any more, WeCom's daily quota used, refused.
    pub failed: i64,
    /// Waiting for the guide.
    pub waiting: i64,
    /// Sent customers active after the send; a send to groups: messages
    /// members (not staff) said in the owner's sent groups within 3 days.
    pub replies: i64,
    /// Sent customers who ordered after the send; a send to groups: orders
    /// within 3 days by the customers in the owner's sent groups then.
    pub orders: i64,
    /// Reminders koi sent the guide.
    pub reminders: i64,
    /// queued, sending, created, refused or unknown.
    pub task_state: String,
}

/// One store's numbers (its guides' summed; guides without a store under "").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreReport {
    pub store_id: Option<i64>,
    pub store_name: String,
    pub guides: i64,
    pub confirmed_guides: i64,
    pub planned: i64,
    pub sent: i64,
    pub not_sent: i64,
    pub failed: i64,
    pub waiting: i64,
    pub replies: i64,
    pub orders: i64,
}

/// How many customers a reason covers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReasonTotal {
    /// fatigue_cap, no_guide, not_a_friend, quota_used, not_sendable,
    /// refused_by_wecom, outcome_unknown, not_confirmed_by_guide,
    /// not_sent_by_guide, cancelled.
    pub reason: String,
    pub customers: i64,
}

/// A customer the send did not reach, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnsentCustomer {
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_name: String,
    /// skipped, not_sent or failed.
    pub state: String,
    pub reason: String,
}

/// One group of a send to groups, and what WeCom reported for it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupResult {
    pub group_id: i64,
    pub name: String,
    pub chat_id: String,
    /// The owner who sends it.
    pub owner_staff_id: i64,
    pub owner_userid: String,
    pub owner_name: String,
    /// The owner's guide task.
    pub task_id: i64,
    /// planned (waiting for the owner), sent, not_sent or failed.
    pub state: String,
    /// group_quota_used (the corp's 4 a month to a group), group_gone,
    /// not_sendable, refused_by_wecom, outcome_unknown,
    /// not_confirmed_by_guide, cancelled.
    pub reason: String,
    /// ms.
    pub sent_at: Option<i64>,
    /// Messages members who are not staff said in the group within 3 days
    /// after it was sent (koi's copy of WeCom's session archive).
    pub replies: i64,
    /// Orders within 3 days after it was sent by the customers who were
    /// members then.
    pub orders: i64,
}

/// One guide task of a send: its WeCom state, and what an operator may do
/// with it (`unknown`: settle by looking it up; `absent`: send again).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideTaskView {
    pub id: i64,
    pub staff_id: i64,
    pub sender: String,
    /// single (customers) or group (the sender's groups).
    pub chat_type: String,
    pub part: i32,
    /// queued, sending, created, refused, unknown (an attempt may have
    /// reached WeCom without an answer) or absent (looked up: WeCom has no
    /// such task).
    pub state: String,
    pub wecom_msgid: String,
    pub note: String,
    /// ms; 0 when never looked up.
    pub looked_up_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MassSendDetail {
    pub send: MassSend,
    pub guides: Vec<GuideReport>,
    pub stores: Vec<StoreReport>,
    /// Customers (a send to groups: groups) per reason.
    pub reasons: Vec<ReasonTotal>,
    /// At most 1,000.
    pub unsent: Vec<UnsentCustomer>,
    /// A send to groups: each group with its outcome.
    pub groups: Vec<GroupResult>,
    pub tasks: Vec<GuideTaskView>,
}

/// What a draft would come to now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MassSendPreview {
    /// Customers in the audience.
    pub customers: i64,
    /// Of them, with a guide to send it.
    pub with_guide: i64,
    /// Of those, over the fatigue cap now (skipped if sent now).
    pub over_cap: i64,
    /// Guides who would get a task.
    pub guides: i64,
    /// A send to groups: the groups it would reach (each owner sends to
    /// their own).
    pub groups: i64,
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> EngineError {
    ValidationError::one(field, code, message).into()
}

/// WeCom's shape of a mass send's attachments.
pub(crate) fn wecom_attachments(a: &[MassAttachment]) -> Vec<Attachment> {
    a.iter()
        .map(|a| match a {
            MassAttachment::Image { pic_url } => Attachment::image_url(pic_url.clone()),
            MassAttachment::Link { title, url, desc, picurl } => Attachment::link(Link {
                title: title.clone(),
                url: url.clone(),
                desc: (!desc.is_empty()).then(|| desc.clone()),
                picurl: (!picurl.is_empty()).then(|| picurl.clone()),
                media_id: None,
            }),
            MassAttachment::Miniprogram { title, appid, page, pic_media_id } => Attachment::miniprogram(MiniProgram {
                title: title.clone(),
                appid: appid.clone(),
                page: page.clone(),
                pic_media_id: pic_media_id.clone(),
            }),
            MassAttachment::File { media_id } => Attachment::file(media_id.clone()),
            MassAttachment::Video { media_id } => Attachment::video(media_id.clone()),
            // Resolved when the guide's task is created (`guide_tasks.rs`).
            MassAttachment::Material { material_id } => material_attachment(*material_id),
        })
        .collect()
}

/// Records a mass send and enqueues its start for its time, in the
/// caller's transaction: the SOP's automatic mass messages come through
/// here (`origin` `sop:<rule id>`), as do the console's and the API's.
/// Returns the send's id.
pub(crate) async fn create_in(tx: &mut Tx, corp_id: i64, draft: &MassSendDraft, origin: &str) -> Result<i64> {
    create_by(tx, corp_id, draft, origin, origin).await
}

async fn create_by(tx: &mut Tx, corp_id: i64, draft: &MassSendDraft, origin: &str, by: &str) -> Result<i64> {
    let now = now_ms();
    let d = draft.validate(now)?;
    let send_at = d.send_at.unwrap_or(now);
    let audience = serde_json::to_string(&d.audience).expect("an audience is plain data");
    let content = serde_json::to_string(&d.content).expect("content is plain data");
    let id = tx
        .insert_mass_send(&NewMassSend {
            corp_id,
            name: &d.name,
            audience: &audience,
            content: &content,
            guide_rule: d.guide_rule.as_str(),
            origin,
            state: if d.send_at.is_some() { "scheduled" } else { "queued" },
            send_at,
            created_by: by,
            now,
        })
        .await?;
    enqueue_at(tx, corp_id, &MassSendStartJob { mass_send_id: id }, send_at, now).await?;
    let payload = serde_json::json!({ "name": d.name, "origin": origin, "send_at": send_at });
    let e = NewEvent {
        corp_id,
        kind: "mass_send.created",
        subject: &format!("mass_send:{id}"),
        actor: by,
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(id)
}

/// Who gets it: customers under their guide, and those with no guide.
pub(crate) struct Split {
    label: String,
    /// (customer, staff, external_userid), customer order.
    assigned: Vec<(i64, i64, String)>,
    no_guide: Vec<i64>,
    senders: HashMap<i64, SenderInfo>,
}

impl Engine {
    async fn split_audience(&self, corp_id: i64, audience: &Audience, rule: GuideRule) -> Result<Split> {
        let Audience::Segment { segment_id } = audience else {
            return Err(invalid("audience.type", "not_a_segment", "a send to groups is split by owner"));
        };
        let segment = self
            .db
            .segment(corp_id, *segment_id)
            .await?
            .ok_or_else(|| invalid("audience.segment_id", "unknown_segment", "no such segment"))?;
        let customers = self.segment_customer_ids(&system(corp_id), &SegmentInput::Text(segment.expr.clone())).await?;
        let follows = self.db.follows_for_send(corp_id, &customers).await?;
        let candidates: Vec<FollowCandidate> = follows
            .iter()
            .map(|f| FollowCandidate {
                customer_id: f.customer_id,
                staff_id: f.staff_id,
                added_at: f.added_at,
                follow_id: f.follow_id,
                at_customer_store: f.at_customer_store,
            })
            .collect();
        let ext: HashMap<i64, &str> = follows.iter().map(|f| (f.customer_id, f.external_userid.as_str())).collect();
        let assigned: Vec<(i64, i64, String)> = assign_guides(&candidates, rule)
            .into_iter()
            .map(|(c, s)| (c, s, ext.get(&c).copied().unwrap_or_default().to_string()))
            .collect();
        let with: std::collections::HashSet<i64> = assigned.iter().map(|a| a.0).collect();
        let no_guide = customers.iter().copied().filter(|c| !with.contains(c)).collect();
        let mut staff: Vec<i64> = assigned.iter().map(|a| a.1).collect();
        staff.sort_unstable();
        staff.dedup();
        let senders = self.db.senders(corp_id, &staff).await?.into_iter().map(|s| (s.staff_id, s)).collect();
        Ok(Split { label: segment.name, assigned, no_guide, senders })
    }

    /// Starts a mass send (now, or at `send_at`).
    pub async fn create_mass_send(&self, who: &Principal, draft: &MassSendDraft) -> Result<MassSendDetail> {
        require(who, Action::ManageMassSends)?;
        if let Audience::Segment { segment_id } = draft.audience {
            if segment_id > 0 && self.db.segment(who.corp_id, segment_id).await?.is_none() {
                return Err(invalid("audience.segment_id", "unknown_segment", "no such segment"));
            }
        }
        self.check_groups_audience(who.corp_id, &draft.audience).await?;
        self.check_materials(who.corp_id, &draft.content).await?;
        let origin = if who.user_id.is_some() { "console" } else { "api" };
        let mut tx = self.db.begin().await?;
        let id = create_by(&mut tx, who.corp_id, draft, origin, &actor(who)).await?;
        tx.commit().await?;
        self.mass_send(who, id).await
    }

    /// What a draft would come to if sent now: audience, with a guide, over
    /// the cap, guides.
    pub async fn preview_mass_send(&self, who: &Principal, draft: &MassSendDraft) -> Result<MassSendPreview> {
        require(who, Action::ViewMassSends)?;
        let d = draft.validate(now_ms())?;
        self.check_materials(who.corp_id, &d.content).await?;
        if matches!(d.audience, Audience::Groups { .. }) {
            self.check_groups_audience(who.corp_id, &d.audience).await?;
            let g = self.split_groups(who.corp_id, &d.audience).await?;
            return Ok(MassSendPreview {
                customers: g.customers,
                with_guide: g.customers - g.unowned_customers,
                over_cap: 0,
                guides: g.by_owner.len() as i64,
                groups: g.by_owner.values().map(|v| v.len() as i64).sum(),
            });
        }
        let split = self.split_audience(who.corp_id, &d.audience, d.guide_rule).await?;
        let ids: Vec<i64> = split.assigned.iter().map(|a| a.0).collect();
        // Decided in a transaction that is rolled back: nothing is recorded.
        let mut tx = self.db.begin().await?;
        let decided = fatigue::admit(&mut tx, who.corp_id, &ids, "preview", "preview", now_ms()).await?;
        drop(tx);
        Ok(MassSendPreview {
            customers: (split.assigned.len() + split.no_guide.len()) as i64,
            with_guide: split.assigned.len() as i64,
            over_cap: decided.skipped.len() as i64,
            guides: split.senders.len() as i64,
            groups: 0,
        })
    }

    /// The corp's sends, newest first, with their totals.
    pub async fn mass_sends(&self, who: &Principal) -> Result<Vec<MassSend>> {
        require(who, Action::ViewMassSends)?;
        let mut out = Vec::new();
        for row in self.db.mass_sends(who.corp_id, MASS_SENDS_LIMIT).await? {
            let guides = self.guide_reports(who.corp_id, row.id).await?;
            out.push(send_view(row, &guides));
        }
        Ok(out)
    }

    /// A send with its numbers per guide and per store, reasons, and the
    /// customers not sent.
    pub async fn mass_send(&self, who: &Principal, id: i64) -> Result<MassSendDetail> {
        require(who, Action::ViewMassSends)?;
        let row = self.db.mass_send(who.corp_id, id).await?.ok_or(EngineError::NotFound("mass send"))?;
        let guides = self.guide_reports(who.corp_id, id).await?;
        let mut by_store: BTreeMap<(String, Option<i64>), StoreReport> = BTreeMap::new();
        for g in &guides {
            let s = by_store.entry((g.store_name.clone(), g.store_id)).or_insert_with(|| StoreReport {
                store_id: g.store_id,
                store_name: g.store_name.clone(),
                guides: 0,
                confirmed_guides: 0,
                planned: 0,
                sent: 0,
                not_sent: 0,
                failed: 0,
                waiting: 0,
                replies: 0,
                orders: 0,
            });
            s.guides += 1;
            s.confirmed_guides += i64::from(g.confirmed);
            s.planned += g.planned;
            s.sent += g.sent;
            s.not_sent += g.not_sent;
            s.failed += g.failed;
            s.waiting += g.waiting;
            s.replies += g.replies;
            s.orders += g.orders;
        }
        let mut reasons: Vec<ReasonTotal> = self
            .db
            .mass_send_reasons(who.corp_id, id)
            .await?
            .into_iter()
            .map(|r| ReasonTotal { reason: r.reason, customers: r.n })
            .collect();
        let groups = self.group_results(who.corp_id, id).await?;
        let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
        for g in groups.iter().filter(|g| g.state == "failed" || g.state == "not_sent") {
            *by_reason.entry(g.reason.as_str()).or_default() += 1;
        }
        reasons.extend(by_reason.into_iter().map(|(r, n)| ReasonTotal { reason: r.to_string(), customers: n }));
        let tasks = self
            .db
            .guide_tasks_of(who.corp_id, MASS_SEND_PURPOSE, id)
            .await?
            .into_iter()
            .map(|t| GuideTaskView {
                id: t.id,
                staff_id: t.staff_id,
                sender: t.sender,
                chat_type: t.chat_type,
                part: t.part,
                state: t.state,
                wecom_msgid: t.wecom_msgid,
                note: t.note,
                looked_up_at: t.looked_up_at,
            })
            .collect();
        let unsent = self
            .db
            .mass_send_unsent(who.corp_id, id, UNSENT_LIMIT)
            .await?
            .into_iter()
            .map(|u| UnsentCustomer {
                customer_id: u.customer_id,
                customer_name: u.customer_name,
                staff_name: u.staff_name,
                state: u.state,
                reason: u.reason,
            })
            .collect();
        Ok(MassSendDetail {
            send: send_view(row, &guides),
            guides,
            stores: by_store.into_values().collect(),
            reasons,
            unsent,
            groups,
            tasks,
        })
    }

    async fn guide_reports(&self, corp_id: i64, id: i64) -> Result<Vec<GuideReport>> {
        let rows = self.db.mass_send_report(corp_id, id).await?;
        let tasks = self.db.guide_tasks_of(corp_id, MASS_SEND_PURPOSE, id).await?;
        let group_rows = self.group_owner_reports(corp_id, id, &tasks).await?;
        let out: Vec<GuideReport> = rows
            .into_iter()
            .map(|r| {
                let mine: Vec<_> = tasks.iter().filter(|t| t.staff_id == r.staff_id).collect();
                let task_state = mine
                    .iter()
                    .map(|t| t.state.as_str())
                    .find(|s| *s != "created")
                    .or(mine.first().map(|t| t.state.as_str()))
                    .unwrap_or("")
                    .to_string();
                GuideReport {
                    waiting: r.planned - r.sent - r.not_sent - r.failed,
                    confirmed: r.confirmed > 0,
                    reminders: mine.iter().map(|t| i64::from(t.reminders)).max().unwrap_or(0),
                    staff_id: r.staff_id,
                    userid: r.userid,
                    name: r.name,
                    store_id: r.store_id,
                    store_name: r.store_name.unwrap_or_default(),
                    planned: r.planned,
                    sent: r.sent,
                    not_sent: r.not_sent,
                    failed: r.failed,
                    replies: r.replies,
                    orders: r.orders,
                    task_state,
                }
            })
            .collect();
        Ok(out.into_iter().chain(group_rows).collect())
    }

    /// Reminds now every guide who has not confirmed (within koi's 3
    /// reminders a task); returns how many tasks are looked at.
    pub async fn remind_mass_send(&self, who: &Principal, id: i64) -> Result<usize> {
        require(who, Action::ManageMassSends)?;
        self.db.mass_send(who.corp_id, id).await?.ok_or(EngineError::NotFound("mass send"))?;
        let n = self.db.remindable_tasks(who.corp_id, id).await?.len();
        self.enqueue_now(who.corp_id, &MassSendRemindJob { mass_send_id: id, round: None }).await?;
        Ok(n)
    }

    /// Cancels a send: a scheduled one never starts; tasks not created yet
    /// are never created, created ones are cancelled in WeCom (customers
    /// already sent stay sent).
    pub async fn cancel_mass_send(&self, who: &Principal, id: i64) -> Result<MassSendDetail> {
        require(who, Action::ManageMassSends)?;
        self.db.mass_send(who.corp_id, id).await?.ok_or(EngineError::NotFound("mass send"))?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if tx.cancel_mass_send(who.corp_id, id, now).await? {
            for (task_id, msgid) in tx.cancel_guide_tasks(who.corp_id, MASS_SEND_PURPOSE, id).await? {
                enqueue(&mut tx, who.corp_id, &CancelTaskJob { task_id, msgid }).await?;
            }
        }
        tx.commit().await?;
        self.mass_send(who, id).await
    }

    /// Reads the guides' results from WeCom now.
    pub async fn refresh_mass_send(&self, who: &Principal, id: i64) -> Result<usize> {
        require(who, Action::ManageMassSends)?;
        self.db.mass_send(who.corp_id, id).await?.ok_or(EngineError::NotFound("mass send"))?;
        self.read_guide_tasks_now(who.corp_id, MASS_SEND_PURPOSE, id).await
    }
}

/// A send to groups, split by owner.
pub(crate) struct GroupSplit {
    label: String,
    /// Owner (staff id) → their groups `(group id, chat_id)`.
    by_owner: BTreeMap<i64, Vec<(i64, String)>>,
    /// Groups whose owner is not a guide koi knows: skipped.
    unowned: i64,
    /// Members of the groups, and of the unowned ones.
    customers: i64,
    unowned_customers: i64,
    senders: HashMap<i64, SenderInfo>,
}

fn unknown_task() -> EngineError {
    EngineError::NotFound("guide task")
}

impl Engine {
    /// Attached materials must be the corp's.
    async fn check_materials(&self, corp_id: i64, content: &MassContent) -> Result<()> {
        for (i, a) in content.attachments.iter().enumerate() {
            if let MassAttachment::Material { material_id } = a {
                if *material_id > 0 && self.db.material(corp_id, *material_id).await?.is_none() {
                    let field = format!("attachments[{i}].material_id");
                    return Err(invalid(&field, "unknown_material", format!("no material {material_id}")));
                }
            }
        }
        Ok(())
    }

    /// Picked groups and the owner filter must name the corp's groups and guides.
    async fn check_groups_audience(&self, corp_id: i64, audience: &Audience) -> Result<()> {
        let Audience::Groups { group_ids, owner_staff_id, .. } = audience else { return Ok(()) };
        for g in group_ids {
            if *g > 0 && self.db.group(corp_id, *g).await?.is_none() {
                return Err(invalid("audience.group_ids", "unknown_group", format!("no group {g}")));
            }
        }
        if let Some(s) = owner_staff_id {
            if self.db.senders(corp_id, &[*s]).await?.is_empty() {
                return Err(invalid("audience.owner_staff_id", "unknown_staff", "no such guide"));
            }
        }
        Ok(())
    }

    /// The active groups the audience names, by owner.
    async fn split_groups(&self, corp_id: i64, audience: &Audience) -> Result<GroupSplit> {
        let Audience::Groups { kind, store_id, owner_staff_id, group_ids } = audience else {
            return Err(invalid("audience.type", "not_groups", "not a send to groups"));
        };
        let owner = match owner_staff_id {
            Some(s) => Some(
                self.db
                    .senders(corp_id, &[*s])
                    .await?
                    .pop()
                    .ok_or_else(|| invalid("audience.owner_staff_id", "unknown_staff", "no such guide"))?
                    .userid,
            ),
            None => None,
        };
        let filter = GroupFilter {
            kind: kind.map(|k| k.as_str()),
            store_id: *store_id,
            owner: owner.as_deref(),
            status: Some("active"),
            ..GroupFilter::default()
        };
        let mut rows = self.db.groups(corp_id, &filter, ALL_GROUPS).await?;
        if !group_ids.is_empty() {
            let picked: std::collections::HashSet<i64> = group_ids.iter().copied().collect();
            rows.retain(|g| picked.contains(&g.id));
        }
        rows.sort_by_key(|g| g.id);
        let names: Vec<&str> = rows.iter().take(3).map(|g| g.name.as_str()).collect();
        let more = if rows.len() > 3 { " …" } else { "" };
        let label = format!("{}{more} ({})", names.join("、"), rows.len());
        let mut split = GroupSplit {
            label,
            by_owner: BTreeMap::new(),
            unowned: 0,
            customers: 0,
            unowned_customers: 0,
            senders: HashMap::new(),
        };
        for g in &rows {
            split.customers += i64::from(g.members);
            match g.owner_staff_id {
                Some(s) => split.by_owner.entry(s).or_default().push((g.id, g.chat_id.clone())),
                None => {
                    split.unowned += 1;
                    split.unowned_customers += i64::from(g.members);
                }
            }
        }
        let owners: Vec<i64> = split.by_owner.keys().copied().collect();
        split.senders = self.db.senders(corp_id, &owners).await?.into_iter().map(|s| (s.staff_id, s)).collect();
        Ok(split)
    }

    /// Replies and orders after a send to groups, by group.
    async fn group_responses(&self, corp_id: i64, id: i64) -> Result<HashMap<i64, (i64, i64)>> {
        Ok(self
            .db
            .mass_send_group_responses(corp_id, id, GROUP_RESPONSE_WINDOW_MS)
            .await?
            .into_iter()
            .map(|r| (r.group_id, (r.replies, r.orders)))
            .collect())
    }

    async fn group_results(&self, corp_id: i64, id: i64) -> Result<Vec<GroupResult>> {
        let rows = self.db.mass_send_groups(corp_id, id).await?;
        let responses = if rows.is_empty() { HashMap::new() } else { self.group_responses(corp_id, id).await? };
        Ok(rows
            .into_iter()
            .map(|g| GroupResult {
                replies: responses.get(&g.group_id).map_or(0, |r| r.0),
                orders: responses.get(&g.group_id).map_or(0, |r| r.1),
                group_id: g.group_id,
                name: g.group_name,
                chat_id: g.chat_id,
                owner_staff_id: g.staff_id,
                owner_userid: g.owner_userid,
                owner_name: g.owner_name,
                task_id: g.task_id,
                state: g.state,
                reason: g.reason,
                sent_at: g.sent_at,
            })
            .collect())
    }

    /// A send to groups' numbers per owner (groups counted).
    async fn group_owner_reports(
        &self,
        corp_id: i64,
        id: i64,
        tasks: &[koi_store::outreach::GuideTaskRow],
    ) -> Result<Vec<GuideReport>> {
        let rows = self.db.mass_send_groups(corp_id, id).await?;
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let mut by_owner: BTreeMap<(String, i64), Vec<&koi_store::mass_sends::GroupSendRow>> = BTreeMap::new();
        for r in &rows {
            by_owner.entry((r.owner_name.clone(), r.staff_id)).or_default().push(r);
        }
        let owners: Vec<i64> = by_owner.keys().map(|k| k.1).collect();
        let responses = self.group_responses(corp_id, id).await?;
        let senders: HashMap<i64, SenderInfo> =
            self.db.senders(corp_id, &owners).await?.into_iter().map(|s| (s.staff_id, s)).collect();
        Ok(by_owner
            .into_iter()
            .map(|((name, staff_id), groups)| {
                let count = |state: &str| groups.iter().filter(|g| g.state == state).count() as i64;
                let mine: Vec<_> = tasks.iter().filter(|t| t.staff_id == staff_id).collect();
                let task_state = mine
                    .iter()
                    .map(|t| t.state.as_str())
                    .find(|s| *s != "created")
                    .or(mine.first().map(|t| t.state.as_str()))
                    .unwrap_or("")
                    .to_string();
                let sender = senders.get(&staff_id);
                GuideReport {
                    staff_id,
                    userid: groups[0].owner_userid.clone(),
                    name,
                    store_id: sender.and_then(|s| s.store_id),
                    store_name: sender.and_then(|s| s.store_name.clone()).unwrap_or_default(),
                    planned: groups.len() as i64,
                    confirmed: groups
                        .iter()
                        .any(|g| g.state == "sent" || matches!(g.reason.as_str(), "group_quota_used" | "group_gone")),
                    sent: count("sent"),
                    not_sent: count("not_sent"),
                    failed: count("failed"),
                    waiting: count("planned"),
                    // An order by a member of two of the owner's groups counts in each.
                    replies: groups.iter().filter_map(|g| responses.get(&g.group_id)).map(|r| r.0).sum(),
                    orders: groups.iter().filter_map(|g| responses.get(&g.group_id)).map(|r| r.1).sum(),
                    reminders: mine.iter().map(|t| i64::from(t.reminders)).max().unwrap_or(0),
                    task_state,
                }
            })
            .collect())
    }

    async fn task_of_send(&self, who: &Principal, id: i64, task_id: i64) -> Result<()> {
        require(who, Action::ManageMassSends)?;
        self.db.mass_send(who.corp_id, id).await?.ok_or(EngineError::NotFound("mass send"))?;
        let t = self.db.guide_task(who.corp_id, task_id).await?.ok_or_else(unknown_task)?;
        if t.purpose != MASS_SEND_PURPOSE || t.purpose_id != id {
            return Err(unknown_task());
        }
        Ok(())
    }

    /// Looks a task of the send whose outcome is unknown up in WeCom now
    /// (`get_groupmsg_list_v2`): found, it is adopted and its results read;
    /// surely not there, it ends `absent` and may be sent again. 422
    /// `not_unknown` for any other task.
    pub async fn settle_mass_send_task(&self, who: &Principal, id: i64, task_id: i64) -> Result<MassSendDetail> {
        self.task_of_send(who, id, task_id).await?;
        if !self.settle_guide_task(who.corp_id, task_id).await? {
            return Err(invalid("task", "not_unknown", "only a task whose outcome is unknown is looked up"));
        }
        self.mass_send(who, id).await
    }

    /// Sends a task WeCom surely does not have (`absent`) again, once: a
    /// new claim and a new WeCom task. 422 `not_absent` for any other task
    /// (a second press included).
    pub async fn resend_mass_send_task(&self, who: &Principal, id: i64, task_id: i64) -> Result<MassSendDetail> {
        self.task_of_send(who, id, task_id).await?;
        if !self.resend_guide_task(who.corp_id, task_id).await? {
            return Err(invalid(
                "task",
                "not_absent",
                "only a task WeCom was found not to have is sent again, and only once",
            ));
        }
        self.mass_send(who, id).await
    }
}

fn send_view(row: koi_store::mass_sends::MassSendRow, guides: &[GuideReport]) -> MassSend {
    MassSend {
        id: row.id,
        name: row.name,
        audience: serde_json::from_str(&row.audience).unwrap_or(Audience::Segment { segment_id: 0 }),
        audience_label: row.audience_label,
        content: serde_json::from_str(&row.content).unwrap_or_default(),
        guide_rule: GuideRule::parse(&row.guide_rule).unwrap_or_default(),
        origin: row.origin,
        state: row.state,
        send_at: row.send_at,
        planned: i64::from(row.planned),
        skipped: i64::from(row.skipped),
        sent: guides.iter().map(|g| g.sent).sum(),
        failed: guides.iter().map(|g| g.failed).sum(),
        guides: guides.len() as i64,
        confirmed_guides: guides.iter().filter(|g| g.confirmed).count() as i64,
        created_by: row.created_by,
        created_at: row.created_at,
        started_at: row.started_at,
    }
}

/// Customers a planning chunk holds at most (more only when one guide alone
/// has more): each chunk is planned in a transaction of its own, so none is
/// as large as the audience.
pub(crate) const CHUNK_CUSTOMERS: usize = 2_000;

/// Cuts a split into chunks of whole guides (a guide's customers are
/// planned together, so their task parts are numbered once), at most
/// [`CHUNK_CUSTOMERS`] customers each unless one guide has more; the
/// customers without a guide follow in chunks of their own. Deterministic:
/// the same split gives the same chunks.
pub(crate) fn chunk_split(assigned: &[(i64, i64, String)], no_guide: &[i64]) -> Vec<StagedCustomer> {
    let mut by_guide: BTreeMap<i64, Vec<(i64, &str)>> = BTreeMap::new();
    for (c, s, e) in assigned {
        by_guide.entry(*s).or_default().push((*c, e.as_str()));
    }
    let mut out = Vec::with_capacity(assigned.len() + no_guide.len());
    let (mut chunk, mut in_chunk) = (0i32, 0usize);
    for (staff, customers) in by_guide {
        if in_chunk > 0 && in_chunk + customers.len() > CHUNK_CUSTOMERS {
            chunk += 1;
            in_chunk = 0;
        }
        in_chunk += customers.len();
        out.extend(customers.into_iter().map(|(c, e)| StagedCustomer {
            customer_id: c,
            chunk,
            staff_id: Some(staff),
            external_userid: e.to_string(),
        }));
    }
    for c in no_guide {
        if in_chunk >= CHUNK_CUSTOMERS {
            chunk += 1;
            in_chunk = 0;
        }
        in_chunk += 1;
        out.push(StagedCustomer { customer_id: *c, chunk, staff_id: None, external_userid: String::new() });
    }
    out
}

/// The number of chunks a staged split has.
fn chunks_of(staged: &[StagedCustomer]) -> i32 {
    staged.last().map_or(0, |s| s.chunk + 1)
}

/// Job: resolve a send's audience, stage its split and start its planning
/// chunks ([`MassSendChunkJob`]), once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MassSendStartJob {
    pub mass_send_id: i64,
}

pub(crate) enum Start {
    Gone,
    /// The split is staged in this many chunks.
    Staged {
        label: String,
        chunks: i32,
    },
    Groups(Box<(GroupSplit, MassContent)>),
}

impl Job for MassSendStartJob {
    const KIND: &'static str = "outreach.start_mass_send";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Start;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Start> {
        let Some(row) = engine.db.mass_send(ctx.corp_id, self.mass_send_id).await? else {
            return Ok(Start::Gone);
        };
        if !matches!(row.state.as_str(), "queued" | "scheduled") {
            return Ok(Start::Gone);
        }
        let audience: Audience =
            serde_json::from_str(&row.audience).map_err(|e| JobError::GiveUp(format!("audience: {e}")))?;
        let content: MassContent =
            serde_json::from_str(&row.content).map_err(|e| JobError::GiveUp(format!("content: {e}")))?;
        let rule = GuideRule::parse(&row.guide_rule).unwrap_or_default();
        if matches!(audience, Audience::Groups { .. }) {
            return match engine.split_groups(ctx.corp_id, &audience).await {
                Ok(g) => Ok(Start::Groups(Box::new((g, content)))),
                Err(EngineError::Invalid(e)) => {
                    Err(JobError::Refused(e.0.first().map(|f| f.message.clone()).unwrap_or_default()))
                }
                Err(e) => Err(e.into()),
            };
        }
        let split = match engine.split_audience(ctx.corp_id, &audience, rule).await {
            Ok(s) => s,
            Err(EngineError::Invalid(e)) => {
                return Err(JobError::Refused(e.0.first().map(|f| f.message.clone()).unwrap_or_default()))
            }
            Err(e) => return Err(e.into()),
        };
        // Staged in small commits of their own before the send moves on:
        // a retried start stages again from scratch (no chunk job exists
        // until `record` commits).
        let staged = chunk_split(&split.assigned, &split.no_guide);
        engine.db.stage_mass_send(ctx.corp_id, self.mass_send_id, &staged).await?;
        Ok(Start::Staged { label: split.label, chunks: chunks_of(&staged) })
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, start: Start, tx: &mut Tx) -> JobResult<JobEnd> {
        let (label, chunks) = match start {
            Start::Gone => return Ok(JobEnd::Done),
            Start::Groups(g) => return plan_groups(tx, ctx.corp_id, self.mass_send_id, *g).await,
            Start::Staged { label, chunks } => (label, chunks),
        };
        let (corp, id, now) = (ctx.corp_id, self.mass_send_id, now_ms());
        if !tx.begin_mass_send_planning(corp, id, &label, chunks, now).await? {
            return Ok(JobEnd::Done); // started or cancelled meanwhile: nothing planned twice
        }
        // One chunk at a time (each enqueues the next): a million customers
        // make hundreds of chunks, and all at once they would take every
        // reader connection and the worker's slots from other work.
        if chunks > 0 {
            enqueue(tx, corp, &MassSendChunkJob { mass_send_id: id, chunk: 0 }).await?;
        } else {
            finish_planning(tx, corp, id, now).await?;
        }
        Ok(JobEnd::Done)
    }
}

/// Job: plan one chunk of a send's staged split — admit its customers
/// through the fatigue cap, record the skipped ones, plan its guides'
/// tasks — in one transaction that also takes the chunk out of the stage
/// and enqueues the next chunk: a duplicate or retried chunk finds nothing
/// staged and plans (and enqueues) nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MassSendChunkJob {
    pub mass_send_id: i64,
    pub chunk: i32,
}

pub(crate) struct Chunk {
    staged: Vec<StagedCustomer>,
    content: MassContent,
    senders: HashMap<i64, SenderInfo>,
}

impl Job for MassSendChunkJob {
    const KIND: &'static str = "outreach.plan_mass_send_chunk";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Option<Chunk>;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Option<Chunk>> {
        let Some(row) = engine.db.mass_send(ctx.corp_id, self.mass_send_id).await? else {
            return Ok(None);
        };
        let staged = engine.db.mass_send_chunk(ctx.corp_id, self.mass_send_id, self.chunk).await?;
        if staged.is_empty() {
            return Ok(None); // planned already
        }
        let content: MassContent =
            serde_json::from_str(&row.content).map_err(|e| JobError::GiveUp(format!("content: {e}")))?;
        let mut staff: Vec<i64> = staged.iter().filter_map(|s| s.staff_id).collect();
        staff.sort_unstable();
        staff.dedup();
        let senders = engine.db.senders(ctx.corp_id, &staff).await?.into_iter().map(|s| (s.staff_id, s)).collect();
        Ok(Some(Chunk { staged, content, senders }))
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, chunk: Option<Chunk>, tx: &mut Tx) -> JobResult<JobEnd> {
        let Some(Chunk { staged, content, senders }) = chunk else { return Ok(JobEnd::Done) };
        let (corp, id, now) = (ctx.corp_id, self.mass_send_id, now_ms());
        let taken = tx.take_mass_send_chunk(corp, id, self.chunk).await?;
        if taken == 0 {
            return Ok(JobEnd::Done); // a twin planned it meanwhile
        }
        if taken != staged.len() as u64 {
            return Err(JobError::Retry(format!("chunk {} changed while read", self.chunk)));
        }
        let assigned: Vec<&StagedCustomer> = staged.iter().filter(|s| s.staff_id.is_some()).collect();
        let ids: Vec<i64> = assigned.iter().map(|s| s.customer_id).collect();
        let decided = fatigue::admit(tx, corp, &ids, MASS_SEND_SOURCE, &id.to_string(), now).await?;
        let staff_of: HashMap<i64, (i64, &str)> = assigned
            .iter()
            .filter_map(|s| s.staff_id.map(|staff| (s.customer_id, (staff, s.external_userid.as_str()))))
            .collect();
        let mut skips: Vec<(i64, Option<i64>, &str)> =
            decided.skipped.iter().map(|(c, r)| (*c, staff_of.get(c).map(|s| s.0), r.as_str())).collect();
        skips.extend(
            staged.iter().filter(|s| s.staff_id.is_none()).map(|s| (s.customer_id, None, SkipReason::NoGuide.as_str())),
        );
        let Some(left) = tx.count_mass_send_chunk(corp, id, decided.admitted.len() as i32, skips.len() as i32).await?
        else {
            return Ok(JobEnd::Done); // cancelled: the stage is cleared, nothing planned
        };
        tx.insert_mass_send_skips(corp, id, &skips).await?;
        let pairs: Vec<(i64, (i64, String))> =
            decided.admitted.iter().filter_map(|c| staff_of.get(c).map(|(s, e)| (*s, (*c, e.to_string())))).collect();
        let attachments = wecom_attachments(&content.attachments);
        for share in split_by_guide(pairs, MAX_TASK_CUSTOMERS) {
            let Some(sender) = senders.get(&share.staff_id) else { continue };
            let body = GuideContent {
                text: content.render(&sender.name, sender.store_name.as_deref().unwrap_or("")),
                link: None,
                attachments: attachments.clone(),
            };
            let body = serde_json::to_string(&body).expect("guide content is plain data");
            let task = NewGuideTask {
                corp_id: corp,
                purpose: MASS_SEND_PURPOSE,
                purpose_id: id,
                staff_id: share.staff_id,
                sender: &sender.userid,
                part: share.part,
                content: &body,
                recipients: &share.customers,
                now,
            };
            plan_guide_task(tx, &task).await?;
        }
        if left == 0 {
            finish_planning(tx, corp, id, now).await?;
        } else {
            enqueue(tx, corp, &MassSendChunkJob { mass_send_id: id, chunk: self.chunk + 1 }).await?;
        }
        Ok(JobEnd::Done)
    }
}

/// The last chunk is planned: the send moves to `planned`, its reminders
/// are scheduled and the start goes on the event log.
async fn finish_planning(tx: &mut Tx, corp: i64, id: i64, now: i64) -> JobResult<()> {
    let Some((planned, skipped)) = tx.finish_mass_send_planning(corp, id).await? else {
        return Ok(());
    };
    started(tx, corp, id, serde_json::json!({ "planned": planned, "skipped": skipped }), now).await
}

/// A send is planned: its first reminders are scheduled and its start goes
/// on the event log.
async fn started(tx: &mut Tx, corp: i64, id: i64, payload: serde_json::Value, now: i64) -> JobResult<()> {
    if let Some(at) = next_reminder(now, 0) {
        enqueue_at(tx, corp, &MassSendRemindJob { mass_send_id: id, round: Some(0) }, at, now).await?;
    }
    let e = NewEvent {
        corp_id: corp,
        kind: "mass_send.started",
        subject: &format!("mass_send:{id}"),
        actor: "koi",
        payload: &payload.to_string(),
        dedup_key: None,
        occurred_at: now,
    };
    tx.append_event(&e, now).await?;
    Ok(())
}

/// Plans a send to groups: one task per owner (per 2,000 groups) to the
/// owner's picked groups, in the start's transaction, exactly once.
async fn plan_groups(tx: &mut Tx, corp: i64, id: i64, (g, content): (GroupSplit, MassContent)) -> JobResult<JobEnd> {
    let now = now_ms();
    let planned: usize = g.by_owner.values().map(Vec::len).sum();
    if !tx.start_mass_send(corp, id, &g.label, planned as i32, g.unowned as i32, "", now).await? {
        return Ok(JobEnd::Done); // started or cancelled meanwhile
    }
    let attachments = wecom_attachments(&content.attachments);
    for (staff_id, groups) in &g.by_owner {
        let Some(sender) = g.senders.get(staff_id) else { continue };
        let body = GuideContent {
            text: content.render(&sender.name, sender.store_name.as_deref().unwrap_or("")),
            link: None,
            attachments: attachments.clone(),
        };
        let body = serde_json::to_string(&body).expect("guide content is plain data");
        for (part, chunk) in groups.chunks(MAX_TASK_GROUPS).enumerate() {
            let task = NewGuideTask {
                corp_id: corp,
                purpose: MASS_SEND_PURPOSE,
                purpose_id: id,
                staff_id: *staff_id,
                sender: &sender.userid,
                part: part as i32,
                content: &body,
                recipients: &[],
                now,
            };
            if let Some(task_id) = plan_guide_task(tx, &task).await? {
                tx.insert_guide_task_groups(corp, task_id, chunk).await?;
            }
        }
    }
    let payload = serde_json::json!({ "planned_groups": planned, "skipped_groups": g.unowned,
        "owners": g.by_owner.len() });
    started(tx, corp, id, payload, now).await?;
    Ok(JobEnd::Done)
}

/// Job: remind the guides of a send who have not confirmed. `round` is the
/// automatic schedule's place ([`next_reminder`]); `None` is an operator's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MassSendRemindJob {
    pub mass_send_id: i64,
    pub round: Option<u32>,
}

pub(crate) enum Reminded {
    /// At night: try again in the morning.
    Later(i64),
    /// Tasks reminded, and whether any task is still unconfirmed.
    Done { reminded: Vec<i64>, open: bool, started_at: i64 },
}

impl Job for MassSendRemindJob {
    const KIND: &'static str = "outreach.remind_mass_send";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Reminded;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Reminded> {
        let now = now_ms();
        if self.round.is_some() && is_night(now) {
            return Ok(Reminded::Later(by_day(now)));
        }
        let Some(row) = engine.db.mass_send(ctx.corp_id, self.mass_send_id).await? else {
            return Err(JobError::Done("the mass send is gone".into()));
        };
        if row.state == "cancelled" {
            return Err(JobError::Done("cancelled".into()));
        }
        let tasks = engine.db.remindable_tasks(ctx.corp_id, self.mass_send_id).await?;
        let client = engine.wecom_for(ctx.corp_id).await?;
        let mut reminded = Vec::new();
        let mut open = false;
        for t in tasks.iter().filter(|t| (t.reminders as u32) < MAX_REMINDERS) {
            let req = GetGroupmsgTaskRequest { msgid: t.wecom_msgid.clone(), limit: Some(1000), cursor: None };
            let list = match client.get_groupmsg_task(&req, Priority::Bulk).await {
                Ok(l) => l,
                Err(e) if e.is_final() => continue,
                Err(e) => return Err(e.into()),
            };
            if list.task_list.iter().all(|m| m.status == 2) {
                continue; // confirmed: the read job records the results
            }
            open = true;
            match client
                .remind_groupmsg_send(&RemindGroupmsgSendRequest { msgid: t.wecom_msgid.clone() }, Priority::Bulk)
                .await
            {
                Ok(()) => reminded.push(t.id),
                Err(e) if e.is_final() => {} // WeCom's 3 a day reached: counted as not reminded
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Reminded::Done { reminded, open, started_at: row.started_at.unwrap_or(row.created_at) })
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, r: Reminded, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        match r {
            Reminded::Later(at) => {
                enqueue_at(tx, ctx.corp_id, self, at, now).await?;
            }
            Reminded::Done { reminded, open, started_at } => {
                for id in &reminded {
                    tx.note_task_reminded(ctx.corp_id, *id, now).await?;
                }
                if let (Some(round), true) = (self.round, open) {
                    if let Some(at) = next_reminder(started_at, round + 1) {
                        let job = MassSendRemindJob { mass_send_id: self.mass_send_id, round: Some(round + 1) };
                        enqueue_at(tx, ctx.corp_id, &job, at.max(now), now).await?;
                    }
                }
            }
        }
        Ok(JobEnd::Done)
    }
}

/// Job: cancel one created task in WeCom (idempotent there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CancelTaskJob {
    pub task_id: i64,
    pub msgid: String,
}

impl Job for CancelTaskJob {
    const KIND: &'static str = "outreach.cancel_guide_task";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = ();

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<()> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        client.cancel_groupmsg_send(&CancelGroupmsgSendRequest { msgid: self.msgid.clone() }, Priority::Bulk).await?;
        Ok(())
    }

    async fn record(&self, _: &Engine, _: &JobCtx, _: (), _: &mut Tx) -> JobResult<JobEnd> {
        Ok(JobEnd::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assigned(guides: &[(i64, usize)]) -> Vec<(i64, i64, String)> {
        let mut c = 0;
        let mut out = Vec::new();
        for (staff, n) in guides {
            for _ in 0..*n {
                c += 1;
                out.push((c, *staff, format!("wm{c}")));
            }
        }
        out
    }

    #[test]
    fn chunks_hold_whole_guides_and_each_customer_once() {
        // 3 guides of 900 fit two to a chunk of 2,000; a guide of 2,500 has
        // a chunk alone; the customers without a guide follow.
        let a = assigned(&[(7, 900), (3, 900), (9, 2_500), (5, 900)]);
        let no_guide: Vec<i64> = (10_000..12_500).collect();
        let staged = chunk_split(&a, &no_guide);
        assert_eq!(staged.len(), a.len() + no_guide.len());
        let mut seen = std::collections::HashSet::new();
        assert!(staged.iter().all(|s| seen.insert(s.customer_id)), "each customer once");
        let chunk_of = |staff: i64| -> std::collections::BTreeSet<i32> {
            staged.iter().filter(|s| s.staff_id == Some(staff)).map(|s| s.chunk).collect()
        };
        for staff in [3, 5, 7, 9] {
            assert_eq!(chunk_of(staff).len(), 1, "guide {staff} is planned in one chunk");
        }
        // By staff id: 3 and 5 together, 7 alone (9's 2,500 would overflow), 9 alone.
        assert_eq!(chunk_of(3), chunk_of(5));
        assert_ne!(chunk_of(5), chunk_of(7));
        assert_ne!(chunk_of(7), chunk_of(9));
        let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
        for s in &staged {
            *sizes.entry(s.chunk).or_default() += 1;
        }
        assert!(sizes.iter().all(|(c, n)| *n <= CHUNK_CUSTOMERS || chunk_of(9).contains(c)), "{sizes:?}");
        assert_eq!(chunks_of(&staged), sizes.len() as i32);
        assert_eq!(sizes.keys().copied().collect::<Vec<_>>(), (0..sizes.len() as i32).collect::<Vec<_>>());
        assert_eq!(staged.iter().filter(|s| s.staff_id.is_none()).count(), no_guide.len());
        assert_eq!(chunk_split(&a, &no_guide), staged, "the same split gives the same chunks");
    }

    #[test]
    fn an_empty_audience_has_no_chunk() {
        assert_eq!(chunks_of(&chunk_split(&[], &[])), 0);
    }
}
