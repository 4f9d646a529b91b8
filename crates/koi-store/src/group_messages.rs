//! What members say in groups and what the group assistant does with it
//! (`group_messages`, `group_message_cursors`, and migration 0012's
//! `group_assistant_settings`, `group_reply_rules`, `group_replies`,
//! `group_alerts`, `group_welcome_templates`).
//!
//! Exactly once: a message is appended once per (corp, msgid) — a feed read
//! twice appends nothing the second time — and a reply or an alert exists
//! once per message (`UNIQUE (corp_id, message_id)`), so only a message
//! appended now can cause one. The cursor only moves forward, in the
//! transaction that appends what it covers.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// A message read from the feed, to append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupMessage<'a> {
    pub group_id: i64,
    pub seq: i64,
    pub msgid: &'a str,
    pub sender: &'a str,
    pub customer_id: Option<i64>,
    pub msg_type: &'a str,
    pub content: &'a str,
    pub sent_at: i64,
}

/// The corp's group assistant settings.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct AssistantSettingsRow {
    pub feed_enabled: bool,
    pub agent_id: Option<i64>,
    /// JSON array of words.
    pub sensitive_words: String,
    pub updated_at: i64,
}

/// A keyword rule; `definition` is the domain's rule as JSON.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReplyRuleRow {
    pub id: i64,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// What an operator sets on a rule: its name, order and switch beside the
/// definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleFields<'a> {
    pub name: &'a str,
    pub priority: i32,
    pub enabled: bool,
    pub definition: &'a str,
}

const RULE_COLUMNS: &str = "id, name, priority, enabled, definition, created_at, updated_at, deleted_at";

/// A reply (or a held-back one) with the message, group and rule it is about.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupReplyRow {
    pub id: i64,
    pub group_id: i64,
    pub group_name: String,
    pub chat_id: String,
    pub owner_userid: String,
    pub rule_id: i64,
    pub rule_name: String,
    pub sender: String,
    pub customer_id: Option<i64>,
    pub content: String,
    pub state: String,
    pub wecom_msgid: String,
    pub note: String,
    pub said_at: i64,
    pub created_at: i64,
}

const REPLY_SELECT: &str = "SELECT r.id, r.group_id, g.name AS group_name, g.chat_id, g.owner_userid, r.rule_id, \
     u.name AS rule_name, r.sender, r.customer_id, m.content, r.state, r.wecom_msgid, r.note, r.said_at, r.created_at \
     FROM group_replies r JOIN groups g ON g.id = r.group_id JOIN group_reply_rules u ON u.id = r.rule_id \
     JOIN group_messages m ON m.id = r.message_id";

/// A sensitive-word alert with its group.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupAlertRow {
    pub id: i64,
    pub group_id: i64,
    pub group_name: String,
    pub sender: String,
    pub customer_id: Option<i64>,
    pub word: String,
    pub content: String,
    pub owner_userid: String,
    pub state: String,
    pub note: String,
    pub said_at: i64,
    pub created_at: i64,
}

const ALERT_SELECT: &str = "SELECT a.id, a.group_id, g.name AS group_name, a.sender, a.customer_id, a.word, \
     a.content, a.owner_userid, a.state, a.note, a.said_at, a.created_at \
     FROM group_alerts a JOIN groups g ON g.id = a.group_id";

/// A reply decided for a message just appended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupReply<'a> {
    pub message_id: i64,
    pub group_id: i64,
    pub rule_id: i64,
    pub sender: &'a str,
    pub customer_id: Option<i64>,
    /// queued, quiet or cooldown.
    pub state: &'a str,
    pub said_at: i64,
}

/// An alert for a message just appended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupAlert<'a> {
    pub message_id: i64,
    pub group_id: i64,
    pub sender: &'a str,
    pub customer_id: Option<i64>,
    pub word: &'a str,
    pub content: &'a str,
    pub owner_userid: &'a str,
    /// queued, or unsent when no app can carry it.
    pub state: &'a str,
    pub note: &'a str,
    pub said_at: i64,
}

