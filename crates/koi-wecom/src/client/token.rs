//! The access_token cache: one token per (corpid, secret), shared by every
//! caller of the client. WeCom blocks apps that call `gettoken` too often, so
//! this room exists to make sure koi asks rarely: tokens are reused until ~5
//! minutes before they expire, concurrent callers wait for a single fetch, and
//! a failing fetch is not repeated until a growing back-off has passed.
//!
//! The fetch itself is injected (a closure returning a future), so the rules
//! here are tested with a counting closure instead of a network.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::ApiError;

/// A token as `gettoken` returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedToken {
    pub access_token: String,
    pub expires_in: Duration,
}

/// How eagerly tokens are refreshed and how patiently failures are retried.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Refresh this long before `expires_in` runs out, so a call never leaves
    /// with a token that expires on the way.
    pub refresh_early: Duration,
    /// After a failed `gettoken`, callers get the same error without a new
    /// fetch for this long; it doubles with each consecutive failure.
    pub failure_backoff: Duration,
    /// Ceiling for the doubled back-off.
    pub max_failure_backoff: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            refresh_early: Duration::from_secs(300),
            failure_backoff: Duration::from_secs(1),
            max_failure_backoff: Duration::from_secs(60),
        }
    }
}

/// Slots by (corpid, secret).
type Slots = HashMap<(String, String), Arc<Slot>>;

/// Tokens per (corpid, secret). Clones share the cache.
#[derive(Clone, Default)]
pub struct TokenCache {
    slots: Arc<Mutex<Slots>>,
    config: Arc<TokenConfig>,
}

/// One (corpid, secret). The async mutex is the single-flight lock: whoever
/// holds it while the token is stale does the fetch, everyone else queues on
/// the lock and then finds the fresh token.
#[derive(Default)]
struct Slot {
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    token: Option<Cached>,
    failure: Option<Failure>,
}

struct Cached {
    value: String,
    refresh_at: Instant,
    expires_at: Instant,
}

struct Failure {
    error: ApiError,
    retry_at: Instant,
    consecutive: u32,
}

impl TokenCache {
    pub fn new(config: TokenConfig) -> Self {
        Self { slots: Arc::default(), config: Arc::new(config) }
    }

    fn slot(&self, corp_id: &str, secret: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().expect("token slot map is never poisoned: no panics while held");
        slots.entry((corp_id.to_owned(), secret.to_owned())).or_default().clone()
    }

