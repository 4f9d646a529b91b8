//! Console users, their login sessions, and API keys. Secrets arrive here
//! already hashed; this module never sees a password or a raw token.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::{Result, StoreError};
use koi_domain::access::Role;

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub corp_id: i64,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub staff_id: Option<i64>,
    pub store_ids: &'a [i64],
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub corp_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub staff_id: Option<i64>,
    pub store_ids: Vec<i64>,
    pub active: bool,
    pub created_at: i64,
}

/// What a login needs: the hash to check and whether the account may log in.
#[derive(Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub password_hash: String,
    pub active: bool,
}

/// A live session with everything a request needs to authorise itself.
#[derive(Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for Session {
    // The CSRF token is a secret; keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub prefix: String,
    pub role: Role,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    corp_id: i64,
    username: String,
    display_name: String,
    role: String,
    staff_id: Option<i64>,
    active: bool,
    created_at: i64,
}

impl UserRow {
    fn into_user(self, store_ids: Vec<i64>) -> User {
        User {
            id: self.id,
            corp_id: self.corp_id,
            username: self.username,
            display_name: self.display_name,
            // An unknown role in the database is treated as the weakest one.
            role: Role::parse(&self.role).unwrap_or(Role::Guide),
            staff_id: self.staff_id,
            store_ids,
            active: self.active,
            created_at: self.created_at,
        }
    }
}

