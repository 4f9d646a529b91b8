//! The group assistant (群助手): koi reads what members say in groups from
//! the session-archive feed, answers keywords, alerts owners to sensitive
//! words, and keeps the corp's group welcome templates in WeCom.
//!
//! | item | what |
//! |---|---|
//! | `FeedJob` | reads the feed after the corp's cursor; appends each message once and decides its reply and alert in the same transaction that moves the cursor |
//! | `ReplyJob` | sends one reply: a group mass-message task from the group's owner (`add_msg_template`, chat_type group), which the owner confirms in their client |
//! | `AlertJob` | tells the group's owner about a sensitive word (an app message, `message/send`) |
//! | use cases | rules, settings (feed on/off, AgentId, sensitive words), welcome templates, recent replies and alerts |
//!
//! Exactly once: a message is appended once per msgid, and only a message
//! appended now can create a reply or an alert (one per message, by a
//! unique key), so reading the feed twice — a retried job, two nodes, a
//! cursor set back — answers nothing twice.

use crate::jobs::{enqueue, Job, JobCtx, JobError, JobResult};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::group::assistant::{
    clean_words, decide, find_sensitive, is_stale, pick_rule, Decision, GroupFacts, ReplyRule, ReplyRuleDraft, RuleRef,
    Scope, WelcomeAttachment, WelcomeTemplateDraft,
};
use koi_domain::group::GroupKind;
use koi_domain::jobs::priority;
use koi_store::group_messages::{
    AssistantSettingsRow, GroupAlertRow, GroupReplyRow, NewGroupAlert, NewGroupMessage, NewGroupReply, Outbound,
    ReplyRuleRow, RuleFields, WelcomeTemplateRow,
};
use koi_store::groups::{GroupFilter, GroupRow};
use koi_store::jobs::JobEnd;
use koi_store::{now_ms, Tx};
use koi_wecom::client::{
    AddMsgTemplateRequest, AppMessageRequest, Attachment, ChatData, ChatType, GetChatDataRequest,
    GroupWelcomeAddRequest, GroupWelcomeContent, GroupWelcomeEditRequest, GroupWelcomeIdRequest, Image, Link,
    MiniProgram, Priority, Text,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::GroupSyncJob;

/// Messages per `get_chat_data` call (WeCom's maximum) and calls per feed
/// read: a backlog is worked off a few thousand messages a run, each run a
/// transaction of its own.
const FEED_PAGE: u32 = 1000;
const FEED_PAGES_PER_RUN: usize = 5;
/// How long the timer leaves a corp alone after WeCom refused its feed.
const REFUSED_FEED_PAUSE_MS: i64 = 3_600_000;
/// Replies and alerts one list shows.
pub const RECENT_LIMIT: i64 = 200;

/// Whether a sender id is a customer's (external_userid: `wm…`/`wo…` and
/// 32 characters, CONTRACT.md §0) rather than a member's userid, which an
/// admin chooses and may well start with "wo" (`wong.wei`).
fn is_customer(sender: &str) -> bool {
    (sender.starts_with("wm") || sender.starts_with("wo")) && sender.len() == EXTERNAL_USERID_LEN
}

const EXTERNAL_USERID_LEN: usize = 32;

/// Job: read the corp's feed after its cursor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FeedJob {}

/// What a feed read found, with what deciding about it needs.
pub(crate) struct FeedRead {
    messages: Vec<ChatData>,
    rules: Vec<(i64, ReplyRule)>,
    settings: AssistantSettings,
}

impl Job for FeedJob {
    const KIND: &'static str = "groups.read_feed";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = FeedRead;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<FeedRead> {
        let client = engine.wecom_for(ctx.corp_id).await?;
        let mut seq = engine.db.group_message_cursor(ctx.corp_id).await?;
        let mut messages = Vec::new();
        for _ in 0..FEED_PAGES_PER_RUN {
            let req = GetChatDataRequest { seq, limit: FEED_PAGE };
            let page = client.get_chat_data(&req, Priority::Bulk).await?.chatdata;
            let full = page.len() == FEED_PAGE as usize;
            seq = page.iter().map(|m| m.seq).max().unwrap_or(seq);
            messages.extend(page);
            if !full {
                break;
            }
        }
        let rules = engine.live_rules(ctx.corp_id).await?;
        let settings = engine.assistant_settings_of(ctx.corp_id).await?;
        Ok(FeedRead { messages, rules, settings })
    }

    async fn record(&self, engine: &Engine, ctx: &JobCtx, read: FeedRead, tx: &mut Tx) -> JobResult<JobEnd> {
        let Some(last) = read.messages.iter().map(|m| m.seq).max() else {
            return Ok(JobEnd::Done);
        };
        engine.record_feed(tx, ctx.corp_id, &read).await?;
        tx.advance_group_message_cursor(ctx.corp_id, last, now_ms()).await?;
        Ok(JobEnd::Done)
    }
}

