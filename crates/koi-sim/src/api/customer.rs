//! Customers (客户) and their follow relations with members.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{page, require_relation, require_staff, ApiError, ApiResult, Ctx};
use crate::world::{Customer, Follow, RemarkRecord, World, AVATAR_PATH};

pub fn follow_user_list(world: &mut World, _ctx: &Ctx) -> ApiResult {
    let users: Vec<&str> = world.staff.iter().filter(|s| s.contact_permission).map(|s| s.userid.as_str()).collect();
    Ok(json!({ "follow_user": users }))
}

pub fn list(world: &mut World, ctx: &Ctx) -> ApiResult {
    let userid = ctx.query("userid").unwrap_or_default();
    require_staff(world, userid)?;
    Ok(json!({ "external_userid": world.customers_of(userid) }))
}

/// A customer as WeCom describes one; `base_url` completes the avatar
/// paths the simulator serves itself.
pub(crate) fn contact_view(c: &Customer, base_url: &str) -> Value {
    let avatar = if c.avatar.starts_with(AVATAR_PATH) { format!("{base_url}{}", c.avatar) } else { c.avatar.clone() };
    let mut v = json!({
        "external_userid": c.external_userid,
        "name": c.name,
        "avatar": avatar,
        "type": c.kind,
        "gender": c.gender,
    });
    if let Some(unionid) = &c.unionid {
        v["unionid"] = unionid.clone().into();
    }
    if let Some(corp) = &c.corp_name {
        v["corp_name"] = corp.clone().into();
        v["corp_full_name"] = corp.clone().into();
    }
    if let Some(position) = &c.position {
        v["position"] = position.clone().into();
    }
    v
}

fn follow_common(userid: &str, f: &Follow) -> Value {
    let mut v = json!({
        "userid": userid,
        "remark": f.remark,
        "description": f.description,
        "createtime": f.createtime,
        "remark_corp_name": f.remark_corp_name,
        "remark_mobiles": f.remark_mobiles,
        "oper_userid": f.oper_userid,
        "add_way": f.add_way,
    });
    if !f.state.is_empty() {
        v["state"] = f.state.clone().into();
    }
    v
}

pub fn get(world: &mut World, ctx: &Ctx) -> ApiResult {
    let ext = ctx.query("external_userid").unwrap_or_default();
    let customer = world
        .customers
        .get(ext)
        .ok_or_else(|| ApiError::new(ErrCode::INVALID_EXTERNAL_USERID, "invalid external_userid"))?;
    let followers: Vec<String> = world.followers.get(ext).map(|s| s.iter().cloned().collect()).unwrap_or_default();
    if followers.is_empty() {
        return Err(ApiError::new(ErrCode::NO_EXTERNAL_CONTACT_RELATION, "not external contact"));
    }
    // WeCom pages follow_user past 500 members.
    let (followers, next) = page(&followers, ctx.query("cursor").unwrap_or_default(), 500)?;
    let follow_user: Vec<Value> = followers
        .iter()
        .filter_map(|userid| {
            let f = world.follows.get(&(userid.clone(), ext.to_owned()))?;
            let mut v = follow_common(userid, f);
            let tags: Vec<Value> = f
                .tags
                .iter()
                .filter_map(|id| world.find_tag(id))
                .map(|(g, t)| json!({ "group_name": g.group_name, "tag_name": t.name, "type": 1, "tag_id": t.id }))
                .collect();
            v["tags"] = tags.into();
            Some(v)
        })
        .collect();
    let mut answer = json!({ "external_contact": contact_view(customer, ctx.base_url), "follow_user": follow_user });
    if !next.is_empty() {
        answer["next_cursor"] = next.into();
    }
    Ok(answer)
}

