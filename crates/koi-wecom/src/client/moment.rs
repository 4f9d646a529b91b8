//! Moments (朋友圈) posted on members' behalf. Creating one is asynchronous:
//! `add_moment_task` returns a job id, `get_moment_task_result` polls it.

use serde::{Deserialize, Serialize};

use super::message::{Attachment, Text};
use super::{ApiError, CorpClient, Priority};
use crate::ErrCode;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddMomentTaskRequest {
    /// ≤2000 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤9 images, or 1 video, or 1 link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_range: Option<VisibleRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisibleRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_list: Option<SenderList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_contact_list: Option<ExternalContactList>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SenderList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_list: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalContactList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_list: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddMomentTaskResponse {
    pub jobid: String,
}

/// GET `get_moment_task_result?jobid=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetMomentTaskResultRequest {
    pub jobid: String,
}

/// `status`: 1 started, 2 running, 3 done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentTaskResultResponse {
    pub status: i32,
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<MomentTaskResult>,
}

/// The job's own outcome; its `errcode` is the task's, not the call's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentTaskResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<ErrCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_sender_list: Option<SenderList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_external_contact_list: Option<ExternalContactList>,
}

impl CorpClient {
    /// POST `add_moment_task`.
    pub async fn add_moment_task(
        &self,
        req: &AddMomentTaskRequest,
        priority: Priority,
    ) -> Result<AddMomentTaskResponse, ApiError> {
        self.post("add_moment_task", req, priority).await
    }

    /// GET `get_moment_task_result?jobid=`.
    pub async fn get_moment_task_result(
        &self,
        req: &GetMomentTaskResultRequest,
        priority: Priority,
    ) -> Result<GetMomentTaskResultResponse, ApiError> {
        self.get("get_moment_task_result", req, priority).await
    }
}

/// POST `get_moment_task {moment_id, cursor, limit}`: which members were
/// asked to publish an enterprise moment, and whether they did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetMomentTaskRequest {
    pub moment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// ≤1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentTaskResponse {
    pub task_list: Vec<MomentMemberTask>,
    pub next_cursor: String,
}

/// `publish_status`: 0 not published, 1 published.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentMemberTask {
    pub userid: String,
    pub publish_status: i32,
}

/// POST `get_moment_list {start_time, end_time, creator, filter_type, cursor, limit}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetMomentListRequest {
    /// Seconds; WeCom allows a range of at most 30 days.
    pub start_time: i64,
    pub end_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// 0 enterprise, 1 personal, 2 all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// ≤100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentListResponse {
    pub moment_list: Vec<MomentEntry>,
    pub next_cursor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentEntry {
    pub moment_id: String,
    pub creator: String,
    pub create_time: i64,
    /// 0 enterprise, 1 personal.
    pub create_type: i32,
    pub visible_type: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

/// POST `get_moment_comments {moment_id, userid}`: the likes and comments
/// a member's copy of a moment got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetMomentCommentsRequest {
    pub moment_id: String,
    pub userid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentCommentsResponse {
    pub comment_list: Vec<MomentReaction>,
    pub like_list: Vec<MomentReaction>,
}

/// A customer's (`external_userid`) or member's (`userid`) comment or like.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentReaction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    pub create_time: i64,
}

impl CorpClient {
    /// POST `get_moment_task`.
    pub async fn get_moment_task(
        &self,
        req: &GetMomentTaskRequest,
        priority: Priority,
    ) -> Result<GetMomentTaskResponse, ApiError> {
        self.post("get_moment_task", req, priority).await
    }

    /// POST `get_moment_list`.
    pub async fn get_moment_list(
        &self,
        req: &GetMomentListRequest,
        priority: Priority,
    ) -> Result<GetMomentListResponse, ApiError> {
        self.post("get_moment_list", req, priority).await
    }

    /// POST `get_moment_comments`.
    pub async fn get_moment_comments(
        &self,
        req: &GetMomentCommentsRequest,
        priority: Priority,
    ) -> Result<GetMomentCommentsResponse, ApiError> {
        self.post("get_moment_comments", req, priority).await
    }
}
