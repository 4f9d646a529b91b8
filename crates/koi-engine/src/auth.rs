//! Passwords, login sessions and API keys.
//!
//! Passwords are argon2id hashes. Session tokens and API keys are 256-bit
//! random values; only their SHA-256 is stored, which is enough for values
//! that cannot be guessed and keeps lookups a single indexed read.

use crate::{require, Engine, EngineError, Principal, Result};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use koi_domain::access::{login_refused, Action, Role, LOGIN_WINDOW_MS};
use koi_store::now_ms;
use koi_store::users::User;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

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
    /// password, so usernames cannot be probed. `client` is the address
    /// the attempt came from: attempts are limited per address, per
    /// account from an address and per account (see
    /// [`koi_domain::access::login_refused`]), counted in the database so
    /// every node shares them, and counted before the password is checked,
    /// so parallel guesses cannot slip past the limit.
    pub async fn login(&self, username: &str, password: &str, client: IpAddr) -> Result<String> {
        let username = koi_domain::access::normalize_username(username);
        let now = now_ms();
        let counted = self.count_login_attempt(&username, client, now).await?;
        let creds = self.db.credentials(&username).await?;
        // The hash is always checked, even for unknown or inactive accounts,
        // so response times do not tell which usernames exist.
        let hash = creds.as_ref().map_or_else(
            || DUMMY_HASH.get_or_init(|| hash_password("not a password")).clone(),
            |c| c.password_hash.clone(),
        );
        let password_ok = self.check_password(password, hash).await?;
        let Some(creds) = creds.filter(|c| c.active && password_ok) else {
            tracing::warn!(%client, "login failed");
            return Err(EngineError::BadCredentials);
        };
        // A success is no failure: take its counts back.
        let [(address, a), (pair, _), (account, u)] = counted;
        self.db.uncount_login_attempt(&address, a).await?;
        self.db.clear_login_attempts(&pair).await?;
        self.db.uncount_login_attempt(&account, u).await?;
        let token = new_token();
        self.db
            .create_session(&token_hash(&token), creds.user_id, &new_token(), now, now + self.settings.session_ttl_ms)
            .await?;
        tracing::info!(user_id = creds.user_id, "login");
        Ok(token)
    }

    /// Counts the attempt from its address, on the account from that
    /// address, and on the account, refusing it as soon as a count says so
    /// (see [`login_refused`]). Returns each key with the start of the
    /// window that counted it.
    async fn count_login_attempt(&self, username: &str, client: IpAddr, now: i64) -> Result<[(String, i64); 3]> {
        // A login form takes any text; real usernames are at most 32 characters.
        let name: String = username.chars().take(64).collect();
        let keys = [format!("addr:{client}"), format!("from:{client}:{name}"), format!("user:{name}")];
        let mut counts = [0i64; 3];
        let mut starts = [0i64; 3];
        for (i, key) in keys.iter().enumerate() {
            let c = self.db.count_login_attempt(key, now, LOGIN_WINDOW_MS).await?;
            (counts[i], starts[i]) = (c.attempts, c.window_start);
            if login_refused(counts[0], counts[1], counts[2]) {
                let wait_ms = (c.window_start + LOGIN_WINDOW_MS - now).clamp(0, LOGIN_WINDOW_MS);
                tracing::warn!(%client, key = i, "login refused: too many attempts");
                return Err(EngineError::TooManyAttempts { retry_after_s: (wait_ms + 999) / 1000 });
            }
        }
        let [a, p, u] = keys;
        Ok([(a, starts[0]), (p, starts[1]), (u, starts[2])])
    }

    /// Checks a password on a blocking thread, at most
    /// [`Settings::password_checks`](crate::Settings) at once.
    async fn check_password(&self, password: &str, hash: String) -> Result<bool> {
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|_| EngineError::Unavailable("password checks are shut".into()))?;
        let password = password.to_string();
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| EngineError::Unavailable(format!("password check: {e}")))
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