/// Job: send one queued reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReplyJob {
    pub reply_id: i64,
}

/// What WeCom said to a send: its id, or a final refusal.
pub(crate) enum Sent {
    Ok(String),
    Refused(String),
    Gone,
    /// An earlier attempt may have reached WeCom without koi learning the
    /// outcome; not sent again, so never twice.
    Unknown,
}

/// What a reply or alert whose outcome is unknown says.
const UNKNOWN_NOTE: &str = "an earlier attempt may have reached WeCom without an answer; not sent again";

/// Sends a reply or an alert at most once. It is claimed (`sending`, in its
/// own commit) before the call; a call that surely did not reach WeCom puts
/// it back, one that may have leaves it claimed, and an attempt that finds
/// it claimed reports [`Sent::Unknown`] instead of sending a duplicate.
async fn send_once<F>(engine: &Engine, ctx: &JobCtx, what: Outbound, id: i64, state: &str, send: F) -> JobResult<Sent>
where
    F: std::future::Future<Output = std::result::Result<String, koi_wecom::client::ApiError>>,
{
    match state {
        "sending" => return Ok(Sent::Unknown),
        "queued" => {}
        _ => return Ok(Sent::Gone),
    }
    if !engine.db.mark_sending(what, ctx.corp_id, id, true).await? {
        return Ok(Sent::Gone);
    }
    match send.await {
        Ok(msgid) => Ok(Sent::Ok(msgid)),
        Err(e) if e.may_have_acted() => Err(e.into()),
        Err(e) => {
            engine.db.mark_sending(what, ctx.corp_id, id, false).await?;
            if e.is_final() {
                Ok(Sent::Refused(e.to_string()))
            } else {
                Err(e.into())
            }
        }
    }
}

impl Job for ReplyJob {
    const KIND: &'static str = "groups.reply";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Sent;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Sent> {
        let Some(r) = engine.db.group_reply(ctx.corp_id, self.reply_id).await? else {
            return Ok(Sent::Gone);
        };
        if r.state != "queued" && r.state != "sending" {
            return Ok(Sent::Gone);
        }
        let rule = engine.db.reply_rule(ctx.corp_id, r.rule_id).await?.ok_or(EngineError::NotFound("rule"))?;
        let rule = parse_rule(&rule)?;
        let attachments = rule.reply.link.as_ref().map(|l| {
            vec![Attachment::link(Link {
                title: l.title.clone(),
                desc: (!l.desc.is_empty()).then(|| l.desc.clone()),
                url: l.url.clone(),
                ..Link::default()
            })]
        });
        let req = AddMsgTemplateRequest {
            chat_type: Some(ChatType::Group),
            chat_id_list: Some(vec![r.chat_id.clone()]),
            sender: Some(r.owner_userid.clone()),
            text: (!rule.reply.text.is_empty()).then(|| Text::new(rule.reply.text.clone())),
            attachments,
            ..AddMsgTemplateRequest::default()
        };
        let client = engine.wecom_for(ctx.corp_id).await?;
        let send = async { client.add_msg_template(&req, Priority::Interactive).await.map(|a| a.msgid) };
        send_once(engine, ctx, Outbound::Reply, self.reply_id, &r.state, send).await
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        match sent {
            Sent::Gone => Ok(JobEnd::Done),
            Sent::Ok(msgid) => {
                tx.finish_group_reply(ctx.corp_id, self.reply_id, "sent", &msgid, "", now).await?;
                Ok(JobEnd::Done)
            }
            Sent::Refused(why) => {
                tx.finish_group_reply(ctx.corp_id, self.reply_id, "refused", "", &why, now).await?;
                Ok(JobEnd::Refused(why))
            }
            Sent::Unknown => {
                tx.finish_group_reply(ctx.corp_id, self.reply_id, "unknown", "", UNKNOWN_NOTE, now).await?;
                Ok(JobEnd::Done)
            }
        }
    }
}

