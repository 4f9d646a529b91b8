//! A mass send (群发) as the operator asks for it, and the rules that turn
//! it into guide tasks: WeCom sends customer mass messages only through a
//! guide who confirms the task in the client, so each customer goes to one
//! guide — the one who owns the relation by the chosen [`GuideRule`] — and
//! each guide gets one task (more past [`crate::group::pull::MAX_TASK_CUSTOMERS`]).
//!
//! The text is the same for all of a guide's customers (WeCom sends one
//! text per task), so its variables are the guide's: `{guide}` (the
//! guide's name) and `{store}` (the guide's first store). `{name}` (the
//! customer's) cannot be honoured and is refused with `per_customer_variable`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{Checker, ValidationError};
use crate::group::GroupKind;
use crate::Millis;

pub const MAX_NAME_CHARS: usize = 60;
/// WeCom's limit on a mass message's text is 4,000 bytes.
pub const MAX_TEXT_BYTES: usize = 4_000;
pub const MAX_ATTACHMENTS: usize = 9;
/// Link title ≤ 128 bytes, description ≤ 512 bytes; mini-program title ≤ 64 bytes.
pub const MAX_LINK_TITLE_BYTES: usize = 128;
pub const MAX_LINK_DESC_BYTES: usize = 512;
pub const MAX_MINIPROGRAM_TITLE_BYTES: usize = 64;
pub const MAX_URL_CHARS: usize = 2_000;
/// A send may be scheduled at most this far ahead (30 days).
pub const MAX_SCHEDULE_AHEAD_MS: Millis = 30 * 86_400_000;
/// WeCom accepts at most 3 reminders of a task a day; koi sends at most 3 in all.
pub const MAX_REMINDERS: u32 = 3;
/// When koi reminds guides who have not confirmed, after the task was created.
pub const REMIND_AFTER_MS: [Millis; 3] = [2 * 3_600_000, 8 * 3_600_000, 24 * 3_600_000];
/// Asia/Shanghai is UTC+8 all year.
const SHANGHAI_OFFSET_MS: Millis = 8 * 3_600_000;
/// Night in Asia/Shanghai: no reminder from 21:00 to 09:00.
pub const NIGHT_FROM_HOUR: i64 = 21;
pub const NIGHT_TO_HOUR: i64 = 9;

/// Who receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Audience {
    /// The customers of a saved segment (人群).
    Segment { segment_id: i64 },
    /// Customer groups, filtered by kind, store and owner (each optional),
    /// or the groups picked by name (`group_ids`, then the filters narrow
    /// them). Each owner sends to their groups in one WeCom task.
    Groups {
        #[serde(default)]
        #[schema(value_type = Option<String>)]
        kind: Option<GroupKind>,
        #[serde(default)]
        store_id: Option<i64>,
        #[serde(default)]
        owner_staff_id: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        group_ids: Vec<i64>,
    },
}

/// Groups one group task carries at most (WeCom's `chat_id_list`).
pub const MAX_TASK_GROUPS: usize = 2_000;

/// How long after a group received a send its members' messages count as
/// replies and their orders as orders after it (3 days).
pub const GROUP_RESPONSE_WINDOW_MS: Millis = 3 * 86_400_000;
/// Groups picked by name at most.
pub const MAX_PICKED_GROUPS: usize = 10_000;

/// What WeCom's send status of a group means: `(state, reason)`. A group
/// receives at most 4 mass messages of the corp a month (`group_quota_used`).
pub fn group_send_outcome(status: i32) -> (&'static str, &'static str) {
    match status {
        1 => ("sent", ""),
        0 => ("not_sent", "not_sent_by_guide"),
        2 => ("failed", "group_gone"),
        3 => ("failed", "group_quota_used"),
        _ => ("failed", "unknown_status"),
    }
}

/// Which guide sends to a customer who follows several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuideRule {
    /// The guide the customer added most recently.
    #[default]
    LatestFollow,
    /// The guide the customer added first.
    EarliestFollow,
    /// A guide of the customer's store (the store they first came through);
    /// the latest follow when none of their guides works there.
    StoreGuide,
}

