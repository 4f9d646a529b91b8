//! Read-only reports for the console: a channel code's last 30 days (by
//! day, member and store), the running totals of every code, the home
//! page's adds and losses (today, 7 days, per store), and customers
//! filtered by how they came, by text, tag and stage. Each checks who is
//! asking and narrows a store manager to their own stores before the store
//! is asked.

use crate::acquisition::{Customer, Follow};
use crate::{require, Engine, EngineError, Principal, Result};
use koi_domain::access::Action;
use koi_domain::channel::{local_day, CodeDayStats, DEFAULT_UTC_OFFSET_MIN};
use koi_store::events::Event;
use koi_store::now_ms;
use koi_store::reports::CodeDayCount;
use std::collections::HashMap;

pub use koi_domain::customer::CustomerFilter;

/// How far back a code's report looks.
pub const REPORT_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// A code's numbers over the last [`REPORT_DAYS`] local days.
#[derive(Debug, Clone, Default)]
pub struct CodeReport {
    /// Every day of the window, oldest first, zero days included (a chart
    /// needs the gaps).
    pub days: Vec<(i64, CodeDayStats)>,
    pub by_staff: Vec<(i64, CodeDayStats)>,
    pub by_store: Vec<(Option<i64>, CodeDayStats)>,
    pub total: CodeDayStats,
    /// Per welcome variant (index into the code's variants): sent, then lost.
    pub variants: Vec<(usize, u32, u32)>,
    /// The orders attributed to the code in the window.
    pub orders: CodeOrders,
}

/// A code's orders: how many, their buyers, first orders, GMV (paid less
/// refunded, fen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CodeOrders {
    pub orders: i64,
    pub buyers: i64,
    pub first_orders: i64,
    pub gmv_fen: i64,
}

/// Adds a report cell to a day's (or member's, or store's) numbers.
fn count(into: &mut CodeDayStats, cell: &CodeDayCount) {
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    into.adds += n(cell.adds);
    into.returning += n(cell.returning);
    into.new_customers += n(cell.adds - cell.returning);
    into.deletions += n(cell.deletions);
    into.net = i64::from(into.adds) - i64::from(into.deletions);
}

/// The report from its cells: `today` is the last local day of the window.
pub fn code_report(cells: &[CodeDayCount], today: i64) -> CodeReport {
    let first = today - (REPORT_DAYS - 1);
    let mut r =
        CodeReport { days: (first..=today).map(|d| (d, CodeDayStats::default())).collect(), ..Default::default() };
    let mut staff: HashMap<i64, CodeDayStats> = HashMap::new();
    let mut stores: HashMap<Option<i64>, CodeDayStats> = HashMap::new();
    for cell in cells.iter().filter(|c| (first..=today).contains(&c.day)) {
        if let Some((_, s)) = r.days.iter_mut().find(|(d, _)| *d == cell.day) {
            count(s, cell);
        }
        count(staff.entry(cell.staff_id).or_default(), cell);
        count(stores.entry(cell.store_id).or_default(), cell);
        count(&mut r.total, cell);
    }
    r.by_staff = staff.into_iter().collect();
    r.by_staff.sort_by_key(|(id, s)| (std::cmp::Reverse(s.adds), *id));
    r.by_store = stores.into_iter().collect();
    r.by_store.sort_by_key(|(id, s)| (std::cmp::Reverse(s.adds), *id));
    r
}

/// A page of customers and whether another follows it.
#[derive(Debug, Clone, Default)]
pub struct CustomerPage {
    pub customers: Vec<Customer>,
    pub has_more: bool,
    /// How many customers match the filter, over all pages.
    pub total: i64,
}

/// Follows won, lost and the difference over a stretch of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Movement {
    pub adds: i64,
    pub losses: i64,
    pub net: i64,
}

impl Movement {
    fn of(adds: i64, losses: i64) -> Movement {
        Movement { adds, losses, net: adds - losses }
    }