/// Job: tell a group's owner about a sensitive word.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AlertJob {
    pub alert_id: i64,
}

impl Job for AlertJob {
    const KIND: &'static str = "groups.alert";
    const PRIORITY: i32 = priority::TAGS;
    type Prepared = Sent;

    async fn prepare(&self, engine: &Engine, ctx: &JobCtx) -> JobResult<Sent> {
        let Some(a) = engine.db.group_alert(ctx.corp_id, self.alert_id).await? else {
            return Ok(Sent::Gone);
        };
        if a.state != "queued" && a.state != "sending" {
            return Ok(Sent::Gone);
        }
        let Some(agent_id) = engine.assistant_settings_of(ctx.corp_id).await?.agent_id else {
            return Ok(Sent::Refused("no AgentId is set for app messages".into()));
        };
        // The owner knows people by their names in the group, not by ids.
        let members = engine.db.group_members(ctx.corp_id, a.group_id, true).await?;
        let who = members
            .iter()
            .find(|m| m.userid == a.sender && !m.name.is_empty())
            .map_or(a.sender.as_str(), |m| m.name.as_str());
        let text = format!("【敏感词提醒】群「{}」中 {who} 说：{}\n（敏感词：{}）", a.group_name, a.content, a.word);
        let req = AppMessageRequest::text(&[a.owner_userid.as_str()], agent_id, &text);
        let client = engine.wecom_for(ctx.corp_id).await?;
        let send = async { client.send_app_message(&req, Priority::Interactive).await.map(|r| r.msgid) };
        send_once(engine, ctx, Outbound::Alert, self.alert_id, &a.state, send).await
    }

    async fn record(&self, _: &Engine, ctx: &JobCtx, sent: Sent, tx: &mut Tx) -> JobResult<JobEnd> {
        let now = now_ms();
        match sent {
            Sent::Gone => Ok(JobEnd::Done),
            Sent::Ok(_) => {
                tx.finish_group_alert(ctx.corp_id, self.alert_id, "sent", "", now).await?;
                Ok(JobEnd::Done)
            }
            Sent::Refused(why) => {
                tx.finish_group_alert(ctx.corp_id, self.alert_id, "refused", &why, now).await?;
                Ok(JobEnd::Refused(why))
            }
            Sent::Unknown => {
                tx.finish_group_alert(ctx.corp_id, self.alert_id, "unknown", UNKNOWN_NOTE, now).await?;
                Ok(JobEnd::Done)
            }
        }
    }
}

fn parse_rule(row: &ReplyRuleRow) -> std::result::Result<ReplyRule, JobError> {
    serde_json::from_str(&row.definition).map_err(|e| JobError::GiveUp(format!("rule {} is unreadable: {e}", row.id)))
}

/// A keyword rule as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupReplyRule {
    pub id: i64,
    #[serde(flatten)]
    pub rule: ReplyRule,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The corp's group assistant settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AssistantSettings {
    /// Read the session-archive feed every minute.
    pub feed_enabled: bool,
    /// The AgentId of koi's self-built app: sensitive-word alerts go to
    /// owners as its app messages (none set: alerts show in the console only).
    pub agent_id: Option<i64>,
    pub sensitive_words: Vec<String>,
}

/// A reply, or a message a rule matched but held back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupReply {
    pub id: i64,
    pub group_id: i64,
    pub group_name: String,
    pub rule_id: i64,
    pub rule_name: String,
    /// Who said it (external_userid), and the koi customer when known.
    pub sender: String,
    pub customer_id: Option<i64>,
    /// What they said.
    pub content: String,
    /// queued, sent (a task the owner confirms in their client), refused,
    /// quiet (quiet hours) or cooldown.
    pub state: String,
    /// WeCom's mass-message id once sent.
    pub wecom_msgid: String,
    pub note: String,
    pub said_at: i64,
    pub created_at: i64,
}

