//! The rotation of a group live code: which of the code's groups WeCom's
//! join way should list now, and whether the operator must be warned.
//!
//! WeCom puts a customer who scans into the first listed group with room
//! (below its QR cut) and lists at most five. koi keeps the list at the next
//! five groups below the code's cap, in the operator's order: a group that
//! filled up drops out, a standby group comes in, and a group that members
//! left is taken again when its turn comes. Pure: the engine feeds in the
//! member counts it holds and writes the answer to WeCom.

use super::code::{MAX_WAY_CHATS, QR_CUT};
use serde::{Deserialize, Serialize};

/// One of a code's groups, in the operator's order, as koi holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGroup {
    pub chat_id: String,
    /// Present members (WeCom's cut counts everyone, the owner too).
    pub members: u32,
    /// Still a group in WeCom (not dismissed).
    pub active: bool,
}

/// Where a group stands in its code's rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Listed in the join way: takes the next joins (the first one listed
    /// first).
    Open,
    /// Has room, waits for its turn behind five open groups.
    Standby,
    /// At the code's cap: takes no more QR joins.
    Full,
    /// Dismissed in WeCom.
    Dismissed,
}

/// What the operator is warned of, least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// Fewer free places left than the code's threshold.
    LowRoom,
    /// Only the last group with room is left.
    LastGroup,
    /// No room left: joins through the code are refused.
    Full,
}

impl Warning {
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::LowRoom => "low_room",
            Warning::LastGroup => "last_group",
            Warning::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Warning> {
        [Warning::LowRoom, Warning::LastGroup, Warning::Full].into_iter().find(|w| w.as_str() == s)
    }
}

/// The rotation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The chat ids the join way should list, in order. Never more than
    /// five. When no group has room it holds the last active group (WeCom
    /// needs a list: with auto-create it opens a room once that is full);
    /// empty only when every group is dismissed.
    pub listed: Vec<String>,
    /// Each input group's state, in the input's order.
    pub slots: Vec<SlotState>,
    /// Free places in the groups with room (rooms WeCom may still open are
    /// not counted).
    pub room: u32,
    /// `None` for a code with auto-create: WeCom opens rooms as needed.
    pub warning: Option<Warning>,
}

/// The rotation of a code's `groups` (in the operator's order) under `cap`
/// members a group (WeCom's 200 at most), warning below `warn_below` free
/// places.
pub fn rotate(groups: &[CodeGroup], cap: u32, warn_below: u32, auto_create: bool) -> Rotation {
    let cap = cap.min(QR_CUT);
    let has_room = |g: &CodeGroup| g.active && g.members < cap;
    let mut listed: Vec<String> =
        groups.iter().filter(|g| has_room(g)).take(MAX_WAY_CHATS).map(|g| g.chat_id.clone()).collect();
    let open = groups.iter().filter(|g| has_room(g)).count();
    let room: u32 = groups.iter().filter(|g| has_room(g)).map(|g| cap - g.members).sum();
    if listed.is_empty() {
        listed.extend(groups.iter().rev().find(|g| g.active).map(|g| g.chat_id.clone()));
    }
    let slots = groups
        .iter()
        .map(|g| match g {
            g if !g.active => SlotState::Dismissed,
            g if g.members >= cap => SlotState::Full,
            g if listed.contains(&g.chat_id) => SlotState::Open,
            _ => SlotState::Standby,
        })
        .collect();
    let warning = match (auto_create, open) {
        (true, _) => None,
        (false, 0) => Some(Warning::Full),
        (false, 1) => Some(Warning::LastGroup),
        _ if room < warn_below => Some(Warning::LowRoom),
        _ => None,
    };
    Rotation { listed, slots, room, warning }
}

/// Whether going from `before` to `after` crosses into a more urgent
/// warning: the moment the warning event goes on the log, once per crossing.
pub fn warning_crossed(before: Option<Warning>, after: Option<Warning>) -> bool {
    after.is_some() && after > before
}

#[cfg(test)]
mod tests {
    use super::*;
    use SlotState::*;

    fn g(chat: &str, members: u32) -> CodeGroup {
        CodeGroup { chat_id: chat.into(), members, active: true }
    }