    fn plus(self, o: Movement) -> Movement {
        Movement::of(self.adds + o.adds, self.losses + o.losses)
    }
}

/// One store on the home page's ranking.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StoreRank {
    /// `None` for follows no store is known for.
    pub store_id: Option<i64>,
    pub name: String,
    pub today: Movement,
    pub week: Movement,
}

/// The home page's business numbers: today's and the last 7 local days'
/// adds, losses and net, the customers in all, and the stores ranked by
/// today's adds, then the week's. A store manager's numbers are their
/// stores' only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HomeNumbers {
    pub today: Movement,
    pub week: Movement,
    pub total_customers: i64,
    pub stores: Vec<StoreRank>,
}

impl Engine {
    /// The home page's numbers as of now.
    pub async fn home_numbers(&self, who: &Principal) -> Result<HomeNumbers> {
        self.home_numbers_at(who, now_ms()).await
    }

    /// The home page's numbers as of `now` (ms): "today" is the local day
    /// of `now`, the week that day and the six before it.
    pub async fn home_numbers_at(&self, who: &Principal, now: i64) -> Result<HomeNumbers> {
        require(who, Action::ViewCustomers)?;
        let offset_ms = i64::from(DEFAULT_UTC_OFFSET_MIN) * 60_000;
        let today = local_day(now, DEFAULT_UTC_OFFSET_MIN);
        let (day_start, week_start) = (today * DAY_MS - offset_ms, (today - 6) * DAY_MS - offset_ms);
        let scope = who.store_scope();
        let rows = self.db.store_movements(who.corp_id, day_start, week_start, scope).await?;
        let names: HashMap<i64, String> =
            self.db.stores(who.corp_id).await?.into_iter().map(|s| (s.id, s.name)).collect();
        let mut n = HomeNumbers::default();
        for r in rows {
            let rank = StoreRank {
                store_id: r.store_id,
                name: r.store_id.and_then(|id| names.get(&id).cloned()).unwrap_or_default(),
                today: Movement::of(r.adds_today, r.losses_today),
                week: Movement::of(r.adds_week, r.losses_week),
            };
            n.today = n.today.plus(rank.today);
            n.week = n.week.plus(rank.week);
            n.stores.push(rank);
        }
        n.stores.sort_by(|a, b| {
            (b.today.adds, b.week.adds, b.today.net)
                .cmp(&(a.today.adds, a.week.adds, a.today.net))
                .then(a.store_id.cmp(&b.store_id))
        });
        n.total_customers = self.db.customer_count(who.corp_id, &CustomerFilter::default(), scope).await?;
        Ok(n)
    }

    /// `(adds, live follows)` of every code the principal sees, by code id.
    pub async fn code_totals(&self, who: &Principal) -> Result<HashMap<i64, (i64, i64)>> {
        require(who, Action::ViewStores)?;
        let rows = self.db.code_totals(who.corp_id).await?;
        Ok(rows.into_iter().map(|t| (t.code_id, (t.adds, t.live))).collect())
    }

