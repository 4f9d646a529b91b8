//! Customer groups (客户群): listing them, reading one with its members (the
//! `state` of members who joined through a join way lives here, not in the
//! callback), and the per-owner / per-day statistics.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

/// Members whose groups to list or count (≤100).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnerFilter {
    pub userid_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupchatListRequest {
    /// 0 all, 1 pending handover, 2 handover done, 3 handover in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_filter: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_filter: Option<OwnerFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// 1–1000.
    pub limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatListResponse {
    pub group_chat_list: Vec<GroupChatRef>,
    pub next_cursor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatRef {
    pub chat_id: String,
    pub status: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupchatGetRequest {
    pub chat_id: String,
    /// 1: fill `member_list[].name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_name: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatGetResponse {
    pub group_chat: GroupChat,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChat {
    pub chat_id: String,
    pub name: String,
    pub owner: String,
    pub create_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub member_list: Vec<GroupChatMember>,
    pub admin_list: Vec<GroupChatAdmin>,
    /// Changes whenever the member list does; compare to skip re-reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_version: Option<String>,
}

/// `type`: 1 member of the corp, 2 external. `join_scene`: 1 invited,
/// 2 link, 3 QR.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatMember {
    pub userid: String,
    #[serde(rename = "type")]
    pub kind: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    pub join_time: i64,
    pub join_scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitor: Option<Invitor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_nickname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The join way's `state`, for members who joined through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Invitor {
    pub userid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatAdmin {
    pub userid: String,
}

/// `groupchat/statistic`: one row per owner over the days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupchatStatisticRequest {
    /// Unix seconds at 00:00 of the first day.
    pub day_begin_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_end_time: Option<i64>,
    pub owner_filter: OwnerFilter,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_asc: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatStatisticResponse {
    pub total: u32,
    pub next_offset: u32,
    pub items: Vec<GroupChatStatisticByOwner>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatStatisticByOwner {
    pub owner: String,
    pub data: GroupChatStatistic,
}

/// `groupchat/statistic_group_by_day`: one row per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupchatStatisticGroupByDayRequest {
    pub day_begin_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_end_time: Option<i64>,
    pub owner_filter: OwnerFilter,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatStatisticGroupByDayResponse {
    pub items: Vec<GroupChatStatisticByDay>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatStatisticByDay {
    pub stat_time: i64,
    pub data: GroupChatStatistic,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatStatistic {
    pub new_chat_cnt: i64,
    pub chat_total: i64,
    pub chat_has_msg: i64,
    pub new_member_cnt: i64,
    pub member_total: i64,
    pub member_has_msg: i64,
    pub msg_total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_trainee_chat_cnt: Option<i64>,
}

impl CorpClient {
    /// POST `groupchat/list`.
    pub async fn groupchat_list(
        &self,
        req: &GroupchatListRequest,
        priority: Priority,
    ) -> Result<GroupchatListResponse, ApiError> {
        self.post("groupchat/list", req, priority).await
    }

    /// POST `groupchat/get`.
    pub async fn groupchat_get(
        &self,
        req: &GroupchatGetRequest,
        priority: Priority,
    ) -> Result<GroupchatGetResponse, ApiError> {
        self.post("groupchat/get", req, priority).await
    }

    /// POST `groupchat/statistic`.
    pub async fn groupchat_statistic(
        &self,
        req: &GroupchatStatisticRequest,
        priority: Priority,
    ) -> Result<GroupchatStatisticResponse, ApiError> {
        self.post("groupchat/statistic", req, priority).await
    }

    /// POST `groupchat/statistic_group_by_day`.
    pub async fn groupchat_statistic_group_by_day(
        &self,
        req: &GroupchatStatisticGroupByDayRequest,
        priority: Priority,
    ) -> Result<GroupchatStatisticGroupByDayResponse, ApiError> {
        self.post("groupchat/statistic_group_by_day", req, priority).await
    }
}
