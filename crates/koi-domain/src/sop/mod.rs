//! SOP (标准作业流程): rules that schedule touches of customers or groups,
//! and the script library and material centre guides touch them with.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | a rule: its trigger, audience and steps; validation |
//! | `schedule.rs` | when a step is due, in Asia/Shanghai (UTC+8, no daylight saving) |
//! | `festivals.rs` | the festival calendar: Chinese festivals and the brand's own days |
//! | `template.rs` | ready rules (the "periodic hot products" rhythm) |
//! | `material_file.rs` | files uploaded to the material centre: format by content, size limits, WeCom media reuse |
//! | `script.rs` | scripts (话术): variables and their rendering; materials (素材) and their kinds |
//!
//! A rule fires a step for a target (a customer or a group) at most once
//! per occurrence: per-customer triggers (day N after add, an event) have a
//! single occurrence (0), calendar triggers (weekly, festival) one per date
//! (its day number). The store keeps each fired (rule, step, target,
//! occurrence) unique; [`schedule`] decides only *when*.

pub mod festivals;
pub mod material_file;
pub mod schedule;
pub mod script;
pub mod template;

use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

pub use schedule::{anchored_due, calendar_occurrences, Hm, DAY_MS, TZ_OFFSET_MS};

/// Steps per rule.
pub const MAX_STEPS: usize = 10;
/// Tags an audience or a trigger may name.
pub const MAX_TAGS: usize = 20;
/// Groups a group audience may name.
pub const MAX_GROUPS: usize = 200;
/// The furthest a step may be from its anchor.
pub const MAX_DAY: i32 = 365;
/// A festival step may come this many days before the festival (a preheat).
pub const MAX_DAYS_BEFORE: i32 = 30;

/// What starts a rule's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// The day the customer added a guide (day 0); steps are days after it.
    AfterAdd,
    /// Every week on these weekdays (1 = Monday … 7 = Sunday).
    Weekly { weekdays: Vec<u8> },
    /// The brand's festival calendar: Chinese festivals by key (see
    /// [`festivals::FESTIVALS`]) and the brand's own days.
    Festival {
        #[serde(default)]
        festivals: Vec<String>,
        #[serde(default)]
        brand_days: Vec<festivals::BrandDay>,
    },
    /// Something a customer did or that happened to them.
    Event { event: SopEvent },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::AfterAdd => "after_add",
            Trigger::Weekly { .. } => "weekly",
            Trigger::Festival { .. } => "festival",
            Trigger::Event { .. } => "event",
        }
    }

    /// Calendar triggers fire once per date; the others once per customer.
    pub fn is_calendar(&self) -> bool {
        matches!(self, Trigger::Weekly { .. } | Trigger::Festival { .. })
    }
}

/// The events an event rule listens for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum SopEvent {
    /// The customer was given this tag (by hand, a rule, a code, WeCom).
    Tagged { tag_id: String },
    /// The customer's first order.
    FirstOrder,
    /// The lifecycle stage changed (to `to`, or to any stage when empty).
    StageChanged {
        #[serde(default)]
        to: String,
    },
    /// No order for `days` days since the last one (checked by the timer).
    NoOrderFor { days: u32 },
    /// The customer joined a group of this kind (`vip`, `store`…), or any
    /// group when empty.
    JoinedGroup {
        #[serde(default)]
        group_kind: String,
    },
}

