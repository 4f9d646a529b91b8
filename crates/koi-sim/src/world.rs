//! The truth of one simulated corp: its members, customers, follow
//! relations, contact and join ways, tags, groups, mass messages and what koi
//! asked for. API handlers read and change it under the corp's lock; the
//! control API and the virtual customers act on it the way people do in the
//! WeChat and WeCom apps, which is what fires callbacks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::callback::SimEvent;
use crate::clock::{shanghai_day, year_month};
use crate::config::{Limits, QuotaWindow, SimStaff};

/// Why an action by a simulated person could not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("unknown contact way {0}")]
    UnknownContactWay(String),
    #[error("unknown join way {0}")]
    UnknownJoinWay(String),
    #[error("unknown customer {0}")]
    UnknownCustomer(String),
    #[error("unknown member {0}")]
    UnknownMember(String),
    #[error("unknown group {0}")]
    UnknownGroup(String),
    #[error("unknown mass message {0}")]
    UnknownMassMessage(String),
    #[error("contact way {0} has no member to pick")]
    NoMember(String),
    #[error("member {0} is at the customer capacity")]
    CustomerLimit(String),
    #[error("{0} is not a customer of {1}")]
    NoRelation(String, String),
    #[error("group {0} is full")]
    GroupFull(String),
    #[error("{0} is already in group {1}")]
    AlreadyInGroup(String, String),
    #[error("no handover of {0} is waiting")]
    NoTransfer(String),
    #[error("unknown group welcome template {0}")]
    UnknownTemplate(String),
}