impl From<GroupReplyRow> for GroupReply {
    fn from(r: GroupReplyRow) -> Self {
        GroupReply {
            id: r.id,
            group_id: r.group_id,
            group_name: r.group_name,
            rule_id: r.rule_id,
            rule_name: r.rule_name,
            sender: r.sender,
            customer_id: r.customer_id,
            content: r.content,
            state: r.state,
            wecom_msgid: r.wecom_msgid,
            note: r.note,
            said_at: r.said_at,
            created_at: r.created_at,
        }
    }
}

/// A message with a sensitive word.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupAlert {
    pub id: i64,
    pub group_id: i64,
    pub group_name: String,
    pub sender: String,
    pub customer_id: Option<i64>,
    pub word: String,
    pub content: String,
    /// The owner the alert goes to.
    pub owner_userid: String,
    /// queued, sent, refused, or unsent (no AgentId set).
    pub state: String,
    pub note: String,
    pub said_at: i64,
    pub created_at: i64,
}

impl From<GroupAlertRow> for GroupAlert {
    fn from(a: GroupAlertRow) -> Self {
        GroupAlert {
            id: a.id,
            group_id: a.group_id,
            group_name: a.group_name,
            sender: a.sender,
            customer_id: a.customer_id,
            word: a.word,
            content: a.content,
            owner_userid: a.owner_userid,
            state: a.state,
            note: a.note,
            said_at: a.said_at,
            created_at: a.created_at,
        }
    }
}

/// A group a template or rule is meant for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
    pub chat_id: String,
    pub owner_userid: String,
}

/// A group welcome template, with the groups it is meant for (each group's
/// owner picks it for their group in the WeCom client).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupWelcome {
    pub id: i64,
    /// WeCom's template id.
    pub template_id: String,
    #[serde(flatten)]
    pub template: WelcomeTemplateDraft,
    pub groups: Vec<GroupRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The template as WeCom takes it.
fn wecom_content(t: &WelcomeTemplateDraft) -> GroupWelcomeContent {
    let mut c = GroupWelcomeContent {
        text: (!t.text.is_empty()).then(|| Text::new(t.text.clone())),
        ..GroupWelcomeContent::default()
    };
    match &t.attachment {
        None => {}
        Some(WelcomeAttachment::Image { pic_url }) => {
            c.image = Some(Image { media_id: None, pic_url: Some(pic_url.clone()) });
        }
        Some(WelcomeAttachment::Link(l)) => {
            c.link = Some(Link {
                title: l.title.clone(),
                desc: (!l.desc.is_empty()).then(|| l.desc.clone()),
                url: l.url.clone(),
                ..Link::default()
            });
        }
        Some(WelcomeAttachment::Miniprogram { title, appid, page, pic_media_id }) => {
            c.miniprogram = Some(MiniProgram {
                title: title.clone(),
                appid: appid.clone(),
                page: page.clone(),
                pic_media_id: pic_media_id.clone(),
            });
        }
    }
    c
}

fn facts(g: &GroupRow) -> GroupFacts {
    GroupFacts { id: g.id, kind: GroupKind::parse(&g.kind).unwrap_or_default(), store_id: g.store_id }
}

impl Engine {
    /// The corp's settings (defaults when never saved).
    pub(crate) async fn assistant_settings_of(&self, corp_id: i64) -> Result<AssistantSettings> {
        let Some(row) = self.db.group_assistant_settings(corp_id).await? else {
            return Ok(AssistantSettings::default());
        };
        Ok(AssistantSettings {
            feed_enabled: row.feed_enabled,
            agent_id: row.agent_id,
            sensitive_words: serde_json::from_str(&row.sensitive_words).unwrap_or_default(),
        })
    }

    /// The corp's live rules, parsed (an unreadable one is skipped, logged).
    async fn live_rules(&self, corp_id: i64) -> Result<Vec<(i64, ReplyRule)>> {
        let rows = self.db.reply_rules(corp_id).await?;
        Ok(rows
            .iter()
            .filter_map(|r| match parse_rule(r) {
                Ok(rule) => Some((r.id, rule)),
                Err(e) => {
                    tracing::warn!(rule = r.id, error = %e, "skipping a group reply rule");
                    None
                }
            })
            .collect())
    }

