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
}

/// Normalises a username the one way every path uses (create, login,
/// password change): trimmed and lower-case.
pub fn normalize_username(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Failed sign-ins allowed per username within [`LOGIN_WINDOW_MS`] before
/// further attempts wait; slows password guessing to a crawl.
pub const LOGIN_MAX_FAILURES: usize = 5;
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// The recent failed sign-ins of one username.
#[derive(Debug, Clone, Default)]
pub struct LoginFailures(Vec<i64>);

impl LoginFailures {
    /// `Err(wait_ms)` while the username is locked out.
    pub fn check(&mut self, now: i64) -> Result<(), i64> {
        self.0.retain(|t| now - t < LOGIN_WINDOW_MS);
        if self.0.len() >= LOGIN_MAX_FAILURES {
            Err(self.0[self.0.len() - LOGIN_MAX_FAILURES] + LOGIN_WINDOW_MS - now)
        } else {
            Ok(())
        }
    }

    pub fn record(&mut self, now: i64) {
        self.0.push(now);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
                matches!(action, ViewStores | EditStore | ViewStaff | EditStaff | ViewCustomers | TagCustomers)
            }
            Role::Guide => false,
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
        assert!(m.allows(Action::EditStore));
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
    }

    #[test]
    fn repeated_wrong_passwords_lock_the_username_for_a_while() {
        let mut f = LoginFailures::default();
        for i in 0..LOGIN_MAX_FAILURES as i64 {
            assert!(f.check(i * 1000).is_ok());
            f.record(i * 1000);
        }
        let wait = f.check(5_000).unwrap_err();
        assert_eq!(wait, LOGIN_WINDOW_MS - 5_000);
        assert!(f.check(LOGIN_WINDOW_MS).is_ok(), "the oldest failure has aged out");
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
