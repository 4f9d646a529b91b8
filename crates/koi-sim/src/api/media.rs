//! Media (素材) and the JS-SDK's tickets.
//!
//! `media/upload?type=` takes one file in the `multipart/form-data` part
//! `media` and answers a temporary `media_id` that lives 3 days (a message
//! or mass message attaching one past that, or one never made, gets 40007);
//! `media/uploadimg` answers a permanent URL. WeCom's limits: at least 5
//! bytes; image JPG/PNG ≤ 10 MB (uploadimg ≤ 2 MB), voice AMR ≤ 2 MB, video
//! MP4 ≤ 10 MB, file ≤ 20 MB. The format is read from the bytes, not the name.
//!
//! `get_jsapi_ticket` and `ticket/get?type=agent_config` answer a ticket
//! valid 7200 s, the same one until it expires; fetching more than
//! [`crate::config::Limits::jsapi_ticket_per_hour`] (corp) or
//! `agent_ticket_per_hour` (app) times in an hour answers 45009.

use koi_wecom::ErrCode;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Ctx};
use crate::world::{SimMedia, World};

const MIN_BYTES: usize = 5;
const MB: usize = 1024 * 1024;
/// How long a temporary media_id lives.
pub const MEDIA_TTL_S: i64 = 3 * 24 * 3600;
const TICKET_TTL_S: i64 = 7200;

/// One uploaded file: its name, declared type and bytes.
struct Part<'a> {
    filename: String,
    bytes: &'a [u8],
}

pub fn upload(world: &mut World, ctx: &Ctx) -> ApiResult {
    let kind = ctx.query("type").unwrap_or_default();
    let max = match kind {
        "image" | "video" => 10 * MB,
        "voice" => 2 * MB,
        "file" => 20 * MB,
        _ => return Err(ApiError::new(ErrCode::INVALID_MEDIA_TYPE, "invalid media type")),
    };
    let part = media_part(ctx)?;
    let n = part.bytes.len();
    if !(MIN_BYTES..=max).contains(&n) {
        let code = if kind == "image" && n > max { ErrCode::INVALID_IMAGE_SIZE } else { ErrCode::INVALID_FILE_SIZE };
        return Err(ApiError::new(code, format!("invalid file size {n}")));
    }
    let format_ok = match kind {
        "image" => is_jpeg(part.bytes) || is_png(part.bytes),
        "voice" => part.bytes.starts_with(b"#!AMR"),
        "video" => is_mp4(part.bytes),
        _ => true,
    };
    if !format_ok {
        return Err(ApiError::new(ErrCode::INVALID_FILE_TYPE, format!("invalid file type for {kind}")));
    }
    let media_id = format!("3{}", world.alnum(40));
    world.media.insert(
        media_id.clone(),
        SimMedia { kind: kind.to_owned(), filename: part.filename, size: n, created_s: ctx.now_s },
    );
    Ok(json!({ "type": kind, "media_id": media_id, "created_at": ctx.now_s.to_string() }))
}

pub fn upload_image(world: &mut World, ctx: &Ctx) -> ApiResult {
    let part = media_part(ctx)?;
    let n = part.bytes.len();
    if !(MIN_BYTES..=2 * MB).contains(&n) {
        return Err(ApiError::new(ErrCode::INVALID_IMAGE_SIZE, format!("invalid image size {n}")));
    }
    if !(is_jpeg(part.bytes) || is_png(part.bytes)) {
        return Err(ApiError::new(ErrCode::INVALID_FILE_TYPE, "invalid file type for image"));
    }
    let id = world.hex_id(16);
    world.images_uploaded += 1;
    Ok(json!({ "url": format!("{}/sim/media/img/{id}", ctx.base_url.trim_end_matches('/')) }))
}

/// 40007 unless every `media_id` the attachments name (image, video, file)
/// was uploaded and is under 3 days old.
pub(crate) fn check_media(world: &World, now_s: i64, attachments: &[Value]) -> Result<(), ApiError> {
    for a in attachments {
        let kind = a.get("msgtype").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "image" | "video" | "file") {
            continue;
        }
        let Some(id) = a.get(kind).and_then(|v| v.get("media_id")).and_then(Value::as_str) else { continue };
        match world.media.get(id) {
            Some(m) if now_s - m.created_s < MEDIA_TTL_S => {}
            _ => return Err(ApiError::new(ErrCode::INVALID_MEDIA_ID, format!("invalid media_id {id}"))),
        }
    }
    Ok(())
}

pub fn jsapi_ticket(world: &mut World, ctx: &Ctx) -> ApiResult {
    ticket(world, ctx, "corp", ctx.limits.jsapi_ticket_per_hour)
}

pub fn agent_ticket(world: &mut World, ctx: &Ctx) -> ApiResult {
    if ctx.query("type") != Some("agent_config") {
        return Err(ApiError::param("type"));
    }
    ticket(world, ctx, "agent", ctx.limits.agent_ticket_per_hour)
}

fn ticket(world: &mut World, ctx: &Ctx, which: &'static str, per_hour: u32) -> ApiResult {
    let hour = ctx.now_s.div_euclid(3600);
    let count = world.ticket_fetches.entry((which, hour)).or_default();
    *count += 1;
    if *count > per_hour {
        return Err(ApiError::new(ErrCode::FREQUENCY_LIMITED, "api freq out of limit: jsapi ticket"));
    }
    let fresh = world.tickets.get(which).filter(|(_, until)| *until > ctx.now_s).cloned();
    let (ticket, until) = match fresh {
        Some(t) => t,
        None => {
            let t = (world.alnum(64), ctx.now_s + TICKET_TTL_S);
            world.tickets.insert(which, t.clone());
            t
        }
    };
    Ok(json!({ "ticket": ticket, "expires_in": until - ctx.now_s }))
}

fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn is_png(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
}

fn is_mp4(b: &[u8]) -> bool {
    b.get(4..8) == Some(b"ftyp")
}

/// The `media` part of a `multipart/form-data` body (41005 when there is none).
fn media_part<'a>(ctx: &'a Ctx) -> Result<Part<'a>, ApiError> {
    let missing = || ApiError::new(ErrCode::MISSING_MEDIA, "media data missing");
    let boundary = ctx
        .content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(missing)?;
    let delimiter = format!("--{boundary}");
    let body = ctx.raw_body();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let rest_part = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let Some(head_end) = find(rest_part, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest_part[..head_end]).to_string();
        let content = &rest_part[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
        let disposition = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition"));
        let field = |name: &str| {
            disposition.and_then(|d| {
                d.split(';')
                    .find_map(|p| p.trim().strip_prefix(&format!("{name}=")).map(|v| v.trim_matches('"').to_owned()))
            })
        };
        if field("name").as_deref() == Some("media") {
            return Ok(Part { filename: field("filename").unwrap_or_default(), bytes: &content[..end] });
        }
        rest = &content[end..];
    }
    Err(missing())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