/// A group welcome template.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WelcomeTemplateRow {
    pub id: i64,
    pub name: String,
    /// WeCom's id; empty until WeCom has the template.
    pub template_id: String,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_COLUMNS: &str = "id, name, template_id, definition, created_at, updated_at";

impl Tx {
    /// Appends messages read from the feed; for each, the new row's id, or
    /// `None` when that msgid was appended before (a feed read twice).
    pub async fn append_group_messages(
        &mut self,
        corp_id: i64,
        messages: &[NewGroupMessage<'_>],
    ) -> Result<Vec<Option<i64>>> {
        let mut ids = Vec::with_capacity(messages.len());
        for m in messages {
            let id: Option<i64> = on_tx!(self, |c| {
                sqlx::query_scalar(
                    "INSERT INTO group_messages (corp_id, group_id, seq, msgid, sender, customer_id, msg_type, \
                     content, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (corp_id, msgid) DO NOTHING RETURNING id",
                )
                .bind(corp_id)
                .bind(m.group_id)
                .bind(m.seq)
                .bind(m.msgid)
                .bind(m.sender)
                .bind(m.customer_id)
                .bind(m.msg_type)
                .bind(m.content)
                .bind(m.sent_at)
                .fetch_optional(&mut *c)
                .await
            })?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Moves the corp's feed cursor to `seq`, never back (two readers that
    /// finish out of order leave the further one).
    pub async fn advance_group_message_cursor(&mut self, corp_id: i64, seq: i64, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO group_message_cursors (corp_id, seq, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (corp_id) DO UPDATE SET \
                 seq = CASE WHEN group_message_cursors.seq < excluded.seq THEN excluded.seq \
                 ELSE group_message_cursors.seq END, updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(seq)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// When the rule last answered (or queued an answer to) this sender.
    pub async fn last_group_reply(&mut self, corp_id: i64, rule_id: i64, sender: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT MAX(said_at) FROM group_replies WHERE corp_id = $1 AND rule_id = $2 AND sender = $3 \
                 AND state IN ('queued', 'sent')",
            )
            .bind(corp_id)
            .bind(rule_id)
            .bind(sender)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Records what a message came to; `None` when the message has its row
    /// already.
    pub async fn insert_group_reply(&mut self, corp_id: i64, r: &NewGroupReply<'_>, now: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_replies (corp_id, message_id, group_id, rule_id, sender, customer_id, state, \
                 said_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                 ON CONFLICT (corp_id, message_id) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(r.message_id)
            .bind(r.group_id)
            .bind(r.rule_id)
            .bind(r.sender)
            .bind(r.customer_id)
            .bind(r.state)
            .bind(r.said_at)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Records an alert; `None` when the message has one already.
    pub async fn insert_group_alert(&mut self, corp_id: i64, a: &NewGroupAlert<'_>, now: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_alerts (corp_id, message_id, group_id, sender, customer_id, word, content, \
                 owner_userid, state, note, said_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                 ON CONFLICT (corp_id, message_id) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(a.message_id)
            .bind(a.group_id)
            .bind(a.sender)
            .bind(a.customer_id)
            .bind(a.word)
            .bind(a.content)
            .bind(a.owner_userid)
            .bind(a.state)
            .bind(a.note)
            .bind(a.said_at)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }
}

/// What the group assistant sends out: a reply or an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    Reply,
    Alert,
}

impl Outbound {
    fn table(self) -> &'static str {
        match self {
            Outbound::Reply => "group_replies",
            Outbound::Alert => "group_alerts",
        }
    }
}

impl Db {
    /// Moves a queued reply or alert to `sending` (`to` true) just before
    /// koi calls WeCom, or back to `queued` (`to` false) when the call surely
    /// did not reach WeCom. `false` when it was not in the state moved from.
    /// Committed on its own: a later attempt that finds `sending` knows an
    /// earlier one may have reached WeCom, and does not send again.
    pub async fn mark_sending(&self, what: Outbound, corp_id: i64, id: i64, to: bool) -> Result<bool> {
        let (from, into) = if to { ("queued", "sending") } else { ("sending", "queued") };
        let sql = format!("UPDATE {} SET state = $1 WHERE corp_id = $2 AND id = $3 AND state = $4", what.table());
        let n = on_pool!(self, true, |c| {
            sqlx::query(&sql).bind(into).bind(corp_id).bind(id).bind(from).execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl Tx {
    /// Ends a queued reply: sent (with WeCom's msgid) or refused (why).
    pub async fn finish_group_reply(
        &mut self,
        corp_id: i64,
        id: i64,
        state: &str,
        wecom_msgid: &str,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE group_replies SET state = $1, wecom_msgid = $2, note = $3, updated_at = $4 \
                 WHERE corp_id = $5 AND id = $6 AND state IN ('queued', 'sending')",
            )
            .bind(state)
            .bind(wecom_msgid)
            .bind(note)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Ends a queued alert: sent or refused (why).
    pub async fn finish_group_alert(
        &mut self,
        corp_id: i64,
        id: i64,
        state: &str,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE group_alerts SET state = $1, note = $2, updated_at = $3 \
                 WHERE corp_id = $4 AND id = $5 AND state IN ('queued', 'sending')",
            )
            .bind(state)
            .bind(note)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl Db {
    /// How far the corp's feed has been read (0: from the start).
    pub async fn group_message_cursor(&self, corp_id: i64) -> Result<i64> {
        let seq: Option<i64> = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT seq FROM group_message_cursors WHERE corp_id = $1")
                .bind(corp_id)
                .fetch_optional(c)
                .await
        })?;
        Ok(seq.unwrap_or(0))
    }

    pub async fn group_assistant_settings(&self, corp_id: i64) -> Result<Option<AssistantSettingsRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT feed_enabled, agent_id, sensitive_words, updated_at FROM group_assistant_settings \
                 WHERE corp_id = $1",
            )
            .bind(corp_id)
            .fetch_optional(c)
            .await
        })?)
    }

    pub async fn save_group_assistant_settings(&self, corp_id: i64, s: &AssistantSettingsRow) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query(
                "INSERT INTO group_assistant_settings (corp_id, feed_enabled, agent_id, sensitive_words, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id) DO UPDATE SET \
                 feed_enabled = excluded.feed_enabled, agent_id = excluded.agent_id, \
                 sensitive_words = excluded.sensitive_words, updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(s.feed_enabled)
            .bind(s.agent_id)
            .bind(&s.sensitive_words)
            .bind(s.updated_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The corps whose feed koi reads.
    pub async fn group_feed_corps(&self) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT corp_id FROM group_assistant_settings WHERE feed_enabled ORDER BY corp_id")
                .fetch_all(c)
                .await
        })?)
    }

