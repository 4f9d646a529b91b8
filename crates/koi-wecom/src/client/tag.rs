//! Corp tags (企业标签) and tagging customers. An app may edit only the tags
//! it created; WeCom sends no callback for changes made through the API.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

/// Both empty: every tag group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetCorpTagListRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetCorpTagListResponse {
    pub tag_group: Vec<TagGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagGroup {
    pub group_id: String,
    pub group_name: String,
    pub create_time: i64,
    pub order: i64,
    pub deleted: bool,
    pub tag: Vec<CorpTag>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorpTag {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub order: i64,
    pub deleted: bool,
}

/// Adds tags to the group `group_id`, or to a group named `group_name`
/// (created if missing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddCorpTagRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    pub tag: Vec<NewTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTag {
    /// ≤30 characters.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddCorpTagResponse {
    pub tag_group: TagGroup,
}

/// `id` is a tag or a tag group id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EditCorpTagRequest {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DelCorpTagRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `add_tag` and `remove_tag` must not both be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkTagRequest {
    pub userid: String,
    pub external_userid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_tag: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_tag: Option<Vec<String>>,
}

impl CorpClient {
    /// POST `get_corp_tag_list`.
    pub async fn get_corp_tag_list(
        &self,
        req: &GetCorpTagListRequest,
        priority: Priority,
    ) -> Result<GetCorpTagListResponse, ApiError> {
        self.post("get_corp_tag_list", req, priority).await
    }

    /// POST `add_corp_tag`.
    pub async fn add_corp_tag(
        &self,
        req: &AddCorpTagRequest,
        priority: Priority,
    ) -> Result<AddCorpTagResponse, ApiError> {
        self.post("add_corp_tag", req, priority).await
    }

    /// POST `edit_corp_tag`.
    pub async fn edit_corp_tag(&self, req: &EditCorpTagRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("edit_corp_tag", req, priority).await
    }

    /// POST `del_corp_tag`.
    pub async fn del_corp_tag(&self, req: &DelCorpTagRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("del_corp_tag", req, priority).await
    }

    /// POST `mark_tag`: tag or untag one customer as seen by one member.
    pub async fn mark_tag(&self, req: &MarkTagRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("mark_tag", req, priority).await
    }
}
