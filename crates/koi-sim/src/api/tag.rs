//! Corp tags (企业标签) and marking customers with them. API changes fire no
//! `change_external_tag` callback, as the contract says.

use koi_wecom::ErrCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{chars, require_relation, ApiError, ApiResult, Ctx};
use crate::world::{Tag, TagGroup, TagMarkRecord, World};

fn tag_view(t: &Tag) -> Value {
    json!({ "id": t.id, "name": t.name, "create_time": t.create_time, "order": t.order, "deleted": false })
}

fn group_view(g: &TagGroup, tags: &[&Tag]) -> Value {
    json!({
        "group_id": g.group_id,
        "group_name": g.group_name,
        "create_time": g.create_time,
        "order": g.order,
        "deleted": false,
        "tag": tags.iter().map(|t| tag_view(t)).collect::<Vec<_>>(),
    })
}

pub fn list(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        tag_id: Vec<String>,
        group_id: Vec<String>,
    }
    let req: Req = ctx.body()?;
    let groups: Vec<Value> = world
        .tag_groups
        .iter()
        .filter_map(|g| {
            // group_id wins over tag_id when both are given.
            let tags: Vec<&Tag> = if !req.group_id.is_empty() {
                if !req.group_id.contains(&g.group_id) {
                    return None;
                }
                g.tags.iter().collect()
            } else if !req.tag_id.is_empty() {
                let tags: Vec<&Tag> = g.tags.iter().filter(|t| req.tag_id.contains(&t.id)).collect();
                if tags.is_empty() {
                    return None;
                }
                tags
            } else {
                g.tags.iter().collect()
            };
            Some(group_view(g, &tags))
        })
        .collect();
    Ok(json!({ "tag_group": groups }))
}

pub fn add(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct NewTag {
        name: String,
        order: u32,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        group_id: Option<String>,
        group_name: Option<String>,
        order: u32,
        tag: Vec<NewTag>,
    }
    let req: Req = ctx.body()?;
    if req.tag.is_empty() {
        return Err(ApiError::param("tag required"));
    }
    for t in &req.tag {
        if t.name.trim().is_empty() || chars(&t.name) > 30 {
            return Err(ApiError::param("tag name must be 1..=30 characters"));
        }
    }
    if world.tag_count() + req.tag.len() > ctx.limits.max_corp_tags {
        return Err(ApiError::new(ErrCode::TOO_MANY_CORP_TAGS, "corp tag count exceeds the limit"));
    }
    let index = match (&req.group_id, &req.group_name) {
        (Some(id), _) if !id.is_empty() => world
            .tag_groups
            .iter()
            .position(|g| &g.group_id == id)
            .ok_or_else(|| ApiError::new(ErrCode::INVALID_TAG, "invalid tag group id"))?,
        (_, Some(name)) if !name.trim().is_empty() => {
            if chars(name) > 30 {
                return Err(ApiError::param("group_name exceeds 30 characters"));
            }
            match world.tag_groups.iter().position(|g| &g.group_name == name) {
                Some(i) => i,
                None => {
                    let group_id = format!("et{}", world.alnum(30));
                    world.tag_groups.push(TagGroup {
                        group_id,
                        group_name: name.clone(),
                        create_time: ctx.now_s,
                        order: req.order,
                        tags: Vec::new(),
                    });
                    world.tag_groups.len() - 1
                }
            }
        }
        _ => return Err(ApiError::param("group_id or group_name required")),
    };
    for (i, t) in req.tag.iter().enumerate() {
        let clash = world.tag_groups[index].tags.iter().any(|x| x.name == t.name)
            || req.tag[..i].iter().any(|x| x.name == t.name);
        if clash {
            return Err(ApiError::new(ErrCode::TAG_NAME_EXISTS, format!("tag name {} exists", t.name)));
        }
    }
    let mut created = Vec::new();
    for t in req.tag {
        let id = format!("et{}", world.alnum(30));
        created.push(Tag { id, name: t.name, create_time: ctx.now_s, order: t.order });
    }
    let group = &mut world.tag_groups[index];
    group.tags.extend(created.iter().cloned());
    let refs: Vec<&Tag> = created.iter().collect();
    Ok(json!({ "tag_group": group_view(group, &refs) }))
}

