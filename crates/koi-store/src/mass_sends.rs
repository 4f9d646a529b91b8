//! Mass sends (`mass_sends`), the customers they skipped
//! (`mass_send_skips`), what the split reads (live follows with the
//! customer's store), the reports per guide and per store, and the
//! reminders of guide tasks. The guide tasks themselves are
//! `outreach.rs` (purpose [`MASS_SEND_PURPOSE`]).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// The guide-task purpose of a mass send's tasks.
pub const MASS_SEND_PURPOSE: &str = "mass_send";
/// The touch source of a mass send (its ref is the mass send's id).
pub const MASS_SEND_SOURCE: &str = "mass_send";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MassSendRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    /// JSON: the audience.
    pub audience: String,
    /// The segment's name when the send was made.
    pub audience_label: String,
    /// JSON: text and attachments.
    pub content: String,
    pub guide_rule: String,
    /// console, api or `sop:<id>`.
    pub origin: String,
    /// scheduled, queued, planning (chunks being planned), planned or cancelled.
    pub state: String,
    pub send_at: i64,
    pub planned: i32,
    pub skipped: i32,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub cancelled_at: Option<i64>,
}

const COLUMNS: &str = "id, corp_id, name, audience, audience_label, content, guide_rule, origin, state, send_at, \
     planned, skipped, note, created_by, created_at, started_at, cancelled_at";

#[derive(Debug, Clone)]
pub struct NewMassSend<'a> {
    pub corp_id: i64,
    pub name: &'a str,
    pub audience: &'a str,
    pub content: &'a str,
    pub guide_rule: &'a str,
    pub origin: &'a str,
    pub state: &'a str,
    pub send_at: i64,
    pub created_by: &'a str,
    pub now: i64,
}

/// One live follow, for the split.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FollowForSend {
    pub customer_id: i64,
    pub external_userid: String,
    pub staff_id: i64,
    pub userid: String,
    pub added_at: i64,
    pub follow_id: i64,
    /// The guide works at the customer's first store.
    pub at_customer_store: bool,
}

/// A guide's name and first store, for the text's variables.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SenderInfo {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub store_id: Option<i64>,
    pub store_name: Option<String>,
}

/// A mass send's numbers for one guide.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GuideReportRow {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    pub store_id: Option<i64>,
    pub store_name: Option<String>,
    pub planned: i64,
    pub sent: i64,
    pub not_sent: i64,
    pub failed: i64,
    /// Customers whose outcome shows the guide confirmed (sent, or failed
    /// after confirming): more than 0 when the guide confirmed.
    pub confirmed: i64,
    pub replies: i64,
    pub orders: i64,
}

/// A reason and how many customers it covers.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReasonCount {
    pub reason: String,
    pub n: i64,
}

/// A skipped or failed customer.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MassSendCustomerRow {
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_name: String,
    pub state: String,
    pub reason: String,
}

