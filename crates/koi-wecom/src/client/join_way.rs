//! 「加入群聊」 group join ways: a QR or mini-program entry that drops the
//! customer into one of up to five groups, opening new ones
//! (`room_base_name` + `room_base_id`, +1…) when they fill up.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddJoinWayRequest {
    /// 1 mini-program, 2 QR.
    pub scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// WeCom defaults to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_create_room: Option<i32>,
    /// ≤40 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_id: Option<i64>,
    /// ≤5 (41091).
    pub chat_id_list: Vec<String>,
    /// ≤30 characters; shows up as `member_list[].state` in `groupchat/get`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddJoinWayResponse {
    pub config_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetJoinWayRequest {
    pub config_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetJoinWayResponse {
    pub join_way: JoinWay,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JoinWay {
    pub config_id: String,
    pub scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    pub auto_create_room: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_id: Option<i64>,
    pub chat_id_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Overwrites the whole configuration, like `add_join_way`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateJoinWayRequest {
    pub config_id: String,
    pub scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_create_room: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_base_id: Option<i64>,
    pub chat_id_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DelJoinWayRequest {
    pub config_id: String,
}

impl CorpClient {
    /// POST `groupchat/add_join_way`.
    pub async fn add_join_way(
        &self,
        req: &AddJoinWayRequest,
        priority: Priority,
    ) -> Result<AddJoinWayResponse, ApiError> {
        self.post("groupchat/add_join_way", req, priority).await
    }

    /// POST `groupchat/get_join_way`.
    pub async fn get_join_way(
        &self,
        req: &GetJoinWayRequest,
        priority: Priority,
    ) -> Result<GetJoinWayResponse, ApiError> {
        self.post("groupchat/get_join_way", req, priority).await
    }

    /// POST `groupchat/update_join_way`.
    pub async fn update_join_way(&self, req: &UpdateJoinWayRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("groupchat/update_join_way", req, priority).await
    }

    /// POST `groupchat/del_join_way`.
    pub async fn del_join_way(&self, req: &DelJoinWayRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("groupchat/del_join_way", req, priority).await
    }
}
