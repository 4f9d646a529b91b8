//! Working hours and the brand-local clock. Stores open and close in local
//! time and a "daily" cap resets at local midnight, while koi stores UTC
//! milliseconds; the offset is passed in (UTC+8 unless the corp says
//! otherwise) so these stay pure.

use crate::error::Checker;
use crate::Millis;
use serde::{Deserialize, Serialize};

/// Asia/Shanghai. China has no daylight saving, so a fixed offset is exact.
pub const DEFAULT_UTC_OFFSET_MIN: i32 = 8 * 60;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// When a pool member takes new customers, in the brand's local time.
///
/// `start_minute < end_minute` is a same-day shift `[start, end)`.
/// `start_minute > end_minute` is an overnight shift (live-stream hosts, 22:00–02:00):
/// it starts on a listed day and runs past midnight into the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkingHours {
    /// Bit 0 = Monday … bit 6 = Sunday.
    pub days: u8,
    /// Minutes after local midnight, 0..=1440.
    pub start_minute: u16,
    pub end_minute: u16,
}

impl WorkingHours {
    pub const WEEKDAYS: u8 = 0b001_1111;
    pub const WEEKEND: u8 = 0b110_0000;
    pub const EVERY_DAY: u8 = 0b111_1111;

    pub fn new(days: u8, start_minute: u16, end_minute: u16) -> Self {
        Self { days, start_minute, end_minute }
    }

    fn on(&self, weekday: u32) -> bool {
        self.days & (1 << weekday) != 0
    }

    /// Whether `now_ms` falls in these hours for a brand at `utc_offset_min`.
    pub fn contains(&self, now_ms: Millis, utc_offset_min: i32) -> bool {
        let (weekday, minute) = local_weekday_minute(now_ms, utc_offset_min);
        let (start, end) = (self.start_minute, self.end_minute);
        if start < end {
            self.on(weekday) && (start..end).contains(&minute)
        } else if start > end {
            let yesterday = (weekday + 6) % 7;
            (self.on(weekday) && minute >= start) || (self.on(yesterday) && minute < end)
        } else {
            false
        }
    }

    pub(crate) fn check(&self, c: &mut Checker, field: &str) {
        if self.days == 0 || self.days > Self::EVERY_DAY {
            c.push(&format!("{field}.days"), "out_of_range", "pick at least one day of the week");
        }
        for (name, v) in [("start_minute", self.start_minute), ("end_minute", self.end_minute)] {
            if v > MINUTES_PER_DAY {
                c.push(&format!("{field}.{name}"), "out_of_range", format!("{name} must be 0..=1440"));
            }
        }
        if self.start_minute == self.end_minute {
            c.push(&format!("{field}.end_minute"), "empty_hours", "working hours must not start and end together");
        }
    }
}

/// The brand-local calendar day of `ms` (days since 1970-01-01 local): the
/// key for daily caps and per-day stats, so "today" ends at the store's
/// midnight rather than at 08:00 Beijing time.
pub fn local_day(ms: Millis, utc_offset_min: i32) -> i64 {
    local_ms(ms, utc_offset_min).div_euclid(DAY_MS)
}

fn local_ms(ms: Millis, utc_offset_min: i32) -> i64 {
    ms.saturating_add(i64::from(utc_offset_min) * MINUTE_MS)
}

/// (weekday with Monday = 0, minute of the day), local.
fn local_weekday_minute(ms: Millis, utc_offset_min: i32) -> (u32, u16) {
    let local = local_ms(ms, utc_offset_min);
    // 1970-01-01 was a Thursday (Monday = 0 → 3).
    let weekday = (local.div_euclid(DAY_MS) + 3).rem_euclid(7) as u32;
    let minute = (local.rem_euclid(DAY_MS) / MINUTE_MS) as u16;
    (weekday, minute)
}

/// 2024-06-03 is a Monday. UTC ms for that Monday + `day` days at Shanghai hh:mm.
#[cfg(test)]
pub(crate) fn shanghai(day: i64, hh: i64, mm: i64) -> Millis {
    let monday_local_midnight_utc = 1_717_372_800_000 - 8 * 3_600_000;
    monday_local_midnight_utc + day * DAY_MS + (hh * 60 + mm) * MINUTE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_lands_on_monday_morning() {
        assert_eq!(local_weekday_minute(shanghai(0, 9, 30), DEFAULT_UTC_OFFSET_MIN), (0, 570));
        assert_eq!(local_weekday_minute(shanghai(6, 23, 59), DEFAULT_UTC_OFFSET_MIN), (6, 1439));
    }

    #[test]
    fn weekday_shift_is_half_open() {
        let h = WorkingHours::new(WorkingHours::WEEKDAYS, 10 * 60, 22 * 60);
        let o = DEFAULT_UTC_OFFSET_MIN;
        assert!(!h.contains(shanghai(0, 9, 59), o));
        assert!(h.contains(shanghai(0, 10, 0), o));
        assert!(h.contains(shanghai(4, 21, 59), o));
        assert!(!h.contains(shanghai(4, 22, 0), o));
        assert!(!h.contains(shanghai(5, 12, 0), o), "Saturday is off");
    }

    #[test]
    fn overnight_shift_belongs_to_the_day_it_starts() {
        // Friday only, 22:00–02:00.
        let h = WorkingHours::new(1 << 4, 22 * 60, 2 * 60);
        let o = DEFAULT_UTC_OFFSET_MIN;
        assert!(h.contains(shanghai(4, 23, 0), o));
        assert!(h.contains(shanghai(5, 1, 59), o), "Saturday 01:59 is still Friday's shift");
        assert!(!h.contains(shanghai(5, 2, 0), o));
        assert!(!h.contains(shanghai(4, 1, 0), o), "Friday 01:00 belongs to Thursday, which is off");
    }

    #[test]
    fn the_offset_moves_the_day() {
        let h = WorkingHours::new(WorkingHours::EVERY_DAY, 9 * 60, 10 * 60);
        let t = shanghai(0, 9, 30);
        assert!(h.contains(t, DEFAULT_UTC_OFFSET_MIN));
        assert!(!h.contains(t, 0), "01:30 UTC is not 09:30 in London");
        assert_eq!(local_day(shanghai(0, 23, 59), 480) + 1, local_day(shanghai(1, 0, 0), 480));
        assert_eq!(local_day(shanghai(0, 7, 0), 480), local_day(shanghai(0, 0, 0), 480), "not UTC midnight");
    }

    #[test]
    fn extreme_clock_values_do_not_panic() {
        let h = WorkingHours::new(WorkingHours::EVERY_DAY, 0, 1440);
        assert!(h.contains(i64::MAX, 840));
        assert!(h.contains(i64::MIN, -720));
    }

    #[test]
    fn bad_hours_name_the_field() {
        let mut c = Checker::default();
        WorkingHours::new(0, 600, 600).check(&mut c, "pool[0].hours");
        WorkingHours::new(1, 600, 1441).check(&mut c, "pool[1].hours");
        let err = c.finish(()).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["pool[0].hours.days", "pool[0].hours.end_minute", "pool[1].hours.end_minute"]);
    }
}
