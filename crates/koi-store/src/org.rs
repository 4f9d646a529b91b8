//! Corps, stores and staff.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::secrets::{self, MasterKey};
use crate::{Result, StoreError};
use koi_domain::org::{Corp, CorpDraft, Staff, StaffDraft, Store, StoreDraft};
use std::collections::HashMap;

#[derive(sqlx::FromRow)]
struct CorpRow {
    id: i64,
    name: String,
    wecom_corp_id: String,
    app_secret: String,
    callback_token: String,
    encoding_aes_key: String,
    created_at: i64,
}

/// The columns that hold sealed secrets, in `CorpRow` order.
const SECRET_COLUMNS: [&str; 3] = ["app_secret", "callback_token", "encoding_aes_key"];

/// What a sealed value of `column` is bound to: its corp and its column.
fn secret_context(wecom_corp_id: &str, column: &str) -> String {
    format!("corps/{wecom_corp_id}/{column}")
}

impl CorpRow {
    fn open(self, key: Option<&MasterKey>) -> Result<Corp> {
        let open = |column: &str, stored: &str| {
            let what = format!("corp {}'s {column}", self.id);
            secrets::open(key, &secret_context(&self.wecom_corp_id, column), stored, &what)
        };
        Ok(Corp {
            app_secret: open("app_secret", &self.app_secret)?,
            callback_token: open("callback_token", &self.callback_token)?,
            encoding_aes_key: open("encoding_aes_key", &self.encoding_aes_key)?,
            id: self.id,
            name: self.name,
            wecom_corp_id: self.wecom_corp_id,
            created_at: self.created_at,
        })
    }

    fn stored(&self) -> [&str; 3] {
        [&self.app_secret, &self.callback_token, &self.encoding_aes_key]
    }
}

/// A corp draft whose secrets are sealed under the database's master key,
/// ready to be written; made by [`Db::seal_corp`] only.
pub struct SealedCorpDraft(CorpDraft);

const CORP_COLUMNS: &str = "id, name, wecom_corp_id, app_secret, callback_token, encoding_aes_key, created_at";

#[derive(sqlx::FromRow)]
struct StoreRow {
    id: i64,
    code: String,
    name: String,
    address: String,
    lat: Option<f64>,
    lng: Option<f64>,
    region: String,
    kind: String,
    created_at: i64,
    updated_at: i64,
}