/// A created guide task that may need a reminder.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RemindableTask {
    pub id: i64,
    pub purpose_id: i64,
    pub wecom_msgid: String,
    pub reminders: i32,
    pub created_at: i64,
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Db {
    pub async fn mass_send(&self, corp_id: i64, id: i64) -> Result<Option<MassSendRow>> {
        let sql = format!("SELECT {COLUMNS} FROM mass_sends WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn mass_sends(&self, corp_id: i64, limit: i64) -> Result<Vec<MassSendRow>> {
        let sql = format!("SELECT {COLUMNS} FROM mass_sends WHERE corp_id = $1 ORDER BY id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    /// The live follows (with an active guide) of some customers.
    pub async fn follows_for_send(&self, corp_id: i64, customer_ids: &[i64]) -> Result<Vec<FollowForSend>> {
        let mut rows = Vec::new();
        for chunk in customer_ids.chunks(500) {
            let sql = format!(
                "SELECT f.customer_id, c.external_userid, f.staff_id, s.userid, f.added_at, f.id AS follow_id, \
                 CASE WHEN c.first_store_id IS NOT NULL AND EXISTS (SELECT 1 FROM staff_stores ss \
                   WHERE ss.staff_id = f.staff_id AND ss.store_id = c.first_store_id) THEN 1 ELSE 0 END = 1 \
                   AS at_customer_store \
                 FROM follows f JOIN customers c ON c.id = f.customer_id JOIN staff s ON s.id = f.staff_id \
                 WHERE f.corp_id = $1 AND f.deleted_at IS NULL AND s.active AND f.customer_id IN ({})",
                placeholders(2, chunk.len())
            );
            let part: Vec<FollowForSend> = on_pool!(self, false, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await
            })?;
            rows.extend(part);
        }
        Ok(rows)
    }

    /// Names and first stores of some guides.
    pub async fn senders(&self, corp_id: i64, staff_ids: &[i64]) -> Result<Vec<SenderInfo>> {
        let mut rows = Vec::new();
        for chunk in staff_ids.chunks(500) {
            let sql = format!(
                "SELECT s.id AS staff_id, s.userid, s.name, \
                 (SELECT MIN(ss.store_id) FROM staff_stores ss WHERE ss.staff_id = s.id) AS store_id, \
                 (SELECT st.name FROM stores st WHERE st.id = (SELECT MIN(ss.store_id) FROM staff_stores ss \
                   WHERE ss.staff_id = s.id)) AS store_name \
                 FROM staff s WHERE s.corp_id = $1 AND s.id IN ({})",
                placeholders(2, chunk.len())
            );
            let part: Vec<SenderInfo> = on_pool!(self, false, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await
            })?;
            rows.extend(part);
        }
        Ok(rows)
    }

    /// A mass send's numbers per guide. Replies count customers with a
    /// message event after their send; orders, customers with an order
    /// event after it (both read from the event log by subject).
    pub async fn mass_send_report(&self, corp_id: i64, id: i64) -> Result<Vec<GuideReportRow>> {
        let sql = "SELECT t.staff_id, s.userid, s.name, \
             (SELECT MIN(ss.store_id) FROM staff_stores ss WHERE ss.staff_id = s.id) AS store_id, \
             (SELECT st.name FROM stores st WHERE st.id = (SELECT MIN(ss.store_id) FROM staff_stores ss \
               WHERE ss.staff_id = s.id)) AS store_name, \
             COUNT(*) AS planned, \
             SUM(CASE WHEN r.state = 'sent' THEN 1 ELSE 0 END) AS sent, \
             SUM(CASE WHEN r.state = 'not_sent' THEN 1 ELSE 0 END) AS not_sent, \
             SUM(CASE WHEN r.state = 'failed' THEN 1 ELSE 0 END) AS failed, \
             SUM(CASE WHEN r.state = 'sent' OR r.reason IN ('quota_used', 'not_a_friend') THEN 1 ELSE 0 END) \
               AS confirmed, \
             SUM(CASE WHEN r.state = 'sent' AND EXISTS (SELECT 1 FROM customers cu WHERE cu.id = r.customer_id \
               AND cu.last_active_at > r.sent_at) THEN 1 ELSE 0 END) AS replies, \
             SUM(CASE WHEN r.state = 'sent' AND EXISTS (SELECT 1 FROM customers cu WHERE cu.id = r.customer_id \
               AND cu.last_order_at > r.sent_at) THEN 1 ELSE 0 END) AS orders \
             FROM guide_tasks t JOIN guide_task_recipients r ON r.task_id = t.id JOIN staff s ON s.id = t.staff_id \
             WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 \
             GROUP BY t.staff_id, s.id, s.userid, s.name ORDER BY s.name, t.staff_id";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(MASS_SEND_PURPOSE).bind(id).fetch_all(c).await
        })?)
    }

    /// Why customers failed or were skipped, with counts.
    pub async fn mass_send_reasons(&self, corp_id: i64, id: i64) -> Result<Vec<ReasonCount>> {
        let sql = "SELECT reason, COUNT(*) AS n FROM ( \
             SELECT r.reason FROM guide_tasks t JOIN guide_task_recipients r ON r.task_id = t.id \
             WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 AND r.state IN ('failed', 'not_sent') \
             UNION ALL SELECT k.reason FROM mass_send_skips k WHERE k.corp_id = $1 AND k.mass_send_id = $3 \
             ) x GROUP BY reason ORDER BY reason";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(MASS_SEND_PURPOSE).bind(id).fetch_all(c).await
        })?)
    }

    /// Customers skipped, failed or not sent (at most `limit`).
    pub async fn mass_send_unsent(&self, corp_id: i64, id: i64, limit: i64) -> Result<Vec<MassSendCustomerRow>> {
        let sql = "SELECT * FROM ( \
             SELECT k.customer_id, cu.name AS customer_name, COALESCE(s.name, '') AS staff_name, \
               'skipped' AS state, k.reason FROM mass_send_skips k JOIN customers cu ON cu.id = k.customer_id \
               LEFT JOIN staff s ON s.id = k.staff_id WHERE k.corp_id = $1 AND k.mass_send_id = $3 \
             UNION ALL SELECT r.customer_id, cu.name, s.name, r.state, r.reason FROM guide_tasks t \
               JOIN guide_task_recipients r ON r.task_id = t.id JOIN customers cu ON cu.id = r.customer_id \
               JOIN staff s ON s.id = t.staff_id WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 \
               AND r.state IN ('failed', 'not_sent') \
             ) x ORDER BY customer_id LIMIT $4";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(MASS_SEND_PURPOSE).bind(id).bind(limit).fetch_all(c).await
        })?)
    }

    /// Created, unsettled, uncancelled tasks of a mass send.
    pub async fn remindable_tasks(&self, corp_id: i64, id: i64) -> Result<Vec<RemindableTask>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, purpose_id, wecom_msgid, reminders, created_at FROM guide_tasks \
                 WHERE corp_id = $1 AND purpose = $2 AND purpose_id = $3 AND state = 'created' \
                 AND NOT settled AND NOT cancelled ORDER BY id",
            )
            .bind(corp_id)
            .bind(MASS_SEND_PURPOSE)
            .bind(id)
            .fetch_all(c)
            .await
        })?)
    }
}

