//! Fission campaigns (裂变活动): the engine every fission type shares.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | a campaign as the operator edits it (`CampaignDraft`), its kinds and states, what may change while it runs |
//! | `tiers.rs` | reward tiers and rewards, which tiers a count reaches |
//! | `risk.rs` | risk settings and the checks an invite passes (风控), with the reasons kept on a rejected invite |
//! | `stats.rs` | the dashboard's arithmetic: K-factor, cost per retained customer |
//! | `migration.rs` | migration campaigns: the old WeChat groups, their entries' `state`, a member's move |
//!
//! A participant is a customer with a personal entry (a contact way whose
//! `state` names the campaign and the participant, or a group join way for
//! group fission). An invite is a customer who came in through someone's
//! entry; it is *pending* until the hold passes, then *valid* or *rejected*
//! with a reason. Rewards are reached by a participant's count of valid
//! invites, once per tier.

pub mod migration;
pub mod risk;
pub mod stats;
pub mod tiers;

use crate::error::{Checker, ValidationError};
use crate::Millis;
pub use migration::{MoveState, OldGroup};
pub use risk::{RejectReason, RiskSettings};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
pub use tiers::{RewardKind, RewardSpec, Tier};

pub const MAX_NAME_CHARS: usize = 60;
pub const MAX_WELCOME_CHARS: usize = 1000;
pub const MAX_RULES_CHARS: usize = 4000;
pub const MAX_TIERS: usize = 10;
/// A staff pool of one contact way: WeCom's bound on a multi-member way.
pub const MAX_STAFF: usize = 100;

/// What kind of fission a campaign runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// 任务裂变: N valid invites (friends who add a guide) reach a tier.
    #[default]
    Task,
    /// 群裂变: N friends who join a group through the inviter's group code.
    Group,
    /// Seed users share a poster; the friend is rewarded on add.
    Poster,
    /// 微信群迁移: members of old WeChat groups join WeCom groups through
    /// their old group's entry and earn the join reward once they stay.
    Migration,
}

impl CampaignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Task => "task",
            CampaignKind::Group => "group",
            CampaignKind::Poster => "poster",
            CampaignKind::Migration => "migration",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "task" => CampaignKind::Task,
            "group" => CampaignKind::Group,
            "poster" => CampaignKind::Poster,
            "migration" => CampaignKind::Migration,
            _ => return None,
        })
    }
}

/// Where a campaign is in its life. `Scheduled` starts by itself at
/// `starts_at`; any live state ends by itself at `ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Scheduled,
    Running,
    Paused,
    Ended,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => CampaignState::Draft,
            "scheduled" => CampaignState::Scheduled,
            "running" => CampaignState::Running,
            "paused" => CampaignState::Paused,
            "ended" => CampaignState::Ended,
            _ => return None,
        })
    }

    /// Whether invites through the campaign's entries count now.
    pub fn takes_invites(self) -> bool {
        self == CampaignState::Running
    }

    /// Whether the campaign still has entries out in the world.
    pub fn is_live(self) -> bool {
        matches!(self, CampaignState::Scheduled | CampaignState::Running | CampaignState::Paused)
    }
}

/// What an operator asks of a campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Draft → scheduled (running at once when the window has begun).
    Launch,
    Pause,
    Resume,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} campaign cannot {what}")]
pub struct TransitionError {
    pub from: &'static str,
    pub what: &'static str,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Launch => "launch",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::End => "end",
        }
    }

    /// The state after this transition at `now`, or why it is not allowed.
    pub fn apply(
        self,
        from: CampaignState,
        window: (Millis, Millis),
        now: Millis,
    ) -> Result<CampaignState, TransitionError> {
        use CampaignState::*;
        let to = match (self, from) {
            (Transition::Launch, Draft) => state_at(Scheduled, window, now),
            (Transition::Pause, Running) => Paused,
            (Transition::Resume, Paused) => state_at(Running, window, now),
            (Transition::End, Draft | Scheduled | Running | Paused) => Ended,
            _ => return Err(TransitionError { from: from.as_str(), what: self.as_str() }),
        };
        Ok(to)
    }
}