    fn ids(r: &Rotation) -> Vec<&str> {
        r.listed.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_next_five_groups_with_room_are_listed_in_the_operators_order() {
        let groups: Vec<_> = (1..=8).map(|i| g(&format!("wr{i}"), if i == 2 { 200 } else { 10 })).collect();
        let r = rotate(&groups, 200, 50, false);
        assert_eq!(ids(&r), ["wr1", "wr3", "wr4", "wr5", "wr6"]);
        assert_eq!(r.slots, [Open, Full, Open, Open, Open, Open, Standby, Standby]);
        assert_eq!(r.room, 7 * 190);
        assert_eq!(r.warning, None);
    }

    #[test]
    fn a_group_members_left_is_taken_again_in_its_turn() {
        let r = rotate(&[g("a", 200), g("b", 150), g("c", 0)], 200, 0, false);
        assert_eq!(ids(&r), ["b", "c"]);
        let r = rotate(&[g("a", 190), g("b", 150), g("c", 0)], 200, 0, false);
        assert_eq!(ids(&r), ["a", "b", "c"], "a has room again and comes first");
    }

    #[test]
    fn a_lower_cap_moves_on_earlier_and_a_higher_one_is_wecoms_cut() {
        let r = rotate(&[g("a", 150), g("b", 0)], 150, 0, false);
        assert_eq!((ids(&r), r.slots.clone()), (vec!["b"], vec![Full, Open]));
        let r = rotate(&[g("a", 200), g("b", 0)], 500, 0, false);
        assert_eq!(ids(&r), ["b"], "no cap goes past WeCom's 200");
    }

    #[test]
    fn dismissed_groups_are_skipped() {
        let gone = CodeGroup { active: false, ..g("a", 10) };
        let r = rotate(&[gone, g("b", 10)], 200, 0, false);
        assert_eq!((ids(&r), r.slots.clone()), (vec!["b"], vec![Dismissed, Open]));
        let all_gone = rotate(&[CodeGroup { active: false, ..g("a", 0) }], 200, 0, false);
        assert!(all_gone.listed.is_empty() && all_gone.warning == Some(Warning::Full));
    }

    #[test]
    fn the_operator_is_warned_on_low_room_on_the_last_group_and_when_full() {
        assert_eq!(rotate(&[g("a", 100), g("b", 100)], 200, 50, false).warning, None);
        assert_eq!(rotate(&[g("a", 180), g("b", 190)], 200, 50, false).warning, Some(Warning::LowRoom));
        let last = rotate(&[g("a", 200), g("b", 10)], 200, 50, false);
        assert_eq!((last.warning, last.room), (Some(Warning::LastGroup), 190));
        let full = rotate(&[g("a", 200), g("b", 200)], 200, 50, false);
        assert_eq!((full.warning, full.room), (Some(Warning::Full), 0));
        assert_eq!(ids(&full), ["b"], "the way keeps a group: WeCom needs a list");
        let auto = rotate(&[g("a", 200), g("b", 200)], 200, 50, true);
        assert_eq!((auto.warning, ids(&auto)), (None, vec!["b"]), "WeCom opens a room after b");
    }

    #[test]
    fn a_warning_goes_on_the_log_once_per_crossing() {
        use Warning::*;
        assert!(warning_crossed(None, Some(LowRoom)));
        assert!(!warning_crossed(Some(LowRoom), Some(LowRoom)));
        assert!(warning_crossed(Some(LowRoom), Some(Full)));
        assert!(!warning_crossed(Some(Full), Some(LastGroup)));
        assert!(!warning_crossed(Some(Full), None));
        for w in [LowRoom, LastGroup, Full] {
            assert_eq!(Warning::parse(w.as_str()), Some(w));
        }
    }

    proptest::proptest! {
        /// Whatever the counts: at most five listed, each with room and in
        /// the operator's order; every group with room is listed before any
        /// later one; the room is the free places of the groups with room.
        #[test]
        fn the_list_is_the_first_groups_with_room(
            counts in proptest::collection::vec((0u32..260, proptest::bool::weighted(0.9)), 0..20),
            cap in 1u32..260,
        ) {
            let groups: Vec<CodeGroup> = counts.iter().enumerate()
                .map(|(i, (m, a))| CodeGroup { chat_id: format!("wr{i:02}"), members: *m, active: *a }).collect();
            let r = rotate(&groups, cap, 0, false);
            let cut = cap.min(QR_CUT);
            let with_room: Vec<&CodeGroup> = groups.iter().filter(|g| g.active && g.members < cut).collect();
            proptest::prop_assert!(r.listed.len() <= MAX_WAY_CHATS);
            if with_room.is_empty() {
                proptest::prop_assert!(r.listed.len() <= 1);
            } else {
                let want: Vec<String> = with_room.iter().take(MAX_WAY_CHATS).map(|g| g.chat_id.clone()).collect();
                proptest::prop_assert_eq!(&r.listed, &want);
            }
            let room: u32 = with_room.iter().map(|g| cut - g.members).sum();
            proptest::prop_assert_eq!(r.room, room);
            proptest::prop_assert_eq!(r.slots.len(), groups.len());
        }
    }
}