impl ActionError {
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::UnknownContactWay(_) => "unknown_contact_way",
            ActionError::UnknownJoinWay(_) => "unknown_join_way",
            ActionError::UnknownCustomer(_) => "unknown_customer",
            ActionError::UnknownMember(_) => "unknown_member",
            ActionError::UnknownGroup(_) => "unknown_group",
            ActionError::UnknownMassMessage(_) => "unknown_mass_message",
            ActionError::NoMember(_) => "no_member",
            ActionError::CustomerLimit(_) => "customer_limit_exceed",
            ActionError::NoRelation(..) => "no_relation",
            ActionError::GroupFull(_) => "group_full",
            ActionError::AlreadyInGroup(..) => "already_in_group",
            ActionError::NoTransfer(_) => "no_transfer",
            ActionError::UnknownTemplate(_) => "unknown_template",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    /// 1 WeChat user (`wm…`), 2 WeCom user (`wo…`).
    #[serde(rename = "type")]
    pub kind: u8,
    pub gender: u8,
    pub unionid: Option<String>,
    pub corp_name: Option<String>,
    pub position: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Follow {
    pub remark: String,
    pub description: String,
    pub createtime: i64,
    pub tags: BTreeSet<String>,
    pub remark_mobiles: Vec<String>,
    pub remark_corp_name: String,
    pub oper_userid: String,
    pub add_way: u32,
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactWay {
    pub config_id: String,
    #[serde(rename = "type")]
    pub kind: u8,
    pub scene: u8,
    pub style: u32,
    pub remark: String,
    pub skip_verify: bool,
    pub state: String,
    pub user: Vec<String>,
    pub party: Vec<u64>,
    pub is_temp: bool,
    pub expires_in: i64,
    pub chat_expires_in: i64,
    pub unionid: String,
    /// The same customer adding again lands on the member they added before.
    pub is_exclusive: bool,
    pub conclusions: Value,
    pub qr_code: String,
    pub create_time: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    pub id: String,
    pub name: String,
    pub create_time: i64,
    pub order: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagGroup {
    pub group_id: String,
    pub group_name: String,
    pub create_time: i64,
    pub order: u32,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
pub struct WelcomeCode {
    pub userid: String,
    pub external_userid: String,
    pub issued_ms: i64,
    pub used: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupMember {
    pub userid: String,
    /// 1 corp member, 2 external contact.
    #[serde(rename = "type")]
    pub kind: u8,
    pub unionid: Option<String>,
    pub join_time: i64,
    /// 1 invited directly, 2 invitation link, 3 QR.
    pub join_scene: u8,
    pub invitor: Option<String>,
    pub group_nickname: String,
    pub name: String,
    pub state: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub chat_id: String,
    pub name: String,
    pub owner: String,
    pub create_time: i64,
    pub notice: String,
    pub members: Vec<GroupMember>,
    pub admin_list: Vec<String>,
    pub member_version: String,
    /// 0 normal, 1 owner resigned, 2 inherited, 3 inherit done.
    pub status: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct JoinWay {
    pub config_id: String,
    pub scene: u8,
    pub remark: String,
    pub auto_create_room: bool,
    pub room_base_name: String,
    pub room_base_id: u64,
    pub chat_id_list: Vec<String>,
    pub state: String,
    pub qr_code: String,
    /// The suffix of the next room this way opens.
    pub next_room_id: u64,
    pub create_time: i64,
}

/// One recipient line of a mass message.
#[derive(Debug, Clone, Serialize)]
pub struct MassRecipient {
    pub external_userid: Option<String>,
    pub chat_id: Option<String>,
    pub userid: String,
    /// 0 unsent, 1 sent, 2 not a friend, 3 quota used.
    pub status: u8,
    pub send_time: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MassTask {
    pub msgid: String,
    pub chat_type: String,
    pub create_time: i64,
    pub sender: Option<String>,
    pub text: Option<String>,
    pub attachments: Value,
    /// Per member: 0 unsent, 2 sent, and the send time.
    pub members: BTreeMap<String, (u8, i64)>,
    pub recipients: Vec<MassRecipient>,
    pub fail_list: Vec<String>,
    pub reminds: Vec<i64>,
    pub cancelled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Moment {
    pub jobid: String,
    pub moment_id: String,
    pub create_ms: i64,
    pub invalid_users: Vec<String>,
    pub invalid_departments: Vec<u64>,
    pub invalid_tags: Vec<String>,
    pub body: Value,
    /// The tags whose customers see it (none: all of a member's customers).
    pub tags: Vec<String>,
    /// Each member asked to publish it.
    pub members: BTreeMap<String, MomentCopy>,
}

/// One member's copy of a moment: published or not, and who liked or
/// commented on it (customers who see it, a seeded share of them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MomentCopy {
    pub published: bool,
    pub publish_time: i64,
    pub likes: Vec<String>,
    pub comments: Vec<String>,
}

/// An on-job or resigned handover of one customer.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub handover_userid: String,
    pub takeover_userid: String,
    pub external_userid: String,
    /// 1 done, 2 waiting, 3 refused, 4 taker at limit.
    pub status: u8,
    pub create_time: i64,
    pub takeover_time: i64,
    pub resigned: bool,
}

/// Per member and day, what `get_user_behavior_data` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Behavior {
    pub chat_cnt: u64,
    pub message_cnt: u64,
    pub negative_feedback_cnt: u64,
    pub new_apply_cnt: u64,
    pub new_contact_cnt: u64,
}

/// A welcome message koi sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WelcomeRecord {
    pub corp_id: String,
    pub userid: String,
    pub external_userid: String,
    pub welcome_code: String,
    pub text: Option<String>,
    pub attachments: Value,
    pub sent_at: i64,
    /// Virtual milliseconds from the add to the send.
    pub latency_ms: i64,
}

/// A `mark_tag` call koi made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagMarkRecord {
    pub corp_id: String,
    pub userid: String,
    pub external_userid: String,
    pub add_tag: Vec<String>,
    pub remove_tag: Vec<String>,
    pub at: i64,
}

/// A `remark` call koi made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemarkRecord {
    pub corp_id: String,
    pub userid: String,
    pub external_userid: String,
    pub remark: Option<String>,
    pub description: Option<String>,
    pub remark_mobiles: Option<Vec<String>>,
    pub at: i64,
}

/// Where the simulator serves customers' avatars (`GET /sim/avatar/{id}`).
pub const AVATAR_PATH: &str = "/sim/avatar/";

/// A customer to create when it scans or joins for the first time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewCustomer {
    /// Reuse this customer if it exists; a fresh id otherwise.
    pub external_userid: Option<String>,
    pub name: Option<String>,
    /// A WeCom user (`wo…`, type 2) instead of a WeChat user.
    pub wecom: bool,
    pub gender: Option<u8>,
    pub unionid: Option<String>,
    pub corp_name: Option<String>,
    /// An avatar URL of the test's choosing (one that fails, say); the
    /// simulator's own picture (`/sim/avatar/…`) otherwise.
    pub avatar: Option<String>,
}

/// What a scan of a contact way did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScanOutcome {
    pub external_userid: String,
    pub userid: String,
    pub state: String,
    /// `None` when the customer already followed that member (no new add).
    pub welcome_code: Option<String>,
    pub new_customer: bool,
    /// The member has not confirmed yet (`add_half_external_contact`).
    pub half: bool,
}

/// What a group join did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JoinOutcome {
    pub chat_id: String,
    pub external_userid: String,
    /// The join way opened this group for the join.
    pub created_room: bool,
}

/// A stable draw from bytes: FNV-1a, then SplitMix64's finaliser so that
/// inputs differing in their last byte land far apart.
fn mix<'a>(bytes: impl Iterator<Item = &'a u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

const NAMES: &[&str] = &[
    "王小明",
    "李娜",
    "Chen Wei",
    "张伟🌟",
    "刘洋",
    "Amy 🍀",
    "赵敏",
    "孙悦",
    "周杰",
    "吴芳",
    "郑爽🌙",
    "Kevin",
    "黄蕾",
    "林🐟",
    "何静",
    "高峰",
    "Momo🐱",
    "罗琳",
    "梁朝",
    "谢娜",
];

