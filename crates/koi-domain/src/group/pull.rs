//! Pulling customers into groups (拉群). WeCom has no API that puts a
//! customer into a group: a guide sends them the group code. A *group pull*
//! (标签拉群) takes a segment's customers, each once under the guide of
//! their most recent live follow, and gives each guide one customer
//! mass-message task with the invitation; a *first-order invitation* invites
//! a customer of an education group (for example) to a paid group's code
//! when their first order arrives (seed 000).
//!
//! | item | what |
//! |---|---|
//! | [`GroupPullDraft`] | what the operator asks for, validated |
//! | [`FirstOrderInvite`] | a code's invitation after a first order, validated |
//! | [`split_by_guide`] | customers per guide, in tasks of at most [`MAX_TASK_CUSTOMERS`] |
//! | [`send_outcome`] | WeCom's per-customer send status as koi records it |

use super::GroupKind;
use crate::error::{Checker, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `add_msg_template` takes at most this many external_userids a call.
pub const MAX_TASK_CUSTOMERS: usize = 10_000;
pub const MAX_PULL_NAME_CHARS: usize = 60;
/// WeCom's limit on a mass message's text (bytes in WeCom; characters here,
/// with room to spare for CJK at three bytes each).
pub const MAX_INVITE_TEXT_CHARS: usize = 1_300;

/// A group pull as the operator asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupPullDraft {
    pub name: String,
    /// A saved segment (人群): its customers are invited.
    pub segment_id: i64,
    /// The group code (群活码) they are invited to.
    pub code_id: i64,
    /// The invitation text; the code's link goes with it.
    pub text: String,
}

impl GroupPullDraft {
    pub fn validate(&self) -> Result<GroupPullDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.name = c.text("name", &self.name, MAX_PULL_NAME_CHARS, true);
        d.text = c.text("text", &self.text, MAX_INVITE_TEXT_CHARS, true);
        if self.segment_id <= 0 {
            c.push("segment_id", "required", "choose a segment");
        }
        if self.code_id <= 0 {
            c.push("code_id", "required", "choose a group code");
        }
        c.finish(d)
    }
}

/// A group code's invitation after a first order: customers present in a
/// group of one of `from_kinds` are invited to the code by their guide when
/// their first order arrives, once per customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirstOrderInvite {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Group kinds whose members are invited (education, unpaid…).
    #[schema(value_type = Vec<String>)]
    pub from_kinds: Vec<GroupKind>,
    /// The invitation text; the code's link goes with it.
    pub text: String,
}

fn yes() -> bool {
    true
}

impl FirstOrderInvite {
    pub fn validate(&self) -> Result<FirstOrderInvite, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.text = c.text("text", &self.text, MAX_INVITE_TEXT_CHARS, true);
        d.from_kinds.sort_by_key(|k| k.as_str());
        d.from_kinds.dedup();
        if d.enabled && d.from_kinds.is_empty() {
            c.push("from_kinds", "required", "choose the kinds of group whose members are invited");
        }
        c.finish(d)
    }
}

/// One guide's share of a pull: a task (or several, past
/// [`MAX_TASK_CUSTOMERS`]) over the customers whose relation they own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideShare<C> {
    pub staff_id: i64,
    /// 0, 1, … when the guide has more customers than one task takes.
    pub part: i32,
    pub customers: Vec<C>,
}

/// Splits `(staff_id, customer)` pairs — each customer already under one
/// guide — into tasks per guide, in guide order, none over `max` customers.
pub fn split_by_guide<C>(pairs: Vec<(i64, C)>, max: usize) -> Vec<GuideShare<C>> {
    let mut by: BTreeMap<i64, Vec<C>> = BTreeMap::new();
    for (staff_id, c) in pairs {
        by.entry(staff_id).or_default().push(c);
    }
    let max = max.max(1);
    let mut out = Vec::new();
    for (staff_id, customers) in by {
        let mut rest = customers.into_iter().peekable();
        let mut part = 0;
        while rest.peek().is_some() {
            let chunk: Vec<C> = rest.by_ref().take(max).collect();
            out.push(GuideShare { staff_id, part, customers: chunk });
            part += 1;
        }
    }
    out
}

/// What WeCom's per-customer status of a confirmed task means:
/// `(state, reason)` with state `sent`, `not_sent` or `failed`.
pub fn send_outcome(status: i32) -> (&'static str, &'static str) {
    match status {
        1 => ("sent", ""),
        0 => ("not_sent", "not_sent_by_guide"),
        2 => ("failed", "not_a_friend"),
        3 => ("failed", "quota_used"),
        _ => ("failed", "unknown_status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_needs_a_name_a_text_a_segment_and_a_code() {
        let bad = GroupPullDraft { name: " ".into(), segment_id: 0, code_id: 0, text: "".into() };
        let e = bad.validate().unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "text", "segment_id", "code_id"]);
        let ok = GroupPullDraft { name: " 拉群 ".into(), segment_id: 1, code_id: 2, text: "进群领券".into() };
        assert_eq!(ok.validate().unwrap().name, "拉群");
    }

    #[test]
    fn guides_get_tasks_of_at_most_the_cap() {
        let pairs: Vec<(i64, u32)> = (0..25).map(|i| (if i % 5 == 0 { 7 } else { 3 }, i)).collect();
        let shares = split_by_guide(pairs, 8);
        let shape: Vec<(i64, i32, usize)> = shares.iter().map(|s| (s.staff_id, s.part, s.customers.len())).collect();
        assert_eq!(shape, [(3, 0, 8), (3, 1, 8), (3, 2, 4), (7, 0, 5)]);
        let total: usize = shares.iter().map(|s| s.customers.len()).sum();
        assert_eq!(total, 25, "every customer once");
    }

    #[test]
    fn first_order_invites_name_their_kinds() {
        let d = FirstOrderInvite { enabled: true, from_kinds: vec![], text: "欢迎加入付费群".into() };
        assert_eq!(d.validate().unwrap_err().0[0].field, "from_kinds");
        let d = FirstOrderInvite {
            enabled: true,
            from_kinds: vec![GroupKind::Education, GroupKind::Unpaid, GroupKind::Education],
            text: "x".into(),
        };
        assert_eq!(d.validate().unwrap().from_kinds, [GroupKind::Education, GroupKind::Unpaid]);
    }

    #[test]
    fn wecom_statuses_become_outcomes() {
        assert_eq!(send_outcome(1).0, "sent");
        assert_eq!(send_outcome(2), ("failed", "not_a_friend"));
        assert_eq!(send_outcome(3), ("failed", "quota_used"));
        assert_eq!(send_outcome(0).0, "not_sent");
    }
}
