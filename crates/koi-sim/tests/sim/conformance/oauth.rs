//! Web sign-in of members: the authorize page comes back with a code, and
//! koi's client asks `auth/getuserinfo` whose it is; a code works once.

use super::{wecom_code, Rig, CORP_ID};
use koi_wecom::client::oauth_authorize_url;
use koi_wecom::ErrCode;

#[tokio::test]
async fn a_web_sign_in_code_names_the_member_once() {
    let rig = Rig::start().await;
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let url = oauth_authorize_url(&rig.sim.base_url(), CORP_ID, "https://koi.example/sidebar/oauth?ctx=abc", "s1");
    let url = format!("{}&userid=guide02", url.trim_end_matches("#wechat_redirect"));
    let r = no_redirect.get(&url).send().await.expect("authorize");
    assert!(r.status().is_redirection(), "{}", r.status());
    let back = r.headers()["location"].to_str().expect("location").to_string();
    assert!(back.starts_with("https://koi.example/sidebar/oauth?ctx=abc&code="), "{back}");
    assert!(back.ends_with("&state=s1"), "{back}");
    let code = back.split("code=").nth(1).and_then(|r| r.split('&').next()).expect("code").to_string();

    let who = rig.corp.get_user_info(&code).await.expect("getuserinfo");
    assert_eq!(who.userid.as_deref(), Some("guide02"));
    assert_eq!(wecom_code(rig.corp.get_user_info(&code).await), ErrCode(40029), "a code works once");
    assert_eq!(wecom_code(rig.corp.get_user_info("forged").await), ErrCode(40029));

    let r = no_redirect.get(url.replace(CORP_ID, "wwnobody")).send().await.expect("authorize");
    assert_eq!(r.status().as_u16(), 400, "an unknown corp");
    let r = no_redirect.get(url.replace("userid=guide02", "userid=stranger")).send().await.expect("authorize");
    assert_eq!(r.status().as_u16(), 400, "not a member");
    rig.shutdown().await;
}
