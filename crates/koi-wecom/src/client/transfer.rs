//! Handover (继承): moving customers and groups from one member to another,
//! while the member is still employed (on-job) or after they left (resigned).
//! A customer can be handed over at most twice per 90 days (40128).

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};
use crate::ErrCode;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferCustomerRequest {
    pub handover_userid: String,
    pub takeover_userid: String,
    /// ≤100.
    pub external_userid: Vec<String>,
    /// What the customer is told; WeCom has a default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_success_msg: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResignedTransferCustomerRequest {
    pub handover_userid: String,
    pub takeover_userid: String,
    /// ≤100.
    pub external_userid: Vec<String>,
}

/// Per-customer outcome of a handover request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferCustomerResponse {
    pub customer: Vec<CustomerTransferOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerTransferOutcome {
    pub external_userid: String,
    pub errcode: ErrCode,
}

impl Default for CustomerTransferOutcome {
    fn default() -> Self {
        Self { external_userid: String::new(), errcode: ErrCode::OK }
    }
}

/// Used by both `transfer_result` and `resigned/transfer_result`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferResultRequest {
    pub handover_userid: String,
    pub takeover_userid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultResponse {
    pub customer: Vec<CustomerTransferStatus>,
    pub next_cursor: String,
}

/// `status`: 1 done, 2 waiting, 3 refused, 4 taker at limit, 5 no record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerTransferStatus {
    pub external_userid: String,
    pub status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takeover_time: Option<i64>,
}

/// Used by both `groupchat/transfer` (resigned owners) and
/// `groupchat/onjob_transfer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupchatTransferRequest {
    pub chat_id_list: Vec<String>,
    pub new_owner: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatTransferResponse {
    /// Only the groups that failed; the rest moved.
    pub failed_chat_list: Vec<FailedChat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailedChat {
    pub chat_id: String,
    pub errcode: ErrCode,
    pub errmsg: String,
}

impl Default for FailedChat {
    fn default() -> Self {
        Self { chat_id: String::new(), errcode: ErrCode::OK, errmsg: String::new() }
    }
}

impl CorpClient {
    /// POST `transfer_customer`: on-job handover.
    pub async fn transfer_customer(
        &self,
        req: &TransferCustomerRequest,
        priority: Priority,
    ) -> Result<TransferCustomerResponse, ApiError> {
        self.post("transfer_customer", req, priority).await
    }

    /// POST `transfer_result`.
    pub async fn transfer_result(
        &self,
        req: &TransferResultRequest,
        priority: Priority,
    ) -> Result<TransferResultResponse, ApiError> {
        self.post("transfer_result", req, priority).await
    }

    /// POST `resigned/transfer_customer`.
    pub async fn resigned_transfer_customer(
        &self,
        req: &ResignedTransferCustomerRequest,
        priority: Priority,
    ) -> Result<TransferCustomerResponse, ApiError> {
        self.post("resigned/transfer_customer", req, priority).await
    }

    /// POST `resigned/transfer_result`.
    pub async fn resigned_transfer_result(
        &self,
        req: &TransferResultRequest,
        priority: Priority,
    ) -> Result<TransferResultResponse, ApiError> {
        self.post("resigned/transfer_result", req, priority).await
    }

    /// POST `groupchat/transfer`: groups of a member who left.
    pub async fn groupchat_transfer(
        &self,
        req: &GroupchatTransferRequest,
        priority: Priority,
    ) -> Result<GroupchatTransferResponse, ApiError> {
        self.post("groupchat/transfer", req, priority).await
    }

    /// POST `groupchat/onjob_transfer`: groups of a member still employed.
    pub async fn groupchat_onjob_transfer(
        &self,
        req: &GroupchatTransferRequest,
        priority: Priority,
    ) -> Result<GroupchatTransferResponse, ApiError> {
        self.post("groupchat/onjob_transfer", req, priority).await
    }
}