impl Tx {
    pub async fn insert_mass_send(&mut self, m: &NewMassSend<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO mass_sends (corp_id, name, audience, content, guide_rule, origin, state, send_at, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(m.corp_id)
            .bind(m.name)
            .bind(m.audience)
            .bind(m.content)
            .bind(m.guide_rule)
            .bind(m.origin)
            .bind(m.state)
            .bind(m.send_at)
            .bind(m.created_by)
            .bind(m.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Moves a queued or scheduled send to `planned`, with its numbers;
    /// `false` when it was planned or cancelled already (nothing is planned twice).
    #[allow(clippy::too_many_arguments)]
    pub async fn start_mass_send(
        &mut self,
        corp_id: i64,
        id: i64,
        audience_label: &str,
        planned: i32,
        skipped: i32,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE mass_sends SET state = 'planned', audience_label = $1, planned = $2, skipped = $3, \
                 note = $4, started_at = $5 WHERE corp_id = $6 AND id = $7 AND state IN ('queued', 'scheduled')",
            )
            .bind(audience_label)
            .bind(planned)
            .bind(skipped)
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

    /// Cancels a send: a scheduled one never starts; a started one's
    /// tasks are marked cancelled. `false` when it was cancelled already.
    pub async fn cancel_mass_send(&mut self, corp_id: i64, id: i64, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE mass_sends SET state = 'cancelled', cancelled_at = $1 \
                 WHERE corp_id = $2 AND id = $3 AND state <> 'cancelled'",
            )
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records skipped customers: (customer, guide who would have sent, reason).
    pub async fn insert_mass_send_skips(
        &mut self,
        corp_id: i64,
        id: i64,
        skips: &[(i64, Option<i64>, &str)],
    ) -> Result<()> {
        for chunk in skips.chunks(300) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, $2, ${}, ${}, ${})", 3 + i * 3, 4 + i * 3, 5 + i * 3)).collect();
            let sql = format!(
                "INSERT INTO mass_send_skips (corp_id, mass_send_id, customer_id, staff_id, reason) VALUES {} \
                 ON CONFLICT (mass_send_id, customer_id) DO NOTHING",
                values.join(", ")
            );
            on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(corp_id).bind(id);
                for (customer, staff, reason) in chunk {
                    q = q.bind(*customer).bind(*staff).bind(*reason);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Counts a reminder of a task (koi's ≤ 3).
    pub async fn note_task_reminded(&mut self, corp_id: i64, task_id: i64, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET reminders = reminders + 1, reminded_at = $1 WHERE corp_id = $2 AND id = $3",
            )
            .bind(now)
            .bind(corp_id)
            .bind(task_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Marks the tasks of a purpose cancelled; still-planned customers end
    /// `not_sent` / `cancelled`. Returns the created tasks' msgids (to
    /// cancel in WeCom).
    pub async fn cancel_guide_tasks(
        &mut self,
        corp_id: i64,
        purpose: &str,
        purpose_id: i64,
    ) -> Result<Vec<(i64, String)>> {
        let created: Vec<(i64, String)> = on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT id, wecom_msgid FROM guide_tasks WHERE corp_id = $1 AND purpose = $2 AND purpose_id = $3 \
                 AND state = 'created' AND NOT cancelled",
            )
            .bind(corp_id)
            .bind(purpose)
            .bind(purpose_id)
            .fetch_all(&mut *c)
            .await
        })?;
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE guide_tasks SET cancelled = TRUE, settled = TRUE WHERE corp_id = $1 AND purpose = $2 \
                 AND purpose_id = $3",
            )
            .bind(corp_id)
            .bind(purpose)
            .bind(purpose_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        for table in ["guide_task_recipients", "guide_task_groups"] {
            let sql = format!(
                "UPDATE {table} SET state = 'not_sent', reason = 'cancelled' WHERE corp_id = $1 \
                 AND state = 'planned' AND task_id IN (SELECT id FROM guide_tasks WHERE corp_id = $1 \
                 AND purpose = $2 AND purpose_id = $3)"
            );
            on_tx!(self, |c| {
                sqlx::query(&sql)
                    .bind(corp_id)
                    .bind(purpose)
                    .bind(purpose_id)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(created)
    }
}

impl Tx {
    /// Seeds customers each followed by one guide at once, without events
    /// (a benchmark's or a test's corp as it stands): `(external_userid,
    /// staff_id)` pairs, all added at `added_at` through `store_id`. The
    /// segment index learns them from the change log. Returns their ids.
    pub async fn seed_followed_customers(
        &mut self,
        corp_id: i64,
        pairs: &[(String, i64)],
        store_id: Option<i64>,
        added_at: i64,
    ) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(300) {
            let first = crate::dialect::reserve_customer_nos(self, corp_id, chunk.len() as i64).await?;
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, ${}, $2, $2, $2, ${}, $3)", 4 + i * 2, 5 + i * 2)).collect();
            let sql = format!(
                "INSERT INTO customers (corp_id, external_userid, created_at, updated_at, added_at, no, first_store_id) \
                 VALUES {} RETURNING id, external_userid",
                values.join(", ")
            );
            let rows: Vec<(i64, String)> = on_tx!(self, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id).bind(added_at).bind(store_id);
                for (i, (ext, _)) in chunk.iter().enumerate() {
                    q = q.bind(ext.as_str()).bind(first + i as i64);
                }
                q.fetch_all(&mut *c).await
            })?;
            // Matched by external_userid: RETURNING's order is not promised.
            let by_ext: std::collections::HashMap<&str, i64> = rows.iter().map(|(id, e)| (e.as_str(), *id)).collect();
            let made: Vec<i64> = chunk.iter().map(|(e, _)| by_ext.get(e.as_str()).copied().unwrap_or(0)).collect();
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("($1, ${}, ${}, $2, $3, $2)", 4 + i * 2, 5 + i * 2)).collect();
            let sql = format!(
                "INSERT INTO follows (corp_id, customer_id, staff_id, added_at, store_id, updated_at) VALUES {}",
                values.join(", ")
            );
            on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(corp_id).bind(added_at).bind(store_id);
                for (id, (_, staff)) in made.iter().zip(chunk) {
                    q = q.bind(*id).bind(*staff);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
            let values: Vec<String> = (0..made.len()).map(|i| format!("($1, ${}, $2)", 3 + i)).collect();
            let sql = format!(
                "INSERT INTO customer_changes (corp_id, customer_id, recorded_at) VALUES {}",
                values.join(", ")
            );
            on_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(corp_id).bind(added_at);
                for id in &made {
                    q = q.bind(*id);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
            ids.extend(made);
        }
        Ok(ids)
    }
}

/// One group of a mass send to groups, with its task and owner.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupSendRow {
    pub task_id: i64,
    pub staff_id: i64,
    pub owner_userid: String,
    pub owner_name: String,
    pub group_id: i64,
    pub group_name: String,
    pub chat_id: String,
    /// planned, sent, not_sent or failed.
    pub state: String,
    pub reason: String,
    pub sent_at: Option<i64>,
}

impl Db {
    /// A mass send's groups with their outcome, by owner then group.
    pub async fn mass_send_groups(&self, corp_id: i64, id: i64) -> Result<Vec<GroupSendRow>> {
        let sql = "SELECT t.id AS task_id, t.staff_id, t.sender AS owner_userid, s.name AS owner_name, \
             g.group_id, gr.name AS group_name, g.chat_id, g.state, g.reason, g.sent_at \
             FROM guide_tasks t JOIN guide_task_groups g ON g.task_id = t.id JOIN staff s ON s.id = t.staff_id \
             JOIN groups gr ON gr.id = g.group_id \
             WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 ORDER BY s.name, t.staff_id, g.group_id";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(MASS_SEND_PURPOSE).bind(id).fetch_all(c).await
        })?)
    }
}

