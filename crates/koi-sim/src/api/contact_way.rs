//! 「联系我」 contact ways: the channel live codes koi prints in stores. The
//! QR code URL points back at the simulator (`/sim/qr/{config_id}`) so a test
//! can resolve what a customer scanned.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{chars, page, ApiError, ApiResult, Ctx};
use crate::world::{ContactWay, World};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WayFields {
    config_id: String,
    #[serde(rename = "type")]
    kind: Option<u8>,
    scene: Option<u8>,
    style: Option<u32>,
    remark: Option<String>,
    skip_verify: Option<bool>,
    state: Option<String>,
    user: Option<Vec<String>>,
    party: Option<Vec<u64>>,
    is_temp: Option<bool>,
    expires_in: Option<i64>,
    chat_expires_in: Option<i64>,
    unionid: Option<String>,
    is_exclusive: Option<bool>,
    conclusions: Option<Value>,
}

/// The checks shared by add and update, on the way as it would be saved.
fn validate(world: &World, way: &ContactWay, limits: &crate::config::Limits) -> Result<(), ApiError> {
    if !matches!(way.kind, 1 | 2) {
        return Err(ApiError::param("type"));
    }
    if !matches!(way.scene, 1 | 2) {
        return Err(ApiError::param("scene"));
    }
    if chars(&way.state) > 30 {
        return Err(ApiError::param("state exceeds 30 characters"));
    }
    if chars(&way.remark) > 30 {
        return Err(ApiError::param("remark exceeds 30 characters"));
    }
    if way.kind == 1 && (way.user.len() != 1 || !way.party.is_empty()) {
        return Err(ApiError::param("a single-member way takes exactly one user"));
    }
    if way.user.is_empty() && way.party.is_empty() {
        return Err(ApiError::param("user or party required"));
    }
    if way.user.len() > limits.max_way_members {
        return Err(ApiError::new(ErrCode::TOO_MANY_WAY_MEMBERS, "too many members on a contact way"));
    }
    for userid in &way.user {
        let staff = world
            .staff(userid)
            .ok_or_else(|| ApiError::new(ErrCode::INVALID_USERID, format!("invalid userid {userid}")))?;
        if !staff.contact_permission {
            return Err(ApiError::new(
                ErrCode::MEMBER_NOT_PERMITTED,
                format!("{userid} has no customer contact permission"),
            ));
        }
    }
    if way.is_temp && way.expires_in <= 0 {
        return Err(ApiError::param("expires_in"));
    }
    Ok(())
}

fn apply(way: &mut ContactWay, f: WayFields) {
    if let Some(v) = f.style {
        way.style = v;
    }
    if let Some(v) = f.remark {
        way.remark = v;
    }
    if let Some(v) = f.skip_verify {
        way.skip_verify = v;
    }
    if let Some(v) = f.state {
        way.state = v;
    }
    // user and party overwrite, as WeCom's update does.
    if let Some(v) = f.user {
        way.user = v;
    }
    if let Some(v) = f.party {
        way.party = v;
    }
    if let Some(v) = f.expires_in {
        way.expires_in = v;
    }
    if let Some(v) = f.chat_expires_in {
        way.chat_expires_in = v;
    }
    if let Some(v) = f.unionid {
        way.unionid = v;
    }
    if let Some(v) = f.is_exclusive {
        way.is_exclusive = v;
    }
    if let Some(v) = f.conclusions {
        way.conclusions = v;
    }
}

