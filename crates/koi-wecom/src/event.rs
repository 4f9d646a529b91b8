//! Typed callback events: the decrypted XML WeCom posts when a customer, a
//! customer group or a corp tag changes (CONTRACT.md §4). The engine treats
//! each event as a trigger to re-fetch the truth, so this module only names
//! what happened and to whom; anything it does not recognise is kept whole as
//! [`CallbackEvent::Unknown`] rather than dropped.

use sha2::{Digest as _, Sha256};

use crate::xml::{self, Fields};

/// Why a decrypted callback could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("callback is not well-formed <xml>")]
    Malformed,
    #[error("callback has no {0} field")]
    MissingField(&'static str),
    #[error("callback field {0} has an invalid value")]
    BadField(&'static str),
}

impl EventError {
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Malformed => "malformed_event",
            EventError::MissingField(_) => "missing_event_field",
            EventError::BadField(_) => "bad_event_field",
        }
    }
}

/// The fields every callback carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `ToUserName`: the CorpID the event belongs to.
    pub corp_id: String,
    /// `FromUserName`: `sys` for change events.
    pub from_user_name: String,
    /// `CreateTime`, Unix seconds.
    pub create_time: i64,
    pub msg_type: String,
    pub event: Option<String>,
    pub change_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    /// `change_external_contact`: a member's relation to a customer changed.
    ExternalContact { envelope: Envelope, change: ExternalContactChange },
    /// `change_external_chat`: a customer group changed.
    ExternalChat { envelope: Envelope, chat_id: String, change: ExternalChatChange },
    /// `change_external_tag`: a corp tag or tag group changed.
    ExternalTag {
        envelope: Envelope,
        change: TagChange,
        /// The tag or tag group id. Empty on a `shuffle` of the whole corp's
        /// tags, where WeCom names no group.
        id: String,
        /// Absent on `shuffle`, which only ever reorders within a group.
        tag_type: Option<TagType>,
        /// Set when the tag belongs to a rule group (规则组).
        strategy_id: Option<String>,
    },
    /// Any other message, event or change type, kept verbatim so it can be
    /// stored and handled once koi learns it.
    Unknown { envelope: Envelope, raw: String },
}

