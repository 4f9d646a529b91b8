//! Tag rules: "when a customer does X, tag them Y" — the seeds' poll tags
//! (Cotton Era), VIP-group tags and first-order tags, without a guide
//! tagging by hand. Most triggers fire on an event; [`Trigger::NoOrderForDays`]
//! is a state the engine's sweep checks with [`Trigger::due`].

use super::facts::label;
use super::{Activity, Behaviour, DAY_MS};
use crate::error::Checker;
use crate::{Millis, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most tags one rule may add and remove together.
pub const MAX_RULE_TAGS: usize = 20;
/// Longest "no order for N days" window: two years covers durable goods
/// (shoes, appliances) whose repurchase cycle runs past a year.
const MAX_DUE_DAYS: u32 = 730;

/// What makes a rule fire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Trigger {
    /// Added (as a friend) through this channel code.
    AddedViaCode {
        code_id: i64,
    },
    /// Joined a group of this kind (`vip`, `store`, …).
    JoinedGroup {
        group_kind: String,
    },
    /// Placed the first order.
    FirstOrder,
    /// No order for `days` days (counted from the add for customers who never
    /// ordered). Time-based: evaluated by a sweep, never by an event.
    NoOrderForDays {
        days: u32,
    },
    PollAnswer {
        poll: String,
        answer: String,
    },
    OpenedMaterial {
        material: String,
    },
    JoinedCampaign {
        campaign: String,
    },
}

/// What happened, as the rule engine sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Happening<'a> {
    /// The customer added a guide; `code_id` when it was through a channel code.
    Added { code_id: Option<i64> },
    /// A behaviour, with the customer's activity after applying it.
    Behaved(&'a Behaviour, &'a Activity),
}

/// One rule: on `trigger`, add `add_tags` and remove `remove_tags` (WeCom
/// corp tag ids, `et…`, which survive renames). Also what the console and
/// the API send to create or replace a rule, without an `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagRule {
    /// koi's id; absent (0) in a draft: the path names the rule to replace.
    #[serde(default)]
    pub id: i64,
    pub name: String,
    /// `{"on":"added_via_code","code_id":3}`, `{"on":"joined_group","group_kind":"vip"}`,
    /// `{"on":"first_order"}`, `{"on":"no_order_for_days","days":30}`,
    /// `{"on":"poll_answer","poll":"p1","answer":"A"}`, `{"on":"opened_material","material":"m1"}`,
    /// `{"on":"joined_campaign","campaign":"c1"}`.
    pub trigger: Trigger,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// Also issue a coupon of this template (koi's id), once per customer
    /// and rule; within the template's stock and limit per customer.
    #[serde(default)]
    pub issue_coupon: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Names in rules and events are compared trimmed: `"vip "` from a POS is `vip`.
