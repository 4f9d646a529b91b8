//! Files uploaded to the material centre (`material_files`: the bytes in
//! the database, so every node and both backends serve them alike) and the
//! WeCom media made of them (`wecom_media`: a temporary media_id per
//! material and media type, with when it was uploaded and of which bytes).

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// A material's file without its bytes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MaterialFileInfo {
    pub material_id: i64,
    pub content_type: String,
    pub filename: String,
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

/// A material's file with its bytes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MaterialFile {
    pub material_id: i64,
    pub content_type: String,
    pub filename: String,
    pub size: i64,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// What is written for a material's file.
#[derive(Debug, Clone)]
pub struct NewMaterialFile<'a> {
    pub corp_id: i64,
    pub material_id: i64,
    pub content_type: &'a str,
    pub filename: &'a str,
    pub sha256: &'a str,
    pub bytes: &'a [u8],
    pub now: i64,
}

/// A material's file as uploaded to WeCom.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WecomMediaRow {
    pub media_id: String,
    /// The SHA-256 of the bytes uploaded (a changed file is uploaded again).
    pub sha256: String,
    pub uploaded_at: i64,
}

const INFO_COLUMNS: &str = "material_id, content_type, filename, size, sha256";

impl Db {
    /// A material's file with its bytes.
    pub async fn material_file(&self, corp_id: i64, material_id: i64) -> Result<Option<MaterialFile>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT material_id, content_type, filename, size, sha256, bytes FROM material_files \
                 WHERE corp_id = $1 AND material_id = $2",
            )
            .bind(corp_id)
            .bind(material_id)
            .fetch_optional(c)
            .await
        })?)
    }

    /// A material's file by the material alone (the public file address
    /// carries no corp; the engine checks its key).
    pub async fn material_file_by_id(&self, material_id: i64) -> Result<Option<(i64, MaterialFile)>> {
        let row: Option<(i64, String, String, i64, String, Vec<u8>)> = on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT corp_id, content_type, filename, size, sha256, bytes FROM material_files WHERE material_id = $1",
            )
            .bind(material_id)
            .fetch_optional(c)
            .await
        })?;
        Ok(row.map(|(corp_id, content_type, filename, size, sha256, bytes)| {
            (corp_id, MaterialFile { material_id, content_type, filename, size, sha256, bytes })
        }))
    }

    /// The corp's material files, without bytes, by material.
    pub async fn material_file_infos(&self, corp_id: i64) -> Result<Vec<MaterialFileInfo>> {
        let sql = format!("SELECT {INFO_COLUMNS} FROM material_files WHERE corp_id = $1 ORDER BY material_id");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    /// A material's media_id of `media_type` in WeCom, when koi made one.
    pub async fn wecom_media(&self, corp_id: i64, material_id: i64, media_type: &str) -> Result<Option<WecomMediaRow>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT media_id, sha256, uploaded_at FROM wecom_media \
                 WHERE corp_id = $1 AND material_id = $2 AND media_type = $3",
            )
            .bind(corp_id)
            .bind(material_id)
            .bind(media_type)
            .fetch_optional(c)
            .await
        })?)
    }

    /// Records a fresh upload (replacing an older one). An upload older than
    /// the one recorded does not replace it: two jobs uploading at once keep
    /// the newer media_id.
    pub async fn put_wecom_media(
        &self,
        corp_id: i64,
        material_id: i64,
        media_type: &str,
        row: &WecomMediaRow,
    ) -> Result<()> {
        on_pool!(self, true, |c| {
            sqlx::query(
                "INSERT INTO wecom_media (corp_id, material_id, media_type, media_id, sha256, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (corp_id, material_id, media_type) DO UPDATE \
                 SET media_id = excluded.media_id, sha256 = excluded.sha256, uploaded_at = excluded.uploaded_at \
                 WHERE wecom_media.uploaded_at <= excluded.uploaded_at",
            )
            .bind(corp_id)
            .bind(material_id)
            .bind(media_type)
            .bind(&row.media_id)
            .bind(&row.sha256)
            .bind(row.uploaded_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

impl Tx {
    /// Whether a material is an uploaded file (inside a transaction).
    pub async fn material_has_file(&mut self, corp_id: i64, material_id: i64) -> Result<bool> {
        let n: i64 = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM material_files WHERE corp_id = $1 AND material_id = $2")
                .bind(corp_id)
                .bind(material_id)
                .fetch_one(c)
                .await
        })?;
        Ok(n > 0)
    }

    /// Stores (or replaces) a material's file. A replaced file's WeCom media
    /// are forgotten, so the next send uploads the new bytes.
    pub async fn put_material_file(&mut self, f: &NewMaterialFile<'_>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO material_files (material_id, corp_id, content_type, filename, size, sha256, bytes, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (material_id) DO UPDATE \
                 SET content_type = excluded.content_type, filename = excluded.filename, size = excluded.size, \
                 sha256 = excluded.sha256, bytes = excluded.bytes, created_at = excluded.created_at",
            )
            .bind(f.material_id)
            .bind(f.corp_id)
            .bind(f.content_type)
            .bind(f.filename)
            .bind(f.bytes.len() as i64)
            .bind(f.sha256)
            .bind(f.bytes)
            .bind(f.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM wecom_media WHERE corp_id = $1 AND material_id = $2 AND sha256 <> $3")
                .bind(f.corp_id)
                .bind(f.material_id)
                .bind(f.sha256)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
