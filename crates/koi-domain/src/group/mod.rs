//! Customer groups (社群): what koi calls a group's purpose, and how a
//! group's membership moved between what koi knew and what WeCom says now.
//!
//! | item | what |
//! |---|---|
//! | [`GroupKind`] | paid / unpaid / education / vip / store / custom |
//! | [`GroupEdit`] | an operator's change of kind and store, validated |
//! | [`diff_members`] | joins and leaves between koi's members and WeCom's list |
//! | `code.rs` | group live codes (群活码): [`GroupCodeDraft`] and its validation |
//! | `rotation.rs` | which groups a code's join way lists, and its warnings: [`rotate`] |
//! | `metrics.rs` | group metrics by brand-local day: [`series`], [`Window`], [`MetricsBy`] |
//! | [`pull`] | group pulls (标签拉群) and invitations after a first order: one guide task per guide |
//! | [`assistant`] | the group assistant: keyword replies, sensitive words, welcome templates |

mod code;
mod rotation;

pub use code::{
    way_state, GroupCodeDraft, GroupCodeType, StoreGroupCode, DEFAULT_WARN_BELOW, MAX_CODE_GROUPS,
    MAX_ROOM_BASE_NAME_CHARS, MAX_WAY_CHATS, MAX_WAY_STATE_CHARS, QR_CUT, STATE_PREFIX,
};
pub use rotation::{rotate, warning_crossed, CodeGroup, Rotation, SlotState, Warning};

mod metrics;

pub use metrics::{
    day_start, day_text, local_day, series, DayMetrics, MetricInputs, MetricTotals, MetricsBy, Window, DEFAULT_DAYS,
    MAX_DAYS,
};

pub mod assistant;
pub mod pull;

use crate::ValidationError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a group is for. A group synced from WeCom starts as `custom` until
/// an operator says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Paid,
    Unpaid,
    Education,
    Vip,
    Store,
    #[default]
    Custom,
}

impl GroupKind {
    pub const ALL: [GroupKind; 6] =
        [GroupKind::Paid, GroupKind::Unpaid, GroupKind::Education, GroupKind::Vip, GroupKind::Store, GroupKind::Custom];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Paid => "paid",
            GroupKind::Unpaid => "unpaid",
            GroupKind::Education => "education",
            GroupKind::Vip => "vip",
            GroupKind::Store => "store",
            GroupKind::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<GroupKind> {
        GroupKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// Whether a group still exists in WeCom.
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DISMISSED: &str = "dismissed";

/// A member's side: `staff` (a corp member, WeCom type 1) or `customer`
/// (an external user, type 2).
pub const MEMBER_STAFF: &str = "staff";
pub const MEMBER_CUSTOMER: &str = "customer";

/// The WeCom `type` of a group member as koi names it.
pub fn member_type(wecom_type: i32) -> &'static str {
    if wecom_type == 1 {
        MEMBER_STAFF
    } else {
        MEMBER_CUSTOMER
    }
}

/// An operator's change to a group: `None` leaves a field alone; a store of
/// `Some(None)` takes the group off its store.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
pub struct GroupEdit {
    /// paid, unpaid, education, vip, store or custom; absent keeps it.
    #[serde(default)]
    pub kind: Option<String>,
    /// A store id, `null` for none; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub store_id: Option<Option<i64>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// A [`GroupEdit`] that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidGroupEdit {
    pub kind: Option<GroupKind>,
    pub store_id: Option<Option<i64>>,
}

impl GroupEdit {
    pub fn validate(&self) -> Result<ValidGroupEdit, ValidationError> {
        let kind = match &self.kind {
            None => None,
            Some(k) => Some(GroupKind::parse(k).ok_or_else(|| {
                ValidationError::one(
                    "kind",
                    "unknown_group_kind",
                    format!("kind is one of paid, unpaid, education, vip, store, custom (not {k:?})"),
                )
            })?),
        };
        if self.kind.is_none() && self.store_id.is_none() {
            return Err(ValidationError::one("kind", "nothing_to_change", "give a kind or a store_id"));
        }
        Ok(ValidGroupEdit { kind, store_id: self.store_id })
    }
}

/// One member as WeCom lists it or as koi keeps it (a present member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub userid: String,
    /// WeCom's join time, Unix seconds: a member who left and came back
    /// has a new one, and that is a new join.
    pub join_time: i64,
}

/// How membership moved from `known` (koi's present members) to `now`
/// (WeCom's `member_list`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDiff {
    /// Userids in `now` that koi did not have, or had with another join
    /// time (they left and joined again between two reads).
    pub joined: Vec<String>,
    /// Userids koi had that left: absent from `now`, or re-joined since.
    pub left: Vec<String>,
}