pub fn add(world: &mut World, ctx: &Ctx) -> ApiResult {
    let f: WayFields = ctx.body()?;
    if world.contact_ways.len() + world.join_ways.len() >= ctx.limits.max_ways {
        return Err(ApiError::new(ErrCode::TOO_MANY_CONTACT_WAYS, "contact way count exceeds the limit"));
    }
    let config_id = world.hex_id(16);
    let mut way = ContactWay {
        config_id: config_id.clone(),
        kind: f.kind.unwrap_or(0),
        scene: f.scene.unwrap_or(0),
        style: 1,
        remark: String::new(),
        skip_verify: true,
        state: String::new(),
        user: Vec::new(),
        party: Vec::new(),
        is_temp: f.is_temp.unwrap_or(false),
        expires_in: 7 * 86_400,
        chat_expires_in: 86_400,
        unionid: String::new(),
        is_exclusive: false,
        conclusions: Value::Null,
        qr_code: String::new(),
        create_time: ctx.now_s,
    };
    apply(&mut way, f);
    validate(world, &way, ctx.limits)?;
    if way.scene == 2 {
        way.qr_code = format!("{}/sim/qr/{config_id}", ctx.base_url);
    }
    let qr_code = way.qr_code.clone();
    world.contact_ways.insert(config_id.clone(), way);
    let mut answer = json!({ "config_id": config_id });
    if !qr_code.is_empty() {
        answer["qr_code"] = qr_code.into();
    }
    Ok(answer)
}

fn config_id(ctx: &Ctx) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Req {
        #[serde(default)]
        config_id: String,
    }
    let req: Req = ctx.body()?;
    Ok(req.config_id)
}

fn view(way: &ContactWay) -> Value {
    let mut v = json!({
        "config_id": way.config_id,
        "type": way.kind,
        "scene": way.scene,
        "style": way.style,
        "remark": way.remark,
        "skip_verify": way.skip_verify,
        "state": way.state,
        "user": way.user,
        "party": way.party,
        "is_temp": way.is_temp,
        "expires_in": way.expires_in,
        "chat_expires_in": way.chat_expires_in,
        "unionid": way.unionid,
        "is_exclusive": way.is_exclusive,
    });
    if !way.qr_code.is_empty() {
        v["qr_code"] = way.qr_code.clone().into();
    }
    if !way.conclusions.is_null() {
        v["conclusions"] = way.conclusions.clone();
    }
    v
}

pub fn get(world: &mut World, ctx: &Ctx) -> ApiResult {
    let id = config_id(ctx)?;
    let way =
        world.contact_ways.get(&id).ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    Ok(json!({ "contact_way": view(way) }))
}

pub fn list(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        start_time: Option<i64>,
        end_time: Option<i64>,
        cursor: String,
        limit: Option<usize>,
    }
    let req: Req = ctx.body()?;
    let limit = req.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::param("limit must be 1..=1000"));
    }
    // WeCom lists the last 90 days by default.
    let end = req.end_time.unwrap_or(ctx.now_s);
    let start = req.start_time.unwrap_or(end - 90 * 86_400);
    let mut ways: Vec<(i64, String)> = world
        .contact_ways
        .values()
        .filter(|w| w.create_time >= start && w.create_time <= end)
        .map(|w| (w.create_time, w.config_id.clone()))
        .collect();
    ways.sort();
    let (items, next) = page(&ways, &req.cursor, limit)?;
    let items: Vec<Value> = items.into_iter().map(|(_, id)| json!({ "config_id": id })).collect();
    Ok(json!({ "contact_way": items, "next_cursor": next }))
}

pub fn update(world: &mut World, ctx: &Ctx) -> ApiResult {
    let f: WayFields = ctx.body()?;
    let mut way = world
        .contact_ways
        .get(&f.config_id)
        .cloned()
        .ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    // Type and scene are fixed at creation.
    if f.kind.is_some_and(|k| k != way.kind) || f.scene.is_some_and(|s| s != way.scene) {
        return Err(ApiError::param("type and scene cannot change"));
    }
    apply(&mut way, f);
    validate(world, &way, ctx.limits)?;
    world.contact_ways.insert(way.config_id.clone(), way);
    Ok(json!({}))
}

pub fn del(world: &mut World, ctx: &Ctx) -> ApiResult {
    let id = config_id(ctx)?;
    world.contact_ways.remove(&id).ok_or_else(|| ApiError::new(ErrCode::INVALID_CONFIG_ID, "invalid config_id"))?;
    Ok(json!({}))
}