pub fn batch_get_by_user(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        userid_list: Vec<String>,
        userid: Option<String>,
        cursor: String,
        limit: Option<usize>,
    }
    let mut req: Req = ctx.body()?;
    if let Some(one) = req.userid.take() {
        req.userid_list.push(one);
    }
    if req.userid_list.is_empty() || req.userid_list.len() > 100 {
        return Err(ApiError::param("userid_list must hold 1..=100 userids"));
    }
    let limit = req.limit.unwrap_or(50);
    if limit == 0 || limit > 100 {
        return Err(ApiError::param("limit must be 1..=100"));
    }
    for userid in &req.userid_list {
        require_staff(world, userid)?;
    }
    let pairs: Vec<(String, String)> =
        req.userid_list.iter().flat_map(|u| world.customers_of(u).into_iter().map(move |e| (u.clone(), e))).collect();
    let (items, next) = page(&pairs, &req.cursor, limit)?;
    let list: Vec<Value> = items
        .iter()
        .filter_map(|(userid, ext)| {
            let customer = world.customers.get(ext)?;
            let f = world.follows.get(&(userid.clone(), ext.clone()))?;
            let mut info = follow_common(userid, f);
            info["tag_id"] = f.tags.iter().cloned().collect::<Vec<_>>().into();
            Some(json!({ "external_contact": contact_view(customer, ctx.base_url), "follow_info": info }))
        })
        .collect();
    Ok(json!({ "external_contact_list": list, "next_cursor": next }))
}

pub fn remark(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        userid: String,
        external_userid: String,
        remark: Option<String>,
        description: Option<String>,
        remark_company: Option<String>,
        remark_mobiles: Option<Vec<String>>,
    }
    let req: Req = ctx.body()?;
    require_relation(world, &req.userid, &req.external_userid)?;
    if req.remark.as_deref().is_some_and(|r| r.chars().count() > 20)
        || req.description.as_deref().is_some_and(|d| d.chars().count() > 150)
    {
        return Err(ApiError::new(ErrCode::CONTENT_TOO_LARGE, "remark or description too long"));
    }
    let key = (req.userid.clone(), req.external_userid.clone());
    if let Some(f) = world.follows.get_mut(&key) {
        if let Some(v) = &req.remark {
            f.remark = v.clone();
        }
        if let Some(v) = &req.description {
            f.description = v.clone();
        }
        if let Some(v) = &req.remark_company {
            f.remark_corp_name = v.clone();
        }
        if let Some(v) = &req.remark_mobiles {
            f.remark_mobiles = v.clone();
        }
    }
    let record = RemarkRecord {
        corp_id: world.corp_id.clone(),
        userid: req.userid,
        external_userid: req.external_userid,
        remark: req.remark,
        description: req.description,
        remark_mobiles: req.remark_mobiles,
        at: ctx.now_s,
    };
    world.remark_log.push(record);
    Ok(json!({}))
}

/// `convert_to_openid`: the customer's openid under the corp, the same on
/// every call (derived from the corp and the external_userid). Unknown
/// customers, and WeCom users of other corps (`wo…`, which WeCom does not
/// convert), answer 40096 (the errcode for `wo…` ids is unconfirmed).
pub fn convert_to_openid(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        external_userid: String,
    }
    let req: Req = ctx.body()?;
    if req.external_userid.is_empty() {
        return Err(ApiError::param("external_userid"));
    }
    let wechat_user = world.customers.get(&req.external_userid).is_some_and(|c| c.kind == 1);
    if !wechat_user {
        return Err(ApiError::new(ErrCode::INVALID_EXTERNAL_USERID, "invalid external_userid"));
    }
    let openid = openid_of(&world.corp_id, &req.external_userid);
    world.openids.insert(openid.clone(), req.external_userid);
    Ok(json!({ "openid": openid }))
}

/// 28 characters, `o` and 27 of a digest of (corp, customer): stable, and
/// different for the same customer in another corp, as WeChat's are.
pub(crate) fn openid_of(corp_id: &str, external_userid: &str) -> String {
    use sha2::Digest as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = sha2::Sha256::digest(format!("openid:{corp_id}:{external_userid}").as_bytes());
    std::iter::once('o').chain(digest.iter().take(27).map(|b| ALPHABET[(*b & 63) as usize] as char)).collect()
}
