//! Guide tasks (`guide_tasks`) and their recipients
//! (`guide_task_recipients`): one WeCom customer mass-message task from one
//! guide, for some purpose (a group pull, an invitation after a first
//! order; mass messages later), and what WeCom reported for each customer.
//!
//! A task is created in WeCom at most once: [`Db::mark_guide_task_sending`]
//! claims it in its own commit before the call, and a task found
//! `sending` is never sent again ([`Tx::finish_guide_task`] ends it).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuideTaskRow {
    pub id: i64,
    pub corp_id: i64,
    pub purpose: String,
    pub purpose_id: i64,
    pub staff_id: i64,
    pub sender: String,
    pub part: i32,
    /// JSON: what the customers receive (text and link).
    pub content: String,
    /// queued, sending, created, refused or unknown.
    pub state: String,
    pub wecom_msgid: String,
    pub note: String,
    pub settled: bool,
    pub polls: i32,
    pub results_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Reminders koi sent the guide (mass sends: at most 3).
    pub reminders: i32,
    /// An operator cancelled it: never created, or cancelled in WeCom.
    pub cancelled: bool,
}

const TASK_COLUMNS: &str = "id, corp_id, purpose, purpose_id, staff_id, sender, part, content, state, wecom_msgid, \
     note, settled, polls, results_at, created_at, updated_at, reminders, cancelled";

/// One customer of a task.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecipientRow {
    pub task_id: i64,
    pub customer_id: i64,
    pub external_userid: String,
    /// planned, sent, not_sent or failed.
    pub state: String,
    pub reason: String,
    pub sent_at: Option<i64>,
}

/// A task to create, with its customers (customer id, external_userid).
#[derive(Debug, Clone)]
pub struct NewGuideTask<'a> {
    pub corp_id: i64,
    pub purpose: &'a str,
    pub purpose_id: i64,
    pub staff_id: i64,
    pub sender: &'a str,
    pub part: i32,
    pub content: &'a str,
    pub recipients: &'a [(i64, String)],
    pub now: i64,
}

/// What WeCom said about one customer of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientResult {
    pub external_userid: String,
    /// sent, not_sent or failed.
    pub state: &'static str,
    pub reason: String,
    pub sent_at: Option<i64>,
}

/// Rows per multi-row insert: 4 binds each, far below either backend's limit.
const INSERT_ROWS: usize = 500;

impl Db {
    pub async fn guide_task(&self, corp_id: i64, id: i64) -> Result<Option<GuideTaskRow>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM guide_tasks WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// A purpose's tasks (one pull's), by guide.
    pub async fn guide_tasks_of(&self, corp_id: i64, purpose: &str, purpose_id: i64) -> Result<Vec<GuideTaskRow>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM guide_tasks WHERE corp_id = $1 AND purpose = $2 AND purpose_id = $3 \
             ORDER BY staff_id, part"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(purpose).bind(purpose_id).fetch_all(c).await
        })?)
    }

    pub async fn guide_task_recipients(&self, corp_id: i64, task_id: i64) -> Result<Vec<RecipientRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT task_id, customer_id, external_userid, state, reason, sent_at FROM guide_task_recipients \
                 WHERE corp_id = $1 AND task_id = $2 ORDER BY customer_id",
            )
            .bind(corp_id)
            .bind(task_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Moves a queued task to `sending` (`to` true) just before koi calls
    /// WeCom, or back to `queued` (`to` false) when the call surely did not
    /// reach WeCom. `false` when it was not in the state moved from.
    /// Committed on its own: an attempt that finds `sending` knows an
    /// earlier one may have created the task, and does not create it again.
    /// A cancelled task is never claimed.
    pub async fn mark_guide_task_sending(&self, corp_id: i64, id: i64, to: bool) -> Result<bool> {
        let (from, into) = if to { ("queued", "sending") } else { ("sending", "queued") };
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET state = $1 WHERE corp_id = $2 AND id = $3 AND state = $4 AND NOT cancelled",
            )
                .bind(into)
                .bind(corp_id)
                .bind(id)
                .bind(from)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }
}

impl Tx {
    /// Records a task and its customers; `None` when the purpose already
    /// has this guide's part (made before: nothing is added).
    pub async fn insert_guide_task(&mut self, t: &NewGuideTask<'_>) -> Result<Option<i64>> {
        let id: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO guide_tasks (corp_id, purpose, purpose_id, staff_id, sender, part, content, state, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8) \
                 ON CONFLICT (corp_id, purpose, purpose_id, staff_id, part) DO NOTHING RETURNING id",
            )
            .bind(t.corp_id)
            .bind(t.purpose)
            .bind(t.purpose_id)
            .bind(t.staff_id)
            .bind(t.sender)
            .bind(t.part)
            .bind(t.content)
            .bind(t.now)
            .fetch_optional(&mut *c)
            .await
        })?;
        let Some(id) = id else { return Ok(None) };
        for chunk in t.recipients.chunks(INSERT_ROWS) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, ${}, ${}, ${})", 2 + i * 3, 3 + i * 3, 4 + i * 3)).collect();
            let sql = format!(
                "INSERT INTO guide_task_recipients (corp_id, task_id, customer_id, external_userid) VALUES {}",
                values.join(", ")
            );
            on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(t.corp_id);
                for (customer_id, external_userid) in chunk {
                    q = q.bind(id).bind(*customer_id).bind(external_userid.as_str());
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(Some(id))
    }

    /// Ends a queued or claimed task: created (with WeCom's msgid), refused
    /// or unknown (with why). `false` when it had ended already.
    pub async fn finish_guide_task(
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
                "UPDATE guide_tasks SET state = $1, wecom_msgid = $2, note = $3, updated_at = $4, \
                 settled = $5 WHERE corp_id = $6 AND id = $7 AND state IN ('queued', 'sending')",
            )
            .bind(state)
            .bind(wecom_msgid)
            .bind(note)
            .bind(now)
            .bind(state != "created")
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Sets what WeCom reported for some customers of a task (a customer
    /// already sent stays sent).
    pub async fn record_recipient_results(&mut self, corp_id: i64, task_id: i64, r: &[RecipientResult]) -> Result<()> {
        for one in r {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE guide_task_recipients SET state = $1, reason = $2, sent_at = $3 \
                     WHERE corp_id = $4 AND task_id = $5 AND external_userid = $6 AND state <> 'sent'",
                )
                .bind(one.state)
                .bind(&one.reason)
                .bind(one.sent_at)
                .bind(corp_id)
                .bind(task_id)
                .bind(&one.external_userid)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Every still-planned customer of a task ends `state` with `reason`
    /// (the task was refused, or the guide never confirmed it).
    pub async fn end_planned_recipients(
        &mut self,
        corp_id: i64,
        task_id: i64,
        state: &str,
        reason: &str,
    ) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_task_recipients SET state = $1, reason = $2 \
                 WHERE corp_id = $3 AND task_id = $4 AND state = 'planned'",
            )
            .bind(state)
            .bind(reason)
            .bind(corp_id)
            .bind(task_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Counts one read of a task's results; `settled` once nothing is left
    /// to read.
    pub async fn note_guide_task_read(&mut self, corp_id: i64, id: i64, settled: bool, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET polls = polls + 1, results_at = $1, settled = $2, updated_at = $1 \
                 WHERE corp_id = $3 AND id = $4",
            )
            .bind(now)
            .bind(settled)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
