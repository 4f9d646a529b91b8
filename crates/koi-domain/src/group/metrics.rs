//! Group metrics (社群数据): what the counts read from the store mean, day
//! by day in the brand's calendar (Asia/Shanghai, UTC+8).
//!
//! The store reads, per key (a group, a kind or a store), the members
//! present now, the joins and leaves on each day from the window's first
//! day until now, the messages and speakers of each day in the window, and
//! the window's joiners and first orders ([`MetricInputs`]). From those,
//! [`series`] gives each day's members at the end of the day (present now
//! less the joins after that day plus the leaves after it), joins, leaves,
//! net, speakers, messages and activity rate, and the window's totals.
//!
//! Activity rate is the share of members who spoke: distinct speakers ÷
//! members at the end of the day (or of the window). A speaker is counted
//! once per group they spoke in, as a member is once per group they are
//! in, so rates over a kind or a store weigh every group's members alike.
//! Taking part in a campaign does not count yet: koi has no group campaigns.

use crate::calendar::{civil_from_days, parse_date};
use crate::channel::DEFAULT_UTC_OFFSET_MIN;
use crate::{Millis, ValidationError};
use serde::Serialize;
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;
const OFFSET_MS: i64 = DEFAULT_UTC_OFFSET_MIN as i64 * 60_000;
/// Longest window one query covers: a year and a day, so "last year" fits.
pub const MAX_DAYS: i64 = 366;
/// Days a window covers when the query names none.
pub const DEFAULT_DAYS: i64 = 30;

/// The brand-local day (days since 1970-01-01) an instant falls on.
pub fn local_day(ms: Millis) -> i64 {
    (ms + OFFSET_MS).div_euclid(DAY_MS)
}

/// The instant a brand-local day starts.
pub fn day_start(day: i64) -> Millis {
    day * DAY_MS - OFFSET_MS
}

/// `YYYY-MM-DD` of a day number.
pub fn day_text(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What the store groups metrics by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsBy {
    Group,
    Kind,
    Store,
}

impl MetricsBy {
    pub fn parse(s: &str) -> Result<MetricsBy, ValidationError> {
        match s.trim() {
            "" | "group" => Ok(MetricsBy::Group),
            "kind" => Ok(MetricsBy::Kind),
            "store" => Ok(MetricsBy::Store),
            other => Err(ValidationError::one(
                "by",
                "unknown_grouping",
                format!("by is group, kind or store (not {other:?})"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricsBy::Group => "group",
            MetricsBy::Kind => "kind",
            MetricsBy::Store => "store",
        }
    }
}

/// Brand-local days `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: i64,
    pub last: i64,
}

impl Window {
    /// The window a query names: `from` and `to` as `YYYY-MM-DD` (both
    /// included); without `to`, today; without `from`, the
    /// [`DEFAULT_DAYS`] ending on `to`. At most [`MAX_DAYS`] days.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: Millis) -> Result<Window, ValidationError> {
        let day = |field: &str, v: Option<&str>| -> Result<Option<i64>, ValidationError> {
            match v.map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => parse_date(v).map(Some).ok_or_else(|| {
                    ValidationError::one(field, "bad_date", format!("{field} is YYYY-MM-DD (not {v:?})"))
                }),
            }
        };
        let last = day("to", to)?.unwrap_or_else(|| local_day(now));
        let first = day("from", from)?.unwrap_or(last - (DEFAULT_DAYS - 1));
        if first > last {
            return Err(ValidationError::one("from", "out_of_range", "from is after to"));
        }
        if last - first + 1 > MAX_DAYS {
            return Err(ValidationError::one("to", "out_of_range", format!("a window is at most {MAX_DAYS} days")));
        }
        Ok(Window { first, last })
    }

    /// The instants `[start, end)` the window covers.
    pub fn span(&self) -> (Millis, Millis) {
        (day_start(self.first), day_start(self.last + 1))
    }

    pub fn days(&self) -> impl Iterator<Item = i64> {
        self.first..=self.last
    }
}

/// What the store read for one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricInputs {
    /// Present members now.
    pub present: i64,
    /// Day → stays begun that day, from the window's first day to now.
    pub joins: BTreeMap<i64, i64>,
    /// Day → stays ended that day, from the window's first day to now.
    pub leaves: BTreeMap<i64, i64>,
    /// Day → (messages, distinct speakers per group), in the window.
    pub messages: BTreeMap<i64, (i64, i64)>,
    /// Distinct speakers per group over the whole window.
    pub window_speakers: i64,
    /// Customers who joined in the window, and those of them whose first
    /// order came at or after their (first) join in it.
    pub joined_customers: i64,
    pub converted: i64,
}

/// One day of one key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayMetrics {
    /// `YYYY-MM-DD`, brand-local.
    pub date: String,
    /// Members at the end of the day.
    pub members: i64,
    pub joins: i64,
    pub leaves: i64,
    /// joins − leaves.
    pub net: i64,
    /// Members who sent a message that day (once per group).
    pub speakers: i64,
    pub messages: i64,
    /// speakers ÷ members (0 without members), 0..=1.
    pub activity_rate: f64,
}

/// A window's totals for one key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricTotals {
    /// Members at the start of the window's first day.
    pub members_start: i64,
    /// Members at the end of the window's last day.
    pub members_end: i64,
    pub joins: i64,
    pub leaves: i64,
    pub net: i64,
    /// Members who spoke in the window (once per group).
    pub speakers: i64,
    pub messages: i64,
    /// speakers ÷ members at the end of the window, 0..=1.
    pub activity_rate: f64,
    /// Customers who joined in the window.
    pub joined_customers: i64,
    /// Of those, the ones whose first order came after their join.
    pub converted: i64,
    /// converted ÷ joined_customers (0 without joiners).
    pub conversion_rate: f64,
}

