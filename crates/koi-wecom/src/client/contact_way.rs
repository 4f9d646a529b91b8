//! 「联系我」 contact ways: the channel live codes (活码) a customer scans to
//! add a member. koi does its own routing (round-robin, caps, hours) by
//! rewriting a way's `user` list with `update_contact_way` (§3).

use serde::{Deserialize, Serialize};

use super::message::{Image, Link, MiniProgram, Text};
use super::{ApiError, CorpClient, Priority};

/// `type`: one member.
pub const CONTACT_WAY_SINGLE: i32 = 1;
/// `type`: several members; WeCom picks one at random on each scan.
pub const CONTACT_WAY_MULTI: i32 = 2;
/// `scene`: shown inside a mini-program.
pub const SCENE_MINIPROGRAM: i32 = 1;
/// `scene`: a QR code (the response carries `qr_code`).
pub const SCENE_QR: i32 = 2;

/// What the customer receives after adding through a temporary way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conclusions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddContactWayRequest {
    /// [`CONTACT_WAY_SINGLE`] or [`CONTACT_WAY_MULTI`].
    #[serde(rename = "type")]
    pub kind: i32,
    /// [`SCENE_MINIPROGRAM`] or [`SCENE_QR`].
    pub scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i32>,
    /// ≤30 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// WeCom defaults to true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// ≤30 characters; comes back in the add_external_contact event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Exactly one member when `kind` is single.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Vec<String>>,
    /// Departments; multi ways only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddContactWayResponse {
    pub config_id: String,
    /// Only for [`SCENE_QR`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetContactWayRequest {
    pub config_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetContactWayResponse {
    pub contact_way: ContactWay,
}

/// A contact way as `get_contact_way` describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactWay {
    pub config_id: String,
    #[serde(rename = "type")]
    pub kind: i32,
    pub scene: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    pub user: Vec<String>,
    pub party: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListContactWayRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// ≤1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListContactWayResponse {
    pub contact_way: Vec<ContactWayRef>,
    /// Empty on the last page.
    pub next_cursor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactWayRef {
    pub config_id: String,
}

/// Fields left `None` keep their value; `user` and `party` overwrite the
/// whole list when given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateContactWayRequest {
    pub config_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DelContactWayRequest {
    pub config_id: String,
}

impl CorpClient {
    /// POST `add_contact_way`.
    pub async fn add_contact_way(
        &self,
        req: &AddContactWayRequest,
        priority: Priority,
    ) -> Result<AddContactWayResponse, ApiError> {
        self.post("add_contact_way", req, priority).await
    }

    /// POST `get_contact_way`.
    pub async fn get_contact_way(
        &self,
        req: &GetContactWayRequest,
        priority: Priority,
    ) -> Result<GetContactWayResponse, ApiError> {
        self.post("get_contact_way", req, priority).await
    }

    /// POST `list_contact_way`: ids of API-made ways, paged by cursor.
    pub async fn list_contact_way(
        &self,
        req: &ListContactWayRequest,
        priority: Priority,
    ) -> Result<ListContactWayResponse, ApiError> {
        self.post("list_contact_way", req, priority).await
    }

    /// POST `update_contact_way`.
    pub async fn update_contact_way(&self, req: &UpdateContactWayRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("update_contact_way", req, priority).await
    }

    /// POST `del_contact_way`.
    pub async fn del_contact_way(&self, req: &DelContactWayRequest, priority: Priority) -> Result<(), ApiError> {
        self.post_ack("del_contact_way", req, priority).await
    }
}
