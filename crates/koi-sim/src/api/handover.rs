//! Handover (继承): customers move to another member after a wait unless
//! they refuse; each customer at most twice per 90 days. Group ownership
//! moves at once, with a `change_owner` callback. A resigned handover takes
//! a member who has left the directory (that is what it is for); an on-job
//! handover needs a member who is still there.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{page, require_staff, ApiError, ApiResult, Ctx};
use crate::callback::SimEvent;
use crate::world::{Transfer, World};

#[derive(Deserialize, Default)]
#[serde(default)]
struct TransferReq {
    handover_userid: String,
    takeover_userid: String,
    external_userid: Vec<String>,
    transfer_success_msg: Option<String>,
    cursor: String,
}

fn transfer_customers(world: &mut World, ctx: &Ctx, resigned: bool) -> ApiResult {
    let req: TransferReq = ctx.body()?;
    if !resigned {
        require_staff(world, &req.handover_userid)?;
    }
    require_staff(world, &req.takeover_userid)?;
    if req.external_userid.is_empty() || req.external_userid.len() > 100 {
        return Err(ApiError::param("external_userid must hold 1..=100 ids"));
    }
    if req.transfer_success_msg.as_deref().is_some_and(|m| m.chars().count() > 200) {
        return Err(ApiError::new(ErrCode::CONTENT_TOO_LARGE, "transfer_success_msg too long"));
    }
    let window = ctx.now_s - 90 * 86_400;
    let mut results = Vec::new();
    for ext in &req.external_userid {
        let code = if !world.customers.contains_key(ext) {
            ErrCode::INVALID_EXTERNAL_USERID
        } else if !world.has_relation(&req.handover_userid, ext) {
            ErrCode::NO_EXTERNAL_CONTACT_RELATION
        } else if world.transfers.iter().filter(|t| &t.external_userid == ext && t.create_time > window).count() >= 2 {
            ErrCode::TRANSFER_LIMIT
        } else if world.transfers.iter().any(|t| &t.external_userid == ext && t.status == 2) {
            // Already waiting for a takeover.
            ErrCode::TRANSFER_LIMIT
        } else {
            world.transfers.push(Transfer {
                handover_userid: req.handover_userid.clone(),
                takeover_userid: req.takeover_userid.clone(),
                external_userid: ext.clone(),
                status: 2,
                create_time: ctx.now_s,
                takeover_time: 0,
                resigned,
            });
            ErrCode::OK
        };
        results.push(json!({ "external_userid": ext, "errcode": code.0 }));
    }
    Ok(json!({ "customer": results }))
}

fn transfer_results(world: &mut World, ctx: &Ctx, resigned: bool) -> ApiResult {
    let req: TransferReq = ctx.body()?;
    let rows: Vec<Value> = world
        .transfers
        .iter()
        .filter(|t| t.resigned == resigned)
        .filter(|t| t.handover_userid == req.handover_userid && t.takeover_userid == req.takeover_userid)
        .map(|t| {
            let mut v = json!({ "external_userid": t.external_userid, "status": t.status });
            if t.takeover_time > 0 {
                v["takeover_time"] = t.takeover_time.into();
            }
            v
        })
        .collect();
    let (rows, next) = page(&rows, &req.cursor, 1000)?;
    Ok(json!({ "customer": rows, "next_cursor": next }))
}

pub fn transfer(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_customers(world, ctx, false)
}

pub fn result(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_results(world, ctx, false)
}

pub fn resigned_transfer(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_customers(world, ctx, true)
}

pub fn resigned_result(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_results(world, ctx, true)
}

fn transfer_groups(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        chat_id_list: Vec<String>,
        new_owner: String,
    }
    let req: Req = ctx.body()?;
    require_staff(world, &req.new_owner)?;
    if req.chat_id_list.is_empty() || req.chat_id_list.len() > 100 {
        return Err(ApiError::param("chat_id_list must hold 1..=100 ids"));
    }
    let mut failed = Vec::new();
    for chat_id in &req.chat_id_list {
        match world.groups.get_mut(chat_id) {
            Some(g) => {
                let moved = g.owner != req.new_owner;
                g.owner = req.new_owner.clone();
                g.status = 0;
                if moved {
                    let version = g.member_version.clone();
                    world.outbox.push(SimEvent::ChatUpdate {
                        chat_id: chat_id.clone(),
                        detail: "change_owner".to_owned(),
                        join_scene: None,
                        quit_scene: None,
                        mem_change_list: Vec::new(),
                        last_mem_ver: version.clone(),
                        cur_mem_ver: version,
                    });
                }
            }
            None => failed.push(
                json!({ "chat_id": chat_id, "errcode": ErrCode::INVALID_CHAT_ID.0, "errmsg": "invalid chat_id" }),
            ),
        }
    }
    Ok(json!({ "failed_chat_list": failed }))
}

pub fn group_transfer(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_groups(world, ctx)
}

pub fn group_onjob_transfer(world: &mut World, ctx: &Ctx) -> ApiResult {
    transfer_groups(world, ctx)
}
