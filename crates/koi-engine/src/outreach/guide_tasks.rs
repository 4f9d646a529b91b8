//! One guide's customer mass-message task (`add_msg_template`, chat_type
//! single, sender = the guide): planned in the use case's transaction
//! ([`plan_guide_task`]), created in WeCom by [`GuideTaskJob`], and its
//! send results read by [`GuideTaskReadJob`] until the guide has confirmed
//! it (or koi stops asking).
//!
//! Exactly once: the task is claimed (`sending`, in its own commit) right
//! before the call, once its WeCom budget is in hand. A call that surely did
//! not reach WeCom puts it back; one that may have (the connection broke
//! after sending) leaves it claimed, and a later attempt that finds it
//! claimed ends it `unknown` instead of making a second task. A restart, a
//! retried job or a second node never creates a guide's task twice. The
//! worker keeps the job's lease while it runs, so a slow call is never
//! taken over by a second attempt.

use crate::jobs::{enqueue, enqueue_at, Job, JobCtx, JobError, JobResult};
use crate::{Engine, Result};
use koi_domain::group::pull::send_outcome;
use koi_domain::jobs::priority;
use koi_domain::outreach::mass_send::group_send_outcome;
use koi_store::jobs::JobEnd;
use koi_store::outreach::{NewGuideTask, RecipientResult, OUTCOME_UNKNOWN};
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    AddMsgTemplateRequest, Attachment, ChatType, GetGroupmsgListV2Request, GetGroupmsgSendResultRequest,
    GetGroupmsgTaskRequest, Link, Priority, Text,
};
use serde::{Deserialize, Serialize};

/// What the customers of a task receive: a text, a link card, and (mass
/// sends) up to 9 attachments in WeCom's shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuideContent {
    pub text: String,
    pub link: Option<GuideLink>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuideLink {
    pub title: String,
    pub desc: String,
    pub url: String,
}

/// What a `file` attachment's media_id starts with when it names a
/// material of the material centre rather than a WeCom media: the job that
/// creates the task sends the material's uploaded file by a media_id of its
/// own ([`Engine::wecom_material_attachment`]: uploaded once, again after about
/// two days), as an image, a file or a video by the file's format.
pub(crate) const MATERIAL_REF: &str = "koi-material:";

/// The attachment that stands for a material's uploaded file until the
/// task is created.
pub(crate) fn material_attachment(material_id: i64) -> Attachment {
    Attachment::file(format!("{MATERIAL_REF}{material_id}"))
}

/// Replaces every material reference ([`MATERIAL_REF`]) by what the
/// material is in a WeCom message ([`Engine::wecom_material_attachment`]:
/// its file as a WeCom media, uploaded when needed; a mini-program card; an
/// article's link); a material that is gone is left out.
async fn resolve_materials(engine: &Engine, corp_id: i64, all: Vec<Attachment>) -> JobResult<Vec<Attachment>> {
    let mut out = Vec::with_capacity(all.len());
    for a in all {
        let material = match &a {
            Attachment::File { file } => file.media_id.strip_prefix(MATERIAL_REF).and_then(|id| id.parse::<i64>().ok()),
            _ => None,
        };
        match material {
            Some(id) => out.extend(engine.wecom_material_attachment(corp_id, id).await?),
            None => out.push(a),
        }
    }
    Ok(out)
}

/// When koi reads a task's results after creating it: soon (a guide who
/// is at the counter confirms at once), then less often for about four days;
/// customers still unsent then end `not_sent`.
const READ_AFTER_MS: &[i64] = &[
    10_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 43_200_000, 86_400_000,
    86_400_000, 86_400_000,
];

/// Results per `get_groupmsg_send_result` page (WeCom's maximum).
const RESULT_PAGE: u32 = 1000;

/// What a task whose outcome is unknown says.
const UNKNOWN_NOTE: &str = "an earlier attempt may have reached WeCom without an answer; not created again";

/// Plans one guide's task with its customers and enqueues its creation, in
/// the caller's transaction. `None` when the purpose has this guide's part
/// already (nothing is planned twice).
pub(crate) async fn plan_guide_task(tx: &mut Tx, t: &NewGuideTask<'_>) -> Result<Option<i64>> {
    let Some(id) = tx.insert_guide_task(t).await? else {
        return Ok(None);
    };
    enqueue(tx, t.corp_id, &GuideTaskJob { task_id: id }).await?;
    Ok(Some(id))
}

/// Job: create one guide's task in WeCom, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GuideTaskJob {
    pub task_id: i64,
}

/// What creating a task came to.
pub(crate) enum Created {
    Ok {
        msgid: String,
        fail_list: Vec<String>,
    },
    Refused(String),
    /// Already created or ended: nothing to do.
    Gone,
    /// An earlier attempt may have reached WeCom: not created again.
    Unknown,
}