pub fn edit(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        id: String,
        name: Option<String>,
        order: Option<u32>,
    }
    let req: Req = ctx.body()?;
    if let Some(name) = &req.name {
        if name.trim().is_empty() || chars(name) > 30 {
            return Err(ApiError::param("name must be 1..=30 characters"));
        }
    }
    if let Some(g) = world.tag_groups.iter().position(|g| g.group_id == req.id) {
        if let Some(name) = &req.name {
            if world.tag_groups.iter().any(|x| &x.group_name == name && x.group_id != req.id) {
                return Err(ApiError::new(ErrCode::TAG_NAME_EXISTS, "tag group name exists"));
            }
        }
        let group = &mut world.tag_groups[g];
        if let Some(name) = req.name {
            group.group_name = name;
        }
        if let Some(order) = req.order {
            group.order = order;
        }
        return Ok(json!({}));
    }
    for group in &mut world.tag_groups {
        if let Some(i) = group.tags.iter().position(|t| t.id == req.id) {
            if let Some(name) = &req.name {
                if group.tags.iter().any(|t| &t.name == name && t.id != req.id) {
                    return Err(ApiError::new(ErrCode::TAG_NAME_EXISTS, "tag name exists"));
                }
            }
            let tag = &mut group.tags[i];
            if let Some(name) = req.name {
                tag.name = name;
            }
            if let Some(order) = req.order {
                tag.order = order;
            }
            return Ok(json!({}));
        }
    }
    Err(ApiError::new(ErrCode::INVALID_TAG, "invalid tag id"))
}

pub fn del(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        tag_id: Vec<String>,
        group_id: Vec<String>,
    }
    let req: Req = ctx.body()?;
    if req.tag_id.is_empty() && req.group_id.is_empty() {
        return Err(ApiError::param("tag_id or group_id required"));
    }
    for id in &req.tag_id {
        if world.find_tag(id).is_none() {
            return Err(ApiError::new(ErrCode::INVALID_TAG, format!("invalid tag id {id}")));
        }
    }
    for id in &req.group_id {
        if !world.tag_groups.iter().any(|g| &g.group_id == id) {
            return Err(ApiError::new(ErrCode::INVALID_TAG, format!("invalid tag group id {id}")));
        }
    }
    let mut gone: Vec<String> = req.tag_id.clone();
    for g in world.tag_groups.iter().filter(|g| req.group_id.contains(&g.group_id)) {
        gone.extend(g.tags.iter().map(|t| t.id.clone()));
    }
    world.tag_groups.retain(|g| !req.group_id.contains(&g.group_id));
    for g in &mut world.tag_groups {
        g.tags.retain(|t| !gone.contains(&t.id));
    }
    // A group whose last tag goes is deleted with it.
    world.tag_groups.retain(|g| !g.tags.is_empty());
    for f in world.follows.values_mut() {
        f.tags.retain(|t| !gone.contains(t));
    }
    Ok(json!({}))
}

pub fn mark(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        userid: String,
        external_userid: String,
        add_tag: Vec<String>,
        remove_tag: Vec<String>,
    }
    let req: Req = ctx.body()?;
    if req.add_tag.is_empty() && req.remove_tag.is_empty() {
        return Err(ApiError::param("add_tag and remove_tag cannot both be empty"));
    }
    require_relation(world, &req.userid, &req.external_userid)?;
    for id in req.add_tag.iter().chain(&req.remove_tag) {
        if world.find_tag(id).is_none() {
            return Err(ApiError::new(ErrCode::INVALID_TAG, format!("invalid tag id {id}")));
        }
    }
    if let Some(f) = world.follows.get_mut(&(req.userid.clone(), req.external_userid.clone())) {
        f.tags.extend(req.add_tag.iter().cloned());
        for id in &req.remove_tag {
            f.tags.remove(id);
        }
    }
    let record = TagMarkRecord {
        corp_id: world.corp_id.clone(),
        userid: req.userid,
        external_userid: req.external_userid,
        add_tag: req.add_tag,
        remove_tag: req.remove_tag,
        at: ctx.now_s,
    };
    world.tag_log.push(record);
    Ok(json!({}))
}