    /// Appends what the feed read and decides each new message's alert and
    /// reply. Messages outside groups, and actions other than sends, are
    /// not kept. A group koi does not know yet is recorded and read.
    async fn record_feed(&self, tx: &mut Tx, corp_id: i64, read: &FeedRead) -> Result<()> {
        let mut groups: HashMap<String, GroupRow> = HashMap::new();
        let said: Vec<&ChatData> =
            read.messages.iter().filter(|m| m.action == "send" && !m.roomid.is_empty()).collect();
        for m in &said {
            if !groups.contains_key(&m.roomid) {
                let g = self.group_for_feed(tx, corp_id, &m.roomid).await?;
                groups.insert(m.roomid.clone(), g);
            }
        }
        // The customers who spoke, in one lookup for the whole page.
        let senders: Vec<&str> = said.iter().map(|m| m.from.as_str()).filter(|f| is_customer(f)).collect();
        let customers = tx.customer_ids_of(corp_id, &senders).await?;
        let contents: Vec<String> = said.iter().map(|m| m.content()).collect();
        let rows: Vec<NewGroupMessage> = said
            .iter()
            .zip(&contents)
            .map(|(m, content)| NewGroupMessage {
                group_id: groups[&m.roomid].id,
                seq: m.seq,
                msgid: &m.msgid,
                sender: &m.from,
                customer_id: if is_customer(&m.from) { customers.get(&m.from).copied() } else { None },
                msg_type: &m.msgtype,
                content,
                sent_at: m.msgtime,
            })
            .collect();
        let ids = tx.append_group_messages(corp_id, &rows).await?;
        for ((row, id), m) in rows.iter().zip(ids).zip(&said) {
            let (Some(message_id), true) = (id, is_customer(row.sender)) else {
                continue; // appended before, or said by a member
            };
            if row.content.is_empty() {
                continue;
            }
            let g = &groups[&m.roomid];
            self.alert_if_sensitive(tx, corp_id, g, message_id, row, &read.settings).await?;
            self.reply_if_matched(tx, corp_id, g, message_id, row, &read.rules).await?;
        }
        Ok(())
    }

    /// The group a feed message was said in; one koi has not seen yet is
    /// recorded now and read from WeCom by a sync job.
    async fn group_for_feed(&self, tx: &mut Tx, corp_id: i64, chat_id: &str) -> Result<GroupRow> {
        if let Some(g) = tx.group_of_chat(corp_id, chat_id).await? {
            return Ok(g);
        }
        tx.ensure_group(corp_id, chat_id).await?;
        enqueue(tx, corp_id, &GroupSyncJob { chat_id: chat_id.to_string(), ..Default::default() }).await?;
        tx.group_of_chat(corp_id, chat_id).await?.ok_or(EngineError::NotFound("group"))
    }

    async fn alert_if_sensitive(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        g: &GroupRow,
        message_id: i64,
        m: &NewGroupMessage<'_>,
        settings: &AssistantSettings,
    ) -> Result<()> {
        let Some(word) = find_sensitive(&settings.sensitive_words, m.content) else {
            return Ok(());
        };
        let (state, note) = match (settings.agent_id, g.owner_userid.is_empty()) {
            _ if is_stale(m.sent_at, now_ms()) => ("stale", "said long before koi read it; the owner is not messaged"),
            (Some(_), false) => ("queued", ""),
            (None, _) => ("unsent", "no AgentId is set for app messages"),
            (_, true) => ("unsent", "the group's owner is not known yet"),
        };
        let alert = NewGroupAlert {
            message_id,
            group_id: g.id,
            sender: m.sender,
            customer_id: m.customer_id,
            word,
            content: m.content,
            owner_userid: &g.owner_userid,
            state,
            note,
            said_at: m.sent_at,
        };
        if let (Some(alert_id), "queued") = (tx.insert_group_alert(corp_id, &alert, now_ms()).await?, state) {
            enqueue(tx, corp_id, &AlertJob { alert_id }).await?;
        }
        Ok(())
    }