/// Something that happened to a customer, as the hooks report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened<'a> {
    Tagged(&'a [String]),
    FirstOrder,
    StageChanged(&'a str),
    JoinedGroup(&'a str),
}

impl SopEvent {
    /// Whether this rule's event is what happened.
    pub fn matches(&self, h: &Happened<'_>) -> bool {
        match (self, h) {
            (SopEvent::Tagged { tag_id }, Happened::Tagged(tags)) => tags.iter().any(|t| t == tag_id),
            (SopEvent::FirstOrder, Happened::FirstOrder) => true,
            (SopEvent::StageChanged { to }, Happened::StageChanged(s)) => to.is_empty() || to == s,
            (SopEvent::JoinedGroup { group_kind }, Happened::JoinedGroup(k)) => {
                group_kind.is_empty() || group_kind == k
            }
            _ => false,
        }
    }
}

/// Whom a rule touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    /// Customers: all of the corp's, narrowed to those with any of `tag_ids`
    /// and (calendar rules) to the members of a saved segment.
    Customers {
        #[serde(default)]
        tag_ids: Vec<String>,
        #[serde(default)]
        segment_id: Option<i64>,
    },
    /// Customer groups (calendar rules only); the task goes to the owner.
    Groups { group_ids: Vec<i64> },
}

/// What a step does when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepAction {
    /// A task for the guide who owns the customer (or group): shown in
    /// their sidebar with the script and material to send, until done. A
    /// weekly or festival rule for customers gives each guide who owns some
    /// of them one task per date (not one per customer).
    GuideTask {
        title: String,
        #[serde(default)]
        script_id: Option<i64>,
        #[serde(default)]
        material_id: Option<i64>,
    },
    /// An automatic mass message through the mass-send flow (each guide
    /// confirms it in WeCom); counted against the fatigue cap. Per-customer
    /// rules send it to the one customer (its guide's task); weekly and
    /// festival rules to their segment (one mass send per date).
    MassMessage {
        text: String,
        #[serde(default)]
        material_id: Option<i64>,
    },
}

/// One step: `day` days after the anchor (the add, the event, the
/// calendar date; negative before a festival), at `at` Shanghai time (or,
/// without `at`, exactly `day` × 24 h after the anchor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    #[serde(default)]
    pub day: i32,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "10:00")]
    pub at: Option<Hm>,
    pub action: StepAction,
}

/// A rule as an operator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SopDraft {
    pub name: String,
    pub trigger: Trigger,
    pub audience: Audience,
    pub steps: Vec<Step>,
}