/// `ChangeType` of `change_external_contact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalContactChange {
    /// `add_external_contact`: a customer was added. `welcome_code` is set
    /// only when koi may send the welcome message (valid 20 s).
    Added { user_id: String, external_user_id: String, state: Option<String>, welcome_code: Option<String> },
    /// `add_half_external_contact`: the customer added a member who skips
    /// verification but has not confirmed yet.
    AddedHalf { user_id: String, external_user_id: String, state: Option<String>, welcome_code: Option<String> },
    /// `edit_external_contact`: the member edited remark, tags etc. in the
    /// client (API edits fire no event).
    Edited { user_id: String, external_user_id: String },
    /// `del_external_contact`: the member deleted the customer.
    MemberDeletedCustomer { user_id: String, external_user_id: String, source: Option<DeleteSource> },
    /// `del_follow_user`: the customer deleted the member.
    CustomerDeletedMember { user_id: String, external_user_id: String },
    /// `transfer_fail`: an on-job handover was not taken over. The contract
    /// lists only `FailReason`; WeCom also sends the taker and the customer.
    TransferFailed { user_id: Option<String>, external_user_id: Option<String>, reason: TransferFailReason },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteSource {
    /// `DELETE_BY_TRANSFER`: removed because the customer was handed over,
    /// not because the member chose to.
    ByTransfer,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferFailReason {
    /// `customer_refused`
    CustomerRefused,
    /// `customer_limit_exceed`: the taker is at the customer capacity.
    CustomerLimitExceed,
    Other(String),
}

/// `ChangeType` of `change_external_chat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalChatChange {
    Create,
    /// Carries no join way `state`: read `member_list[].state` from
    /// `groupchat/get`, a moment later, since group details update
    /// asynchronously.
    Update {
        detail: UpdateDetail,
        /// 0 invited (directly or by link), 3 scanned the group QR.
        join_scene: Option<u32>,
        /// 0 left, 1 removed by owner or admin.
        quit_scene: Option<u32>,
        mem_change_cnt: Option<u32>,
        /// The userids (members or customers) who joined or left.
        mem_change_list: Vec<String>,
        last_mem_ver: Option<String>,
        cur_mem_ver: Option<String>,
    },
    Dismiss,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateDetail {
    AddMember,
    DelMember,
    ChangeOwner,
    ChangeName,
    ChangeNotice,
    Other(String),
}

/// `ChangeType` of `change_external_tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    Create,
    Update,
    Delete,
    /// The order of tags changed.
    Shuffle,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagType {
    Tag,
    TagGroup,
    Other(String),
}

impl CallbackEvent {
    /// Reads a decrypted callback. Well-formed XML with an event koi does not
    /// know becomes [`CallbackEvent::Unknown`]; a known event missing the ids
    /// koi needs to act on is an error.
    pub fn parse(plaintext: &str) -> Result<Self, EventError> {
        let fields = xml::parse(plaintext).map_err(|_| EventError::Malformed)?;
        let envelope = Envelope {
            corp_id: required(&fields, "ToUserName")?,
            from_user_name: required(&fields, "FromUserName")?,
            create_time: fields
                .text("CreateTime")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(EventError::MissingField("CreateTime"))?
                .parse()
                .map_err(|_| EventError::BadField("CreateTime"))?,
            msg_type: required(&fields, "MsgType")?,
            event: optional(&fields, "Event"),
            change_type: optional(&fields, "ChangeType"),
        };
        let known = match (
            envelope.msg_type.as_str(),
            envelope.event.as_deref().unwrap_or_default(),
            envelope.change_type.as_deref().unwrap_or_default(),
        ) {
            ("event", "change_external_contact", change_type) => {
                external_contact_change(&fields, change_type)?.map(Known::Contact)
            }
            ("event", "change_external_chat", change_type) => match external_chat_change(&fields, change_type)? {
                Some(change) => Some(Known::Chat { chat_id: required(&fields, "ChatId")?, change }),
                None => None,
            },
            ("event", "change_external_tag", change_type) => tag_event(&fields, change_type)?,
            _ => None,
        };
        Ok(match known {
            Some(Known::Contact(change)) => CallbackEvent::ExternalContact { envelope, change },
            Some(Known::Chat { chat_id, change }) => CallbackEvent::ExternalChat { envelope, chat_id, change },
            Some(Known::Tag { change, id, tag_type, strategy_id }) => {
                CallbackEvent::ExternalTag { envelope, change, id, tag_type, strategy_id }
            }
            None => CallbackEvent::Unknown { envelope, raw: plaintext.to_owned() },
        })
    }

    pub fn envelope(&self) -> &Envelope {
        match self {
            CallbackEvent::ExternalContact { envelope, .. }
            | CallbackEvent::ExternalChat { envelope, .. }
            | CallbackEvent::ExternalTag { envelope, .. }
            | CallbackEvent::Unknown { envelope, .. } => envelope,
        }
    }
}

/// What a known event carries besides the envelope.
enum Known {
    Contact(ExternalContactChange),
    Chat { chat_id: String, change: ExternalChatChange },
    Tag { change: TagChange, id: String, tag_type: Option<TagType>, strategy_id: Option<String> },
}

/// The key to deduplicate redeliveries by: SHA-256 (hex) of the exact
/// decrypted plaintext. WeCom retries byte-identical payloads, while two
/// different events, even in the same second, differ in some id; the
/// envelope alone (`FromUserName` is always `sys`) would merge them.
pub fn dedup_key(plaintext: &[u8]) -> String {
    hex::encode(Sha256::digest(plaintext))
}

fn optional(fields: &Fields, name: &str) -> Option<String> {
    fields.text(name).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

fn required(fields: &Fields, name: &'static str) -> Result<String, EventError> {
    optional(fields, name).ok_or(EventError::MissingField(name))
}

fn number(fields: &Fields, name: &'static str) -> Result<Option<u32>, EventError> {
    optional(fields, name).map(|t| t.parse().map_err(|_| EventError::BadField(name))).transpose()
}

/// `None` for a change type koi does not know.
fn external_contact_change(fields: &Fields, change_type: &str) -> Result<Option<ExternalContactChange>, EventError> {
    let ids = || -> Result<(String, String), EventError> {
        Ok((required(fields, "UserID")?, required(fields, "ExternalUserID")?))
    };
    let change = match change_type {
        "add_external_contact" | "add_half_external_contact" => {
            let (user_id, external_user_id) = ids()?;
            let state = optional(fields, "State");
            let welcome_code = optional(fields, "WelcomeCode");
            if change_type == "add_external_contact" {
                ExternalContactChange::Added { user_id, external_user_id, state, welcome_code }
            } else {
                ExternalContactChange::AddedHalf { user_id, external_user_id, state, welcome_code }
            }
        }
        "edit_external_contact" => {
            let (user_id, external_user_id) = ids()?;
            ExternalContactChange::Edited { user_id, external_user_id }
        }
        "del_external_contact" => {
            let (user_id, external_user_id) = ids()?;
            ExternalContactChange::MemberDeletedCustomer {
                user_id,
                external_user_id,
                source: optional(fields, "Source").map(|s| match s.as_str() {
                    "DELETE_BY_TRANSFER" => DeleteSource::ByTransfer,
                    _ => DeleteSource::Other(s),
                }),
            }
        }
        "del_follow_user" => {
            let (user_id, external_user_id) = ids()?;
            ExternalContactChange::CustomerDeletedMember { user_id, external_user_id }
        }
        "transfer_fail" => {
            let reason = required(fields, "FailReason")?;
            ExternalContactChange::TransferFailed {
                user_id: optional(fields, "UserID"),
                external_user_id: optional(fields, "ExternalUserID"),
                reason: match reason.as_str() {
                    "customer_refused" => TransferFailReason::CustomerRefused,
                    "customer_limit_exceed" => TransferFailReason::CustomerLimitExceed,
                    _ => TransferFailReason::Other(reason),
                },
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(change))
}

fn external_chat_change(fields: &Fields, change_type: &str) -> Result<Option<ExternalChatChange>, EventError> {
    let change = match change_type {
        "create" => ExternalChatChange::Create,
        "dismiss" => ExternalChatChange::Dismiss,
        "update" => {
            let detail = required(fields, "UpdateDetail")?;
            ExternalChatChange::Update {
                detail: match detail.as_str() {
                    "add_member" => UpdateDetail::AddMember,
                    "del_member" => UpdateDetail::DelMember,
                    "change_owner" => UpdateDetail::ChangeOwner,
                    "change_name" => UpdateDetail::ChangeName,
                    "change_notice" => UpdateDetail::ChangeNotice,
                    _ => UpdateDetail::Other(detail),
                },
                join_scene: number(fields, "JoinScene")?,
                quit_scene: number(fields, "QuitScene")?,
                mem_change_cnt: number(fields, "MemChangeCnt")?,
                mem_change_list: member_list(fields),
                last_mem_ver: optional(fields, "LastMemVer"),
                cur_mem_ver: optional(fields, "CurMemVer"),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(change))
}

/// WeCom sends `<MemChangeList><Item>u1</Item>..</MemChangeList>`; older
/// payloads (still parsed by WxJava) used one comma-separated text.
fn member_list(fields: &Fields) -> Vec<String> {
    let Some(field) = fields.get("MemChangeList") else {
        return Vec::new();
    };
    let items: Vec<&str> = if field.items.is_empty() {
        field.text.split(',').collect()
    } else {
        field.items.iter().map(String::as_str).collect()
    };
    items.into_iter().map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect()
}

fn tag_event(fields: &Fields, change_type: &str) -> Result<Option<Known>, EventError> {
    let change = match change_type {
        "create" => TagChange::Create,
        "update" => TagChange::Update,
        "delete" => TagChange::Delete,
        "shuffle" => TagChange::Shuffle,
        _ => return Ok(None),
    };
    let id = match change {
        TagChange::Shuffle => optional(fields, "Id").unwrap_or_default(),
        _ => required(fields, "Id")?,
    };
    Ok(Some(Known::Tag {
        change,
        id,
        tag_type: optional(fields, "TagType").map(|t| match t.as_str() {
            "tag" => TagType::Tag,
            "tag_group" => TagType::TagGroup,
            _ => TagType::Other(t),
        }),
        strategy_id: optional(fields, "StrategyId"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A change event as WeCom formats it, with `body` between the envelope
    /// fields.
    fn event(event: &str, change_type: &str, body: &str) -> String {
        format!(
            "<xml>\n\t<ToUserName><![CDATA[ww1234567890]]></ToUserName>\n\t<FromUserName><![CDATA[sys]]></FromUserName>\n\t<CreateTime>1403610513</CreateTime>\n\t<MsgType><![CDATA[event]]></MsgType>\n\t<Event><![CDATA[{event}]]></Event>\n\t<ChangeType><![CDATA[{change_type}]]></ChangeType>\n\t{body}\n</xml>"
        )
    }

    fn contact(change_type: &str, body: &str) -> ExternalContactChange {
        match CallbackEvent::parse(&event("change_external_contact", change_type, body)) {
            Ok(CallbackEvent::ExternalContact { change, .. }) => change,
            other => panic!("{change_type}: {other:?}"),
        }
    }

    const IDS: &str = "<UserID><![CDATA[zhangsan]]></UserID>\n\t<ExternalUserID><![CDATA[wmAbc]]></ExternalUserID>";

    #[test]
    fn envelope_fields() {
        let parsed =
            CallbackEvent::parse(&event("change_external_contact", "edit_external_contact", IDS)).expect("parses");
        assert_eq!(
            parsed.envelope(),
            &Envelope {
                corp_id: "ww1234567890".into(),
                from_user_name: "sys".into(),
                create_time: 1_403_610_513,
                msg_type: "event".into(),
                event: Some("change_external_contact".into()),
                change_type: Some("edit_external_contact".into()),
            }
        );
    }

    #[test]
    fn add_external_contact() {
        let body = format!("{IDS}<State><![CDATA[ch_42]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>");
        assert_eq!(
            contact("add_external_contact", &body),
            ExternalContactChange::Added {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
                state: Some("ch_42".into()),
                welcome_code: Some("WELCOMECODE".into()),
            }
        );
        // No state (not from a contact way) and no welcome code.
        assert_eq!(
            contact("add_external_contact", IDS),
            ExternalContactChange::Added {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
                state: None,
                welcome_code: None,
            }
        );
    }

    #[test]
    fn add_half_external_contact() {
        let body = format!("{IDS}<State><![CDATA[s]]></State><WelcomeCode><![CDATA[W]]></WelcomeCode>");
        assert_eq!(
            contact("add_half_external_contact", &body),
            ExternalContactChange::AddedHalf {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
                state: Some("s".into()),
                welcome_code: Some("W".into()),
            }
        );
    }

    #[test]
    fn edit_and_deletes() {
        assert_eq!(
            contact("edit_external_contact", IDS),
            ExternalContactChange::Edited { user_id: "zhangsan".into(), external_user_id: "wmAbc".into() }
        );
        assert_eq!(
            contact("del_external_contact", &format!("{IDS}<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>")),
            ExternalContactChange::MemberDeletedCustomer {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
                source: Some(DeleteSource::ByTransfer),
            }
        );
        assert_eq!(
            contact("del_external_contact", IDS),
            ExternalContactChange::MemberDeletedCustomer {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
                source: None,
            }
        );
        assert_eq!(
            contact("del_follow_user", IDS),
            ExternalContactChange::CustomerDeletedMember {
                user_id: "zhangsan".into(),
                external_user_id: "wmAbc".into(),
            }
        );
    }

    #[test]
    fn transfer_fail() {
        assert_eq!(
            contact("transfer_fail", &format!("<FailReason><![CDATA[customer_refused]]></FailReason>{IDS}")),
            ExternalContactChange::TransferFailed {
                user_id: Some("zhangsan".into()),
                external_user_id: Some("wmAbc".into()),
                reason: TransferFailReason::CustomerRefused,
            }
        );
        assert_eq!(
            contact("transfer_fail", "<FailReason><![CDATA[customer_limit_exceed]]></FailReason>"),
            ExternalContactChange::TransferFailed {
                user_id: None,
                external_user_id: None,
                reason: TransferFailReason::CustomerLimitExceed,
            }
        );
    }

    #[test]
    fn missing_ids_are_errors() {
        let no_external = event("change_external_contact", "add_external_contact", "<UserID>zhangsan</UserID>");
        assert_eq!(CallbackEvent::parse(&no_external), Err(EventError::MissingField("ExternalUserID")));
        let no_chat = event("change_external_chat", "dismiss", "");
        assert_eq!(CallbackEvent::parse(&no_chat), Err(EventError::MissingField("ChatId")));
        let bad_time = event("x", "y", "").replace("1403610513", "yesterday");
        assert_eq!(CallbackEvent::parse(&bad_time), Err(EventError::BadField("CreateTime")));
        let no_corp = event("x", "y", "").replace("ww1234567890", "");
        assert_eq!(CallbackEvent::parse(&no_corp), Err(EventError::MissingField("ToUserName")));
    }

    fn chat(change_type: &str, body: &str) -> (String, ExternalChatChange) {
        let body = format!("<ChatId><![CDATA[wrChat1]]></ChatId>{body}");
        match CallbackEvent::parse(&event("change_external_chat", change_type, &body)) {
            Ok(CallbackEvent::ExternalChat { chat_id, change, .. }) => (chat_id, change),
            other => panic!("{change_type}: {other:?}"),
        }
    }

    #[test]
    fn chat_create_and_dismiss() {
        assert_eq!(chat("create", ""), ("wrChat1".into(), ExternalChatChange::Create));
        assert_eq!(chat("dismiss", ""), ("wrChat1".into(), ExternalChatChange::Dismiss));
    }

    #[test]
    fn chat_update_add_member() {
        let body = "<UpdateDetail><![CDATA[add_member]]></UpdateDetail>\n\t<JoinScene>3</JoinScene>\n\t<QuitScene>0</QuitScene>\n\t<MemChangeCnt>2</MemChangeCnt>\n\t<MemChangeList>\n\t\t<Item>wmJack</Item>\n\t\t<Item><![CDATA[wmRose]]></Item>\n\t</MemChangeList>\n\t<LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>\n\t<CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer>";
        assert_eq!(
            chat("update", body).1,
            ExternalChatChange::Update {
                detail: UpdateDetail::AddMember,
                join_scene: Some(3),
                quit_scene: Some(0),
                mem_change_cnt: Some(2),
                mem_change_list: vec!["wmJack".into(), "wmRose".into()],
                last_mem_ver: Some("9c3f97c2ada667dfb5f6d03308d963e1".into()),
                cur_mem_ver: Some("71217227bbd112ecfe3a49c482195cb4".into()),
            }
        );
    }

    #[test]
    fn chat_update_details() {
        for (wire, detail) in [
            ("del_member", UpdateDetail::DelMember),
            ("change_owner", UpdateDetail::ChangeOwner),
            ("change_name", UpdateDetail::ChangeName),
            ("change_notice", UpdateDetail::ChangeNotice),
            ("change_avatar", UpdateDetail::Other("change_avatar".into())),
        ] {
            let body = format!("<UpdateDetail><![CDATA[{wire}]]></UpdateDetail>");
            match chat("update", &body).1 {
                ExternalChatChange::Update { detail: got, mem_change_list, join_scene, .. } => {
                    assert_eq!(got, detail);
                    assert!(mem_change_list.is_empty());
                    assert_eq!(join_scene, None);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn chat_update_legacy_comma_list_and_bad_numbers() {
        let body = "<UpdateDetail>del_member</UpdateDetail><QuitScene>1</QuitScene><MemChangeList><![CDATA[wmA, wmB]]></MemChangeList>";
        match chat("update", body).1 {
            ExternalChatChange::Update { mem_change_list, quit_scene, .. } => {
                assert_eq!(mem_change_list, vec!["wmA".to_owned(), "wmB".to_owned()]);
                assert_eq!(quit_scene, Some(1));
            }
            other => panic!("{other:?}"),
        }
        let bad = event(
            "change_external_chat",
            "update",
            "<ChatId>wr1</ChatId><UpdateDetail>add_member</UpdateDetail><JoinScene>-1</JoinScene>",
        );
        assert_eq!(CallbackEvent::parse(&bad), Err(EventError::BadField("JoinScene")));
    }

    fn tag(change_type: &str, body: &str) -> CallbackEvent {
        CallbackEvent::parse(&event("change_external_tag", change_type, body)).expect(change_type)
    }

    #[test]
    fn tag_events() {
        for (wire, change) in
            [("create", TagChange::Create), ("update", TagChange::Update), ("delete", TagChange::Delete)]
        {
            let parsed = tag(wire, "<Id><![CDATA[etTag1]]></Id><TagType><![CDATA[tag]]></TagType>");
            assert!(
                matches!(
                    parsed,
                    CallbackEvent::ExternalTag { change: c, ref id, tag_type: Some(TagType::Tag), strategy_id: None, .. }
                        if c == change && id == "etTag1"
                ),
                "{wire}: {parsed:?}"
            );
        }
        let group = tag(
            "delete",
            "<Id><![CDATA[etGroup]]></Id><TagType><![CDATA[tag_group]]></TagType><StrategyId>7</StrategyId>",
        );
        assert!(
            matches!(
                group,
                CallbackEvent::ExternalTag { tag_type: Some(TagType::TagGroup), strategy_id: Some(ref s), .. } if s == "7"
            ),
            "{group:?}"
        );
        let shuffle = tag("shuffle", "<Id><![CDATA[]]></Id>");
        assert!(
            matches!(
                shuffle,
                CallbackEvent::ExternalTag { change: TagChange::Shuffle, ref id, tag_type: None, .. } if id.is_empty()
            ),
            "{shuffle:?}"
        );
        assert_eq!(
            CallbackEvent::parse(&event("change_external_tag", "create", "<TagType>tag</TagType>")),
            Err(EventError::MissingField("Id"))
        );
    }

    #[test]
    fn unknown_is_kept_whole() {
        let cases = [
            event("change_external_contact", "msg_audit_approved", IDS),
            event("change_external_chat", "archive", "<ChatId>wr1</ChatId>"),
            event("change_external_tag", "merge", "<Id>et1</Id>"),
            event("change_contact", "create_user", IDS),
            // The official V2 sample: a text message, not an event.
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>".to_owned(),
        ];
        for plaintext in cases {
            match CallbackEvent::parse(&plaintext) {
                Ok(CallbackEvent::Unknown { envelope, raw }) => {
                    assert_eq!(raw, plaintext);
                    assert!(envelope.create_time > 0);
                }
                other => panic!("{plaintext}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_is_an_error() {
        for bad in ["", "hello", "<xml><ToUserName>ww</xml>", "<json/>"] {
            assert_eq!(CallbackEvent::parse(bad), Err(EventError::Malformed), "{bad:?}");
        }
        assert_eq!(EventError::Malformed.code(), "malformed_event");
    }

    #[test]
    fn dedup_key_separates_same_second_adds() {
        let first = event(
            "change_external_contact",
            "add_external_contact",
            "<UserID>zhangsan</UserID><ExternalUserID>wmCustomerA</ExternalUserID><State>ch_1</State>",
        );
        let second = first.replace("wmCustomerA", "wmCustomerB");
        // Same corp, member, second, state: only the customer differs.
        assert_eq!(
            CallbackEvent::parse(&first).expect("parses").envelope(),
            CallbackEvent::parse(&second).expect("parses").envelope()
        );
        assert_ne!(dedup_key(first.as_bytes()), dedup_key(second.as_bytes()));
    }

    #[test]
    fn dedup_key_matches_redelivery() {
        let delivered = event("change_external_contact", "del_follow_user", IDS);
        let redelivered = delivered.clone().into_bytes();
        assert_eq!(dedup_key(delivered.as_bytes()), dedup_key(&redelivered));
        assert_eq!(dedup_key(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in "\\PC*") {
            let _ = CallbackEvent::parse(&s);
        }

        #[test]
        fn never_panics_on_mangled_events(
            ev in prop_oneof![Just("change_external_contact".to_owned()), Just("change_external_chat".to_owned()), Just("change_external_tag".to_owned()), "\\PC{0,8}"],
            ct in prop_oneof![Just("add_external_contact".to_owned()), Just("transfer_fail".to_owned()), Just("update".to_owned()), Just("shuffle".to_owned()), Just("del_external_contact".to_owned()), "\\PC{0,8}"],
            body in "(<[A-Za-z]{1,12}>[^<>&]{0,10}</[A-Za-z]{1,12}>|<Item>x</Item>|<JoinScene>[0-9a-z-]{0,12}</JoinScene>|<MemChangeList>|</MemChangeList>){0,8}",
            cut in any::<proptest::sample::Index>(),
        ) {
            let xml = event(&ev, &ct, &body);
            let _ = CallbackEvent::parse(&xml);
            let at = cut.index(xml.len() + 1);
            if let Some(prefix) = xml.get(..at) {
                let _ = CallbackEvent::parse(prefix);
            }
        }
    }
}
