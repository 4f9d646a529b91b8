//! Poster templates (`poster_templates`): the uploaded background's bytes,
//! the layout (JSON) and a version that every edit moves on.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

/// A template without its background's bytes (lists, cache checks).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PosterTemplateRow {
    pub id: i64,
    pub corp_id: i64,
    pub name: String,
    /// `image/png` or `image/jpeg`; empty when there is no background image.
    pub background_type: String,
    /// The background's size in bytes (0 without one).
    pub background_bytes: i64,
    pub layout: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, corp_id, name, background_type, CAST(COALESCE(LENGTH(background), 0) AS BIGINT) AS background_bytes, \
     layout, version, created_at, updated_at";

/// What a new template or an edit writes.
#[derive(Debug, Clone, Default)]
pub struct PosterTemplateWrite<'a> {
    pub name: &'a str,
    pub layout: &'a str,
    pub now: i64,
}

/// What an edit does to the background image.
#[derive(Debug, Clone, Copy, Default)]
pub enum BackgroundWrite<'a> {
    #[default]
    Keep,
    Remove,
    /// The image's bytes and content type.
    Set(&'a [u8], &'a str),
}

impl Db {
    /// The corp's templates, oldest first.
    pub async fn poster_templates(&self, corp_id: i64) -> Result<Vec<PosterTemplateRow>> {
        let sql = format!("SELECT {COLUMNS} FROM poster_templates WHERE corp_id = $1 ORDER BY id");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).fetch_all(c).await)?)
    }

    pub async fn poster_template(&self, corp_id: i64, id: i64) -> Result<Option<PosterTemplateRow>> {
        let sql = format!("SELECT {COLUMNS} FROM poster_templates WHERE corp_id = $1 AND id = $2");
        Ok(on_pool!(self, false, |c| sqlx::query_as(&sql).bind(corp_id).bind(id).fetch_optional(c).await)?)
    }

    /// A template's background image bytes (`None`: no such template or no image).
    pub async fn poster_background(&self, corp_id: i64, id: i64) -> Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> = on_pool!(self, false, |c| {
            sqlx::query_as("SELECT background FROM poster_templates WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .fetch_optional(c)
                .await
        })?;
        Ok(row.and_then(|(b,)| b))
    }
}

impl Tx {
    pub async fn insert_poster_template(
        &mut self,
        corp_id: i64,
        t: &PosterTemplateWrite<'_>,
        background: Option<(&[u8], &str)>,
    ) -> Result<i64> {
        let (bytes, kind) = background.map_or((None, ""), |(b, k)| (Some(b), k));
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO poster_templates (corp_id, name, background, background_type, layout, version, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id",
            )
            .bind(corp_id)
            .bind(t.name)
            .bind(bytes)
            .bind(kind)
            .bind(t.layout)
            .bind(t.now)
            .fetch_one(&mut *c)
            .await
        })?)
    }

    /// Replaces a template's name and layout (and background, as asked) and
    /// moves its version on. Returns the new version, `None` when the
    /// template is not the corp's.
    pub async fn update_poster_template(
        &mut self,
        corp_id: i64,
        id: i64,
        t: &PosterTemplateWrite<'_>,
        background: BackgroundWrite<'_>,
    ) -> Result<Option<i64>> {
        let set_bg = match background {
            BackgroundWrite::Keep => "",
            BackgroundWrite::Remove => ", background = NULL, background_type = ''",
            BackgroundWrite::Set(..) => ", background = $6, background_type = $7",
        };
        let sql = format!(
            "UPDATE poster_templates SET name = $3, layout = $4, updated_at = $5, version = version + 1{set_bg} \
             WHERE corp_id = $1 AND id = $2 RETURNING version"
        );
        Ok(on_tx!(self, |c| {
            let mut q = sqlx::query_scalar(&sql).bind(corp_id).bind(id).bind(t.name).bind(t.layout).bind(t.now);
            if let BackgroundWrite::Set(bytes, kind) = background {
                q = q.bind(bytes).bind(kind);
            }
            q.fetch_optional(&mut *c).await
        })?)
    }

    /// Deletes a template; false when it was not the corp's.
    pub async fn delete_poster_template(&mut self, corp_id: i64, id: i64) -> Result<bool> {
        let n = on_tx!(self, |c| {
            sqlx::query("DELETE FROM poster_templates WHERE corp_id = $1 AND id = $2")
                .bind(corp_id)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}