impl SopDraft {
    /// Checks a draft; names are trimmed. Ids (tags, segments, groups,
    /// scripts, materials) are checked against the corp by the engine.
    pub fn validate(mut self) -> Result<SopDraft, ValidationError> {
        let mut c = Checker::default();
        self.name = c.text("name", &self.name, 64, true);
        match &mut self.trigger {
            Trigger::AfterAdd => {}
            Trigger::Weekly { weekdays } => {
                weekdays.sort_unstable();
                weekdays.dedup();
                if weekdays.is_empty() || weekdays.iter().any(|d| !(1..=7).contains(d)) {
                    c.push("trigger.weekdays", "invalid", "name 1..7 weekdays (1 = Monday, 7 = Sunday)");
                }
            }
            Trigger::Festival { festivals: keys, brand_days } => {
                keys.sort();
                keys.dedup();
                if keys.is_empty() && brand_days.is_empty() {
                    c.push("trigger.festivals", "empty", "name a festival or a brand day");
                }
                for k in keys.iter() {
                    if festivals::festival(k).is_none() {
                        c.push("trigger.festivals", "unknown", format!("no festival {k:?}"));
                    }
                }
                if brand_days.len() > 20 {
                    c.push("trigger.brand_days", "too_many", "at most 20 brand days");
                }
                for d in brand_days.iter_mut() {
                    d.name = c.text("trigger.brand_days.name", &d.name, 32, true);
                    if let Err(e) = d.check() {
                        c.extend(e);
                    }
                }
            }
            Trigger::Event { event } => match event {
                SopEvent::Tagged { tag_id } => {
                    *tag_id = c.text("trigger.event.tag_id", tag_id, 64, true);
                }
                SopEvent::StageChanged { to } => {
                    *to = to.trim().to_string();
                    if !to.is_empty() && crate::segment::Stage::from_name(to).is_none() {
                        c.push("trigger.event.to", "unknown", format!("no stage {to:?}"));
                    }
                }
                SopEvent::NoOrderFor { days } => {
                    if !(1..=730).contains(days) {
                        c.push("trigger.event.days", "out_of_range", "days is 1..=730");
                    }
                }
                SopEvent::JoinedGroup { group_kind } => {
                    *group_kind = c.text("trigger.event.group_kind", group_kind, 32, false);
                }
                SopEvent::FirstOrder => {}
            },
        }
        match &self.audience {
            Audience::Customers { tag_ids, segment_id } => {
                if tag_ids.len() > MAX_TAGS {
                    c.push("audience.tag_ids", "too_many", format!("at most {MAX_TAGS} tags"));
                }
                if segment_id.is_some() && !self.trigger.is_calendar() {
                    c.push(
                        "audience.segment_id",
                        "calendar_only",
                        "a segment narrows weekly and festival rules; per-customer rules narrow by tags",
                    );
                }
            }
            Audience::Groups { group_ids } => {
                if !self.trigger.is_calendar() {
                    c.push("audience", "calendar_only", "groups are touched by weekly and festival rules only");
                }
                if group_ids.is_empty() || group_ids.len() > MAX_GROUPS {
                    c.push("audience.group_ids", "count", format!("name 1..={MAX_GROUPS} groups"));
                }
            }
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            c.push("steps", "count", format!("a rule has 1..={MAX_STEPS} steps"));
        }
        let min_day = if matches!(self.trigger, Trigger::Festival { .. }) { -MAX_DAYS_BEFORE } else { 0 };
        let groups = matches!(self.audience, Audience::Groups { .. });
        let segment = matches!(self.audience, Audience::Customers { segment_id: Some(_), .. });
        let calendar = self.trigger.is_calendar();
        for (i, s) in self.steps.iter_mut().enumerate() {
            let f = |n: &str| format!("steps[{i}].{n}");
            if !(min_day..=MAX_DAY).contains(&s.day) {
                c.push(&f("day"), "out_of_range", format!("day is {min_day}..={MAX_DAY}"));
            }
            if self.trigger.is_calendar() && s.at.is_none() {
                c.push(&f("at"), "required", "a weekly or festival step needs a time of day");
            }
            match &mut s.action {
                StepAction::GuideTask { title, .. } => {
                    *title = c.text(&f("action.title"), title, 128, true);
                }
                StepAction::MassMessage { text, .. } => {
                    *text = c.text(&f("action.text"), text, 2000, true);
                    if groups {
                        c.push(&f("action"), "customers_only", "a mass message goes to customers; use a guide task");
                    } else if calendar && !segment {
                        c.push(
                            &f("action"),
                            "segment_required",
                            "a weekly or festival mass message goes to a segment: pick one in the audience",
                        );
                    }
                }
            }
        }
        c.finish(self)
    }

    /// The scripts and materials the steps name (the engine checks they exist).
    pub fn referenced(&self) -> (Vec<i64>, Vec<i64>) {
        let (mut scripts, mut materials) = (Vec::new(), Vec::new());
        for s in &self.steps {
            match &s.action {
                StepAction::GuideTask { script_id, material_id, .. } => {
                    scripts.extend(*script_id);
                    materials.extend(*material_id);
                }
                StepAction::MassMessage { material_id, .. } => materials.extend(*material_id),
            }
        }
        (scripts, materials)
    }
}

