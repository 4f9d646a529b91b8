//! The SOP report per guide and per store: of the guide tasks SOP rules
//! made in a window, how many were planned, done, overdue (still to do a
//! day after they fell due) and how many steps were skipped for the
//! guide's customers and groups (the fatigue cap, out of the audience, the
//! rule disabled). One rule's or all rules'.

use crate::{require, Engine, Principal, Result};
use koi_domain::access::Action;
use koi_domain::sop::DAY_MS;
use koi_store::now_ms;
use koi_store::sop_report::SopReportScope;
use serde::Serialize;
use std::collections::BTreeMap;

/// A task still to do this long after it fell due is overdue.
pub const OVERDUE_AFTER_MS: i64 = DAY_MS;
/// The longest window the report covers, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

/// One guide's SOP work in the window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopGuideReport {
    pub staff_id: i64,
    pub userid: String,
    pub name: String,
    /// The guide's (first) store.
    pub store_id: Option<i64>,
    pub store_name: String,
    /// Tasks made for the guide.
    pub planned: i64,
    pub done: i64,
    /// Still to do a day after falling due.
    pub overdue: i64,
    /// Steps skipped for the guide's customers and groups.
    pub skipped: i64,
}

/// One store's guides together.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopStoreReport {
    pub store_id: Option<i64>,
    pub store_name: String,
    pub guides: i64,
    pub planned: i64,
    pub done: i64,
    pub overdue: i64,
    pub skipped: i64,
}

/// The report: per guide, per store, and the window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SopReport {
    /// One rule's work, or every rule's.
    pub rule_id: Option<i64>,
    pub days: i64,
    /// Tasks due and steps due from this time (ms).
    pub since: i64,
    pub guides: Vec<SopGuideReport>,
    pub stores: Vec<SopStoreReport>,
}

impl Engine {
    /// The SOP work of the last `days` days per guide and per store; a
    /// store manager sees the guides of their stores.
    pub async fn sop_report(&self, who: &Principal, rule_id: Option<i64>, days: i64) -> Result<SopReport> {
        require(who, Action::ViewSops)?;
        if !(1..=MAX_REPORT_DAYS).contains(&days) {
            return Err(super::invalid("days", "out_of_range", format!("days is 1..={MAX_REPORT_DAYS}")));
        }
        if let Some(id) = rule_id {
            self.sop(who, id).await?; // an unknown rule is not found
        }
        let now = now_ms();
        let since = now - days * DAY_MS;
        let scope = SopReportScope { corp_id: who.corp_id, rule_id, since, overdue_before: now - OVERDUE_AFTER_MS };
        let counts = self.db.sop_guide_report(scope).await?;
        let ids: Vec<i64> = counts.iter().map(|c| c.staff_id).collect();
        let senders = self.db.senders(who.corp_id, &ids).await?;
        let mut guides = Vec::with_capacity(counts.len());
        for c in counts {
            let Some(s) = senders.iter().find(|s| s.staff_id == c.staff_id) else { continue };
            if let Some(stores) = who.store_scope() {
                if !s.store_id.is_some_and(|id| stores.contains(&id)) {
                    continue;
                }
            }
            guides.push(SopGuideReport {
                staff_id: c.staff_id,
                userid: s.userid.clone(),
                name: s.name.clone(),
                store_id: s.store_id,
                store_name: s.store_name.clone().unwrap_or_default(),
                planned: c.planned,
                done: c.done,
                overdue: c.overdue,
                skipped: c.skipped,
            });
        }
        guides.sort_by(|a, b| (&a.store_name, &a.name, a.staff_id).cmp(&(&b.store_name, &b.name, b.staff_id)));
        let mut stores: BTreeMap<(String, Option<i64>), SopStoreReport> = BTreeMap::new();
        for g in &guides {
            let s = stores.entry((g.store_name.clone(), g.store_id)).or_insert_with(|| SopStoreReport {
                store_id: g.store_id,
                store_name: g.store_name.clone(),
                guides: 0,
                planned: 0,
                done: 0,
                overdue: 0,
                skipped: 0,
            });
            s.guides += 1;
            s.planned += g.planned;
            s.done += g.done;
            s.overdue += g.overdue;
            s.skipped += g.skipped;
        }
        Ok(SopReport { rule_id, days, since, guides, stores: stores.into_values().collect() })
    }
}
