//! Two-level distribution (migrations 0021, 0031): the corp's settings
//! (JSON), distributors, who brought whom (`referrals`, first wins), the
//! commission ledger (one row per order and level, so an order earns once;
//! claw-backs, negative, one per refund total), payouts in batches, and
//! the scheduled slots that ran a batch (`payout_slots`, once each). Every move of money is a conditional update
//! (`… WHERE state = 'pending'`), so two nodes, a retry or a crash replayed
//! never move the same commission twice.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// A distributor.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DistributorRow {
    pub id: i64,
    pub corp_id: i64,
    pub customer_id: i64,
    pub token: String,
    pub source: String,
    pub campaign_id: Option<i64>,
    pub active: bool,
    pub entry_state: String,
    pub config_id: String,
    pub qr_code: String,
    pub entry_error: String,
    pub created_at: i64,
}

const DISTRIBUTOR_COLUMNS: &str = "id, corp_id, customer_id, token, source, campaign_id, active, entry_state, \
     config_id, qr_code, entry_error, created_at";

/// A distributor with their numbers, for lists and their earnings page.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DistributorStats {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    pub token: String,
    pub source: String,
    pub campaign_id: Option<i64>,
    pub active: bool,
    pub qr_code: String,
    pub created_at: i64,
    /// Customers they brought.
    pub level1: i64,
    /// Customers those brought.
    pub level2: i64,
    pub pending_fen: i64,
    /// Settled and in a payout not yet paid.
    pub settled_fen: i64,
    pub paid_fen: i64,
}

const STATS_SELECT: &str = "SELECT d.id, d.customer_id, c.name, d.token, d.source, d.campaign_id, d.active, \
     d.qr_code, d.created_at, \
     (SELECT COUNT(*) FROM referrals r WHERE r.corp_id = d.corp_id AND r.referrer_id = d.customer_id) AS level1, \
     (SELECT COUNT(*) FROM referrals r1 JOIN referrals r2 ON r2.corp_id = r1.corp_id AND r2.referrer_id = r1.customer_id \
       WHERE r1.corp_id = d.corp_id AND r1.referrer_id = d.customer_id) AS level2, \
     CAST(COALESCE((SELECT SUM(amount_fen) FROM commissions m WHERE m.distributor_id = d.id AND m.state = 'pending'), 0) AS BIGINT) AS pending_fen, \
     CAST(COALESCE((SELECT SUM(amount_fen) FROM commissions m WHERE m.distributor_id = d.id AND m.state IN ('settled', 'paying')), 0) AS BIGINT) AS settled_fen, \
     CAST(COALESCE((SELECT SUM(amount_fen) FROM commissions m WHERE m.distributor_id = d.id AND m.state = 'paid'), 0) AS BIGINT) AS paid_fen \
     FROM distributors d JOIN customers c ON c.id = d.customer_id";

/// One level's commission on one order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CommissionRow {
    pub id: i64,
    pub corp_id: i64,
    pub order_ref: String,
    pub level: i64,
    pub distributor_id: i64,
    pub buyer_id: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub full_fen: i64,
    pub amount_fen: i64,
    pub state: String,
    pub paid_at: i64,
    pub settle_at: i64,
    pub payout_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A claw-back (negative `amount_fen`) of this commission, after a
    /// refund that came once it had settled; `refunded_fen` is the order's
    /// refunded total that caused it.
    pub clawback_of: Option<i64>,
}

const COMMISSION_COLUMNS: &str = "id, corp_id, order_ref, level, distributor_id, buyer_id, paid_fen, refunded_fen, \
     full_fen, amount_fen, state, paid_at, settle_at, payout_id, created_at, updated_at, clawback_of";

/// A commission to write.
#[derive(Debug, Clone)]
pub struct NewCommission<'a> {
    pub corp_id: i64,
    pub order_ref: &'a str,
    pub level: i64,
    pub distributor_id: i64,
    pub buyer_id: i64,
    pub paid_fen: i64,
    pub full_fen: i64,
    pub paid_at: i64,
    pub settle_at: i64,
    pub now: i64,
}

/// One transfer to one distributor.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PayoutRow {
    pub id: i64,
    pub corp_id: i64,
    pub batch_id: i64,
    pub distributor_id: i64,
    pub amount_fen: i64,
    pub partner_trade_no: String,
    pub state: String,
    pub payment_no: String,
    pub reason: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const PAYOUT_COLUMNS: &str = "id, corp_id, batch_id, distributor_id, amount_fen, partner_trade_no, state, payment_no, \
     reason, created_at, updated_at";