const USER_COLUMNS: &str = "id, corp_id, username, display_name, role, staff_id, active, created_at";
/// The same columns, qualified for the session join.
const U_USER_COLUMNS: &str = "u.id, u.corp_id, u.username, u.display_name, u.role, u.staff_id, u.active, u.created_at";

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    corp_id: i64,
    name: String,
    prefix: String,
    role: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        ApiKey {
            id: r.id,
            corp_id: r.corp_id,
            name: r.name,
            prefix: r.prefix,
            role: Role::parse(&r.role).unwrap_or(Role::Guide),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

const API_KEY_COLUMNS: &str = "id, corp_id, name, prefix, role, created_at, last_used_at, revoked_at";

impl Db {
    pub async fn create_user(&self, u: &NewUser<'_>, now: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
        let sql = "INSERT INTO users (corp_id, username, display_name, password_hash, role, staff_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let id: i64 = on_tx!(&mut tx, |c| {
            sqlx::query_scalar(sql)
                .bind(u.corp_id)
                .bind(u.username)
                .bind(u.display_name)
                .bind(u.password_hash)
                .bind(u.role.as_str())
                .bind(u.staff_id)
                .bind(now)
                .fetch_one(&mut *c)
                .await
        })
        .map_err(StoreError::conflict_on("username"))?;
        tx.bind_user_stores(u.corp_id, id, u.store_ids).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        let row: Option<(i64, String, bool)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT id, password_hash, active FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(c)
                .await
        })?;
        Ok(row.map(|(user_id, password_hash, active)| Credentials { user_id, password_hash, active }))
    }

    pub async fn users(&self, corp_id: i64) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE corp_id = $1");
        let rows: Vec<UserRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        let mut by_user = self.store_links(crate::org::USER_STORES, corp_id).await?;
        let mut users: Vec<User> = rows
            .into_iter()
            .map(|r| {
                let stores = by_user.remove(&r.id).unwrap_or_default();
                r.into_user(stores)
            })
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    pub async fn user(&self, corp_id: i64, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE corp_id = $1 AND id = $2");
        let row: Option<UserRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?;
        let Some(row) = row else { return Ok(None) };
        let stores = self.user_store_ids(corp_id, id).await?;
        Ok(Some(row.into_user(stores)))
    }

    async fn user_store_ids(&self, corp_id: i64, user_id: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT store_id FROM user_stores WHERE corp_id = $1 AND user_id = $2 ORDER BY store_id")
                .bind(corp_id)
                .bind(user_id)
                .fetch_all(c)
                .await
        })?)
    }

    /// Deactivating a user also ends their sessions.
    pub async fn set_user_active(&self, corp_id: i64, id: i64, active: bool) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(&mut tx, |c| {
            sqlx::query("UPDATE users SET active = $1 WHERE corp_id = $2 AND id = $3")
                .bind(active)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        if !active && n == 1 {
            tx.end_sessions(id).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Gives a user of the corp another role (and, for a store manager,
    /// stores) and ends their sessions in the same transaction: a session
    /// never acts with a role its user no longer has. False when the corp
    /// has no such user.
    pub async fn set_user_role(&self, corp_id: i64, id: i64, role: Role, store_ids: &[i64]) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(&mut tx, |c| {
            sqlx::query("UPDATE users SET role = $1 WHERE corp_id = $2 AND id = $3")
                .bind(role.as_str())
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            on_tx!(&mut tx, |c| {
                sqlx::query("DELETE FROM user_stores WHERE corp_id = $1 AND user_id = $2")
                    .bind(corp_id)
                    .bind(id)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
            tx.bind_user_stores(corp_id, id, store_ids).await?;
            tx.end_sessions(id).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Sets a user's password hash and ends all their sessions in the same
    /// transaction: whoever knew the old password is signed out with it.
    /// `corp_id` narrows the user to one corp (the console); `None` is the
    /// machine's administrator (the CLI). False when there is no such user.
    pub async fn set_password_hash(&self, corp_id: Option<i64>, user_id: i64, hash: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = on_tx!(&mut tx, |c| {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND ($3 IS NULL OR corp_id = $3)")
                .bind(hash)
                .bind(user_id)
                .bind(corp_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            tx.end_sessions(user_id).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now)
            .bind(expires_at)
            .execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The session behind a cookie, if it exists, has not expired and its
    /// user is still active.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT s.csrf_token, s.expires_at, {U_USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = $3"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            csrf_token: String,
            expires_at: i64,
            #[sqlx(flatten)]
            user: UserRow,
        }
        let row: Option<Row> = on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(token_hash).bind(now).bind(true).fetch_optional(c).await
        })?;
        let Some(row) = row else { return Ok(None) };
        let stores = self.user_store_ids(row.user.corp_id, row.user.id).await?;
        Ok(Some(Session { user: row.user.into_user(stores), csrf_token: row.csrf_token, expires_at: row.expires_at }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    pub async fn create_api_key(
        &self,
        corp_id: i64,
        name: &str,
        prefix: &str,
        key_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<i64> {
        let sql = "INSERT INTO api_keys (corp_id, name, prefix, key_hash, role, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        on_pool!(self, true, |c| {
            sqlx::query_scalar(sql)
                .bind(corp_id)
                .bind(name)
                .bind(prefix)
                .bind(key_hash)
                .bind(role.as_str())
                .bind(now)
                .fetch_one(c)
                .await
        })
        .map_err(StoreError::conflict_on("api_key"))
    }

    /// The unrevoked key with this hash. Marks it used, at most once a minute,
    /// so a busy integration does not turn every read into a write.
    pub async fn api_key_by_hash(&self, key_hash: &str, now: i64) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row: Option<ApiKeyRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(key_hash).fetch_optional(c).await)?;
        let Some(key) = row.map(ApiKey::from) else {
            return Ok(None);
        };
        if key.last_used_at.is_none_or(|t| now - t > 60_000) {
            on_pool!(self, true, |c| {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(key.id)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(Some(key))
    }

    pub async fn api_keys(&self, corp_id: i64) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE corp_id = $1 ORDER BY id DESC");
        let rows: Vec<ApiKeyRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    pub async fn revoke_api_key(&self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE corp_id = $2 AND id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl Tx {
    async fn bind_user_stores(&mut self, corp_id: i64, user_id: i64, store_ids: &[i64]) -> Result<()> {
        for store_id in store_ids {
            let sql = "INSERT INTO user_stores (corp_id, user_id, store_id) \
                       SELECT $1, $2, id FROM stores WHERE corp_id = $1 AND id = $3";
            on_tx!(self, |c| sqlx::query(sql)
                .bind(corp_id)
                .bind(user_id)
                .bind(store_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }
}

impl Tx {
    /// Ends every session of a user (deactivated, new password, new role).
    pub async fn end_sessions(&mut self, user_id: i64) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}

/// Sign-in attempts counted under one key (an address, an account, an
/// account from one address) in fixed windows: the count and when its
/// window began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginCount {
    pub attempts: i64,
    pub window_start: i64,
}

impl Db {
    /// Counts one attempt under `key` and returns the count so far in the
    /// window, which starts afresh once `window_ms` have passed since it
    /// began. One statement that takes the row's lock, so parallel
    /// attempts each get their own number on both backends and on every node.
    pub async fn count_login_attempt(&self, key: &str, now: i64, window_ms: i64) -> Result<LoginCount> {
        let sql = "INSERT INTO login_limits (key, attempts, window_start) VALUES ($1, 1, $2) \
                   ON CONFLICT (key) DO UPDATE SET \
                   attempts = CASE WHEN login_limits.window_start <= $3 THEN 1 ELSE login_limits.attempts + 1 END, \
                   window_start = CASE WHEN login_limits.window_start <= $3 THEN $2 ELSE login_limits.window_start END \
                   RETURNING attempts, window_start";
        let (attempts, window_start): (i64, i64) = on_pool!(self, true, |c| {
            sqlx::query_as(sql).bind(key).bind(now).bind(now - window_ms).fetch_one(c).await
        })?;
        Ok(LoginCount { attempts, window_start })
    }

    /// Takes back one attempt of the window that counted it (a sign-in that
    /// succeeded is no failure); nothing once a new window has begun.
    pub async fn uncount_login_attempt(&self, key: &str, window_start: i64) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE login_limits SET attempts = attempts - 1 WHERE key = $1 AND window_start = $2 AND attempts > 0",
            )
            .bind(key)
            .bind(window_start)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Forgets the attempts counted under `key`.
    pub async fn clear_login_attempts(&self, key: &str) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM login_limits WHERE key = $1").bind(key).execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes the counts of windows that began at or before `before`.
    pub async fn prune_login_limits(&self, before: i64) -> Result<u64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM login_limits WHERE window_start <= $1")
                .bind(before)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }
}
