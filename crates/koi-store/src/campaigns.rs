//! Fission campaigns: `campaigns` with their tiers' inventory, participants
//! and their entries, invites (the invite tree), H5 visits, and the reward
//! ledger (`rewards`).
//!
//! Exactly once and within bounds, on both backends: a reward is one row per
//! (campaign, participant, tier) ([`Tx::insert_reward`]), and it holds a unit
//! of its tier's inventory and its cost of the budget only through the
//! conditional updates [`Tx::reserve_tier`] and [`Tx::reserve_budget`] in
//! the same transaction, which two transactions cannot both pass past the
//! bound (PostgreSQL re-reads the row under its lock; SQLite has one writer).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// The operator's draft (JSON).
    pub draft: String,
    pub budget_fen: i64,
    pub spent_fen: i64,
    pub public_token: String,
    pub seeded_at: Option<i64>,
    pub cleaned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const CAMPAIGN_COLUMNS: &str = "id, corp_id, name, kind, state, starts_at, ends_at, draft, budget_fen, spent_fen, \
     public_token, seeded_at, cleaned_at, created_at, updated_at";

/// What a new campaign or an edit writes.
#[derive(Debug, Clone)]
pub struct CampaignWrite<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub draft: &'a str,
    pub budget_fen: i64,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ParticipantRow {
    pub id: i64,
    pub corp_id: i64,
    pub campaign_id: i64,
    pub customer_id: i64,
    pub parent_id: Option<i64>,
    pub depth: i32,
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub source: String,
    pub token: String,
    /// none → queued → ready | failed; deleted after the campaign.
    pub entry_state: String,
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    pub entry_error: String,
    pub valid: i32,
    /// The message inviting them to take part: '' → sending → sent | failed.
    pub notice: String,
    pub joined_at: i64,
}

const PARTICIPANT_COLUMNS: &str = "id, corp_id, campaign_id, customer_id, parent_id, depth, staff_id, store_id, \
     source, token, entry_state, config_id, qr_code, entry_error, valid, notice, joined_at";

#[derive(Debug, Clone)]
pub struct NewParticipant<'a> {
    pub corp_id: i64,
    pub campaign_id: i64,
    pub customer_id: i64,
    pub parent_id: Option<i64>,
    pub depth: i32,
    pub staff_id: Option<i64>,
    pub store_id: Option<i64>,
    pub source: &'a str,
    pub token: &'a str,
    pub now: i64,
}

/// A participant as the console lists them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ParticipantListRow {
    pub id: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub staff_name: Option<String>,
    pub store_name: Option<String>,
    pub depth: i32,
    pub source: String,
    pub entry_state: String,
    pub valid: i32,
    pub pending: i64,
    pub rejected: i64,
    pub joined_at: i64,
    pub token: String,
    pub qr_code: Option<String>,
    /// Their entry's contact way or join way, once made.
    pub config_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub corp_id: i64,
    pub campaign_id: i64,
    pub inviter_id: i64,
    pub invitee_key: String,
    pub invitee_customer_id: Option<i64>,
    pub unionid: String,
    /// `add` (added a guide) or `join` (joined a group).
    pub via: String,
    pub staff_id: Option<i64>,
    pub group_id: Option<i64>,
    pub occurred_at: i64,
    pub counts_at: i64,
    /// pending, valid or rejected.
    pub state: String,
    pub reason: String,
    pub checked_at: Option<i64>,
    pub overridden_by: Option<i64>,
    pub decided_at: Option<i64>,
}

const INVITE_COLUMNS: &str = "id, corp_id, campaign_id, inviter_id, invitee_key, invitee_customer_id, unionid, via, \
     staff_id, group_id, occurred_at, counts_at, state, reason, checked_at, overridden_by, decided_at";

#[derive(Debug, Clone)]
pub struct NewInvite<'a> {
    pub corp_id: i64,
    pub campaign_id: i64,
    pub inviter_id: i64,
    pub invitee_key: &'a str,
    pub invitee_customer_id: Option<i64>,
    pub unionid: &'a str,
    pub via: &'a str,
    pub staff_id: Option<i64>,
    pub group_id: Option<i64>,
    pub occurred_at: i64,
    pub counts_at: i64,
    pub state: &'a str,
    pub reason: &'a str,
    pub now: i64,
}

