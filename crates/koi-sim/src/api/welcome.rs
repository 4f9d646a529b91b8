//! `send_welcome_msg`: the welcome code from `add_external_contact` is good
//! once, for 20 s of virtual time.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_content, ApiError, ApiResult, Ctx};
use crate::world::{WelcomeRecord, World};

pub fn send(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Text {
        content: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        welcome_code: String,
        text: Option<Text>,
        attachments: Vec<Value>,
    }
    let req: Req = ctx.body()?;
    if req.welcome_code.is_empty() {
        return Err(ApiError::new(ErrCode::MISSING_WELCOME_CODE, "missing welcome_code"));
    }
    let text = req.text.map(|t| t.content);
    check_content(text.as_deref(), 4000, &req.attachments)?;
    let ttl_ms = ctx.limits.welcome_code_ttl_s * 1000;
    let code = world
        .welcome_codes
        .get_mut(&req.welcome_code)
        .ok_or_else(|| ApiError::new(ErrCode::WELCOME_CODE_INVALID, "invalid welcome_code"))?;
    if code.used {
        return Err(ApiError::new(ErrCode::WELCOME_ALREADY_SENT, "welcome msg already sent or chat started"));
    }
    if ctx.now_ms - code.issued_ms > ttl_ms {
        return Err(ApiError::new(ErrCode::WELCOME_CODE_INVALID, "welcome_code expired"));
    }
    code.used = true;
    let record = WelcomeRecord {
        corp_id: world.corp_id.clone(),
        userid: code.userid.clone(),
        external_userid: code.external_userid.clone(),
        welcome_code: req.welcome_code,
        text,
        attachments: Value::Array(req.attachments),
        sent_at: ctx.now_s,
        latency_ms: ctx.now_ms - code.issued_ms,
    };
    let userid = record.userid.clone();
    world.welcome_log.push(record);
    world.note_message(&userid, ctx.now_s);
    Ok(json!({}))
}
