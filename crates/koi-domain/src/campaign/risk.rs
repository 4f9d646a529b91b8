//! Risk control (风控): what an invite must pass to count. Every check is on
//! by default and can be loosened per campaign; a rejected invite keeps the
//! first reason it failed, and an operator can override it.
//!
//! Two moments decide an invite. At the add (or group join) koi knows who
//! invited whom and the history of both: self-invites, customers who were
//! not new, re-adds, velocity and rings are caught then. When the hold has
//! passed, koi knows whether the invitee stayed, and what the H5 page saw
//! (device, address, location): leavers, clusters and the geofence are
//! caught then.

use crate::error::Checker;
use serde::{Deserialize, Serialize};

pub const DEFAULT_HOLD_SECS: i64 = 24 * 3600;
/// A month: longer holds are a campaign that never pays.
pub const MAX_HOLD_SECS: i64 = 30 * 24 * 3600;
pub const DEFAULT_VELOCITY_PER_HOUR: u32 = 20;
pub const DEFAULT_CLUSTER_MAX: u32 = 3;
pub const DEFAULT_GEOFENCE_M: u32 = 50_000;

/// A campaign's risk settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RiskSettings {
    /// Only customers who never followed any staff of the corp count.
    pub new_only: bool,
    /// How long an invitee must stay before the invite counts.
    pub hold_secs: i64,
    /// Count at once and check at the end of the hold: a leaver's invite is
    /// then cancelled and an unused reward taken back (a paid red packet
    /// cannot be; the participant has to replace the invite before the next
    /// tier). Off by default: rewards wait for the hold.
    pub pay_before_hold: bool,
    /// The same customer invited twice in a campaign (deleted and re-added,
    /// or through two guides or two posters, or another id with the same
    /// unionid) counts once at most.
    pub no_readd: bool,
    /// Invites one participant may bring in an hour (0: no limit).
    pub velocity_per_hour: u32,
    /// Invitees of one participant that may share one device or address on
    /// the H5 page (0: no limit).
    pub cluster_max: u32,
    /// Reject an invitee who is an ancestor of their inviter (a ring).
    pub ring_check: bool,
    /// Invitees whose H5 location is farther than this from every
    /// participating store do not count (0: no fence). An invitee who shared
    /// no location is not fenced out.
    pub geofence_m: u32,
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings {
            new_only: true,
            hold_secs: DEFAULT_HOLD_SECS,
            pay_before_hold: false,
            no_readd: true,
            velocity_per_hour: DEFAULT_VELOCITY_PER_HOUR,
            cluster_max: DEFAULT_CLUSTER_MAX,
            ring_check: true,
            geofence_m: DEFAULT_GEOFENCE_M,
        }
    }
}

impl RiskSettings {
    pub(crate) fn check(&self, c: &mut Checker) {
        if !(0..=MAX_HOLD_SECS).contains(&self.hold_secs) {
            c.push("risk.hold_secs", "out_of_range", format!("the hold is 0..={MAX_HOLD_SECS} seconds (30 days)"));
        }
        if self.velocity_per_hour > 10_000 {
            c.push("risk.velocity_per_hour", "out_of_range", "at most 10000 an hour (0: no limit)");
        }
        if self.geofence_m > 2_000_000 {
            c.push("risk.geofence_m", "out_of_range", "a fence is at most 2000 km (0: none)");
        }
    }
}

/// Why an invite does not count. The `as_str` codes are stable: the API,
/// the risk report and the H5 page show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The participant scanned their own entry.
    SelfInvite,
    /// The invitee followed some staff of the corp before.
    NotNew,
    /// The invitee was invited in this campaign before (or someone with
    /// their unionid was).
    Readd,
    /// The participant brought more invites in an hour than allowed.
    Velocity,
    /// The invitee is an ancestor of the inviter in the invite tree.
    Ring,
    /// The invitee left (deleted the guide, or left the group) within the hold.
    LeftEarly,
    /// Too many of the participant's invitees on one device or address.
    Cluster,
    /// The invitee is farther from every participating store than the fence.
    Geofence,
    /// The campaign was paused or over when the invitee came.
    NotRunning,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::SelfInvite,
        RejectReason::NotNew,
        RejectReason::Readd,
        RejectReason::Velocity,
        RejectReason::Ring,
        RejectReason::LeftEarly,
        RejectReason::Cluster,
        RejectReason::Geofence,
        RejectReason::NotRunning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::SelfInvite => "self_invite",
            RejectReason::NotNew => "not_new",
            RejectReason::Readd => "readd",
            RejectReason::Velocity => "velocity",
            RejectReason::Ring => "ring",
            RejectReason::LeftEarly => "left_early",
            RejectReason::Cluster => "cluster",
            RejectReason::Geofence => "geofence",
            RejectReason::NotRunning => "not_running",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a participant can be told this reason (the H5 page shows
    /// "did not stay" but not what the fraud checks found).
    pub fn shown_to_customer(self) -> bool {
        matches!(self, RejectReason::NotNew | RejectReason::LeftEarly | RejectReason::NotRunning | RejectReason::Readd)
    }
}

/// What koi knows about an invite at the add or join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddFacts {
    pub running: bool,
    pub self_invite: bool,
    /// The invitee followed some staff of the corp before this add (for a
    /// group join: before the join).
    pub followed_before: bool,
    /// An earlier invite of the same invitee (or unionid) in this campaign.
    pub invited_before: bool,
    /// Invites the inviter brought in the hour before this one.
    pub inviter_last_hour: u32,
    /// The invitee is the inviter's inviter, or theirs, …
    pub invitee_is_ancestor: bool,
}