/// An invite as the console and the H5 page list it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InviteListRow {
    pub id: i64,
    pub inviter_id: i64,
    pub inviter_customer_id: i64,
    pub inviter_name: String,
    pub invitee_key: String,
    pub invitee_customer_id: Option<i64>,
    pub invitee_name: Option<String>,
    pub via: String,
    pub occurred_at: i64,
    pub counts_at: i64,
    pub state: String,
    pub reason: String,
    pub overridden_by: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RewardRow {
    pub id: i64,
    pub corp_id: i64,
    pub campaign_id: i64,
    pub participant_id: i64,
    pub customer_id: i64,
    pub tier: i32,
    pub kind: String,
    pub title: String,
    pub amount: i64,
    pub cost_fen: i64,
    pub code: Option<String>,
    pub state: String,
    pub error: String,
    pub billno: String,
    pub pay_ref: String,
    pub notice: String,
    pub issued_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    pub redeemed_store_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const REWARD_COLUMNS: &str = "id, corp_id, campaign_id, participant_id, customer_id, tier, kind, title, amount, \
     cost_fen, code, state, error, billno, pay_ref, notice, issued_at, redeemed_at, redeemed_store_id, created_at, \
     updated_at";

#[derive(Debug, Clone)]
pub struct NewReward<'a> {
    pub corp_id: i64,
    pub campaign_id: i64,
    pub participant_id: i64,
    pub customer_id: i64,
    pub tier: i32,
    pub kind: &'a str,
    pub title: &'a str,
    pub amount: i64,
    pub cost_fen: i64,
    pub code: Option<&'a str>,
    pub billno: &'a str,
    pub now: i64,
}

/// The dashboard's headline counts of one campaign.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct CampaignTotals {
    pub participants: i64,
    pub sharers: i64,
    pub max_depth: i64,
    pub pending: i64,
    pub valid: i64,
    pub rejected: i64,
    pub rewards_issued: i64,
    pub rewards_waiting: i64,
    pub rewards_failed: i64,
    pub cost_fen: i64,
}

/// One row of the per-guide (or per-store) breakdown.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BreakdownRow {
    pub key_id: Option<i64>,
    pub name: Option<String>,
    pub participants: i64,
    pub valid: i64,
    pub pending: i64,
    pub rejected: i64,
}

/// Invites of one day by state, for the chart (`day` is ms at 00:00 UTC+8).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DayRow {
    pub day: i64,
    pub valid: i64,
    pub pending: i64,
    pub rejected: i64,
}

/// What opening a reward came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The participant has this tier's row already.
    Existed,
    /// A new row holding its unit and cost: to be issued.
    Reserved(i64),
    /// A new row holding nothing: `out_of_stock` or `over_budget`.
    Withheld(i64, &'static str),
}

/// Whether a conditional write took (one row or more).
pub(crate) fn affected(n: u64) -> bool {
    n > 0
}