/// A batch of payouts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PayoutBatchRow {
    pub id: i64,
    pub corp_id: i64,
    pub created_by: String,
    pub payouts: i64,
    pub total_fen: i64,
    pub created_at: i64,
    /// Of its payouts: paid, failed, still pending.
    pub paid: i64,
    pub failed: i64,
}

/// Filters for [`Db::commissions`].
#[derive(Debug, Clone, Default)]
pub struct CommissionFilter<'a> {
    pub distributor_id: Option<i64>,
    pub state: Option<&'a str>,
    pub order_ref: Option<&'a str>,
    pub limit: i64,
}

impl Db {
    /// The corp's settings as stored (JSON), when ever saved.
    pub async fn distribution_settings(&self, corp_id: i64) -> Result<Option<String>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT settings FROM distribution_settings WHERE corp_id = $1")
                .bind(corp_id)
                .fetch_optional(c)
                .await
        })?)
    }

    pub async fn save_distribution_settings(&self, corp_id: i64, settings: &str, now: i64) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query(
                "INSERT INTO distribution_settings (corp_id, settings, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (corp_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(settings)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn distributor_by_token(&self, token: &str) -> Result<Option<DistributorRow>> {
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    pub async fn distributor(&self, corp_id: i64, id: i64) -> Result<Option<DistributorRow>> {
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn distributor_of_customer(&self, corp_id: i64, customer_id: i64) -> Result<Option<DistributorRow>> {
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE corp_id = $1 AND customer_id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_optional(c).await)?)
    }

    /// The corp's distributors with their numbers (one when `id` is given),
    /// newest first, at most `limit`.
    pub async fn distributor_stats(&self, corp_id: i64, id: Option<i64>, limit: i64) -> Result<Vec<DistributorStats>> {
        let sql =
            format!("{STATS_SELECT} WHERE d.corp_id = $1 AND ($2 IS NULL OR d.id = $2) ORDER BY d.id DESC LIMIT $3");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn commissions(&self, corp_id: i64, f: &CommissionFilter<'_>) -> Result<Vec<CommissionRow>> {
        let sql = format!(
            "SELECT {COMMISSION_COLUMNS} FROM commissions WHERE corp_id = $1 AND ($2 IS NULL OR distributor_id = $2) \
             AND ($3 IS NULL OR state = $3) AND ($4 IS NULL OR order_ref = $4) ORDER BY id DESC LIMIT $5"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql)
                .bind(corp_id)
                .bind(f.distributor_id)
                .bind(f.state)
                .bind(f.order_ref)
                .bind(f.limit)
                .fetch_all(c)
                .await
        })?)
    }

    pub async fn payout(&self, corp_id: i64, id: i64) -> Result<Option<PayoutRow>> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Payouts, newest first: of one batch or one distributor, or all.
    pub async fn payouts(
        &self,
        corp_id: i64,
        batch_id: Option<i64>,
        distributor_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PayoutRow>> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE corp_id = $1 AND ($2 IS NULL OR batch_id = $2) \
             AND ($3 IS NULL OR distributor_id = $3) ORDER BY id DESC LIMIT $4"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(batch_id).bind(distributor_id).bind(limit).fetch_all(c).await
        })?)
    }

    pub async fn payout_batches(&self, corp_id: i64, limit: i64) -> Result<Vec<PayoutBatchRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT b.id, b.corp_id, b.created_by, b.payouts, b.total_fen, b.created_at, \
                 (SELECT COUNT(*) FROM payouts p WHERE p.batch_id = b.id AND p.state = 'paid') AS paid, \
                 (SELECT COUNT(*) FROM payouts p WHERE p.batch_id = b.id AND p.state = 'failed') AS failed \
                 FROM payout_batches b WHERE b.corp_id = $1 ORDER BY b.id DESC LIMIT $2",
            )
            .bind(corp_id)
            .bind(limit)
            .fetch_all(c)
            .await
        })?)
    }

    /// Every corp's saved settings (JSON) and when they were saved: what the
    /// payout scheduler reads.
    pub async fn all_distribution_settings(&self) -> Result<Vec<(i64, String, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as("SELECT corp_id, settings, updated_at FROM distribution_settings ORDER BY corp_id")
                .fetch_all(c)
                .await
        })?)
    }

    /// Whether the scheduled slot starting at `slot_at` has run for the corp.
    pub async fn payout_slot_ran(&self, corp_id: i64, slot_at: i64) -> Result<bool> {
        let n: i64 = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM payout_slots WHERE corp_id = $1 AND slot_at = $2")
                .bind(corp_id)
                .bind(slot_at)
                .fetch_one(c)
                .await
        })?;
        Ok(n > 0)
    }

    /// The batch a scheduled slot ran, `Some(None)` when it ran and found
    /// nothing owed, `None` when it has not run.
    pub async fn payout_slot_batch(&self, corp_id: i64, slot_at: i64) -> Result<Option<Option<i64>>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT batch_id FROM payout_slots WHERE corp_id = $1 AND slot_at = $2")
                .bind(corp_id)
                .bind(slot_at)
                .fetch_optional(c)
                .await
        })?)
    }

    /// Corps with commissions whose window has passed by `now`.
    pub async fn corps_with_due_commissions(&self, now: i64) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT DISTINCT corp_id FROM commissions WHERE state = 'pending' AND settle_at <= $1 ORDER BY corp_id",
            )
            .bind(now)
            .fetch_all(c)
            .await
        })?)
    }
}

