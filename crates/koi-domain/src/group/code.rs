//! Group live codes (群活码) as an operator edits them: one QR for a series
//! of groups (a *rotating* code, backed by a WeCom join way), or a
//! *nearest-store* code whose landing page shows the group code of the store
//! closest to the customer. `validate` checks what WeCom would refuse later
//! (five chat ids at most, a room base name of 40 characters, the QR cut of
//! 200) plus koi's own rules, and reports every problem at once.

use super::GroupKind;
use crate::error::{Checker, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// WeCom's cut: a group past this many members takes no more QR joins.
pub const QR_CUT: u32 = 200;
/// Chat ids one join way lists (WeCom answers 41091 past it).
pub const MAX_WAY_CHATS: usize = 5;
/// WeCom's limit on a join way's `room_base_name`.
pub const MAX_ROOM_BASE_NAME_CHARS: usize = 40;
/// WeCom's limit on a join way's `state`.
pub const MAX_WAY_STATE_CHARS: usize = 30;
pub const MAX_NAME_CHARS: usize = 60;
/// Groups one code rotates through: far more than any campaign fills, and a
/// bound on the work of one rotation.
pub const MAX_CODE_GROUPS: usize = 500;
/// Free places below which a code warns by default: a few hours of a busy poster.
pub const DEFAULT_WARN_BELOW: u32 = 50;
/// Past 100 km "the nearest store" is no store the customer walks into.
const MAX_RADIUS_M: u32 = 100_000;
/// The prefix of the `state` koi gives a group code's join way, so a member
/// who joined through it is recognised in `groupchat/get`.
pub const STATE_PREFIX: &str = "kg";

/// What a group code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupCodeType {
    /// One join way over the operator's groups, rotated by koi as they fill.
    #[default]
    Rotating,
    /// A landing page that picks the nearest store and shows its group code.
    NearestStore,
}

impl GroupCodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupCodeType::Rotating => "rotating",
            GroupCodeType::NearestStore => "nearest_store",
        }
    }
}

/// One store of a nearest-store code and the rotating group code shown for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreGroupCode {
    pub store_id: i64,
    /// A rotating group code (of that store, usually).
    pub code_id: i64,
}

fn default_cap() -> u32 {
    QR_CUT
}

fn default_warn_below() -> u32 {
    DEFAULT_WARN_BELOW
}

/// A group code as typed in the console or posted to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupCodeDraft {
    pub name: String,
    #[serde(default)]
    pub code_type: GroupCodeType,
    /// What the code's groups are for (paid, unpaid, education, vip, store,
    /// custom): groups WeCom opens for the code are given it.
    #[serde(default)]
    pub group_kind: Option<String>,
    /// The store the code belongs to; groups WeCom opens for it are given it.
    #[serde(default)]
    pub store_id: Option<i64>,
    /// koi group ids, in the order they fill (rotating codes). Any number:
    /// koi keeps the next five with room in the join way.
    #[serde(default)]
    pub group_ids: Vec<i64>,
    /// Let WeCom open a new group (`room_base_name` + number) when every
    /// listed group is full. koi adopts those groups into the code.
    #[serde(default)]
    pub auto_create_room: bool,
    #[serde(default)]
    pub room_base_name: String,
    /// The number of the first group WeCom opens.
    #[serde(default)]
    pub room_base_id: Option<i64>,
    /// Members a group takes before the code moves on (at most WeCom's 200).
    #[serde(default = "default_cap")]
    pub cap: u32,
    /// Warn when fewer free places than this are left (0: never on room).
    #[serde(default = "default_warn_below")]
    pub warn_below: u32,
    /// Nearest-store codes: each store and its group code.
    #[serde(default)]
    pub stores: Vec<StoreGroupCode>,
    /// Nearest-store codes: how far a store may be, in metres.
    #[serde(default)]
    pub radius_m: u32,
    /// Nearest-store codes: the store shown when none is within the radius.
    #[serde(default)]
    pub fallback_store_id: Option<i64>,
}

impl Default for GroupCodeDraft {
    fn default() -> Self {
        GroupCodeDraft {
            name: String::new(),
            code_type: GroupCodeType::default(),
            group_kind: None,
            store_id: None,
            group_ids: vec![],
            auto_create_room: false,
            room_base_name: String::new(),
            room_base_id: None,
            cap: QR_CUT,
            warn_below: DEFAULT_WARN_BELOW,
            stores: vec![],
            radius_m: 0,
            fallback_store_id: None,
        }
    }
}

impl GroupCodeDraft {
    /// The draft trimmed and checked. Whether the groups, stores and store
    /// codes exist is the engine's check (it needs the database).
    pub fn validate(&self) -> Result<GroupCodeDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.name = c.text("name", &self.name, MAX_NAME_CHARS, true);
        d.room_base_name = c.text("room_base_name", &self.room_base_name, MAX_ROOM_BASE_NAME_CHARS, false);
        let kind = self.group_kind.as_deref().map(str::trim).filter(|k| !k.is_empty()).unwrap_or("custom");
        match GroupKind::parse(kind) {
            Some(k) => d.group_kind = Some(k.as_str().to_string()),
            None => c.push("group_kind", "unknown_group_kind", format!("no group kind {kind:?}")),
        }
        if !(1..=QR_CUT).contains(&self.cap) {
            c.push("cap", "out_of_range", format!("a group's cap is 1..={QR_CUT} members (WeCom's QR cut)"));
        }
        match self.code_type {
            GroupCodeType::Rotating => check_rotating(&mut c, self),
            GroupCodeType::NearestStore => check_nearest(&mut c, self),
        }
        c.finish(d)
    }
}