fn same(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

impl Trigger {
    /// Reports fields as `trigger.code_id`, `trigger.poll`, ….
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        self.check(&mut c, "trigger.");
        c.finish(())
    }

    fn check(&self, c: &mut Checker, prefix: &str) {
        let f = |name: &str| format!("{prefix}{name}");
        match self {
            Trigger::AddedViaCode { code_id } => {
                if *code_id <= 0 {
                    c.push(&f("code_id"), "out_of_range", "channel code id must be positive");
                }
            }
            Trigger::JoinedGroup { group_kind } => label(c, &f("group_kind"), group_kind),
            Trigger::FirstOrder => {}
            Trigger::NoOrderForDays { days } => {
                if !(1..=MAX_DUE_DAYS).contains(days) {
                    c.push(&f("days"), "out_of_range", format!("days {days} is not in 1..={MAX_DUE_DAYS}"));
                }
            }
            Trigger::PollAnswer { poll, answer } => {
                label(c, &f("poll"), poll);
                label(c, &f("answer"), answer);
            }
            Trigger::OpenedMaterial { material } => label(c, &f("material"), material),
            Trigger::JoinedCampaign { campaign } => label(c, &f("campaign"), campaign),
        }
    }

    /// Whether an event fires this trigger. [`Trigger::FirstOrder`] fires on
    /// the order that made `orders == 1`, so a repeat buyer is not re-tagged;
    /// [`Trigger::NoOrderForDays`] never fires on events (see [`Trigger::due`]).
    pub fn fires(&self, h: &Happening<'_>) -> bool {
        match (self, h) {
            (Trigger::AddedViaCode { code_id }, Happening::Added { code_id: Some(got) }) => code_id == got,
            (
                Trigger::JoinedGroup { group_kind },
                Happening::Behaved(Behaviour::GroupJoined { group_kind: got }, _),
            ) => same(group_kind, got),
            (Trigger::FirstOrder, Happening::Behaved(Behaviour::OrderPlaced { .. }, after)) => after.orders == 1,
            (
                Trigger::PollAnswer { poll, answer },
                Happening::Behaved(Behaviour::PollAnswered { poll: p, answer: a }, _),
            ) => same(poll, p) && same(answer, a),
            (
                Trigger::OpenedMaterial { material },
                Happening::Behaved(Behaviour::MaterialOpened { material: m }, _),
            ) => same(material, m),
            (
                Trigger::JoinedCampaign { campaign },
                Happening::Behaved(Behaviour::CampaignJoined { campaign: c }, _),
            ) => same(campaign, c),
            _ => false,
        }
    }

    /// For [`Trigger::NoOrderForDays`]: whether the customer is due at `now`,
    /// i.e. the last order — or the add, for a customer who never ordered —
    /// lies more than `days` days back. Always false for event triggers.
    pub fn due(&self, a: &Activity, now: Millis) -> bool {
        match self {
            Trigger::NoOrderForDays { days } => {
                let since = a.last_order_at.or(a.first_order_at).unwrap_or(a.added_at);
                now.saturating_sub(since) > i64::from(*days) * DAY_MS
            }
            _ => false,
        }
    }

    /// The trigger as an operator reads it in the console, in Chinese.
    pub fn describe_zh(&self) -> String {
        match self {
            Trigger::AddedViaCode { code_id } => format!("通过渠道活码 #{code_id} 添加"),
            Trigger::JoinedGroup { group_kind } => format!("加入「{}」类型的群", group_kind.trim()),
            Trigger::FirstOrder => "首次下单".into(),
            Trigger::NoOrderForDays { days } => format!("超过 {days} 天未下单"),
            Trigger::PollAnswer { poll, answer } => format!("在投票「{}」中选择「{}」", poll.trim(), answer.trim()),
            Trigger::OpenedMaterial { material } => format!("打开素材「{}」", material.trim()),
            Trigger::JoinedCampaign { campaign } => format!("参加活动「{}」", campaign.trim()),
        }
    }

    /// The trigger as an operator reads it in the console, in English.
    pub fn describe_en(&self) -> String {
        match self {
            Trigger::AddedViaCode { code_id } => format!("added via channel code #{code_id}"),
            Trigger::JoinedGroup { group_kind } => format!("joined a \"{}\" group", group_kind.trim()),
            Trigger::FirstOrder => "placed the first order".into(),
            Trigger::NoOrderForDays { days } => format!("no order for more than {days} days"),
            Trigger::PollAnswer { poll, answer } => {
                format!("answered \"{}\" in poll \"{}\"", answer.trim(), poll.trim())
            }
            Trigger::OpenedMaterial { material } => format!("opened material \"{}\"", material.trim()),
            Trigger::JoinedCampaign { campaign } => format!("joined campaign \"{}\"", campaign.trim()),
        }
    }
}

impl TagRule {
    /// Name 1..=64 characters; at least one tag to add or remove (or a
    /// coupon to issue), at most [`MAX_RULE_TAGS`] in all, none blank, none
    /// in both lists; a valid trigger.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        c.text("name", &self.name, 64, true);
        self.trigger.check(&mut c, "trigger.");
        let total = self.add_tags.len() + self.remove_tags.len();
        if self.issue_coupon.is_some_and(|t| t <= 0) {
            c.push("issue_coupon", "out_of_range", "coupon template id must be positive");
        }
        if total == 0 && self.issue_coupon.is_none() {
            c.push("add_tags", "required", "a rule must add or remove at least one tag, or issue a coupon");
        } else if total > MAX_RULE_TAGS {
            c.push("add_tags", "too_many", format!("{total} tags; a rule may add and remove at most {MAX_RULE_TAGS}"));
        }
        for (field, tags) in [("add_tags", &self.add_tags), ("remove_tags", &self.remove_tags)] {
            if tags.iter().any(|t| t.trim().is_empty()) {
                c.push(field, "required", "a tag id is empty");
            }
        }
        let added: BTreeSet<&str> = self.add_tags.iter().map(|t| t.trim()).collect();
        let both: Vec<&str> = self.remove_tags.iter().map(|t| t.trim()).filter(|t| added.contains(t)).collect();
        if !both.is_empty() {
            c.push("remove_tags", "conflict", format!("tags both added and removed: {}", both.join(", ")));
        }
        c.finish(())
    }
}

/// The active rules one happening fires, in rule id order, so that when two
/// rules disagree about a tag the later rule's change is applied last.
pub fn fire<'r>(rules: &'r [TagRule], h: &Happening<'_>) -> Vec<&'r TagRule> {
    sorted(rules.iter().filter(|r| r.active && r.trigger.fires(h)))
}

