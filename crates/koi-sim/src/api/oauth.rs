//! Web sign-in of members (网页授权): `GET /connect/oauth2/authorize` (the
//! page the member's WeCom app opens; it comes straight back to
//! `redirect_uri` with `code` and `state`) and `auth/getuserinfo` (whose
//! code it is). A code is single-use and lives 5 minutes.
//!
//! WeCom knows who holds the phone; the simulator is told with the extra
//! query parameter `userid` (default: the corp's first member).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use koi_wecom::ErrCode;
use serde_json::json;

use super::{ApiError, ApiResult, Ctx};
use crate::state::SimState;
use crate::world::World;

/// How long a code lives.
pub const CODE_TTL_MS: i64 = 5 * 60_000;

/// `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state[&userid]`.
pub async fn authorize(State(state): State<Arc<SimState>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let bad = |msg: &str| (StatusCode::BAD_REQUEST, msg.to_string()).into_response();
    let (appid, redirect) = (get("appid"), get("redirect_uri"));
    if get("response_type") != "code" {
        return bad("response_type must be code");
    }
    if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
        return bad("redirect_uri must be an http(s) URL");
    }
    let Some(corp) = state.corp_by_id(appid).cloned() else { return bad("invalid appid") };
    let now = state.clock.now_ms();
    let code = format!("{:032x}", rand::random::<u128>());
    let wanted = get("userid").to_string();
    let issued = state.act(&corp, |world| {
        let userid = if wanted.is_empty() {
            world.staff.first().map(|s| s.userid.clone())
        } else {
            world.staff(&wanted).map(|s| s.userid.clone())
        };
        let userid = userid?;
        world.oauth_codes.retain(|_, (_, exp)| *exp > now);
        world.oauth_codes.insert(code.clone(), (userid, now + CODE_TTL_MS));
        Some(())
    });
    if issued.is_none() {
        return bad("no such member");
    }
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let back = format!(
        "{redirect}{sep}code={code}&state={}",
        get("state")
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    );
    Redirect::to(&back).into_response()
}

/// `GET auth/getuserinfo?code=` → `{userid}`; an unknown, used or expired
/// code → 40029.
pub fn getuserinfo(world: &mut World, ctx: &Ctx) -> ApiResult {
    let code = ctx.query("code").ok_or_else(|| ApiError::new(ErrCode(41008), "missing code"))?;
    match world.oauth_codes.remove(code) {
        Some((userid, exp)) if exp > ctx.now_ms => Ok(json!({ "userid": userid, "user_ticket": "" })),
        _ => Err(ApiError::new(ErrCode(40029), "invalid code")),
    }
}