pub struct World {
    pub corp_id: String,
    rng: ChaCha8Rng,
    /// Draws what does not change between tasks (which members confirm on
    /// their own).
    seed: u64,
    /// Confirmations members will make on their own: (virtual second,
    /// msgid or moment jobid, userid, is a moment).
    pub pending_confirms: BTreeSet<(i64, String, String, bool)>,
    pub staff: Vec<SimStaff>,
    pub customers: HashMap<String, Customer>,
    /// Keyed (userid, external_userid) so a member's customers are a range.
    pub follows: BTreeMap<(String, String), Follow>,
    /// external_userid → userids following it.
    pub followers: HashMap<String, BTreeSet<String>>,
    pub contact_ways: BTreeMap<String, ContactWay>,
    pub tag_groups: Vec<TagGroup>,
    pub welcome_codes: HashMap<String, WelcomeCode>,
    pub mass: BTreeMap<String, MassTask>,
    /// (external_userid or chat_id, window) → mass messages received.
    pub quota: HashMap<(String, i64), u32>,
    pub groups: BTreeMap<String, Group>,
    pub join_ways: BTreeMap<String, JoinWay>,
    pub moments: HashMap<String, Moment>,
    pub transfers: Vec<Transfer>,
    pub behavior: HashMap<(String, i64), Behavior>,
    pub welcome_log: Vec<WelcomeRecord>,
    pub tag_log: Vec<TagMarkRecord>,
    pub remark_log: Vec<RemarkRecord>,
    /// What is said in groups, group welcome templates, app messages.
    pub chat: crate::chat::ChatState,
    /// openid → external_userid, for those `convert_to_openid` answered
    /// (WeChat Pay pays only openids of its corp).
    pub openids: HashMap<String, String>,
    /// Events waiting to be handed to the callback queue after the lock is
    /// released.
    pub outbox: Vec<SimEvent>,
    /// Web sign-in codes: code → (userid, expires_ms) (`api/oauth.rs`).
    pub oauth_codes: HashMap<String, (String, i64)>,
    /// Temporary media by media_id (`api/media.rs`).
    pub media: HashMap<String, SimMedia>,
    /// Images made permanent through `media/uploadimg`.
    pub images_uploaded: u64,
    /// JS-SDK tickets: `corp` or `agent` → (ticket, expires at, virtual s).
    pub tickets: HashMap<&'static str, (String, i64)>,
    /// Ticket fetches per (`corp`|`agent`, virtual hour).
    pub ticket_fetches: HashMap<(&'static str, i64), u32>,
}

/// A temporary media upload.
#[derive(Debug, Clone)]
pub struct SimMedia {
    pub kind: String,
    pub filename: String,
    pub size: usize,
    pub created_s: i64,
}

impl World {
    pub fn new(corp_id: &str, staff: Vec<SimStaff>, seed: u64) -> Self {
        Self {
            corp_id: corp_id.to_owned(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            pending_confirms: BTreeSet::new(),
            staff,
            customers: HashMap::new(),
            follows: BTreeMap::new(),
            followers: HashMap::new(),
            contact_ways: BTreeMap::new(),
            tag_groups: Vec::new(),
            welcome_codes: HashMap::new(),
            mass: BTreeMap::new(),
            quota: HashMap::new(),
            groups: BTreeMap::new(),
            join_ways: BTreeMap::new(),
            moments: HashMap::new(),
            transfers: Vec::new(),
            behavior: HashMap::new(),
            welcome_log: Vec::new(),
            tag_log: Vec::new(),
            remark_log: Vec::new(),
            chat: crate::chat::ChatState::default(),
            openids: HashMap::new(),
            outbox: Vec::new(),
            oauth_codes: HashMap::new(),
            media: HashMap::new(),
            images_uploaded: 0,
            tickets: HashMap::new(),
            ticket_fetches: HashMap::new(),
        }
    }

    // ---- ids ----

    pub fn alnum(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len).map(|_| ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char).collect()
    }

    pub fn hex_id(&mut self, bytes: usize) -> String {
        let raw: Vec<u8> = (0..bytes).map(|_| self.rng.gen()).collect();
        hex::encode(raw)
    }

    pub fn random_index(&mut self, len: usize) -> usize {
        self.rng.gen_range(0..len.max(1))
    }

    pub fn staff(&self, userid: &str) -> Option<&SimStaff> {
        self.staff.iter().find(|s| s.userid == userid)
    }

    pub fn is_staff(&self, userid: &str) -> bool {
        self.staff(userid).is_some()
    }

    pub fn has_relation(&self, userid: &str, external_userid: &str) -> bool {
        self.follows.contains_key(&(userid.to_owned(), external_userid.to_owned()))
    }

    pub fn customer_count(&self, userid: &str) -> usize {
        self.follows.range((userid.to_owned(), String::new())..).take_while(|((u, _), _)| u == userid).count()
    }

    pub fn customers_of(&self, userid: &str) -> Vec<String> {
        self.follows
            .range((userid.to_owned(), String::new())..)
            .take_while(|((u, _), _)| u == userid)
            .map(|((_, e), _)| e.clone())
            .collect()
    }

    pub fn tag_count(&self) -> usize {
        self.tag_groups.iter().map(|g| g.tags.len()).sum()
    }

    /// (group, tag) of a tag id.
    pub fn find_tag(&self, tag_id: &str) -> Option<(&TagGroup, &Tag)> {
        self.tag_groups.iter().find_map(|g| g.tags.iter().find(|t| t.id == tag_id).map(|t| (g, t)))
    }

    fn behavior_mut(&mut self, userid: &str, now_s: i64) -> &mut Behavior {
        self.behavior.entry((userid.to_owned(), shanghai_day(now_s))).or_default()
    }

