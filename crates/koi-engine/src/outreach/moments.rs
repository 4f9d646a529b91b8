//! Moments posts (朋友圈): the chosen guides (and the guides of the chosen
//! stores; none chosen: every active guide) are asked to publish a post to
//! their customers carrying the chosen tags. [`MomentPostJob`] creates it in
//! WeCom once (`add_moment_task`, claimed before the call); [`MomentReadJob`]
//! follows WeCom's job (`get_moment_task_result`), then reads which guides
//! published it (`get_moment_task`) and their likes and comments
//! (`get_moment_comments`), on a schedule of about four days.
//!
//! Images go as `pic_url`; real WeCom wants them uploaded first
//! (`upload_attachment`), which koi does not do yet.

use crate::jobs::{enqueue, enqueue_at, Job, JobCtx, JobError, JobResult};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::jobs::priority;
use koi_domain::outreach::moment::{MomentDraft, MomentMedia};
use koi_domain::ValidationError;
use koi_store::jobs::JobEnd;
use koi_store::moments::{MomentGuideResult, MomentRow};
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    AddMomentTaskRequest, Attachment, ExternalContactList, GetMomentCommentsRequest, GetMomentTaskRequest,
    GetMomentTaskResultRequest, Link, Priority, SenderList, Text, VisibleRange,
};
use serde::{Deserialize, Serialize};

/// When koi reads a post's results after creating it.
const READ_AFTER_MS: &[i64] =
    &[2_000, 60_000, 600_000, 3_600_000, 4 * 3_600_000, 12 * 3_600_000, 86_400_000, 86_400_000, 86_400_000];

/// A post with its totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Moment {
    pub id: i64,
    pub name: String,
    pub draft: MomentDraft,
    /// queued, sending, posting, posted, failed or unknown.
    pub state: String,
    pub note: String,
    pub guides: i64,
    /// Guides who published it.
    pub posted: i64,
    pub likes: i64,
    pub comments: i64,
    pub created_by: String,
    pub created_at: i64,
}

/// One guide's copy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MomentGuide {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub posted: bool,
    pub likes: i64,
    pub comments: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MomentDetail {
    pub moment: Moment,
    pub guides: Vec<MomentGuide>,
}

fn view(row: MomentRow, guides: &[MomentGuide]) -> Moment {
    Moment {
        id: row.id,
        name: row.name,
        draft: serde_json::from_str(&row.content).unwrap_or(MomentDraft {
            name: String::new(),
            text: String::new(),
            media: MomentMedia::None,
            staff_ids: vec![],
            store_ids: vec![],
            tags: vec![],
        }),
        state: row.state,
        note: row.note,
        guides: guides.len() as i64,
        posted: guides.iter().filter(|g| g.posted).count() as i64,
        likes: guides.iter().map(|g| g.likes).sum(),
        comments: guides.iter().map(|g| g.comments).sum(),
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

impl Engine {
    pub async fn moments(&self, who: &Principal) -> Result<Vec<Moment>> {
        require(who, Action::ViewMassSends)?;
        let mut out = Vec::new();
        for row in self.db.moments(who.corp_id, 200).await? {
            let guides = self.moment_guides(who.corp_id, row.id).await?;
            out.push(view(row, &guides));
        }
        Ok(out)
    }

    async fn moment_guides(&self, corp_id: i64, id: i64) -> Result<Vec<MomentGuide>> {
        Ok(self
            .db
            .moment_guides(corp_id, id)
            .await?
            .into_iter()
            .map(|g| MomentGuide {
                staff_id: g.staff_id,
                userid: g.userid,
                name: g.name,
                posted: g.posted,
                likes: i64::from(g.likes),
                comments: i64::from(g.comments),
            })
            .collect())
    }

    pub async fn moment(&self, who: &Principal, id: i64) -> Result<MomentDetail> {
        require(who, Action::ViewMassSends)?;
        let row = self.db.moment(who.corp_id, id).await?.ok_or(EngineError::NotFound("moment"))?;
        let guides = self.moment_guides(who.corp_id, id).await?;
        Ok(MomentDetail { moment: view(row, &guides), guides })
    }

    /// Posts a moment: records it with its guides and enqueues its creation.
    pub async fn create_moment(&self, who: &Principal, draft: &MomentDraft) -> Result<MomentDetail> {
        require(who, Action::ManageMassSends)?;
        let d = draft.validate()?;
        let staff = self.db.staff_list(who.corp_id).await?;
        for id in &d.staff_ids {
            if !staff.iter().any(|s| s.id == *id) {
                return Err(ValidationError::one("staff_ids", "unknown_staff", format!("no staff {id}")).into());
            }
        }
        let everyone = d.staff_ids.is_empty() && d.store_ids.is_empty();
        let guides: Vec<(i64, String)> = staff
            .iter()
            .filter(|s| s.active)
            .filter(|s| everyone || d.staff_ids.contains(&s.id) || s.store_ids.iter().any(|x| d.store_ids.contains(x)))
            .map(|s| (s.id, s.userid.clone()))
            .collect();
        if guides.is_empty() {
            return Err(ValidationError::one("staff_ids", "no_guides", "no active guide is chosen").into());
        }
        let known: Vec<String> = self.db.tag_catalogue(who.corp_id).await?.into_iter().map(|t| t.tag_id).collect();
        if let Some(t) = d.tags.iter().find(|t| !known.contains(t)) {
            return Err(ValidationError::one("tags", "unknown_tag", format!("no tag {t}")).into());
        }
        let now = now_ms();
        let content = serde_json::to_string(&d).expect("a draft is plain data");
        let mut tx = self.db.begin().await?;
        let id = tx.insert_moment(who.corp_id, &d.name, &content, &guides, &actor(who), now).await?;
        enqueue(&mut tx, who.corp_id, &MomentPostJob { moment_id: id }).await?;
        tx.commit().await?;
        self.moment(who, id).await
    }

    /// Reads a post's results now.
    pub async fn refresh_moment(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageMassSends)?;
        self.db.moment(who.corp_id, id).await?.ok_or(EngineError::NotFound("moment"))?;
        self.enqueue_now(who.corp_id, &MomentReadJob { moment_id: id, round: None }).await?;
        Ok(())
    }
}

/// Job: create a post in WeCom, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MomentPostJob {
    pub moment_id: i64,
}

