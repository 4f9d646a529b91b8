//! What people say in customer groups and what WeCom does around it: the
//! session archive (会话存档) every message lands in (read through
//! `msgaudit/get_chat_data`), group welcome templates and the owner's choice
//! of one for a group (WeCom greets each joiner with it), and the app
//! messages koi sends to members.
//!
//! The archive stands in for the decrypted output of WeCom's archive SDK
//! (`GetChatData` + `DecryptData`): the same fields, in `seq` order, served
//! as plain JSON so koi and its tests need no C library.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::world::{ActionError, World};

/// The agentid of the simulated self-built app (WeCom numbers them from
/// 1000002); `message/send` with another answers 40056.
pub const SIM_AGENT_ID: i64 = 1_000_002;

/// What a member says: text, an image or a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub enum Said {
    Text { text: TextBody },
    Image { image: ImageBody },
    Link { link: LinkBody },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextBody {
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageBody {
    pub md5sum: String,
    pub filesize: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkBody {
    pub title: String,
    pub description: String,
    pub link_url: String,
}

/// One message of the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archived {
    pub seq: i64,
    pub msgid: String,
    pub from: String,
    pub tolist: Vec<String>,
    pub roomid: String,
    /// Milliseconds.
    pub msgtime: i64,
    pub said: Said,
}

impl Archived {
    /// The message as `get_chat_data` answers it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "seq": self.seq,
            "msgid": self.msgid,
            "action": "send",
            "from": self.from,
            "tolist": self.tolist,
            "roomid": self.roomid,
            "msgtime": self.msgtime,
        });
        if let (Value::Object(m), Ok(Value::Object(body))) = (&mut v, serde_json::to_value(&self.said)) {
            m.extend(body);
        }
        v
    }
}

/// A group welcome template as WeCom keeps it: text and at most one
/// attachment, each as koi sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupWelcomeTemplate {
    pub template_id: String,
    pub text: Option<Value>,
    pub image: Option<Value>,
    pub link: Option<Value>,
    pub miniprogram: Option<Value>,
    pub create_time: i64,
}

/// A group welcome WeCom sent to a joiner (the group's owner chose the
/// template for the group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupWelcomeRecord {
    pub corp_id: String,
    pub chat_id: String,
    pub userid: String,
    pub template_id: String,
    pub text: String,
    pub link_url: Option<String>,
    pub sent_at: i64,
}

/// An app message koi sent (`message/send`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppMessageRecord {
    pub corp_id: String,
    /// The valid recipients.
    pub touser: Vec<String>,
    pub agentid: i64,
    /// As delivered: cut at 2048 bytes.
    pub content: String,
    pub sent_at: i64,
}

/// The chat state of one corp.
#[derive(Debug, Clone)]
pub struct ChatState {
    /// The archive is enabled for the corp (otherwise 301053).
    pub archive_enabled: bool,
    pub archive: Vec<Archived>,
    pub templates: BTreeMap<String, GroupWelcomeTemplate>,
    /// chat_id → the template its owner chose.
    pub bindings: BTreeMap<String, String>,
    pub welcome_log: Vec<GroupWelcomeRecord>,
    pub app_messages: Vec<AppMessageRecord>,
}

impl Default for ChatState {
    fn default() -> Self {
        Self {
            archive_enabled: true,
            archive: Vec::new(),
            templates: BTreeMap::new(),
            bindings: BTreeMap::new(),
            welcome_log: Vec::new(),
            app_messages: Vec::new(),
        }
    }
}

impl World {
    /// A member (customer or staff) says something in a group: it lands in
    /// the archive under the next seq. Returns the seq.
    pub fn say(&mut self, chat_id: &str, from: &str, said: Said, now_ms: i64) -> Result<i64, ActionError> {
        let group = self.groups.get(chat_id).ok_or_else(|| ActionError::UnknownGroup(chat_id.to_owned()))?;
        if !group.members.iter().any(|m| m.userid == from) {
            return Err(ActionError::NoRelation(from.to_owned(), chat_id.to_owned()));
        }
        let tolist = group.members.iter().filter(|m| m.userid != from).map(|m| m.userid.clone()).collect();
        let seq = self.chat.archive.last().map_or(1, |m| m.seq + 1);
        let msgid = format!("{}_{}_external", self.alnum(20), now_ms);
        self.chat.archive.push(Archived {
            seq,
            msgid,
            from: from.to_owned(),
            tolist,
            roomid: chat_id.to_owned(),
            msgtime: now_ms,
            said,
        });
        Ok(seq)
    }

    /// The owner picks a welcome template for the group in their client.
    pub fn bind_group_welcome(&mut self, chat_id: &str, template_id: &str) -> Result<(), ActionError> {
        if !self.groups.contains_key(chat_id) {
            return Err(ActionError::UnknownGroup(chat_id.to_owned()));
        }
        if !self.chat.templates.contains_key(template_id) {
            return Err(ActionError::UnknownTemplate(template_id.to_owned()));
        }
        self.chat.bindings.insert(chat_id.to_owned(), template_id.to_owned());
        Ok(())
    }

    /// WeCom greets a customer who joined a group whose owner chose a
    /// template.
    pub(crate) fn greet_joiner(&mut self, chat_id: &str, userid: &str, now_s: i64) {
        if !self.customers.contains_key(userid) {
            return;
        }
        let Some(t) = self.chat.bindings.get(chat_id).and_then(|id| self.chat.templates.get(id)) else {
            return;
        };
        let text = t.text.as_ref().and_then(|v| v.get("content")).and_then(Value::as_str).unwrap_or_default();
        let link_url = t.link.as_ref().and_then(|v| v.get("url")).and_then(Value::as_str).map(str::to_owned);
        let record = GroupWelcomeRecord {
            corp_id: self.corp_id.clone(),
            chat_id: chat_id.to_owned(),
            userid: userid.to_owned(),
            template_id: t.template_id.clone(),
            text: text.to_owned(),
            link_url,
            sent_at: now_s,
        };
        self.chat.welcome_log.push(record);
    }
}
