//! The welcome message (欢迎语): sent once per new customer with the
//! welcome_code from the add_external_contact event, within 20 s. Callers
//! should pass [`Priority::Welcome`] so the budget serves it first and gives
//! up instead of sending a dead code.

use serde::{Deserialize, Serialize};

use super::message::{Attachment, Text};
use super::{ApiError, CorpClient, Priority};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendWelcomeMsgRequest {
    pub welcome_code: String,
    /// ≤4000 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
}

impl CorpClient {
    /// POST `send_welcome_msg`. 41050 (code dead) and 41051 (already sent or
    /// chat started) are final; 41096 (another app is sending) may be retried.
    pub async fn send_welcome_msg(&self, req: &SendWelcomeMsgRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("send_welcome_msg", req, priority).await
    }
}