pub(crate) enum Posted {
    Gone,
    Ok(String),
    Refused(String),
    Unknown,
}

impl Job for MomentPostJob {
    const KIND: &'static str = "outreach.post_moment";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = Posted;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Posted> {
        let Some(row) = engine.db.moment(ctx.corp_id, self.moment_id).await? else { return Ok(Posted::Gone) };
        match row.state.as_str() {
            "sending" => return Ok(Posted::Unknown),
            "queued" => {}
            _ => return Ok(Posted::Gone),
        }
        let d: MomentDraft =
            serde_json::from_str(&row.content).map_err(|e| JobError::GiveUp(format!("moment: {e}")))?;
        let users: Vec<String> =
            engine.db.moment_guides(ctx.corp_id, row.id).await?.into_iter().map(|g| g.userid).collect();
        let attachments = match &d.media {
            MomentMedia::None => None,
            MomentMedia::Images { urls } => Some(urls.iter().map(|u| Attachment::image_url(u.clone())).collect()),
            MomentMedia::Link { title, url } => {
                Some(vec![Attachment::link(Link { title: title.clone(), url: url.clone(), ..Link::default() })])
            }
            MomentMedia::Video { media_id } => Some(vec![Attachment::video(media_id.clone())]),
        };
        let req = AddMomentTaskRequest {
            text: (!d.text.is_empty()).then(|| Text::new(d.text.clone())),
            attachments,
            visible_range: Some(VisibleRange {
                sender_list: Some(SenderList { user_list: Some(users), department_list: None }),
                external_contact_list: (!d.tags.is_empty())
                    .then(|| ExternalContactList { tag_list: Some(d.tags.clone()) }),
            }),
        };
        let client = engine.wecom_for(ctx.corp_id).await?;
        if !engine.db.claim_moment(ctx.corp_id, row.id, "queued", "sending").await? {
            return Ok(Posted::Gone);
        }
        match client.add_moment_task(&req, Priority::Bulk).await {
            Ok(r) => Ok(Posted::Ok(r.jobid)),
            Err(e) if e.may_have_acted() => Err(e.into()),
            Err(e) => {
                engine.db.claim_moment(ctx.corp_id, row.id, "sending", "queued").await?;
                if e.is_final() {
                    Ok(Posted::Refused(e.to_string()))
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, p: Posted, tx: &mut Tx) -> JobResult<JobEnd> {
        let (corp, id, now) = (ctx.corp_id, self.moment_id, now_ms());
        match p {
            Posted::Gone => Ok(JobEnd::Done),
            Posted::Ok(jobid) => {
                tx.set_moment_state(corp, id, "posting", Some(&jobid), None, "", now).await?;
                let read = MomentReadJob { moment_id: id, round: Some(0) };
                enqueue_at(tx, corp, &read, now + READ_AFTER_MS[0], now).await?;
                Ok(JobEnd::Done)
            }
            Posted::Refused(why) => {
                tx.set_moment_state(corp, id, "failed", None, None, &why, now).await?;
                Ok(JobEnd::Refused(why))
            }
            Posted::Unknown => {
                let why = "an earlier attempt may have reached WeCom without an answer; not posted again";
                tx.set_moment_state(corp, id, "unknown", None, None, why, now).await?;
                Ok(JobEnd::Done)
            }
        }
    }
}

/// Job: read a post's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MomentReadJob {
    pub moment_id: i64,
    pub round: Option<usize>,
}

pub(crate) enum MomentRead {
    Gone,
    /// WeCom's job still runs.
    Running,
    Failed(String),
    /// The moment id and each guide's copy.
    Read(String, Vec<MomentGuideResult>),
}

impl Job for MomentReadJob {
    const KIND: &'static str = "outreach.read_moment";
    const PRIORITY: i32 = priority::DEFAULT;
    type Prepared = MomentRead;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<MomentRead> {
        let Some(row) = engine.db.moment(ctx.corp_id, self.moment_id).await? else { return Ok(MomentRead::Gone) };
        if !matches!(row.state.as_str(), "posting" | "posted") {
            return Ok(MomentRead::Gone);
        }
        let client = engine.wecom_for(ctx.corp_id).await?;
        let mut moment_id = row.wecom_moment_id.clone();
        if moment_id.is_empty() {
            let r = client
                .get_moment_task_result(&GetMomentTaskResultRequest { jobid: row.jobid.clone() }, Priority::Bulk)
                .await?;
            if r.status != 3 {
                return Ok(MomentRead::Running);
            }
            let result = r.result.unwrap_or_default();
            match (result.errcode, result.moment_id) {
                (Some(code), _) if code.0 != 0 => {
                    return Ok(MomentRead::Failed(result.errmsg.unwrap_or_else(|| format!("errcode {}", code.0))))
                }
                (_, Some(id)) => moment_id = id,
                _ => return Ok(MomentRead::Failed("WeCom gave no moment id".into())),
            }
        }
        let mut results = Vec::new();
        let mut cursor = None;
        loop {
            let req = GetMomentTaskRequest { moment_id: moment_id.clone(), cursor: cursor.take(), limit: Some(1000) };
            let page = client.get_moment_task(&req, Priority::Bulk).await?;
            for t in page.task_list {
                let (mut likes, mut comments) = (0, 0);
                if t.publish_status == 1 {
                    let req = GetMomentCommentsRequest { moment_id: moment_id.clone(), userid: t.userid.clone() };
                    let c = client.get_moment_comments(&req, Priority::Bulk).await?;
                    likes = c.like_list.len() as i32;
                    comments = c.comment_list.len() as i32;
                }
                results.push(MomentGuideResult { userid: t.userid, posted: t.publish_status == 1, likes, comments });
            }
            if page.next_cursor.is_empty() {
                break;
            }
            cursor = Some(page.next_cursor);
        }
        Ok(MomentRead::Read(moment_id, results))
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, r: MomentRead, tx: &mut Tx) -> JobResult<JobEnd> {
        let (corp, id, now) = (ctx.corp_id, self.moment_id, now_ms());
        let next = self.round.map(|r| r + 1).filter(|r| *r < READ_AFTER_MS.len());
        let again = MomentReadJob { moment_id: id, round: next };
        let at = next.map(|r| now + READ_AFTER_MS[r]);
        match r {
            MomentRead::Gone => return Ok(JobEnd::Done),
            MomentRead::Running => {
                if let Some(at) = at {
                    enqueue_at(tx, corp, &again, at, now).await?;
                }
            }
            MomentRead::Failed(why) => {
                tx.set_moment_state(corp, id, "failed", None, None, &why, now).await?;
                return Ok(JobEnd::Refused(why));
            }
            MomentRead::Read(moment_id, results) => {
                tx.set_moment_state(corp, id, "posted", None, Some(&moment_id), "", now).await?;
                tx.record_moment_guides(corp, id, &results).await?;
                // Likes and comments keep coming: read on the schedule.
                if let Some(at) = at {
                    enqueue_at(tx, corp, &again, at, now).await?;
                }
            }
        }
        Ok(JobEnd::Done)
    }
}
