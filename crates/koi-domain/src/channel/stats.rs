//! A channel code's numbers for one local day, as a fold over its events.
//! Pure and order-independent, so the engine can rebuild any day from the
//! event log and the reliability test can compare it with the simulator's
//! truth. The engine keys the fold by (code, [`super::local_day`]) — and
//! by staff or store for the per-member and per-store breakdowns.

use super::follow::{AddOutcome, DeletedBy};
use serde::{Deserialize, Serialize};

/// One fact about a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeEvent {
    /// An add through the code, classified by [`super::add_outcome`].
    Added(AddOutcome),
    /// A follow that came through the code ended. Emit only when a live
    /// follow was marked deleted, so a replayed deletion counts once.
    Deleted { by: DeletedBy },
    /// The nearest-store landing page was opened (geo codes only).
    LandingVisit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeDayStats {
    /// Follows made live: new and returning, not duplicates.
    pub adds: u32,
    pub new_customers: u32,
    pub returning: u32,
    /// Lost follows (by the customer or the member; handovers are not losses).
    pub deletions: u32,
    /// `adds − deletions`; negative on a bad day.
    pub net: i64,
    pub landing_visits: u32,
}

impl CodeDayStats {
    pub fn apply(&mut self, event: &CodeEvent) {
        match *event {
            CodeEvent::Added(outcome) => {
                if !outcome.counts_as_add() {
                    return;
                }
                self.adds += 1;
                self.new_customers += u32::from(outcome.new_customer);
                self.returning += u32::from(outcome.returning);
            }
            CodeEvent::Deleted { by } => {
                if by.is_loss() {
                    self.deletions += 1;
                }
            }
            CodeEvent::LandingVisit => self.landing_visits += 1,
        }
        self.net = i64::from(self.adds) - i64::from(self.deletions);
    }

    pub fn fold<'a>(events: impl IntoIterator<Item = &'a CodeEvent>) -> Self {
        let mut s = Self::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    /// Share of adds still following at day's end, for the dashboard; `None` without adds.
    pub fn retention(&self) -> Option<f64> {
        (self.adds > 0).then(|| self.net.max(0) as f64 / f64::from(self.adds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::follow::{add_outcome, PreviousFollow};
    use proptest::prelude::*;

    fn added(previous: Option<Option<i64>>, any: bool) -> CodeEvent {
        CodeEvent::Added(add_outcome(previous.map(|deleted_at| PreviousFollow { deleted_at }), any))
    }

    #[test]
    fn a_day_at_the_store() {
        let events = [
            added(None, false),         // new
            added(None, false),         // new
            added(None, true),          // another guide's customer
            added(Some(Some(1)), true), // came back after deleting
            added(Some(None), true),    // replayed add
            CodeEvent::Deleted { by: DeletedBy::Customer },
            CodeEvent::Deleted { by: DeletedBy::Transfer },
            CodeEvent::LandingVisit,
        ];
        let s = CodeDayStats::fold(&events);
        assert_eq!(
            s,
            CodeDayStats { adds: 4, new_customers: 2, returning: 2, deletions: 1, net: 3, landing_visits: 1 }
        );
        assert_eq!(s.retention(), Some(0.75));
        assert_eq!(CodeDayStats::default().retention(), None);
    }

    #[test]
    fn net_can_go_negative() {
        let s = CodeDayStats::fold(&[CodeEvent::Deleted { by: DeletedBy::Staff }]);
        assert_eq!(s.net, -1);
    }

    fn event() -> impl Strategy<Value = CodeEvent> {
        prop_oneof![
            (proptest::option::of(proptest::option::of(0i64..10)), any::<bool>()).prop_map(|(p, a)| added(p, a)),
            prop_oneof![Just(DeletedBy::Customer), Just(DeletedBy::Staff), Just(DeletedBy::Transfer)]
                .prop_map(|by| CodeEvent::Deleted { by }),
            Just(CodeEvent::LandingVisit),
        ]
    }

    proptest! {
        #[test]
        fn order_does_not_matter_and_the_sums_hold(events in proptest::collection::vec(event(), 0..60), rot in 0usize..60) {
            let s = CodeDayStats::fold(&events);
            let mut shuffled = events.clone();
            shuffled.reverse();
            if !shuffled.is_empty() {
                let k = rot % shuffled.len();
                shuffled.rotate_left(k);
            }
            prop_assert_eq!(s, CodeDayStats::fold(&shuffled));
            prop_assert_eq!(s.net, i64::from(s.adds) - i64::from(s.deletions));
            prop_assert_eq!(s.adds, s.new_customers + s.returning, "every counted add is new or returning");
        }
    }
}
