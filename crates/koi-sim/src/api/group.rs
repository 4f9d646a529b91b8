//! Customer groups (客户群) and their join ways (「加入群聊」). Joining and
//! room rotation happen when customers scan (`POST /sim/join`); the API only
//! reads groups and manages ways.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{chars, page, ApiError, ApiResult, Ctx};
use crate::world::{JoinWay, World};

pub fn list(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Owners {
        userid_list: Vec<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        status_filter: u8,
        owner_filter: Option<Owners>,
        cursor: String,
        limit: Option<usize>,
    }
    let req: Req = ctx.body()?;
    let limit = req.limit.unwrap_or(0);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::param("limit must be 1..=1000"));
    }
    let owners = req.owner_filter.map(|o| o.userid_list).unwrap_or_default();
    if owners.len() > 100 {
        return Err(ApiError::param("owner_filter.userid_list exceeds 100"));
    }
    let rows: Vec<Value> = world
        .groups
        .values()
        .filter(|g| req.status_filter == 0 || g.status == req.status_filter)
        .filter(|g| owners.is_empty() || owners.contains(&g.owner))
        .map(|g| json!({ "chat_id": g.chat_id, "status": g.status }))
        .collect();
    let (rows, next) = page(&rows, &req.cursor, limit)?;
    Ok(json!({ "group_chat_list": rows, "next_cursor": next }))
}

pub fn get(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        chat_id: String,
        need_name: u8,
    }
    let req: Req = ctx.body()?;
    let g = world.groups.get(&req.chat_id).ok_or_else(|| ApiError::new(ErrCode::INVALID_CHAT_ID, "invalid chat_id"))?;
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|m| {
            let mut v = json!({
                "userid": m.userid,
                "type": m.kind,
                "join_time": m.join_time,
                "join_scene": m.join_scene,
                "group_nickname": m.group_nickname,
            });
            if let Some(u) = &m.unionid {
                v["unionid"] = u.clone().into();
            }
            if let Some(i) = &m.invitor {
                v["invitor"] = json!({ "userid": i });
            }
            if req.need_name == 1 {
                v["name"] = m.name.clone().into();
            }
            if let Some(s) = &m.state {
                v["state"] = s.clone().into();
            }
            v
        })
        .collect();
    let admins: Vec<Value> = g.admin_list.iter().map(|a| json!({ "userid": a })).collect();
    Ok(json!({ "group_chat": {
        "chat_id": g.chat_id,
        "name": g.name,
        "owner": g.owner,
        "create_time": g.create_time,
        "notice": g.notice,
        "member_list": members,
        "admin_list": admins,
        "member_version": g.member_version,
    }}))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JoinWayFields {
    config_id: String,
    scene: Option<u8>,
    remark: Option<String>,
    auto_create_room: Option<u8>,
    room_base_name: Option<String>,
    room_base_id: Option<u64>,
    chat_id_list: Option<Vec<String>>,
    state: Option<String>,
}

/// A join way exactly as `f` configures it: `add_join_way` and
/// `update_join_way` both take the whole configuration, and what is left out
/// takes its default (auto_create_room 1, the rest empty).
fn configured(config_id: String, qr_code: String, create_time: i64, f: JoinWayFields) -> JoinWay {
    let room_base_id = f.room_base_id.unwrap_or(0);
    JoinWay {
        config_id,
        scene: f.scene.unwrap_or(0),
        remark: f.remark.unwrap_or_default(),
        auto_create_room: f.auto_create_room.is_none_or(|v| v == 1),
        room_base_name: f.room_base_name.unwrap_or_default(),
        room_base_id,
        chat_id_list: f.chat_id_list.unwrap_or_default(),
        state: f.state.unwrap_or_default(),
        qr_code,
        next_room_id: room_base_id,
        create_time,
    }
}

fn validate(world: &World, way: &JoinWay) -> Result<(), ApiError> {
    if !matches!(way.scene, 1 | 2) {
        return Err(ApiError::param("scene"));
    }
    if chars(&way.state) > 30 {
        return Err(ApiError::param("state exceeds 30 characters"));
    }
    if chars(&way.remark) > 30 {
        return Err(ApiError::param("remark exceeds 30 characters"));
    }
    if chars(&way.room_base_name) > 40 {
        return Err(ApiError::param("room_base_name exceeds 40 characters"));
    }
    if way.chat_id_list.is_empty() {
        return Err(ApiError::param("chat_id_list required"));
    }
    if way.chat_id_list.len() > 5 {
        return Err(ApiError::new(ErrCode::TOO_MANY_JOIN_WAY_CHATS, "chat_id_list exceeds 5"));
    }
    if way.auto_create_room && way.room_base_name.is_empty() {
        return Err(ApiError::param("room_base_name required with auto_create_room"));
    }
    for id in &way.chat_id_list {
        if !world.groups.contains_key(id) {
            return Err(ApiError::new(ErrCode::INVALID_CHAT_ID, format!("invalid chat_id {id}")));
        }
    }
    Ok(())
}

pub fn add_join_way(world: &mut World, ctx: &Ctx) -> ApiResult {
    let f: JoinWayFields = ctx.body()?;
    if world.contact_ways.len() + world.join_ways.len() >= ctx.limits.max_ways {
        return Err(ApiError::new(ErrCode::TOO_MANY_CONTACT_WAYS, "way count exceeds the limit"));
    }
    let config_id = world.hex_id(16);
    let qr_code = format!("{}/sim/qr/{config_id}", ctx.base_url);
    let way = configured(config_id.clone(), qr_code, ctx.now_s, f);
    validate(world, &way)?;
    world.join_ways.insert(config_id.clone(), way);
    Ok(json!({ "config_id": config_id }))
}

fn config_id(ctx: &Ctx) -> Result<String, ApiError> {
    let f: JoinWayFields = ctx.body()?;
    Ok(f.config_id)
}

pub fn get_join_way(world: &mut World, ctx: &Ctx) -> ApiResult {
    let id = config_id(ctx)?;
    let w = world.join_ways.get(&id).ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    Ok(json!({ "join_way": {
        "config_id": w.config_id,
        "scene": w.scene,
        "remark": w.remark,
        "auto_create_room": u8::from(w.auto_create_room),
        "room_base_name": w.room_base_name,
        "room_base_id": w.room_base_id,
        "chat_id_list": w.chat_id_list,
        "qr_code": w.qr_code,
        "state": w.state,
    }}))
}

pub fn update_join_way(world: &mut World, ctx: &Ctx) -> ApiResult {
    let f: JoinWayFields = ctx.body()?;
    let old = world
        .join_ways
        .get(&f.config_id)
        .cloned()
        .ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    // The update overwrites the configuration; the QR code stays, and so does
    // the room numbering while the room base is unchanged.
    let mut way = configured(old.config_id, old.qr_code, old.create_time, f);
    if way.room_base_name == old.room_base_name && way.room_base_id == old.room_base_id {
        way.next_room_id = old.next_room_id;
    }
    validate(world, &way)?;
    world.join_ways.insert(way.config_id.clone(), way);
    Ok(json!({}))
}

pub fn del_join_way(world: &mut World, ctx: &Ctx) -> ApiResult {
    let id = config_id(ctx)?;
    world.join_ways.remove(&id).ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    Ok(json!({}))
}
