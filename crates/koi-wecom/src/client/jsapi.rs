//! The JS-SDK's tickets and signature: a page inside the WeCom app calls
//! `wx.config` (signed with the corp's jsapi_ticket, `get_jsapi_ticket`)
//! and `wx.agentConfig` (signed with the app's ticket, `ticket/get?type=agent_config`)
//! before it may call `getCurExternalContact`. Each ticket lives 7200 s
//! and WeCom limits how often it is fetched, so callers cache it.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::{ApiError, CorpClient, Priority};

/// `get_jsapi_ticket` and `ticket/get`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsapiTicketResponse {
    pub ticket: String,
    /// Seconds; 7200 in practice.
    pub expires_in: i64,
}

/// The JS-SDK signature of a page: `sha1("jsapi_ticket=…&noncestr=…&timestamp=…&url=…")`
/// in lowercase hex, over the page's URL without its `#fragment`.
pub fn jsapi_signature(ticket: &str, noncestr: &str, timestamp: i64, url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let plain = format!("jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(plain.as_bytes()))
}

impl CorpClient {
    /// GET `get_jsapi_ticket`: the corp's ticket for `wx.config`.
    pub async fn get_jsapi_ticket(&self) -> Result<JsapiTicketResponse, ApiError> {
        self.get("/get_jsapi_ticket", &(), Priority::Interactive).await
    }

    /// GET `ticket/get?type=agent_config`: the app's ticket for `wx.agentConfig`.
    pub async fn get_agent_config_ticket(&self) -> Result<JsapiTicketResponse, ApiError> {
        self.get("/ticket/get", &[("type", "agent_config")], Priority::Interactive).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the JS-SDK's documentation (appendix 1, the signature
    /// algorithm), which WeCom's JS-SDK page repeats.
    #[test]
    fn the_signature_matches_the_documented_example() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        let sig = jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value");
        assert_eq!(sig, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");
        // The fragment is not part of what is signed.
        let with_hash =
            jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#top");
        assert_eq!(with_hash, sig);
    }
}