impl From<StoreRow> for Store {
    fn from(r: StoreRow) -> Self {
        Store {
            id: r.id,
            code: r.code,
            name: r.name,
            address: r.address,
            lat: r.lat,
            lng: r.lng,
            region: r.region,
            kind: r.kind,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const STORE_COLUMNS: &str = "id, code, name, address, lat, lng, region, kind, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct StaffRow {
    id: i64,
    userid: String,
    name: String,
    mobile: String,
    active: bool,
    created_at: i64,
    updated_at: i64,
}

impl StaffRow {
    fn with_stores(self, store_ids: Vec<i64>) -> Staff {
        Staff {
            id: self.id,
            userid: self.userid,
            name: self.name,
            mobile: self.mobile,
            active: self.active,
            store_ids,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const STAFF_COLUMNS: &str = "id, userid, name, mobile, active, created_at, updated_at";

/// Which staff member, or which console user, works in which store.
pub(crate) const STAFF_STORES: &str =
    "SELECT staff_id, store_id FROM staff_stores WHERE corp_id = $1 ORDER BY store_id";
pub(crate) const USER_STORES: &str = "SELECT user_id, store_id FROM user_stores WHERE corp_id = $1 ORDER BY store_id";

impl Db {
    /// Store ids by owner id, from one of [`STAFF_STORES`] or [`USER_STORES`].
    pub(crate) async fn store_links(&self, sql: &'static str, corp_id: i64) -> Result<HashMap<i64, Vec<i64>>> {
        let links: Vec<(i64, i64)> = on_pool!(self, false, |c| sqlx::query_as(sql).bind(corp_id).fetch_all(c).await)?;
        let mut by_owner: HashMap<i64, Vec<i64>> = HashMap::new();
        for (owner, store) in links {
            by_owner.entry(owner).or_default().push(store);
        }
        Ok(by_owner)
    }

    /// Seals the draft's secrets under the master key (as they are, with none).
    pub fn seal_corp(&self, d: &CorpDraft) -> SealedCorpDraft {
        let Some(key) = self.master_key() else { return SealedCorpDraft(d.clone()) };
        let seal = |column: &str, plain: &str| key.seal(&secret_context(&d.wecom_corp_id, column), plain);
        SealedCorpDraft(CorpDraft {
            app_secret: seal("app_secret", &d.app_secret),
            callback_token: seal("callback_token", &d.callback_token),
            encoding_aes_key: seal("encoding_aes_key", &d.encoding_aes_key),
            ..d.clone()
        })
    }

    pub async fn create_corp(&self, d: &CorpDraft, now: i64) -> Result<i64> {
        let SealedCorpDraft(d) = &self.seal_corp(d);
        let sql = "INSERT INTO corps (name, wecom_corp_id, app_secret, callback_token, encoding_aes_key, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let id: i64 = on_pool!(self, true, |c| {
            sqlx::query_scalar(sql)
                .bind(&d.name)
                .bind(&d.wecom_corp_id)
                .bind(&d.app_secret)
                .bind(&d.callback_token)
                .bind(&d.encoding_aes_key)
                .bind(now)
                .fetch_one(c)
                .await
        })
        .map_err(StoreError::conflict_on("corp_id"))?;
        crate::dialect::create_customer_numbers(self, id).await?;
        Ok(id)
    }

    pub async fn corp(&self, id: i64) -> Result<Option<Corp>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps WHERE id = $1");
        let row: Option<CorpRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
        row.map(|r| r.open(self.master_key())).transpose()
    }

    pub async fn corp_by_wecom_id(&self, wecom_corp_id: &str) -> Result<Option<Corp>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps WHERE wecom_corp_id = $1");
        let row: Option<CorpRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(wecom_corp_id).fetch_optional(c).await)?;
        row.map(|r| r.open(self.master_key())).transpose()
    }

