//! The WeCom server API under `/cgi-bin/`: one front door that checks the
//! access token, the frequency limits and the injected faults the way WeCom
//! does, then hands the request to the module for its resource. Every answer
//! is HTTP 200 with `errcode`/`errmsg` (the 5xx fault aside).

mod auth;
mod contact_way;
mod customer;
mod directory;
mod group;
mod group_welcome;
mod handover;
mod mass;
pub(crate) mod media;
mod message;
mod moment;
mod msgaudit;
pub(crate) mod oauth;
mod statistic;
mod tag;
mod welcome;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use koi_wecom::ErrCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::Limits;
use crate::state::{SimState, TokenCheck};
use crate::world::World;

/// A WeCom error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrCode,
    pub msg: String,
}

impl ApiError {
    pub fn new(code: ErrCode, msg: impl Into<String>) -> Self {
        Self { code, msg: msg.into() }
    }

    pub fn param(msg: impl Into<String>) -> Self {
        Self::new(ErrCode::INVALID_PARAMETER, format!("invalid parameter: {}", msg.into()))
    }
}

pub type ApiResult = Result<Value, ApiError>;

/// What a handler may know about the request besides the corp's world.
pub struct Ctx<'a> {
    pub now_ms: i64,
    pub now_s: i64,
    pub limits: &'a Limits,
    pub base_url: &'a str,
    pub query: &'a HashMap<String, String>,
    /// The request's `Content-Type` (uploads are `multipart/form-data`).
    pub content_type: &'a str,
    body: &'a [u8],
}

