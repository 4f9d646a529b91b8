//! The `errcode`s WeCom answers with, and the `{errcode, errmsg}` envelope
//! every API response carries. The API client branches on these (never on
//! `errmsg`) to decide whether to refresh the token, back off or give up; the
//! simulator uses the same constants so both agree on what each number means.
//!
//! See `shared/wecom/CONTRACT.md` §1, §3 and §5.

use serde::{Deserialize, Serialize};

/// A WeCom `errcode`. A newtype rather than an enum because WeCom has
/// hundreds of codes and adds more; the ones koi reacts to are constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrCode(pub i64);

impl ErrCode {
    pub const OK: Self = Self(0);
    /// System busy: retry after a pause, at most 3 times.
    pub const BUSY: Self = Self(-1);

    // Auth (§1).
    pub const INVALID_SECRET: Self = Self(40001);
    pub const INVALID_CORPID: Self = Self(40013);
    pub const INVALID_ACCESS_TOKEN: Self = Self(40014);
    pub const MISSING_ACCESS_TOKEN: Self = Self(41001);
    pub const ACCESS_TOKEN_EXPIRED: Self = Self(42001);

    // Parameters and ids (§5).
    pub const INVALID_USERID: Self = Self(40003);
    pub const INVALID_PARAMETER: Self = Self(40058);
    pub const INVALID_TAG: Self = Self(40068);
    pub const TAG_NAME_EXISTS: Self = Self(40071);
    pub const INVALID_EXTERNAL_USERID: Self = Self(40096);
    pub const INVALID_CONFIG_ID: Self = Self(41044);
    pub const INVALID_CHAT_ID: Self = Self(86001);
    pub const NO_EXTERNAL_CONTACT_RELATION: Self = Self(84061);

    // Limits and quotas (§3, §5).
    pub const NO_CUSTOMER_CONTACT_PERMISSION: Self = Self(40098);
    pub const CUSTOMER_LIMIT_EXCEEDED: Self = Self(40099);
    pub const TOO_MANY_CORP_TAGS: Self = Self(40126);
    pub const TRANSFER_LIMIT: Self = Self(40128);
    pub const TOO_MANY_WAY_MEMBERS: Self = Self(41041);
    pub const TOO_MANY_CONTACT_WAYS: Self = Self(41045);
    pub const NO_SENDABLE_CUSTOMERS: Self = Self(41048);
    pub const MEMBER_NOT_PERMITTED: Self = Self(41054);
    pub const GROUP_MSG_NOT_READY: Self = Self(41063);
    pub const TOO_MANY_ATTACHMENTS: Self = Self(41064);
    pub const TOO_MANY_JOIN_WAY_CHATS: Self = Self(41091);
    pub const REMIND_LIMIT: Self = Self(41094);
    pub const CONTENT_TOO_LARGE: Self = Self(45001);
    pub const TOO_MANY_PARAMETERS: Self = Self(45002);
    pub const FREQUENCY_LIMITED: Self = Self(45009);
    pub const CONCURRENCY_LIMITED: Self = Self(45033);

    // Welcome message (§3): welcome_code lives 20 s and is usable once.
    pub const MISSING_WELCOME_CODE: Self = Self(41049);
    pub const WELCOME_CODE_INVALID: Self = Self(41050);
    /// Already sent, or the conversation started: retrying cannot succeed.
    pub const WELCOME_ALREADY_SENT: Self = Self(41051);
    /// Another app is sending a welcome for this code: a retry may succeed.
    pub const WELCOME_SENDING_ELSEWHERE: Self = Self(41096);

    // Permissions (§5).
    pub const API_NOT_PERMITTED: Self = Self(48002);
    pub const NO_PRIVILEGE: Self = Self(60011);
    pub const UNTRUSTED_IP: Self = Self(60020);
    /// `message/send`: the agentid is not the corp's app.
    pub const INVALID_AGENTID: Self = Self(40056);
    /// `message/send`: no recipient (user, party, tag) is valid.
    pub const NO_VALID_RECIPIENT: Self = Self(81013);
    /// The session archive (会话存档) is not enabled for the corp
    /// (unconfirmed figure; the simulator and koi agree on it).
    pub const ARCHIVE_NOT_ENABLED: Self = Self(301053);

