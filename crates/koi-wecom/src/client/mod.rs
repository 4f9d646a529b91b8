//! The WeCom API client: typed requests and responses for every endpoint koi
//! uses (`shared/wecom/CONTRACT.md` §1, §3), plus the rules every call obeys:
//!
//! - the access_token is cached per (corpid, secret) and fetched by one
//!   caller at a time ([`token`]);
//! - every call first takes a slot from the per-corp, per-API [`budget`], so
//!   welcome messages overtake bulk work and nobody runs into 45009;
//! - WeCom's answers are read by `errcode` only: 40001/40014/42001 refresh the
//!   token and retry once, -1 backs off and retries up to three times,
//!   45009/45033 pause the API and wait; anything else is an [`ApiError`].
//!
//! One [`WecomClient`] is shared by the whole process; [`WecomClient::corp`]
//! gives a cheap [`CorpClient`] handle for one app secret, and each endpoint
//! is a method on it named after the endpoint's path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use koi_wecom::client::{ClientConfig, GetExternalContactRequest, Priority, WecomClient};
//! let client = WecomClient::new(ClientConfig::default())?;
//! let corp = client.corp("ww1234", "secret");
//! let request = GetExternalContactRequest { external_userid: "wmABC".into(), cursor: None };
//! let customer = corp.get_external_contact(&request, Priority::Interactive).await?;
//! println!("{}", customer.external_contact.name);
//! # Ok(()) }
//! ```

pub mod budget;
pub mod token;

mod app_message;
mod behavior;
mod contact_way;
mod customer;
mod directory;
mod error;
mod group_chat;
mod group_welcome;
mod join_way;
mod jsapi;
mod mass_msg;
mod media;
mod message;
mod moment;
mod msgaudit;
mod oauth;
mod tag;
mod transfer;
mod welcome;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
/// Deadlines are tokio instants (so tests can pause the clock); convert a
/// `std::time::Instant` with `Instant::from_std`.
pub use tokio::time::Instant;

pub use app_message::*;
pub use behavior::*;
pub use budget::{Budget, BudgetConfig, Priority, Pushback};
pub use contact_way::*;
pub use customer::*;
pub use directory::*;
pub use error::ApiError;
pub use group_chat::*;
pub use group_welcome::*;
pub use join_way::*;
pub use jsapi::*;
pub use mass_msg::*;
pub use media::*;
pub use message::*;
pub use moment::*;
pub use msgaudit::*;
pub use oauth::*;
pub use tag::*;
pub use token::{FetchedToken, TokenCache, TokenConfig};
pub use transfer::*;
pub use welcome::*;

use crate::{ApiResponse, ErrCode};

/// WeCom's production API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";

/// Everything the client can be tuned with. `Default` is production WeCom.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme and host, without `/cgi-bin` (the simulator serves the same paths).
    pub base_url: String,
    /// Whole-request timeout; a welcome message also stops at its deadline.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after errcode -1 (busy), waiting `busy_backoff · 2^n`.
    pub busy_retries: u32,
    pub busy_backoff: Duration,
    /// How many times one call waits out a 45009/45033 pause and tries again
    /// before returning the error.
    pub rate_limit_retries: u32,
    pub budget: BudgetConfig,
    pub token: TokenConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            busy_retries: 3,
            busy_backoff: Duration::from_millis(200),
            rate_limit_retries: 2,
            budget: BudgetConfig::default(),
            token: TokenConfig::default(),
        }
    }
}

/// `GET /cgi-bin/gettoken?corpid=&corpsecret=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetTokenRequest {
    pub corpid: String,
    pub corpsecret: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetTokenResponse {
    pub access_token: String,
    /// Seconds; 7200 in practice.
    pub expires_in: u64,
}

/// The process-wide client: HTTP connection pool, token cache and budget.
/// Clones share all three.
#[derive(Clone)]
pub struct WecomClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    tokens: TokenCache,
    budget: Budget,
    config: ClientConfig,
}