impl Job for GuideTaskJob {
    const KIND: &'static str = "outreach.create_guide_task";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Created;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Created> {
        let Some(t) = engine.db.guide_task(ctx.corp_id, self.task_id).await? else {
            return Ok(Created::Gone);
        };
        match t.state.as_str() {
            "sending" => return Ok(Created::Unknown),
            "queued" => {}
            _ => return Ok(Created::Gone),
        }
        let content: GuideContent =
            serde_json::from_str(&t.content).map_err(|e| JobError::GiveUp(format!("task content: {e}")))?;
        let recipients = engine.db.guide_task_recipients(ctx.corp_id, t.id).await?;
        let content =
            GuideContent { attachments: resolve_materials(engine, ctx.corp_id, content.attachments).await?, ..content };
        let req = AddMsgTemplateRequest {
            chat_type: Some(ChatType::Single),
            external_userid: Some(recipients.into_iter().map(|r| r.external_userid).collect()),
            sender: Some(t.sender.clone()),
            text: (!content.text.is_empty()).then(|| Text::new(content.text.clone())),
            attachments: {
                let mut all: Vec<Attachment> = content
                    .link
                    .map(|l| {
                        Attachment::link(Link {
                            title: l.title,
                            desc: (!l.desc.is_empty()).then_some(l.desc),
                            url: l.url,
                            ..Link::default()
                        })
                    })
                    .into_iter()
                    .collect();
                all.extend(content.attachments);
                (!all.is_empty()).then_some(all)
            },
            ..AddMsgTemplateRequest::default()
        };
        let req = for_groups(engine, ctx.corp_id, &t, req).await?;
        let client = engine.wecom_for(ctx.corp_id).await?;
        // The budget first, the claim last: a queue for the budget (minutes
        // under a small quota) is never spent holding the claim, so a crash
        // while waiting leaves the task queued, not `unknown`.
        let reserved = client.reserve("add_msg_template", Priority::Bulk).await?;
        if !engine.db.mark_guide_task_sending(ctx.corp_id, t.id, true).await? {
            return Ok(Created::Gone);
        }
        match client.add_msg_template_reserved(&req, reserved).await {
            Ok(r) => Ok(Created::Ok { msgid: r.msgid, fail_list: r.fail_list }),
            Err(e) if e.may_have_acted() => Err(e.into()),
            Err(e) => {
                engine.db.mark_guide_task_sending(ctx.corp_id, t.id, false).await?;
                if e.is_final() {
                    Ok(Created::Refused(e.to_string()))
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, created: Created, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        let (corp, id) = (ctx.corp_id, self.task_id);
        match created {
            Created::Gone => Ok(JobEnd::Done),
            Created::Ok { msgid, fail_list } => {
                if !tx.finish_guide_task(corp, id, "created", &msgid, "", now).await? {
                    return Ok(JobEnd::Done);
                }
                let failed: Vec<RecipientResult> = fail_list
                    .into_iter()
                    .map(|ext| RecipientResult {
                        external_userid: ext,
                        state: "failed",
                        reason: "not_sendable".into(),
                        sent_at: None,
                    })
                    .collect();
                tx.record_recipient_results(corp, id, &failed).await?;
                tx.record_group_results(corp, id, &groups_failed(failed)).await?;
                let read = GuideTaskReadJob { task_id: id, round: Some(0) };
                enqueue_at(tx, corp, &read, now + READ_AFTER_MS[0], now).await?;
                Ok(JobEnd::Done)
            }
            Created::Refused(why) => {
                tx.finish_guide_task(corp, id, "refused", "", &why, now).await?;
                tx.end_planned_recipients(corp, id, "failed", "refused_by_wecom").await?;
                tx.end_planned_groups(corp, id, "failed", "refused_by_wecom").await?;
                Ok(JobEnd::Refused(why))
            }
            Created::Unknown => {
                tx.finish_guide_task(corp, id, "unknown", "", UNKNOWN_NOTE, now).await?;
                tx.end_planned_recipients(corp, id, "failed", "outcome_unknown").await?;
                tx.end_planned_groups(corp, id, "failed", OUTCOME_UNKNOWN).await?;
                // Looked up in WeCom shortly: adopted when there, `absent` when not.
                enqueue_at(tx, corp, &GuideTaskSettleJob { task_id: id }, now + SETTLE_AFTER_MS, now).await?;
                Ok(JobEnd::Done)
            }
        }
    }
}

/// Job: read a created task's results. `round` is its place in the
/// schedule ([`READ_AFTER_MS`]); `None` is a read an operator asked for,
/// which schedules nothing after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GuideTaskReadJob {
    pub task_id: i64,
    pub round: Option<usize>,
}

/// What WeCom says of a task.
pub(crate) enum Read {
    Gone,
    /// The guide has not confirmed yet.
    Unconfirmed,
    Confirmed(Vec<RecipientResult>),
}

impl Job for GuideTaskReadJob {
    const KIND: &'static str = "outreach.read_guide_task";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Read;

