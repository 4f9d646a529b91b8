//! Group metrics (社群数据): members, joins, leaves, net, speakers,
//! messages, activity rate and joined → first order, per group, kind or
//! store, by brand-local day.
//!
//! Computed when read rather than rolled up by a job: the store reads only
//! what happened since the window's first day (indexed by time, migration
//! 0011) plus each group's present count, so a 30-day window over 20,000
//! groups and 2M stays stays well under a second (BENCHMARKS.md), and the
//! numbers are never behind the membership they describe.

use crate::{require, Engine, Result};
use koi_domain::access::{Action, Principal};
use koi_domain::channel::DEFAULT_UTC_OFFSET_MIN;
use koi_domain::group::{day_text, series, DayMetrics, MetricTotals, MetricsBy, Window};
use koi_store::group_metrics::MetricsFilter;
use koi_store::now_ms;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const OFFSET_MS: i64 = DEFAULT_UTC_OFFSET_MIN as i64 * 60_000;

/// What a metrics query asks.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// group (default), kind or store.
    pub by: Option<String>,
    /// First day, `YYYY-MM-DD` (brand-local); default 29 days before `to`.
    pub from: Option<String>,
    /// Last day, included; default today. At most 366 days in all.
    pub to: Option<String>,
    /// Only this group.
    pub group_id: Option<i64>,
    /// Only groups of this kind.
    pub kind: Option<String>,
    /// Only groups of this store.
    pub store_id: Option<i64>,
}

/// The metrics of one group, kind or store.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricsRow {
    /// The group's id, the kind, or the store's id ("" for groups without a store).
    pub key: String,
    /// The group's or store's name; the kind itself.
    pub label: String,
    pub totals: MetricTotals,
    pub days: Vec<DayMetrics>,
}

/// Metrics over a window of days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricsReport {
    /// group, kind or store.
    pub by: String,
    /// First and last day, `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    pub rows: Vec<MetricsRow>,
}

impl Engine {
    /// Group metrics for the caller's groups (a store manager's are their
    /// stores'). Bad `by`, dates or kind are `invalid_input`.
    pub async fn group_metrics(&self, who: &Principal, q: &MetricsQuery) -> Result<MetricsReport> {
        require(who, Action::ViewGroups)?;
        let by = MetricsBy::parse(q.by.as_deref().unwrap_or(""))?;
        let window = Window::parse(q.from.as_deref(), q.to.as_deref(), now_ms())?;
        let kind = super::kind_filter(q.kind.as_deref())?;
        let f = MetricsFilter { group_id: q.group_id, kind, store_id: q.store_id, stores: who.store_scope() };
        let inputs = self.db.group_metric_inputs(who.corp_id, by, &f, window.span(), OFFSET_MS).await?;
        let labels = self.metric_labels(who, by).await?;
        let rows = inputs
            .iter()
            .map(|(key, input)| {
                let (days, totals) = series(input, window);
                let label = labels.get(key).cloned().unwrap_or_else(|| key.clone());
                MetricsRow { key: key.clone(), label, totals, days }
            })
            .collect();
        Ok(MetricsReport { by: by.as_str().into(), from: day_text(window.first), to: day_text(window.last), rows })
    }

    /// The last 30 days of one group (its detail page), when the caller
    /// may see it.
    pub async fn group_series(&self, who: &Principal, id: i64) -> Result<Option<MetricsRow>> {
        let q = MetricsQuery { group_id: Some(id), ..Default::default() };
        Ok(self.group_metrics(who, &q).await?.rows.into_iter().next())
    }

    /// What each key is called: a group's or a store's name; a kind is
    /// its own name (the console translates it).
    async fn metric_labels(&self, who: &Principal, by: MetricsBy) -> Result<HashMap<String, String>> {
        Ok(match by {
            MetricsBy::Group => {
                self.db.group_names(who.corp_id).await?.into_iter().map(|(id, name)| (id.to_string(), name)).collect()
            }
            MetricsBy::Kind => HashMap::new(),
            MetricsBy::Store => {
                self.db.stores(who.corp_id).await?.into_iter().map(|s| (s.id.to_string(), s.name)).collect()
            }
        })
    }
}