    pub fn note_message(&mut self, userid: &str, now_s: i64) {
        let day = self.behavior_mut(userid, now_s);
        day.chat_cnt += 1;
        day.message_cnt += 1;
    }

    // ---- customers and follows ----

    /// The customer for `new`, created when new. Returns (id, created).
    pub fn ensure_customer(&mut self, new: &NewCustomer) -> (String, bool) {
        if let Some(id) = &new.external_userid {
            if self.customers.contains_key(id) {
                return (id.clone(), false);
            }
        }
        let id = match &new.external_userid {
            Some(id) => id.clone(),
            None => format!("{}{}", if new.wecom { "wo" } else { "wm" }, self.alnum(30)),
        };
        let wecom = id.starts_with("wo");
        let name = match &new.name {
            Some(name) => name.clone(),
            None => NAMES[self.random_index(NAMES.len())].to_owned(),
        };
        let gender = new.gender.unwrap_or_else(|| self.rng.gen_range(0..=2));
        let unionid =
            if wecom { None } else { Some(new.unionid.clone().unwrap_or_else(|| format!("o{}", self.alnum(27)))) };
        // A path on the simulator (the API answers it with its base URL in
        // front), like WeChat's opaque CDN addresses.
        let drawn = format!("{AVATAR_PATH}{}", self.alnum(40));
        let avatar = new.avatar.clone().unwrap_or(drawn);
        let customer = Customer {
            external_userid: id.clone(),
            name,
            avatar,
            kind: if wecom { 2 } else { 1 },
            gender,
            unionid,
            corp_name: if wecom {
                Some(new.corp_name.clone().unwrap_or_else(|| "合作伙伴公司".to_owned()))
            } else {
                None
            },
            position: if wecom { Some("采购".to_owned()) } else { None },
        };
        self.customers.insert(id.clone(), customer);
        (id, true)
    }

    /// A customer adds a member. Fires add(_half)_external_contact with a
    /// fresh welcome code, unless the relation already exists.
    #[allow(clippy::too_many_arguments)]
    pub fn add_follow(
        &mut self,
        userid: &str,
        external_userid: &str,
        add_way: u32,
        state: &str,
        half: bool,
        now_ms: i64,
        limits: &Limits,
    ) -> Result<Option<String>, ActionError> {
        if !self.is_staff(userid) {
            return Err(ActionError::UnknownMember(userid.to_owned()));
        }
        if !self.customers.contains_key(external_userid) {
            return Err(ActionError::UnknownCustomer(external_userid.to_owned()));
        }
        if self.has_relation(userid, external_userid) {
            return Ok(None);
        }
        let now_s = now_ms.div_euclid(1000);
        self.behavior_mut(userid, now_s).new_apply_cnt += 1;
        if self.customer_count(userid) >= limits.member_capacity {
            return Err(ActionError::CustomerLimit(userid.to_owned()));
        }
        self.behavior_mut(userid, now_s).new_contact_cnt += 1;
        self.follows.insert(
            (userid.to_owned(), external_userid.to_owned()),
            Follow {
                remark: String::new(),
                description: String::new(),
                createtime: now_s,
                tags: BTreeSet::new(),
                remark_mobiles: Vec::new(),
                remark_corp_name: String::new(),
                oper_userid: external_userid.to_owned(),
                add_way,
                state: state.to_owned(),
            },
        );
        self.followers.entry(external_userid.to_owned()).or_default().insert(userid.to_owned());
        let code = self.alnum(43);
        self.welcome_codes.insert(
            code.clone(),
            WelcomeCode {
                userid: userid.to_owned(),
                external_userid: external_userid.to_owned(),
                issued_ms: now_ms,
                used: false,
            },
        );
        self.outbox.push(SimEvent::AddContact {
            userid: userid.to_owned(),
            external_userid: external_userid.to_owned(),
            state: state.to_owned(),
            welcome_code: code.clone(),
            half,
        });
        Ok(Some(code))
    }

    fn remove_follow(&mut self, userid: &str, external_userid: &str) -> bool {
        let removed = self.follows.remove(&(userid.to_owned(), external_userid.to_owned())).is_some();
        if let Some(set) = self.followers.get_mut(external_userid) {
            set.remove(userid);
            if set.is_empty() {
                self.followers.remove(external_userid);
            }
        }
        removed
    }

    /// Customer `external_userid` scans contact way `config_id`. For a
    /// multi-member way WeCom picks the member at random; `pick` is the
    /// random draw so a seeded caller gets the same member every run. `half`
    /// reports the add as not yet confirmed by the member
    /// (`add_half_external_contact`).
    pub fn scan(
        &mut self,
        config_id: &str,
        new: &NewCustomer,
        pick: Option<u64>,
        half: bool,
        now_ms: i64,
        limits: &Limits,
    ) -> Result<ScanOutcome, ActionError> {
        let way =
            self.contact_ways.get(config_id).ok_or_else(|| ActionError::UnknownContactWay(config_id.to_owned()))?;
        let mut candidates: Vec<String> = way.user.clone();
        for party in &way.party {
            for s in &self.staff {
                if s.department == *party && s.contact_permission && !candidates.contains(&s.userid) {
                    candidates.push(s.userid.clone());
                }
            }
        }
        if candidates.is_empty() {
            return Err(ActionError::NoMember(config_id.to_owned()));
        }
        let state = way.state.clone();
        let index = match pick {
            Some(p) => (p % candidates.len() as u64) as usize,
            None => self.random_index(candidates.len()),
        };
        let userid = candidates.swap_remove(index);
        let (external_userid, new_customer) = self.ensure_customer(new);
        let welcome_code = self.add_follow(&userid, &external_userid, 1, &state, half, now_ms, limits)?;
        Ok(ScanOutcome { external_userid, userid, state, welcome_code, new_customer, half })
    }

