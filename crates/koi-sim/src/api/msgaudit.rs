//! `msgaudit/get_chat_data`: the session archive, as the archive SDK yields
//! it after decryption (see the crate docs): messages after `seq`, in order.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Ctx};
use crate::world::World;

pub fn get_chat_data(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        seq: i64,
        limit: Option<usize>,
    }
    if !world.chat.archive_enabled {
        return Err(ApiError::new(ErrCode::ARCHIVE_NOT_ENABLED, "msgaudit not enabled for the corp"));
    }
    let req: Req = ctx.body()?;
    let limit = req.limit.unwrap_or(0);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::param("limit must be 1..=1000"));
    }
    if req.seq < 0 {
        return Err(ApiError::param("seq"));
    }
    // Seqs are dense from 1, so the messages after `seq` start at index `seq`.
    let start = usize::try_from(req.seq).unwrap_or(usize::MAX).min(world.chat.archive.len());
    let rows: Vec<Value> = world.chat.archive[start..].iter().take(limit).map(|m| m.to_json()).collect();
    Ok(json!({ "chatdata": rows }))
}