impl MemberDiff {
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// The joins and leaves that take `known` to `now`, in `now`'s order for
/// joins and `known`'s for leaves. Pure; the same inputs always give the
/// same diff, so applying WeCom's list twice changes nothing the second
/// time.
pub fn diff_members(known: &[MemberSnapshot], now: &[MemberSnapshot]) -> MemberDiff {
    let before: HashMap<&str, i64> = known.iter().map(|m| (m.userid.as_str(), m.join_time)).collect();
    let after: HashMap<&str, i64> = now.iter().map(|m| (m.userid.as_str(), m.join_time)).collect();
    let mut diff = MemberDiff::default();
    for m in known {
        match after.get(m.userid.as_str()) {
            Some(t) if *t == m.join_time => {}
            _ => diff.left.push(m.userid.clone()),
        }
    }
    for m in now {
        match before.get(m.userid.as_str()) {
            Some(t) if *t == m.join_time => {}
            _ => {
                if !diff.joined.contains(&m.userid) {
                    diff.joined.push(m.userid.clone());
                }
            }
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, t: i64) -> MemberSnapshot {
        MemberSnapshot { userid: id.into(), join_time: t }
    }

    #[test]
    fn a_null_store_takes_the_group_off_and_an_absent_one_keeps_it() {
        let e: GroupEdit = serde_json::from_str(r#"{"store_id":null}"#).unwrap();
        assert_eq!(e.store_id, Some(None));
        let e: GroupEdit = serde_json::from_str(r#"{"kind":"vip"}"#).unwrap();
        assert_eq!(e.store_id, None);
        let e: GroupEdit = serde_json::from_str(r#"{"store_id":3}"#).unwrap();
        assert_eq!(e.store_id, Some(Some(3)));
    }

    #[test]
    fn joins_and_leaves_are_found() {
        let d = diff_members(&[m("a", 1), m("b", 2)], &[m("b", 2), m("c", 3)]);
        assert_eq!(d.joined, ["c"]);
        assert_eq!(d.left, ["a"]);
    }

    #[test]
    fn the_same_list_twice_is_no_change() {
        let now = [m("a", 1), m("b", 2)];
        assert!(diff_members(&now, &now).is_empty());
        assert!(diff_members(&[], &[]).is_empty());
    }

    #[test]
    fn leaving_and_joining_again_between_reads_is_a_leave_and_a_join() {
        let d = diff_members(&[m("a", 1)], &[m("a", 9)]);
        assert_eq!((d.joined.as_slice(), d.left.as_slice()), (&["a".to_string()][..], &["a".to_string()][..]));
    }

    #[test]
    fn a_first_read_joins_everyone_and_an_empty_list_leaves_everyone() {
        assert_eq!(diff_members(&[], &[m("a", 1), m("b", 1)]).joined, ["a", "b"]);
        assert_eq!(diff_members(&[m("a", 1), m("b", 1)], &[]).left, ["a", "b"]);
    }

    #[test]
    fn kinds_round_trip_and_unknown_kinds_are_refused() {
        for k in GroupKind::ALL {
            assert_eq!(GroupKind::parse(k.as_str()), Some(k));
        }
        let e = GroupEdit { kind: Some("gold".into()), store_id: None }.validate().unwrap_err();
        assert_eq!(e.0[0].code, "unknown_group_kind");
        let e = GroupEdit::default().validate().unwrap_err();
        assert_eq!(e.0[0].code, "nothing_to_change");
        let ok = GroupEdit { kind: Some("vip".into()), store_id: Some(None) }.validate().unwrap();
        assert_eq!((ok.kind, ok.store_id), (Some(GroupKind::Vip), Some(None)));
    }

    proptest::proptest! {
        /// Applying the diff to `known` gives exactly `now`'s userids.
        #[test]
        fn applying_the_diff_reaches_wecoms_list(
            known in proptest::collection::btree_map("[a-e]", 0i64..3, 0..5),
            now in proptest::collection::btree_map("[a-e]", 0i64..3, 0..5),
        ) {
            let k: Vec<_> = known.iter().map(|(u, t)| m(u, *t)).collect();
            let n: Vec<_> = now.iter().map(|(u, t)| m(u, *t)).collect();
            let d = diff_members(&k, &n);
            let mut present: std::collections::BTreeMap<String, ()> =
                known.keys().filter(|u| !d.left.contains(u)).map(|u| (u.clone(), ())).collect();
            for u in &d.joined { present.insert(u.clone(), ()); }
            proptest::prop_assert_eq!(present.keys().collect::<Vec<_>>(), now.keys().collect::<Vec<_>>());
            proptest::prop_assert!(diff_members(&n, &n).is_empty());
        }
    }
}
