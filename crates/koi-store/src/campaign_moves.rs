//! Migration campaigns' own rows: the old WeChat groups with their entries
//! (`campaign_old_groups`) and the members who moved (`campaign_moves`).
//! A move is one row per (campaign, member), so a member who leaves and
//! re-joins, or scans a second old group's entry, stays one move; the join
//! reward goes through the reward ledger of `campaigns` (tier 0 of the
//! member's participant row), once.

use crate::campaigns::affected;
use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OldGroupRow {
    pub id: i64,
    pub corp_id: i64,
    pub campaign_id: i64,
    pub position: i32,
    pub name: String,
    pub declared_size: i32,
    /// none → queued → ready | failed; deleted after the campaign.
    pub entry_state: String,
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    pub entry_error: String,
    pub created_at: i64,
}

const OLD_GROUP_COLUMNS: &str = "id, corp_id, campaign_id, position, name, declared_size, entry_state, config_id, \
     qr_code, entry_error, created_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MoveRow {
    pub id: i64,
    pub corp_id: i64,
    pub campaign_id: i64,
    pub old_group_id: i64,
    pub member_key: String,
    pub customer_id: Option<i64>,
    pub group_id: i64,
    pub joined_at: i64,
    pub counts_at: i64,
    /// hold, moved or left.
    pub state: String,
    pub decided_at: Option<i64>,
    pub participant_id: Option<i64>,
}

const MOVE_COLUMNS: &str = "id, corp_id, campaign_id, old_group_id, member_key, customer_id, group_id, joined_at, \
     counts_at, state, decided_at, participant_id";

#[derive(Debug, Clone)]
pub struct NewMove<'a> {
    pub corp_id: i64,
    pub campaign_id: i64,
    pub old_group_id: i64,
    pub member_key: &'a str,
    pub customer_id: Option<i64>,
    pub group_id: i64,
    pub joined_at: i64,
    pub counts_at: i64,
}

/// One old group's line of the migration dashboard.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OldGroupBoardRow {
    pub id: i64,
    pub position: i32,
    pub name: String,
    pub declared_size: i32,
    pub entry_state: String,
    pub qr_code: Option<String>,
    /// Members who joined through its entry.
    pub entered: i64,
    pub moved: i64,
    pub in_hold: i64,
    pub left: i64,
    /// Join rewards issued (or redeemed) to its moved members.
    pub rewards_issued: i64,
}

impl Db {
    /// A campaign's old groups in the operator's order.
    pub async fn old_groups(&self, corp_id: i64, campaign_id: i64) -> Result<Vec<OldGroupRow>> {
        let sql = format!(
            "SELECT {OLD_GROUP_COLUMNS} FROM campaign_old_groups WHERE corp_id = $1 AND campaign_id = $2 \
             ORDER BY position"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(campaign_id).fetch_all(c).await)?)
    }

    pub async fn old_group(&self, corp_id: i64, id: i64) -> Result<Option<OldGroupRow>> {
        let sql = format!("SELECT {OLD_GROUP_COLUMNS} FROM campaign_old_groups WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// Old groups of a campaign whose entry still exists in WeCom.
    pub async fn old_group_entries_to_delete(&self, campaign_id: i64, limit: i64) -> Result<Vec<OldGroupRow>> {
        let sql = format!(
            "SELECT {OLD_GROUP_COLUMNS} FROM campaign_old_groups WHERE campaign_id = $1 \
             AND config_id IS NOT NULL AND entry_state <> 'deleted' ORDER BY id LIMIT $2"
        );
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(campaign_id).bind(limit).fetch_all(c).await)?)
    }

    /// The dashboard's lines: per old group, its moves by state and the
    /// join rewards issued to them.
    pub async fn migration_board(&self, corp_id: i64, campaign_id: i64) -> Result<Vec<OldGroupBoardRow>> {
        let sql = "SELECT o.id, o.position, o.name, o.declared_size, o.entry_state, o.qr_code, \
             (SELECT COUNT(*) FROM campaign_moves m WHERE m.old_group_id = o.id) AS entered, \
             (SELECT COUNT(*) FROM campaign_moves m WHERE m.old_group_id = o.id AND m.state = 'moved') AS moved, \
             (SELECT COUNT(*) FROM campaign_moves m WHERE m.old_group_id = o.id AND m.state = 'hold') AS in_hold, \
             (SELECT COUNT(*) FROM campaign_moves m WHERE m.old_group_id = o.id AND m.state = 'left') AS \"left\", \
             (SELECT COUNT(*) FROM campaign_moves m JOIN rewards r ON r.participant_id = m.participant_id \
               AND r.tier = 0 WHERE m.old_group_id = o.id AND r.state IN ('issued', 'redeemed')) AS rewards_issued \
             FROM campaign_old_groups o WHERE o.corp_id = $1 AND o.campaign_id = $2 ORDER BY o.position";
        Ok(on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).bind(campaign_id).fetch_all(c).await)?)
    }
}

