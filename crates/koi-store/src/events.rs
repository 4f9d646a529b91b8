//! The event log: immutable facts (a store created, a customer added…) that
//! timelines and analytics read. Appends carry an optional dedup key so a fact
//! recorded twice by a retried job is stored once.

use crate::db::{on_pool, on_tx, Db, Tx};
use crate::Result;

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub corp_id: i64,
    /// Dotted name, e.g. `store.created`.
    pub kind: &'a str,
    /// What the fact is about, e.g. `store:12`.
    pub subject: &'a str,
    /// Who caused it, e.g. `user:3`, `api_key:2`, `system`.
    pub actor: &'a str,
    /// JSON text.
    pub payload: &'a str,
    pub dedup_key: Option<&'a str>,
    pub occurred_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub corp_id: i64,
    pub kind: String,
    pub subject: String,
    pub actor: String,
    pub payload: String,
    pub occurred_at: i64,
    pub recorded_at: i64,
}

impl Tx {
    /// Appends an event; returns its id, or `None` when the dedup key was
    /// already used (the fact is on record).
    pub async fn append_event(&mut self, e: &NewEvent<'_>, now: i64) -> Result<Option<i64>> {
        let sql = "INSERT INTO events (corp_id, kind, subject, actor, payload, dedup_key, occurred_at, recorded_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id";
        Ok(on_tx!(self, |c| {
            sqlx::query_scalar(sql)
                .bind(e.corp_id)
                .bind(e.kind)
                .bind(e.subject)
                .bind(e.actor)
                .bind(e.payload)
                .bind(e.dedup_key)
                .bind(e.occurred_at)
                .bind(now)
                .fetch_optional(&mut *c)
                .await
        })?)
    }
}

impl Db {
    pub async fn append_event(&self, e: &NewEvent<'_>, now: i64) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let id = tx.append_event(e, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The corp's newest events, optionally of one kind or about one subject.
    pub async fn events(
        &self,
        corp_id: i64,
        kind: Option<&str>,
        subject: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Event>> {
        Ok(on_pool!(self, false, |c| {
            sqlx::query_as(
                "SELECT id, corp_id, kind, subject, actor, payload, occurred_at, recorded_at FROM events \
                 WHERE corp_id = $1 AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR subject = $3) \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(corp_id)
            .bind(kind)
            .bind(subject)
            .bind(limit)
            .fetch_all(c)
            .await
        })?)
    }
}
