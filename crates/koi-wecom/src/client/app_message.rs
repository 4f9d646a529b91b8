//! App messages (应用消息) to corp members: koi's own app tells a group's
//! owner about a sensitive word. Text only here; WeCom truncates content
//! past 2048 bytes, so koi shortens it first.

use serde::{Deserialize, Serialize};

use super::message::Text;
use super::{ApiError, CorpClient, Priority};

/// WeCom keeps the first 2048 bytes of an app text message.
pub const APP_TEXT_MAX_BYTES: usize = 2048;

/// `message/send` with `msgtype` text. `touser` is `a|b|c` (≤1000).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppMessageRequest {
    pub touser: String,
    pub msgtype: String,
    pub agentid: i64,
    pub text: Text,
}

impl AppMessageRequest {
    /// A text to `users`, cut at a character boundary within 2048 bytes.
    pub fn text(users: &[&str], agentid: i64, content: &str) -> Self {
        let mut end = content.len().min(APP_TEXT_MAX_BYTES);
        while !content.is_char_boundary(end) {
            end -= 1;
        }
        AppMessageRequest { touser: users.join("|"), msgtype: "text".into(), agentid, text: Text::new(&content[..end]) }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppMessageResponse {
    /// Recipients WeCom did not know (`a|b`).
    pub invaliduser: String,
    pub msgid: String,
}

impl CorpClient {
    /// POST `/message/send`. 81013: no recipient is valid; 40056: bad agentid.
    pub async fn send_app_message(
        &self,
        req: &AppMessageRequest,
        priority: Priority,
    ) -> Result<AppMessageResponse, ApiError> {
        self.post("/message/send", req, priority).await
    }
}
