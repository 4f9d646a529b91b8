//! `/settings/pay`: the corp's WeChat Pay merchant account, which reward
//! red packets are paid from. The API key and the 企业支付 app secret are
//! write-only: answers say whether each is set, never what it is.

use super::{ApiJson, ErrorBody};
use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use koi_engine::pay::{PaySettings, PaySettingsInput};

/// The pay settings (off and empty when never saved).
#[utoipa::path(get, path = "/settings/pay", tag = "corp",
    responses((status = 200, body = PaySettings), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
) -> Result<Json<PaySettings>, WebError> {
    Ok(Json(state.engine.pay_settings(&who).await?))
}

/// Replaces the pay settings. An empty `api_key` or `workwx_secret` keeps
/// the stored one; an empty `wxappid` takes the corp's CorpID; an empty
/// `base_url` is WeChat Pay itself (`http://SIM/pay` for the simulator).
/// Turned on, `mch_id` (digits), both secrets, `act_name` (≤32) and
/// `wishing` (≤128) are required.
#[utoipa::path(put, path = "/settings/pay", tag = "corp", request_body = PaySettingsInput,
    responses((status = 200, body = PaySettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(
    State(state): State<AppState>,
    ApiCaller(who): ApiCaller,
    ApiJson(input): ApiJson<PaySettingsInput>,
) -> Result<Json<PaySettings>, WebError> {
    Ok(Json(state.engine.save_pay_settings(&who, input).await?))
}