/// The state time makes of `state`: a scheduled campaign whose window has
/// begun runs, and any live campaign past its end has ended.
pub fn state_at(state: CampaignState, (starts_at, ends_at): (Millis, Millis), now: Millis) -> CampaignState {
    use CampaignState::*;
    match state {
        Scheduled | Running | Paused if now >= ends_at => Ended,
        Scheduled if now >= starts_at => Running,
        s => s,
    }
}

/// A campaign as typed in the console or posted to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignDraft {
    pub name: String,
    #[serde(default)]
    pub kind: CampaignKind,
    /// Ms since the epoch.
    pub starts_at: Millis,
    pub ends_at: Millis,
    /// Participating stores; empty means every store.
    #[serde(default)]
    pub store_ids: Vec<i64>,
    /// Who is invited to take part at launch (a segment expression); empty:
    /// only customers who come in through an entry or are enrolled by hand.
    #[serde(default)]
    pub seed_segment: String,
    /// Staff whose contact ways carry the entries. A participant's entry
    /// adds their own guide when the guide is in the pool, else the pool.
    #[serde(default)]
    pub staff_ids: Vec<i64>,
    /// Sent to an invitee on add, with a link to their own progress page.
    #[serde(default)]
    pub welcome: String,
    /// The poster template of participants' personal posters.
    #[serde(default)]
    pub poster_template_id: Option<i64>,
    /// Group fission and migration: the group code whose groups invitees
    /// (or moving members) join.
    #[serde(default)]
    pub group_code_id: Option<i64>,
    /// Migration: the old WeChat groups, each with an entry of its own.
    #[serde(default)]
    pub old_groups: Vec<OldGroup>,
    #[serde(default)]
    pub tiers: Vec<Tier>,
    /// What the friend gets on add (poster sharing for seed users), or
    /// the join reward of a migration (each moved member, once).
    #[serde(default)]
    pub invitee_reward: Option<RewardSpec>,
    /// Money the campaign may spend on rewards, in fen (0: no money rewards).
    #[serde(default)]
    pub budget_fen: i64,
    /// Shown on the H5 page.
    #[serde(default)]
    pub rules_text: String,
    #[serde(default)]
    pub risk: RiskSettings,
}

impl CampaignDraft {
    /// The draft trimmed and checked. Whether stores, staff, the template
    /// and the group code exist is the engine's check.
    pub fn validate(&self) -> Result<CampaignDraft, ValidationError> {
        let mut c = Checker::default();
        let mut d = self.clone();
        d.name = c.text("name", &self.name, MAX_NAME_CHARS, true);
        d.welcome = c.text("welcome", &self.welcome, MAX_WELCOME_CHARS, false);
        d.rules_text = c.text("rules_text", &self.rules_text, MAX_RULES_CHARS, false);
        d.seed_segment = self.seed_segment.trim().to_string();
        if self.ends_at <= self.starts_at {
            c.push("ends_at", "out_of_range", "the campaign ends after it starts");
        }
        if self.starts_at < 0 {
            c.push("starts_at", "out_of_range", "starts_at is a time after 1970");
        }
        // A migration's entries are group join ways: no contact way, no staff pool.
        if self.staff_ids.is_empty() && self.kind != CampaignKind::Migration {
            c.push("staff_ids", "required", "choose the staff whose contact ways carry the entries");
        }
        if self.staff_ids.len() > MAX_STAFF {
            c.push("staff_ids", "too_many", format!("at most {MAX_STAFF} staff (WeCom's bound on one contact way)"));
        }
        no_duplicates(&mut c, "staff_ids", &self.staff_ids);
        no_duplicates(&mut c, "store_ids", &self.store_ids);
        match self.kind {
            CampaignKind::Group | CampaignKind::Migration if self.group_code_id.is_none() => c.push(
                "group_code_id",
                "required",
                "a group fission or migration names the group code its members join",
            ),
            CampaignKind::Task | CampaignKind::Poster if self.group_code_id.is_some() => {
                c.push("group_code_id", "not_allowed", "only a group fission or migration has a group code")
            }
            _ => {}
        }
        if self.kind == CampaignKind::Migration {
            d.old_groups = migration::check(&mut c, &self.old_groups);
            if self.invitee_reward.is_none() {
                c.push("invitee_reward", "required", "a migration gives each moved member a join reward");
            }
            if !self.tiers.is_empty() {
                c.push("tiers", "not_allowed", "a migration rewards each moved member; it has no tiers");
            }
        } else if !self.old_groups.is_empty() {
            c.push("old_groups", "not_allowed", "only a migration has old groups");
        } else if self.kind == CampaignKind::Poster {
            if self.invitee_reward.is_none() && self.tiers.is_empty() {
                c.push("invitee_reward", "required", "a poster campaign rewards the friend, the sharer, or both");
            }
        } else if self.tiers.is_empty() {
            c.push("tiers", "required", "add at least one reward tier");
        }
        if self.budget_fen < 0 {
            c.push("budget_fen", "out_of_range", "the budget is not negative");
        }
        tiers::check(&mut c, &self.tiers);
        if let Some(r) = &self.invitee_reward {
            r.check(&mut c, "invitee_reward");
        }
        if self.spends_money() && self.budget_fen == 0 {
            c.push("budget_fen", "required", "a campaign with money rewards needs a budget");
        }
        self.risk.check(&mut c);
        c.finish(d)
    }

