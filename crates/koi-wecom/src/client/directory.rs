//! The address book (通讯录): departments and their members, as WeCom's
//! `department/list`, `user/simplelist` and `user/get` describe them. koi
//! reads it to keep its staff in step with WeCom.

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority};

/// GET `department/list?id=`: the department and all below it (all, without `id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DepartmentListRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DepartmentListResponse {
    pub department: Vec<Department>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Department {
    pub id: u64,
    pub name: String,
    /// 0 for the root department (id 1).
    pub parentid: u64,
    pub order: u64,
}

/// GET `user/simplelist?department_id=`: the members of one department.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSimpleListRequest {
    pub department_id: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSimpleListResponse {
    pub userlist: Vec<SimpleUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimpleUser {
    pub userid: String,
    pub name: String,
    /// The departments the member belongs to.
    pub department: Vec<u64>,
}

/// GET `user/get?userid=`: one member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserGetRequest {
    pub userid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub userid: String,
    pub name: String,
    pub department: Vec<u64>,
    pub main_department: u64,
    pub position: String,
    /// Empty for apps not allowed to read it.
    pub mobile: String,
    /// 1 activated, 2 disabled, 4 not activated, 5 left the company.
    pub status: i32,
}

/// `status` of a member who can work: activated.
pub const USER_ACTIVE: i32 = 1;

impl CorpClient {
    /// GET `department/list`.
    pub async fn department_list(
        &self,
        req: &DepartmentListRequest,
        priority: Priority,
    ) -> Result<DepartmentListResponse, ApiError> {
        self.get("/department/list", req, priority).await
    }

    /// GET `user/simplelist?department_id=`.
    pub async fn user_simplelist(
        &self,
        req: &UserSimpleListRequest,
        priority: Priority,
    ) -> Result<UserSimpleListResponse, ApiError> {
        self.get("/user/simplelist", req, priority).await
    }

    /// GET `user/get?userid=`.
    pub async fn user_get(&self, req: &UserGetRequest, priority: Priority) -> Result<User, ApiError> {
        self.get("/user/get", req, priority).await
    }
}