    /// WeCom answers 41063 for a task made a moment ago: not final, so the
    /// job backs off and asks again.
    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Read> {
        let Some(t) = engine.db.guide_task(ctx.corp_id, self.task_id).await? else {
            return Ok(Read::Gone);
        };
        if t.state != "created" || t.settled {
            return Ok(Read::Gone);
        }
        let client = engine.wecom_for(ctx.corp_id).await?;
        let req = GetGroupmsgTaskRequest { msgid: t.wecom_msgid.clone(), limit: Some(1000), cursor: None };
        let tasks = client.get_groupmsg_task(&req, Priority::Bulk).await?;
        let confirmed = tasks.task_list.iter().any(|m| m.userid == t.sender && m.status == 2);
        if !confirmed {
            return Ok(Read::Unconfirmed);
        }
        let mut results = Vec::new();
        let mut cursor = None;
        loop {
            let req = GetGroupmsgSendResultRequest {
                msgid: t.wecom_msgid.clone(),
                userid: t.sender.clone(),
                limit: Some(RESULT_PAGE),
                cursor: cursor.take(),
            };
            let page = client.get_groupmsg_send_result(&req, Priority::Bulk).await?;
            for r in page.send_list {
                let group = r.external_userid.is_none();
                let Some(ext) = r.external_userid.or(r.chat_id) else { continue };
                let (state, reason) = if group { group_send_outcome(r.status) } else { send_outcome(r.status) };
                results.push(RecipientResult {
                    external_userid: ext,
                    state,
                    reason: reason.to_string(),
                    sent_at: r.send_time.filter(|_| state == "sent").map(|s| s * 1000),
                });
            }
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_cursor);
        }
        Ok(Read::Confirmed(results))
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, read: Read, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        let (corp, id) = (ctx.corp_id, self.task_id);
        match read {
            Read::Gone => Ok(JobEnd::Done),
            Read::Confirmed(results) => {
                tx.record_recipient_results(corp, id, &results).await?;
                tx.record_group_results(corp, id, &results).await?;
                tx.note_guide_task_read(corp, id, true, now).await?;
                Ok(JobEnd::Done)
            }
            Read::Unconfirmed => {
                let next = self.round.map(|r| r + 1);
                match next {
                    None => tx.note_guide_task_read(corp, id, false, now).await?,
                    Some(r) if r < READ_AFTER_MS.len() => {
                        tx.note_guide_task_read(corp, id, false, now).await?;
                        let job = GuideTaskReadJob { task_id: id, round: Some(r) };
                        enqueue_at(tx, corp, &job, now + READ_AFTER_MS[r], now).await?;
                    }
                    Some(_) => {
                        tx.end_planned_recipients(corp, id, "not_sent", "not_confirmed_by_guide").await?;
                        tx.end_planned_groups(corp, id, "not_sent", "not_confirmed_by_guide").await?;
                        tx.note_guide_task_read(corp, id, true, now).await?;
                    }
                }
                Ok(JobEnd::Done)
            }
        }
    }
}

impl Engine {
    /// Reads the results of every unsettled task of a purpose now (an
    /// operator's refresh); returns how many reads were queued.
    pub(crate) async fn read_guide_tasks_now(&self, corp_id: i64, purpose: &str, purpose_id: i64) -> Result<usize> {
        let tasks = self.db.guide_tasks_of(corp_id, purpose, purpose_id).await?;
        let mut tx = self.db.begin().await?;
        let mut n = 0;
        for t in tasks.iter().filter(|t| t.state == "created" && !t.settled) {
            enqueue(&mut tx, corp_id, &GuideTaskReadJob { task_id: t.id, round: None }).await?;
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }
}

// ---- tasks to groups, and settling tasks whose outcome is unknown ----

/// When koi looks up a task that ended `unknown` (WeCom lists a task a
/// moment after making it).
const SETTLE_AFTER_MS: i64 = 30_000;
/// Tasks per `get_groupmsg_list_v2` page (WeCom's maximum).
const LIST_PAGE: u32 = 100;
/// `get_groupmsg_list_v2` looks at most a month back.
const LIST_WINDOW_S: i64 = 31 * 86_400 - 1;
/// The window around the claim the lookup reads, before and after.
const LOOKUP_MARGIN_S: i64 = 300;

/// A group task's request: chat_type group, the sender's picked groups
/// (`chat_id_list`) instead of customers. A customer task's is unchanged.
async fn for_groups(
    engine: &Engine,
    corp_id: i64,
    t: &koi_store::outreach::GuideTaskRow,
    mut req: AddMsgTemplateRequest,
) -> JobResult<AddMsgTemplateRequest> {
    if t.chat_type != "group" {
        return Ok(req);
    }
    let groups = engine.db.guide_task_groups(corp_id, t.id).await?;
    req.chat_type = Some(ChatType::Group);
    req.external_userid = None;
    req.chat_id_list = Some(groups.into_iter().map(|g| g.chat_id).collect());
    Ok(req)
}

/// WeCom's `fail_list` for a group task names groups that are not the
/// sender's (any more): `group_gone`.
fn groups_failed(failed: Vec<RecipientResult>) -> Vec<RecipientResult> {
    failed.into_iter().map(|f| RecipientResult { reason: "group_gone".into(), ..f }).collect()
}

/// Job: look a task that ended `unknown` up in WeCom
/// (`get_groupmsg_list_v2`, creator = its sender, a window around its
/// claim). Found (same chat type and text, a msgid no other task holds):
/// adopted, its results read as any task's. Surely not there (the whole
/// window listed): `absent`, for an operator to send again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GuideTaskSettleJob {
    pub task_id: i64,
}