    /// Whether any reward costs money (red envelopes, or a cost per reward).
    pub fn spends_money(&self) -> bool {
        self.tiers.iter().map(|t| &t.reward).chain(self.invitee_reward.as_ref()).any(|r| r.cost_fen() > 0)
    }

    /// What may change in a running (or paused) campaign: wording, the end
    /// (later only), the budget and inventory (up only), more staff, the
    /// poster. Thresholds, rewards and risk stay as participants were told.
    pub fn check_live_edit(&self, new: &CampaignDraft) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        if new.kind != self.kind {
            c.push("kind", "locked", "the kind of a live campaign cannot change");
        }
        if new.starts_at != self.starts_at {
            c.push("starts_at", "locked", "a live campaign has started");
        }
        if new.ends_at < self.ends_at {
            c.push("ends_at", "locked", "a live campaign's end can move later, not earlier (end it instead)");
        }
        if new.budget_fen < self.budget_fen {
            c.push("budget_fen", "locked", "a live campaign's budget can grow, not shrink");
        }
        if new.store_ids != self.store_ids {
            c.push("store_ids", "locked", "the stores of a live campaign stay as participants were told");
        }
        if !self.staff_ids.iter().all(|s| new.staff_ids.contains(s)) {
            c.push("staff_ids", "locked", "staff can be added to a live campaign, not removed");
        }
        if new.group_code_id != self.group_code_id || new.seed_segment != self.seed_segment {
            c.push("group_code_id", "locked", "the group code and seed audience of a live campaign stay");
        }
        if new.tiers.len() != self.tiers.len()
            || new.tiers.iter().zip(&self.tiers).any(|(n, o)| {
                n.threshold != o.threshold
                    || n.reward != o.reward
                    || n.inventory.unwrap_or(u32::MAX) < o.inventory.unwrap_or(u32::MAX)
            })
        {
            c.push("tiers", "locked", "tiers of a live campaign keep their thresholds and rewards; inventory can grow");
        }
        if !migration::keeps(&self.old_groups, &new.old_groups) {
            c.push("old_groups", "locked", "old groups of a live migration can be added, not changed or removed");
        }
        if new.invitee_reward != self.invitee_reward {
            c.push("invitee_reward", "locked", "the friend's reward of a live campaign stays");
        }
        if new.risk != self.risk {
            c.push("risk", "locked", "risk settings of a live campaign stay (override single invites instead)");
        }
        c.finish(())
    }
}

fn no_duplicates(c: &mut Checker, field: &str, ids: &[i64]) {
    let mut seen = HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        c.push(field, "duplicate", format!("{dup} is listed twice"));
    }
}

/// The part of a personal entry's `state` koi reads back: which campaign and
/// which participant (customer) invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryOf {
    pub campaign_id: i64,
    pub inviter_customer: i64,
}

