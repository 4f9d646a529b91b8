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
    /// single (to customers) or group (to the sender's groups).
    pub chat_type: String,
    /// When koi last looked an `unknown` task up in WeCom (0: never).
    pub looked_up_at: i64,
}

const TASK_COLUMNS: &str = "id, corp_id, purpose, purpose_id, staff_id, sender, part, content, state, wecom_msgid, \
     note, settled, polls, results_at, created_at, updated_at, reminders, cancelled, chat_type, looked_up_at";

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
                // `+corp_id` keeps SQLite on the primary key (task_id, …):
                // left to itself it walks the corp's (corp_id, customer_id)
                // index over every recipient of every task, 1.1 s at a
                // million (EXPLAIN QUERY PLAN).
                "SELECT task_id, customer_id, external_userid, state, reason, sent_at FROM guide_task_recipients \
                 WHERE +corp_id = $1 AND task_id = $2 ORDER BY customer_id",
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

/// One group of a group task.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskGroupRow {
    pub task_id: i64,
    pub group_id: i64,
    pub chat_id: String,
    /// planned, sent, not_sent or failed.
    pub state: String,
    pub reason: String,
    pub sent_at: Option<i64>,
}

/// What an outcome-unknown task's recipients and groups were ended with.
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";

impl Db {
    /// A group task's groups, by group.
    pub async fn guide_task_groups(&self, corp_id: i64, task_id: i64) -> Result<Vec<TaskGroupRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT task_id, group_id, chat_id, state, reason, sent_at FROM guide_task_groups \
                 WHERE corp_id = $1 AND task_id = $2 ORDER BY group_id",
            )
            .bind(corp_id)
            .bind(task_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// The task that holds WeCom's `msgid`, if any (a task looked up in
    /// WeCom never adopts a msgid another task holds).
    pub async fn guide_task_with_msgid(&self, corp_id: i64, msgid: &str) -> Result<Option<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT id FROM guide_tasks WHERE corp_id = $1 AND wecom_msgid = $2 LIMIT 1")
                .bind(corp_id)
                .bind(msgid)
                .fetch_optional(c)
                .await
        })?)
    }
}

impl Tx {
    /// Makes a just-planned task a group task with these groups
    /// `(group id, chat_id)` of its sender.
    pub async fn insert_guide_task_groups(
        &mut self,
        corp_id: i64,
        task_id: i64,
        groups: &[(i64, String)],
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE guide_tasks SET chat_type = 'group' WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(task_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        for chunk in groups.chunks(INSERT_ROWS) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, $2, ${}, ${})", 3 + i * 2, 4 + i * 2)).collect();
            let sql = format!(
                "INSERT INTO guide_task_groups (corp_id, task_id, group_id, chat_id) VALUES {}",
                values.join(", ")
            );
            on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(corp_id).bind(task_id);
                for (group_id, chat_id) in chunk {
                    q = q.bind(*group_id).bind(chat_id.as_str());
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Sets what WeCom reported for some groups of a task; each result's
    /// `external_userid` is the group's chat_id (a group already sent
    /// stays sent).
    pub async fn record_group_results(&mut self, corp_id: i64, task_id: i64, r: &[RecipientResult]) -> Result<()> {
        for one in r {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE guide_task_groups SET state = $1, reason = $2, sent_at = $3 \
                     WHERE corp_id = $4 AND task_id = $5 AND chat_id = $6 AND state <> 'sent'",
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

    /// Every still-planned group of a task ends `state` with `reason`.
    pub async fn end_planned_groups(&mut self, corp_id: i64, task_id: i64, state: &str, reason: &str) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_task_groups SET state = $1, reason = $2 \
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

    /// Puts the customers and groups an unknown outcome ended back to
    /// `planned` (the task was found in WeCom, or is sent again).
    async fn replan_unknown(&mut self, corp_id: i64, task_id: i64) -> Result<()> {
        for table in ["guide_task_recipients", "guide_task_groups"] {
            let sql = format!(
                "UPDATE {table} SET state = 'planned', reason = '' WHERE corp_id = $1 AND task_id = $2 \
                 AND state = 'failed' AND reason = $3"
            );
            on_tx!(self, |c| {
                sqlx::query(&sql)
                    .bind(corp_id)
                    .bind(task_id)
                    .bind(OUTCOME_UNKNOWN)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// An `unknown` task found in WeCom: it becomes `created` with the
    /// found msgid, its results to be read as any task's. `false` when it
    /// was not `unknown` (settled meanwhile: nothing changes).
    pub async fn adopt_guide_task(&mut self, corp_id: i64, id: i64, msgid: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET state = 'created', wecom_msgid = $1, note = '', settled = FALSE, \
                 looked_up_at = $2, updated_at = $2 WHERE corp_id = $3 AND id = $4 AND state = 'unknown'",
            )
            .bind(msgid)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.replan_unknown(corp_id, id).await?;
        }
        Ok(n == 1)
    }

    /// An `unknown` task WeCom surely does not have: `absent` (with why),
    /// which an operator may send again. `false` when it was not `unknown`.
    pub async fn mark_guide_task_absent(&mut self, corp_id: i64, id: i64, note: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET state = 'absent', note = $1, looked_up_at = $2, updated_at = $2 \
                 WHERE corp_id = $3 AND id = $4 AND state = 'unknown'",
            )
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

    /// An operator sends an `absent` task again: back to `queued` with its
    /// customers or groups planned, for a new claim. `false` when it was
    /// not `absent` (resent already, or cancelled): nothing is sent twice.
    pub async fn requeue_guide_task(&mut self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET state = 'queued', note = '', settled = FALSE, updated_at = $1 \
                 WHERE corp_id = $2 AND id = $3 AND state = 'absent' AND NOT cancelled",
            )
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.replan_unknown(corp_id, id).await?;
        }
        Ok(n == 1)
    }
}
