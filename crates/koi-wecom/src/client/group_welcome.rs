//! Group welcome templates (入群欢迎语素材): text plus one attachment,
//! kept in WeCom under a `template_id`. A group's owner picks the template
//! for a group in their client; WeCom then greets whoever joins it. There
//! is no API that binds a template to a group.

use serde::{Deserialize, Serialize};

use super::message::{Image, Link, MiniProgram, Text};
use super::{ApiError, CorpClient, Priority};

/// The content of a template: text ≤4000 bytes and at most one of image,
/// link or mini-program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupWelcomeContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
}

/// `group_welcome_template/add`. `notify` 1 (default) tells members a new
/// template exists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupWelcomeAddRequest {
    #[serde(flatten)]
    pub content: GroupWelcomeContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupWelcomeAddResponse {
    pub template_id: String,
}

/// `group_welcome_template/edit`: the content given replaces the template's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupWelcomeEditRequest {
    pub template_id: String,
    #[serde(flatten)]
    pub content: GroupWelcomeContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `group_welcome_template/get` and `/del`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupWelcomeIdRequest {
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

impl CorpClient {
    /// POST `group_welcome_template/add`.
    pub async fn group_welcome_add(
        &self,
        req: &GroupWelcomeAddRequest,
        priority: Priority,
    ) -> Result<GroupWelcomeAddResponse, ApiError> {
        self.post("group_welcome_template/add", req, priority).await
    }

    /// POST `group_welcome_template/edit`.
    pub async fn group_welcome_edit(&self, req: &GroupWelcomeEditRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("group_welcome_template/edit", req, priority).await
    }

    /// POST `group_welcome_template/get`: the template's content.
    pub async fn group_welcome_get(
        &self,
        req: &GroupWelcomeIdRequest,
        priority: Priority,
    ) -> Result<GroupWelcomeContent, ApiError> {
        self.post("group_welcome_template/get", req, priority).await
    }

    /// POST `group_welcome_template/del`.
    pub async fn group_welcome_del(&self, req: &GroupWelcomeIdRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("group_welcome_template/del", req, priority).await
    }
}
