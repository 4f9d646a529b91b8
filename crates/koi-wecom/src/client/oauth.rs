//! Web sign-in of members (网页授权): the member's WeCom app opens the
//! authorize page, which comes back to koi with a `code`; `auth/getuserinfo`
//! says whose it is (a code is single-use and lives 5 minutes).

use serde::{Deserialize, Serialize};

use super::{ApiError, CorpClient, Priority, DEFAULT_BASE_URL};

/// WeCom's authorize page (on another host than the API).
pub const OAUTH_AUTHORIZE_URL: &str = "https://open.weixin.qq.com/connect/oauth2/authorize";

/// The authorize URL for `redirect_uri`: WeCom's own page when koi talks to
/// WeCom, else the simulator's `/connect/oauth2/authorize` under its base URL.
pub fn oauth_authorize_url(base_url: &str, corp_id: &str, redirect_uri: &str, state: &str) -> String {
    let page = if base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
        OAUTH_AUTHORIZE_URL.to_string()
    } else {
        format!("{}/connect/oauth2/authorize", base_url.trim_end_matches('/'))
    };
    let params = [
        ("appid", corp_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "snsapi_base"),
        ("state", state),
    ];
    match reqwest::Url::parse_with_params(&page, &params) {
        Ok(url) => format!("{url}#wechat_redirect"),
        Err(_) => page,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetUserInfoResponse {
    /// A member of the corp: their userid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// Not a member: their openid (koi refuses them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_ticket: Option<String>,
}

impl CorpClient {
    /// GET `auth/getuserinfo?code=`: who a web sign-in's code belongs to.
    pub async fn get_user_info(&self, code: &str) -> Result<GetUserInfoResponse, ApiError> {
        self.get("/auth/getuserinfo", &[("code", code)], Priority::Interactive).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_names_the_corp_and_the_way_back() {
        let u = oauth_authorize_url("http://127.0.0.1:9000/", "ww1", "https://koi.example/sidebar/oauth?x=1", "s1");
        assert!(u.starts_with("http://127.0.0.1:9000/connect/oauth2/authorize?appid=ww1&redirect_uri=https%3A%2F%2F"));
        assert!(u.ends_with("&state=s1#wechat_redirect"), "{u}");
        assert!(oauth_authorize_url(DEFAULT_BASE_URL, "ww1", "x", "s").starts_with(OAUTH_AUTHORIZE_URL));
    }
}
