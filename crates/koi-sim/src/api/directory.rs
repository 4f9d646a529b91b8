//! The address book (通讯录): `department/list`, `user/simplelist` and
//! `user/get`, in WeCom's shapes. Departments are the root (id 1) and every
//! department a member belongs to, each directly under the root.

use serde_json::{json, Value};

use super::{ApiError, ApiResult, Ctx};
use crate::world::World;
use koi_wecom::ErrCode;

/// WeCom's "invalid department id" (部门ID不存在).
const INVALID_DEPARTMENT: ErrCode = ErrCode(60123);
/// WeCom's "userid not found" (成员不存在).
const USERID_NOT_FOUND: ErrCode = ErrCode(60111);
const ROOT: u64 = 1;

fn departments(world: &World) -> Vec<u64> {
    let mut ids: Vec<u64> = world.staff.iter().map(|s| s.department).chain([ROOT]).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn department_view(id: u64) -> Value {
    let (name, parent) = if id == ROOT { ("总部".to_owned(), 0) } else { (format!("部门{id}"), ROOT) };
    json!({ "id": id, "name": name, "name_en": "", "department_leader": [], "parentid": parent, "order": id })
}

fn department_id(ctx: &Ctx, name: &str) -> Result<Option<u64>, ApiError> {
    match ctx.query(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::new(INVALID_DEPARTMENT, format!("invalid party id {v}"))),
    }
}

/// GET `department/list?id=`: the department and those below it; all without `id`.
pub fn department_list(world: &mut World, ctx: &Ctx) -> ApiResult {
    let all = departments(world);
    let shown: Vec<u64> = match department_id(ctx, "id")? {
        None | Some(ROOT) => all,
        Some(id) if all.contains(&id) => vec![id],
        Some(id) => return Err(ApiError::new(INVALID_DEPARTMENT, format!("invalid party id {id}"))),
    };
    Ok(json!({ "department": shown.into_iter().map(department_view).collect::<Vec<_>>() }))
}

/// GET `user/simplelist?department_id=&fetch_child=`: the members of a
/// department (and of those below it with `fetch_child=1`).
pub fn user_simplelist(world: &mut World, ctx: &Ctx) -> ApiResult {
    let Some(id) = department_id(ctx, "department_id")? else {
        return Err(ApiError::new(INVALID_DEPARTMENT, "department_id missing"));
    };
    if !departments(world).contains(&id) {
        return Err(ApiError::new(INVALID_DEPARTMENT, format!("invalid party id {id}")));
    }
    let children = ctx.query("fetch_child") == Some("1") && id == ROOT;
    let users: Vec<Value> = world
        .staff
        .iter()
        .filter(|s| children || s.department == id)
        .map(|s| json!({ "userid": s.userid, "name": s.name, "department": [s.department], "open_userid": "" }))
        .collect();
    Ok(json!({ "userlist": users }))
}

/// GET `user/get?userid=`: one member. The mobile stays empty, as WeCom
/// gives it only to apps allowed to read it.
pub fn user_get(world: &mut World, ctx: &Ctx) -> ApiResult {
    let userid = ctx.query("userid").unwrap_or_default();
    let s = world.staff(userid).ok_or_else(|| ApiError::new(USERID_NOT_FOUND, format!("userid not found {userid}")))?;
    Ok(json!({
        "userid": s.userid,
        "name": s.name,
        "department": [s.department],
        "main_department": s.department,
        "position": "",
        "mobile": "",
        "gender": "0",
        "status": 1,
        "enable": 1,
    }))
}
