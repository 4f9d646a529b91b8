//! Customers (external contacts) and the members who follow them: who a
//! member has, what WeCom knows about each customer, and the member's remark.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetFollowUserListResponse {
    /// Members with the customer-contact permission.
    pub follow_user: Vec<String>,
}

/// GET `list?userid=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListExternalContactRequest {
    pub userid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListExternalContactResponse {
    pub external_userid: Vec<String>,
}

/// GET `get?external_userid=&cursor=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetExternalContactRequest {
    pub external_userid: String,
    /// Pages `follow_user` when a customer follows very many members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetExternalContactResponse {
    pub external_contact: ExternalContact,
    pub follow_user: Vec<FollowUser>,
    pub next_cursor: String,
}

/// `type`: a WeChat user (`wm…`).
pub const CUSTOMER_WECHAT: i32 = 1;
/// `type`: a WeCom user of another corp (`wo…`).
pub const CUSTOMER_WECOM: i32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalContact {
    pub external_userid: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp_full_name: Option<String>,
    /// [`CUSTOMER_WECHAT`] or [`CUSTOMER_WECOM`].
    #[serde(rename = "type")]
    pub kind: i32,
    /// 0 unknown, 1 male, 2 female.
    pub gender: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Free-form profile of WeCom customers; kept as raw JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_profile: Option<serde_json::Value>,
}

/// One member's relation with the customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowUser {
    pub userid: String,
    pub remark: String,
    pub description: String,
    pub createtime: i64,
    pub tags: Vec<FollowUserTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_corp_name: Option<String>,
    pub remark_mobiles: Vec<String>,
    pub oper_userid: String,
    /// See [`add_way`].
    pub add_way: i32,
    /// The contact way's `state`, when the customer came through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `tags[].type`: 1 corp tag, 2 member's personal tag, 3 rule-group tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowUserTag {
    pub group_name: String,
    pub tag_name: String,
    #[serde(rename = "type")]
    pub kind: i32,
    /// Only corp tags have an id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<String>,
}

/// The `add_way` codes (§3).
pub mod add_way {
    pub const UNKNOWN: i32 = 0;
    pub const QR: i32 = 1;
    pub const PHONE_SEARCH: i32 = 2;
    pub const CARD_SHARE: i32 = 3;
    pub const GROUP_CHAT: i32 = 4;
    pub const PHONE_CONTACTS: i32 = 5;
    pub const WECHAT_CONTACTS: i32 = 6;
    pub const THIRD_PARTY: i32 = 8;
    pub const EMAIL: i32 = 9;
    pub const CHANNELS: i32 = 10;
    pub const ACQUISITION_LINK: i32 = 16;
    pub const INTERNAL_SHARE: i32 = 201;
    pub const ADMIN_ASSIGNMENT: i32 = 202;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchGetByUserRequest {
    /// ≤100 members.
    pub userid_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// ≤100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchGetByUserResponse {
    pub external_contact_list: Vec<ExternalContactWithFollowInfo>,
    pub next_cursor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalContactWithFollowInfo {
    pub external_contact: ExternalContact,
    pub follow_info: FollowInfo,
}

/// Like [`FollowUser`], but tags come as bare ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowInfo {
    pub userid: String,
    pub remark: String,
    pub description: String,
    pub createtime: i64,
    pub tag_id: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_corp_name: Option<String>,
    pub remark_mobiles: Vec<String>,
    pub oper_userid: String,
    pub add_way: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemarkRequest {
    pub userid: String,
    pub external_userid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_mobiles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_pic_mediaid: Option<String>,
}

/// POST `convert_to_openid`: a customer's WeChat openid under the corp,
/// which WeChat Pay's red packets are paid to. WeCom users of other corps
/// (`wo…`) have none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConvertToOpenidRequest {
    pub external_userid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertToOpenidResponse {
    pub openid: String,
}

impl CorpClient {
    /// POST `convert_to_openid`. An unknown customer is 40096 (final).
    pub async fn convert_to_openid(
        &self,
        req: &ConvertToOpenidRequest,
        priority: Priority,
    ) -> Result<ConvertToOpenidResponse, ApiError> {
        self.post("convert_to_openid", req, priority).await
    }

    /// GET `get_follow_user_list`.
    pub async fn get_follow_user_list(&self, priority: Priority) -> Result<GetFollowUserListResponse, ApiError> {
        self.get("get_follow_user_list", &NoQuery {}, priority).await
    }

    /// GET `list?userid=`: the customers of one member.
    pub async fn list_external_contact(
        &self,
        req: &ListExternalContactRequest,
        priority: Priority,
    ) -> Result<ListExternalContactResponse, ApiError> {
        self.get("list", req, priority).await
    }

    /// GET `get?external_userid=&cursor=`: one customer and who follows them.
    pub async fn get_external_contact(
        &self,
        req: &GetExternalContactRequest,
        priority: Priority,
    ) -> Result<GetExternalContactResponse, ApiError> {
        self.get("get", req, priority).await
    }

    /// POST `batch/get_by_user`: customers of up to 100 members, paged.
    pub async fn batch_get_by_user(
        &self,
        req: &BatchGetByUserRequest,
        priority: Priority,
    ) -> Result<BatchGetByUserResponse, ApiError> {
        self.post("batch/get_by_user", req, priority).await
    }

    /// POST `remark`: the member's remark, description and phones for a customer.
    pub async fn remark(&self, req: &RemarkRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("remark", req, priority).await
    }
}

/// `get_follow_user_list` takes nothing but the token.
#[derive(Serialize)]
struct NoQuery {}
