//! Who may do what. A [`Principal`] is a console user or an API key, always
//! bound to one corp; every use case asks [`Principal::allows`] first and
//! scopes its reads with [`Principal::sees_store`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The brand's owner: everything, including users, API keys and WeCom credentials.
    Owner,
    /// HQ operator (运营): the whole corp's stores, staff and operations.
    HqOperator,
    /// Store manager (店长): only the stores they are bound to.
    StoreManager,
    /// Shopping guide (导购): only their own customers, through the sidebar.
    Guide,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::HqOperator, Role::StoreManager, Role::Guide];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::HqOperator => "hq_operator",
            Role::StoreManager => "store_manager",
            Role::Guide => "guide",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles an API key may carry: keys are for integrations acting for the
    /// whole corp; store-scoped and guide access happens through people.
    pub fn allowed_for_api_key(self) -> bool {
        matches!(self, Role::Owner | Role::HqOperator)
    }
}

/// Things a principal may try to do. New modules add their own actions here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ViewStores,
    /// Edit a store's details (scoped by [`Principal::sees_store`]).
    EditStore,
    /// Create stores or import them in bulk.
    CreateStores,
    ViewStaff,
    EditStaff,
    ImportStaff,
    ManageUsers,
    ManageApiKeys,
    ViewJobs,
    RetryJobs,
    ViewCorpSettings,
    EditCorpSettings,
    /// Customers and their follows (scoped to a manager's stores); also
    /// counting and sampling segments over them.
    ViewCustomers,
    /// Tag or untag one customer, set their fields, report their behaviour
    /// (scoped to a manager's stores).
    TagCustomers,
    /// The corp's tag catalogue, tag rules and bulk tagging.
    ManageTags,
    /// Saved segments and CSV exports of the whole corp.
    ManageSegments,
    /// Custom fields, lifecycle stage and RFM rules.
    ManageCustomerModel,
    /// Customer groups and their members (scoped to a manager's stores).
    ViewGroups,
    /// Set a group's kind and store; sync groups from WeCom.
    ManageGroups,
    /// Fission campaigns, their dashboards and risk reports.
    ViewCampaigns,
    /// Create, edit, launch, pause and end campaigns; override invites;
    /// retry rewards.
    ManageCampaigns,
    /// Hand out a gift or coupon reward in a store by its redemption code.
    RedeemRewards,
    /// Poster templates: create, edit, preview, delete.
    ManagePosters,
    /// Products and checkouts (the H5 shop).
    ViewProducts,
    /// Create and edit products; refund checkouts through WeChat Pay.
    ManageProducts,
    /// Orders, their attribution and the orders report (scoped to a
    /// manager's stores).
    ViewOrders,
    /// Post and import orders, refund them; order integrations (webhook
    /// secrets) and the attribution rules.
    ManageOrders,
    /// Coupon templates, coupons and their redemptions, the points rules,
    /// ledger and mall.
    ViewCoupons,
    /// Create and edit coupon templates, issue and revoke coupons, set the
    /// points rules, adjust points, run the points mall.
    ManageCoupons,
    /// Mass sends, moments and their reports; the fatigue cap.
    ViewMassSends,
    /// Start, remind and cancel mass sends; post moments; set the fatigue cap.
    ManageMassSends,
    /// SOP rules, the script library and the material centre, with their stats.
    ViewSops,
    /// Create, edit, enable and disable SOP rules; edit scripts and materials.
    ManageSops,
    /// Distribution: distributors, their commissions and payouts.
    ViewDistribution,
    /// Distribution settings, making customers distributors, reporting
    /// orders for commission, running payout batches.
    ManageDistribution,
    /// Handovers (继承) of a guide's customers and groups, and who gets
    /// a store's loss alerts. Reading the loss report is `ViewCustomers`.
    ManageHandovers,
}