    async fn reply_if_matched(
        &self,
        tx: &mut Tx,
        corp_id: i64,
        g: &GroupRow,
        message_id: i64,
        m: &NewGroupMessage<'_>,
        rules: &[(i64, ReplyRule)],
    ) -> Result<()> {
        let refs: Vec<RuleRef> = rules.iter().map(|(id, rule)| RuleRef { id: *id, rule }).collect();
        let Some(hit) = pick_rule(&refs, &facts(g), m.content) else {
            return Ok(());
        };
        let last = tx.last_group_reply(corp_id, hit.id, m.sender).await?;
        let decision = if is_stale(m.sent_at, now_ms()) { Decision::Stale } else { decide(hit.rule, m.sent_at, last) };
        let reply = NewGroupReply {
            message_id,
            group_id: g.id,
            rule_id: hit.id,
            sender: m.sender,
            customer_id: m.customer_id,
            state: decision.as_str(),
            said_at: m.sent_at,
        };
        let id = tx.insert_group_reply(corp_id, &reply, now_ms()).await?;
        if let (Some(reply_id), Decision::Reply) = (id, decision) {
            enqueue(tx, corp_id, &ReplyJob { reply_id }).await?;
        }
        Ok(())
    }

    /// Enqueues a feed read for every corp whose feed is on, unless one is
    /// waiting already (the worker calls this on its timer).
    pub async fn schedule_feed_reads(&self) {
        let corps = match self.db.group_feed_corps().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "feed timer: cannot list corps"),
        };
        let now = now_ms();
        for corp_id in corps {
            // A corp whose archive WeCom refused (not enabled, no permission)
            // is asked again after an hour, not every minute.
            let refused = self.db.last_refused_job_at(corp_id, FeedJob::KIND).await.ok().flatten();
            if refused.is_some_and(|t| now - t < REFUSED_FEED_PAUSE_MS) {
                continue;
            }
            match self.db.has_pending_job(corp_id, FeedJob::KIND).await {
                Ok(false) => {
                    if let Err(e) = self.enqueue_now(corp_id, &FeedJob {}).await {
                        tracing::warn!(corp = corp_id, error = %e, "feed timer: enqueue failed");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(corp = corp_id, error = %e, "feed timer: cannot look at the queue"),
            }
        }
    }

    /// Reads the feed now (the `groups.read_feed` job). Returns the job's id.
    pub async fn read_group_feed(&self, who: &Principal) -> Result<i64> {
        require(who, Action::ManageGroups)?;
        self.enqueue_now(who.corp_id, &FeedJob {}).await
    }

    pub async fn group_assistant_settings(&self, who: &Principal) -> Result<AssistantSettings> {
        require(who, Action::ManageGroups)?;
        self.assistant_settings_of(who.corp_id).await
    }

    pub async fn save_group_assistant_settings(
        &self,
        who: &Principal,
        s: &AssistantSettings,
    ) -> Result<AssistantSettings> {
        require(who, Action::ManageGroups)?;
        let words = clean_words(&s.sensitive_words)?;
        if s.agent_id.is_some_and(|a| a <= 0) {
            return Err(
                koi_domain::ValidationError::one("agent_id", "out_of_range", "agent_id is a positive number").into()
            );
        }
        let row = AssistantSettingsRow {
            feed_enabled: s.feed_enabled,
            agent_id: s.agent_id,
            sensitive_words: serde_json::to_string(&words).expect("a list of words serialises"),
            updated_at: now_ms(),
        };
        self.db.save_group_assistant_settings(who.corp_id, &row).await?;
        self.audit(who, "group_assistant.settings_saved", format!("corp:{}", who.corp_id)).await?;
        self.assistant_settings_of(who.corp_id).await
    }

    pub async fn group_reply_rules(&self, who: &Principal) -> Result<Vec<GroupReplyRule>> {
        require(who, Action::ManageGroups)?;
        let rows = self.db.reply_rules(who.corp_id).await?;
        Ok(rows.iter().filter_map(|r| Some(rule_view(r, parse_rule(r).ok()?))).collect())
    }

    pub async fn group_reply_rule(&self, who: &Principal, id: i64) -> Result<GroupReplyRule> {
        require(who, Action::ManageGroups)?;
        match self.db.reply_rule(who.corp_id, id).await? {
            Some(r) if r.deleted_at.is_none() => {
                let rule = parse_rule(&r).map_err(|_| EngineError::NotFound("rule"))?;
                Ok(rule_view(&r, rule))
            }
            _ => Err(EngineError::NotFound("rule")),
        }
    }

    pub async fn create_group_reply_rule(&self, who: &Principal, draft: &ReplyRuleDraft) -> Result<GroupReplyRule> {
        require(who, Action::ManageGroups)?;
        let rule = draft.validate()?;
        let def = serde_json::to_string(&rule).expect("a rule serialises");
        let id = self.db.insert_reply_rule(who.corp_id, &fields(&rule, &def), now_ms()).await?;
        self.audit(who, "group_rule.created", format!("group_rule:{id}")).await?;
        self.group_reply_rule(who, id).await
    }

    pub async fn update_group_reply_rule(
        &self,
        who: &Principal,
        id: i64,
        draft: &ReplyRuleDraft,
    ) -> Result<GroupReplyRule> {
        require(who, Action::ManageGroups)?;
        let rule = draft.validate()?;
        let def = serde_json::to_string(&rule).expect("a rule serialises");
        if !self.db.update_reply_rule(who.corp_id, id, &fields(&rule, &def), now_ms()).await? {
            return Err(EngineError::NotFound("rule"));
        }
        self.audit(who, "group_rule.updated", format!("group_rule:{id}")).await?;
        self.group_reply_rule(who, id).await
    }

    pub async fn delete_group_reply_rule(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageGroups)?;
        if !self.db.delete_reply_rule(who.corp_id, id, now_ms()).await? {
            return Err(EngineError::NotFound("rule"));
        }
        self.audit(who, "group_rule.deleted", format!("group_rule:{id}")).await
    }

    /// The newest replies (and held-back matches) first.
    pub async fn group_replies(&self, who: &Principal) -> Result<Vec<GroupReply>> {
        require(who, Action::ManageGroups)?;
        Ok(self.db.group_replies(who.corp_id, RECENT_LIMIT).await?.into_iter().map(GroupReply::from).collect())
    }

    /// The newest sensitive-word alerts first.
    pub async fn group_alerts(&self, who: &Principal) -> Result<Vec<GroupAlert>> {
        require(who, Action::ManageGroups)?;
        Ok(self.db.group_alerts(who.corp_id, RECENT_LIMIT).await?.into_iter().map(GroupAlert::from).collect())
    }

    /// The corp's active groups a scope covers.
    async fn groups_in_scope(&self, corp_id: i64, scope: &Scope) -> Result<Vec<GroupRef>> {
        let f = GroupFilter { status: Some(koi_domain::group::STATUS_ACTIVE), ..GroupFilter::default() };
        let groups = self.db.groups(corp_id, &f, super::MAX_GROUPS).await?;
        Ok(groups
            .iter()
            .filter(|g| scope.covers(&facts(g)))
            .map(|g| GroupRef {
                id: g.id,
                name: g.name.clone(),
                chat_id: g.chat_id.clone(),
                owner_userid: g.owner_userid.clone(),
            })
            .collect())
    }

    async fn welcome_view(&self, corp_id: i64, row: WelcomeTemplateRow) -> Result<GroupWelcome> {
        let template: WelcomeTemplateDraft =
            serde_json::from_str(&row.definition).map_err(|_| EngineError::NotFound("welcome template"))?;
        let groups = self.groups_in_scope(corp_id, &template.scope).await?;
        Ok(GroupWelcome {
            id: row.id,
            template_id: row.template_id,
            template,
            groups,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    pub async fn group_welcomes(&self, who: &Principal) -> Result<Vec<GroupWelcome>> {
        require(who, Action::ManageGroups)?;
        let mut out = Vec::new();
        for row in self.db.welcome_templates(who.corp_id).await? {
            out.push(self.welcome_view(who.corp_id, row).await?);
        }
        Ok(out)
    }

    pub async fn group_welcome(&self, who: &Principal, id: i64) -> Result<GroupWelcome> {
        require(who, Action::ManageGroups)?;
        let row = self.db.welcome_template(who.corp_id, id).await?.ok_or(EngineError::NotFound("welcome template"))?;
        self.welcome_view(who.corp_id, row).await
    }

    /// Makes the template in WeCom first (`group_welcome_template/add`):
    /// nothing is kept when WeCom refuses it.
    pub async fn create_group_welcome(&self, who: &Principal, draft: &WelcomeTemplateDraft) -> Result<GroupWelcome> {
        require(who, Action::ManageGroups)?;
        let t = draft.validate()?;
        let client = self.wecom_for(who.corp_id).await?;
        let req = GroupWelcomeAddRequest { content: wecom_content(&t), agentid: None, notify: Some(0) };
        let made = client.group_welcome_add(&req, Priority::Interactive).await.map_err(EngineError::of_wecom_change)?;
        let def = serde_json::to_string(&t).expect("a template serialises");
        let now = now_ms();
        let id = match self.db.insert_welcome_template(who.corp_id, &t.name, &def, &made.template_id, now).await {
            Ok(id) => id,
            Err(e) => {
                // Not kept in koi: take it back out of WeCom rather than leave it orphaned.
                let del = GroupWelcomeIdRequest { template_id: made.template_id.clone(), agentid: None };
                if let Err(undo) = client.group_welcome_del(&del, Priority::Interactive).await {
                    tracing::warn!(error = %undo, template = %made.template_id, "a group welcome koi could not keep stays in WeCom");
                }
                return Err(e.into());
            }
        };
        self.audit(who, "group_welcome.created", format!("group_welcome:{id}")).await?;
        self.group_welcome(who, id).await
    }

    /// Edits the template in WeCom (`group_welcome_template/edit`), then in koi.
    pub async fn update_group_welcome(
        &self,
        who: &Principal,
        id: i64,
        draft: &WelcomeTemplateDraft,
    ) -> Result<GroupWelcome> {
        let old = self.group_welcome(who, id).await?;
        let t = draft.validate()?;
        let client = self.wecom_for(who.corp_id).await?;
        let req =
            GroupWelcomeEditRequest { template_id: old.template_id.clone(), content: wecom_content(&t), agentid: None };
        client.group_welcome_edit(&req, Priority::Interactive).await.map_err(EngineError::of_wecom_change)?;
        let def = serde_json::to_string(&t).expect("a template serialises");
        self.db.update_welcome_template(who.corp_id, id, &t.name, &def, None, now_ms()).await?;
        self.audit(who, "group_welcome.updated", format!("group_welcome:{id}")).await?;
        self.group_welcome(who, id).await
    }

    /// Deletes the template in WeCom (`group_welcome_template/del`; one
    /// WeCom no longer has is gone already), then in koi.
    pub async fn delete_group_welcome(&self, who: &Principal, id: i64) -> Result<()> {
        let old = self.group_welcome(who, id).await?;
        let client = self.wecom_for(who.corp_id).await?;
        let req = GroupWelcomeIdRequest { template_id: old.template_id.clone(), agentid: None };
        match client.group_welcome_del(&req, Priority::Interactive).await {
            Ok(()) => {}
            Err(e) if e.code() == Some(koi_wecom::ErrCode::INVALID_PARAMETER) => {}
            Err(e) => return Err(EngineError::of_wecom_change(e)),
        }
        self.db.delete_welcome_template(who.corp_id, id).await?;
        self.audit(who, "group_welcome.deleted", format!("group_welcome:{id}")).await
    }
}

fn fields<'a>(rule: &'a ReplyRule, definition: &'a str) -> RuleFields<'a> {
    RuleFields { name: &rule.name, priority: rule.priority, enabled: rule.enabled, definition }
}

fn rule_view(r: &ReplyRuleRow, rule: ReplyRule) -> GroupReplyRule {
    GroupReplyRule { id: r.id, rule, created_at: r.created_at, updated_at: r.updated_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_template_becomes_wecoms_link() {
        let t = WelcomeTemplateDraft {
            name: "n".into(),
            text: "今晚 20:00 直播".into(),
            attachment: Some(WelcomeAttachment::Link(koi_domain::group::assistant::ReplyLink {
                title: "领券".into(),
                url: "https://x.example/c".into(),
                desc: String::new(),
            })),
            scope: Scope::default(),
        };
        let c = wecom_content(&t);
        assert_eq!(c.text.map(|t| t.content).as_deref(), Some("今晚 20:00 直播"));
        let link = c.link.expect("a link");
        assert_eq!((link.url.as_str(), link.desc), ("https://x.example/c", None));
        assert!(c.image.is_none() && c.miniprogram.is_none());
    }

    #[test]
    fn only_external_userids_are_customers() {
        assert!(is_customer("wmA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5"));
        assert!(is_customer("woA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5"));
        assert!(!is_customer("wong.wei"), "a member whose userid starts with wo");
        assert!(!is_customer("wmeng"));
        assert!(!is_customer("zhangsan") && !is_customer(""));
    }
}