impl GuideRule {
    pub fn as_str(self) -> &'static str {
        match self {
            GuideRule::LatestFollow => "latest_follow",
            GuideRule::EarliestFollow => "earliest_follow",
            GuideRule::StoreGuide => "store_guide",
        }
    }

    pub fn parse(s: &str) -> Option<GuideRule> {
        [GuideRule::LatestFollow, GuideRule::EarliestFollow, GuideRule::StoreGuide]
            .into_iter()
            .find(|r| r.as_str() == s.trim())
    }
}

/// One attachment, in WeCom's shapes (`msgtype` + its object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "msgtype", rename_all = "snake_case")]
pub enum MassAttachment {
    Image {
        pic_url: String,
    },
    Link {
        title: String,
        url: String,
        #[serde(default)]
        desc: String,
        #[serde(default)]
        picurl: String,
    },
    Miniprogram {
        title: String,
        appid: String,
        page: String,
        pic_media_id: String,
    },
    /// A file or video uploaded to WeCom beforehand (temporary media id).
    File {
        media_id: String,
    },
    Video {
        media_id: String,
    },
    /// A material of the material centre, resolved when each guide's task
    /// is created: its uploaded file as a WeCom media (an image, a file, a
    /// video; uploaded once and again after about two days), a
    /// mini-program card with its picture, or an article as a link card.
    Material {
        material_id: i64,
    },
}

/// What a mass send says.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MassContent {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<MassAttachment>,
}

/// A mass send as the operator (or an SOP rule) asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MassSendDraft {
    pub name: String,
    pub audience: Audience,
    #[serde(flatten)]
    pub content: MassContent,
    #[serde(default)]
    pub guide_rule: GuideRule,
    /// When to send (ms); none or in the past: now.
    #[serde(default)]
    pub send_at: Option<Millis>,
}

fn bytes(c: &mut Checker, field: &str, v: &str, max: usize, required: bool) {
    if required && v.trim().is_empty() {
        c.push(field, "required", format!("{field} is required"));
    }
    if v.len() > max {
        c.push(field, "too_long", format!("{field} is {} bytes; at most {max}", v.len()));
    }
}

fn url(c: &mut Checker, field: &str, v: &str, required: bool) {
    if v.is_empty() && !required {
        return;
    }
    let ok = (v.starts_with("https://") || v.starts_with("http://")) && v.chars().count() <= MAX_URL_CHARS;
    if !ok {
        c.push(field, "invalid_url", format!("{field} must be an http(s) URL of at most {MAX_URL_CHARS} characters"));
    }
}

/// The variables a text may use (the guide's, not the customer's).
pub const VARIABLES: [&str; 2] = ["guide", "store"];