    /// The customer deletes the member (del_follow_user).
    pub fn customer_deletes(&mut self, external_userid: &str, userid: &str, now_s: i64) -> Result<(), ActionError> {
        if !self.remove_follow(userid, external_userid) {
            return Err(ActionError::NoRelation(external_userid.to_owned(), userid.to_owned()));
        }
        self.behavior_mut(userid, now_s).negative_feedback_cnt += 1;
        self.outbox
            .push(SimEvent::DelFollowUser { userid: userid.to_owned(), external_userid: external_userid.to_owned() });
        Ok(())
    }

    /// The member deletes the customer in the client (del_external_contact).
    pub fn staff_deletes(&mut self, userid: &str, external_userid: &str) -> Result<(), ActionError> {
        if !self.remove_follow(userid, external_userid) {
            return Err(ActionError::NoRelation(external_userid.to_owned(), userid.to_owned()));
        }
        self.outbox.push(SimEvent::DelExternalContact {
            userid: userid.to_owned(),
            external_userid: external_userid.to_owned(),
            source: None,
        });
        Ok(())
    }

    /// The member edits the customer in the client (edit_external_contact).
    pub fn staff_edits(
        &mut self,
        userid: &str,
        external_userid: &str,
        remark: Option<String>,
    ) -> Result<(), ActionError> {
        let follow = self
            .follows
            .get_mut(&(userid.to_owned(), external_userid.to_owned()))
            .ok_or_else(|| ActionError::NoRelation(external_userid.to_owned(), userid.to_owned()))?;
        if let Some(remark) = remark {
            follow.remark = remark;
        }
        self.outbox
            .push(SimEvent::EditContact { userid: userid.to_owned(), external_userid: external_userid.to_owned() });
        Ok(())
    }

    // ---- groups ----

    fn new_member_version(&mut self) -> String {
        self.hex_id(16)
    }

    /// A member creates a customer group in the client.
    pub fn create_group(&mut self, owner: &str, name: &str, now_s: i64) -> Result<String, ActionError> {
        let owner_name =
            self.staff(owner).map(|s| s.name.clone()).ok_or_else(|| ActionError::UnknownMember(owner.to_owned()))?;
        let chat_id = format!("wr{}", self.alnum(30));
        let member_version = self.new_member_version();
        self.groups.insert(
            chat_id.clone(),
            Group {
                chat_id: chat_id.clone(),
                name: name.to_owned(),
                owner: owner.to_owned(),
                create_time: now_s,
                notice: String::new(),
                members: vec![GroupMember {
                    userid: owner.to_owned(),
                    kind: 1,
                    unionid: None,
                    join_time: now_s,
                    join_scene: 1,
                    invitor: None,
                    group_nickname: String::new(),
                    name: owner_name,
                    state: None,
                }],
                admin_list: Vec::new(),
                member_version,
                status: 0,
            },
        );
        self.outbox.push(SimEvent::ChatCreate { chat_id: chat_id.clone() });
        Ok(chat_id)
    }

    /// A customer (or member) joins a group. QR joins stop at the QR cut;
    /// every join stops at the group size.
    #[allow(clippy::too_many_arguments)]
    pub fn join_group(
        &mut self,
        chat_id: &str,
        userid: &str,
        join_scene: u8,
        invitor: Option<String>,
        state: Option<String>,
        now_s: i64,
        limits: &Limits,
    ) -> Result<(), ActionError> {
        let (kind, unionid, name) = if let Some(c) = self.customers.get(userid) {
            (2, c.unionid.clone(), c.name.clone())
        } else if let Some(s) = self.staff(userid) {
            (1, None, s.name.clone())
        } else {
            return Err(ActionError::UnknownCustomer(userid.to_owned()));
        };
        let version = self.new_member_version();
        let group = self.groups.get_mut(chat_id).ok_or_else(|| ActionError::UnknownGroup(chat_id.to_owned()))?;
        if group.members.iter().any(|m| m.userid == userid) {
            return Err(ActionError::AlreadyInGroup(userid.to_owned(), chat_id.to_owned()));
        }
        let cap = if join_scene == 3 { limits.group_qr_cut } else { limits.group_size };
        if group.members.len() >= cap.min(limits.group_size) {
            return Err(ActionError::GroupFull(chat_id.to_owned()));
        }
        group.members.push(GroupMember {
            userid: userid.to_owned(),
            kind,
            unionid,
            join_time: now_s,
            join_scene,
            invitor: invitor.or_else(|| if join_scene == 3 { None } else { Some(group.owner.clone()) }),
            group_nickname: String::new(),
            name,
            state: state.filter(|s| !s.is_empty()),
        });
        let last = std::mem::replace(&mut group.member_version, version.clone());
        self.outbox.push(SimEvent::ChatUpdate {
            chat_id: chat_id.to_owned(),
            detail: "add_member".to_owned(),
            // The callback knows only "invited" (0) and "QR" (3).
            join_scene: Some(if join_scene == 3 { 3 } else { 0 }),
            quit_scene: None,
            mem_change_list: vec![userid.to_owned()],
            last_mem_ver: last,
            cur_mem_ver: version,
        });
        self.greet_joiner(chat_id, userid, now_s);
        Ok(())
    }

