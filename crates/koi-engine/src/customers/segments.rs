//! Segments (人群) on an in-memory [`SegmentIndex`] per corp, over dense
//! customer numbers, kept equal to the database by following the change
//! log: every query first reads the log since its horizon and reloads the
//! customers named there, so a tag change committed anywhere is visible to
//! the next query on every node.
//!
//! The log's ids come from one sequence, and on PostgreSQL a transaction
//! may commit after a later one. So the reader keeps a horizon [`SETTLE_MS`]
//! behind the newest entry, re-reads the entries above it on each query and
//! reloads only those it has not seen. A write transaction that takes
//! longer than that (bulk tagging commits every 500 customers) would be the
//! one way to miss an entry; a full reload on start covers a restart.
//!
//! What an expression can name (tags, stores, staff, codes, fields, groups: the
//! domain's [`Refs`]) is kept with the index too, so checking an expression
//! reads nothing while an operator types. Every write that changes those
//! names grows the corp's refs version in its transaction; the catch-up
//! reads that one number and reads the names again only when it moved.

use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::segment::{Cond, Expr, Refs, SegmentIndex};
use koi_store::customers::BriefRow;
use koi_store::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How far behind the newest change log entry the horizon stays.
const SETTLE_MS: i64 = 10_000;
/// Most members a sample shows.
pub const MAX_SAMPLE: usize = 50;

/// One corp's index and where it stands in the change log.
pub(crate) struct CorpIndex {
    pub(crate) index: SegmentIndex,
    /// What expressions may name, as of `refs_version`.
    refs: Refs,
    /// `None` until the names are first read.
    refs_version: Option<i64>,
    /// Customer id by dense number (0 where no customer has the number).
    ids: Vec<i64>,
    horizon: i64,
    /// Log entries above the horizon already applied.
    seen: HashSet<i64>,
}

/// The per-corp indexes of this process, loaded on first use.
#[derive(Default)]
pub(crate) struct SegmentIndexes {
    corps: std::sync::Mutex<HashMap<i64, Arc<Mutex<Option<CorpIndex>>>>>,
}

/// An expression as the API takes it: the console's text syntax, or JSON.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SegmentInput {
    /// `tag:etVIP AND NOT stage:super`, or with tag names: `tag:VIP`.
    Text(String),
    /// `{"and":[{"tag":"et…"},{"not":{"stage":"super"}}]}`.
    #[schema(value_type = Object)]
    Json(Expr),
}

impl SegmentInput {
    /// The expression as text (canonical for JSON input).
    pub fn text(&self) -> String {
        match self {
            SegmentInput::Text(t) => t.clone(),
            SegmentInput::Json(e) => e.to_string(),
        }
    }
}

/// A customer in a sample.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: i64,
    pub name: String,
    pub avatar: String,
    pub stage: String,
    pub added_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentResult {
    /// Exactly how many customers are in the segment now.
    pub count: u64,
    /// The expression in canonical text (tag names resolved to ids).
    pub expr: String,
    pub sample: Vec<Member>,
    /// Every member's customer id, when asked for.
    pub ids: Option<Vec<i64>>,
    /// Time spent evaluating, in microseconds.
    pub took_us: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    pub id: i64,
    pub name: String,
    /// Canonical text, tags by WeCom id: what is stored.
    pub expr: String,
    /// The same expression with tags by name (where a name is unique), for
    /// people to read and edit; it parses back to `expr`.
    pub named_expr: String,
    /// Members now (exact).
    pub count: u64,
    pub created_by: String,
    pub updated_at: i64,
}

/// One exported customer (CSV row).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportRow {
    pub id: i64,
    pub external_userid: String,
    pub name: String,
    pub stage: String,
    pub rfm: String,
    pub influence: i32,
    pub orders: i32,
    /// Yuan, two decimals.
    pub spent: String,
    pub added_at: i64,
    pub last_active_at: Option<i64>,
    /// Tag names, `;`-separated.
    pub tags: String,
}

