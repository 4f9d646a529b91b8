//! `gettoken`: the app's access_token, reused while valid.

use std::collections::HashMap;

use axum::response::Response;
use koi_wecom::ErrCode;
use serde_json::json;

use super::{answer, ApiError};
use crate::state::SimState;

pub async fn gettoken(state: &SimState, query: &HashMap<String, String>) -> Response {
    let corpid = query.get("corpid").map(String::as_str).unwrap_or_default();
    let Some(corp) = state.corp_by_id(corpid).cloned() else {
        return answer(Err(ApiError::new(ErrCode::INVALID_CORPID, "invalid corpid")));
    };
    let faults = corp.faults();
    if faults.api_latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.api_latency_ms)).await;
    }
    if query.get("corpsecret").map(String::as_str) != Some(corp.secret.as_str()) {
        return answer(Err(ApiError::new(ErrCode::INVALID_SECRET, "invalid credential, corpsecret invalid")));
    }
    if !state.admit(&corp, "gettoken") {
        return answer(Err(ApiError::new(ErrCode::FREQUENCY_LIMITED, "api freq out of limit")));
    }
    if state.chance(faults.error_rate_busy) {
        return answer(Err(ApiError::new(ErrCode::BUSY, "system busy")));
    }
    let (token, expires_in) = state.issue_token(corp.index);
    answer(Ok(json!({ "access_token": token, "expires_in": expires_in })))
}
