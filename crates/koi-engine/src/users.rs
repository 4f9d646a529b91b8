//! Console users: who can sign in, with which role, for which stores.

use crate::auth::{hash_password, MIN_PASSWORD_CHARS};
use crate::{actor, require, Engine, EngineError, Principal, Result};
use koi_domain::access::{Action, Role};
use koi_domain::ValidationError;
use koi_store::events::NewEvent;
use koi_store::now_ms;
use koi_store::users::{NewUser, User};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct UserInput {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    pub role: String,
    #[serde(default)]
    pub store_ids: Vec<i64>,
}

impl Engine {
    /// Adds a user without a principal: for the CLI and the demo seed, which
    /// act as the machine's administrator.
    pub async fn add_user(&self, corp_id: i64, input: &UserInput) -> Result<i64> {
        let role = Role::parse(input.role.trim()).ok_or_else(|| {
            ValidationError::one("role", "invalid_role", "role is owner, hq_operator, store_manager or guide")
        })?;
        let username = koi_domain::access::normalize_username(&input.username);
        let mut problems = Vec::new();
        if !(3..=32).contains(&username.len())
            || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            problems.push(koi_domain::FieldError::new(
                "username",
                "invalid_username",
                "username is 3–32 letters, digits, . _ - @",
            ));
        }
        if input.password.chars().count() < MIN_PASSWORD_CHARS {
            problems.push(koi_domain::FieldError::new(
                "password",
                "too_short",
                format!("password needs at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        let known = self.db.store_codes(corp_id).await?;
        let store_ids: Vec<i64> =
            input.store_ids.iter().copied().filter(|id| known.values().any(|k| k == id)).collect();
        if role == Role::StoreManager && store_ids.is_empty() {
            problems.push(koi_domain::FieldError::new(
                "store_ids",
                "required",
                "a store manager needs at least one store",
            ));
        }
        if !problems.is_empty() {
            return Err(ValidationError(problems).into());
        }
        let display =
            if input.display_name.trim().is_empty() { username.clone() } else { input.display_name.trim().to_string() };
        let hash = hash_password(&input.password);
        let user = NewUser {
            corp_id,
            username: &username,
            display_name: &display,
            password_hash: &hash,
            role,
            staff_id: None,
            store_ids: &store_ids,
        };
        Ok(self.db.create_user(&user, now_ms()).await?)
    }

    pub async fn create_user(&self, who: &Principal, input: &UserInput) -> Result<i64> {
        require(who, Action::ManageUsers)?;
        let id = self.add_user(who.corp_id, input).await?;
        self.audit(who, "user.created", format!("user:{id}")).await?;
        Ok(id)
    }

    pub async fn users(&self, who: &Principal) -> Result<Vec<User>> {
        require(who, Action::ManageUsers)?;
        Ok(self.db.users(who.corp_id).await?)
    }

    /// Owners cannot switch themselves off, so a corp always keeps a way in.
    pub async fn set_user_active(&self, who: &Principal, user_id: i64, active: bool) -> Result<()> {
        require(who, Action::ManageUsers)?;
        if who.user_id == Some(user_id) && !active {
            return Err(ValidationError::one("active", "self_deactivation", "you cannot deactivate yourself").into());
        }
        if !self.db.set_user_active(who.corp_id, user_id, active).await? {
            return Err(EngineError::NotFound("user"));
        }
        let kind = if active { "user.activated" } else { "user.deactivated" };
        self.audit(who, kind, format!("user:{user_id}")).await
    }

    /// Gives another user of the corp a new role (a store manager with at
    /// least one of the corp's stores); their sessions end, so nothing acts
    /// with the old role. Owners cannot change their own role, so a corp
    /// always keeps an owner.
    pub async fn change_user_role(&self, who: &Principal, user_id: i64, role: &str, store_ids: &[i64]) -> Result<()> {
        require(who, Action::ManageUsers)?;
        let role = Role::parse(role.trim()).ok_or_else(|| {
            ValidationError::one("role", "invalid_role", "role is owner, hq_operator, store_manager or guide")
        })?;
        if who.user_id == Some(user_id) {
            return Err(ValidationError::one("role", "self_role_change", "you cannot change your own role").into());
        }
        let known = self.db.store_codes(who.corp_id).await?;
        let store_ids: Vec<i64> = match role {
            Role::StoreManager => store_ids.iter().copied().filter(|id| known.values().any(|k| k == id)).collect(),
            _ => Vec::new(),
        };
        if role == Role::StoreManager && store_ids.is_empty() {
            return Err(
                ValidationError::one("store_ids", "required", "a store manager needs at least one store").into()
            );
        }
        if !self.db.set_user_role(who.corp_id, user_id, role, &store_ids).await? {
            return Err(EngineError::NotFound("user"));
        }
        self.audit(who, "user.role_changed", format!("user:{user_id}")).await
    }

    /// Records a security-relevant action on the corp's event log.
    pub(crate) async fn audit(&self, who: &Principal, kind: &str, subject: String) -> Result<()> {
        let now = now_ms();
        let e = NewEvent {
            corp_id: who.corp_id,
            kind,
            subject: &subject,
            actor: &actor(who),
            payload: "{}",
            dedup_key: None,
            occurred_at: now,
        };
        self.db.append_event(&e, now).await?;
        Ok(())
    }

    /// Sets a new password (CLI `koi user passwd`, the demo) and ends the
    /// user's sessions: an old cookie does not outlive the password.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<()> {
        check_password_length(password)?;
        let username = koi_domain::access::normalize_username(username);
        let creds = self.db.credentials(&username).await?.ok_or(EngineError::NotFound("user"))?;
        self.db.set_password_hash(None, creds.user_id, &hash_password(password)).await?;
        tracing::info!(user_id = creds.user_id, "password changed; sessions ended");
        Ok(())
    }

    /// An owner sets another user's password in the console (a user who
    /// forgot theirs); the user's sessions end and the event log says who.
    pub async fn reset_password(&self, who: &Principal, user_id: i64, password: &str) -> Result<()> {
        require(who, Action::ManageUsers)?;
        check_password_length(password)?;
        if !self.db.set_password_hash(Some(who.corp_id), user_id, &hash_password(password)).await? {
            return Err(EngineError::NotFound("user"));
        }
        self.audit(who, "user.password_reset", format!("user:{user_id}")).await
    }
}

fn check_password_length(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ValidationError::one(
            "password",
            "too_short",
            format!("password needs at least {MIN_PASSWORD_CHARS} characters"),
        )
        .into());
    }
    Ok(())
}