impl WecomClient {
    pub fn new(config: ClientConfig) -> Result<Self, reqwest::Error> {
        let http =
            reqwest::Client::builder().timeout(config.timeout).connect_timeout(config.connect_timeout).build()?;
        Ok(Self::with_http(config, http))
    }

    /// Use a prepared `reqwest::Client` (its own timeouts apply).
    pub fn with_http(config: ClientConfig, http: reqwest::Client) -> Self {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let inner = Inner {
            http,
            base_url,
            tokens: TokenCache::new(config.token.clone()),
            budget: Budget::new(config.budget.clone()),
            config,
        };
        Self { inner: Arc::new(inner) }
    }

    /// A handle for one corp's app secret. Cheap; make one per call site if
    /// that is convenient, they all share the cache and budget.
    pub fn corp(&self, corp_id: impl Into<String>, secret: impl Into<String>) -> CorpClient {
        CorpClient { client: self.clone(), corp_id: corp_id.into().into(), secret: secret.into().into() }
    }

    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// One raw `gettoken`, bypassing the cache, retrying only on -1 (busy).
    /// Prefer [`CorpClient::access_token`]: WeCom blocks apps that call this
    /// too often.
    pub async fn gettoken(&self, req: &GetTokenRequest) -> Result<GetTokenResponse, ApiError> {
        const API: &str = "gettoken";
        let url = format!("{}/cgi-bin/gettoken", self.inner.base_url);
        let mut attempt = 0;
        loop {
            let bytes = send(API, self.inner.http.get(&url).query(req)).await?;
            match decode_answer::<GetTokenResponse>(API, &bytes) {
                Err(error) if error.is(ErrCode::BUSY) && attempt < self.inner.config.busy_retries => {
                    tokio::time::sleep(self.busy_backoff(attempt)).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// The image behind a contact way's or group join way's `qr_code` URL
    /// (WeCom gives a way's QR only as a picture). Not an API call: no
    /// token, no budget; the client's timeouts apply and at most
    /// `max_bytes` are read.
    pub async fn qr_image(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
        Ok(self.file("qr_code", url, max_bytes).await?.1)
    }

    /// The picture behind a customer's `avatar` URL (WeChat's CDN), with
    /// the content type it was served as, for the caller to check. Not an
    /// API call: the client's timeouts apply and at most `max_bytes` are
    /// read.
    pub async fn avatar_image(&self, url: &str, max_bytes: usize) -> Result<(String, Vec<u8>), ApiError> {
        self.file("avatar", url, max_bytes).await
    }

    /// A file served at `url`: its content type and at most `max_bytes` of it.
    async fn file(&self, api: &'static str, url: &str, max_bytes: usize) -> Result<(String, Vec<u8>), ApiError> {
        let http = |e: reqwest::Error| ApiError::http(api, e.without_url());
        let response = self.inner.http.get(url).send().await.map_err(http)?;
        let mut response = response.error_for_status().map_err(http)?;
        let too_large = |bytes: u64| ApiError::TooLarge { api, bytes, max: max_bytes };
        if let Some(len) = response.content_length().filter(|n| *n > max_bytes as u64) {
            return Err(too_large(len));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if out.len() + chunk.len() > max_bytes {
                return Err(too_large((out.len() + chunk.len()) as u64));
            }
            out.extend_from_slice(&chunk);
        }
        Ok((content_type, out))
    }

    fn busy_backoff(&self, attempt: u32) -> Duration {
        self.inner.config.busy_backoff.saturating_mul(1u32 << attempt.min(16))
    }
}

/// One corp's app, as seen by callers: every endpoint is a method here.
#[derive(Clone)]
pub struct CorpClient {
    client: WecomClient,
    corp_id: Arc<str>,
    secret: Arc<str>,
}

impl std::fmt::Debug for CorpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("CorpClient").field("corp_id", &self.corp_id).finish_non_exhaustive()
    }
}

impl CorpClient {
    pub fn corp_id(&self) -> &str {
        &self.corp_id
    }

    /// The cached access_token, fetching one if needed.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        let request = GetTokenRequest { corpid: self.corp_id.to_string(), corpsecret: self.secret.to_string() };
        self.client
            .inner
            .tokens
            .get(&self.corp_id, &self.secret, || async {
                let answer = self.client.gettoken(&request).await?;
                Ok(FetchedToken {
                    access_token: answer.access_token,
                    expires_in: Duration::from_secs(answer.expires_in),
                })
            })
            .await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        api: &'static str,
        body: &B,
        priority: Priority,
    ) -> Result<R, ApiError> {
        self.call(api, Request::<(), B>::Post(body), priority, None).await
    }

    /// Takes one call's worth of `api`'s budget now, for a call made later
    /// with [`Reserved`]: a caller that must mark its call as started
    /// (claim-before-call) waits for the budget first and marks last, so the
    /// mark covers the round trip only, not a queue for the budget.
    pub async fn reserve(&self, api: &'static str, priority: Priority) -> Result<Reserved, ApiError> {
        self.client.inner.budget.acquire(&self.corp_id, api, priority).await?;
        Ok(Reserved { api, priority })
    }

    async fn post_reserved<B: Serialize, R: DeserializeOwned>(
        &self,
        body: &B,
        reserved: Reserved,
    ) -> Result<R, ApiError> {
        self.call(reserved.api, Request::<(), B>::Post(body), reserved.priority, Some(reserved)).await
    }

    /// For endpoints that answer with nothing but `errcode`/`errmsg`.
    async fn post_ack<B: Serialize>(&self, api: &'static str, body: &B, priority: Priority) -> Result<(), ApiError> {
        self.post::<B, serde::de::IgnoredAny>(api, body, priority).await.map(|_| ())
    }

    /// A `multipart/form-data` POST of one file (`media/upload`, `media/uploadimg`).
    async fn upload<Q: Serialize, R: DeserializeOwned>(
        &self,
        api: &'static str,
        query: &Q,
        file: &UploadFile,
        priority: Priority,
    ) -> Result<R, ApiError> {
        self.call(api, Request::<Q, ()>::Upload(query, file), priority, None).await
    }

    async fn get<Q: Serialize, R: DeserializeOwned>(
        &self,
        api: &'static str,
        query: &Q,
        priority: Priority,
    ) -> Result<R, ApiError> {
        self.call(api, Request::<Q, ()>::Get(query), priority, None).await
    }

    async fn call<Q: Serialize, B: Serialize, R: DeserializeOwned>(
        &self,
        api: &'static str,
        request: Request<'_, Q, B>,
        priority: Priority,
        reserved: Option<Reserved>,
    ) -> Result<R, ApiError> {
        let call = self.call_with_retries(api, request, priority, reserved);
        match priority.deadline() {
            // Past the deadline the answer is worthless (a dead welcome_code),
            // so stop waiting for tokens, retries or the network.
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.unwrap_or(Err(ApiError::Deadline { api })),
            None => call.await,
        }
    }

    async fn call_with_retries<Q: Serialize, B: Serialize, R: DeserializeOwned>(
        &self,
        api: &'static str,
        request: Request<'_, Q, B>,
        priority: Priority,
        mut reserved: Option<Reserved>,
    ) -> Result<R, ApiError> {
        let inner = &self.client.inner;
        // Customer APIs live under `externalcontact/`; others (the address
        // book's `/department/list`, `/user/…`) are named from `/cgi-bin/`.
        let url = match api.strip_prefix('/') {
            Some(path) => format!("{}/cgi-bin/{path}", inner.base_url),
            None => format!("{}/cgi-bin/externalcontact/{api}", inner.base_url),
        };
        let mut token_refreshed = false;
        let mut busy_retries = 0;
        let mut pushbacks = 0;
        loop {
            // The first attempt may have its budget already; a retry never.
            if reserved.take().is_none() {
                inner.budget.acquire(&self.corp_id, api, priority).await?;
            }
            let token = self.access_token().await?;
            let builder = match request {
                Request::Get(query) => inner.http.get(&url).query(&[("access_token", token.as_str())]).query(query),
                Request::Post(body) => inner.http.post(&url).query(&[("access_token", token.as_str())]).json(body),
                Request::Upload(query, file) => {
                    let (content_type, body) = file.multipart_body();
                    inner
                        .http
                        .post(&url)
                        .query(&[("access_token", token.as_str())])
                        .query(query)
                        .header(reqwest::header::CONTENT_TYPE, content_type)
                        .body(body)
                }
            };
            let bytes = send(api, builder).await?;
            let error = match decode_answer::<R>(api, &bytes) {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let Some(code) = error.code() else { return Err(error) };
            if code.is_token_error() && !token_refreshed {
                tracing::info!(corp_id = %self.corp_id, api, %code, "access_token rejected; refreshing once");
                inner.tokens.invalidate(&self.corp_id, &self.secret, &token).await;
                token_refreshed = true;
            } else if code.is_busy() && busy_retries < inner.config.busy_retries {
                let wait = self.client.busy_backoff(busy_retries);
                busy_retries += 1;
                if priority.deadline().is_some_and(|deadline| Instant::now() + wait > deadline) {
                    return Err(error);
                }
                tracing::debug!(corp_id = %self.corp_id, api, ?wait, "wecom busy; backing off");
                tokio::time::sleep(wait).await;
            } else if code.is_rate_limited() {
                let why = if code == ErrCode::FREQUENCY_LIMITED { Pushback::Frequency } else { Pushback::Concurrency };
                inner.budget.pause(&self.corp_id, api, why);
                if pushbacks >= inner.config.rate_limit_retries {
                    return Err(error);
                }
                // The next acquire waits out the pause (or fails at once if
                // the caller's deadline falls inside it).
                pushbacks += 1;
            } else {
                return Err(error);
            }
        }
    }
}

/// One call's budget, taken ahead by [`CorpClient::reserve`] and spent by
/// the call it is handed to (dropped unused, it is simply spent).
#[derive(Debug)]
#[must_use = "a reservation is budget already spent"]
pub struct Reserved {
    api: &'static str,
    priority: Priority,
}

/// A GET carries its parameters in the query string, a POST in a JSON body;
/// the access_token is always in the query string; an upload carries a
/// file as `multipart/form-data` and its parameters in the query string.
enum Request<'a, Q, B> {
    Get(&'a Q),
    Post(&'a B),
    Upload(&'a Q, &'a UploadFile),
}

impl<Q, B> Clone for Request<'_, Q, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, B> Copy for Request<'_, Q, B> {}

async fn send(api: &'static str, builder: reqwest::RequestBuilder) -> Result<Vec<u8>, ApiError> {
    // `without_url` keeps the access_token and secret out of error messages and logs.
    let response = builder.send().await.map_err(|e| ApiError::http(api, e.without_url()))?;
    let response = response.error_for_status().map_err(|e| ApiError::http(api, e.without_url()))?;
    let bytes = response.bytes().await.map_err(|e| ApiError::http(api, e.without_url()))?;
    Ok(bytes.to_vec())
}

/// Branch on `errcode` first; only a successful answer is decoded as `R`.
fn decode_answer<R: DeserializeOwned>(api: &'static str, bytes: &[u8]) -> Result<R, ApiError> {
    let status: ApiResponse = serde_json::from_slice(bytes).map_err(|e| ApiError::decode(api, e))?;
    if !status.is_ok() {
        return Err(ApiError::Wecom { api, code: status.errcode, message: status.errmsg });
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::decode(api, e))
}

#[cfg(test)]
mod tests;
