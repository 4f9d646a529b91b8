//! Migration campaigns (微信群迁移, UR in seed 001): a brand moves its old
//! personal-WeChat groups into WeCom groups. The old groups are outside
//! WeCom, so koi knows only what the operator types: each old group's name
//! and size. Each old group gets an entry of its own (a group join way over
//! the target group code's groups) whose `state` names it
//! ([`entry_state`]); the operator posts that QR in the old group. A member
//! who joins through it is *in hold* until the campaign's hold has passed,
//! then *moved* (still in the group) or *left*; a moved member earns the
//! join reward once. One member is one move per campaign, whatever they
//! re-join or scan: no re-join farming.

use crate::error::Checker;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Old groups one campaign moves.
pub const MAX_OLD_GROUPS: usize = 200;
pub const MAX_OLD_GROUP_NAME_CHARS: usize = 60;
/// A personal WeChat group holds at most 500 members.
pub const MAX_OLD_GROUP_SIZE: u32 = 500;
/// The prefix of a migration entry's `state` (koi's channel states are `k1…`).
const PREFIX: &str = "km";
const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// An old WeChat group as the operator declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OldGroup {
    pub name: String,
    /// Members the old group has (declared), for the share moved.
    pub size: u32,
}

/// Checks the old groups of a migration campaign (trimmed names).
pub(crate) fn check(c: &mut Checker, groups: &[OldGroup]) -> Vec<OldGroup> {
    if groups.is_empty() {
        c.push("old_groups", "required", "name the old WeChat groups the members move from");
    }
    if groups.len() > MAX_OLD_GROUPS {
        c.push("old_groups", "too_many", format!("at most {MAX_OLD_GROUPS} old groups"));
    }
    let mut seen = HashSet::new();
    let mut out = vec![];
    for (i, g) in groups.iter().enumerate() {
        let name = c.text(&format!("old_groups[{i}].name"), &g.name, MAX_OLD_GROUP_NAME_CHARS, true);
        if !name.is_empty() && !seen.insert(name.clone()) {
            c.push(&format!("old_groups[{i}].name"), "duplicate", format!("{name} is listed twice"));
        }
        if !(1..=MAX_OLD_GROUP_SIZE).contains(&g.size) {
            c.push(
                &format!("old_groups[{i}].size"),
                "out_of_range",
                format!("an old group has 1..={MAX_OLD_GROUP_SIZE} members"),
            );
        }
        out.push(OldGroup { name, size: g.size });
    }
    out
}

/// Whether `new` keeps every old group of `old` as it was (a live campaign
/// may add old groups, never rename or drop one: its QR is out there).
pub fn keeps(old: &[OldGroup], new: &[OldGroup]) -> bool {
    new.len() >= old.len() && old.iter().zip(new).all(|(o, n)| o == n)
}

/// The `state` of an old group's entry: `km` and its id in upper-case base 36.
pub fn entry_state(old_group_id: i64) -> String {
    let mut n = u64::try_from(old_group_id).unwrap_or(0);
    let mut buf = vec![];
    loop {
        buf.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    buf.reverse();
    format!("{PREFIX}{}", String::from_utf8(buf).expect("base-36 digits are ASCII"))
}

/// The old group an entry's `state` names; `None` for any other state.
/// Only the canonical spelling reads, so one state means one old group.
pub fn old_group_of(state: &str) -> Option<i64> {
    let digits = state.strip_prefix(PREFIX)?;
    if digits.is_empty() || digits.len() > 13 {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            _ => return None,
        };
        v = v.checked_mul(36)?.checked_add(i64::from(d))?;
    }
    (entry_state(v) == state).then_some(v)
}

/// Where a member who joined through an old group's entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveState {
    /// Joined; the hold has not passed.
    Hold,
    /// Stayed the hold: moved, and earns the join reward.
    Moved,
    /// Left the group within the hold.
    Left,
}

impl MoveState {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveState::Hold => "hold",
            MoveState::Moved => "moved",
            MoveState::Left => "left",
        }
    }
}

/// What the hold's end makes of a member still in hold.
pub fn settle(still_in_group: bool) -> MoveState {
    if still_in_group {
        MoveState::Moved
    } else {
        MoveState::Left
    }
}

/// The share of the declared members moved (0 when none declared).
pub fn share(moved: i64, declared: i64) -> f64 {
    if declared <= 0 {
        0.0
    } else {
        moved as f64 / declared as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_name_one_old_group_only() {
        assert_eq!(entry_state(0), "km0");
        assert_eq!(entry_state(35), "kmZ");
        assert_eq!(entry_state(36), "km10");
        assert_eq!(old_group_of("km10"), Some(36));
        for bad in ["", "km", "km010", "kmz", "k1c0a1i2", "km1 ", "kmZZZZZZZZZZZZZ", "xkm1"] {
            assert_eq!(old_group_of(bad), None, "{bad:?}");
        }
        assert!(entry_state(i64::MAX).len() <= 30, "fits WeCom's 30 characters");
    }

    #[test]
    fn old_groups_are_named_sized_and_kept() {
        let g = |n: &str, s| OldGroup { name: n.into(), size: s };
        let mut c = Checker::default();
        let out = check(&mut c, &[g(" 老会员1群 ", 480), g("老会员1群", 20), g("", 0)]);
        assert_eq!(out[0].name, "老会员1群");
        let fields: Vec<String> = c.finish(()).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["old_groups[1].name", "old_groups[2].name", "old_groups[2].size"]);
        let mut c = Checker::default();
        check(&mut c, &[]);
        assert!(c.finish(()).is_err());
        assert!(keeps(&[g("a", 1)], &[g("a", 1), g("b", 2)]));
        assert!(!keeps(&[g("a", 1)], &[g("a", 2)]));
        assert!(!keeps(&[g("a", 1), g("b", 2)], &[g("a", 1)]));
        assert_eq!(settle(true), MoveState::Moved);
        assert_eq!(settle(false), MoveState::Left);
        assert_eq!(share(3, 0), 0.0);
        assert_eq!(share(1, 4), 0.25);
    }

    proptest! {
        #[test]
        fn every_id_reads_back(id in 0i64..i64::MAX) {
            prop_assert_eq!(old_group_of(&entry_state(id)), Some(id));
        }
    }
}