    pub async fn corps(&self) -> Result<Vec<Corp>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps ORDER BY id");
        let rows: Vec<CorpRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
        rows.into_iter().map(|r| r.open(self.master_key())).collect()
    }

    /// The master key ids that sealed the stored secrets (none: all plain
    /// text, or no corps yet). Tells a first start whether a new key may be
    /// made, and an operator which key a database needs.
    pub async fn secret_key_ids(&self) -> Result<Vec<String>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps ORDER BY id");
        let rows: Vec<CorpRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
        let pay = self.stored_pay_secret_values().await?;
        let mut ids: Vec<String> = rows
            .iter()
            .flat_map(|r| r.stored())
            .chain(pay.iter().map(String::as_str))
            .filter(|v| secrets::is_sealed(v))
            .filter_map(|v| v.split(':').nth(1).map(String::from))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The corp's secret columns as stored, for checking what is at rest.
    pub async fn stored_corp_secrets(&self, id: i64) -> Result<Option<[String; 3]>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps WHERE id = $1");
        let row: Option<CorpRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)?;
        Ok(row.map(|r| r.stored().map(String::from)))
    }

    /// Seals every corp secret still stored as plain text (rows from before
    /// sealing), in one transaction. Returns how many corps changed.
    pub async fn seal_plain_secrets(&self) -> Result<u64> {
        let Some(key) = self.master_key().cloned() else { return Ok(0) };
        self.reseal(&key, false).await
    }

    /// Re-seals every corp's secrets under `new`, in one transaction: all
    /// corps move to the new key or none does. Returns how many corps and
    /// this handle with the new key.
    pub async fn rotate_master_key(&self, new: MasterKey) -> Result<(u64, Db)> {
        let n = self.reseal(&new, true).await?;
        Ok((n, self.clone().with_master_key(new)))
    }

    /// Opens each corp's secrets with the current key and seals them under
    /// `to`: every corp (`all`) or those with a plain-text secret left.
    async fn reseal(&self, to: &MasterKey, all: bool) -> Result<u64> {
        let mut tx = self.begin().await?;
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps ORDER BY id");
        let rows: Vec<CorpRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
        let mut changed = 0;
        for row in rows {
            if !all && row.stored().iter().all(|v| secrets::is_sealed(v)) {
                continue;
            }
            let (id, wecom_corp_id) = (row.id, row.wecom_corp_id.clone());
            let corp = row.open(self.master_key())?;
            let plain = [&corp.app_secret, &corp.callback_token, &corp.encoding_aes_key];
            let [app_secret, token, aes_key] =
                std::array::from_fn(|i| to.seal(&secret_context(&wecom_corp_id, SECRET_COLUMNS[i]), plain[i]));
            on_tx!(&mut tx, |c| {
                sqlx::query(
                    "UPDATE corps SET app_secret = $1, callback_token = $2, encoding_aes_key = $3 WHERE id = $4",
                )
                .bind(&app_secret)
                .bind(&token)
                .bind(&aes_key)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
            })?;
            changed += 1;
        }
        // The WeChat Pay secrets move with the corps' (counted with neither).
        crate::pay::reseal(&mut tx, self.master_key(), to, all).await?;
        // So do the shops' webhook secrets (migration 0018).
        crate::orders::reseal(&mut tx, self.master_key(), to, all).await?;
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn stores(&self, corp_id: i64) -> Result<Vec<Store>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE corp_id = $1");
        let rows: Vec<StoreRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        // Sorted here, not by the database: PostgreSQL's collation and
        // SQLite's byte order would otherwise list the same stores differently.
        let mut stores: Vec<Store> = rows.into_iter().map(Store::from).collect();
        stores.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(stores)
    }

    pub async fn store(&self, corp_id: i64, id: i64) -> Result<Option<Store>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE corp_id = $1 AND id = $2");
        let row: Option<StoreRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?;
        Ok(row.map(Store::from))
    }

    /// Store code → id, for resolving codes in imports.
    pub async fn store_codes(&self, corp_id: i64) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT code, id FROM stores WHERE corp_id = $1").bind(corp_id).fetch_all(c).await
        })?;
        Ok(rows.into_iter().collect())
    }

    pub async fn staff_list(&self, corp_id: i64) -> Result<Vec<Staff>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE corp_id = $1");
        let rows: Vec<StaffRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?;
        let mut by_staff = self.store_links(STAFF_STORES, corp_id).await?;
        let mut staff: Vec<Staff> = rows
            .into_iter()
            .map(|r| {
                let stores = by_staff.remove(&r.id).unwrap_or_default();
                r.with_stores(stores)
            })
            .collect();
        staff.sort_by(|a, b| a.userid.cmp(&b.userid));
        Ok(staff)
    }

    pub async fn staff(&self, corp_id: i64, id: i64) -> Result<Option<Staff>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE corp_id = $1 AND id = $2");
        let row: Option<StaffRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?;
        let Some(row) = row else { return Ok(None) };
        let stores: Vec<i64> = on_pool!(self, false, |c| {
            sqlx::query_scalar(
                "SELECT store_id FROM staff_stores WHERE corp_id = $1 AND staff_id = $2 ORDER BY store_id",
            )
            .bind(corp_id)
            .bind(id)
            .fetch_all(c)
            .await
        })?;
        Ok(Some(row.with_stores(stores)))
    }
}