pub(crate) enum Settled {
    Gone,
    Found(String),
    Absent(String),
}

impl Job for GuideTaskSettleJob {
    const KIND: &'static str = "outreach.settle_guide_task";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Settled;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Settled> {
        let Some(t) = engine.db.guide_task(ctx.corp_id, self.task_id).await? else {
            return Ok(Settled::Gone);
        };
        if t.state != "unknown" {
            return Ok(Settled::Gone);
        }
        let content: GuideContent =
            serde_json::from_str(&t.content).map_err(|e| JobError::GiveUp(format!("task content: {e}")))?;
        let start = t.created_at.div_euclid(1000) - LOOKUP_MARGIN_S;
        let end = (now_ms().div_euclid(1000) + LOOKUP_MARGIN_S).min(start + LIST_WINDOW_S);
        let chat_type = if t.chat_type == "group" { ChatType::Group } else { ChatType::Single };
        let client = engine.wecom_for(ctx.corp_id).await?;
        let mut cursor = None;
        let mut found: Option<(i64, String)> = None;
        loop {
            let req = GetGroupmsgListV2Request {
                chat_type,
                start_time: start,
                end_time: end,
                creator: Some(t.sender.clone()),
                filter_type: Some(0),
                limit: Some(LIST_PAGE),
                cursor: cursor.take(),
            };
            let page = client.get_groupmsg_list_v2(&req, Priority::Bulk).await?;
            for m in page.group_msg_list {
                let text = m.text.map(|x| x.content).unwrap_or_default();
                if m.creator != t.sender || text != content.text {
                    continue;
                }
                if engine.db.guide_task_with_msgid(ctx.corp_id, &m.msgid).await?.is_some() {
                    continue; // another task's
                }
                if found.as_ref().is_none_or(|f| m.create_time < f.0) {
                    found = Some((m.create_time, m.msgid));
                }
            }
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_cursor);
        }
        Ok(match found {
            Some((_, msgid)) => Settled::Found(msgid),
            None => Settled::Absent(format!(
                "WeCom lists no such task of {} between {} and {} (unix s); it may be sent again",
                t.sender, start, end
            )),
        })
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, s: Settled, tx: &mut Tx) -> JobResult<JobEnd> {
        let (corp, id, now) = (ctx.corp_id, self.task_id, now_ms());
        match s {
            Settled::Gone => {}
            Settled::Found(msgid) => {
                if tx.adopt_guide_task(corp, id, &msgid, now).await? {
                    let read = GuideTaskReadJob { task_id: id, round: Some(0) };
                    enqueue_at(tx, corp, &read, now + READ_AFTER_MS[0], now).await?;
                }
            }
            Settled::Absent(note) => {
                tx.mark_guide_task_absent(corp, id, &note, now).await?;
            }
        }
        Ok(JobEnd::Done)
    }
}

impl Engine {
    /// Looks a task that ended `unknown` up in WeCom now. `false` when the
    /// task is not `unknown`.
    pub(crate) async fn settle_guide_task(&self, corp_id: i64, task_id: i64) -> Result<bool> {
        let Some(t) = self.db.guide_task(corp_id, task_id).await? else { return Ok(false) };
        if t.state != "unknown" {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        enqueue(&mut tx, corp_id, &GuideTaskSettleJob { task_id }).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sends a task WeCom surely does not have (`absent`) again: back to
    /// `queued` and a new claim, once. `false` when it is not `absent`
    /// (sent again already, cancelled, or never looked up).
    pub(crate) async fn resend_guide_task(&self, corp_id: i64, task_id: i64) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        if !tx.requeue_guide_task(corp_id, task_id, now_ms()).await? {
            return Ok(false);
        }
        enqueue(&mut tx, corp_id, &GuideTaskJob { task_id }).await?;
        tx.commit().await?;
        Ok(true)
    }
}