impl Engine {
    /// Runs `f` on the corp's index, caught up with the change log.
    pub(crate) async fn with_index<R>(&self, corp_id: i64, f: impl FnOnce(&CorpIndex) -> R) -> Result<R> {
        let slot = {
            let mut corps = self.segment_indexes.corps.lock().expect("the index map is never poisoned");
            Arc::clone(corps.entry(corp_id).or_default())
        };
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load_index(corp_id).await?);
        }
        let ci = guard.as_mut().expect("loaded above");
        self.catch_up(corp_id, ci).await?;
        Ok(f(ci))
    }

    /// Loads every corp's index (at start, in the background).
    pub async fn warm_segment_indexes(&self) {
        let corps = match self.db.corps().await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "listing corps to load segment indexes failed"),
        };
        for corp in corps {
            if let Err(e) = self.with_index(corp.id, |_| ()).await {
                tracing::warn!(corp = corp.id, error = %e, "loading the segment index failed; the first query retries");
            }
        }
    }

    async fn load_index(&self, corp_id: i64) -> Result<CorpIndex> {
        let started = std::time::Instant::now();
        let horizon = self.db.change_horizon(corp_id, now_ms() - SETTLE_MS).await?;
        let mut ci = CorpIndex {
            index: SegmentIndex::new(),
            refs: Refs::default(),
            refs_version: None,
            ids: Vec::new(),
            horizon,
            seen: HashSet::new(),
        };
        let facts = self.db.segment_facts(corp_id, None).await?;
        for (id, f) in &facts {
            ci.put(*id, f);
        }
        tracing::info!(
            corp_id,
            customers = facts.len(),
            ms = started.elapsed().as_millis() as u64,
            "segment index loaded"
        );
        Ok(ci)
    }

    async fn catch_up(&self, corp_id: i64, ci: &mut CorpIndex) -> Result<()> {
        let now = now_ms();
        // The version first, then the names: a change committed in between
        // is read now and read again next time, never missed.
        let version = self.db.segment_refs_version(corp_id).await?;
        if ci.refs_version != Some(version) {
            ci.refs = self.read_refs(corp_id, &mut ci.index).await?;
            ci.refs_version = Some(version);
        }
        // Read from the horizon on, a page at a time; the horizon itself
        // moves only past entries old enough to have no earlier one pending.
        let mut cursor = ci.horizon;
        loop {
            let rows = self.db.customer_changes(corp_id, cursor, 10_000).await?;
            let full = rows.len() == 10_000;
            cursor = rows.last().map_or(cursor, |r| r.id);
            let mut fresh: Vec<i64> = rows.iter().filter(|r| !ci.seen.contains(&r.id)).map(|r| r.customer_id).collect();
            fresh.sort_unstable();
            fresh.dedup();
            if !fresh.is_empty() {
                for (id, f) in self.db.segment_facts(corp_id, Some(&fresh)).await? {
                    ci.put(id, &f);
                }
            }
            let settled = now - SETTLE_MS;
            let horizon =
                rows.iter().take_while(|r| r.recorded_at < settled).map(|r| r.id).last().unwrap_or(ci.horizon);
            ci.horizon = ci.horizon.max(horizon);
            ci.seen.extend(rows.iter().map(|r| r.id));
            let h = ci.horizon;
            ci.seen.retain(|&id| id > h);
            if !full {
                return Ok(());
            }
        }
    }

    /// What an expression may name in the corp; the stores' locations go
    /// to the index on the way, which keeps `within:` exact after a store
    /// is added or moved.
    async fn read_refs(&self, corp_id: i64, index: &mut SegmentIndex) -> Result<Refs> {
        let stores = self.db.stores(corp_id).await?;
        for s in &stores {
            index.set_store_location(s.id, s.lat.zip(s.lng));
        }
        Ok(Refs {
            tags: self.db.tag_catalogue(corp_id).await?.into_iter().map(|t| (t.tag_id, t.name)).collect(),
            stores: stores.iter().map(|s| s.id).collect(),
            staff: self.db.staff_list(corp_id).await?.iter().map(|s| s.id).collect(),
            codes: self.db.channel_codes(corp_id).await?.iter().map(|c| c.id).collect(),
            fields: self.defs(corp_id).await?.into_iter().map(|f| (f.name, f.kind)).collect(),
            groups: self.db.group_names(corp_id).await?,
        })
    }

    /// The caller's expression, checked against the corp's names as the
    /// index has them (see [`resolve_with`]).
    async fn resolve(&self, who: &Principal, input: &SegmentInput) -> Result<Expr> {
        require(who, Action::ViewCustomers)?;
        self.with_index(who.corp_id, |ci| resolve_with(&ci.refs, input)).await?
    }

    /// Counts an expression exactly, with a sample of members and, when
    /// asked, every member's id.
    pub async fn evaluate_segment(
        &self,
        who: &Principal,
        input: &SegmentInput,
        sample: usize,
        with_ids: bool,
    ) -> Result<SegmentResult> {
        require(who, Action::ViewCustomers)?;
        let started = std::time::Instant::now();
        let (asked, count, nos, ids) = self
            .with_index(who.corp_id, |ci| {
                let asked = resolve_with(&ci.refs, input)?;
                let expr = scoped(who, asked.clone());
                let count = ci.index.count(&expr);
                let picked = match sample.min(MAX_SAMPLE) {
                    0 => Vec::new(),
                    n => ci.customer_ids(ci.index.sample(&expr, n)),
                };
                Ok::<_, EngineError>((asked, count, picked, with_ids.then(|| ci.customer_ids(ci.index.ids(&expr)))))
            })
            .await??;
        let took_us = started.elapsed().as_micros() as u64;
        let sample = self.db.customer_briefs(who.corp_id, &nos).await?.into_iter().map(member).collect();
        Ok(SegmentResult { count, expr: asked.to_string(), sample, ids, took_us })
    }

    /// Every member's customer id (bulk tagging, exports).
    pub(crate) async fn segment_customer_ids(&self, who: &Principal, input: &SegmentInput) -> Result<Vec<i64>> {
        require(who, Action::ViewCustomers)?;
        self.with_index(who.corp_id, |ci| {
            let expr = scoped(who, resolve_with(&ci.refs, input)?);
            Ok(ci.customer_ids(ci.index.ids(&expr)))
        })
        .await?
    }

    /// The members as CSV rows.
    pub async fn export_segment(&self, who: &Principal, input: &SegmentInput) -> Result<Vec<ExportRow>> {
        require(who, Action::ViewCustomers)?;
        let ids = self.segment_customer_ids(who, input).await?;
        let names: HashMap<String, String> =
            self.db.tag_catalogue(who.corp_id).await?.into_iter().map(|t| (t.tag_id, t.name)).collect();
        let rows = self.db.customer_briefs(who.corp_id, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ExportRow {
                rfm: [r.rfm_r, r.rfm_f, r.rfm_m].map(|b| b.map_or("-".to_string(), |b| b.to_string())).join(""),
                spent: format!("{}.{:02}", r.spent_fen / 100, r.spent_fen % 100),
                tags: cell(
                    &r.tags
                        .iter()
                        .map(|t| names.get(t).map_or(t.as_str(), String::as_str))
                        .collect::<Vec<_>>()
                        .join(";"),
                ),
                id: r.id,
                external_userid: r.external_userid,
                name: cell(&r.name),
                stage: r.stage,
                influence: r.influence,
                orders: r.orders,
                added_at: r.added_at,
                last_active_at: r.last_active_at,
            })
            .collect())
    }

    pub async fn segments(&self, who: &Principal) -> Result<Vec<SegmentView>> {
        require(who, Action::ViewCustomers)?;
        let rows = self.db.segments(who.corp_id).await?;
        self.segment_views(who, rows).await
    }

    pub async fn segment(&self, who: &Principal, id: i64) -> Result<SegmentView> {
        require(who, Action::ViewCustomers)?;
        let row = self.db.segment(who.corp_id, id).await?.ok_or(EngineError::NotFound("segment"))?;
        Ok(self.segment_views(who, vec![row]).await?.remove(0))
    }

    /// Saved segments with their counts now, all counted in one visit to
    /// the index. A segment whose tag or store was deleted since counts 0
    /// rather than failing the whole list.
    async fn segment_views(
        &self,
        who: &Principal,
        rows: Vec<koi_store::customers::SegmentRow>,
    ) -> Result<Vec<SegmentView>> {
        let counts = self
            .with_index(who.corp_id, |ci| {
                let mut counts = Vec::with_capacity(rows.len());
                for row in &rows {
                    counts.push(match resolve_with(&ci.refs, &SegmentInput::Text(row.expr.clone())) {
                        Ok(expr) => (ci.refs.named(&expr), ci.index.count(&scoped(who, expr))),
                        Err(EngineError::BadExpression(_)) => (row.expr.clone(), 0),
                        Err(e) => return Err(e),
                    });
                }
                Ok(counts)
            })
            .await??;
        Ok(rows
            .into_iter()
            .zip(counts)
            .map(|(row, (named_expr, count))| SegmentView {
                id: row.id,
                name: row.name,
                expr: row.expr,
                named_expr,
                count,
                created_by: row.created_by,
                updated_at: row.updated_at,
            })
            .collect())
    }

    /// Saves a new segment (`id` None) or replaces one; the expression is
    /// stored in canonical text.
    pub async fn save_segment(
        &self,
        who: &Principal,
        id: Option<i64>,
        name: &str,
        input: &SegmentInput,
    ) -> Result<SegmentView> {
        require(who, Action::ManageSegments)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(koi_domain::ValidationError::one("name", "too_long", "name is 1..=64 characters").into());
        }
        let expr = self.resolve(who, input).await?.to_string();
        let now = now_ms();
        let id = match id {
            Some(id) => {
                if !self.db.update_segment(who.corp_id, id, name, &expr, now).await? {
                    return Err(EngineError::NotFound("segment"));
                }
                id
            }
            None => self.db.insert_segment(who.corp_id, name, &expr, &crate::actor(who), now).await?,
        };
        self.segment(who, id).await
    }

    pub async fn delete_segment(&self, who: &Principal, id: i64) -> Result<()> {
        require(who, Action::ManageSegments)?;
        if self.db.delete_segment(who.corp_id, id).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("segment"))
        }
    }
}