fn check_rotating(c: &mut Checker, d: &GroupCodeDraft) {
    if d.group_ids.is_empty() {
        c.push("group_ids", "required", "choose at least one group (WeCom's join way needs one)");
    }
    if d.group_ids.len() > MAX_CODE_GROUPS {
        c.push("group_ids", "too_many", format!("at most {MAX_CODE_GROUPS} groups"));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = d.group_ids.iter().find(|id| !seen.insert(**id)) {
        c.push("group_ids", "duplicate", format!("group {dup} is listed twice"));
    }
    if d.auto_create_room && d.room_base_name.trim().is_empty() {
        c.push("room_base_name", "required", "name the groups WeCom opens (room_base_name)");
    }
    if d.room_base_id.is_some_and(|n| n < 0) {
        c.push("room_base_id", "out_of_range", "room_base_id is not negative");
    }
    if !d.stores.is_empty() {
        c.push("stores", "not_allowed", "only a nearest-store code lists stores");
    }
}

fn check_nearest(c: &mut Checker, d: &GroupCodeDraft) {
    if !d.group_ids.is_empty() || d.auto_create_room {
        c.push("group_ids", "not_allowed", "a nearest-store code shows its stores' codes; it has no groups of its own");
    }
    if d.stores.is_empty() {
        c.push("stores", "required", "map at least one store to its group code");
    }
    let mut seen = HashSet::new();
    if let Some(dup) = d.stores.iter().find(|s| !seen.insert(s.store_id)) {
        c.push("stores", "duplicate", format!("store {} is listed twice", dup.store_id));
    }
    if !(1..=MAX_RADIUS_M).contains(&d.radius_m) {
        c.push("radius_m", "out_of_range", format!("the radius is 1..={MAX_RADIUS_M} metres"));
    }
    match d.fallback_store_id {
        Some(f) if d.stores.iter().any(|s| s.store_id == f) => {}
        _ => c.push("fallback_store_id", "required", "the fallback store is one of the code's stores"),
    }
}

/// The `state` of a code's join way from its random part: what members who
/// joined through it carry in `groupchat/get`.
pub fn way_state(random: &str) -> String {
    let s: String = format!("{STATE_PREFIX}{random}");
    s.chars().take(MAX_WAY_STATE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotating() -> GroupCodeDraft {
        GroupCodeDraft { name: " 周年庆群 ".into(), group_ids: vec![3, 1, 2], ..Default::default() }
    }

    fn codes(e: ValidationError) -> Vec<(String, String)> {
        e.0.into_iter().map(|f| (f.field, f.code)).collect()
    }

    #[test]
    fn a_rotating_code_defaults_to_wecoms_cut_and_keeps_the_operators_order() {
        let d: GroupCodeDraft = serde_json::from_str(r#"{"name":"群","group_ids":[9,4]}"#).unwrap();
        let v = d.validate().unwrap();
        assert_eq!((v.cap, v.warn_below, v.group_ids.as_slice()), (200, DEFAULT_WARN_BELOW, &[9, 4][..]));
        assert_eq!(v.group_kind.as_deref(), Some("custom"));
        assert_eq!(rotating().validate().unwrap().name, "周年庆群");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let d = GroupCodeDraft {
            name: "".into(),
            group_ids: vec![1, 1],
            cap: 201,
            auto_create_room: true,
            room_base_name: "群".repeat(41),
            group_kind: Some("gold".into()),
            ..Default::default()
        };
        let got = codes(d.validate().unwrap_err());
        for want in [
            ("name", "required"),
            ("group_ids", "duplicate"),
            ("cap", "out_of_range"),
            ("room_base_name", "too_long"),
            ("group_kind", "unknown_group_kind"),
        ] {
            assert!(got.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} in {got:?}");
        }
        let none = GroupCodeDraft { group_ids: vec![], ..rotating() };
        assert_eq!(codes(none.validate().unwrap_err()), [("group_ids".to_string(), "required".to_string())]);
        let zero = GroupCodeDraft { cap: 0, ..rotating() };
        assert!(zero.validate().is_err());
        let unnamed_rooms = GroupCodeDraft { auto_create_room: true, ..rotating() };
        assert_eq!(codes(unnamed_rooms.validate().unwrap_err())[0].0, "room_base_name");
    }

    #[test]
    fn a_nearest_store_code_maps_stores_and_falls_back_to_one_of_them() {
        let d = GroupCodeDraft {
            name: "幸福西饼附近门店群".into(),
            code_type: GroupCodeType::NearestStore,
            stores: vec![StoreGroupCode { store_id: 1, code_id: 7 }, StoreGroupCode { store_id: 2, code_id: 8 }],
            radius_m: 5000,
            fallback_store_id: Some(2),
            ..Default::default()
        };
        assert!(d.validate().is_ok());
        let wrong = GroupCodeDraft { fallback_store_id: Some(3), radius_m: 0, group_ids: vec![1], ..d.clone() };
        let got = codes(wrong.validate().unwrap_err());
        assert_eq!(got.len(), 3, "{got:?}");
        let empty = GroupCodeDraft { stores: vec![], fallback_store_id: None, ..d };
        assert!(codes(empty.validate().unwrap_err()).contains(&("stores".into(), "required".into())));
    }

    #[test]
    fn the_way_state_fits_wecoms_30_characters() {
        let s = way_state(&"a".repeat(40));
        assert!(s.starts_with(STATE_PREFIX) && s.chars().count() == MAX_WAY_STATE_CHARS);
        assert_eq!(way_state("0123456789abcdef"), "kg0123456789abcdef");
    }
}