/// `{word}`s in a text.
fn variables(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if after[..close].chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

impl MassContent {
    /// Checks the text and attachments against WeCom's limits; `prefix`
    /// names the fields (`""` or `"content."`).
    pub fn check(&self, c: &mut Checker) {
        bytes(c, "text", &self.text, MAX_TEXT_BYTES, false);
        for v in variables(&self.text) {
            if v == "name" {
                c.push(
                    "text",
                    "per_customer_variable",
                    "{name} cannot be used: WeCom sends one text to all of a guide's customers; use {guide} or {store}",
                );
            } else if !v.is_empty() && !VARIABLES.contains(&v) {
                c.push("text", "unknown_variable", format!("unknown variable {{{v}}}; known: {{guide}}, {{store}}"));
            }
        }
        if self.text.trim().is_empty() && self.attachments.is_empty() {
            c.push("text", "required", "a text or an attachment is required");
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            c.push("attachments", "too_many", format!("at most {MAX_ATTACHMENTS} attachments"));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            let f = |name: &str| format!("attachments[{i}].{name}");
            match a {
                MassAttachment::Image { pic_url } => url(c, &f("pic_url"), pic_url, true),
                MassAttachment::Link { title, url: u, desc, picurl } => {
                    bytes(c, &f("title"), title, MAX_LINK_TITLE_BYTES, true);
                    bytes(c, &f("desc"), desc, MAX_LINK_DESC_BYTES, false);
                    url(c, &f("url"), u, true);
                    url(c, &f("picurl"), picurl, false);
                }
                MassAttachment::Miniprogram { title, appid, page, pic_media_id } => {
                    bytes(c, &f("title"), title, MAX_MINIPROGRAM_TITLE_BYTES, true);
                    bytes(c, &f("appid"), appid, 64, true);
                    bytes(c, &f("page"), page, 512, true);
                    bytes(c, &f("pic_media_id"), pic_media_id, 256, true);
                }
                MassAttachment::File { media_id } | MassAttachment::Video { media_id } => {
                    bytes(c, &f("media_id"), media_id, 256, true);
                }
                MassAttachment::Material { material_id } => {
                    if *material_id <= 0 {
                        c.push(&f("material_id"), "required", "pick a material");
                    }
                }
            }
        }
    }

    /// The text one guide's customers receive.
    pub fn render(&self, guide: &str, store: &str) -> String {
        self.text.replace("{guide}", guide).replace("{store}", store)
    }
}

impl MassSendDraft {
    /// Checks the draft; `send_at` in the past (or none) means now.
    pub fn validate(&self, now: Millis) -> Result<MassSendDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.name = c.text("name", &self.name, MAX_NAME_CHARS, true);
        match &self.audience {
            Audience::Segment { segment_id } if *segment_id <= 0 => {
                c.push("audience.segment_id", "required", "choose a segment");
            }
            Audience::Groups { group_ids, .. } if group_ids.len() > MAX_PICKED_GROUPS => {
                c.push("audience.group_ids", "too_many", "pick at most 10,000 groups");
            }
            Audience::Groups { group_ids, .. } if group_ids.iter().any(|g| *g <= 0) => {
                c.push("audience.group_ids", "not_a_group", "pick groups from the list");
            }
            _ => {}
        }
        self.content.check(&mut c);
        d.send_at = match self.send_at {
            Some(at) if at > now + MAX_SCHEDULE_AHEAD_MS => {
                c.push("send_at", "too_far", "a send can be scheduled at most 30 days ahead");
                None
            }
            Some(at) if at > now => Some(at),
            _ => None,
        };
        c.finish(d)
    }
}

/// One live follow of a customer, as the split sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowCandidate {
    pub customer_id: i64,
    pub staff_id: i64,
    pub added_at: Millis,
    pub follow_id: i64,
    /// The guide works at the customer's store.
    pub at_customer_store: bool,
}

/// Each customer once, under one guide by `rule`: `(customer_id, staff_id)`
/// in customer order. Ties (same time) go to the later follow row.
pub fn assign_guides(candidates: &[FollowCandidate], rule: GuideRule) -> Vec<(i64, i64)> {
    let mut best: BTreeMap<i64, &FollowCandidate> = BTreeMap::new();
    let better = |a: &FollowCandidate, b: &FollowCandidate| -> bool {
        let latest = (a.added_at, a.follow_id) > (b.added_at, b.follow_id);
        match rule {
            GuideRule::LatestFollow => latest,
            GuideRule::EarliestFollow => (a.added_at, -a.follow_id) < (b.added_at, -b.follow_id),
            GuideRule::StoreGuide => match (a.at_customer_store, b.at_customer_store) {
                (true, false) => true,
                (false, true) => false,
                _ => latest,
            },
        }
    };
    for f in candidates {
        match best.get(&f.customer_id) {
            Some(b) if !better(f, b) => {}
            _ => {
                best.insert(f.customer_id, f);
            }
        }
    }
    best.into_iter().map(|(c, f)| (c, f.staff_id)).collect()
}

/// Whether `at` is night in Asia/Shanghai (21:00–09:00).
pub fn is_night(at: Millis) -> bool {
    let hour = (at + SHANGHAI_OFFSET_MS).rem_euclid(86_400_000) / 3_600_000;
    !(NIGHT_TO_HOUR..NIGHT_FROM_HOUR).contains(&hour)
}