/// `part ÷ whole`, 0 for an empty whole, at most 1 (a speaker who left
/// before the day's end still spoke).
fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        (part as f64 / whole as f64).min(1.0)
    }
}

/// The days of the window and its totals, from what the store read.
pub fn series(input: &MetricInputs, w: Window) -> (Vec<DayMetrics>, MetricTotals) {
    let after = |m: &BTreeMap<i64, i64>, day: i64| m.range(day + 1..).map(|(_, n)| n).sum::<i64>();
    // Members at the end of `day`: what is present now, less who came
    // after it, plus who left after it.
    let members_at_end = |day: i64| input.present - after(&input.joins, day) + after(&input.leaves, day);
    let days: Vec<DayMetrics> = w
        .days()
        .map(|day| {
            let joins = input.joins.get(&day).copied().unwrap_or(0);
            let leaves = input.leaves.get(&day).copied().unwrap_or(0);
            let (messages, speakers) = input.messages.get(&day).copied().unwrap_or((0, 0));
            let members = members_at_end(day);
            DayMetrics {
                date: day_text(day),
                members,
                joins,
                leaves,
                net: joins - leaves,
                speakers,
                messages,
                activity_rate: rate(speakers, members),
            }
        })
        .collect();
    let members_end = members_at_end(w.last);
    let (joins, leaves) = (days.iter().map(|d| d.joins).sum::<i64>(), days.iter().map(|d| d.leaves).sum::<i64>());
    let totals = MetricTotals {
        members_start: members_at_end(w.first - 1),
        members_end,
        joins,
        leaves,
        net: joins - leaves,
        speakers: input.window_speakers,
        messages: days.iter().map(|d| d.messages).sum(),
        activity_rate: rate(input.window_speakers, members_end),
        joined_customers: input.joined_customers,
        converted: input.converted,
        conversion_rate: rate(input.converted, input.joined_customers),
    };
    (days, totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    #[test]
    fn days_are_shanghai_days() {
        let d = days_from_civil(2026, 3, 1);
        assert_eq!(local_day(day_start(d)), d);
        assert_eq!(local_day(day_start(d) - 1), d - 1, "23:59:59.999 the day before");
        // 2026-03-01 00:00 in Shanghai is 2026-02-28 16:00 UTC.
        assert_eq!(day_start(d), days_from_civil(2026, 2, 28) * DAY_MS + 16 * 3_600_000);
        assert_eq!(day_text(d), "2026-03-01");
    }

    #[test]
    fn windows_default_and_refuse() {
        let now = day_start(days_from_civil(2026, 3, 10)) + 5_000;
        let w = Window::parse(None, None, now).unwrap();
        assert_eq!((day_text(w.first), day_text(w.last)), ("2026-02-09".into(), "2026-03-10".into()));
        let w = Window::parse(Some("2026-03-01"), Some("2026-03-01"), now).unwrap();
        assert_eq!(w.span(), (day_start(w.first), day_start(w.first) + DAY_MS));
        let code = |f, t| Window::parse(f, t, now).unwrap_err().0[0].code.clone();
        assert_eq!(code(Some("2026-03-02"), Some("2026-03-01")), "out_of_range");
        assert_eq!(code(Some("2024-01-01"), Some("2026-03-01")), "out_of_range");
        assert_eq!(code(Some("2026-02-30"), None), "bad_date");
        assert_eq!(code(None, Some("yesterday")), "bad_date");
        assert_eq!(MetricsBy::parse("").unwrap(), MetricsBy::Group);
        assert_eq!(MetricsBy::parse("store").unwrap(), MetricsBy::Store);
        assert_eq!(MetricsBy::parse("owner").unwrap_err().0[0].code, "unknown_grouping");
    }

    #[test]
    fn members_at_the_end_of_each_day_count_back_from_now() {
        let d = days_from_civil(2026, 3, 1);
        let w = Window { first: d, last: d + 2 };
        // Now 10 present. Joins: 3 on day 0, 2 on day 2, 4 after the
        // window; leaves: 1 on day 1, 2 after the window.
        let input = MetricInputs {
            present: 10,
            joins: [(d, 3), (d + 2, 2), (d + 5, 4)].into(),
            leaves: [(d + 1, 1), (d + 4, 2)].into(),
            messages: [(d, (7, 2)), (d + 2, (1, 1))].into(),
            window_speakers: 3,
            joined_customers: 4,
            converted: 1,
        };
        let (days, t) = series(&input, w);
        // End of day 2: 10 − 4 + 2 = 8; day 1: 8 − 2 = 6; day 0: 6 + 1 = 7;
        // before day 0: 7 − 3 = 4.
        assert_eq!(days.iter().map(|d| d.members).collect::<Vec<_>>(), [7, 6, 8]);
        assert_eq!(days.iter().map(|d| d.net).collect::<Vec<_>>(), [3, -1, 2]);
        assert_eq!((days[0].speakers, days[0].messages), (2, 7));
        assert!((days[0].activity_rate - 2.0 / 7.0).abs() < 1e-9);
        assert_eq!(days[1].activity_rate, 0.0);
        assert_eq!((t.members_start, t.members_end, t.joins, t.leaves, t.net, t.messages), (4, 8, 5, 1, 4, 8));
        assert!((t.activity_rate - 3.0 / 8.0).abs() < 1e-9);
        assert!((t.conversion_rate - 0.25).abs() < 1e-9);
        let (_, empty) = series(&MetricInputs::default(), w);
        assert_eq!((empty.activity_rate, empty.conversion_rate), (0.0, 0.0));
    }
}