impl Db {
    pub async fn campaigns(&self, corp_id: i64) -> Result<Vec<CampaignRow>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE corp_id = $1 ORDER BY id DESC");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn campaign(&self, corp_id: i64, id: i64) -> Result<Option<CampaignRow>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn campaign_by_token(&self, token: &str) -> Result<Option<CampaignRow>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE public_token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    /// Corps with a campaign that time or the hold still moves: live ones,
    /// ended ones with entries to delete, and any with invites or
    /// migration moves to decide.
    pub async fn corps_with_campaign_work(&self) -> Result<Vec<i64>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT corp_id FROM campaigns WHERE state IN ('scheduled', 'running', 'paused') \
                 OR (state = 'ended' AND cleaned_at IS NULL) \
                 UNION SELECT corp_id FROM campaign_invites WHERE checked_at IS NULL \
                 UNION SELECT corp_id FROM campaign_moves WHERE state = 'hold' ORDER BY corp_id",
            )
            .fetch_all(c)
            .await
        })?)
    }

    pub async fn participant_by_token(&self, token: &str) -> Result<Option<ParticipantRow>> {
        let sql = format!("SELECT {PARTICIPANT_COLUMNS} FROM campaign_participants WHERE token = $1");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).fetch_optional(c).await)?)
    }

    /// Participants of a campaign whose entry still exists in WeCom.
    pub async fn entries_to_delete(&self, campaign_id: i64, limit: i64) -> Result<Vec<ParticipantRow>> {
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM campaign_participants WHERE campaign_id = $1 \
             AND config_id IS NOT NULL AND entry_state <> 'deleted' ORDER BY id LIMIT $2"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(campaign_id).bind(limit).fetch_all(c).await)?)
    }

    pub async fn participant(&self, corp_id: i64, id: i64) -> Result<Option<ParticipantRow>> {
        let sql = format!("SELECT {PARTICIPANT_COLUMNS} FROM campaign_participants WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// A campaign's participants with their counts, the most valid first.
    pub async fn campaign_participants(
        &self,
        corp_id: i64,
        campaign_id: i64,
        limit: i64,
    ) -> Result<Vec<ParticipantListRow>> {
        let sql = "SELECT p.id, p.customer_id, cu.name AS customer_name, s.name AS staff_name, st.name AS store_name, \
             p.depth, p.source, p.entry_state, p.valid, \
             (SELECT COUNT(*) FROM campaign_invites i WHERE i.inviter_id = p.id AND i.state = 'pending') AS pending, \
             (SELECT COUNT(*) FROM campaign_invites i WHERE i.inviter_id = p.id AND i.state = 'rejected') AS rejected, \
             p.joined_at, p.token, p.qr_code, p.config_id \
             FROM campaign_participants p JOIN customers cu ON cu.id = p.customer_id \
             LEFT JOIN staff s ON s.id = p.staff_id LEFT JOIN stores st ON st.id = p.store_id \
             WHERE p.corp_id = $1 AND p.campaign_id = $2 ORDER BY p.valid DESC, p.id LIMIT $3";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql).bind(corp_id).bind(campaign_id).bind(limit).fetch_all(c).await
        })?)
    }

    /// A campaign's invites, newest first; `state` and `reason` filter when given.
    pub async fn campaign_invites(
        &self,
        corp_id: i64,
        campaign_id: i64,
        state: Option<&str>,
        reason: Option<&str>,
        inviter_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<InviteListRow>> {
        let sql = "SELECT i.id, i.inviter_id, p.customer_id AS inviter_customer_id, cu.name AS inviter_name, \
             i.invitee_key, i.invitee_customer_id, ci.name AS invitee_name, i.via, i.occurred_at, i.counts_at, \
             i.state, i.reason, i.overridden_by \
             FROM campaign_invites i JOIN campaign_participants p ON p.id = i.inviter_id \
             JOIN customers cu ON cu.id = p.customer_id LEFT JOIN customers ci ON ci.id = i.invitee_customer_id \
             WHERE i.corp_id = $1 AND i.campaign_id = $2 AND ($3 = '' OR i.state = $3) AND ($4 = '' OR i.reason = $4) \
             AND ($5 = 0 OR i.inviter_id = $5) ORDER BY i.occurred_at DESC, i.id DESC LIMIT $6";
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(sql)
                .bind(corp_id)
                .bind(campaign_id)
                .bind(state.unwrap_or(""))
                .bind(reason.unwrap_or(""))
                .bind(inviter_id.unwrap_or(0))
                .bind(limit)
                .fetch_all(c)
                .await
        })?)
    }

    /// A campaign's rewards, or one participant's.
    pub async fn campaign_rewards(
        &self,
        corp_id: i64,
        campaign_id: i64,
        participant_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RewardRow>> {
        let sql = format!(
            "SELECT {REWARD_COLUMNS} FROM rewards WHERE corp_id = $1 AND campaign_id = $2 \
             AND ($3 = 0 OR participant_id = $3) ORDER BY id DESC LIMIT $4"
        );
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(&sql)
                .bind(corp_id)
                .bind(campaign_id)
                .bind(participant_id.unwrap_or(0))
                .bind(limit)
                .fetch_all(c)
                .await
        })?)
    }

    pub async fn reward(&self, corp_id: i64, id: i64) -> Result<Option<RewardRow>> {
        let sql = format!("SELECT {REWARD_COLUMNS} FROM rewards WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn reward_by_code(&self, corp_id: i64, code: &str) -> Result<Option<RewardRow>> {
        let sql = format!("SELECT {REWARD_COLUMNS} FROM rewards WHERE corp_id = $1 AND code = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(code).fetch_optional(c).await)?)
    }

    pub async fn campaign_totals(&self, corp_id: i64, campaign_id: i64) -> Result<CampaignTotals> {
        let sql = "SELECT \
             (SELECT COUNT(*) FROM campaign_participants WHERE corp_id = $1 AND campaign_id = $2) AS participants, \
             (SELECT COUNT(DISTINCT inviter_id) FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2) AS sharers, \
             (SELECT CAST(COALESCE(MAX(depth), 0) AS BIGINT) FROM campaign_participants \
              WHERE corp_id = $1 AND campaign_id = $2) AS max_depth, \
             (SELECT COUNT(*) FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2 AND state = 'pending') AS pending, \
             (SELECT COUNT(*) FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2 AND state = 'valid') AS valid, \
             (SELECT COUNT(*) FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2 AND state = 'rejected') AS rejected, \
             (SELECT COUNT(*) FROM rewards WHERE corp_id = $1 AND campaign_id = $2 AND state IN ('issued', 'redeemed')) \
              AS rewards_issued, \
             (SELECT COUNT(*) FROM rewards WHERE corp_id = $1 AND campaign_id = $2 AND state IN ('pending', 'withheld')) \
              AS rewards_waiting, \
             (SELECT COUNT(*) FROM rewards WHERE corp_id = $1 AND campaign_id = $2 AND state = 'failed') AS rewards_failed, \
             (SELECT CAST(COALESCE(SUM(cost_fen), 0) AS BIGINT) FROM rewards WHERE corp_id = $1 AND campaign_id = $2 \
              AND state IN ('issued', 'redeemed')) AS cost_fen";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).bind(campaign_id).fetch_one(c).await)?)
    }

    /// Rejected invites by reason.
    pub async fn campaign_reasons(&self, corp_id: i64, campaign_id: i64) -> Result<Vec<(String, i64)>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT reason, COUNT(*) FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2 \
                 AND state = 'rejected' GROUP BY reason ORDER BY COUNT(*) DESC, reason",
            )
            .bind(corp_id)
            .bind(campaign_id)
            .fetch_all(c)
            .await
        })?)
    }

    /// Participants and their invites per guide (`by_store` false) or per
    /// store (true), the most valid first.
    pub async fn campaign_breakdown(
        &self,
        corp_id: i64,
        campaign_id: i64,
        by_store: bool,
    ) -> Result<Vec<BreakdownRow>> {
        let (key, join) = if by_store {
            ("p.store_id", "LEFT JOIN stores n ON n.id = p.store_id")
        } else {
            ("p.staff_id", "LEFT JOIN staff n ON n.id = p.staff_id")
        };
        let sql = format!(
            "SELECT {key} AS key_id, n.name AS name, COUNT(*) AS participants, \
             CAST(COALESCE(SUM(p.valid), 0) AS BIGINT) AS valid, \
             CAST(COALESCE(SUM((SELECT COUNT(*) FROM campaign_invites i WHERE i.inviter_id = p.id \
               AND i.state = 'pending')), 0) AS BIGINT) AS pending, \
             CAST(COALESCE(SUM((SELECT COUNT(*) FROM campaign_invites i WHERE i.inviter_id = p.id \
               AND i.state = 'rejected')), 0) AS BIGINT) AS rejected \
             FROM campaign_participants p {join} WHERE p.corp_id = $1 AND p.campaign_id = $2 \
             GROUP BY {key}, n.name ORDER BY valid DESC, participants DESC"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(campaign_id).fetch_all(c).await)?)
    }

    /// Invites per day (UTC+8 days) by state.
    pub async fn campaign_days(&self, corp_id: i64, campaign_id: i64) -> Result<Vec<DayRow>> {
        let sql = "SELECT ((occurred_at + 28800000) / 86400000) * 86400000 - 28800000 AS day, \
             CAST(COALESCE(SUM(CASE WHEN state = 'valid' THEN 1 ELSE 0 END), 0) AS BIGINT) AS valid, \
             CAST(COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
             CAST(COALESCE(SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END), 0) AS BIGINT) AS rejected \
             FROM campaign_invites WHERE corp_id = $1 AND campaign_id = $2 GROUP BY 1 ORDER BY 1";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).bind(campaign_id).fetch_all(c).await)?)
    }
}