    pub fn leave_group(&mut self, chat_id: &str, userid: &str) -> Result<(), ActionError> {
        let version = self.new_member_version();
        let group = self.groups.get_mut(chat_id).ok_or_else(|| ActionError::UnknownGroup(chat_id.to_owned()))?;
        let before = group.members.len();
        group.members.retain(|m| m.userid != userid);
        if group.members.len() == before {
            return Err(ActionError::NoRelation(userid.to_owned(), chat_id.to_owned()));
        }
        let last = std::mem::replace(&mut group.member_version, version.clone());
        self.outbox.push(SimEvent::ChatUpdate {
            chat_id: chat_id.to_owned(),
            detail: "del_member".to_owned(),
            join_scene: None,
            quit_scene: Some(0),
            mem_change_list: vec![userid.to_owned()],
            last_mem_ver: last,
            cur_mem_ver: version,
        });
        Ok(())
    }

    pub fn dismiss_group(&mut self, chat_id: &str) -> Result<(), ActionError> {
        self.groups.remove(chat_id).ok_or_else(|| ActionError::UnknownGroup(chat_id.to_owned()))?;
        self.outbox.push(SimEvent::ChatDismiss { chat_id: chat_id.to_owned() });
        Ok(())
    }

    /// A customer scans a join way's QR: the first listed group with room
    /// takes them; when all are at the QR cut and the way auto-creates rooms,
    /// WeCom opens `room_base_name` + next id, owned by the first group's owner.
    pub fn join_via_way(
        &mut self,
        config_id: &str,
        new: &NewCustomer,
        now_s: i64,
        limits: &Limits,
    ) -> Result<JoinOutcome, ActionError> {
        let way =
            self.join_ways.get(config_id).ok_or_else(|| ActionError::UnknownJoinWay(config_id.to_owned()))?.clone();
        let (external_userid, _) = self.ensure_customer(new);
        let cut = limits.group_qr_cut.min(limits.group_size);
        let open =
            way.chat_id_list.iter().find(|id| self.groups.get(*id).is_some_and(|g| g.members.len() < cut)).cloned();
        let state = Some(way.state.clone());
        if let Some(chat_id) = open {
            self.join_group(&chat_id, &external_userid, 3, None, state, now_s, limits)?;
            return Ok(JoinOutcome { chat_id, external_userid, created_room: false });
        }
        if !way.auto_create_room {
            return Err(ActionError::GroupFull(way.chat_id_list.first().cloned().unwrap_or_default()));
        }
        let owner = way
            .chat_id_list
            .iter()
            .find_map(|id| self.groups.get(id).map(|g| g.owner.clone()))
            .ok_or_else(|| ActionError::UnknownGroup(way.chat_id_list.first().cloned().unwrap_or_default()))?;
        let name = format!("{}{}", way.room_base_name, way.next_room_id);
        let chat_id = self.create_group(&owner, &name, now_s)?;
        if let Some(w) = self.join_ways.get_mut(config_id) {
            w.next_room_id += 1;
            // The list holds at most 5 groups: the oldest (full) one gives way.
            if w.chat_id_list.len() >= 5 {
                w.chat_id_list.remove(0);
            }
            w.chat_id_list.push(chat_id.clone());
        }
        self.join_group(&chat_id, &external_userid, 3, None, state, now_s, limits)?;
        Ok(JoinOutcome { chat_id, external_userid, created_room: true })
    }

    /// A large corp's groups as they stand, made at once and without
    /// callbacks (what a benchmark's full sync starts from): `groups` groups
    /// owned by the members in turn, each with `per_group` customers drawn in
    /// order from a pool of `customers` (so a customer is in several groups).
    /// Returns the chat ids.
    pub fn seed_groups(&mut self, groups: usize, per_group: usize, customers: usize, now_s: i64) -> Vec<String> {
        let pool: Vec<String> =
            (0..customers.max(1)).map(|_| self.ensure_customer(&NewCustomer::default()).0).collect();
        let owners: Vec<String> = self.staff.iter().map(|s| s.userid.clone()).collect();
        let limits = Limits { group_size: per_group + 1, group_qr_cut: per_group + 1, ..Limits::default() };
        let mut chat_ids = Vec::with_capacity(groups);
        for g in 0..groups {
            let owner = &owners[g % owners.len().max(1)];
            let Ok(chat_id) = self.create_group(owner, &format!("群{g}"), now_s) else { break };
            for m in 0..per_group.min(pool.len()) {
                let customer = &pool[(g * per_group + m) % pool.len()];
                let _ = self.join_group(&chat_id, customer, 3, None, None, now_s, &limits);
            }
            chat_ids.push(chat_id);
        }
        self.outbox.clear();
        chat_ids
    }

