//! Statistics computed from the simulated state: group statistics per owner
//! or per day, and member behaviour per day (Asia/Shanghai days).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{require_staff, ApiError, ApiResult, Ctx};
use crate::clock::{shanghai_day, shanghai_day_start};
use crate::world::{Group, World};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Owners {
    userid_list: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GroupReq {
    day_begin_time: i64,
    day_end_time: Option<i64>,
    owner_filter: Option<Owners>,
    order_by: Option<u8>,
    order_asc: Option<u8>,
    offset: usize,
    limit: Option<usize>,
}

#[derive(Default, Clone, Copy)]
struct GroupData {
    new_chat_cnt: u64,
    chat_total: u64,
    new_member_cnt: u64,
    member_total: u64,
}

impl GroupData {
    fn add(&mut self, g: &Group, from: i64, to: i64) {
        if g.create_time >= to {
            return;
        }
        self.chat_total += 1;
        if g.create_time >= from {
            self.new_chat_cnt += 1;
        }
        let present = g.members.iter().filter(|m| m.join_time < to);
        for m in present {
            self.member_total += 1;
            if m.join_time >= from {
                self.new_member_cnt += 1;
            }
        }
    }

    fn json(&self) -> Value {
        json!({
            "new_chat_cnt": self.new_chat_cnt,
            "chat_total": self.chat_total,
            "chat_has_msg": 0,
            "new_member_cnt": self.new_member_cnt,
            "member_total": self.member_total,
            "member_has_msg": 0,
            "msg_total": 0,
            "migrate_trainee_chat_cnt": 0,
        })
    }
}

/// `[from, to)` in Unix seconds for the requested days.
fn window(req: &GroupReq) -> Result<(i64, i64), ApiError> {
    if req.day_begin_time <= 0 {
        return Err(ApiError::param("day_begin_time"));
    }
    let first = shanghai_day(req.day_begin_time);
    let last = shanghai_day(req.day_end_time.unwrap_or(req.day_begin_time));
    if last < first || last - first > 30 {
        return Err(ApiError::param("day range must be 1..=30 days"));
    }
    Ok((shanghai_day_start(first), shanghai_day_start(last + 1)))
}

fn owned<'a>(world: &'a World, owners: &'a [String]) -> impl Iterator<Item = &'a Group> + 'a {
    world.groups.values().filter(move |g| owners.is_empty() || owners.contains(&g.owner))
}

pub fn by_owner(world: &mut World, ctx: &Ctx) -> ApiResult {
    let req: GroupReq = ctx.body()?;
    let (from, to) = window(&req)?;
    let owners = req.owner_filter.as_ref().map(|o| o.userid_list.clone()).unwrap_or_default();
    let mut per_owner: BTreeMap<String, GroupData> = BTreeMap::new();
    for g in owned(world, &owners) {
        per_owner.entry(g.owner.clone()).or_default().add(g, from, to);
    }
    let mut rows: Vec<(String, GroupData)> = per_owner.into_iter().collect();
    let key = |d: &GroupData| match req.order_by.unwrap_or(1) {
        2 => d.new_chat_cnt,
        3 => d.member_total,
        4 => d.new_member_cnt,
        _ => d.chat_total,
    };
    rows.sort_by_key(|(_, d)| key(d));
    if req.order_asc.unwrap_or(0) == 0 {
        rows.reverse();
    }
    let limit = req.limit.unwrap_or(500).clamp(1, 1000);
    let total = rows.len();
    let items: Vec<Value> = rows
        .iter()
        .skip(req.offset)
        .take(limit)
        .map(|(owner, d)| json!({ "owner": owner, "data": d.json() }))
        .collect();
    let next = (req.offset + items.len()).min(total);
    Ok(json!({ "total": total, "next_offset": next, "items": items }))
}

pub fn by_day(world: &mut World, ctx: &Ctx) -> ApiResult {
    let req: GroupReq = ctx.body()?;
    let (from, to) = window(&req)?;
    let owners = req.owner_filter.as_ref().map(|o| o.userid_list.clone()).unwrap_or_default();
    let mut items = Vec::new();
    let mut day = from;
    while day < to {
        let mut data = GroupData::default();
        for g in owned(world, &owners) {
            data.add(g, day, day + 86_400);
        }
        items.push(json!({ "stat_time": day, "data": data.json() }));
        day += 86_400;
    }
    Ok(json!({ "items": items }))
}

pub fn user_behavior(world: &mut World, ctx: &Ctx) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Req {
        userid: Vec<String>,
        partyid: Vec<u64>,
        start_time: i64,
        end_time: i64,
    }
    let req: Req = ctx.body()?;
    if req.userid.is_empty() && req.partyid.is_empty() {
        return Err(ApiError::param("userid or partyid required"));
    }
    if req.userid.len() > 100 || req.partyid.len() > 100 {
        return Err(ApiError::param("at most 100 userids or partyids"));
    }
    let (first, last) = (shanghai_day(req.start_time), shanghai_day(req.end_time));
    if req.start_time <= 0 || last < first || last - first > 30 {
        return Err(ApiError::param("time range must be 1..=30 days"));
    }
    for u in &req.userid {
        require_staff(world, u)?;
    }
    let mut users = req.userid.clone();
    for s in &world.staff {
        if req.partyid.contains(&s.department) && !users.contains(&s.userid) {
            users.push(s.userid.clone());
        }
    }
    let rows: Vec<Value> = (first..=last)
        .map(|day| {
            let mut sum = crate::world::Behavior::default();
            for u in &users {
                if let Some(b) = world.behavior.get(&(u.clone(), day)) {
                    sum.chat_cnt += b.chat_cnt;
                    sum.message_cnt += b.message_cnt;
                    sum.negative_feedback_cnt += b.negative_feedback_cnt;
                    sum.new_apply_cnt += b.new_apply_cnt;
                    sum.new_contact_cnt += b.new_contact_cnt;
                }
            }
            let mut row = json!({
                "stat_time": shanghai_day_start(day),
                "chat_cnt": sum.chat_cnt,
                "message_cnt": sum.message_cnt,
                "negative_feedback_cnt": sum.negative_feedback_cnt,
                "new_apply_cnt": sum.new_apply_cnt,
                "new_contact_cnt": sum.new_contact_cnt,
            });
            // WeCom leaves the reply figures out on days without chats.
            if sum.chat_cnt > 0 {
                row["reply_percentage"] = 100.0.into();
                row["avg_reply_time"] = 1.into();
            }
            row
        })
        .collect();
    Ok(json!({ "behavior_data": rows }))
}