/// Whether a per-customer rule's audience takes a customer with these tags.
pub fn audience_takes(audience: &Audience, customer_tags: &[String]) -> bool {
    match audience {
        Audience::Customers { tag_ids, .. } => tag_ids.is_empty() || tag_ids.iter().any(|t| customer_tags.contains(t)),
        Audience::Groups { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(title: &str) -> StepAction {
        StepAction::GuideTask { title: title.into(), script_id: Some(1), material_id: None }
    }

    pub(super) fn draft(trigger: Trigger) -> SopDraft {
        SopDraft {
            name: " 新客三天 ".into(),
            trigger,
            audience: Audience::Customers { tag_ids: vec![], segment_id: None },
            steps: vec![Step { day: 3, at: Some(Hm::new(10, 0).unwrap()), action: task("回访") }],
        }
    }

    #[test]
    fn a_good_draft_is_trimmed() {
        let d = draft(Trigger::AfterAdd).validate().unwrap();
        assert_eq!(d.name, "新客三天");
        assert_eq!(d.referenced(), (vec![1], vec![]));
    }

    #[test]
    fn bad_drafts_say_where() {
        let fields = |d: SopDraft| d.validate().unwrap_err().0.into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(draft(Trigger::Weekly { weekdays: vec![0, 8] })), ["trigger.weekdays"]);
        assert_eq!(
            fields(draft(Trigger::Festival { festivals: vec!["xmas".into()], brand_days: vec![] })),
            ["trigger.festivals"]
        );
        let mut d = draft(Trigger::AfterAdd);
        d.steps[0].day = -1;
        d.audience = Audience::Groups { group_ids: vec![1] };
        assert_eq!(fields(d), ["audience", "steps[0].day"]);
        let mut d = draft(Trigger::Weekly { weekdays: vec![2] });
        d.steps[0].at = None;
        assert_eq!(fields(d), ["steps[0].at"]);
        let mut d = draft(Trigger::Festival { festivals: vec!["mid_autumn".into()], brand_days: vec![] });
        d.steps[0].day = -3;
        assert!(d.validate().is_ok(), "a festival preheat three days before");
        let d = draft(Trigger::Event { event: SopEvent::StageChanged { to: "whale".into() } });
        assert_eq!(fields(d), ["trigger.event.to"]);
        let mut d = draft(Trigger::Weekly { weekdays: vec![5] });
        d.steps[0].action = StepAction::MassMessage { text: "爆品".into(), material_id: None };
        assert_eq!(fields(d.clone()), ["steps[0].action"], "a weekly mass message needs a segment");
        d.audience = Audience::Customers { tag_ids: vec![], segment_id: Some(3) };
        assert!(d.validate().is_ok());
    }

    #[test]
    fn events_match_what_happened() {
        let tagged = SopEvent::Tagged { tag_id: "t1".into() };
        assert!(tagged.matches(&Happened::Tagged(&["t0".into(), "t1".into()])));
        assert!(!tagged.matches(&Happened::Tagged(&["t0".into()])));
        assert!(!tagged.matches(&Happened::FirstOrder));
        assert!(SopEvent::StageChanged { to: String::new() }.matches(&Happened::StageChanged("active")));
        assert!(!SopEvent::StageChanged { to: "buyer".into() }.matches(&Happened::StageChanged("active")));
        assert!(SopEvent::JoinedGroup { group_kind: "vip".into() }.matches(&Happened::JoinedGroup("vip")));
        assert!(!SopEvent::NoOrderFor { days: 3 }.matches(&Happened::FirstOrder));
    }

    #[test]
    fn audiences_narrow_by_tags() {
        let all = Audience::Customers { tag_ids: vec![], segment_id: None };
        let vip = Audience::Customers { tag_ids: vec!["vip".into()], segment_id: None };
        assert!(audience_takes(&all, &[]));
        assert!(!audience_takes(&vip, &["new".into()]));
        assert!(audience_takes(&vip, &["new".into(), "vip".into()]));
    }

    #[test]
    fn drafts_round_trip_as_json() {
        let d = draft(Trigger::Festival {
            festivals: vec!["spring_festival".into()],
            brand_days: vec![festivals::BrandDay { name: "会员日".into(), month: None, day: 8 }],
        });
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.contains("\"at\":\"10:00\""), "{text}");
        assert_eq!(serde_json::from_str::<SopDraft>(&text).unwrap(), d);
    }
}