    // ---- mass messages ----

    /// Whether `userid` confirms mass messages (and publishes moments) on
    /// their own: a draw fixed per member by the world's seed.
    pub fn confirms_on_own(&self, userid: &str, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        if share >= 1.0 {
            return true;
        }
        let h = mix(self.seed.to_le_bytes().iter().chain(userid.as_bytes()));
        (h >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - share
    }

    /// Schedules the confirmations of the task's members who confirm on
    /// their own.
    pub fn schedule_confirms(&mut self, id: &str, members: &[String], now_s: i64, limits: &Limits, moment: bool) {
        for m in members {
            if self.confirms_on_own(m, limits.mass_confirm_share) {
                self.pending_confirms.insert((now_s + limits.mass_confirm_delay_s, id.to_owned(), m.clone(), moment));
            }
        }
    }

    /// Makes the confirmations due by `now_s`, each at its own time.
    fn confirm_due(&mut self, now_s: i64, limits: &Limits) {
        while self.pending_confirms.first().is_some_and(|p| p.0 <= now_s) {
            let Some((at, id, userid, moment)) = self.pending_confirms.pop_first() else { break };
            if moment {
                self.publish_moment(&id, Some(&userid), at);
            } else {
                let _ = self.confirm_mass(&id, Some(&userid), at, limits);
            }
        }
    }

    pub fn quota_window(now_s: i64, window: QuotaWindow) -> i64 {
        let day = shanghai_day(now_s);
        match window {
            QuotaWindow::Day => day,
            QuotaWindow::Month => {
                let (y, m) = year_month(day);
                y * 12 + i64::from(m)
            }
        }
    }

    /// Members confirm a mass message in the client (all of them when
    /// `userid` is `None`): each recipient gets it unless no longer a friend
    /// (2) or out of quota (3). Returns how many were sent.
    pub fn confirm_mass(
        &mut self,
        msgid: &str,
        userid: Option<&str>,
        now_s: i64,
        limits: &Limits,
    ) -> Result<usize, ActionError> {
        let mut task = self.mass.remove(msgid).ok_or_else(|| ActionError::UnknownMassMessage(msgid.to_owned()))?;
        let mut sent = 0;
        if !task.cancelled {
            let window = Self::quota_window(now_s, limits.mass_quota_window);
            let group_window = Self::quota_window(now_s, limits.group_mass_quota_window);
            for (member, (status, time)) in task.members.iter_mut() {
                if userid.is_some_and(|u| u != member) || *status == 2 {
                    continue;
                }
                *status = 2;
                *time = now_s;
                for r in task.recipients.iter_mut().filter(|r| &r.userid == member && r.status == 0) {
                    let target = r.external_userid.clone().or_else(|| r.chat_id.clone()).unwrap_or_default();
                    let friend = match &r.external_userid {
                        Some(ext) => self.follows.contains_key(&(member.clone(), ext.clone())),
                        None => self.groups.contains_key(&target),
                    };
                    if !friend {
                        r.status = 2;
                        continue;
                    }
                    // A customer's quota and a group's are counted apart:
                    // one a day per customer, four a month per group.
                    let (key, max) = match &r.external_userid {
                        Some(_) => ((target, window), limits.mass_quota),
                        None => ((target, group_window), limits.group_mass_quota),
                    };
                    let used = self.quota.entry(key).or_default();
                    if *used >= max {
                        r.status = 3;
                        continue;
                    }
                    *used += 1;
                    r.status = 1;
                    r.send_time = now_s;
                    sent += 1;
                }
                let day = self.behavior.entry((member.clone(), shanghai_day(now_s))).or_default();
                day.message_cnt += 1;
            }
        }
        self.mass.insert(msgid.to_owned(), task);
        Ok(sent)
    }

    // ---- moments ----

    /// Members publish a moment (by jobid or moment id; all its members when
    /// `userid` is `None`). Each published copy is seen by the member's
    /// customers carrying one of its tags: one in five likes it, one in
    /// twenty comments (a seeded draw per customer). Returns how many
    /// copies were published now.
    pub fn publish_moment(&mut self, id: &str, userid: Option<&str>, now_s: i64) -> usize {
        let Some(jobid) = self.moments.values().find(|m| m.jobid == id || m.moment_id == id).map(|m| m.jobid.clone())
        else {
            return 0;
        };
        let (members, tags, moment_id) = {
            let m = &self.moments[&jobid];
            let members: Vec<String> = m
                .members
                .iter()
                .filter(|(u, c)| !c.published && userid.is_none_or(|w| w == u.as_str()))
                .map(|(u, _)| u.clone())
                .collect();
            (members, m.tags.clone(), m.moment_id.clone())
        };
        let mut published = 0;
        for member in members {
            let seen: Vec<String> = self
                .customers_of(&member)
                .into_iter()
                .filter(|ext| {
                    tags.is_empty()
                        || self
                            .follows
                            .get(&(member.clone(), ext.clone()))
                            .is_some_and(|f| tags.iter().any(|t| f.tags.contains(t)))
                })
                .collect();
            let draw = |ext: &str| mix(moment_id.as_bytes().iter().chain(ext.as_bytes())) % 20;
            let likes = seen.iter().filter(|e| draw(e) < 4).cloned().collect();
            let comments = seen.iter().filter(|e| draw(e) == 19).cloned().collect();
            if let Some(copy) = self.moments.get_mut(&jobid).and_then(|m| m.members.get_mut(&member)) {
                *copy = MomentCopy { published: true, publish_time: now_s, likes, comments };
                published += 1;
            }
        }
        published
    }

    /// A large corp's customers as they stand, made at once and without
    /// callbacks (what a benchmark or a test starts from): each
    /// (userid, external_userid) becomes a customer followed by the member.
    pub fn seed_follows(&mut self, pairs: &[(String, String)], now_s: i64) {
        for (userid, ext) in pairs {
            self.ensure_customer(&NewCustomer { external_userid: Some(ext.clone()), ..NewCustomer::default() });
            self.follows.insert(
                (userid.clone(), ext.clone()),
                Follow {
                    remark: String::new(),
                    description: String::new(),
                    createtime: now_s,
                    tags: BTreeSet::new(),
                    remark_mobiles: Vec::new(),
                    remark_corp_name: String::new(),
                    oper_userid: ext.clone(),
                    add_way: 1,
                    state: String::new(),
                },
            );
            self.followers.entry(ext.clone()).or_default().insert(userid.clone());
        }
    }

    // ---- handover ----

    /// Completes handovers whose waiting time is over, as WeCom does 24 h
    /// after the request unless the customer refused.
    pub fn settle(&mut self, now_ms: i64, limits: &Limits) {
        let now_s = now_ms.div_euclid(1000);
        self.confirm_due(now_s, limits);
        let due: Vec<usize> = self
            .transfers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == 2 && now_s >= t.create_time + limits.transfer_wait_s)
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let t = self.transfers[i].clone();
            if self.customer_count(&t.takeover_userid) >= limits.member_capacity {
                self.transfers[i].status = 4;
                self.outbox.push(SimEvent::TransferFail {
                    userid: t.takeover_userid.clone(),
                    external_userid: t.external_userid.clone(),
                    reason: "customer_limit_exceed".to_owned(),
                });
                continue;
            }
            let key = (t.handover_userid.clone(), t.external_userid.clone());
            let Some(mut follow) = self.follows.get(&key).cloned() else {
                self.transfers[i].status = 5;
                continue;
            };
            self.remove_follow(&t.handover_userid, &t.external_userid);
            follow.createtime = now_s;
            follow.add_way = 202;
            follow.oper_userid = t.takeover_userid.clone();
            self.follows.insert((t.takeover_userid.clone(), t.external_userid.clone()), follow);
            self.followers.entry(t.external_userid.clone()).or_default().insert(t.takeover_userid.clone());
            self.transfers[i].status = 1;
            self.transfers[i].takeover_time = now_s;
            if !t.resigned {
                self.outbox.push(SimEvent::DelExternalContact {
                    userid: t.handover_userid.clone(),
                    external_userid: t.external_userid.clone(),
                    source: Some("DELETE_BY_TRANSFER".to_owned()),
                });
            }
            self.outbox.push(SimEvent::AddContact {
                userid: t.takeover_userid.clone(),
                external_userid: t.external_userid.clone(),
                state: String::new(),
                welcome_code: String::new(),
                half: false,
            });
        }
    }

