//! The code editor's fields, read into a [`ChannelCodeDraft`] and written
//! back from one. The list page and the edit page share them.

use crate::auth::ConsoleForm;
use koi_domain::channel::{ChannelCodeDraft, ChannelType, PoolMember, Routing, WelcomeDraft, WorkingHours};
use koi_domain::{FieldError, ValidationError};

/// The editor's fields for a saved code: the inverse of [`draft`].
pub(super) fn values_of(d: &ChannelCodeDraft) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("name".into(), d.name.clone()),
        ("channel_type".into(), d.channel_type.as_str().into()),
        ("routing".into(), d.routing.as_str().into()),
        ("remark".into(), d.remark.clone()),
    ];
    for t in &d.auto_tag_ids {
        v.push(("auto_tag".into(), t.clone()));
    }
    if let Some(t) = d.welcome_coupon {
        v.push(("welcome_coupon".into(), t.to_string()));
    }
    let store = match d.routing {
        Routing::NearestStore { fallback_store_id, radius_m } => {
            v.push(("radius_m".into(), radius_m.to_string()));
            Some(fallback_store_id)
        }
        _ => d.store_id,
    };
    if let Some(s) = store {
        v.push(("store_id".into(), s.to_string()));
    }
    for m in &d.pool {
        v.push(("pool".into(), m.staff_id.to_string()));
        if m.backup {
            v.push(("backup".into(), m.staff_id.to_string()));
        }
    }
    if let Some(cap) = d.pool.iter().find_map(|m| m.daily_cap) {
        v.push(("daily_cap".into(), cap.to_string()));
    }
    if let Some(h) = d.pool.iter().find_map(|m| m.hours) {
        v.push(("hours_start".into(), format!("{:02}:{:02}", h.start_minute / 60, h.start_minute % 60)));
        v.push(("hours_end".into(), format!("{:02}:{:02}", h.end_minute / 60, h.end_minute % 60)));
    }
    for (i, w) in d.welcome.iter().take(2).enumerate() {
        let (text, weight) = if i == 0 { ("welcome_a", "weight_a") } else { ("welcome_b", "weight_b") };
        v.push((text.into(), w.text.clone()));
        v.push((weight.into(), w.weight.to_string()));
    }
    if let Some(t) = d.expires_at {
        let day = koi_domain::channel::local_day(t, crate::fmt::DISPLAY_OFFSET_MINUTES as i32);
        v.push(("expires_on".into(), crate::fmt::date(day)));
    }
    if d.skip_verify {
        v.push(("skip_verify".into(), "on".into()));
    }
    v
}

/// Reads the editor's fields into a draft. Problems with the form itself
/// (a number that is not one) are reported like the domain's own checks.
pub(super) fn draft(f: &ConsoleForm) -> Result<ChannelCodeDraft, ValidationError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut int = |field: &str| -> Option<i64> {
        let t = f.get(field).trim();
        if t.is_empty() {
            return None;
        }
        t.parse().map_err(|_| errors.push(FieldError::new(field, "not_a_number", format!("{t:?}")))).ok()
    };
    let store_id = int("store_id");
    let daily_cap = int("daily_cap");
    let radius_m = int("radius_m");
    let weight_a = int("weight_a").unwrap_or(50);
    let weight_b = int("weight_b").unwrap_or(50);
    let hours = match (minute_of(f.get("hours_start")), minute_of(f.get("hours_end"))) {
        (Some(s), Some(e)) => Some(WorkingHours::new(WorkingHours::EVERY_DAY, s, e)),
        _ => None,
    };
    let routing = match f.get("routing") {
        "round_robin" => Routing::RoundRobin,
        "daily_cap" => Routing::DailyCap,
        "working_hours" => Routing::WorkingHours,
        "nearest_store" => Routing::NearestStore {
            radius_m: radius_m.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
            fallback_store_id: store_id.unwrap_or(0),
        },
        _ => Routing::WecomRandom,
    };
    // The form's one cap and one shift are the primaries': backups cover
    // when the primaries are full or off. Like the API's, they hold whatever
    // the routing (see `ChannelCodeDraft::normalized`).
    let daily_cap = daily_cap.and_then(|n| u32::try_from(n).ok());
    let backups: Vec<&str> = f.all("backup").collect();
    let mut pool = Vec::new();
    for id in f.all("pool") {
        let Ok(staff_id) = id.parse::<i64>() else { continue };
        let backup = backups.contains(&id);
        pool.push(PoolMember {
            staff_id,
            backup,
            daily_cap: daily_cap.filter(|_| !backup),
            hours: hours.filter(|_| !backup),
        });
    }
    let mut welcome = Vec::new();
    for (text, weight) in [("welcome_a", weight_a), ("welcome_b", weight_b)] {
        let text = f.get(text).trim();
        if !text.is_empty() {
            let weight = u8::try_from(weight).unwrap_or(0);
            welcome.push(WelcomeDraft { weight, ..WelcomeDraft::text(text) });
        }
    }
    let expires_at = match f.get("expires_on").trim() {
        "" => None,
        day => match end_of_local_day(day) {
            Some(ms) => Some(ms),
            None => {
                errors.push(FieldError::new("expires_at", "not_a_date", format!("{day:?}")));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ValidationError(errors));
    }
    Ok(ChannelCodeDraft {
        name: f.get("name").into(),
        channel_type: ChannelType::parse(f.get("channel_type")).unwrap_or_default(),
        store_id,
        pool,
        routing,
        // One checkbox per catalogue tag, each value a WeCom tag id.
        auto_tag_ids: {
            let mut ids: Vec<String> = Vec::new();
            for t in f.all("auto_tag").map(str::trim).filter(|t| !t.is_empty()) {
                if !ids.iter().any(|x| x == t) {
                    ids.push(t.to_string());
                }
            }
            ids
        },
        welcome,
        skip_verify: f.get("skip_verify") == "on",
        expires_at,
        remark: f.get("remark").into(),
        welcome_coupon: f.get("welcome_coupon").trim().parse().ok(),
        ..ChannelCodeDraft::default()
    })
}

/// `09:30` → 570.
fn minute_of(t: &str) -> Option<u16> {
    let (h, m) = t.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The last millisecond of `2026-12-31` in the brand's time zone: a code
/// "until the 31st" works through that whole day.
fn end_of_local_day(date: &str) -> Option<i64> {
    let day = koi_domain::calendar::parse_date(date)?;
    Some((day + 1) * 86_400_000 - crate::fmt::DISPLAY_OFFSET_MINUTES * 60_000 - 1)
}
