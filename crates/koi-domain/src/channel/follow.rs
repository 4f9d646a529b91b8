//! Whether an add is news. WeCom reports every add the same way; koi has to
//! tell a first-time customer from one who deleted and came back, from one
//! who already follows another guide, from a replayed event. Acquisition
//! stats, fission rewards and fraud rules (re-add farming) all hang on this.
//!
//! The rule, for an `add_external_contact` of customer × staff member:
//!
//! | follow with this member | any follow in the corp | kind | new customer | new follow | returning |
//! |---|---|---|---|---|---|
//! | none | none | New | yes | yes | no |
//! | none | yes (other guide, live or deleted) | Returning | no | yes | yes |
//! | deleted | — | Returning | no | no | yes |
//! | live | — | Duplicate | no | no | no |
//!
//! "Any follow" counts deleted ones too: a customer who deleted every guide
//! and comes back through a new code is returning, never new again.

use crate::Millis;
use serde::{Deserialize, Serialize};

/// The existing follow between this customer and this staff member, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviousFollow {
    /// `None` while the follow is live.
    pub deleted_at: Option<Millis>,
}

/// Whether an add made at `added_at` is stale: the follow on record ended
/// at or after it (`ended`), and WeCom, asked now, no longer lists the
/// relation (`listed`). A late or retried add of a relation that has ended
/// since must not make the follow live again (the mirror of a late
/// deletion, which must not end a later add). WeCom stamps events in
/// seconds, so the timestamps alone cannot order an add and a deletion in
/// the same second; WeCom's own list decides.
pub fn stale_add(listed: bool, ended: Option<Millis>, added_at: Millis) -> bool {
    !listed && ended.is_some_and(|ended| ended >= added_at)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddKind {
    /// The corp has never seen this customer.
    New,
    /// Known to the corp: re-added this member after deleting, or already
    /// followed by another member.
    Returning,
    /// The follow is already live: a replayed or repeated event. Counts nothing.
    Duplicate,
}

/// What one add contributes to the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddOutcome {
    /// First time the corp sees this customer (counts in "new customers").
    pub new_customer: bool,
    /// First time this customer × member pair exists (counts in the member's
    /// new follows; a re-add after deletion is not a new pair).
    pub new_follow: bool,
    /// The corp knew this customer before.
    pub returning: bool,
}

impl AddOutcome {
    pub fn kind(&self) -> AddKind {
        if self.new_customer {
            AddKind::New
        } else if self.returning {
            AddKind::Returning
        } else {
            AddKind::Duplicate
        }
    }

    /// Whether the add makes a follow live that was not: what "adds" counts.
    pub fn counts_as_add(&self) -> bool {
        self.kind() != AddKind::Duplicate
    }
}

/// The outcome of an add, by the table in the module docs.
/// `any_follow_of_customer_in_corp`: the customer has any follow row in the
/// corp, live or deleted, with any member (implied when `previous` is set).
pub fn add_outcome(previous: Option<PreviousFollow>, any_follow_of_customer_in_corp: bool) -> AddOutcome {
    match previous {
        Some(PreviousFollow { deleted_at: None }) => AddOutcome::default(),
        Some(PreviousFollow { deleted_at: Some(_) }) => {
            AddOutcome { new_customer: false, new_follow: false, returning: true }
        }
        None if any_follow_of_customer_in_corp => AddOutcome { new_customer: false, new_follow: true, returning: true },
        None => AddOutcome { new_customer: true, new_follow: true, returning: false },
    }
}

pub fn classify_add(previous: Option<PreviousFollow>, any_follow_of_customer_in_corp: bool) -> AddKind {
    add_outcome(previous, any_follow_of_customer_in_corp).kind()
}

/// Who ended a follow, from the deletion events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletedBy {
    /// `del_follow_user`: the customer deleted the member (流失).
    Customer,
    /// `del_external_contact`: the member deleted the customer.
    Staff,
    /// `del_external_contact` with `Source=DELETE_BY_TRANSFER`: a handover;
    /// the customer stays with the brand under another member.
    Transfer,
}

impl DeletedBy {
    /// From the callback's `ChangeType` and `Source`; `None` for other changes.
    pub fn from_event(change_type: &str, source: &str) -> Option<DeletedBy> {
        match change_type {
            "del_follow_user" => Some(DeletedBy::Customer),
            "del_external_contact" if source == "DELETE_BY_TRANSFER" => Some(DeletedBy::Transfer),
            "del_external_contact" => Some(DeletedBy::Staff),
            _ => None,
        }
    }

    /// A handover is not a lost customer, so it is not a deletion in stats.
    pub fn is_loss(self) -> bool {
        self != DeletedBy::Transfer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: Option<PreviousFollow> = Some(PreviousFollow { deleted_at: None });
    const DELETED: Option<PreviousFollow> = Some(PreviousFollow { deleted_at: Some(1_700_000_000_000) });

    #[test]
    fn an_add_older_than_the_end_of_its_follow_is_stale_when_wecom_no_longer_lists_it() {
        assert!(stale_add(false, Some(1_000), 999), "added, then deleted, and gone in WeCom");
        assert!(stale_add(false, Some(1_000), 1_000), "in the same second, and gone in WeCom");
        assert!(!stale_add(true, Some(1_000), 1_000), "a re-add in the second of the deletion: WeCom lists it");
        assert!(!stale_add(false, Some(1_000), 1_001), "deleted, then added again later");
        assert!(!stale_add(false, None, 0), "a live follow has not ended");
    }

    #[test]
    fn a_stranger_is_new() {
        assert_eq!(classify_add(None, false), AddKind::New);
        assert_eq!(add_outcome(None, false), AddOutcome { new_customer: true, new_follow: true, returning: false });
    }

    #[test]
    fn deleting_and_re_adding_is_returning_not_new() {
        for any in [true, false] {
            let o = add_outcome(DELETED, any);
            assert_eq!(o.kind(), AddKind::Returning);
            assert!(!o.new_customer && !o.new_follow && o.returning && o.counts_as_add());
        }
    }

    #[test]
    fn another_guides_customer_is_returning_for_the_corp_but_new_for_the_guide() {
        let o = add_outcome(None, true);
        assert_eq!(o.kind(), AddKind::Returning);
        assert!(o.new_follow && o.returning && !o.new_customer);
    }

    #[test]
    fn a_live_follow_makes_the_add_a_duplicate() {
        assert_eq!(classify_add(LIVE, true), AddKind::Duplicate);
        assert!(!add_outcome(LIVE, false).counts_as_add());
    }

    #[test]
    fn deletions_are_read_from_the_event() {
        assert_eq!(DeletedBy::from_event("del_follow_user", ""), Some(DeletedBy::Customer));
        assert_eq!(DeletedBy::from_event("del_external_contact", ""), Some(DeletedBy::Staff));
        let handover = DeletedBy::from_event("del_external_contact", "DELETE_BY_TRANSFER");
        assert_eq!(handover, Some(DeletedBy::Transfer));
        assert!(!DeletedBy::Transfer.is_loss() && DeletedBy::Customer.is_loss());
        assert_eq!(DeletedBy::from_event("add_external_contact", ""), None);
    }
}
