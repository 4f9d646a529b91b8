//! `message/send`: an app message to corp members. Text only in the
//! simulator; content past 2048 bytes is cut, as WeCom does.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, Ctx};
use crate::chat::{AppMessageRecord, SIM_AGENT_ID};
use crate::world::World;

/// WeCom keeps the first 2048 bytes of an app text message.
const MAX_TEXT_BYTES: usize = 2048;
/// Recipients one message may name.
const MAX_USERS: usize = 1000;

pub fn send(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Text {
        content: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        touser: String,
        msgtype: String,
        agentid: i64,
        text: Option<Text>,
    }
    let req: Req = ctx.body()?;
    if req.agentid != SIM_AGENT_ID {
        return Err(ApiError::new(ErrCode::INVALID_AGENTID, "invalid agentid"));
    }
    if req.msgtype != "text" {
        return Err(ApiError::new(ErrCode(40008), "invalid message type (the simulator sends text)"));
    }
    let content = req.text.map(|t| t.content).unwrap_or_default();
    if content.trim().is_empty() {
        return Err(ApiError::new(ErrCode(44004), "empty content"));
    }
    let users: Vec<&str> = req.touser.split('|').filter(|u| !u.is_empty()).collect();
    if users.len() > MAX_USERS {
        return Err(ApiError::new(ErrCode::TOO_MANY_PARAMETERS, "touser exceeds 1000"));
    }
    let (valid, invalid): (Vec<&str>, Vec<&str>) = users.into_iter().partition(|u| world.is_staff(u));
    if valid.is_empty() {
        return Err(ApiError::new(ErrCode::NO_VALID_RECIPIENT, "user & party & tag all invalid"));
    }
    let mut end = content.len().min(MAX_TEXT_BYTES);
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    let msgid = world.alnum(32);
    world.chat.app_messages.push(AppMessageRecord {
        corp_id: world.corp_id.clone(),
        touser: valid.iter().map(|u| u.to_string()).collect(),
        agentid: req.agentid,
        content: content[..end].to_owned(),
        sent_at: ctx.now_s,
    });
    Ok(json!({ "invaliduser": invalid.join("|"), "msgid": msgid }))
}
