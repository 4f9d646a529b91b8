//! Handovers (`handovers`, `handover_batches`, `handover_items`,
//! `handover_groups`) and loss alerts (`loss_alerts`, `loss_summaries`,
//! `store_loss_recipients`).
//!
//! An item's status only moves forward: once WeCom's final word is kept
//! (accepted, refused, receiver_full, over_limit, failed) a later poll or a
//! late callback leaves it; `unknown` still takes a result that shows the
//! customer.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// The statuses an item may still leave.
const OPEN: &str = "('planned', 'sending', 'waiting', 'unknown')";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HandoverRow {
    pub id: i64,
    pub corp_id: i64,
    pub kind: String,
    pub from_staff_id: i64,
    pub from_userid: String,
    pub from_name: String,
    pub message: String,
    pub include_groups: bool,
    pub state: String,
    pub polls: i32,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const HANDOVER_SELECT: &str = "SELECT h.id, h.corp_id, h.kind, h.from_staff_id, s.userid AS from_userid, \
     s.name AS from_name, h.message, h.include_groups, h.state, h.polls, h.created_by, h.created_at, h.finished_at \
     FROM handovers h JOIN staff s ON s.id = h.from_staff_id";

#[derive(Debug, Clone)]
pub struct NewHandover<'a> {
    pub corp_id: i64,
    pub kind: &'a str,
    pub from_staff_id: i64,
    pub message: &'a str,
    pub include_groups: bool,
    pub created_by: &'a str,
    pub now: i64,
}

/// A customer of a handover as it is planned.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    pub customer_id: i64,
    pub external_userid: &'a str,
    pub receiver_staff_id: i64,
    pub batch_id: Option<i64>,
    pub store_id: Option<i64>,
    pub status: &'a str,
    pub reason: &'a str,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BatchRow {
    pub id: i64,
    pub handover_id: i64,
    pub receiver_staff_id: i64,
    pub receiver_userid: String,
    pub state: String,
}

/// An item as the pages show it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ItemRow {
    pub customer_id: i64,
    pub customer_name: String,
    pub external_userid: String,
    pub receiver_staff_id: i64,
    pub receiver_name: String,
    pub status: String,
    pub reason: String,
    pub takeover_at: Option<i64>,
}

/// Counts per status, per handover and receiver.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StatusCount {
    pub handover_id: i64,
    pub receiver_staff_id: i64,
    pub status: String,
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HandoverGroupRow {
    pub group_id: i64,
    pub chat_id: String,
    pub name: String,
    pub receiver_staff_id: i64,
    pub receiver_userid: String,
    pub status: String,
    pub reason: String,
}

/// A live follow of the guide whose customers move.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FollowedCustomer {
    pub customer_id: i64,
    pub external_userid: String,
    pub store_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LossAlertRow {
    pub id: i64,
    pub corp_id: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_id: i64,
    pub staff_userid: String,
    pub staff_name: String,
    pub store_id: Option<i64>,
    pub day: String,
    pub lost_at: i64,
    pub state: String,
    pub recipients: String,
    pub note: String,
}

const LOSS_SELECT: &str = "SELECT a.id, a.corp_id, a.customer_id, c.name AS customer_name, a.staff_id, \
     s.userid AS staff_userid, s.name AS staff_name, a.store_id, a.day, a.lost_at, a.state, a.recipients, a.note \
     FROM loss_alerts a JOIN customers c ON c.id = a.customer_id JOIN staff s ON s.id = a.staff_id";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LossSummaryRow {
    pub id: i64,
    pub corp_id: i64,
    pub store_id: i64,
    pub day: String,
    pub lost: i32,
    pub state: String,
    pub recipients: String,
    pub note: String,
}

/// Customers lost on a day, per store and guide.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LossCount {
    pub day: String,
    pub store_id: Option<i64>,
    pub staff_id: i64,
    pub staff_name: String,
    pub lost: i64,
}

/// The two outbound message tables a loss sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossMessage {
    Alert,
    Summary,
}

impl LossMessage {
    fn table(self) -> &'static str {
        match self {
            LossMessage::Alert => "loss_alerts",
            LossMessage::Summary => "loss_summaries",
        }
    }
}

fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Db {
    pub async fn handovers(&self, corp_id: i64, limit: i64) -> Result<Vec<HandoverRow>> {
        let sql = format!("{HANDOVER_SELECT} WHERE h.corp_id = $1 ORDER BY h.id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn handover(&self, corp_id: i64, id: i64) -> Result<Option<HandoverRow>> {
        let sql = format!("{HANDOVER_SELECT} WHERE h.corp_id = $1 AND h.id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Item counts per handover, receiver and status, for handovers with an
    /// id of at least `from_id`.
    pub async fn handover_counts(&self, corp_id: i64, from_id: i64, to_id: i64) -> Result<Vec<StatusCount>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT handover_id, receiver_staff_id, status, COUNT(*) AS n FROM handover_items \
                 WHERE corp_id = $1 AND handover_id >= $2 AND handover_id <= $3 \
                 GROUP BY handover_id, receiver_staff_id, status",
            )
            .bind(corp_id)
            .bind(from_id)
            .bind(to_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// A handover's customers, by customer id; `status` narrows them.
    pub async fn handover_items(
        &self,
        corp_id: i64,
        id: i64,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ItemRow>> {
        let sql = "SELECT i.customer_id, c.name AS customer_name, i.external_userid, i.receiver_staff_id, \
                   s.name AS receiver_name, i.status, i.reason, i.takeover_at \
                   FROM handover_items i JOIN customers c ON c.id = i.customer_id \
                   JOIN staff s ON s.id = i.receiver_staff_id \
                   WHERE i.corp_id = $1 AND i.handover_id = $2 AND ($3 = '' OR i.status = $3) \
                   ORDER BY i.customer_id LIMIT $4";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql)
            .bind(corp_id)
            .bind(id)
            .bind(status.unwrap_or(""))
            .bind(limit)
            .fetch_all(c)
            .await)?)
    }

    pub async fn handover_groups(&self, corp_id: i64, id: i64) -> Result<Vec<HandoverGroupRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT hg.group_id, hg.chat_id, g.name, hg.receiver_staff_id, s.userid AS receiver_userid, \
                 hg.status, hg.reason FROM handover_groups hg JOIN groups g ON g.id = hg.group_id \
                 JOIN staff s ON s.id = hg.receiver_staff_id \
                 WHERE hg.corp_id = $1 AND hg.handover_id = $2 ORDER BY hg.group_id",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn handover_batch(&self, corp_id: i64, id: i64) -> Result<Option<BatchRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT b.id, b.handover_id, b.receiver_staff_id, s.userid AS receiver_userid, b.state \
                 FROM handover_batches b JOIN staff s ON s.id = b.receiver_staff_id \
                 WHERE b.corp_id = $1 AND b.id = $2",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// The external_userids of a batch's customers.
    pub async fn batch_customers(&self, corp_id: i64, batch_id: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT external_userid FROM handover_items WHERE corp_id = $1 AND batch_id = $2 \
                 ORDER BY customer_id",
            )
            .bind(corp_id)
            .bind(batch_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Claims a queued batch (`sending`, in a commit of its own) before its
    /// call, or puts it back after a call that surely did not reach WeCom.
    /// False when the batch was not in the state to move from.
    pub async fn mark_batch_sending(&self, corp_id: i64, id: i64, claim: bool) -> Result<bool> {
        let (to, from) = if claim { ("sending", "queued") } else { ("queued", "sending") };
        let n = on_pool!(self, true, |c| {
            sqlx::query("UPDATE handover_batches SET state = $1 WHERE corp_id = $2 AND id = $3 AND state = $4")
                .bind(to)
                .bind(corp_id)
                .bind(id)
                .bind(from)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The receivers (staff id, userid) of a handover with items still open.
    pub async fn handover_open_receivers(&self, corp_id: i64, id: i64) -> Result<Vec<(i64, String)>> {
        let sql = format!(
            "SELECT DISTINCT i.receiver_staff_id, s.userid FROM handover_items i \
             JOIN staff s ON s.id = i.receiver_staff_id \
             WHERE i.corp_id = $1 AND i.handover_id = $2 AND i.status IN {OPEN} ORDER BY i.receiver_staff_id"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_all(c).await)?)
    }

    /// The guide's live follows: each customer once, with the follow's store.
    pub async fn followed_customers(&self, corp_id: i64, staff_id: i64) -> Result<Vec<FollowedCustomer>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT f.customer_id, c.external_userid, f.store_id FROM follows f \
                 JOIN customers c ON c.id = f.customer_id \
                 WHERE f.corp_id = $1 AND f.staff_id = $2 AND f.deleted_at IS NULL ORDER BY f.customer_id",
            )
            .bind(corp_id)
            .bind(staff_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// When each of `customer_ids` was handed over since `since` (ms), as
    /// koi knows it: follows WeCom made by a handover (`add_way` 202, made
    /// by koi's handovers or anyone else's), koi's accepted handovers (the
    /// same moment as their follow counts once), and koi's own requests
    /// still waiting for the customer.
    pub async fn recent_handovers(&self, corp_id: i64, customer_ids: &[i64], since: i64) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        for chunk in customer_ids.chunks(500) {
            let ids = placeholders(3, chunk.len());
            let sql = format!(
                "SELECT customer_id, added_at FROM follows WHERE corp_id = $1 AND add_way = 202 AND added_at >= $2 \
                 AND customer_id IN ({ids}) \
                 UNION SELECT customer_id, takeover_at FROM handover_items WHERE corp_id = $1 \
                 AND status = 'accepted' AND takeover_at >= $2 AND customer_id IN ({ids}) \
                 UNION SELECT customer_id, updated_at FROM handover_items WHERE corp_id = $1 \
                 AND status IN ('sending', 'waiting') AND customer_id IN ({ids})"
            );
            let part: Vec<(i64, i64)> = on_pool!(self, false, |c| {
                let mut q = sqlx::query_as(&sql).bind(corp_id).bind(since);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(part);
        }
        Ok(out)
    }

    /// The active groups the member owns.
    pub async fn groups_owned_by(&self, corp_id: i64, staff_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, chat_id FROM groups WHERE corp_id = $1 AND owner_staff_id = $2 AND status = 'active' \
                 ORDER BY id",
            )
            .bind(corp_id)
            .bind(staff_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// A handover's groups not moved yet.
    pub async fn handover_planned_groups(&self, corp_id: i64, id: i64) -> Result<Vec<HandoverGroupRow>> {
        Ok(self.handover_groups(corp_id, id).await?.into_iter().filter(|g| g.status == "planned").collect())
    }

    // ---- loss ----

    pub async fn loss_alert(&self, corp_id: i64, id: i64) -> Result<Option<LossAlertRow>> {
        let sql = format!("{LOSS_SELECT} WHERE a.corp_id = $1 AND a.id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// The corp's latest loss alerts, newest first, narrowed to `stores` when given.
    pub async fn loss_alerts(&self, corp_id: i64, stores: Option<&[i64]>, limit: i64) -> Result<Vec<LossAlertRow>> {
        let scope = store_scope("a.store_id", stores, 3);
        let sql = format!("{LOSS_SELECT} WHERE a.corp_id = $1 {scope} ORDER BY a.lost_at DESC, a.id DESC LIMIT $2");
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id).bind(limit);
            for s in stores.unwrap_or_default() {
                q = q.bind(*s);
            }
            q.fetch_all(c).await
        })?)
    }

    /// The WeCom userids of a store's loss recipients (active staff only).
    pub async fn loss_recipients(&self, corp_id: i64, store_id: i64) -> Result<Vec<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT s.userid FROM store_loss_recipients r JOIN staff s ON s.id = r.staff_id \
                 WHERE r.corp_id = $1 AND r.store_id = $2 AND s.active ORDER BY s.userid",
            )
            .bind(corp_id)
            .bind(store_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Every store's loss recipients: (store id, staff id).
    pub async fn all_loss_recipients(&self, corp_id: i64) -> Result<Vec<(i64, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT store_id, staff_id FROM store_loss_recipients WHERE corp_id = $1 ORDER BY store_id, staff_id",
            )
            .bind(corp_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Customers lost (deleted the guide) per day, store and guide, for days
    /// in `from..=to` (`YYYY-MM-DD`, Asia/Shanghai), narrowed to `stores`.
    pub async fn loss_counts(
        &self,
        corp_id: i64,
        from: &str,
        to: &str,
        stores: Option<&[i64]>,
    ) -> Result<Vec<LossCount>> {
        let scope = store_scope("a.store_id", stores, 4);
        let sql = format!(
            "SELECT a.day, a.store_id, a.staff_id, s.name AS staff_name, COUNT(*) AS lost FROM loss_alerts a \
             JOIN staff s ON s.id = a.staff_id WHERE a.corp_id = $1 AND a.day >= $2 AND a.day <= $3 {scope} \
             GROUP BY a.day, a.store_id, a.staff_id, s.name ORDER BY a.day DESC, a.store_id, a.staff_id"
        );
        Ok(on_pool!(self, false, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id).bind(from).bind(to);
            for s in stores.unwrap_or_default() {
                q = q.bind(*s);
            }
            q.fetch_all(c).await
        })?)
    }

    /// Corps with losses on `day`.
    pub async fn corps_with_losses_on(&self, day: &str) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT DISTINCT corp_id FROM loss_alerts WHERE day = $1 ORDER BY corp_id")
                .bind(day)
                .fetch_all(c)
                .await
        })?)
    }

    pub async fn loss_summary(&self, corp_id: i64, id: i64) -> Result<Option<LossSummaryRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, corp_id, store_id, day, lost, state, recipients, note FROM loss_summaries \
                 WHERE corp_id = $1 AND id = $2",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_optional(c)
            .await
        })?)
    }

    pub async fn loss_summaries(&self, corp_id: i64, limit: i64) -> Result<Vec<LossSummaryRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, corp_id, store_id, day, lost, state, recipients, note FROM loss_summaries \
                 WHERE corp_id = $1 ORDER BY day DESC, store_id LIMIT $2",
            )
            .bind(corp_id)
            .bind(limit)
            .fetch_all(c)
            .await
        })?)
    }

    /// Claims a queued alert or summary before its send, or puts it back.
    pub async fn mark_loss_sending(&self, what: LossMessage, corp_id: i64, id: i64, claim: bool) -> Result<bool> {
        let (to, from) = if claim { ("sending", "queued") } else { ("queued", "sending") };
        let sql = format!("UPDATE {} SET state = $1 WHERE corp_id = $2 AND id = $3 AND state = $4", what.table());
        let n = on_pool!(self, true, |c| {
            sqlx::query(&sql).bind(to).bind(corp_id).bind(id).bind(from).execute(c).await.map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}

/// ` AND col IN ($first, …)` for a store scope; `AND 1 = 0` for an empty
/// one (a manager bound to no store sees nothing), nothing for the whole corp.
fn store_scope(col: &str, stores: Option<&[i64]>, first: usize) -> String {
    match stores {
        None => String::new(),
        Some([]) => " AND 1 = 0".into(),
        Some(s) => format!(" AND {col} IN ({})", placeholders(first, s.len())),
    }
}

impl Tx {
    pub async fn insert_handover(&mut self, h: &NewHandover<'_>) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO handovers (corp_id, kind, from_staff_id, message, include_groups, created_by, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(h.corp_id)
            .bind(h.kind)
            .bind(h.from_staff_id)
            .bind(h.message)
            .bind(h.include_groups)
            .bind(h.created_by)
            .bind(h.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn insert_handover_batch(
        &mut self,
        corp_id: i64,
        handover_id: i64,
        receiver: i64,
        now: i64,
    ) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO handover_batches (corp_id, handover_id, receiver_staff_id, updated_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(corp_id)
            .bind(handover_id)
            .bind(receiver)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn insert_handover_items(
        &mut self,
        corp_id: i64,
        handover_id: i64,
        items: &[NewItem<'_>],
        now: i64,
    ) -> Result<()> {
        for i in items {
            on_tx!(self, |c| {
                sqlx::query(
                    "INSERT INTO handover_items (handover_id, customer_id, corp_id, external_userid, \
                     receiver_staff_id, batch_id, store_id, status, reason, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(handover_id)
                .bind(i.customer_id)
                .bind(corp_id)
                .bind(i.external_userid)
                .bind(i.receiver_staff_id)
                .bind(i.batch_id)
                .bind(i.store_id)
                .bind(i.status)
                .bind(i.reason)
                .bind(now)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    pub async fn insert_handover_group(
        &mut self,
        corp_id: i64,
        handover_id: i64,
        group_id: i64,
        chat_id: &str,
        receiver: i64,
        now: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO handover_groups (handover_id, group_id, corp_id, chat_id, receiver_staff_id, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(handover_id)
            .bind(group_id)
            .bind(corp_id)
            .bind(chat_id)
            .bind(receiver)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Ends a batch (sent, refused, unknown); false when it had ended.
    pub async fn finish_batch(&mut self, corp_id: i64, id: i64, state: &str, note: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE handover_batches SET state = $1, note = $2, updated_at = $3 \
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
        Ok(n > 0)
    }

    /// Gives every still-open item of a batch one status.
    pub async fn set_batch_items(
        &mut self,
        corp_id: i64,
        batch_id: i64,
        status: &str,
        reason: &str,
        now: i64,
    ) -> Result<u64> {
        let sql = format!(
            "UPDATE handover_items SET status = $1, reason = $2, updated_at = $3 \
             WHERE corp_id = $4 AND batch_id = $5 AND status IN {OPEN}"
        );
        Ok(on_tx!(self, |c| sqlx::query(&sql)
            .bind(status)
            .bind(reason)
            .bind(now)
            .bind(corp_id)
            .bind(batch_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Sets one open item's status (forward only); returns the item's
    /// handover and whether it changed. `takeover_at` is kept when given.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_item_status(
        &mut self,
        corp_id: i64,
        handover_id: i64,
        external_userid: &str,
        status: &str,
        reason: &str,
        takeover_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE handover_items SET status = $1, reason = $2, takeover_at = COALESCE($3, takeover_at), \
             updated_at = $4 WHERE corp_id = $5 AND handover_id = $6 AND external_userid = $7 \
             AND status IN {OPEN} AND status <> $1"
        );
        let n = on_tx!(self, |c| sqlx::query(&sql)
            .bind(status)
            .bind(reason)
            .bind(takeover_at)
            .bind(now)
            .bind(corp_id)
            .bind(handover_id)
            .bind(external_userid)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The handovers of the customer to this receiver still waiting for the
    /// customer (a `transfer_fail` callback names only the two).
    pub async fn waiting_handovers_of(
        &mut self,
        corp_id: i64,
        external_userid: &str,
        receiver_staff_id: i64,
    ) -> Result<Vec<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT handover_id FROM handover_items WHERE corp_id = $1 AND external_userid = $2 \
                 AND receiver_staff_id = $3 AND status IN ('sending', 'waiting', 'unknown') ORDER BY handover_id",
            )
            .bind(corp_id)
            .bind(external_userid)
            .bind(receiver_staff_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// The receiver's follow of a customer who accepted: made (or revived)
    /// with the handover's `add_way` when it is not live already, keeping
    /// the old follow's store and code. WeCom's own add callback for the
    /// same takeover refreshes the same row.
    #[allow(clippy::too_many_arguments)]
    pub async fn take_over_follow(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        staff_id: i64,
        store_id: Option<i64>,
        code_id: Option<i64>,
        at: i64,
        now: i64,
    ) -> Result<bool> {
        self.log_customer_change(corp_id, customer_id).await?;
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO follows (corp_id, customer_id, staff_id, added_at, add_way, code_id, store_id, \
                 is_returning, updated_at) VALUES ($1, $2, $3, $4, 202, $5, $6, TRUE, $7) \
                 ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET added_at = excluded.added_at, \
                 add_way = 202, code_id = excluded.code_id, store_id = excluded.store_id, deleted_at = NULL, \
                 deleted_by = NULL, updated_at = excluded.updated_at WHERE follows.deleted_at IS NOT NULL",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .bind(at)
            .bind(code_id)
            .bind(store_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Records a group's move (or WeCom's refusal); a moved group's owner
    /// is the receiver at once (the group sync re-reads it anyway).
    pub async fn set_handover_group(
        &mut self,
        corp_id: i64,
        handover_id: i64,
        group_id: i64,
        moved_to: Option<(i64, &str)>,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        let status = if moved_to.is_some() { "moved" } else { "failed" };
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE handover_groups SET status = $1, reason = $2, updated_at = $3 \
                 WHERE corp_id = $4 AND handover_id = $5 AND group_id = $6 AND status = 'planned'",
            )
            .bind(status)
            .bind(reason)
            .bind(now)
            .bind(corp_id)
            .bind(handover_id)
            .bind(group_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if let Some((staff_id, userid)) = moved_to {
            on_tx!(self, |c| {
                sqlx::query("UPDATE groups SET owner_staff_id = $1, owner_userid = $2 WHERE corp_id = $3 AND id = $4")
                    .bind(staff_id)
                    .bind(userid)
                    .bind(corp_id)
                    .bind(group_id)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Counts a poll of the handover; ends it when `done`.
    pub async fn note_handover_poll(&mut self, corp_id: i64, id: i64, done: bool, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE handovers SET polls = polls + 1, updated_at = $1, \
                 state = CASE WHEN $2 THEN 'done' ELSE state END, \
                 finished_at = CASE WHEN $2 AND finished_at IS NULL THEN $1 ELSE finished_at END \
                 WHERE corp_id = $3 AND id = $4",
            )
            .bind(now)
            .bind(done)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Whether any item of the handover is still open (planned, sending, waiting).
    pub async fn handover_has_open_items(&mut self, corp_id: i64, id: i64) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM handover_items WHERE corp_id = $1 AND handover_id = $2 \
                 AND status IN ('planned', 'sending', 'waiting')",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_one(&mut *c)
            .await
        })?;
        Ok(n > 0)
    }

    // ---- loss ----

    /// The first store a staff member works in.
    pub async fn staff_first_store(&mut self, corp_id: i64, staff_id: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT store_id FROM staff_stores WHERE corp_id = $1 AND staff_id = $2 ORDER BY store_id LIMIT 1",
            )
            .bind(corp_id)
            .bind(staff_id)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Records a loss once per (customer, guide, moment); `None` for a replay.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_loss_alert(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        staff_id: i64,
        store_id: Option<i64>,
        day: &str,
        lost_at: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO loss_alerts (corp_id, customer_id, staff_id, store_id, day, lost_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (corp_id, customer_id, staff_id, lost_at) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .bind(store_id)
            .bind(day)
            .bind(lost_at)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Ends an alert or summary's send (sent, refused, unknown) with who got it.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_loss_message(
        &mut self,
        what: LossMessage,
        corp_id: i64,
        id: i64,
        state: &str,
        recipients: &str,
        note: &str,
        now: i64,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET state = $1, recipients = $2, note = $3, updated_at = $4 \
             WHERE corp_id = $5 AND id = $6 AND state IN ('queued', 'sending')",
            what.table()
        );
        let n = on_tx!(self, |c| sqlx::query(&sql)
            .bind(state)
            .bind(recipients)
            .bind(note)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Makes a store's summary for a day once; `None` when it exists.
    pub async fn insert_loss_summary(
        &mut self,
        corp_id: i64,
        store_id: i64,
        day: &str,
        lost: i32,
        now: i64,
    ) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO loss_summaries (corp_id, store_id, day, lost, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (corp_id, store_id, day) DO NOTHING RETURNING id",
            )
            .bind(corp_id)
            .bind(store_id)
            .bind(day)
            .bind(lost)
            .bind(now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Replaces who gets a store's loss alerts.
    pub async fn set_loss_recipients(&mut self, corp_id: i64, store_id: i64, staff_ids: &[i64]) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM store_loss_recipients WHERE corp_id = $1 AND store_id = $2")
                .bind(corp_id)
                .bind(store_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        for s in staff_ids {
            on_tx!(self, |c| {
                sqlx::query(
                    "INSERT INTO store_loss_recipients (corp_id, store_id, staff_id) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(corp_id)
                .bind(store_id)
                .bind(*s)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}
