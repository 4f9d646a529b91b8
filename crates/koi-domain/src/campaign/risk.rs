//! Risk control (风控): what an invite must pass to count. Every check is on
//! by default and can be loosened per campaign; a rejected invite keeps the
//! first reason it failed, and an operator can override it.
//!
//! Two moments decide an invite. At the add (or group join) koi knows who
//! invited whom and the history of both: self-invites, customers who were
//! not new, re-adds, velocity, rings and cliques are caught then. When the hold has
//! passed, koi knows whether the invitee stayed, and what the H5 page saw
//! (device, address, location): leavers, clusters and the geofence are
//! caught then.

use crate::error::Checker;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

pub const DEFAULT_HOLD_SECS: i64 = 24 * 3600;
/// A month: longer holds are a campaign that never pays.
pub const MAX_HOLD_SECS: i64 = 30 * 24 * 3600;
pub const DEFAULT_VELOCITY_PER_HOUR: u32 = 20;
pub const DEFAULT_CLUSTER_MAX: u32 = 3;
pub const DEFAULT_GEOFENCE_M: u32 = 50_000;
/// Friends an inviter and an invitee may already share in the corp's invite
/// graph before their invite is a clique invite. One shared friend is
/// ordinary (a mother who brought two daughters, one of whom later brings
/// the other); two close a square no invite tree has.
pub const DEFAULT_CLIQUE_COMMON: u32 = 2;
/// A higher bar than this is a check that never fires.
pub const MAX_CLIQUE_COMMON: u32 = 100;

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
    /// Reject an invite whose inviter and invitee already share this many
    /// invite-neighbours across all the corp's campaigns, past and present,
    /// counted or not (a farm of accounts that keep inviting one another; 0:
    /// no check). See [`common_neighbours`].
    pub clique_common: u32,
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
            clique_common: DEFAULT_CLIQUE_COMMON,
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
        if self.clique_common > MAX_CLIQUE_COMMON {
            c.push(
                "risk.clique_common",
                "out_of_range",
                format!("at most {MAX_CLIQUE_COMMON} shared friends (0: no check)"),
            );
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
    /// The inviter and the invitee already share enough invite-neighbours
    /// to be part of a dense clique of accounts inviting one another.
    Clique,
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
    pub const ALL: [RejectReason; 10] = [
        RejectReason::SelfInvite,
        RejectReason::NotNew,
        RejectReason::Readd,
        RejectReason::Velocity,
        RejectReason::Ring,
        RejectReason::Clique,
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
            RejectReason::Clique => "clique",
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
    /// Invite-neighbours the inviter and the invitee already share
    /// ([`common_neighbours`]).
    pub common_neighbours: u32,
}

/// The first rule an invite breaks at the add, if any.
pub fn check_add(s: &RiskSettings, f: &AddFacts) -> Option<RejectReason> {
    if !f.running {
        Some(RejectReason::NotRunning)
    } else if f.self_invite {
        Some(RejectReason::SelfInvite)
    } else if s.ring_check && f.invitee_is_ancestor {
        Some(RejectReason::Ring)
    } else if s.clique_common > 0 && f.common_neighbours >= s.clique_common {
        Some(RejectReason::Clique)
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

/// How many customers are already invite-neighbours of both `inviter` and
/// `invitee`, given each one's neighbours in the corp's undirected invite
/// graph: every invite of every campaign, past or present, counted or not,
/// joins inviter and invitee. The two themselves are not counted.
///
/// Why this measure: in an invite tree (each customer brought in once, by
/// one inviter) two customers share at most one neighbour — two would close
/// a cycle. A farm of accounts that keep inviting one another across
/// campaigns becomes a dense clique in which every pair shares nearly all
/// the others. The count is local (two neighbour lists), so it is cheap
/// enough for the add's transaction.
pub fn common_neighbours(inviter: i64, invitee: i64, of_inviter: &[i64], of_invitee: &[i64]) -> u32 {
    let theirs: HashSet<i64> = of_invitee.iter().copied().filter(|&c| c != inviter && c != invitee).collect();
    let mine: HashSet<i64> = of_inviter.iter().copied().filter(|c| theirs.contains(c)).collect();
    u32::try_from(mine.len()).unwrap_or(u32::MAX)
}

/// A corp's invite graph in memory: what the store answers one customer at
/// a time, for tests and tools that replay invites.
#[derive(Debug, Clone, Default)]
pub struct InviteGraph {
    neighbours: HashMap<i64, HashSet<i64>>,
}

impl InviteGraph {
    /// Records an invite (whatever its verdict).
    pub fn add(&mut self, inviter: i64, invitee: i64) {
        if inviter != invitee {
            self.neighbours.entry(inviter).or_default().insert(invitee);
            self.neighbours.entry(invitee).or_default().insert(inviter);
        }
    }

    pub fn neighbours(&self, customer: i64) -> Vec<i64> {
        self.neighbours.get(&customer).map(|n| n.iter().copied().collect()).unwrap_or_default()
    }

    /// [`common_neighbours`] of a pair, before their invite is added.
    pub fn common(&self, inviter: i64, invitee: i64) -> u32 {
        common_neighbours(inviter, invitee, &self.neighbours(inviter), &self.neighbours(invitee))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            (AddFacts { common_neighbours: 2, ..clean() }, RejectReason::Clique),
            (AddFacts { running: false, ..clean() }, RejectReason::NotRunning),
        ];
        for (f, r) in cases {
            assert_eq!(check_add(&s, &f), Some(r), "{f:?}");
        }
        let loose = RiskSettings {
            new_only: false,
            no_readd: false,
            velocity_per_hour: 0,
            ring_check: false,
            clique_common: 0,
            ..s
        };
        let f = AddFacts { followed_before: true, inviter_last_hour: 500, common_neighbours: 40, ..clean() };
        assert_eq!(check_add(&loose, &f), None);
        // One shared friend is below the default bar; a higher bar lets two through.
        assert_eq!(check_add(&s, &AddFacts { common_neighbours: 1, ..clean() }), None);
        let lenient = RiskSettings { clique_common: 3, ..RiskSettings::default() };
        assert_eq!(check_add(&lenient, &AddFacts { common_neighbours: 2, ..clean() }), None);
        assert_eq!(check_add(&lenient, &AddFacts { common_neighbours: 3, ..clean() }), Some(RejectReason::Clique));
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
    fn common_neighbours_leave_out_the_pair_and_duplicates() {
        assert_eq!(common_neighbours(1, 2, &[2, 3, 4, 5, 5], &[1, 3, 5, 6]), 2);
        assert_eq!(common_neighbours(1, 2, &[], &[1, 3]), 0);
        assert_eq!(common_neighbours(1, 2, &[2], &[1]), 0, "the pair's own edge is no shared friend");
    }

    #[test]
    fn a_farm_inviting_one_another_across_campaigns_is_caught() {
        // Six accounts; each campaign one of them brings the other five (the
        // rest of the farm scanning the same entry, or each other's).
        let farm: Vec<i64> = (1..=6).collect();
        let s = RiskSettings::default();
        let mut g = InviteGraph::default();
        let mut verdicts = vec![];
        for (campaign, &inviter) in farm.iter().enumerate() {
            for &invitee in farm.iter().filter(|&&c| c != inviter) {
                let f = AddFacts { common_neighbours: g.common(inviter, invitee), ..clean() };
                verdicts.push((campaign, check_add(&s, &f)));
                g.add(inviter, invitee);
            }
        }
        let caught = |campaign: usize| {
            verdicts.iter().filter(|(c, v)| *c == campaign && *v == Some(RejectReason::Clique)).count()
        };
        // The first two campaigns are a star and a star beside it: every
        // pair shares one friend at most, nothing to see yet.
        assert_eq!((caught(0), caught(1)), (0, 0), "{verdicts:?}");
        // In the third the squares close: three of its five invites are caught,
        // and from the fourth on every invite of the farm is.
        assert_eq!(caught(2), 3, "{verdicts:?}");
        assert_eq!((caught(3), caught(4), caught(5)), (5, 5, 5), "{verdicts:?}");
        // A fresh friend one of them brings is no clique invite.
        assert_eq!(g.common(3, 99), 0);
    }

    /// Invites of a normal corp: campaigns one after another; each invitee is
    /// a new customer brought in once, by a customer already known (a
    /// participant of this or an earlier campaign).
    fn normal_corp() -> impl Strategy<Value = Vec<(i64, i64)>> {
        (2usize..400).prop_flat_map(|n| {
            proptest::collection::vec(any::<prop::sample::Index>(), n).prop_map(|picks| {
                picks.iter().enumerate().map(|(i, pick)| (pick.index(i + 1) as i64, i as i64 + 1)).collect()
            })
        })
    }

    proptest! {
        #[test]
        fn a_normal_invite_tree_is_never_a_clique(invites in normal_corp()) {
            let s = RiskSettings::default();
            let mut g = InviteGraph::default();
            for (inviter, invitee) in invites {
                let f = AddFacts { common_neighbours: g.common(inviter, invitee), ..clean() };
                prop_assert_eq!(check_add(&s, &f), None);
                g.add(inviter, invitee);
            }
        }

        #[test]
        fn a_tree_with_one_reinvite_per_customer_is_never_a_clique(invites in normal_corp(), again in any::<prop::sample::Index>()) {
            // Someone a second time asks a friend already known (say an aunt
            // in a later campaign): one extra edge on a tree closes one
            // cycle, and no pair shares two friends unless it is a square.
            let s = RiskSettings::default();
            let mut g = InviteGraph::default();
            for &(inviter, invitee) in &invites {
                g.add(inviter, invitee);
            }
            let (a, b) = invites[again.index(invites.len())];
            let grand = invites.iter().find(|(_, c)| *c == a).map(|(p, _)| *p);
            if let Some(grand) = grand {
                // b's grandparent invites b: they share a (one friend).
                prop_assert_eq!(check_add(&s, &AddFacts { common_neighbours: g.common(grand, b), ..clean() }), None);
            }
        }
    }

    #[test]
    fn reason_codes_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::parse(r.as_str()), Some(r));
        }
    }
}