impl Ctx<'_> {
    /// The JSON body; WeCom answers 47001 to anything it cannot read.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { self.body };
        serde_json::from_slice(body).map_err(|e| ApiError::new(ErrCode(47001), format!("data format error: {e}")))
    }

    /// The body as sent (an upload's multipart bytes).
    pub fn raw_body(&self) -> &[u8] {
        self.body
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

type Handler = fn(&mut World, &Ctx) -> ApiResult;

/// The path after `/cgi-bin/` of every API the simulator knows.
fn handler(path: &str) -> Option<Handler> {
    Some(match path {
        "externalcontact/add_contact_way" => contact_way::add,
        "externalcontact/get_contact_way" => contact_way::get,
        "externalcontact/list_contact_way" => contact_way::list,
        "externalcontact/update_contact_way" => contact_way::update,
        "externalcontact/del_contact_way" => contact_way::del,
        "externalcontact/get_follow_user_list" => customer::follow_user_list,
        "externalcontact/list" => customer::list,
        "externalcontact/get" => customer::get,
        "externalcontact/batch/get_by_user" => customer::batch_get_by_user,
        "externalcontact/remark" => customer::remark,
        "externalcontact/convert_to_openid" => customer::convert_to_openid,
        "externalcontact/get_corp_tag_list" => tag::list,
        "externalcontact/add_corp_tag" => tag::add,
        "externalcontact/edit_corp_tag" => tag::edit,
        "externalcontact/del_corp_tag" => tag::del,
        "externalcontact/mark_tag" => tag::mark,
        "externalcontact/send_welcome_msg" => welcome::send,
        "externalcontact/add_msg_template" => mass::add,
        "externalcontact/get_groupmsg_task" => mass::task,
        "externalcontact/get_groupmsg_send_result" => mass::send_result,
        "externalcontact/get_groupmsg_list_v2" => mass::list_v2,
        "externalcontact/remind_groupmsg_send" => mass::remind,
        "externalcontact/cancel_groupmsg_send" => mass::cancel,
        "externalcontact/groupchat/list" => group::list,
        "externalcontact/groupchat/get" => group::get,
        "externalcontact/groupchat/add_join_way" => group::add_join_way,
        "externalcontact/groupchat/get_join_way" => group::get_join_way,
        "externalcontact/groupchat/update_join_way" => group::update_join_way,
        "externalcontact/groupchat/del_join_way" => group::del_join_way,
        "externalcontact/groupchat/statistic" => statistic::by_owner,
        "externalcontact/groupchat/statistic_group_by_day" => statistic::by_day,
        "externalcontact/get_user_behavior_data" => statistic::user_behavior,
        "externalcontact/add_moment_task" => moment::add,
        "externalcontact/get_moment_task_result" => moment::result,
        "externalcontact/get_moment_task" => moment::task,
        "externalcontact/get_moment_list" => moment::list,
        "externalcontact/get_moment_comments" => moment::comments,
        "externalcontact/transfer_customer" => handover::transfer,
        "externalcontact/transfer_result" => handover::result,
        "externalcontact/resigned/transfer_customer" => handover::resigned_transfer,
        "externalcontact/resigned/transfer_result" => handover::resigned_result,
        "externalcontact/groupchat/transfer" => handover::group_transfer,
        "externalcontact/groupchat/onjob_transfer" => handover::group_onjob_transfer,
        "externalcontact/group_welcome_template/add" => group_welcome::add,
        "externalcontact/group_welcome_template/edit" => group_welcome::edit,
        "externalcontact/group_welcome_template/get" => group_welcome::get,
        "externalcontact/group_welcome_template/del" => group_welcome::del,
        "msgaudit/get_chat_data" => msgaudit::get_chat_data,
        "message/send" => message::send,
        "department/list" => directory::department_list,
        "user/simplelist" => directory::user_simplelist,
        "user/get" => directory::user_get,
        "auth/getuserinfo" => oauth::getuserinfo,
        "media/upload" => media::upload,
        "media/uploadimg" => media::upload_image,
        "get_jsapi_ticket" => media::jsapi_ticket,
        "ticket/get" => media::agent_ticket,
        _ => return None,
    })
}

fn answer(result: ApiResult) -> Response {
    let mut map = Map::new();
    match result {
        Ok(value) => {
            map.insert("errcode".into(), 0.into());
            map.insert("errmsg".into(), "ok".into());
            if let Value::Object(fields) = value {
                map.extend(fields);
            }
        }
        Err(error) => {
            map.insert("errcode".into(), error.code.0.into());
            map.insert("errmsg".into(), error.msg.into());
        }
    }
    Json(Value::Object(map)).into_response()
}

fn error(code: ErrCode, msg: &str) -> Response {
    answer(Err(ApiError::new(code, msg)))
}

/// `GET|POST /cgi-bin/{*path}`.
pub async fn cgi(
    State(state): State<Arc<SimState>>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if path == "gettoken" {
        return auth::gettoken(&state, &query).await;
    }
    let Some(handler) = handler(&path) else {
        return error(ErrCode::API_NOT_PERMITTED, "api forbidden: unknown api");
    };
    let Some(token) = query.get("access_token").filter(|t| !t.is_empty()) else {
        return error(ErrCode::MISSING_ACCESS_TOKEN, "access_token missing");
    };
    let corp = match state.check_token(token) {
        TokenCheck::Valid(index) => match state.corps.get(index) {
            Some(corp) => corp.clone(),
            None => return error(ErrCode::INVALID_ACCESS_TOKEN, "invalid access_token"),
        },
        TokenCheck::Expired => return error(ErrCode::ACCESS_TOKEN_EXPIRED, "access_token expired"),
        TokenCheck::Invalid => return error(ErrCode::INVALID_ACCESS_TOKEN, "invalid access_token"),
    };
    let faults = corp.faults();
    if faults.api_latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.api_latency_ms)).await;
    }
    if state.chance(faults.early_token_expiry_rate) {
        state.expire_token(token);
        return error(ErrCode::ACCESS_TOKEN_EXPIRED, "access_token expired");
    }
    if !state.admit(&corp, &path) {
        return error(ErrCode::FREQUENCY_LIMITED, "api freq out of limit");
    }
    if state.chance(faults.error_rate_busy) {
        return error(ErrCode::BUSY, "system busy");
    }
    if state.chance(faults.error_rate_5xx) {
        return (StatusCode::BAD_GATEWAY, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response();
    }
    if state.chance(faults.error_rate_45009) {
        return error(ErrCode::FREQUENCY_LIMITED, "api freq out of limit");
    }
    let now_ms = state.clock.now_ms();
    let ctx = Ctx {
        now_ms,
        now_s: now_ms.div_euclid(1000),
        limits: &state.limits,
        base_url: state.base_url(),
        query: &query,
        content_type: headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default(),
        body: &body,
    };
    let result = state.act(&corp, |world| handler(world, &ctx));
    if let Err(e) = &result {
        tracing::debug!(corp = %corp.corp_id, %path, errcode = e.code.0, errmsg = %e.msg, "api error");
    }
    if result.is_ok() && corp.lose_answer(&path) {
        return (StatusCode::BAD_GATEWAY, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response();
    }
    answer(result)
}

// ---- shared validation ----

pub(crate) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A page of `items` after `cursor` (an offset WeCom treats as opaque).
pub(crate) fn page<T: Clone>(items: &[T], cursor: &str, limit: usize) -> Result<(Vec<T>, String), ApiError> {
    let start: usize = if cursor.is_empty() { 0 } else { cursor.parse().map_err(|_| ApiError::param("cursor"))? };
    let end = start.saturating_add(limit).min(items.len());
    let slice = items.get(start.min(items.len())..end).unwrap_or_default().to_vec();
    let next = if end < items.len() { end.to_string() } else { String::new() };
    Ok((slice, next))
}

pub(crate) fn require_staff(world: &World, userid: &str) -> Result<(), ApiError> {
    if world.is_staff(userid) {
        Ok(())
    } else {
        Err(ApiError::new(ErrCode::INVALID_USERID, format!("invalid userid {userid}")))
    }
}

pub(crate) fn require_customer(world: &World, external_userid: &str) -> Result<(), ApiError> {
    if world.customers.contains_key(external_userid) {
        Ok(())
    } else {
        Err(ApiError::new(ErrCode::INVALID_EXTERNAL_USERID, format!("invalid external_userid {external_userid}")))
    }
}

pub(crate) fn require_relation(world: &World, userid: &str, external_userid: &str) -> Result<(), ApiError> {
    require_staff(world, userid)?;
    require_customer(world, external_userid)?;
    if world.has_relation(userid, external_userid) {
        Ok(())
    } else {
        Err(ApiError::new(ErrCode::NO_EXTERNAL_CONTACT_RELATION, "not external contact"))
    }
}

/// Text content and attachments of welcome, mass and moment messages.
pub(crate) fn check_content(text: Option<&str>, max_text: usize, attachments: &[Value]) -> Result<(), ApiError> {
    if text.is_some_and(|t| t.len() > max_text) {
        return Err(ApiError::new(ErrCode::CONTENT_TOO_LARGE, "content size out of limit"));
    }
    if attachments.len() > 9 {
        return Err(ApiError::new(ErrCode::TOO_MANY_ATTACHMENTS, "too many attachments"));
    }
    for a in attachments {
        let kind = a.get("msgtype").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "image" | "link" | "miniprogram" | "video" | "file") || a.get(kind).is_none() {
            return Err(ApiError::param("attachment msgtype"));
        }
        let len = |field: &str| a.get(kind).and_then(|v| v.get(field)).and_then(Value::as_str).map_or(0, str::len);
        let too_long = match kind {
            "link" => len("title") > 128 || len("desc") > 512,
            "miniprogram" => len("title") > 64,
            _ => false,
        };
        if too_long {
            return Err(ApiError::new(ErrCode::CONTENT_TOO_LARGE, "attachment field size out of limit"));
        }
    }
    if text.is_none_or(str::is_empty) && attachments.is_empty() {
        return Err(ApiError::param("text or attachments required"));
    }
    Ok(())
}
