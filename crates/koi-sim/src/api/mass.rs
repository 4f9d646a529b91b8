//! Mass messages (群发): koi creates a task; nothing is sent until members
//! confirm in the client (`POST /sim/mass/confirm`), and each customer or
//! group receives only its quota.

use std::collections::BTreeMap;

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_content, page, require_staff, ApiError, ApiResult, Ctx};
use crate::world::{MassRecipient, MassTask, World};

pub fn add(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Text {
        content: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TagFilter {
        group_list: Vec<TagList>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct TagList {
        tag_list: Vec<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        chat_type: Option<String>,
        external_userid: Vec<String>,
        chat_id_list: Vec<String>,
        tag_filter: Option<TagFilter>,
        sender: Option<String>,
        allow_select: bool,
        text: Option<Text>,
        attachments: Vec<Value>,
    }
    let req: Req = ctx.body()?;
    let chat_type = req.chat_type.clone().unwrap_or_else(|| "single".to_owned());
    let text = req.text.map(|t| t.content);
    check_content(text.as_deref(), 4000, &req.attachments)?;
    super::media::check_media(world, ctx.now_s, &req.attachments)?;
    let sender = req.sender.filter(|s| !s.is_empty());
    if let Some(s) = &sender {
        require_staff(world, s)?;
    }
    let mut recipients = Vec::new();
    let mut fail_list = Vec::new();
    match chat_type.as_str() {
        "single" => {
            if req.external_userid.len() > 10_000 {
                return Err(ApiError::new(ErrCode::TOO_MANY_PARAMETERS, "external_userid exceeds 10000"));
            }
            let candidates: Vec<String> = if req.external_userid.is_empty() {
                match &sender {
                    Some(s) => world.customers_of(s),
                    None => world.followers.keys().cloned().collect(),
                }
            } else {
                req.external_userid.clone()
            };
            // Each group of the tag filter must match (AND), any tag within it (OR).
            let groups: Vec<Vec<String>> =
                req.tag_filter.map(|f| f.group_list.into_iter().map(|g| g.tag_list).collect()).unwrap_or_default();
            for ext in candidates {
                let members: Vec<String> = match &sender {
                    Some(s) if world.has_relation(s, &ext) => vec![s.clone()],
                    Some(_) => Vec::new(),
                    None => world.followers.get(&ext).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
                };
                let members: Vec<String> = members
                    .into_iter()
                    .filter(|m| {
                        let tags = world.follows.get(&(m.clone(), ext.clone())).map(|f| &f.tags);
                        groups.iter().all(|g| g.is_empty() || g.iter().any(|t| tags.is_some_and(|set| set.contains(t))))
                    })
                    .collect();
                if members.is_empty() {
                    fail_list.push(ext);
                    continue;
                }
                for userid in members {
                    recipients.push(MassRecipient {
                        external_userid: Some(ext.clone()),
                        chat_id: None,
                        userid,
                        status: 0,
                        send_time: 0,
                    });
                }
            }
        }
        "group" => {
            let Some(s) = &sender else {
                return Err(ApiError::param("sender is required for group messages"));
            };
            if req.chat_id_list.len() > 2000 {
                return Err(ApiError::new(ErrCode::TOO_MANY_PARAMETERS, "chat_id_list exceeds 2000"));
            }
            let chats: Vec<String> = if req.chat_id_list.is_empty() {
                world.groups.values().filter(|g| &g.owner == s).map(|g| g.chat_id.clone()).collect()
            } else {
                req.chat_id_list.clone()
            };
            for chat_id in chats {
                if world.groups.get(&chat_id).is_some_and(|g| &g.owner == s) {
                    recipients.push(MassRecipient {
                        external_userid: None,
                        chat_id: Some(chat_id),
                        userid: s.clone(),
                        status: 0,
                        send_time: 0,
                    });
                } else {
                    fail_list.push(chat_id);
                }
            }
        }
        _ => return Err(ApiError::param("chat_type must be single or group")),
    }
    if recipients.is_empty() {
        return Err(ApiError::new(ErrCode::NO_SENDABLE_CUSTOMERS, "no sendable customers"));
    }
    let _ = req.allow_select;
    let msgid = format!("msg{}", world.alnum(24));
    let members: BTreeMap<String, (u8, i64)> = recipients.iter().map(|r| (r.userid.clone(), (0, 0))).collect();
    let who: Vec<String> = members.keys().cloned().collect();
    world.schedule_confirms(&msgid, &who, ctx.now_s, ctx.limits, false);
    world.mass.insert(
        msgid.clone(),
        MassTask {
            msgid: msgid.clone(),
            chat_type,
            create_time: ctx.now_s,
            sender,
            text,
            attachments: Value::Array(req.attachments),
            members,
            recipients,
            fail_list: fail_list.clone(),
            reminds: Vec::new(),
            cancelled: false,
        },
    );
    Ok(json!({ "msgid": msgid, "fail_list": fail_list }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Query {
    msgid: String,
    userid: Option<String>,
    limit: Option<usize>,
    cursor: String,
}

fn task_of<'a>(world: &'a World, ctx: &Ctx, msgid: &str) -> Result<&'a MassTask, ApiError> {
    let task = world.mass.get(msgid).ok_or_else(|| ApiError::param("msgid"))?;
    if ctx.limits.mass_ready_after_s > 0 && ctx.now_s < task.create_time + ctx.limits.mass_ready_after_s {
        return Err(ApiError::new(ErrCode::GROUP_MSG_NOT_READY, "group msg is not ready, retry later"));
    }
    Ok(task)
}

fn limit(q: &Query, default: usize) -> Result<usize, ApiError> {
    let limit = q.limit.unwrap_or(default);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::param("limit must be 1..=1000"));
    }
    Ok(limit)
}

pub fn task(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: Query = ctx.body()?;
    let task = task_of(world, ctx, &q.msgid)?;
    let rows: Vec<Value> = task
        .members
        .iter()
        .map(|(userid, (status, time))| {
            let mut v = json!({ "userid": userid, "status": status });
            if *status == 2 {
                v["send_time"] = (*time).into();
            }
            v
        })
        .collect();
    let (rows, next) = page(&rows, &q.cursor, limit(&q, 500)?)?;
    Ok(json!({ "task_list": rows, "next_cursor": next }))
}

pub fn send_result(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: Query = ctx.body()?;
    let task = task_of(world, ctx, &q.msgid)?;
    let Some(userid) = q.userid.as_deref().filter(|u| !u.is_empty()) else {
        return Err(ApiError::param("userid required"));
    };
    let rows: Vec<Value> = task
        .recipients
        .iter()
        .filter(|r| r.userid == userid)
        .map(|r| {
            let mut v = json!({ "userid": r.userid, "status": r.status });
            if let Some(ext) = &r.external_userid {
                v["external_userid"] = ext.clone().into();
            }
            if let Some(chat) = &r.chat_id {
                v["chat_id"] = chat.clone().into();
            }
            if r.status == 1 {
                v["send_time"] = r.send_time.into();
            }
            v
        })
        .collect();
    let (rows, next) = page(&rows, &q.cursor, limit(&q, 500)?)?;
    Ok(json!({ "send_list": rows, "next_cursor": next }))
}

/// `get_groupmsg_list_v2`: the tasks created in `[start_time, end_time]`
/// (at most a month apart), of one chat type, by creator when given,
/// newest first, `limit` ≤ 100 a page (50 by default). Every task made
/// through the API is the corp's (`create_type` 0): `filter_type` 1 (made
/// by a member in the client) lists none.
pub fn list_v2(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        chat_type: Option<String>,
        start_time: i64,
        end_time: i64,
        creator: Option<String>,
        filter_type: Option<i64>,
        limit: Option<usize>,
        cursor: String,
    }
    const MONTH_S: i64 = 31 * 86_400;
    let req: Req = ctx.body()?;
    let chat_type = req.chat_type.unwrap_or_else(|| "single".to_owned());
    if chat_type != "single" && chat_type != "group" {
        return Err(ApiError::param("chat_type must be single or group"));
    }
    if req.start_time <= 0 || req.end_time <= 0 || req.end_time < req.start_time {
        return Err(ApiError::param("start_time and end_time required, start before end"));
    }
    if req.end_time - req.start_time > MONTH_S {
        return Err(ApiError::param("the time range exceeds one month"));
    }
    let filter_type = req.filter_type.unwrap_or(2);
    if !(0..=2).contains(&filter_type) {
        return Err(ApiError::param("filter_type must be 0, 1 or 2"));
    }
    let limit = req.limit.unwrap_or(50);
    if limit == 0 || limit > 100 {
        return Err(ApiError::param("limit must be 1..=100"));
    }
    let creator = req.creator.filter(|c| !c.is_empty());
    let mut found: Vec<&MassTask> = world
        .mass
        .values()
        .filter(|t| t.chat_type == chat_type)
        .filter(|t| (req.start_time..=req.end_time).contains(&t.create_time))
        .filter(|t| creator.is_none() || t.sender == creator)
        .filter(|_| filter_type != 1)
        .collect();
    found.sort_by(|a, b| b.create_time.cmp(&a.create_time).then_with(|| a.msgid.cmp(&b.msgid)));
    let rows: Vec<Value> = found
        .into_iter()
        .map(|t| {
            let mut v = json!({
                "msgid": t.msgid,
                "creator": t.sender.clone().unwrap_or_default(),
                "create_type": 0,
                "create_time": t.create_time,
                "attachments": t.attachments,
            });
            if let Some(text) = &t.text {
                v["text"] = json!({ "content": text });
            }
            v
        })
        .collect();
    let (rows, next) = page(&rows, &req.cursor, limit)?;
    Ok(json!({ "group_msg_list": rows, "next_cursor": next }))
}

pub fn remind(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: Query = ctx.body()?;
    let task = world.mass.get_mut(&q.msgid).ok_or_else(|| ApiError::param("msgid"))?;
    task.reminds.retain(|t| ctx.now_s - t < 86_400);
    if task.reminds.len() >= 3 {
        return Err(ApiError::new(ErrCode::REMIND_LIMIT, "remind limit reached for 24 hours"));
    }
    task.reminds.push(ctx.now_s);
    Ok(json!({}))
}

pub fn cancel(world: &mut World, ctx: &Ctx) -> ApiResult {
    let q: Query = ctx.body()?;
    let task = world.mass.get_mut(&q.msgid).ok_or_else(|| ApiError::param("msgid"))?;
    task.cancelled = true;
    Ok(json!({}))
}