impl Tx {
    pub async fn insert_campaign(&mut self, corp_id: i64, w: &CampaignWrite<'_>, token: &str) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO campaigns (corp_id, name, kind, starts_at, ends_at, draft, budget_fen, public_token, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(corp_id)
            .bind(w.name)
            .bind(w.kind)
            .bind(w.starts_at)
            .bind(w.ends_at)
            .bind(w.draft)
            .bind(w.budget_fen)
            .bind(token)
            .bind(w.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// The campaign, locked for the rest of the transaction on PostgreSQL
    /// (SQLite's one writer serialises anyway), so an edit and a state
    /// change cannot interleave.
    pub async fn campaign_for_update(&mut self, corp_id: i64, id: i64) -> Result<Option<CampaignRow>> {
        let lock = crate::dialect::lock_row(self);
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE corp_id = $1 AND id = $2{lock}");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// The corp's campaigns that time may move or whose entries wait to be deleted.
    pub async fn campaigns_in_motion(&mut self, corp_id: i64) -> Result<Vec<CampaignRow>> {
        let sql = format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE corp_id = $1 AND \
             (state IN ('scheduled', 'running', 'paused') OR (state = 'ended' AND cleaned_at IS NULL)) ORDER BY id"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(&mut *c).await)?)
    }

    pub async fn campaign_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<CampaignRow>> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    pub async fn update_campaign(&mut self, corp_id: i64, id: i64, w: &CampaignWrite<'_>) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaigns SET name = $1, kind = $2, starts_at = $3, ends_at = $4, draft = $5, budget_fen = $6, \
                 updated_at = $7 WHERE corp_id = $8 AND id = $9",
            )
            .bind(w.name)
            .bind(w.kind)
            .bind(w.starts_at)
            .bind(w.ends_at)
            .bind(w.draft)
            .bind(w.budget_fen)
            .bind(w.now)
            .bind(corp_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Moves a campaign from `from` to `to`; false when it was not in `from`.
    pub async fn set_campaign_state(&mut self, id: i64, from: &str, to: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
                .bind(to)
                .bind(now)
                .bind(id)
                .bind(from)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Marks the seed audience enrolled; false when it was already.
    pub async fn mark_campaign_seeded(&mut self, id: i64, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE campaigns SET seeded_at = $1 WHERE id = $2 AND seeded_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    pub async fn mark_campaign_cleaned(&mut self, id: i64, now: i64) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("UPDATE campaigns SET cleaned_at = $1 WHERE id = $2 AND cleaned_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Sets a tier's inventory (None: no bound), keeping what was issued.
    pub async fn set_tier_inventory(&mut self, campaign_id: i64, tier: i32, inventory: Option<i32>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO campaign_tiers (campaign_id, tier, inventory) VALUES ($1, $2, $3) \
                 ON CONFLICT (campaign_id, tier) DO UPDATE SET inventory = excluded.inventory",
            )
            .bind(campaign_id)
            .bind(tier)
            .bind(inventory)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Enrolls a customer; `None` when they take part already.
    pub async fn insert_participant(&mut self, p: &NewParticipant<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO campaign_participants (corp_id, campaign_id, customer_id, parent_id, depth, staff_id, \
                 store_id, source, token, joined_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (campaign_id, customer_id) DO NOTHING RETURNING id",
            )
            .bind(p.corp_id)
            .bind(p.campaign_id)
            .bind(p.customer_id)
            .bind(p.parent_id)
            .bind(p.depth)
            .bind(p.staff_id)
            .bind(p.store_id)
            .bind(p.source)
            .bind(p.token)
            .bind(p.now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    pub async fn participant_in_tx(&mut self, id: i64) -> Result<Option<ParticipantRow>> {
        let sql = format!("SELECT {PARTICIPANT_COLUMNS} FROM campaign_participants WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
    }

    pub async fn participant_of(&mut self, campaign_id: i64, customer_id: i64) -> Result<Option<ParticipantRow>> {
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM campaign_participants WHERE campaign_id = $1 AND customer_id = $2"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(campaign_id).bind(customer_id).fetch_optional(&mut *c).await)?)
    }

    /// Moves a participant's entry from `from` to `state`; false when it was not in `from`.
    pub async fn set_entry(
        &mut self,
        id: i64,
        from: &[&str],
        state: &str,
        config_id: Option<&str>,
        qr_code: Option<&str>,
        error: &str,
    ) -> Result<bool> {
        self.move_entry("campaign_participants", id, from, state, config_id, qr_code, error).await
    }

    /// Moves the entry (a contact or join way) of a row of `table` — a
    /// participant's or a migration's old group's — from `from` to `state`;
    /// false when it was not in `from`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn move_entry(
        &mut self,
        table: &'static str,
        id: i64,
        from: &[&str],
        state: &str,
        config_id: Option<&str>,
        qr_code: Option<&str>,
        error: &str,
    ) -> Result<bool> {
        let from = from.join(",");
        let sql = format!(
            "UPDATE {table} SET entry_state = $1, config_id = COALESCE($2, config_id), \
             qr_code = COALESCE($3, qr_code), entry_error = $4 WHERE id = $5 \
             AND (',' || $6 || ',') LIKE ('%,' || entry_state || ',%')"
        );
        let n = on_tx!(self, |c| {
            sqlx::query(&sql)
                .bind(state)
                .bind(config_id)
                .bind(qr_code)
                .bind(error)
                .bind(id)
                .bind(&from)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Moves a campaign message from `from` to `to`: a reward's progress
    /// message (`reward_id`), or else the participant's invitation.
    pub async fn set_notice(
        &mut self,
        reward_id: Option<i64>,
        participant_id: i64,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let (sql, id) = match reward_id {
            Some(r) => ("UPDATE rewards SET notice = $1 WHERE id = $2 AND notice = $3", r),
            None => ("UPDATE campaign_participants SET notice = $1 WHERE id = $2 AND notice = $3", participant_id),
        };
        let n = on_tx!(self, |c| {
            sqlx::query(sql).bind(to).bind(id).bind(from).execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// A customer's guide and store: the latest live follow's.
    pub async fn latest_follow_of(&mut self, corp_id: i64, customer_id: i64) -> Result<Option<(i64, Option<i64>)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT staff_id, store_id FROM follows WHERE corp_id = $1 AND customer_id = $2 \
                 AND deleted_at IS NULL ORDER BY added_at DESC, id DESC LIMIT 1",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Whether a customer followed any staff of the corp before `at`.
    pub async fn followed_before_time(&mut self, corp_id: i64, customer_id: i64, at: i64) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE corp_id = $1 AND customer_id = $2 AND added_at < $3")
                .bind(corp_id)
                .bind(customer_id)
                .bind(at)
                .fetch_one(&mut *c)
                .await
        })?;
        Ok(n > 0)
    }

    /// The corp's stores with coordinates: (id, lat, lng).
    pub async fn store_points(&mut self, corp_id: i64) -> Result<Vec<(i64, f64, f64)>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT id, lat, lng FROM stores WHERE corp_id = $1 AND lat IS NOT NULL AND lng IS NOT NULL ORDER BY id",
            )
            .bind(corp_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// The inviter (a customer) of a customer in a campaign.
    pub async fn parent_customer(&mut self, campaign_id: i64, customer_id: i64) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT q.customer_id FROM campaign_participants p JOIN campaign_participants q ON q.id = p.parent_id \
                 WHERE p.campaign_id = $1 AND p.customer_id = $2",
            )
            .bind(campaign_id)
            .bind(customer_id)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// The customer's neighbours in the corp's invite graph: everyone they
    /// invited and everyone who invited them, in any campaign, whatever the
    /// verdict (risk control's dense cliques). Invitees koi knows no
    /// customer for are left out.
    pub async fn invite_neighbours(&mut self, corp_id: i64, customer_id: i64) -> Result<Vec<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT i.invitee_customer_id FROM campaign_participants p \
                 JOIN campaign_invites i ON i.inviter_id = p.id \
                 WHERE p.corp_id = $1 AND p.customer_id = $2 AND i.invitee_customer_id IS NOT NULL \
                 UNION \
                 SELECT p.customer_id FROM campaign_invites i \
                 JOIN campaign_participants p ON p.id = i.inviter_id \
                 WHERE i.corp_id = $1 AND i.invitee_customer_id = $2",
            )
            .bind(corp_id)
            .bind(customer_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    /// Records an invite; `None` when this very add or join is on record.
    pub async fn insert_invite(&mut self, i: &NewInvite<'_>) -> Result<Option<i64>> {
        let decided = (i.state != "pending").then_some(i.now);
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO campaign_invites (corp_id, campaign_id, inviter_id, invitee_key, invitee_customer_id, \
                 unionid, via, staff_id, group_id, occurred_at, counts_at, state, reason, decided_at, checked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                 CASE WHEN $12 = 'rejected' THEN $15 ELSE NULL END) \
                 ON CONFLICT (campaign_id, inviter_id, invitee_key, occurred_at) DO NOTHING RETURNING id",
            )
            .bind(i.corp_id)
            .bind(i.campaign_id)
            .bind(i.inviter_id)
            .bind(i.invitee_key)
            .bind(i.invitee_customer_id)
            .bind(i.unionid)
            .bind(i.via)
            .bind(i.staff_id)
            .bind(i.group_id)
            .bind(i.occurred_at)
            .bind(i.counts_at)
            .bind(i.state)
            .bind(i.reason)
            .bind(decided)
            .bind(i.now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Whether the invitee (or someone with the same unionid) was invited in
    /// the campaign before `before`.
    pub async fn invited_before(
        &mut self,
        campaign_id: i64,
        invitee_key: &str,
        unionid: &str,
        before: i64,
    ) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM campaign_invites WHERE campaign_id = $1 AND occurred_at < $4 \
                 AND (invitee_key = $2 OR ($3 <> '' AND unionid = $3))",
            )
            .bind(campaign_id)
            .bind(invitee_key)
            .bind(unionid)
            .bind(before)
            .fetch_one(&mut *c)
            .await
        })?;
        Ok(n > 0)
    }

    /// Invites a participant brought in `[since, until)`.
    pub async fn invites_between(&mut self, inviter_id: i64, since: i64, until: i64) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM campaign_invites WHERE inviter_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
            )
            .bind(inviter_id)
            .bind(since)
            .bind(until)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// The corp's invites whose hold has passed and whose checks have not run.
    pub async fn due_invites(&mut self, corp_id: i64, now: i64, limit: i64) -> Result<Vec<InviteRow>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM campaign_invites WHERE corp_id = $1 AND checked_at IS NULL \
             AND counts_at <= $2 ORDER BY counts_at, id LIMIT $3"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(now).bind(limit).fetch_all(&mut *c).await)?)
    }

    /// The invites of an invitee that the hold still watches (not checked).
    pub async fn watched_invites_of(&mut self, corp_id: i64, invitee_key: &str, via: &str) -> Result<Vec<InviteRow>> {
        let sql = format!(
            "SELECT {INVITE_COLUMNS} FROM campaign_invites WHERE corp_id = $1 AND invitee_key = $2 AND via = $3 \
             AND checked_at IS NULL ORDER BY id"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(invitee_key).bind(via).fetch_all(&mut *c).await)?)
    }

    pub async fn invite_in_tx(&mut self, corp_id: i64, id: i64) -> Result<Option<InviteRow>> {
        let sql = format!("SELECT {INVITE_COLUMNS} FROM campaign_invites WHERE corp_id = $1 AND id = $2");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Records an invite's verdict. `checked` closes its hold; only an invite
    /// not checked yet (or any, for an operator's override) moves.
    pub async fn decide_invite(
        &mut self,
        id: i64,
        state: &str,
        reason: &str,
        checked: bool,
        overridden_by: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaign_invites SET state = $1, reason = $2, decided_at = $3, \
                 checked_at = CASE WHEN $4 THEN $3 ELSE checked_at END, \
                 overridden_by = COALESCE($5, overridden_by) \
                 WHERE id = $6 AND (checked_at IS NULL OR $5 IS NOT NULL)",
            )
            .bind(state)
            .bind(reason)
            .bind(now)
            .bind(checked)
            .bind(overridden_by)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Recounts a participant's valid invites and returns the count.
    pub async fn recount_valid(&mut self, participant_id: i64) -> Result<i32> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE campaign_participants SET valid = (SELECT COUNT(*) FROM campaign_invites \
                 WHERE inviter_id = $1 AND state = 'valid') WHERE id = $1 RETURNING valid",
            )
            .bind(participant_id)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// How many of an inviter's invitees (the invitee included) were seen on
    /// a device or an address the invitee's H5 page was seen on.
    pub async fn invitee_cluster(
        &mut self,
        campaign_id: i64,
        inviter_id: i64,
        invitee_participant: i64,
    ) -> Result<i64> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(DISTINCT p.id) FROM campaign_invites i \
                 JOIN campaign_participants p ON p.campaign_id = i.campaign_id AND p.customer_id = i.invitee_customer_id \
                 JOIN campaign_visits v ON v.participant_id = p.id \
                 WHERE i.campaign_id = $1 AND i.inviter_id = $2 AND ( \
                   v.device IN (SELECT device FROM campaign_visits WHERE participant_id = $3 AND device <> '') \
                   OR v.address IN (SELECT address FROM campaign_visits WHERE participant_id = $3 AND address <> ''))",
            )
            .bind(campaign_id)
            .bind(inviter_id)
            .bind(invitee_participant)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// The last location a participant's H5 page shared.
    pub async fn participant_location(&mut self, participant_id: i64) -> Result<Option<(f64, f64)>> {
        let row: Option<(Option<f64>, Option<f64>)> = on_tx!(self, |c| {
            sqlx::query_as(
                "SELECT lat, lng FROM campaign_visits WHERE participant_id = $1 AND lat IS NOT NULL \
                 AND lng IS NOT NULL ORDER BY at DESC, id DESC LIMIT 1",
            )
            .bind(participant_id)
            .fetch_optional(&mut *c)
            .await
        })?;
        Ok(row.and_then(|(lat, lng)| Some((lat?, lng?))))
    }

    /// Whether a member is in a group now.
    pub async fn member_present(&mut self, group_id: i64, userid: &str) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM group_members WHERE group_id = $1 AND userid = $2 AND left_at IS NULL",
            )
            .bind(group_id)
            .bind(userid)
            .fetch_one(&mut *c)
            .await
        })?;
        Ok(n > 0)
    }

