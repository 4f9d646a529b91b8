//! The session archive (会话存档): what members and customers say, in the
//! order of its `seq`. WeCom hands the archive out through its C SDK
//! (`GetChatData` + `DecryptData`, with the corp's archive secret and RSA
//! key); koi speaks to it as the decrypted JSON `msgaudit/get_chat_data`
//! answer that an SDK bridge (or the simulator) serves. The fields are the
//! SDK's decrypted message fields.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

/// Messages after `seq` (0: from the first), at most `limit` (≤1000).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetChatDataRequest {
    pub seq: i64,
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetChatDataResponse {
    /// In `seq` order; empty past the end.
    pub chatdata: Vec<ChatData>,
}

/// One archived message. `roomid` is the group's chat id (empty for a
/// one-to-one chat); `msgtime` is in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatData {
    pub seq: i64,
    pub msgid: String,
    /// send, recall or switch.
    pub action: String,
    pub from: String,
    pub tolist: Vec<String>,
    pub roomid: String,
    pub msgtime: i64,
    /// text, image, link (others exist; koi keeps them without content).
    pub msgtype: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<ChatText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ChatImage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<ChatLink>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatText {
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatImage {
    pub md5sum: String,
    pub filesize: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatLink {
    pub title: String,
    pub description: String,
    pub link_url: String,
}

impl ChatData {
    /// What koi keeps as the message's content: the text, or a link's
    /// title and address; nothing for an image.
    pub fn content(&self) -> String {
        match (self.msgtype.as_str(), &self.text, &self.link) {
            ("text", Some(t), _) => t.content.clone(),
            ("link", _, Some(l)) => format!("{} {}", l.title, l.link_url).trim().to_string(),
            _ => String::new(),
        }
    }
}

impl CorpClient {
    /// POST `/msgaudit/get_chat_data`. 301053: the archive is not enabled
    /// for the corp (final).
    pub async fn get_chat_data(
        &self,
        req: &GetChatDataRequest,
        priority: Priority,
    ) -> Result<GetChatDataResponse, ApiError> {
        self.post("/msgaudit/get_chat_data", req, priority).await
    }
}