    /// Whether a job of `kind` for the corp waits or runs: a periodic job
    /// is not enqueued again while one is pending.
    pub async fn has_pending_job(&self, corp_id: i64, kind: &str) -> Result<bool> {
        let n: i64 = on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE corp_id = $1 AND kind = $2 AND state IN ('queued', 'running')",
            )
            .bind(corp_id)
            .bind(kind)
            .fetch_one(c)
            .await
        })?;
        Ok(n > 0)
    }

    /// When a job of `kind` for the corp last ended refused (WeCom said no
    /// for good), so a periodic job can wait before asking again.
    pub async fn last_refused_job_at(&self, corp_id: i64, kind: &str) -> Result<Option<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT MAX(updated_at) FROM jobs WHERE corp_id = $1 AND kind = $2 AND state = 'refused'",
            )
            .bind(corp_id)
            .bind(kind)
            .fetch_one(c)
            .await
        })?)
    }

    pub async fn insert_reply_rule(&self, corp_id: i64, r: &RuleFields<'_>, now: i64) -> Result<i64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_reply_rules (corp_id, name, priority, enabled, definition, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(corp_id)
            .bind(r.name)
            .bind(r.priority)
            .bind(r.enabled)
            .bind(r.definition)
            .bind(now)
            .fetch_one(c)
            .await
        })?)
    }

    /// Replaces a live rule; `false` when there is none with that id.
    pub async fn update_reply_rule(&self, corp_id: i64, id: i64, r: &RuleFields<'_>, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE group_reply_rules SET name = $1, priority = $2, enabled = $3, definition = $4, \
                 updated_at = $5 WHERE corp_id = $6 AND id = $7 AND deleted_at IS NULL",
            )
            .bind(r.name)
            .bind(r.priority)
            .bind(r.enabled)
            .bind(r.definition)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Retires a rule (its replies keep naming it); `false` when none is live.
    pub async fn delete_reply_rule(&self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE group_reply_rules SET deleted_at = $1, enabled = FALSE, updated_at = $1 \
                 WHERE corp_id = $2 AND id = $3 AND deleted_at IS NULL",
            )
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The corp's live rules, in the order they are tried.
    pub async fn reply_rules(&self, corp_id: i64) -> Result<Vec<ReplyRuleRow>> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM group_reply_rules WHERE corp_id = $1 AND deleted_at IS NULL \
             ORDER BY priority, id"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    /// One rule, retired ones too (a queued reply still needs its text).
    pub async fn reply_rule(&self, corp_id: i64, id: i64) -> Result<Option<ReplyRuleRow>> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM group_reply_rules WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// The newest replies first (held-back ones too), at most `limit`.
    pub async fn group_replies(&self, corp_id: i64, limit: i64) -> Result<Vec<GroupReplyRow>> {
        let sql = format!("{REPLY_SELECT} WHERE r.corp_id = $1 ORDER BY r.id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn group_reply(&self, corp_id: i64, id: i64) -> Result<Option<GroupReplyRow>> {
        let sql = format!("{REPLY_SELECT} WHERE r.corp_id = $1 AND r.id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// The newest alerts first, at most `limit`.
    pub async fn group_alerts(&self, corp_id: i64, limit: i64) -> Result<Vec<GroupAlertRow>> {
        let sql = format!("{ALERT_SELECT} WHERE a.corp_id = $1 ORDER BY a.id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn group_alert(&self, corp_id: i64, id: i64) -> Result<Option<GroupAlertRow>> {
        let sql = format!("{ALERT_SELECT} WHERE a.corp_id = $1 AND a.id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Keeps a template WeCom has made, with WeCom's id, in one statement.
    pub async fn insert_welcome_template(
        &self,
        corp_id: i64,
        name: &str,
        definition: &str,
        template_id: &str,
        now: i64,
    ) -> Result<i64> {
        Ok(on_pool!(self, true, |c| {
            sqlx::query_scalar(
                "INSERT INTO group_welcome_templates (corp_id, name, definition, template_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(definition)
            .bind(template_id)
            .bind(now)
            .fetch_one(c)
            .await
        })?)
    }

    /// Sets the template's content and, when given, WeCom's id for it.
    pub async fn update_welcome_template(
        &self,
        corp_id: i64,
        id: i64,
        name: &str,
        definition: &str,
        template_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE group_welcome_templates SET name = $1, definition = $2, \
                 template_id = COALESCE($3, template_id), updated_at = $4 WHERE corp_id = $5 AND id = $6",
            )
            .bind(name)
            .bind(definition)
            .bind(template_id)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn delete_welcome_template(&self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("DELETE FROM group_welcome_templates WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    pub async fn welcome_templates(&self, corp_id: i64) -> Result<Vec<WelcomeTemplateRow>> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM group_welcome_templates WHERE corp_id = $1 ORDER BY id DESC");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn welcome_template(&self, corp_id: i64, id: i64) -> Result<Option<WelcomeTemplateRow>> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM group_welcome_templates WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }
}
