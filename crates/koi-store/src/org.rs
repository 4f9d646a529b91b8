//! Corps, stores and staff.

use crate::db::{on_pool, on_tx, Db, Tx};
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

impl From<CorpRow> for Corp {
    fn from(r: CorpRow) -> Self {
        Corp {
            id: r.id,
            name: r.name,
            wecom_corp_id: r.wecom_corp_id,
            app_secret: r.app_secret,
            callback_token: r.callback_token,
            encoding_aes_key: r.encoding_aes_key,
            created_at: r.created_at,
        }
    }
}

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

    pub async fn create_corp(&self, d: &CorpDraft, now: i64) -> Result<i64> {
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
        Ok(row.map(Corp::from))
    }

    pub async fn corp_by_wecom_id(&self, wecom_corp_id: &str) -> Result<Option<Corp>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps WHERE wecom_corp_id = $1");
        let row: Option<CorpRow> =
            on_pool!(self, false, |c| sqlx::query_as(&sql).bind(wecom_corp_id).fetch_optional(c).await)?;
        Ok(row.map(Corp::from))
    }

    pub async fn corps(&self) -> Result<Vec<Corp>> {
        let sql = format!("SELECT {CORP_COLUMNS} FROM corps ORDER BY id");
        let rows: Vec<CorpRow> = on_pool!(self, false, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
        Ok(rows.into_iter().map(Corp::from).collect())
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
    pub async fn update_corp(&mut self, id: i64, d: &CorpDraft) -> Result<bool> {
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
