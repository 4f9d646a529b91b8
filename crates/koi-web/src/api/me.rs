use crate::auth::ApiCaller;
use crate::error::WebError;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use koi_domain::access::Role;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    pub corp_id: i64,
    pub corp_name: String,
    pub wecom_corp_id: String,
    pub role: Role,
}

/// The corp and role this API key acts for.
#[utoipa::path(get, path = "/me", tag = "corp", responses((status = 200, body = Me), (status = 401, body = super::ErrorBody)))]
pub async fn me(State(state): State<AppState>, ApiCaller(who): ApiCaller) -> Result<Json<Me>, WebError> {
    let corp = state.engine.corp(&who).await?;
    Ok(Json(Me { corp_id: corp.id, corp_name: corp.name, wecom_corp_id: corp.wecom_corp_id, role: who.role }))
}
