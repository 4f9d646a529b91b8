//! Group welcome templates (`group_welcome_template/add|edit|get|del`):
//! text ≤4000 bytes and at most one image, link or mini-program. Which
//! template greets a group is the owner's choice in the client
//! (`POST /sim/group/welcome`), not an API.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_content, ApiError, ApiResult, Ctx};
use crate::chat::GroupWelcomeTemplate;
use crate::world::World;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Body {
    template_id: String,
    text: Option<Value>,
    image: Option<Value>,
    link: Option<Value>,
    miniprogram: Option<Value>,
    video: Option<Value>,
    file: Option<Value>,
}

/// Checks the content the way `check_content` checks a welcome message:
/// the single attachment becomes its one-element list.
fn check(b: &Body) -> Result<(), ApiError> {
    let text = match &b.text {
        None => None,
        Some(t) => Some(t.get("content").and_then(Value::as_str).ok_or_else(|| ApiError::param("text.content"))?),
    };
    let parts = [
        ("image", &b.image),
        ("link", &b.link),
        ("miniprogram", &b.miniprogram),
        ("video", &b.video),
        ("file", &b.file),
    ];
    let attachments: Vec<Value> =
        parts.iter().filter_map(|(kind, v)| v.as_ref().map(|v| json!({ "msgtype": kind, *kind: v }))).collect();
    if attachments.len() > 1 {
        return Err(ApiError::param("a template carries one attachment at most"));
    }
    if let Some(l) = &b.link {
        if l.get("url").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::param("link.url required"));
        }
    }
    if let Some(m) = &b.miniprogram {
        if ["appid", "page"].iter().any(|f| m.get(*f).and_then(Value::as_str).is_none_or(str::is_empty)) {
            return Err(ApiError::param("miniprogram.appid and page required"));
        }
    }
    check_content(text, 4000, &attachments)
}

fn stored(b: Body, template_id: String, create_time: i64) -> GroupWelcomeTemplate {
    GroupWelcomeTemplate {
        template_id,
        text: b.text,
        image: b.image,
        link: b.link,
        miniprogram: b.miniprogram,
        create_time,
    }
}

fn unknown() -> ApiError {
    ApiError::param("template_id")
}

pub fn add(world: &mut World, ctx: &Ctx) -> ApiResult {
    let b: Body = ctx.body()?;
    check(&b)?;
    let template_id = format!("msg{}", world.alnum(24));
    let t = stored(b, template_id.clone(), ctx.now_s);
    world.chat.templates.insert(template_id.clone(), t);
    Ok(json!({ "template_id": template_id }))
}

pub fn edit(world: &mut World, ctx: &Ctx) -> ApiResult {
    let b: Body = ctx.body()?;
    let Some(old) = world.chat.templates.get(&b.template_id) else {
        return Err(unknown());
    };
    check(&b)?;
    let (id, created) = (b.template_id.clone(), old.create_time);
    world.chat.templates.insert(id.clone(), stored(b, id, created));
    Ok(json!({}))
}

pub fn get(world: &mut World, ctx: &Ctx) -> ApiResult {
    let b: Body = ctx.body()?;
    let t = world.chat.templates.get(&b.template_id).ok_or_else(unknown)?;
    let mut v = json!({});
    for (k, part) in [("text", &t.text), ("image", &t.image), ("link", &t.link), ("miniprogram", &t.miniprogram)] {
        if let Some(p) = part {
            v[k] = p.clone();
        }
    }
    Ok(v)
}

pub fn del(world: &mut World, ctx: &Ctx) -> ApiResult {
    let b: Body = ctx.body()?;
    world.chat.templates.remove(&b.template_id).ok_or_else(unknown)?;
    world.chat.bindings.retain(|_, t| *t != b.template_id);
    Ok(json!({}))
}
