//! Members' contact behaviour (联系客户统计): per day chats, messages, reply
//! rate and new customers, for the performance views.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetUserBehaviorDataRequest {
    /// ≤100 members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partyid: Option<Vec<i64>>,
    /// Unix seconds; the span may not exceed 30 days.
    pub start_time: i64,
    pub end_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetUserBehaviorDataResponse {
    pub behavior_data: Vec<BehaviorData>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BehaviorData {
    pub stat_time: i64,
    pub chat_cnt: i64,
    pub message_cnt: i64,
    /// Percent; absent on days without chats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_percentage: Option<f64>,
    /// Minutes; absent on days without chats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_reply_time: Option<i64>,
    pub negative_feedback_cnt: i64,
    pub new_apply_cnt: i64,
    pub new_contact_cnt: i64,
}

impl CorpClient {
    /// POST `get_user_behavior_data`.
    pub async fn get_user_behavior_data(
        &self,
        req: &GetUserBehaviorDataRequest,
        priority: Priority,
    ) -> Result<GetUserBehaviorDataResponse, ApiError> {
        self.post("get_user_behavior_data", req, priority).await
    }
}