impl EntryOf {
    /// From an attribution decoded from a `state` (contact way or join way).
    pub fn of(state: &crate::channel::ChannelState) -> Option<Self> {
        Some(EntryOf { campaign_id: state.campaign_id?, inviter_customer: state.inviter_customer? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn draft() -> CampaignDraft {
        CampaignDraft {
            name: "老带新".into(),
            kind: CampaignKind::Task,
            starts_at: 1_000,
            ends_at: 2_000,
            store_ids: vec![],
            seed_segment: String::new(),
            staff_ids: vec![1],
            welcome: "欢迎".into(),
            poster_template_id: None,
            group_code_id: None,
            old_groups: vec![],
            tiers: vec![Tier {
                threshold: 3,
                reward: RewardSpec::coupon("满49减20", "https://shop/c"),
                inventory: None,
            }],
            invitee_reward: None,
            budget_fen: 0,
            rules_text: String::new(),
            risk: RiskSettings::default(),
        }
    }

    #[test]
    fn a_good_draft_passes_and_is_trimmed() {
        let mut d = draft();
        d.name = "  老带新 ".into();
        assert_eq!(d.validate().unwrap().name, "老带新");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut d = draft();
        d.name = String::new();
        d.ends_at = d.starts_at;
        d.staff_ids = vec![];
        d.tiers = vec![];
        let fields: Vec<String> = d.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        for f in ["name", "ends_at", "staff_ids", "tiers"] {
            assert!(fields.contains(&f.to_string()), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn group_fission_needs_a_group_code_and_money_needs_a_budget() {
        let mut d = draft();
        d.kind = CampaignKind::Group;
        d.tiers[0].reward = RewardSpec::red_envelope(2000);
        let e = d.validate().unwrap_err().0;
        assert!(e.iter().any(|e| e.field == "group_code_id"));
        assert!(e.iter().any(|e| e.field == "budget_fen"));
        d.group_code_id = Some(4);
        d.budget_fen = 100_000;
        assert!(d.validate().is_ok());
    }

    #[test]
    fn a_migration_names_old_groups_a_group_code_and_a_join_reward() {
        let mut d = draft();
        d.kind = CampaignKind::Migration;
        let fields: Vec<String> = d.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["group_code_id", "old_groups", "invitee_reward", "tiers"]);
        d.tiers = vec![];
        d.group_code_id = Some(3);
        d.old_groups = vec![OldGroup { name: "UR老会员1群".into(), size: 480 }];
        d.invitee_reward = Some(RewardSpec::points(50));
        assert!(d.validate().is_ok());
        let mut more = d.clone();
        more.old_groups.push(OldGroup { name: "UR老会员2群".into(), size: 300 });
        assert!(d.check_live_edit(&more).is_ok());
        let fields: Vec<String> = more.check_live_edit(&d).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["old_groups"]);
        let mut task = draft();
        task.old_groups = d.old_groups.clone();
        assert!(task.validate().unwrap_err().0.iter().any(|e| e.field == "old_groups"));
    }

    #[test]
    fn time_moves_scheduled_and_live_campaigns() {
        use CampaignState::*;
        let w = (1_000, 2_000);
        assert_eq!(state_at(Scheduled, w, 999), Scheduled);
        assert_eq!(state_at(Scheduled, w, 1_000), Running);
        assert_eq!(state_at(Running, w, 2_000), Ended);
        assert_eq!(state_at(Paused, w, 2_500), Ended);
        assert_eq!(state_at(Draft, w, 2_500), Draft);
        assert_eq!(Transition::Launch.apply(Draft, w, 500), Ok(Scheduled));
        assert_eq!(Transition::Launch.apply(Draft, w, 1_500), Ok(Running));
        assert_eq!(Transition::Resume.apply(Paused, w, 1_500), Ok(Running));
        assert!(Transition::Pause.apply(Draft, w, 1_500).is_err());
        assert!(Transition::Launch.apply(Ended, w, 1_500).is_err());
    }

    #[test]
    fn a_live_campaign_changes_only_what_is_safe() {
        let mut old = draft();
        old.tiers[0].inventory = Some(5);
        let mut new = old.clone();
        new.name = "老带新·加码".into();
        new.ends_at = 3_000;
        new.staff_ids.push(2);
        new.tiers[0].inventory = Some(10);
        assert!(old.check_live_edit(&new).is_ok());
        let mut bad = old.clone();
        bad.tiers[0].threshold = 2;
        bad.risk.hold_secs = 0;
        bad.ends_at = 1_500;
        let fields: Vec<String> = old.check_live_edit(&bad).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["ends_at", "tiers", "risk"]);
    }
}
