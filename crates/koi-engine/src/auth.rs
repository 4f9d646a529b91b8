//! Passwords, login sessions and API keys.
//!
//! Passwords are argon2id hashes. Session tokens and API keys are 256-bit
//! random values; only their SHA-256 is stored, which is enough for values
//! that cannot be guessed and keeps lookups a single indexed read.

use crate::{require, Engine, EngineError, Principal, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use koi_domain::access::{Action, Role};
use koi_store::now_ms;
use koi_store::users::User;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password and a fresh salt")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A fresh random token, hex-encoded.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A signed-in console session, as the web layer holds it for one request.
#[derive(Clone)]
pub struct SessionContext {
    pub principal: Principal,
    pub user: User,
    pub csrf_token: String,
}

/// A new API key; `token` is shown once and never stored.
#[derive(Clone)]
pub struct IssuedKey {
    pub id: i64,
    pub token: String,
}

impl std::fmt::Debug for SessionContext {
    // The CSRF token is a secret; keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionContext").field("principal", &self.principal).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey").field("id", &self.id).finish_non_exhaustive()
    }
}

pub fn principal_of(user: &User) -> Principal {
    Principal {
        corp_id: user.corp_id,
        role: user.role,
        user_id: Some(user.id),
        store_ids: user.store_ids.clone(),
        staff_id: user.staff_id,
    }
}

impl Engine {
    /// Checks the password and opens a session. Returns the session token
    /// for the cookie. The same error for an unknown user and a wrong
    /// password, so usernames cannot be probed.
    pub async fn login(&self, username: &str, password: &str) -> Result<String> {
        let username = koi_domain::access::normalize_username(username);
        let now = now_ms();
        // The attempt is counted before the (slow) hash is checked, so a
        // burst of parallel guesses cannot all pass a check that only
        // learns of them afterwards.
        self.login_attempt(&username, now)?;
        let creds = self.db.credentials(&username).await?;
        // The hash is always checked, even for unknown or inactive accounts,
        // so response times do not tell which usernames exist.
        let hash = creds.as_ref().map_or_else(
            || DUMMY_HASH.get_or_init(|| hash_password("not a password")).as_str(),
            |c| c.password_hash.as_str(),
        );
        let password_ok = verify_password(password, hash);
        let Some(creds) = creds.filter(|c| c.active && password_ok) else {
            return Err(EngineError::BadCredentials);
        };
        self.login_succeeded(&username);
        let token = new_token();
        self.db
            .create_session(&token_hash(&token), creds.user_id, &new_token(), now, now + self.settings.session_ttl_ms)
            .await?;
        tracing::info!(user_id = creds.user_id, "login");
        Ok(token)
    }

    /// Counts an attempt, refusing it when the username already has its
    /// fill of recent ones: check and count under one lock.
    fn login_attempt(&self, username: &str, now: i64) -> Result<()> {
        let mut map = self.login_failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget usernames whose failures have aged out, so the map stays small.
        if map.len() > 10_000 {
            map.retain(|_, f| f.check(now).is_err() || !f.is_empty());
        }
        let failures = map.entry(username.to_string()).or_default();
        if let Err(wait_ms) = failures.check(now) {
            return Err(EngineError::TooManyAttempts { retry_after_s: (wait_ms + 999) / 1000 });
        }
        failures.record(now);
        Ok(())
    }

    fn login_succeeded(&self, username: &str) {
        self.login_failures.lock().unwrap_or_else(|p| p.into_inner()).remove(username);
    }

    pub async fn session(&self, token: &str) -> Result<SessionContext> {
        let s = self.db.session(&token_hash(token), now_ms()).await?.ok_or(EngineError::Unauthenticated)?;
        Ok(SessionContext { principal: principal_of(&s.user), user: s.user, csrf_token: s.csrf_token })
    }

    pub async fn logout(&self, token: &str) -> Result<()> {
        Ok(self.db.delete_session(&token_hash(token)).await?)
    }

    /// The principal behind an `Authorization: Bearer koi_…` key.
    pub async fn api_principal(&self, token: &str) -> Result<Principal> {
        let key = self.db.api_key_by_hash(&token_hash(token), now_ms()).await?.ok_or(EngineError::Unauthenticated)?;
        Ok(Principal { corp_id: key.corp_id, role: key.role, user_id: None, store_ids: vec![], staff_id: None })
    }

    pub async fn issue_api_key(&self, who: &Principal, name: &str, role: Role) -> Result<IssuedKey> {
        require(who, Action::ManageApiKeys)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(koi_domain::ValidationError::one("name", "required", "name the key (1–64 characters)").into());
        }
        if !role.allowed_for_api_key() {
            return Err(
                koi_domain::ValidationError::one("role", "invalid_role", "API keys are owner or hq_operator").into()
            );
        }
        let token = format!("koi_{}", new_token());
        let prefix = token[..12].to_string();
        let id = self.db.create_api_key(who.corp_id, name, &prefix, &token_hash(&token), role, now_ms()).await?;
        self.audit(who, "api_key.created", format!("api_key:{id}")).await?;
        Ok(IssuedKey { id, token })
    }

    pub async fn api_keys(&self, who: &Principal) -> Result<Vec<koi_store::users::ApiKey>> {
        require(who, Action::ManageApiKeys)?;
        Ok(self.db.api_keys(who.corp_id).await?)
    }

    pub async fn revoke_api_key(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageApiKeys)?;
        if !self.db.revoke_api_key(who.corp_id, id, now_ms()).await? {
            return Err(EngineError::NotFound("api key"));
        }
        self.audit(who, "api_key.revoked", format!("api_key:{id}")).await
    }
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }
}