/// `at`, or the next 09:00 Asia/Shanghai when `at` is at night.
pub fn by_day(at: Millis) -> Millis {
    if !is_night(at) {
        return at;
    }
    let local = at + SHANGHAI_OFFSET_MS;
    let day_start = local - local.rem_euclid(86_400_000);
    let nine = day_start + NIGHT_TO_HOUR * 3_600_000;
    let next = if local < nine { nine } else { nine + 86_400_000 };
    next - SHANGHAI_OFFSET_MS
}

/// When the next reminder of a task created at `created_at` is due, after
/// `sent` reminders; never at night, never more than [`MAX_REMINDERS`].
pub fn next_reminder(created_at: Millis, sent: u32) -> Option<Millis> {
    let after = REMIND_AFTER_MS.get(sent as usize)?;
    (sent < MAX_REMINDERS).then(|| by_day(created_at + after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft() -> MassSendDraft {
        MassSendDraft {
            name: "Tuesday hits".into(),
            audience: Audience::Segment { segment_id: 3 },
            content: MassContent { text: "Hi from {guide} at {store}".into(), attachments: vec![] },
            guide_rule: GuideRule::LatestFollow,
            send_at: None,
        }
    }

    #[test]
    fn groups_picked_by_name_are_checked_and_read_from_json() {
        let mut d = draft();
        d.audience = Audience::Groups { kind: None, store_id: None, owner_staff_id: None, group_ids: vec![4, 0] };
        let e = d.validate(0).unwrap_err();
        assert_eq!((e.0[0].field.as_str(), e.0[0].code.as_str()), ("audience.group_ids", "not_a_group"));
        let a: Audience = serde_json::from_str(r#"{"type":"groups","kind":"vip","group_ids":[7]}"#).unwrap();
        assert_eq!(
            a,
            Audience::Groups { kind: Some(GroupKind::Vip), store_id: None, owner_staff_id: None, group_ids: vec![7] }
        );
        // Older sends without picked groups still read.
        let old: Audience = serde_json::from_str(r#"{"type":"groups","store_id":2}"#).unwrap();
        assert!(matches!(old, Audience::Groups { store_id: Some(2), ref group_ids, .. } if group_ids.is_empty()));
        assert_eq!(group_send_outcome(3), ("failed", "group_quota_used"));
        assert_eq!(group_send_outcome(1), ("sent", ""));
    }

    #[test]
    fn a_good_draft_passes_and_renders_the_guides_variables() {
        let d = draft().validate(0).expect("valid");
        assert_eq!(d.content.render("小王", "静安店"), "Hi from 小王 at 静安店");
    }

    #[test]
    fn wecoms_limits_and_the_customers_name_are_refused() {
        let mut d = draft();
        d.content.text = "Dear {name} {colour}".into();
        d.content.attachments = vec![MassAttachment::Image { pic_url: "https://x/a.jpg".into() }; 10];
        d.content.attachments[0] = MassAttachment::Link {
            title: "t".repeat(129),
            url: "ftp://x".into(),
            desc: String::new(),
            picurl: String::new(),
        };
        d.send_at = Some(MAX_SCHEDULE_AHEAD_MS + 10);
        let e = d.validate(0).unwrap_err();
        let codes: Vec<&str> = e.0.iter().map(|f| f.code.as_str()).collect();
        for want in ["per_customer_variable", "unknown_variable", "too_many", "too_long", "invalid_url", "too_far"] {
            assert!(codes.contains(&want), "{want} in {codes:?}");
        }
        let mut empty = draft();
        empty.content.text = " ".into();
        assert_eq!(empty.validate(0).unwrap_err().0[0].code, "required");
    }

    #[test]
    fn the_json_shape_is_wecoms() {
        let j = r#"{"name":"n","audience":{"type":"segment","segment_id":2},"text":"hi",
            "attachments":[{"msgtype":"link","title":"t","url":"https://a"}],"guide_rule":"store_guide"}"#;
        let d: MassSendDraft = serde_json::from_str(j).expect("parses");
        assert_eq!(d.guide_rule, GuideRule::StoreGuide);
        assert!(matches!(d.content.attachments[0], MassAttachment::Link { .. }));
    }

    #[test]
    fn a_material_is_named_by_its_id_and_counts_toward_the_nine() {
        let j = r#"[{"msgtype":"material","material_id":12}]"#;
        let a: Vec<MassAttachment> = serde_json::from_str(j).expect("parses");
        assert_eq!(a, [MassAttachment::Material { material_id: 12 }]);
        let mut d = draft();
        d.content.attachments = vec![MassAttachment::Material { material_id: 0 }];
        let e = d.validate(0).unwrap_err();
        assert_eq!((e.0[0].field.as_str(), e.0[0].code.as_str()), ("attachments[0].material_id", "required"));
        d.content.attachments = vec![MassAttachment::Material { material_id: 3 }; 10];
        assert_eq!(d.validate(0).unwrap_err().0[0].code, "too_many");
        d.content.attachments.truncate(9);
        assert!(d.validate(0).is_ok());
    }

    #[test]
    fn the_rule_picks_the_guide() {
        let f = |customer_id, staff_id, added_at, at_customer_store| FollowCandidate {
            customer_id,
            staff_id,
            added_at,
            follow_id: staff_id,
            at_customer_store,
        };
        let c = [f(1, 10, 100, false), f(1, 11, 200, false), f(1, 12, 50, true), f(2, 10, 5, false)];
        assert_eq!(assign_guides(&c, GuideRule::LatestFollow), [(1, 11), (2, 10)]);
        assert_eq!(assign_guides(&c, GuideRule::EarliestFollow), [(1, 12), (2, 10)]);
        assert_eq!(assign_guides(&c, GuideRule::StoreGuide), [(1, 12), (2, 10)]);
    }

    #[test]
    fn reminders_wait_for_the_morning_and_stop_at_three() {
        // 2026-12-07 12:00 UTC is 20:00 in Shanghai: +2 h is 22:00, night.
        let created = 1_796_644_800_000;
        assert!(!is_night(created));
        let first = next_reminder(created, 0).expect("a first reminder");
        assert!(!is_night(first));
        // 09:00 Shanghai the next day is 01:00 UTC.
        assert_eq!(first.rem_euclid(86_400_000), 3_600_000);
        assert!(next_reminder(created, 3).is_none());
    }

    proptest! {
        #[test]
        fn each_customer_goes_to_one_of_their_guides(
            follows in proptest::collection::vec((0i64..50, 0i64..8, 0i64..1000, any::<bool>()), 0..200),
            rule in prop_oneof![Just(GuideRule::LatestFollow), Just(GuideRule::EarliestFollow), Just(GuideRule::StoreGuide)],
        ) {
            let c: Vec<FollowCandidate> = follows.iter().enumerate().map(|(i, (cu, st, at, here))| FollowCandidate {
                customer_id: *cu, staff_id: *st, added_at: *at, follow_id: i as i64, at_customer_store: *here,
            }).collect();
            let out = assign_guides(&c, rule);
            let mut customers: Vec<i64> = out.iter().map(|p| p.0).collect();
            let n = customers.len();
            customers.dedup();
            prop_assert_eq!(customers.len(), n, "a customer assigned twice");
            let mut want: Vec<i64> = c.iter().map(|f| f.customer_id).collect();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(customers, want);
            for (cu, st) in out {
                prop_assert!(c.iter().any(|f| f.customer_id == cu && f.staff_id == st));
            }
        }

        #[test]
        fn no_reminder_at_night(created in 1_700_000_000_000i64..1_900_000_000_000, sent in 0u32..5) {
            if let Some(at) = next_reminder(created, sent) {
                prop_assert!(!is_night(at));
                prop_assert!(at >= created);
            }
        }
    }
}