impl Tx {
    /// The corp's settings as stored, inside a transaction.
    pub async fn distribution_settings_in_tx(&mut self, corp_id: i64) -> Result<Option<String>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT settings FROM distribution_settings WHERE corp_id = $1")
                .bind(corp_id)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Makes `customer_id` a distributor (or finds them one already);
    /// returns the row. An existing row keeps its token and source.
    pub async fn ensure_distributor(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        token: &str,
        source: &str,
        campaign_id: Option<i64>,
        now: i64,
    ) -> Result<DistributorRow> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO distributors (corp_id, customer_id, token, source, campaign_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (corp_id, customer_id) DO NOTHING",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(token)
            .bind(source)
            .bind(campaign_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE corp_id = $1 AND customer_id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_one(&mut *c).await)?)
    }

    pub async fn distributor_of_customer_in_tx(
        &mut self,
        corp_id: i64,
        customer_id: i64,
    ) -> Result<Option<DistributorRow>> {
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE corp_id = $1 AND customer_id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_optional(&mut *c).await)?)
    }

    pub async fn distributor_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<DistributorRow>> {
        let sql = format!("SELECT {DISTRIBUTOR_COLUMNS} FROM distributors WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Turns a distributor on or off; true when it changed.
    pub async fn set_distributor_active(&mut self, corp_id: i64, id: i64, active: bool) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE distributors SET active = $1 WHERE corp_id = $2 AND id = $3 AND active <> $1")
                .bind(active)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Moves a distributor's contact way from one of `from` to `to`; true
    /// when it moved.
    pub async fn set_distributor_entry(
        &mut self,
        id: i64,
        from: &str,
        to: &str,
        config_id: &str,
        qr_code: &str,
        error: &str,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE distributors SET entry_state = $1, config_id = $2, qr_code = $3, entry_error = $4 \
                 WHERE id = $5 AND entry_state = $6",
            )
            .bind(to)
            .bind(config_id)
            .bind(qr_code)
            .bind(error)
            .bind(id)
            .bind(from)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Who brought `customer_id`, if anyone.
    pub async fn referrer_of(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT referrer_id FROM referrals WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// Records who brought a customer; false when someone already had
    /// (the first wins).
    pub async fn record_referral(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        referrer_id: i64,
        source: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO referrals (corp_id, customer_id, referrer_id, source, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (corp_id, customer_id) DO NOTHING",
            )
            .bind(corp_id)
            .bind(customer_id)
            .bind(referrer_id)
            .bind(source)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// The customer who invited `customer_id` in one of `campaign_ids`
    /// (their participant's parent), oldest invitation first.
    pub async fn campaign_inviter(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        campaign_ids: &[i64],
    ) -> Result<Option<(i64, i64)>> {
        if campaign_ids.is_empty() {
            return Ok(None);
        }
        let list = placeholders(3, campaign_ids.len());
        let sql = format!(
            "SELECT parent.customer_id, p.campaign_id FROM campaign_participants p \
             JOIN campaign_participants parent ON parent.id = p.parent_id \
             WHERE p.corp_id = $1 AND p.customer_id = $2 AND p.campaign_id IN ({list}) ORDER BY p.id LIMIT 1"
        );
        Ok(on_tx!(self, |c| {
            let mut q = sqlx::query_as(&sql).bind(corp_id).bind(customer_id);
            for id in campaign_ids {
                q = q.bind(*id);
            }
            q.fetch_optional(&mut *c).await
        })?)
    }

    /// The first of `campaign_ids` that `customer_id` takes part in.
    pub async fn participant_campaign(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        campaign_ids: &[i64],
    ) -> Result<Option<i64>> {
        if campaign_ids.is_empty() {
            return Ok(None);
        }
        let list = placeholders(3, campaign_ids.len());
        let sql = format!(
            "SELECT campaign_id FROM campaign_participants WHERE corp_id = $1 AND customer_id = $2 \
             AND campaign_id IN ({list}) ORDER BY id LIMIT 1"
        );
        Ok(on_tx!(self, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id).bind(customer_id);
            for id in campaign_ids {
                q = q.bind(*id);
            }
            q.fetch_optional(&mut *c).await
        })?)
    }

    /// Writes one level's commission on an order; `None` when the order
    /// earned at that level already (the same order reported again).
    pub async fn insert_commission(&mut self, n: &NewCommission<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO commissions (corp_id, order_ref, level, distributor_id, buyer_id, paid_fen, full_fen, \
                 amount_fen, state, paid_at, settle_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 'pending', $8, $9, $10, $10) \
                 ON CONFLICT (corp_id, order_ref, level) WHERE clawback_of IS NULL DO NOTHING RETURNING id",
            )
            .bind(n.corp_id)
            .bind(n.order_ref)
            .bind(n.level)
            .bind(n.distributor_id)
            .bind(n.buyer_id)
            .bind(n.paid_fen)
            .bind(n.full_fen)
            .bind(n.paid_at)
            .bind(n.settle_at)
            .bind(n.now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    pub async fn order_commissions(&mut self, corp_id: i64, order_ref: &str) -> Result<Vec<CommissionRow>> {
        let sql = format!(
            "SELECT {COMMISSION_COLUMNS} FROM commissions WHERE corp_id = $1 AND order_ref = $2 ORDER BY level"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(order_ref).fetch_all(&mut *c).await)?)
    }

    /// Books a refund on a pending commission: its new amount, cancelled at
    /// zero. False when it is no longer pending (settled meanwhile) or the
    /// refund is not larger than the one booked (a replay).
    pub async fn refund_commission(&mut self, id: i64, refunded_fen: i64, amount_fen: i64, now: i64) -> Result<bool> {
        let state = if amount_fen <= 0 { "cancelled" } else { "pending" };
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE commissions SET refunded_fen = $1, amount_fen = $2, state = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'pending' AND refunded_fen < $1",
            )
            .bind(refunded_fen)
            .bind(amount_fen.max(0))
            .bind(state)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Claws back `clawed_fen` of a settled (paying, paid) commission after
    /// the order's refunded total grew to `refunded_fen`: the commission
    /// books the total, and a negative entry, settled at once, is written
    /// for the next payout to net. `None` when the total was booked
    /// already (a replayed refund, another node first) or the commission
    /// is not settled: exactly once per refund total. With `clawed_fen` 0
    /// (rounding) only the total is booked.
    pub async fn claw_back_commission(
        &mut self,
        c: &CommissionRow,
        refunded_fen: i64,
        clawed_fen: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        let n = on_tx!(self, |x| {
            sqlx::query(
                "UPDATE commissions SET refunded_fen = $1, updated_at = $2 WHERE id = $3 AND clawback_of IS NULL \
                 AND state IN ('settled', 'paying', 'paid') AND refunded_fen < $1",
            )
            .bind(refunded_fen)
            .bind(now)
            .bind(c.id)
            .execute(&mut *x)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n != 1 || clawed_fen <= 0 {
            return Ok(None);
        }
        Ok(on_tx!(self, |x| {
            sqlx::query_scalar(
                "INSERT INTO commissions (corp_id, order_ref, level, distributor_id, buyer_id, paid_fen, refunded_fen, \
                 full_fen, amount_fen, state, paid_at, settle_at, created_at, updated_at, clawback_of) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 'settled', $9, $10, $10, $10, $11) \
                 ON CONFLICT (clawback_of, refunded_fen) WHERE clawback_of IS NOT NULL DO NOTHING RETURNING id",
            )
            .bind(c.corp_id)
            .bind(&c.order_ref)
            .bind(c.level)
            .bind(c.distributor_id)
            .bind(c.buyer_id)
            .bind(c.paid_fen)
            .bind(refunded_fen)
            .bind(-clawed_fen)
            .bind(c.paid_at)
            .bind(now)
            .bind(c.id)
            .fetch_optional(&mut *x)
            .await
        })?)
    }

    /// Takes the scheduled slot starting at `slot_at` for the corp; false
    /// when it was taken (it ran, or another worker runs it now and this
    /// transaction must not run a batch).
    pub async fn take_payout_slot(&mut self, corp_id: i64, slot_at: i64, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO payout_slots (corp_id, slot_at, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (corp_id, slot_at) DO NOTHING",
            )
            .bind(corp_id)
            .bind(slot_at)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records the batch a taken slot ran.
    pub async fn set_payout_slot_batch(&mut self, corp_id: i64, slot_at: i64, batch_id: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE payout_slots SET batch_id = $1 WHERE corp_id = $2 AND slot_at = $3")
                .bind(batch_id)
                .bind(corp_id)
                .bind(slot_at)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Settles the corp's pending commissions whose window passed by `now`;
    /// how many.
    pub async fn settle_due_commissions(&mut self, corp_id: i64, now: i64) -> Result<u64> {
        Ok(on_tx!(self, |c| {
            sqlx::query(
                "UPDATE commissions SET state = 'settled', updated_at = $2 \
                 WHERE corp_id = $1 AND state = 'pending' AND settle_at <= $2",
            )
            .bind(corp_id)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Settled commissions of active distributors not in a payout, oldest
    /// first: (commission, distributor, amount); claw-backs are negative.
    pub async fn owed_commissions(&mut self, corp_id: i64) -> Result<Vec<(i64, i64, i64)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT m.id, m.distributor_id, m.amount_fen FROM commissions m \
                 JOIN distributors d ON d.id = m.distributor_id \
                 WHERE m.corp_id = $1 AND m.state = 'settled' AND m.payout_id IS NULL AND d.active = $2 \
                 ORDER BY m.id",
            )
            .bind(corp_id)
            .bind(true)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    pub async fn insert_payout_batch(
        &mut self,
        corp_id: i64,
        created_by: &str,
        payouts: i64,
        total_fen: i64,
        now: i64,
    ) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO payout_batches (corp_id, created_by, payouts, total_fen, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(corp_id)
            .bind(created_by)
            .bind(payouts)
            .bind(total_fen)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// A payout and the commissions it pays, moved settled → paying. Fails
    /// with [`crate::StoreError::Conflict`] when one of them is not settled
    /// and free any more (another batch took it): the caller rolls back.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_payout(
        &mut self,
        corp_id: i64,
        batch_id: i64,
        distributor_id: i64,
        amount_fen: i64,
        partner_trade_no: &str,
        commission_ids: &[i64],
        now: i64,
    ) -> Result<i64> {
        let id: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO payouts (corp_id, batch_id, distributor_id, amount_fen, partner_trade_no, state, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id",
            )
            .bind(corp_id)
            .bind(batch_id)
            .bind(distributor_id)
            .bind(amount_fen)
            .bind(partner_trade_no)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })
        .map_err(crate::StoreError::conflict_on("a payout with this trade number"))?;
        let list = placeholders(4, commission_ids.len());
        let sql = format!(
            "UPDATE commissions SET state = 'paying', payout_id = $1, updated_at = $2 \
             WHERE distributor_id = $3 AND state = 'settled' AND payout_id IS NULL AND id IN ({list})"
        );
        let n = on_tx!(self, |c| {
            let mut q = sqlx::query(&sql).bind(id).bind(now).bind(distributor_id);
            for cid in commission_ids {
                q = q.bind(*cid);
            }
            q.execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        if n != commission_ids.len() as u64 {
            return Err(crate::StoreError::Conflict { what: "a commission of this payout" });
        }
        Ok(id)
    }

    pub async fn payout_in_tx(&mut self, id: i64) -> Result<Option<PayoutRow>> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Ends a pending payout: paid (its commissions paid) or failed (its
    /// commissions settled again, free for the next batch: a refusal proves
    /// nothing was paid). False when it was not pending (an earlier attempt
    /// ended it).
    pub async fn finish_payout(
        &mut self,
        id: i64,
        paid: bool,
        payment_no: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let to = if paid { "paid" } else { "failed" };
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE payouts SET state = $1, payment_no = $2, reason = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'pending'",
            )
            .bind(to)
            .bind(payment_no)
            .bind(reason)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n != 1 {
            return Ok(false);
        }
        let sql = if paid {
            "UPDATE commissions SET state = 'paid', updated_at = $2 WHERE payout_id = $1 AND state = 'paying'"
        } else {
            "UPDATE commissions SET state = 'settled', payout_id = NULL, updated_at = $2 \
             WHERE payout_id = $1 AND state = 'paying'"
        };
        on_tx!(self, |c| sqlx::query(sql).bind(id).bind(now).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        Ok(true)
    }
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (0..n).map(|i| format!("${}", from + i)).collect::<Vec<_>>().join(", ")
}