/// One customer of a mass send's staged split: the chunk that plans it and
/// the guide who sends it (`None`: no guide, skipped as `no_guide`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StagedCustomer {
    pub customer_id: i64,
    pub chunk: i32,
    pub staff_id: Option<i64>,
    pub external_userid: String,
}

/// Staged rows per commit: each commit stays small, so other writers (the
/// one SQLite writer's callbacks) never wait long behind a large audience.
const STAGE_COMMIT_ROWS: usize = 5_000;

impl Db {
    /// Stages a send's split, replacing what an earlier attempt staged, in
    /// commits of [`STAGE_COMMIT_ROWS`] rows. Only the start job stages, and
    /// only while the send is queued: no chunk reads the stage yet.
    pub async fn stage_mass_send(&self, corp_id: i64, id: i64, rows: &[StagedCustomer]) -> Result<()> {
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM mass_send_stage WHERE corp_id = $1 AND mass_send_id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        for commit in rows.chunks(STAGE_COMMIT_ROWS) {
            let mut tx = self.begin().await?;
            for chunk in commit.chunks(500) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("($1, $2, ${}, ${}, ${}, ${})", 3 + i * 4, 4 + i * 4, 5 + i * 4, 6 + i * 4))
                    .collect();
                let sql = format!(
                    "INSERT INTO mass_send_stage (corp_id, mass_send_id, customer_id, chunk, staff_id, \
                     external_userid) VALUES {} ON CONFLICT (mass_send_id, customer_id) DO NOTHING",
                    values.join(", ")
                );
                on_tx!(&mut tx, |c| {
                    let mut q = sqlx::query(&sql).bind(corp_id).bind(id);
                    for r in chunk {
                        q = q.bind(r.customer_id).bind(r.chunk).bind(r.staff_id).bind(r.external_userid.as_str());
                    }
                    q.execute(&mut *c).await.map(|r| r.rows_affected())
                })?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The staged customers of one chunk (none once it was planned).
    pub async fn mass_send_chunk(&self, corp_id: i64, id: i64, chunk: i32) -> Result<Vec<StagedCustomer>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT customer_id, chunk, staff_id, external_userid FROM mass_send_stage \
                 WHERE corp_id = $1 AND mass_send_id = $2 AND chunk = $3 ORDER BY customer_id",
            )
            .bind(corp_id)
            .bind(id)
            .bind(chunk)
            .fetch_all(c)
            .await
        })?)
    }
}

