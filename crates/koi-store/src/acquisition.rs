//! Channel codes, customers and follows (customer × staff).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::{Result, StoreError};
use koi_domain::channel::ChannelCodeDraft;

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelCodeRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    pub store_id: Option<i64>,
    /// The random id public pages reach the code by (its landing page).
    pub public_token: String,
    /// The code as the operator set it (stored as JSON, decoded here once).
    pub draft: ChannelCodeDraft,
    /// The `state` the contact way carries.
    pub state: String,
    /// WeCom's contact way, once made.
    pub config_id: Option<String>,
    pub qr_code: Option<String>,
    /// JSON array of the staff ids in the contact way now.
    pub on_duty: String,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A `channel_codes` row as the database holds it, before its draft is decoded.
#[derive(sqlx::FromRow)]
struct CodeRecord {
    id: i64,
    corp_id: i64,
    name: String,
    store_id: Option<i64>,
    public_token: String,
    draft: String,
    state: String,
    config_id: Option<String>,
    qr_code: Option<String>,
    on_duty: String,
    active: bool,
    created_at: i64,
    updated_at: i64,
}

impl CodeRecord {
    /// The row with its draft decoded. A draft that does not decode is an
    /// error for the caller, never a code without settings.
    fn decode(self) -> Result<ChannelCodeRow> {
        let draft = serde_json::from_str(&self.draft).map_err(|e| StoreError::Undecodable {
            what: "channel_codes.draft",
            id: self.id,
            message: e.to_string(),
        })?;
        Ok(ChannelCodeRow {
            id: self.id,
            corp_id: self.corp_id,
            name: self.name,
            store_id: self.store_id,
            public_token: self.public_token,
            draft,
            state: self.state,
            config_id: self.config_id,
            qr_code: self.qr_code,
            on_duty: self.on_duty,
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn decode_all(records: Vec<CodeRecord>) -> Result<Vec<ChannelCodeRow>> {
    records.into_iter().map(CodeRecord::decode).collect()
}

fn encode(draft: &ChannelCodeDraft) -> String {
    serde_json::to_string(draft).expect("a draft is strings, numbers and lists: it always serialises")
}

const CODE_COLUMNS: &str = "id, corp_id, name, store_id, COALESCE(public_token, '') AS public_token, draft, state, \
     config_id, qr_code, on_duty, active, created_at, updated_at";

/// A new code's public token: 128 random bits, so landing pages cannot be
/// walked or guessed.
fn new_public_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A code's settings as an edit replaces them.
#[derive(Debug, Clone)]
pub struct CodeSettings<'a> {
    pub name: &'a str,
    pub store_id: Option<i64>,
    pub draft: &'a ChannelCodeDraft,
    pub state: &'a str,
}

/// What WeCom says about a customer (`externalcontact/get`).
#[derive(Debug, Clone, Default)]
pub struct CustomerProfile {
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    /// 1 WeChat, 2 WeCom.
    pub kind: i32,
    pub gender: i32,
    pub unionid: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub external_userid: String,
    pub name: String,
    pub avatar: String,
    pub kind: i32,
    pub gender: i32,
    pub unionid: String,
    pub first_code_id: Option<i64>,
    pub first_store_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the customer first added a guide (WeCom's time of the first
    /// add), not when koi loaded the row.
    pub added_at: i64,
}

const CUSTOMER_COLUMNS: &str = "id, external_userid, name, avatar, kind, gender, unionid, first_code_id, \
                                first_store_id, created_at, updated_at, added_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FollowRow {
    pub id: i64,
    pub customer_id: i64,
    pub staff_id: i64,
    pub added_at: i64,
    pub add_way: i32,
    pub state: String,
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    pub is_returning: bool,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    /// The guide's remark for the customer in WeCom.
    pub remark: String,
    /// The phones the guide noted, comma-separated.
    pub remark_mobiles: String,
}

const FOLLOW_COLUMNS: &str = "id, customer_id, staff_id, added_at, add_way, state, code_id, store_id, is_returning, \
                              deleted_at, deleted_by, remark, remark_mobiles";

/// A follow as an add event makes it.
#[derive(Debug, Clone)]
pub struct NewFollow<'a> {
    pub corp_id: i64,
    pub customer_id: i64,
    pub staff_id: i64,
    pub added_at: i64,
    pub add_way: i32,
    pub state: &'a str,
    pub code_id: Option<i64>,
    pub store_id: Option<i64>,
    pub returning: bool,
}

impl Tx {
    pub async fn insert_channel_code(
        &mut self,
        corp_id: i64,
        name: &str,
        store_id: Option<i64>,
        draft: &ChannelCodeDraft,
        now: i64,
    ) -> Result<i64> {
        self.bump_segment_refs(corp_id).await?;
        let draft = encode(draft);
        let token = new_public_token();
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO channel_codes (corp_id, name, store_id, public_token, draft, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(corp_id)
            .bind(name)
            .bind(store_id)
            .bind(&token)
            .bind(&draft)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    pub async fn channel_code(&mut self, corp_id: i64, id: i64) -> Result<Option<ChannelCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM channel_codes WHERE corp_id = $1 AND id = $2");
        let record: Option<CodeRecord> =
            on_tx!(self, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(&mut *c).await)?;
        record.map(CodeRecord::decode).transpose()
    }

    /// The customer, created or refreshed from WeCom's profile. Returns its
    /// id and whether it is new to the corp.
    pub async fn upsert_customer(
        &mut self,
        corp_id: i64,
        p: &CustomerProfile,
        code_id: Option<i64>,
        store_id: Option<i64>,
        added_at: i64,
        now: i64,
    ) -> Result<(i64, bool)> {
        let existing: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM customers WHERE corp_id = $1 AND external_userid = $2")
                .bind(corp_id)
                .bind(&p.external_userid)
                .fetch_optional(&mut *c)
                .await
        })?;
        if let Some(id) = existing {
            on_tx!(self, |c| {
                sqlx::query(
                    "UPDATE customers SET name = $1, avatar = $2, kind = $3, gender = $4, unionid = $5, updated_at = $6 \
                     WHERE id = $7",
                )
                .bind(&p.name)
                .bind(&p.avatar)
                .bind(p.kind)
                .bind(p.gender)
                .bind(&p.unionid)
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
            return Ok((id, false));
        }
        let no = self.next_customer_no(corp_id).await?;
        let id = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO customers (corp_id, external_userid, name, avatar, kind, gender, unionid, first_code_id, \
                 first_store_id, created_at, updated_at, no, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING id",
            )
            .bind(corp_id)
            .bind(&p.external_userid)
            .bind(&p.name)
            .bind(&p.avatar)
            .bind(p.kind)
            .bind(p.gender)
            .bind(&p.unionid)
            .bind(code_id)
            .bind(store_id)
            .bind(now)
            .bind(no)
            .bind(added_at)
            .fetch_one(&mut *c)
            .await
        })?;
        self.log_customer_change(corp_id, id).await?;
        Ok((id, true))
    }

    pub async fn customer_id(&mut self, corp_id: i64, external_userid: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM customers WHERE corp_id = $1 AND external_userid = $2")
                .bind(corp_id)
                .bind(external_userid)
                .fetch_optional(&mut *c)
                .await
        })?)
    }

    /// The follow of this customer by this member, live or deleted.
    pub async fn follow(&mut self, corp_id: i64, customer_id: i64, staff_id: i64) -> Result<Option<FollowRow>> {
        let sql =
            format!("SELECT {FOLLOW_COLUMNS} FROM follows WHERE corp_id = $1 AND customer_id = $2 AND staff_id = $3");
        Ok(on_tx!(self, |c| sqlx::query_as(&sql)
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .fetch_optional(&mut *c)
            .await)?)
    }

    /// Whether the customer has (or had) any follow in the corp.
    pub async fn customer_followed_before(&mut self, corp_id: i64, customer_id: i64) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE corp_id = $1 AND customer_id = $2")
                .bind(corp_id)
                .bind(customer_id)
                .fetch_one(&mut *c)
                .await
        })?;
        Ok(n > 0)
    }

    /// Dates a code's creation back: a code brought in with its history
    /// (an import, the demo's past customers) existed before its first add.
    pub async fn set_channel_code_created_at(&mut self, corp_id: i64, id: i64, created_at: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("UPDATE channel_codes SET created_at = $1 WHERE corp_id = $2 AND id = $3")
                .bind(created_at)
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Creates the follow, or revives a deleted one with this add's attribution.
    pub async fn upsert_follow(&mut self, f: &NewFollow<'_>, now: i64) -> Result<i64> {
        self.log_customer_change(f.corp_id, f.customer_id).await?;
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO follows (corp_id, customer_id, staff_id, added_at, add_way, state, code_id, store_id, \
                 is_returning, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (corp_id, customer_id, staff_id) DO UPDATE SET added_at = excluded.added_at, \
                 add_way = excluded.add_way, state = excluded.state, code_id = excluded.code_id, \
                 store_id = excluded.store_id, is_returning = excluded.is_returning, deleted_at = NULL, deleted_by = NULL, \
                 updated_at = excluded.updated_at RETURNING id",
            )
            .bind(f.corp_id)
            .bind(f.customer_id)
            .bind(f.staff_id)
            .bind(f.added_at)
            .bind(f.add_way)
            .bind(f.state)
            .bind(f.code_id)
            .bind(f.store_id)
            .bind(f.returning)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// What the guide noted in WeCom about the customer of a follow: the
    /// remark and the phones (kept comma-separated).
    pub async fn set_follow_remark(&mut self, follow_id: i64, remark: &str, mobiles: &[String]) -> Result<()> {
        let mobiles = mobiles.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).collect::<Vec<_>>().join(",");
        on_tx!(self, |c| {
            sqlx::query("UPDATE follows SET remark = $1, remark_mobiles = $2 WHERE id = $3")
                .bind(remark)
                .bind(&mobiles)
                .bind(follow_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Marks a live follow lost; false when it was already lost (a replay),
    /// or when the follow was (re-)added after `at`: a deletion that arrives
    /// late must not undo the add that followed it.
    pub async fn mark_follow_deleted(
        &mut self,
        corp_id: i64,
        customer_id: i64,
        staff_id: i64,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query(
                "UPDATE follows SET deleted_at = $1, deleted_by = $2, updated_at = $1 \
                 WHERE corp_id = $3 AND customer_id = $4 AND staff_id = $5 AND deleted_at IS NULL AND added_at <= $1",
            )
            .bind(at)
            .bind(by)
            .bind(corp_id)
            .bind(customer_id)
            .bind(staff_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            self.log_customer_change(corp_id, customer_id).await?;
        }
        Ok(n == 1)
    }
}

impl Db {
    /// Records the contact way made for a code.
    pub async fn set_channel_code_wecom(
        &self,
        corp_id: i64,
        id: i64,
        state: &str,
        config_id: &str,
        qr_code: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query(
                "UPDATE channel_codes SET state = $1, config_id = $2, qr_code = $3, updated_at = $4 \
                 WHERE corp_id = $5 AND id = $6",
            )
            .bind(state)
            .bind(config_id)
            .bind(qr_code)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Records which staff the contact way now routes to.
    pub async fn set_channel_code_on_duty(&self, corp_id: i64, id: i64, on_duty: &str, now: i64) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query("UPDATE channel_codes SET on_duty = $1, updated_at = $2 WHERE corp_id = $3 AND id = $4")
                .bind(on_duty)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Adds through a code since `since`, per staff member, and in all time
    /// (the round-robin cursor).
    pub async fn code_adds(&self, corp_id: i64, code_id: i64, since: i64) -> Result<(Vec<(i64, i64)>, i64)> {
        let today: Vec<(i64, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT staff_id, COUNT(*) FROM follows WHERE corp_id = $1 AND code_id = $2 AND added_at >= $3 \
                 GROUP BY staff_id",
            )
            .bind(corp_id)
            .bind(code_id)
            .bind(since)
            .fetch_all(c)
            .await
        })?;
        let all: i64 = on_pool!(self, false, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE corp_id = $1 AND code_id = $2")
                .bind(corp_id)
                .bind(code_id)
                .fetch_one(c)
                .await
        })?;
        Ok((today, all))
    }

    /// Active codes of every corp, for the routing timer.
    pub async fn active_channel_codes(&self) -> Result<Vec<ChannelCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM channel_codes WHERE active = $1 AND config_id IS NOT NULL");
        decode_all(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(true).fetch_all(c).await)?)
    }

    /// Replaces a code's settings (its contact way is updated by the caller).
    pub async fn update_channel_code(&self, corp_id: i64, id: i64, c: &CodeSettings<'_>, now: i64) -> Result<bool> {
        let draft = encode(c.draft);
        let n = on_pool!(self, true, |conn| {
            sqlx::query(
                "UPDATE channel_codes SET name = $1, store_id = $2, draft = $3, state = $4, updated_at = $5 \
                 WHERE corp_id = $6 AND id = $7",
            )
            .bind(c.name)
            .bind(c.store_id)
            .bind(&draft)
            .bind(c.state)
            .bind(now)
            .bind(corp_id)
            .bind(id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Switches a code off (its contact way deleted) or on.
    pub async fn set_channel_code_active(&self, corp_id: i64, id: i64, active: bool, now: i64) -> Result<bool> {
        let n = on_pool!(self, true, |c| {
            sqlx::query("UPDATE channel_codes SET active = $1, updated_at = $2 WHERE corp_id = $3 AND id = $4")
                .bind(active)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Removes a code whose contact way could not be made.
    pub async fn delete_channel_code(&self, corp_id: i64, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.bump_segment_refs(corp_id).await?;
        on_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM channel_codes WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        tx.commit().await
    }

    pub async fn channel_codes(&self, corp_id: i64) -> Result<Vec<ChannelCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM channel_codes WHERE corp_id = $1 ORDER BY id");
        decode_all(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn channel_code(&self, corp_id: i64, id: i64) -> Result<Option<ChannelCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM channel_codes WHERE corp_id = $1 AND id = $2");
        let record: Option<CodeRecord> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?;
        record.map(CodeRecord::decode).transpose()
    }

    /// An active code by its public token alone, for public landing pages
    /// (which know no corp).
    pub async fn channel_code_by_token(&self, token: &str) -> Result<Option<ChannelCodeRow>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM channel_codes WHERE public_token = $1 AND active = $2");
        let record: Option<CodeRecord> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(token).bind(true).fetch_optional(c).await)?;
        record.map(CodeRecord::decode).transpose()
    }

    pub async fn customer(&self, corp_id: i64, id: i64) -> Result<Option<CustomerRow>> {
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    pub async fn follows_of(&self, corp_id: i64, customer_id: i64) -> Result<Vec<FollowRow>> {
        let sql =
            format!("SELECT {FOLLOW_COLUMNS} FROM follows WHERE corp_id = $1 AND customer_id = $2 ORDER BY added_at");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(customer_id).fetch_all(c).await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(draft: &str) -> CodeRecord {
        CodeRecord {
            id: 7,
            corp_id: 1,
            name: "码".into(),
            store_id: None,
            public_token: "0123456789abcdef0123456789abcdef".into(),
            draft: draft.into(),
            state: String::new(),
            config_id: None,
            qr_code: None,
            on_duty: "[]".into(),
            active: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_stored_draft_is_decoded_once_into_the_domain_type() {
        let draft = ChannelCodeDraft { name: "门店海报".into(), ..ChannelCodeDraft::default() };
        let row = record(&encode(&draft)).decode().expect("decodes");
        assert_eq!(row.draft, draft);
    }

    #[test]
    fn an_undecodable_draft_is_an_error_not_a_code_without_settings() {
        for bad in ["", "{}", "{\"name\": 3}", "not json"] {
            match record(bad).decode() {
                Err(StoreError::Undecodable { what: "channel_codes.draft", id: 7, .. }) => {}
                other => panic!("{bad:?}: expected an undecodable draft, got {other:?}"),
            }
        }
    }
}