    // Media (`media/upload`, `media/uploadimg`).
    /// The `type` is not image, voice, video or file.
    pub const INVALID_MEDIA_TYPE: Self = Self(40004);
    /// The file's format is not one the type takes (an image that is not JPG/PNG).
    pub const INVALID_FILE_TYPE: Self = Self(40005);
    /// The file is smaller than 5 bytes or larger than the type allows.
    pub const INVALID_FILE_SIZE: Self = Self(40006);
    /// A `media_id` WeCom does not know, or one past its 3 days.
    pub const INVALID_MEDIA_ID: Self = Self(40007);
    /// An image over its size limit.
    pub const INVALID_IMAGE_SIZE: Self = Self(40009);
    /// The multipart body has no `media` part.
    pub const MISSING_MEDIA: Self = Self(41005);

    pub fn is_ok(self) -> bool {
        self == Self::OK
    }

    /// The cached access_token is no good: invalidate it, fetch a new one and
    /// retry once. 40001 is included because the contract's client rule lists
    /// it; on `gettoken` itself it means a wrong secret and must not loop.
    pub fn is_token_error(self) -> bool {
        matches!(self, Self::INVALID_SECRET | Self::INVALID_ACCESS_TOKEN | Self::ACCESS_TOKEN_EXPIRED)
    }

    /// Over a frequency or concurrency limit: wait out the window.
    pub fn is_rate_limited(self) -> bool {
        matches!(self, Self::FREQUENCY_LIMITED | Self::CONCURRENCY_LIMITED)
    }

    pub fn is_busy(self) -> bool {
        self == Self::BUSY
    }
}

impl std::fmt::Display for ErrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The part every WeCom response shares. Endpoint-specific responses embed it
/// with `#[serde(flatten)]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub errcode: ErrCode,
    #[serde(default)]
    pub errmsg: String,
}

impl ApiResponse {
    pub fn ok() -> Self {
        Self { errcode: ErrCode::OK, errmsg: "ok".to_owned() }
    }

    pub fn error(errcode: ErrCode, errmsg: impl Into<String>) -> Self {
        Self { errcode, errmsg: errmsg.into() }
    }

    pub fn is_ok(&self) -> bool {
        self.errcode.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        for code in [40001, 40014, 42001] {
            assert!(ErrCode(code).is_token_error(), "{code}");
        }
        assert!(!ErrCode(40013).is_token_error());
        assert!(ErrCode(45009).is_rate_limited());
        assert!(ErrCode(45033).is_rate_limited());
        assert!(!ErrCode(-1).is_rate_limited());
        assert!(ErrCode(-1).is_busy());
        assert!(!ErrCode(0).is_busy());
        assert!(ErrCode(0).is_ok());
    }

    #[test]
    fn response_envelope_round_trips() {
        let parsed: ApiResponse =
            serde_json::from_str(r#"{"errcode":42001,"errmsg":"access_token expired","extra":1}"#).expect("valid json");
        assert_eq!(parsed.errcode, ErrCode::ACCESS_TOKEN_EXPIRED);
        assert!(!parsed.is_ok());

        let ok = serde_json::to_string(&ApiResponse::ok()).expect("serializes");
        assert_eq!(ok, r#"{"errcode":0,"errmsg":"ok"}"#);

        let no_msg: ApiResponse = serde_json::from_str(r#"{"errcode":-1}"#).expect("valid json");
        assert!(no_msg.errcode.is_busy());
    }

    #[test]
    fn flattens_into_endpoint_responses() {
        #[derive(Deserialize)]
        struct Token {
            #[serde(flatten)]
            status: ApiResponse,
            access_token: String,
        }
        let token: Token =
            serde_json::from_str(r#"{"errcode":0,"errmsg":"ok","access_token":"abc","expires_in":7200}"#)
                .expect("valid json");
        assert!(token.status.is_ok());
        assert_eq!(token.access_token, "abc");
    }
}