/// The first rule an invite breaks at the add, if any.
pub fn check_add(s: &RiskSettings, f: &AddFacts) -> Option<RejectReason> {
    if !f.running {
        Some(RejectReason::NotRunning)
    } else if f.self_invite {
        Some(RejectReason::SelfInvite)
    } else if s.ring_check && f.invitee_is_ancestor {
        Some(RejectReason::Ring)
    } else if s.no_readd && f.invited_before {
        Some(RejectReason::Readd)
    } else if s.new_only && f.followed_before {
        Some(RejectReason::NotNew)
    } else if s.velocity_per_hour > 0 && f.inviter_last_hour >= s.velocity_per_hour {
        Some(RejectReason::Velocity)
    } else {
        None
    }
}

/// What koi knows about an invite when its hold has passed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CountFacts {
    /// The invitee still follows the guide (task fission) or is still in
    /// the group (group fission).
    pub stayed: bool,
    /// The largest number of the inviter's invitees (this one included)
    /// seen on one device or one address.
    pub cluster_size: u32,
    /// Metres from the invitee's H5 location to the nearest participating
    /// store; None when no location or no store coordinates are known.
    pub nearest_store_m: Option<f64>,
}

/// The first rule an invite breaks when it would count, if any.
pub fn check_count(s: &RiskSettings, f: &CountFacts) -> Option<RejectReason> {
    if !f.stayed {
        Some(RejectReason::LeftEarly)
    } else if s.cluster_max > 0 && f.cluster_size > s.cluster_max {
        Some(RejectReason::Cluster)
    } else if s.geofence_m > 0 && f.nearest_store_m.is_some_and(|m| m > f64::from(s.geofence_m)) {
        Some(RejectReason::Geofence)
    } else {
        None
    }
}

/// Whether `invitee` is among the ancestors of `inviter`, given each
/// customer's inviter (`parent_of`). Walks at most `max_depth` steps, so a
/// tree corrupted into a loop still ends.
pub fn is_ancestor(invitee: i64, inviter: i64, parent_of: impl Fn(i64) -> Option<i64>, max_depth: usize) -> bool {
    let mut at = Some(inviter);
    for _ in 0..max_depth {
        match at {
            Some(c) if c == invitee => return true,
            Some(c) => at = parent_of(c),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn clean() -> AddFacts {
        AddFacts { running: true, ..AddFacts::default() }
    }

    #[test]
    fn a_clean_invite_passes_both_moments() {
        let s = RiskSettings::default();
        assert_eq!(check_add(&s, &clean()), None);
        let f = CountFacts { stayed: true, cluster_size: 1, nearest_store_m: Some(3_000.0) };
        assert_eq!(check_count(&s, &f), None);
    }

    #[test]
    fn each_add_rule_rejects_with_its_reason_and_can_be_loosened() {
        let s = RiskSettings::default();
        let cases = [
            (AddFacts { self_invite: true, ..clean() }, RejectReason::SelfInvite),
            (AddFacts { followed_before: true, ..clean() }, RejectReason::NotNew),
            (AddFacts { invited_before: true, ..clean() }, RejectReason::Readd),
            (AddFacts { inviter_last_hour: 20, ..clean() }, RejectReason::Velocity),
            (AddFacts { invitee_is_ancestor: true, ..clean() }, RejectReason::Ring),
            (AddFacts { running: false, ..clean() }, RejectReason::NotRunning),
        ];
        for (f, r) in cases {
            assert_eq!(check_add(&s, &f), Some(r), "{f:?}");
        }
        let loose = RiskSettings { new_only: false, no_readd: false, velocity_per_hour: 0, ring_check: false, ..s };
        assert_eq!(check_add(&loose, &AddFacts { followed_before: true, inviter_last_hour: 500, ..clean() }), None);
        // A self-invite never counts, whatever the settings.
        assert_eq!(check_add(&loose, &AddFacts { self_invite: true, ..clean() }), Some(RejectReason::SelfInvite));
    }

    #[test]
    fn count_rules_catch_leavers_clusters_and_the_fence() {
        let s = RiskSettings::default();
        let ok = CountFacts { stayed: true, cluster_size: 3, nearest_store_m: None };
        assert_eq!(check_count(&s, &ok), None, "three on one device is the default limit; no location, no fence");
        assert_eq!(check_count(&s, &CountFacts { stayed: false, ..ok }), Some(RejectReason::LeftEarly));
        assert_eq!(check_count(&s, &CountFacts { cluster_size: 4, ..ok }), Some(RejectReason::Cluster));
        assert_eq!(
            check_count(&s, &CountFacts { nearest_store_m: Some(80_000.0), ..ok }),
            Some(RejectReason::Geofence)
        );
    }

    #[test]
    fn rings_are_found_up_the_tree_and_loops_end() {
        let parents: HashMap<i64, i64> = [(3, 2), (2, 1)].into_iter().collect();
        let parent_of = |c: i64| parents.get(&c).copied();
        assert!(is_ancestor(1, 3, parent_of, 100), "1 invited 2 who invited 3: 3 inviting 1 closes a ring");
        assert!(!is_ancestor(4, 3, parent_of, 100));
        let looped: HashMap<i64, i64> = [(1, 2), (2, 1)].into_iter().collect();
        assert!(!is_ancestor(9, 1, |c| looped.get(&c).copied(), 50));
    }

    #[test]
    fn reason_codes_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::parse(r.as_str()), Some(r));
        }
    }
}
