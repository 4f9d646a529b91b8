//! WeChat Pay settings per corp (migration 0015's `pay_settings`): the
//! merchant account rewards are paid from. The two secrets are sealed at
//! rest under the master key (`secrets.rs`), bound to the corp and the
//! column, and move with the corps' secrets when the master key rotates.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::secrets::{self, MasterKey};
use crate::Result;

/// A corp's pay settings, secrets open.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PaySettingsRow {
    pub enabled: bool,
    pub mch_id: String,
    pub wxappid: String,
    /// The merchant's v2 API key; '' when not set.
    pub api_key: String,
    /// The WeCom 企业支付 app's secret; '' when not set.
    pub workwx_secret: String,
    /// '' for WeChat Pay itself.
    pub base_url: String,
    pub act_name: String,
    pub wishing: String,
    pub updated_at: i64,
}

impl std::fmt::Debug for PaySettingsRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaySettingsRow")
            .field("enabled", &self.enabled)
            .field("mch_id", &self.mch_id)
            .field("wxappid", &self.wxappid)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    corp_id: i64,
    enabled: bool,
    mch_id: String,
    wxappid: String,
    api_key: String,
    workwx_secret: String,
    base_url: String,
    act_name: String,
    wishing: String,
    updated_at: i64,
}

const COLUMNS: &str =
    "corp_id, enabled, mch_id, wxappid, api_key, workwx_secret, base_url, act_name, wishing, updated_at";

/// What a sealed value is bound to.
fn context(corp_id: i64, column: &str) -> String {
    format!("pay_settings/{corp_id}/{column}")
}

/// '' stays '' (not set); anything else is sealed when there is a key.
fn seal(key: Option<&MasterKey>, corp_id: i64, column: &str, plain: &str) -> String {
    match key {
        Some(k) if !plain.is_empty() => k.seal(&context(corp_id, column), plain),
        _ => plain.to_owned(),
    }
}

impl Row {
    fn open(self, key: Option<&MasterKey>) -> Result<PaySettingsRow> {
        let open = |column: &str, stored: &str| {
            secrets::open(key, &context(self.corp_id, column), stored, &format!("corp {}'s pay {column}", self.corp_id))
        };
        Ok(PaySettingsRow {
            api_key: open("api_key", &self.api_key)?,
            workwx_secret: open("workwx_secret", &self.workwx_secret)?,
            enabled: self.enabled,
            mch_id: self.mch_id,
            wxappid: self.wxappid,
            base_url: self.base_url,
            act_name: self.act_name,
            wishing: self.wishing,
            updated_at: self.updated_at,
        })
    }
}

impl Db {
    pub async fn pay_settings(&self, corp_id: i64) -> Result<Option<PaySettingsRow>> {
        let sql = format!("SELECT {COLUMNS} FROM pay_settings WHERE corp_id = $1");
        let row: Option<Row> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_optional(c).await)?;
        row.map(|r| r.open(self.master_key())).transpose()
    }

    /// Writes the corp's settings whole, sealing the secrets.
    pub async fn save_pay_settings(&self, corp_id: i64, s: &PaySettingsRow) -> Result<()> {
        let key = self.master_key();
        let api_key = seal(key, corp_id, "api_key", &s.api_key);
        let workwx_secret = seal(key, corp_id, "workwx_secret", &s.workwx_secret);
        on_pool!(self, true, |c| {
            sqlx::query(
                "INSERT INTO pay_settings (corp_id, enabled, mch_id, wxappid, api_key, workwx_secret, base_url, \
                 act_name, wishing, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (corp_id) DO UPDATE SET enabled = excluded.enabled, mch_id = excluded.mch_id, \
                 wxappid = excluded.wxappid, api_key = excluded.api_key, workwx_secret = excluded.workwx_secret, \
                 base_url = excluded.base_url, act_name = excluded.act_name, wishing = excluded.wishing, \
                 updated_at = excluded.updated_at",
            )
            .bind(corp_id)
            .bind(s.enabled)
            .bind(&s.mch_id)
            .bind(&s.wxappid)
            .bind(&api_key)
            .bind(&workwx_secret)
            .bind(&s.base_url)
            .bind(&s.act_name)
            .bind(&s.wishing)
            .bind(s.updated_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The two secret columns as stored, for checking what is at rest.
    pub async fn stored_pay_secrets(&self, corp_id: i64) -> Result<Option<[String; 2]>> {
        let sql = format!("SELECT {COLUMNS} FROM pay_settings WHERE corp_id = $1");
        let row: Option<Row> = on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_optional(c).await)?;
        Ok(row.map(|r| [r.api_key, r.workwx_secret]))
    }

    /// Every stored pay secret, for [`Db::secret_key_ids`].
    pub(crate) async fn stored_pay_secret_values(&self) -> Result<Vec<String>> {
        let rows: Vec<(String, String)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT api_key, workwx_secret FROM pay_settings").fetch_all(c).await
        })?;
        Ok(rows.into_iter().flat_map(|(a, b)| [a, b]).collect())
    }
}

/// Re-seals the pay secrets under `to` inside the master key's rotation (or
/// the start-up sealing of plain values: `all` false), opening them with
/// `from`. Returns how many corps' settings changed.
pub(crate) async fn reseal(tx: &mut Tx, from: Option<&MasterKey>, to: &MasterKey, all: bool) -> Result<u64> {
    let sql = format!("SELECT {COLUMNS} FROM pay_settings ORDER BY corp_id");
    let rows: Vec<Row> = on_tx!(tx, |c| sqlx::query_as(&sql).fetch_all(&mut *c).await)?;
    let mut changed = 0;
    for row in rows {
        let plain_left = [&row.api_key, &row.workwx_secret].iter().any(|v| !v.is_empty() && !secrets::is_sealed(v));
        if !all && !plain_left {
            continue;
        }
        let corp_id = row.corp_id;
        let open = row.open(from)?;
        let api_key = seal(Some(to), corp_id, "api_key", &open.api_key);
        let workwx_secret = seal(Some(to), corp_id, "workwx_secret", &open.workwx_secret);
        on_tx!(tx, |c| {
            sqlx::query("UPDATE pay_settings SET api_key = $1, workwx_secret = $2 WHERE corp_id = $3")
                .bind(&api_key)
                .bind(&workwx_secret)
                .bind(corp_id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        changed += 1;
    }
    Ok(changed)
}