impl CorpIndex {
    /// Loads (or replaces) one customer.
    fn put(&mut self, customer_id: i64, f: &koi_domain::segment::CustomerFacts) {
        let no = f.id as usize;
        if no >= self.ids.len() {
            self.ids.resize(no + 1, 0);
        }
        self.ids[no] = customer_id;
        self.index.insert(f);
    }

    /// Customer ids of dense numbers, in their order.
    fn customer_ids(&self, nos: Vec<u32>) -> Vec<i64> {
        nos.into_iter().filter_map(|no| self.ids.get(no as usize).copied().filter(|&id| id > 0)).collect()
    }
}

/// Parses and checks an expression against what the corp has (see
/// [`Refs::check`]); JSON is validated first, as text is by parsing.
fn resolve_with(refs: &Refs, input: &SegmentInput) -> Result<Expr> {
    Ok(match input {
        SegmentInput::Text(t) => refs.parse(t)?,
        SegmentInput::Json(e) => {
            e.validate()?;
            refs.check(e.clone(), "")?
        }
    })
}

/// A store manager's segments hold only their stores' customers.
fn scoped(who: &Principal, expr: Expr) -> Expr {
    match who.store_scope() {
        None => expr,
        Some(stores) => Expr::And(vec![expr, Expr::Or(stores.iter().map(|&s| Cond::Store(s).into()).collect())]),
    }
}

/// A text cell as a spreadsheet will read it: a WeChat nickname such as
/// `=HYPERLINK(…)` must stay text, not become a formula (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn member(r: BriefRow) -> Member {
    Member { id: r.id, name: r.name, avatar: r.avatar, stage: r.stage, added_at: r.added_at }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koi_domain::access::Role;

    #[test]
    fn exported_text_never_becomes_a_formula() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+86"), "'+86");
        assert_eq!(cell("王芳"), "王芳");
    }

    #[test]
    fn a_manager_segment_is_scoped_to_their_stores() {
        let who =
            Principal { corp_id: 1, role: Role::StoreManager, user_id: Some(1), store_ids: vec![3], staff_id: None };
        let e: Expr = Cond::Tag("etA".into()).into();
        let s = scoped(&who, e.clone());
        assert_eq!(s, Expr::And(vec![e.clone(), Expr::Or(vec![Cond::Store(3).into()])]));
        let owner = Principal { role: Role::Owner, store_ids: vec![], ..who };
        assert_eq!(scoped(&owner, e.clone()), e);
    }
}