impl Tx {
    /// Makes a campaign's old groups those of its draft, by position: new
    /// ones are added, changed ones renamed or resized, and ones past the
    /// list's end dropped (only a campaign nobody moved in yet loses any:
    /// a live one may only add).
    pub async fn sync_old_groups(
        &mut self,
        corp_id: i64,
        campaign_id: i64,
        groups: &[(&str, i32)],
        now: i64,
    ) -> Result<()> {
        for (i, (name, size)) in groups.iter().enumerate() {
            let position = i32::try_from(i).unwrap_or(i32::MAX);
            on_tx!(self, |c| {
                sqlx::query(
                    "INSERT INTO campaign_old_groups (corp_id, campaign_id, position, name, declared_size, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id, position) \
                     DO UPDATE SET name = excluded.name, declared_size = excluded.declared_size",
                )
                .bind(corp_id)
                .bind(campaign_id)
                .bind(position)
                .bind(*name)
                .bind(*size)
                .bind(now)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        let len = i32::try_from(groups.len()).unwrap_or(i32::MAX);
        on_tx!(self, |c| {
            sqlx::query(
                "DELETE FROM campaign_old_groups WHERE campaign_id = $1 AND position >= $2 \
                 AND NOT EXISTS (SELECT 1 FROM campaign_moves m WHERE m.old_group_id = campaign_old_groups.id)",
            )
            .bind(campaign_id)
            .bind(len)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Queues the entries of a campaign's old groups that have none yet;
    /// returns the old groups queued.
    pub async fn queue_old_group_entries(&mut self, campaign_id: i64) -> Result<Vec<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "UPDATE campaign_old_groups SET entry_state = 'queued', entry_error = '' \
                 WHERE campaign_id = $1 AND entry_state = 'none' RETURNING id",
            )
            .bind(campaign_id)
            .fetch_all(&mut *c)
            .await
        })?)
    }

    pub async fn old_group_in_tx(&mut self, id: i64) -> Result<Option<OldGroupRow>> {
        let sql = format!("SELECT {OLD_GROUP_COLUMNS} FROM campaign_old_groups WHERE id = $1");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(id).fetch_optional(&mut *c).await)?)
    }

    /// Moves an old group's entry from `from` to `state`; false when it was not in `from`.
    pub async fn set_old_group_entry(
        &mut self,
        id: i64,
        from: &[&str],
        state: &str,
        config_id: Option<&str>,
        qr_code: Option<&str>,
        error: &str,
    ) -> Result<bool> {
        self.move_entry("campaign_old_groups", id, from, state, config_id, qr_code, error).await
    }

    /// Records a member's join through an old group's entry; `None` when the
    /// member has a move in this campaign already (a re-join, a second entry).
    pub async fn insert_move(&mut self, m: &NewMove<'_>) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO campaign_moves (corp_id, campaign_id, old_group_id, member_key, customer_id, group_id, \
                 joined_at, counts_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (campaign_id, member_key) DO NOTHING RETURNING id",
            )
            .bind(m.corp_id)
            .bind(m.campaign_id)
            .bind(m.old_group_id)
            .bind(m.member_key)
            .bind(m.customer_id)
            .bind(m.group_id)
            .bind(m.joined_at)
            .bind(m.counts_at)
            .fetch_optional(&mut *c)
            .await
        })?)
    }

    /// A member's moves into a group still in their hold.
    pub async fn moves_in_hold_of(&mut self, corp_id: i64, member_key: &str, group_id: i64) -> Result<Vec<MoveRow>> {
        let sql = format!(
            "SELECT {MOVE_COLUMNS} FROM campaign_moves WHERE corp_id = $1 AND member_key = $2 AND group_id = $3 \
             AND state = 'hold' ORDER BY id"
        );
        Ok(on_tx!(self, |c| {
            sqlx::query_as(&sql).bind(corp_id).bind(member_key).bind(group_id).fetch_all(&mut *c).await
        })?)
    }

    /// The corp's moves whose hold has passed.
    pub async fn due_moves(&mut self, corp_id: i64, now: i64, limit: i64) -> Result<Vec<MoveRow>> {
        let sql = format!(
            "SELECT {MOVE_COLUMNS} FROM campaign_moves WHERE corp_id = $1 AND state = 'hold' AND counts_at <= $2 \
             ORDER BY counts_at, id LIMIT $3"
        );
        Ok(on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(now).bind(limit).fetch_all(&mut *c).await)?)
    }

    /// Decides a move still in hold: `moved` or `left`; false when it was decided already.
    pub async fn decide_move(&mut self, id: i64, state: &str, now: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE campaign_moves SET state = $1, decided_at = $2 WHERE id = $3 AND state = 'hold'")
                .bind(state)
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }

    /// Moved members of the corp whose join reward is not open yet, with the
    /// customer koi knows them as now (moves of members koi does not know as
    /// customers yet wait for them to become one).
    pub async fn moves_to_reward(&mut self, corp_id: i64, limit: i64) -> Result<Vec<(MoveRow, i64)>> {
        let sql = "SELECT m.id, m.corp_id, m.campaign_id, m.old_group_id, m.member_key, m.customer_id, m.group_id, \
             m.joined_at, m.counts_at, m.state, m.decided_at, m.participant_id, cu.id AS known_customer \
             FROM campaign_moves m JOIN customers cu ON cu.corp_id = m.corp_id AND cu.external_userid = m.member_key \
             WHERE m.corp_id = $1 AND m.state = 'moved' AND m.participant_id IS NULL ORDER BY m.id LIMIT $2";
        let rows: Vec<MoveWithCustomer> =
            on_tx!(self, |c| sqlx::query_as(sql).bind(corp_id).bind(limit).fetch_all(&mut *c).await)?;
        Ok(rows.into_iter().map(|r| (r.m, r.known_customer)).collect())
    }

    /// Links a moved member to their participant row (the join reward's holder).
    pub async fn set_move_participant(&mut self, id: i64, customer_id: i64, participant_id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE campaign_moves SET customer_id = $1, participant_id = $2 WHERE id = $3 \
                 AND participant_id IS NULL",
            )
            .bind(customer_id)
            .bind(participant_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(affected(n))
    }
}

#[derive(sqlx::FromRow)]
struct MoveWithCustomer {
    #[sqlx(flatten)]
    m: MoveRow,
    known_customer: i64,
}
