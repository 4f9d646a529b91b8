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