impl Tx {
    /// Moves a queued or scheduled send to `planning` with the number of
    /// chunks its staged split has; `false` when it was started or cancelled
    /// already (no chunk is enqueued twice).
    pub async fn begin_mass_send_planning(
        &mut self,
        corp_id: i64,
        id: i64,
        audience_label: &str,
        chunks: i32,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE mass_sends SET state = 'planning', audience_label = $1, chunks_left = $2, planned = 0, \
                 skipped = 0, started_at = $3 WHERE corp_id = $4 AND id = $5 AND state IN ('queued', 'scheduled')",
            )
            .bind(audience_label)
            .bind(chunks)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Takes a chunk's rows out of the stage; returns how many there were
    /// (0: the chunk was planned already — a duplicate or retried job).
    pub async fn take_mass_send_chunk(&mut self, corp_id: i64, id: i64, chunk: i32) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query("DELETE FROM mass_send_stage WHERE corp_id = $1 AND mass_send_id = $2 AND chunk = $3")
                .bind(corp_id)
                .bind(id)
                .bind(chunk)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?)
    }

    /// Counts a planned chunk into a send still `planning`: its planned and
    /// skipped customers added, one chunk fewer left. Returns the chunks
    /// left, `None` when the send is not planning (cancelled). On
    /// PostgreSQL the update locks the send's row, so two chunks finishing
    /// at once count one after the other and exactly one sees 0.
    pub async fn count_mass_send_chunk(
        &mut self,
        corp_id: i64,
        id: i64,
        planned: i32,
        skipped: i32,
    ) -> Result<Option<i32>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE mass_sends SET chunks_left = chunks_left - 1, planned = planned + $1, \
                 skipped = skipped + $2 WHERE corp_id = $3 AND id = $4 AND state = 'planning' \
                 AND chunks_left > 0 RETURNING chunks_left",
            )
            .bind(planned)
            .bind(skipped)
            .bind(corp_id)
            .bind(id)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Moves a send whose chunks are all planned to `planned`; returns its
    /// (planned, skipped), `None` when it was not planning with no chunk left.
    pub async fn finish_mass_send_planning(&mut self, corp_id: i64, id: i64) -> Result<Option<(i32, i32)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "UPDATE mass_sends SET state = 'planned' WHERE corp_id = $1 AND id = $2 AND state = 'planning' \
                 AND chunks_left = 0 RETURNING planned, skipped",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_optional(&mut *c)
            .await
        })?)
    }
}