    /// A code's last 30 days, by day, member and store.
    pub async fn code_report(&self, who: &Principal, code_id: i64) -> Result<CodeReport> {
        self.channel_code(who, code_id).await?; // visible, or not found
        let now = now_ms();
        let offset_min = DEFAULT_UTC_OFFSET_MIN;
        let today = local_day(now, offset_min);
        let offset_ms = i64::from(offset_min) * 60_000;
        let since = (today - (REPORT_DAYS - 1)) * DAY_MS - offset_ms;
        let cells = self.db.code_day_counts(who.corp_id, code_id, since, offset_ms).await?;
        let mut report = code_report(&cells, today);
        for (day, n) in self.db.landing_visits_by_day(who.corp_id, code_id, since, offset_ms).await? {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if let Some((_, s)) = report.days.iter_mut().find(|(d, _)| *d == day) {
                s.landing_visits += n;
                report.total.landing_visits += n;
            }
        }
        // A/B: which variant each greeted customer got, and who left since.
        let mut variants: HashMap<usize, (u32, u32)> = HashMap::new();
        for (payload, lost) in self.db.welcome_outcomes(who.corp_id, code_id).await? {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            if v["code_id"].as_i64() != Some(code_id) {
                continue;
            }
            let Some(variant) = v["variant"].as_u64() else { continue };
            let e = variants.entry(variant as usize).or_default();
            e.0 += 1;
            e.1 += u32::from(lost);
        }
        report.variants = variants.into_iter().map(|(v, (sent, lost))| (v, sent, lost)).collect();
        report.variants.sort_unstable();
        let o = self.db.code_orders(who.corp_id, code_id, since).await?;
        report.orders =
            CodeOrders { orders: o.orders, buyers: o.buyers, first_orders: o.first_orders, gmv_fen: o.gmv_fen };
        Ok(report)
    }

    /// Customers matching `filter`, newest first, `per_page` at a time
    /// (`page` from 0). A store manager sees only their stores' customers.
    pub async fn customer_page(
        &self,
        who: &Principal,
        filter: CustomerFilter,
        page: i64,
        per_page: i64,
    ) -> Result<CustomerPage> {
        require(who, Action::ViewCustomers)?;
        filter.validate()?;
        let per_page = per_page.clamp(1, 200);
        let offset = page.clamp(0, 100_000) * per_page;
        let scope = who.store_scope();
        let mut rows = self.db.customer_page(who.corp_id, &filter, scope, per_page + 1, offset).await?;
        let has_more = rows.len() as i64 > per_page;
        rows.truncate(per_page as usize);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut follows: HashMap<i64, Vec<Follow>> = HashMap::new();
        for f in self.db.follows_of_customers(who.corp_id, &ids).await? {
            follows.entry(f.customer_id).or_default().push(Follow::from(f));
        }
        let customers = rows
            .into_iter()
            .map(|c| {
                let f = follows.remove(&c.id).unwrap_or_default();
                Customer::of(c, f)
            })
            .collect();
        let total = self.db.customer_count(who.corp_id, &filter, scope).await?;
        Ok(CustomerPage { customers, has_more, total })
    }

    /// The events about a customer, newest first.
    pub async fn customer_timeline(&self, who: &Principal, customer_id: i64) -> Result<Vec<Event>> {
        self.customer(who, customer_id).await?; // visible, or not found
        let subject = format!("customer:{customer_id}");
        self.db.events(who.corp_id, None, Some(&subject), 500).await.map_err(EngineError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(day: i64, staff_id: i64, adds: i64, returning: i64, deletions: i64) -> CodeDayCount {
        CodeDayCount { day, staff_id, store_id: Some(1), adds, returning, deletions }
    }

    #[test]
    fn the_window_has_every_day_and_the_breakdowns_add_up() {
        let cells = [cell(100, 7, 3, 1, 0), cell(100, 8, 2, 0, 1), cell(95, 7, 1, 0, 2), cell(60, 7, 9, 0, 0)];
        let r = code_report(&cells, 100);
        assert_eq!(r.days.len(), REPORT_DAYS as usize);
        assert_eq!(r.days.first().map(|d| d.0), Some(71));
        let today = r.days.last().expect("today").1;
        assert_eq!((today.adds, today.new_customers, today.returning, today.deletions, today.net), (5, 4, 1, 1, 4));
        assert_eq!((r.total.adds, r.total.deletions, r.total.net), (6, 3, 3), "day 60 is outside the window");
        assert_eq!(r.by_staff.iter().map(|(id, s)| (*id, s.adds)).collect::<Vec<_>>(), vec![(7, 4), (8, 2)]);
        assert_eq!(r.by_store.len(), 1);
    }
}
