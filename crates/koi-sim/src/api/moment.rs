//! Moments (客户朋友圈): an asynchronous job that finishes a virtual second
//! after it is created.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Ctx};
use crate::world::{Moment, World};

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