/// The active time-based rules due for a customer at `now`, in rule id order
/// (the sweep's counterpart of [`fire`]).
pub fn due_rules<'r>(rules: &'r [TagRule], a: &Activity, now: Millis) -> Vec<&'r TagRule> {
    sorted(rules.iter().filter(|r| r.active && r.trigger.due(a, now)))
}

fn sorted<'r>(rules: impl Iterator<Item = &'r TagRule>) -> Vec<&'r TagRule> {
    let mut v: Vec<&TagRule> = rules.collect();
    v.sort_by_key(|r| r.id);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(id: i64, trigger: Trigger) -> TagRule {
        TagRule {
            id,
            name: format!("rule {id}"),
            trigger,
            add_tags: vec![format!("et{id}")],
            remove_tags: vec![],
            issue_coupon: None,
            active: true,
        }
    }

    fn order(after: &Activity) -> bool {
        Trigger::FirstOrder.fires(&Happening::Behaved(&Behaviour::OrderPlaced { amount_fen: 100 }, after))
    }

    #[test]
    fn wire_form_is_tagged_by_on() {
        let r: TagRule = serde_json::from_value(json!({
            "id": 1, "name": "棉时代肤质", "trigger": {"on": "poll_answer", "poll": "肤质", "answer": "干性"},
            "add_tags": ["etDry"]
        }))
        .unwrap();
        assert_eq!(r.trigger, Trigger::PollAnswer { poll: "肤质".into(), answer: "干性".into() });
        assert!(r.active && r.remove_tags.is_empty());
        let v = serde_json::to_value(Trigger::NoOrderForDays { days: 60 }).unwrap();
        assert_eq!(v, json!({"on": "no_order_for_days", "days": 60}));
        assert_eq!(serde_json::to_value(Trigger::FirstOrder).unwrap(), json!({"on": "first_order"}));
    }

    #[test]
    fn a_draft_has_no_id_and_defaults_to_active() {
        let r: TagRule = serde_json::from_value(json!({
            "name": "首单VIP", "trigger": {"on": "first_order"}, "add_tags": ["etVip"], "remove_tags": ["etNew"]
        }))
        .unwrap();
        assert_eq!(r.id, 0);
        assert!(r.active);
        assert_eq!(
            (r.add_tags.as_slice(), r.remove_tags.as_slice()),
            (&["etVip".to_string()][..], &["etNew".to_string()][..])
        );
        assert!(serde_json::from_value::<TagRule>(json!({"name": "x"})).is_err(), "a rule needs a trigger");
    }

    #[test]
    fn first_order_fires_only_on_the_first() {
        let a = Activity::added(0);
        let first = a.apply(&Behaviour::OrderPlaced { amount_fen: 100 }, 1);
        let second = first.apply(&Behaviour::OrderPlaced { amount_fen: 100 }, 2);
        assert!(order(&first));
        assert!(!order(&second));
        // A refund after the first order is not a first order.
        let refund = Behaviour::OrderRefunded { amount_fen: 100, whole: false };
        assert!(!Trigger::FirstOrder.fires(&Happening::Behaved(&refund, &first)));
    }

    #[test]
    fn event_triggers_match_their_own_event_only() {
        let a = Activity::default();
        let joined = Behaviour::GroupJoined { group_kind: "vip ".into() };
        assert!(Trigger::JoinedGroup { group_kind: "vip".into() }.fires(&Happening::Behaved(&joined, &a)));
        assert!(!Trigger::JoinedGroup { group_kind: "store".into() }.fires(&Happening::Behaved(&joined, &a)));
        let answered = Behaviour::PollAnswered { poll: "肤质".into(), answer: "油性".into() };
        assert!(!Trigger::PollAnswer { poll: "肤质".into(), answer: "干性".into() }
            .fires(&Happening::Behaved(&answered, &a)));
        assert!(Trigger::PollAnswer { poll: "肤质".into(), answer: "油性".into() }
            .fires(&Happening::Behaved(&answered, &a)));
        let opened = Behaviour::MaterialOpened { material: "新品手册".into() };
        assert!(Trigger::OpenedMaterial { material: "新品手册".into() }.fires(&Happening::Behaved(&opened, &a)));
        let campaign = Behaviour::CampaignJoined { campaign: "邀请3位姐妹".into() };
        assert!(Trigger::JoinedCampaign { campaign: "邀请3位姐妹".into() }.fires(&Happening::Behaved(&campaign, &a)));
        assert!(!Trigger::JoinedCampaign { campaign: "x".into() }.fires(&Happening::Behaved(&opened, &a)));
        let via = Trigger::AddedViaCode { code_id: 7 };
        assert!(via.fires(&Happening::Added { code_id: Some(7) }));
        assert!(!via.fires(&Happening::Added { code_id: Some(8) }));
        assert!(!via.fires(&Happening::Added { code_id: None }));
        let no_order = Trigger::NoOrderForDays { days: 1 };
        assert!(!no_order.fires(&Happening::Added { code_id: None }));
        assert!(!no_order.fires(&Happening::Behaved(&Behaviour::MessageReplied, &a)));
    }

    #[test]
    fn no_order_for_days_is_due_strictly_after_the_window() {
        let t = Trigger::NoOrderForDays { days: 30 };
        let never = Activity::added(0);
        assert!(!t.due(&never, 30 * DAY_MS));
        assert!(t.due(&never, 30 * DAY_MS + 1));
        let bought = Activity { last_order_at: Some(10 * DAY_MS), orders: 1, ..never.clone() };
        assert!(!t.due(&bought, 40 * DAY_MS));
        assert!(t.due(&bought, 40 * DAY_MS + 1));
        assert!(!Trigger::FirstOrder.due(&never, i64::MAX));
        assert!(!t.due(&Activity::added(i64::MAX), i64::MIN));
    }

    #[test]
    fn fire_picks_active_matching_rules_in_id_order() {
        let mut off = rule(2, Trigger::FirstOrder);
        off.active = false;
        let rules = [
            rule(9, Trigger::FirstOrder),
            off,
            rule(3, Trigger::FirstOrder),
            rule(1, Trigger::JoinedGroup { group_kind: "vip".into() }),
            rule(4, Trigger::NoOrderForDays { days: 7 }),
        ];
        let after = Activity { orders: 1, ..Activity::default() };
        let ids = |v: Vec<&TagRule>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let placed = Behaviour::OrderPlaced { amount_fen: 100 };
        assert_eq!(ids(fire(&rules, &Happening::Behaved(&placed, &after))), [3, 9]);
        assert_eq!(ids(fire(&rules, &Happening::Added { code_id: Some(1) })), Vec::<i64>::new());
        assert_eq!(ids(due_rules(&rules, &Activity::added(0), 8 * DAY_MS)), [4]);
    }

    #[test]
    fn rule_validation() {
        assert!(rule(1, Trigger::FirstOrder).validate().is_ok());
        let remove_only =
            TagRule { add_tags: vec![], remove_tags: vec!["etNew".into()], ..rule(1, Trigger::FirstOrder) };
        assert!(remove_only.validate().is_ok());
        let codes = |r: &TagRule| -> Vec<(String, String)> {
            r.validate().unwrap_err().0.into_iter().map(|e| (e.field, e.code)).collect()
        };
        let pair = |f: &str, c: &str| (f.to_string(), c.to_string());
        let coupon_only = TagRule { add_tags: vec![], issue_coupon: Some(3), ..rule(1, Trigger::FirstOrder) };
        assert!(coupon_only.validate().is_ok(), "a rule may only issue a coupon");
        let bad = TagRule { issue_coupon: Some(0), ..rule(1, Trigger::FirstOrder) };
        assert_eq!(bad.validate().unwrap_err().0[0].field, "issue_coupon");
        let empty = TagRule { name: " ".into(), add_tags: vec![], ..rule(1, Trigger::AddedViaCode { code_id: 0 }) };
        assert_eq!(
            codes(&empty),
            [pair("name", "required"), pair("trigger.code_id", "out_of_range"), pair("add_tags", "required")]
        );
        let many = TagRule { add_tags: (0..21).map(|i| format!("et{i}")).collect(), ..rule(1, Trigger::FirstOrder) };
        assert_eq!(codes(&many), [pair("add_tags", "too_many")]);
        let both = TagRule {
            add_tags: vec!["etA".into(), "etB".into()],
            remove_tags: vec!["etB ".into(), "".into()],
            ..rule(1, Trigger::NoOrderForDays { days: 0 })
        };
        assert_eq!(
            codes(&both),
            [pair("trigger.days", "out_of_range"), pair("remove_tags", "required"), pair("remove_tags", "conflict")]
        );
        let long = TagRule { name: "规".repeat(65), ..rule(1, Trigger::JoinedGroup { group_kind: "".into() }) };
        assert_eq!(codes(&long), [pair("name", "too_long"), pair("trigger.group_kind", "required")]);
    }

    #[test]
    fn descriptions_read_in_both_languages() {
        let t = Trigger::PollAnswer { poll: "肤质".into(), answer: "干性".into() };
        assert_eq!(t.describe_zh(), "在投票「肤质」中选择「干性」");
        assert_eq!(t.describe_en(), "answered \"干性\" in poll \"肤质\"");
        assert_eq!(Trigger::NoOrderForDays { days: 60 }.describe_zh(), "超过 60 天未下单");
        assert_eq!(Trigger::AddedViaCode { code_id: 12 }.describe_en(), "added via channel code #12");
    }
}