    /// The customer refuses a waiting handover (transfer_fail).
    pub fn refuse_transfer(&mut self, external_userid: &str) -> Result<(), ActionError> {
        let t = self
            .transfers
            .iter_mut()
            .find(|t| t.external_userid == external_userid && t.status == 2)
            .ok_or_else(|| ActionError::NoTransfer(external_userid.to_owned()))?;
        t.status = 3;
        let event = SimEvent::TransferFail {
            userid: t.takeover_userid.clone(),
            external_userid: external_userid.to_owned(),
            reason: "customer_refused".to_owned(),
        };
        self.outbox.push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::new("wwtest", vec![SimStaff::new("a", "A", 1), SimStaff::new("b", "B", 1)], 7)
    }

    #[test]
    fn same_seed_same_ids() {
        let (mut one, mut two) = (world(), world());
        let a = one.ensure_customer(&NewCustomer::default());
        let b = two.ensure_customer(&NewCustomer::default());
        assert_eq!(a, b);
        assert!(a.0.starts_with("wm") && a.0.len() == 32);
    }

    #[test]
    fn capacity_refuses_adds() {
        let mut w = world();
        let limits = Limits { member_capacity: 1, ..Limits::default() };
        let (c1, _) = w.ensure_customer(&NewCustomer::default());
        let (c2, _) = w.ensure_customer(&NewCustomer::default());
        assert!(w.add_follow("a", &c1, 1, "", false, 0, &limits).expect("room").is_some());
        assert_eq!(w.add_follow("a", &c2, 1, "", false, 0, &limits), Err(ActionError::CustomerLimit("a".into())));
        // Adding again is no new add.
        assert_eq!(w.add_follow("a", &c1, 1, "", false, 0, &limits), Ok(None));
    }
}