/// Normalises a username the one way every path uses (create, login,
/// password change): trimmed and lower-case.
pub fn normalize_username(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Sign-in attempts allowed on one account from one client address within
/// a [`LOGIN_WINDOW_MS`] window, and on one account from addresses that
/// have already tried it: slows password guessing to a crawl.
pub const LOGIN_MAX_FAILURES: usize = 5;
/// Sign-in attempts allowed from one client address, on any accounts, per
/// window: one address cannot try a few passwords on every account.
pub const LOGIN_MAX_PER_ADDRESS: usize = 20;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// Whether a sign-in attempt is refused before its password is checked,
/// given the attempts counted in the current windows, this one included
/// (0 for a count not taken yet): from its `address` on any account, on
/// the account `from_address`, and on the `account` from anywhere.
///
/// An account under attack stays open to an address that has not tried it
/// this window: the owner signs in from the office while a stranger's
/// guesses lock only the stranger out. Attempts are counted before the
/// password is checked; a sign-in that succeeds takes its counts back.
pub fn login_refused(address: i64, from_address: i64, account: i64) -> bool {
    let over = |n: i64, max: usize| n > max as i64;
    over(address, LOGIN_MAX_PER_ADDRESS)
        || over(from_address, LOGIN_MAX_FAILURES)
        || (over(account, LOGIN_MAX_FAILURES) && from_address > 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub corp_id: i64,
    pub role: Role,
    /// Console user id; `None` for an API key.
    pub user_id: Option<i64>,
    /// The stores a store manager is bound to (empty for other roles).
    pub store_ids: Vec<i64>,
    /// The staff member a guide is (used by the sidebar).
    pub staff_id: Option<i64>,
}

impl Principal {
    pub fn allows(&self, action: Action) -> bool {
        use Action::*;
        match self.role {
            Role::Owner => true,
            Role::HqOperator => !matches!(action, ManageUsers | ManageApiKeys | EditCorpSettings),
            Role::StoreManager => {
                matches!(
                    action,
                    ViewStores
                        | EditStore
                        | ViewStaff
                        | EditStaff
                        | ViewCustomers
                        | TagCustomers
                        | ViewGroups
                        | ViewCampaigns
                        | RedeemRewards
                        | ViewOrders
                        | ViewCoupons
                        | ViewProducts
                        | ViewSops
                )
            }
            // A guide works through the sidebar: their own customers only
            // (`Engine::customer` narrows them to the customers they follow).
            // and redeeming a coupon or gift a customer shows them in store.
            Role::Guide => matches!(action, ViewCustomers | TagCustomers | RedeemRewards),
        }
    }

    /// Whether this principal's reads and writes may touch `store_id`.
    pub fn sees_store(&self, store_id: i64) -> bool {
        match self.role {
            Role::Owner | Role::HqOperator => true,
            Role::StoreManager => self.store_ids.contains(&store_id),
            Role::Guide => false,
        }
    }

    /// The stores this principal's reads are narrowed to: `None` for the
    /// whole corp (owner, HQ operator), else the stores a store manager is
    /// bound to (none for a guide) — the same rule as [`Principal::sees_store`],
    /// as a list to filter queries and segments with.
    pub fn store_scope(&self) -> Option<&[i64]> {
        match self.role {
            Role::Owner | Role::HqOperator => None,
            Role::StoreManager => Some(&self.store_ids),
            Role::Guide => Some(&[]),
        }
    }

    /// A store manager sees a staff member when they share a store; an
    /// unbound staff member belongs to HQ until someone assigns them.
    pub fn sees_staff(&self, staff_store_ids: &[i64]) -> bool {
        match self.role {
            Role::Owner | Role::HqOperator => true,
            Role::StoreManager => staff_store_ids.iter().any(|s| self.store_ids.contains(s)),
            Role::Guide => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, stores: &[i64]) -> Principal {
        Principal { corp_id: 1, role, user_id: Some(1), store_ids: stores.to_vec(), staff_id: None }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn only_owners_manage_people_and_keys() {
        assert!(who(Role::Owner, &[]).allows(Action::ManageUsers));
        assert!(!who(Role::HqOperator, &[]).allows(Action::ManageUsers));
        assert!(!who(Role::HqOperator, &[]).allows(Action::ManageApiKeys));
        assert!(who(Role::HqOperator, &[]).allows(Action::CreateStores));
    }

    #[test]
    fn store_managers_see_only_their_stores() {
        let m = who(Role::StoreManager, &[2, 3]);
        assert!(m.sees_store(2));
        assert!(!m.sees_store(4));
        assert!(m.sees_staff(&[9, 3]));
        assert!(!m.sees_staff(&[]));
        assert!(!m.allows(Action::CreateStores));
        assert!(m.allows(Action::ViewGroups) && !m.allows(Action::ManageGroups), "managers see their groups");
        assert!(who(Role::HqOperator, &[]).allows(Action::ManageGroups));
        assert!(m.allows(Action::EditStore));
        assert!(m.allows(Action::ViewProducts) && !m.allows(Action::ManageProducts), "managers see their products");
    }

    #[test]
    fn the_store_scope_is_the_stores_a_principal_sees() {
        assert_eq!(who(Role::Owner, &[]).store_scope(), None);
        assert_eq!(who(Role::HqOperator, &[]).store_scope(), None);
        assert_eq!(who(Role::StoreManager, &[2, 3]).store_scope(), Some(&[2, 3][..]));
        assert_eq!(who(Role::StoreManager, &[]).store_scope(), Some(&[][..]), "bound to none, sees none");
        assert_eq!(who(Role::Guide, &[4]).store_scope(), Some(&[][..]));
        for p in [who(Role::Owner, &[]), who(Role::StoreManager, &[2, 3]), who(Role::Guide, &[4])] {
            for s in 1..5 {
                assert_eq!(p.sees_store(s), p.store_scope().is_none_or(|scope| scope.contains(&s)), "{p:?} {s}");
            }
        }
    }

    #[test]
    fn guides_have_no_console_powers() {
        let g = who(Role::Guide, &[]);
        assert!(!g.allows(Action::ViewStores));
        assert!(!g.sees_store(1));
        assert!(!g.allows(Action::ManageSops) && !g.allows(Action::ViewSops));
        assert!(g.allows(Action::TagCustomers), "a guide tags their own customers from the sidebar");
    }

    #[test]
    fn an_attacked_account_stays_open_to_addresses_that_have_not_tried_it() {
        let max = LOGIN_MAX_FAILURES as i64;
        assert!(!login_refused(max, max, max), "the limit's worth are checked");
        assert!(login_refused(LOGIN_MAX_PER_ADDRESS as i64 + 1, 1, 1), "an address trying too many accounts");
        assert!(login_refused(max + 1, max + 1, max + 1), "an address guessing one account");
        assert!(login_refused(2, 2, max + 1), "an address that tried before, on an account under attack");
        assert!(!login_refused(1, 1, 100 * max), "a fresh address, on an account under attack");
        assert!(!login_refused(LOGIN_MAX_PER_ADDRESS as i64, 0, 0), "counted step by step");
        assert!(login_refused(LOGIN_MAX_PER_ADDRESS as i64 + 1, 0, 0));
    }

    #[test]
    fn usernames_are_compared_normalised() {
        assert_eq!(normalize_username("  Admin "), "admin");
    }

    #[test]
    fn api_keys_act_for_the_whole_corp() {
        assert!(Role::HqOperator.allowed_for_api_key());
        assert!(!Role::StoreManager.allowed_for_api_key());
    }
}