impl Tx {
    /// Replaces the corp's name and WeCom credentials.
    pub async fn update_corp(&mut self, id: i64, SealedCorpDraft(d): &SealedCorpDraft) -> Result<bool> {
        let sql = "UPDATE corps SET name = $1, wecom_corp_id = $2, app_secret = $3, callback_token = $4, \
                   encoding_aes_key = $5 WHERE id = $6";
        let done = on_tx!(self, |c| {
            sqlx::query(sql)
                .bind(&d.name)
                .bind(&d.wecom_corp_id)
                .bind(&d.app_secret)
                .bind(&d.callback_token)
                .bind(&d.encoding_aes_key)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::conflict_on("corp_id"))?;
        Ok(done == 1)
    }

    pub async fn insert_store(&mut self, corp_id: i64, d: &StoreDraft, now: i64) -> Result<i64> {
        self.bump_segment_refs(corp_id).await?;
        let sql = "INSERT INTO stores (corp_id, code, name, address, lat, lng, region, kind, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id";
        on_tx!(self, |c| {
            sqlx::query_scalar(sql)
                .bind(corp_id)
                .bind(&d.code)
                .bind(&d.name)
                .bind(&d.address)
                .bind(d.lat)
                .bind(d.lng)
                .bind(&d.region)
                .bind(&d.kind)
                .bind(now)
                .fetch_one(c)
                .await
        })
        .map_err(StoreError::conflict_on("store_code"))
    }

    /// Returns false when the corp has no such store.
    pub async fn update_store(&mut self, corp_id: i64, id: i64, d: &StoreDraft, now: i64) -> Result<bool> {
        self.bump_segment_refs(corp_id).await?;
        let sql = "UPDATE stores SET code = $1, name = $2, address = $3, lat = $4, lng = $5, region = $6, kind = $7, \
                   updated_at = $8 WHERE corp_id = $9 AND id = $10";
        let n = on_tx!(self, |c| {
            sqlx::query(sql)
                .bind(&d.code)
                .bind(&d.name)
                .bind(&d.address)
                .bind(d.lat)
                .bind(d.lng)
                .bind(&d.region)
                .bind(&d.kind)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::conflict_on("store_code"))?;
        Ok(n == 1)
    }

    pub async fn store_id_by_code(&mut self, corp_id: i64, code: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM stores WHERE corp_id = $1 AND code = $2")
                .bind(corp_id)
                .bind(code)
                .fetch_optional(c)
                .await
        })?)
    }

    pub async fn insert_staff(&mut self, corp_id: i64, d: &StaffDraft, now: i64) -> Result<i64> {
        self.bump_segment_refs(corp_id).await?;
        let sql = "INSERT INTO staff (corp_id, userid, name, mobile, active, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id";
        let id: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(sql)
                .bind(corp_id)
                .bind(&d.userid)
                .bind(&d.name)
                .bind(&d.mobile)
                .bind(d.active)
                .bind(now)
                .fetch_one(c)
                .await
        })
        .map_err(StoreError::conflict_on("staff_userid"))?;
        self.bind_staff_stores(corp_id, id, &d.store_ids).await?;
        Ok(id)
    }

    /// Replaces the member's details and store bindings.
    pub async fn update_staff(&mut self, corp_id: i64, id: i64, d: &StaffDraft, now: i64) -> Result<bool> {
        let sql = "UPDATE staff SET userid = $1, name = $2, mobile = $3, active = $4, updated_at = $5 \
                   WHERE corp_id = $6 AND id = $7";
        let n = on_tx!(self, |c| {
            sqlx::query(sql)
                .bind(&d.userid)
                .bind(&d.name)
                .bind(&d.mobile)
                .bind(d.active)
                .bind(now)
                .bind(corp_id)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::conflict_on("staff_userid"))?;
        if n == 1 {
            self.bind_staff_stores(corp_id, id, &d.store_ids).await?;
        }
        Ok(n == 1)
    }

    pub async fn staff_id_by_userid(&mut self, corp_id: i64, userid: &str) -> Result<Option<i64>> {
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar("SELECT id FROM staff WHERE corp_id = $1 AND userid = $2")
                .bind(corp_id)
                .bind(userid)
                .fetch_optional(c)
                .await
        })?)
    }

    async fn bind_staff_stores(&mut self, corp_id: i64, staff_id: i64, store_ids: &[i64]) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM staff_stores WHERE corp_id = $1 AND staff_id = $2")
                .bind(corp_id)
                .bind(staff_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        for store_id in store_ids {
            // The SELECT only finds stores of this corp, so a foreign id binds nothing.
            let sql = "INSERT INTO staff_stores (corp_id, staff_id, store_id) \
                       SELECT $1, $2, id FROM stores WHERE corp_id = $1 AND id = $3";
            on_tx!(self, |c| {
                sqlx::query(sql)
                    .bind(corp_id)
                    .bind(staff_id)
                    .bind(store_id)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}