    /// A usable token, fetching one with `fetch` only if none is cached or the
    /// cached one is due for refresh. `fetch` runs at most once per call and
    /// only while holding the single-flight lock.
    pub async fn get<F, Fut>(&self, corp_id: &str, secret: &str, fetch: F) -> Result<String, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, ApiError>>,
    {
        let slot = self.slot(corp_id, secret);
        let mut state = slot.state.lock().await;
        let now = Instant::now();
        if let Some(token) = &state.token {
            if now < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        if let Some(failure) = &state.failure {
            if now < failure.retry_at {
                // Still inside the back-off: an early-refresh failure keeps
                // serving the old token while it lasts.
                return match &state.token {
                    Some(token) if now < token.expires_at => Ok(token.value.clone()),
                    _ => Err(failure.error.clone()),
                };
            }
        }
        match fetch().await {
            Ok(fetched) => {
                let now = Instant::now();
                let lifetime = fetched.expires_in;
                // A tiny expires_in (only seen in tests and simulators) would
                // make "5 minutes early" mean "already stale": refresh at half
                // life instead.
                let usable = if lifetime > self.config.refresh_early * 2 {
                    lifetime - self.config.refresh_early
                } else {
                    lifetime / 2
                };
                let value = fetched.access_token;
                state.token =
                    Some(Cached { value: value.clone(), refresh_at: now + usable, expires_at: now + lifetime });
                state.failure = None;
                Ok(value)
            }
            Err(error) => {
                let consecutive = state.failure.as_ref().map_or(1, |f| f.consecutive.saturating_add(1));
                let backoff = self
                    .config
                    .failure_backoff
                    .saturating_mul(1u32 << (consecutive - 1).min(16))
                    .min(self.config.max_failure_backoff);
                tracing::warn!(corp_id, %error, ?backoff, "gettoken failed");
                state.failure = Some(Failure { error: error.clone(), retry_at: Instant::now() + backoff, consecutive });
                match &state.token {
                    Some(token) if Instant::now() < token.expires_at => Ok(token.value.clone()),
                    _ => Err(error),
                }
            }
        }
    }

    /// WeCom rejected `token` (40001/40014/42001): forget it so the next
    /// `get` fetches. Only that exact token is dropped, so when many calls
    /// fail with the same stale token, the first invalidation wins and the
    /// rest find the already-fresh replacement instead of fetching again.
    pub async fn invalidate(&self, corp_id: &str, secret: &str, token: &str) {
        let slot = self.slot(corp_id, secret);
        let mut state = slot.state.lock().await;
        if state.token.as_ref().is_some_and(|cached| cached.value == token) {
            state.token = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ErrCode;

    fn counting(counter: &Arc<AtomicUsize>, expires_in: u64) -> impl Future<Output = Result<FetchedToken, ApiError>> {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            // A slow gettoken, so concurrent callers really overlap.
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(FetchedToken { access_token: format!("token-{n}"), expires_in: Duration::from_secs(expires_in) })
        }
    }

    fn failing(counter: &Arc<AtomicUsize>) -> impl Future<Output = Result<FetchedToken, ApiError>> {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err(ApiError::Wecom { api: "gettoken", code: ErrCode::INVALID_SECRET, message: "bad".into() }) }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move { cache.get("corp", "secret", || counting(&fetches, 7200)).await }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("task runs").expect("token"), "token-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_five_minutes_before_expiry() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token"), "token-1");
        tokio::time::advance(Duration::from_secs(7200 - 301)).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token"), "token-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token"), "token-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_per_corp_and_secret() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        cache.get("corp", "a", || counting(&fetches, 7200)).await.expect("token");
        cache.get("corp", "b", || counting(&fetches, 7200)).await.expect("token");
        cache.get("other", "a", || counting(&fetches, 7200)).await.expect("token");
        cache.get("corp", "a", || counting(&fetches, 7200)).await.expect("token");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidation_drops_only_the_rejected_token() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let first = cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token");
        cache.invalidate("corp", "s", &first).await;
        let second = cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token");
        assert_eq!(second, "token-2");
        // A late caller still holding the first token must not throw away the second.
        cache.invalidate("corp", "s", &first).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token"), "token-2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_fetch_backs_off_instead_of_hammering() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let err = cache.get("corp", "s", || failing(&fetches)).await.expect_err("fails");
            assert_eq!(err.code(), Some(ErrCode::INVALID_SECRET));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch inside the first back-off");
        tokio::time::advance(Duration::from_millis(1001)).await;
        cache.get("corp", "s", || failing(&fetches)).await.expect_err("fails");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // Second failure doubles the back-off to 2 s.
        tokio::time::advance(Duration::from_millis(1500)).await;
        cache.get("corp", "s", || failing(&fetches)).await.expect_err("fails");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        tokio::time::advance(Duration::from_millis(600)).await;
        cache.get("corp", "s", || failing(&fetches)).await.expect_err("fails");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
        // Recovery resets everything.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token"), "token-4");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_early_refresh_keeps_serving_the_old_token() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        cache.get("corp", "s", || counting(&fetches, 7200)).await.expect("token");
        tokio::time::advance(Duration::from_secs(7000)).await;
        assert_eq!(cache.get("corp", "s", || failing(&fetches)).await.expect("old token"), "token-1");
        tokio::time::advance(Duration::from_secs(300)).await;
        let err = cache.get("corp", "s", || failing(&fetches)).await.expect_err("expired");
        assert!(err.is(ErrCode::INVALID_SECRET));
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_refresh_at_half_life() {
        let cache = TokenCache::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        cache.get("corp", "s", || counting(&fetches, 60)).await.expect("token");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 60)).await.expect("token"), "token-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get("corp", "s", || counting(&fetches, 60)).await.expect("token"), "token-2");
    }
}
