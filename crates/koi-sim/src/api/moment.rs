//! Moments (客户朋友圈): an asynchronous job that finishes a virtual second
//! after it is created; each member asked (the senders named, or every
//! member with the customer-contact permission) publishes it from the
//! client — on their own by [`crate::config::Limits::mass_confirm_share`],
//! or through `/sim/moment/publish` — and their customers like and comment.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{page, ApiError, ApiResult, Ctx};
use crate::world::{Moment, MomentCopy, World};

pub fn add(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Text {
        content: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Senders {
        user_list: Vec<String>,
        department_list: Vec<u64>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Contacts {
        tag_list: Vec<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Range {
        sender_list: Senders,
        external_contact_list: Contacts,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        text: Option<Text>,
        attachments: Vec<Value>,
        visible_range: Range,
    }
    let body: Value = ctx.body()?;
    let req: Req = serde_json::from_value(body.clone()).map_err(|e| ApiError::new(ErrCode(47001), e.to_string()))?;
    let text = req.text.map(|t| t.content).unwrap_or_default();
    if text.chars().count() > 2000 {
        return Err(ApiError::new(ErrCode::CONTENT_TOO_LARGE, "content exceeds 2000 characters"));
    }
    let kinds: Vec<&str> =
        req.attachments.iter().map(|a| a.get("msgtype").and_then(Value::as_str).unwrap_or("")).collect();
    let images = kinds.iter().filter(|k| **k == "image").count();
    let valid = match kinds.len() {
        0 => true,
        1 => matches!(kinds[0], "image" | "video" | "link"),
        n => images == n && n <= 9,
    };
    if !valid {
        return Err(ApiError::new(ErrCode::TOO_MANY_ATTACHMENTS, "attachments: up to 9 images, or 1 video, or 1 link"));
    }
    if text.is_empty() && kinds.is_empty() {
        return Err(ApiError::param("text or attachments required"));
    }
    let invalid_users: Vec<String> =
        req.visible_range.sender_list.user_list.iter().filter(|u| !world.is_staff(u)).cloned().collect();
    let invalid_departments: Vec<u64> = req
        .visible_range
        .sender_list
        .department_list
        .iter()
        .filter(|d| !world.staff.iter().any(|s| s.department == **d))
        .copied()
        .collect();
    let invalid_tags: Vec<String> = req
        .visible_range
        .external_contact_list
        .tag_list
        .iter()
        .filter(|t| world.find_tag(t).is_none())
        .cloned()
        .collect();
    let jobid = world.alnum(32);
    let moment_id = format!("mom{}", world.alnum(24));
    let named = &req.visible_range.sender_list;
    let mut members: Vec<String> = world
        .staff
        .iter()
        .filter(|s| s.contact_permission)
        .filter(|s| {
            (named.user_list.is_empty() && named.department_list.is_empty())
                || named.user_list.contains(&s.userid)
                || named.department_list.contains(&s.department)
        })
        .map(|s| s.userid.clone())
        .collect();
    members.sort();
    members.dedup();
    world.schedule_confirms(&jobid, &members, ctx.now_s, ctx.limits, true);
    let tags: Vec<String> = req
        .visible_range
        .external_contact_list
        .tag_list
        .iter()
        .filter(|t| world.find_tag(t).is_some())
        .cloned()
        .collect();
    world.moments.insert(
        jobid.clone(),
        Moment {
            jobid: jobid.clone(),
            moment_id,
            create_ms: ctx.now_ms,
            invalid_users,
            invalid_departments,
            invalid_tags,
            body,
            tags,
            members: members.into_iter().map(|m| (m, MomentCopy::default())).collect(),
        },
    );
    Ok(json!({ "jobid": jobid }))
}

pub fn result(world: &mut World, ctx: &Ctx) -> ApiResult {
    let jobid = ctx.query("jobid").unwrap_or_default();
    let m = world.moments.get(jobid).ok_or_else(|| ApiError::param("jobid"))?;
    if ctx.now_ms - m.create_ms < 1000 {
        return Ok(json!({ "status": 2, "type": "add_moment_task" }));
    }
    Ok(json!({
        "status": 3,
        "type": "add_moment_task",
        "result": {
            "errcode": 0,
            "errmsg": "ok",
            "moment_id": m.moment_id,
            "invalid_sender_list": { "user_list": m.invalid_users, "department_list": m.invalid_departments },
            "invalid_external_contact_list": { "tag_list": m.invalid_tags },
        }
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ByMoment {
    moment_id: String,
    userid: String,
    cursor: String,
    limit: Option<usize>,
    start_time: i64,
    end_time: i64,
    creator: String,
}

fn by_moment_id<'a>(world: &'a World, moment_id: &str) -> Result<&'a Moment, ApiError> {
    world
        .moments
        .values()
        .find(|m| m.moment_id == moment_id)
        .ok_or_else(|| ApiError::param("moment_id"))
}

/// POST `get_moment_task {moment_id, cursor, limit}`: the members asked to
/// publish it, `publish_status` 0 not yet / 1 published.
pub fn task(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: ByMoment = ctx.body()?;
    let m = by_moment_id(world, &q.moment_id)?;
    let limit = q.limit.unwrap_or(500);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::param("limit must be 1..=1000"));
    }
    let rows: Vec<Value> = m
        .members
        .iter()
        .map(|(u, c)| json!({ "userid": u, "publish_status": i32::from(c.published) }))
        .collect();
    let (rows, next) = page(&rows, &q.cursor, limit)?;
    Ok(json!({ "task_list": rows, "next_cursor": next }))
}

/// POST `get_moment_list {start_time, end_time, creator, filter_type, cursor,
/// limit ≤100}`: enterprise moments created in the range (seconds, at most
/// 30 days); with `creator`, those that member published.
pub fn list(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: ByMoment = ctx.body()?;
    if q.end_time < q.start_time || q.end_time - q.start_time > 30 * 86_400 {
        return Err(ApiError::param("the time range must be at most 30 days"));
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 100 {
        return Err(ApiError::param("limit must be 1..=100"));
    }
    let mut found: Vec<&Moment> = world
        .moments
        .values()
        .filter(|m| (q.start_time..=q.end_time).contains(&m.create_ms.div_euclid(1000)))
        .filter(|m| q.creator.is_empty() || m.members.get(&q.creator).is_some_and(|c| c.published))
        .collect();
    found.sort_by(|a, b| (a.create_ms, &a.moment_id).cmp(&(b.create_ms, &b.moment_id)));
    let rows: Vec<Value> = found
        .iter()
        .map(|m| {
            let text = m.body.get("text").cloned().unwrap_or(Value::Null);
            json!({ "moment_id": m.moment_id, "creator": "", "create_time": m.create_ms.div_euclid(1000),
                "create_type": 0, "visible_type": 1, "text": text })
        })
        .collect();
    let (rows, next) = page(&rows, &q.cursor, limit)?;
    Ok(json!({ "moment_list": rows, "next_cursor": next }))
}

/// POST `get_moment_comments {moment_id, userid}`: the likes and comments on
/// a member's copy.
pub fn comments(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: ByMoment = ctx.body()?;
    let m = by_moment_id(world, &q.moment_id)?;
    let copy = m.members.get(&q.userid).ok_or_else(|| ApiError::param("userid"))?;
    let rows = |list: &[String]| -> Vec<Value> {
        list.iter().map(|e| json!({ "external_userid": e, "create_time": copy.publish_time })).collect()
    };
    Ok(json!({ "comment_list": rows(&copy.comments), "like_list": rows(&copy.likes) }))
}
