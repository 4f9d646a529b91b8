//! The JS-SDK bridge for the sidebar inside WeCom. WeCom opens the
//! sidebar's entry page (`/sidebar/wecom`) in its chat toolbar; the page,
//! once the guide is signed in, asks koi for the `wx.config` and
//! `wx.agentConfig` signatures of its own URL ([`Engine::jsapi_config`]:
//! SHA-1 over the corp's and the app's jsapi tickets, each fetched from
//! WeCom at most once per [`TICKET_CACHE`] per node), calls
//! `getCurExternalContact`, and exchanges the external_userid it names for
//! the signed chat context the sidebar runs on
//! ([`Engine::sidebar_context_of_chat`]: only for a customer the signed-in
//! guide follows). Outside WeCom (the simulator, tests) the signed `?ctx=`
//! stands in, as before.

use crate::{random_hex, Engine, EngineError, Principal, Result};
use koi_domain::access::Role;
use koi_store::now_ms;
use koi_wecom::client::jsapi_signature;
use serde::Serialize;
use std::time::Duration;

/// How long a node keeps a ticket (WeCom's live 7200 s; fetching them is
/// limited per hour).
pub const TICKET_CACHE: Duration = Duration::from_secs(30 * 60);
/// How long a chat context made from the JS-SDK lives.
pub const CHAT_CONTEXT_MS: i64 = 2 * 3_600_000;

/// What the page passes to `wx.config` and `wx.agentConfig`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JsapiConfig {
    /// WeCom CorpID (`wx.config`'s `appId`, `wx.agentConfig`'s `corpid`).
    pub corp_id: String,
    /// The app's agentid (the group assistant's setting); without one
    /// `wx.agentConfig` cannot be called and the page falls back.
    pub agent_id: Option<i64>,
    /// Unix seconds.
    pub timestamp: i64,
    pub nonce_str: String,
    /// `wx.config`'s signature (the corp's jsapi ticket).
    pub signature: String,
    /// `wx.agentConfig`'s signature (the app's ticket), when there is an agentid.
    pub agent_signature: Option<String>,
}

impl Engine {
    /// The signatures for a page of koi at `url` (its address without the
    /// fragment), for a signed-in guide.
    pub async fn jsapi_config(&self, who: &Principal, url: &str) -> Result<JsapiConfig> {
        who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        let base = self.settings.public_url.trim_end_matches('/');
        let url = url.split('#').next().unwrap_or_default();
        if url.len() > 2048 || !url.starts_with(&format!("{base}/")) {
            return Err(super::invalid("url", "not_koi", "the URL of a koi page"));
        }
        let corp = self.db.corp(who.corp_id).await?.ok_or(EngineError::NotFound("corp"))?;
        let agent_id = self.assistant_settings_of(who.corp_id).await?.agent_id;
        let timestamp = now_ms() / 1000;
        let nonce_str = random_hex(8);
        let ticket = self.jsapi_ticket(who.corp_id, false).await?;
        let signature = jsapi_signature(&ticket, &nonce_str, timestamp, url);
        let agent_signature = match agent_id {
            Some(_) => Some(jsapi_signature(&self.jsapi_ticket(who.corp_id, true).await?, &nonce_str, timestamp, url)),
            None => None,
        };
        Ok(JsapiConfig { corp_id: corp.wecom_corp_id, agent_id, timestamp, nonce_str, signature, agent_signature })
    }

    /// The corp's (`agent` false) or the app's ticket, cached.
    async fn jsapi_ticket(&self, corp_id: i64, agent: bool) -> Result<String> {
        if let Some(t) = self.jsapi_tickets.get(&(corp_id, agent)) {
            return Ok(t);
        }
        let client = self.wecom_for(corp_id).await?;
        let answer = if agent { client.get_agent_config_ticket().await } else { client.get_jsapi_ticket().await };
        let ticket = answer.map_err(EngineError::of_wecom_change)?.ticket;
        self.jsapi_tickets.put((corp_id, agent), ticket.clone());
        Ok(ticket)
    }

    /// The koi corp of a WeCom CorpID (the entry page's `?corp=`);
    /// `NotFound` for one koi does not serve.
    pub async fn corp_of_wecom_id(&self, wecom_corp_id: &str) -> Result<i64> {
        if wecom_corp_id.is_empty() || wecom_corp_id.len() > 64 {
            return Err(EngineError::NotFound("corp"));
        }
        Ok(self.db.corp_by_wecom_id(wecom_corp_id).await?.ok_or(EngineError::NotFound("corp"))?.id)
    }

    /// The chat context for the customer the JS-SDK named in the signed-in
    /// guide's chat; `NotFound` unless the guide follows them.
    pub async fn sidebar_context_of_chat(&self, who: &Principal, external_userid: &str) -> Result<String> {
        let staff_id = who.staff_id.filter(|_| who.role == Role::Guide).ok_or(EngineError::Forbidden)?;
        if external_userid.is_empty() || external_userid.len() > 128 {
            return Err(super::invalid("external_userid", "required", "the chat's external_userid"));
        }
        let staff = self.db.staff(who.corp_id, staff_id).await?.ok_or(EngineError::Unauthenticated)?;
        let customer_id = {
            let mut tx = self.db.begin().await?;
            let id = tx.customer_id(who.corp_id, external_userid).await?;
            tx.commit().await?;
            id.ok_or(EngineError::NotFound("customer"))?
        };
        if !self.db.staff_follows(who.corp_id, staff_id, customer_id).await? {
            return Err(EngineError::NotFound("customer"));
        }
        self.mint_sidebar_context(who.corp_id, &staff.userid, external_userid, CHAT_CONTEXT_MS).await
    }
}