    pub async fn insert_visit(
        &mut self,
        p: &ParticipantRow,
        device: &str,
        address: &str,
        location: Option<(f64, f64)>,
        at: i64,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO campaign_visits (corp_id, campaign_id, participant_id, device, address, lat, lng, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(p.corp_id)
            .bind(p.campaign_id)
            .bind(p.id)
            .bind(device)
            .bind(address)
            .bind(location.map(|l| l.0))
            .bind(location.map(|l| l.1))
            .bind(at)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Opens a reward's ledger row (state `pending`); `None` when the
    /// participant has this tier's row already.
    pub async fn insert_reward(&mut self, r: &NewReward<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO rewards (corp_id, campaign_id, participant_id, customer_id, tier, kind, title, amount, \
                 cost_fen, code, state, billno, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $12) \
                 ON CONFLICT (campaign_id, participant_id, tier) DO NOTHING RETURNING id",
            )
            .bind(r.corp_id)
            .bind(r.campaign_id)
            .bind(r.participant_id)
            .bind(r.customer_id)
            .bind(r.tier)
            .bind(r.kind)
            .bind(r.title)
            .bind(r.amount)
            .bind(r.cost_fen)
            .bind(r.code)
            .bind(r.billno)
            .bind(r.now)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// Opens a reward's ledger row and reserves its unit and cost, all in
    /// this transaction: a participant's tier is one row whatever retries
    /// do, and rewards past the inventory or the budget are kept
    /// `withheld`, holding nothing.
    pub async fn open_reward(&mut self, r: &NewReward<'_>) -> Result<Opened> {
        let Some(id) = self.insert_reward(r).await? else { return Ok(Opened::Existed) };
        Ok(match self.reserve(id, r.campaign_id, r.tier, r.cost_fen, r.now).await? {
            None => Opened::Reserved(id),
            Some(why) => Opened::Withheld(id, why),
        })
    }

    /// Reserves a withheld reward again (after the budget or the inventory
    /// grew); true when it is pending now.
    pub async fn reopen_reward(&mut self, r: &RewardRow, now: i64) -> Result<bool> {
        if r.state != "withheld" && r.state != "revoked" {
            return Ok(false);
        }
        Ok(self.reserve(r.id, r.campaign_id, r.tier, r.cost_fen, now).await?.is_none()
            && self.set_reward_state(r.id, &["withheld", "revoked"], "pending", "", None, now).await?)
    }

    /// Takes a unit and the cost for reward `id`, or marks it withheld and
    /// says why (holding nothing).
    async fn reserve(
        &mut self,
        id: i64,
        campaign_id: i64,
        tier: i32,
        cost: i64,
        now: i64,
    ) -> Result<Option<&'static str>> {
        let why = if !self.reserve_tier(campaign_id, tier).await? {
            "out_of_stock"
        } else if !self.reserve_budget(campaign_id, cost).await? {
            self.release_unit(campaign_id, tier).await?;
            "over_budget"
        } else {
            return Ok(None);
        };
        self.set_reward_state(id, &["pending", "withheld", "revoked"], "withheld", why, None, now).await?;
        Ok(Some(why))
    }

    /// Takes one unit of a tier's inventory; false when none is left. A
    /// tier without a row or without a bound has no limit.
    pub async fn reserve_tier(&mut self, campaign_id: i64, tier: i32) -> Result<bool> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO campaign_tiers (campaign_id, tier, inventory) VALUES ($1, $2, NULL) \
                 ON CONFLICT (campaign_id, tier) DO NOTHING",
            )
            .bind(campaign_id)
            .bind(tier)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaign_tiers SET issued = issued + 1 WHERE campaign_id = $1 AND tier = $2 \
                 AND (inventory IS NULL OR issued < inventory)",
            )
            .bind(campaign_id)
            .bind(tier)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Takes `cost` from the campaign's budget; false when it would go past it.
    pub async fn reserve_budget(&mut self, campaign_id: i64, cost: i64) -> Result<bool> {
        if cost == 0 {
            return Ok(true);
        }
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaigns SET spent_fen = spent_fen + $1 WHERE id = $2 AND spent_fen + $1 <= budget_fen",
            )
            .bind(cost)
            .bind(campaign_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Gives back a reward's unit and cost (a revoked reward).
    pub async fn release_reward(&mut self, r: &RewardRow) -> Result<()> {
        self.release_unit(r.campaign_id, r.tier).await?;
        on_tx!(self, |c| {
            sqlx::query("UPDATE campaigns SET spent_fen = spent_fen - $1 WHERE id = $2 AND spent_fen >= $1")
                .bind(r.cost_fen)
                .bind(r.campaign_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn release_unit(&mut self, campaign_id: i64, tier: i32) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaign_tiers SET issued = issued - 1 WHERE campaign_id = $1 AND tier = $2 AND issued > 0",
            )
            .bind(campaign_id)
            .bind(tier)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    pub async fn reward_in_tx(&mut self, id: i64) -> Result<Option<RewardRow>> {
        let sql = format!("SELECT {REWARD_COLUMNS} FROM rewards WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
    }

    pub async fn rewards_of_participant(&mut self, participant_id: i64) -> Result<Vec<RewardRow>> {
        let sql = format!("SELECT {REWARD_COLUMNS} FROM rewards WHERE participant_id = $1 ORDER BY tier");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(participant_id).fetch_all(&mut *c).await)?)
    }

    /// Moves a reward from one of `from` to `to`; false when it was in none.
    pub async fn set_reward_state(
        &mut self,
        id: i64,
        from: &[&str],
        to: &str,
        error: &str,
        pay_ref: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let from = from.join(",");
        let issued = (to == "issued").then_some(now);
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE rewards SET state = $1, error = $2, pay_ref = COALESCE($3, pay_ref), \
                 issued_at = COALESCE($4, issued_at), updated_at = $5 \
                 WHERE id = $6 AND (',' || $7 || ',') LIKE ('%,' || state || ',%')",
            )
            .bind(to)
            .bind(error)
            .bind(pay_ref)
            .bind(issued)
            .bind(now)
            .bind(id)
            .bind(&from)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Redeems an issued reward by its code; the reward, or None when the
    /// code is unknown or not redeemable (used, revoked, not issued).
    pub async fn redeem_reward(
        &mut self,
        corp_id: i64,
        code: &str,
        store_id: Option<i64>,
        now: i64,
    ) -> Result<Option<RewardRow>> {
        let sql = format!(
            "UPDATE rewards SET state = 'redeemed', redeemed_at = $1, redeemed_store_id = $2, updated_at = $1 \
             WHERE corp_id = $3 AND code = $4 AND state = 'issued' RETURNING {REWARD_COLUMNS}"
        );
        Ok(on_tx!(self, |c| {
            sqlx::query_as(&sql).bind(now).bind(store_id).bind(corp_id).bind(code).fetch_optional(&mut *c).await
        })?)
    }
}