/// What followed a send in one group it reached.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupResponseRow {
    pub group_id: i64,
    /// Messages by members who are not staff.
    pub replies: i64,
    /// Orders by the customers who were members when it was sent.
    pub orders: i64,
}

impl Db {
    /// For each group a send to groups reached (`sent`), what followed within
    /// `window_ms` after its send time: messages members who are not staff
    /// said there (koi's copy of the session archive, `group_messages`),
    /// and orders by the customers who were in the group at that time.
    pub async fn mass_send_group_responses(
        &self,
        corp_id: i64,
        id: i64,
        window_ms: i64,
    ) -> Result<Vec<GroupResponseRow>> {
        let sql = "SELECT g.group_id, \
             (SELECT COUNT(*) FROM group_messages m WHERE m.corp_id = g.corp_id AND m.group_id = g.group_id \
               AND m.sent_at > g.sent_at AND m.sent_at <= g.sent_at + $4 \
               AND NOT EXISTS (SELECT 1 FROM staff s WHERE s.corp_id = m.corp_id AND s.userid = m.sender) \
               AND NOT EXISTS (SELECT 1 FROM group_members sm WHERE sm.group_id = m.group_id \
                 AND sm.userid = m.sender AND sm.member_type = 'staff')) AS replies, \
             (SELECT COUNT(DISTINCT o.id) FROM group_members gm JOIN orders o ON o.customer_id = gm.customer_id \
               WHERE gm.group_id = g.group_id AND gm.customer_id IS NOT NULL \
               AND gm.join_time * 1000 <= g.sent_at AND (gm.left_at IS NULL OR gm.left_at > g.sent_at) \
               AND o.corp_id = g.corp_id AND o.ordered_at > g.sent_at AND o.ordered_at <= g.sent_at + $4) AS orders \
             FROM guide_tasks t JOIN guide_task_groups g ON g.task_id = t.id \
             WHERE t.corp_id = $1 AND t.purpose = $2 AND t.purpose_id = $3 AND g.state = 'sent' \
             AND g.sent_at IS NOT NULL ORDER BY g.group_id";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(MASS_SEND_PURPOSE).bind(id).bind(window_ms).fetch_all(c).await
        })?)
    }
}
