//! Mass messages (群发). `add_msg_template` only creates a task: each sender
//! confirms it in the WeCom client before anything leaves, so results are
//! read later with `get_groupmsg_task` / `get_groupmsg_send_result`.

use serde::{Deserialize, Serialize};

use super::message::{Attachment, Text};
use super::{ApiError, CorpClient, Priority};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// To customers one by one (the default).
    #[default]
    Single,
    /// To customer groups; `sender` is then required.
    Group,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddMsgTemplateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<ChatType>,
    /// ≤10,000, single only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<Vec<String>>,
    /// ≤2000, group only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_filter: Option<TagFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_select: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
}

/// Customers carrying the tags: OR inside a group of tags, AND across groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagFilter {
    pub group_list: Vec<TagFilterGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagFilterGroup {
    pub tag_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddMsgTemplateResponse {
    pub msgid: String,
    /// Customers or groups that could not be included.
    pub fail_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetGroupmsgTaskRequest {
    pub msgid: String,
    /// ≤1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgTaskResponse {
    pub task_list: Vec<GroupmsgTask>,
    pub next_cursor: String,
}

/// One sender's task: `status` 0 unsent, 2 sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupmsgTask {
    pub userid: String,
    pub status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_time: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetGroupmsgSendResultRequest {
    pub msgid: String,
    pub userid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgSendResultResponse {
    pub send_list: Vec<GroupmsgSendResult>,
    pub next_cursor: String,
}

/// One recipient: `status` 0 unsent, 1 sent, 2 not a friend, 3 quota used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupmsgSendResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    pub userid: String,
    pub status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_time: Option<i64>,
}

/// `get_groupmsg_list_v2`: the corp's mass-message tasks created in a time
/// window (≤ 1 month, unix seconds), by creator, newest first, at most
/// `limit` (≤ 100) a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetGroupmsgListV2Request {
    pub chat_type: ChatType,
    pub start_time: i64,
    pub end_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// 0 made by the corp (the API or the admin console), 1 by a member, 2 all (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgListV2Response {
    pub group_msg_list: Vec<GroupMsg>,
    pub next_cursor: String,
}

/// One mass-message task as the list shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupMsg {
    pub msgid: String,
    pub creator: String,
    /// 0 the corp, 1 a member.
    pub create_type: i32,
    pub create_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemindGroupmsgSendRequest {
    pub msgid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CancelGroupmsgSendRequest {
    pub msgid: String,
}

impl CorpClient {
    /// POST `add_msg_template`: create a mass-message task.
    pub async fn add_msg_template(
        &self,
        req: &AddMsgTemplateRequest,
        priority: Priority,
    ) -> Result<AddMsgTemplateResponse, ApiError> {
        self.post("add_msg_template", req, priority).await
    }

    /// `add_msg_template` with its budget taken ahead
    /// ([`CorpClient::reserve`]`("add_msg_template", …)`).
    pub async fn add_msg_template_reserved(
        &self,
        req: &AddMsgTemplateRequest,
        reserved: super::Reserved,
    ) -> Result<AddMsgTemplateResponse, ApiError> {
        debug_assert_eq!(reserved.api, "add_msg_template", "a reservation is for one API");
        self.post_reserved(req, reserved).await
    }

    /// POST `get_groupmsg_task`. 41063 right after creation means "not yet".
    pub async fn get_groupmsg_task(
        &self,
        req: &GetGroupmsgTaskRequest,
        priority: Priority,
    ) -> Result<GetGroupmsgTaskResponse, ApiError> {
        self.post("get_groupmsg_task", req, priority).await
    }

    /// POST `get_groupmsg_send_result`.
    pub async fn get_groupmsg_send_result(
        &self,
        req: &GetGroupmsgSendResultRequest,
        priority: Priority,
    ) -> Result<GetGroupmsgSendResultResponse, ApiError> {
        self.post("get_groupmsg_send_result", req, priority).await
    }

    /// POST `get_groupmsg_list_v2`: tasks created in a window (≤ 1 month),
    /// paged by `next_cursor`.
    pub async fn get_groupmsg_list_v2(
        &self,
        req: &GetGroupmsgListV2Request,
        priority: Priority,
    ) -> Result<GetGroupmsgListV2Response, ApiError> {
        self.post("get_groupmsg_list_v2", req, priority).await
    }

    /// POST `remind_groupmsg_send` (≤3 per 24 h: 41094).
    pub async fn remind_groupmsg_send(
        &self,
        req: &RemindGroupmsgSendRequest,
        priority: Priority,
    ) -> Result<(), ApiError> {
        self.post_ack("remind_groupmsg_send", req, priority).await
    }

    /// POST `cancel_groupmsg_send`.
    pub async fn cancel_groupmsg_send(
        &self,
        req: &CancelGroupmsgSendRequest,
        priority: Priority,
    ) -> Result<(), ApiError> {
        self.post_ack("cancel_groupmsg_send", req, priority).await
    }
}
