//! When a step is due. Every wall-clock time is Asia/Shanghai: UTC+8 all
//! year (China has kept no daylight saving since 1991), so a local date is
//! the day number of `ms + 8 h`.

use super::{festivals, Step, Trigger};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const DAY_MS: i64 = 86_400_000;
/// Asia/Shanghai's offset from UTC.
pub const TZ_OFFSET_MS: i64 = 8 * 3_600_000;

/// A time of day, `HH:MM` (00:00..=23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hm {
    pub hour: u8,
    pub minute: u8,
}

impl Hm {
    pub fn new(hour: u8, minute: u8) -> Option<Hm> {
        (hour < 24 && minute < 60).then_some(Hm { hour, minute })
    }

    pub fn parse(text: &str) -> Option<Hm> {
        let (h, m) = text.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        Hm::new(h.parse().ok()?, m.parse().ok()?)
    }

    fn ms(self) -> i64 {
        (i64::from(self.hour) * 60 + i64::from(self.minute)) * 60_000
    }
}

impl std::fmt::Display for Hm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl Serialize for Hm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Hm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hm, D::Error> {
        let text = String::deserialize(d)?;
        Hm::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time HH:MM")))
    }
}

/// The Shanghai day number of an instant.
pub fn local_day(ms: i64) -> i64 {
    (ms + TZ_OFFSET_MS).div_euclid(DAY_MS)
}

/// The instant of `at` on Shanghai day `day`.
pub fn instant(day: i64, at: Hm) -> i64 {
    day * DAY_MS + at.ms() - TZ_OFFSET_MS
}

/// Weekday of a day number: 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> u8 {
    ((day + 3).rem_euclid(7) + 1) as u8
}

/// When a per-customer step is due, given its anchor (the add, the event):
/// `day` days after the anchor's Shanghai date at `at`, never before the
/// anchor itself (a day-0 step at 10:00 for a customer added at 15:00 is
/// due at once); without `at`, exactly `day` × 24 h after the anchor.
pub fn anchored_due(anchor: i64, step: &Step) -> i64 {
    let day = i64::from(step.day);
    match step.at {
        None => anchor + day * DAY_MS,
        Some(at) => instant(local_day(anchor) + day, at).max(anchor),
    }
}

/// The occurrences of a calendar trigger whose step is due in `(after,
/// until]`: `(occurrence, due)`, the occurrence being the calendar date's
/// day number (the festival's date, the weekday's date), the due time that
/// date plus the step's `day` at its `at`. Empty for other triggers.
pub fn calendar_occurrences(trigger: &Trigger, step: &Step, after: i64, until: i64) -> Vec<(i64, i64)> {
    let Some(at) = step.at else { return Vec::new() };
    if until <= after {
        return Vec::new();
    }
    let offset = i64::from(step.day);
    // Calendar dates d whose due (d + offset at `at`) lies in the window.
    let first = local_day(after) - offset - 1;
    let last = local_day(until) - offset + 1;
    let mut out = Vec::new();
    for d in first..=last {
        let fires = match trigger {
            Trigger::Weekly { weekdays } => weekdays.contains(&weekday(d)),
            Trigger::Festival { festivals: keys, brand_days } => festivals::is_calendar_day(keys, brand_days, d),
            _ => false,
        };
        if !fires {
            continue;
        }
        let due = instant(d + offset, at);
        if due > after && due <= until {
            out.push((d, due));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{festivals::BrandDay, StepAction};
    use super::*;
    use crate::calendar::days_from_civil;
    use proptest::prelude::*;

    fn step(day: i32, at: Option<(u8, u8)>) -> Step {
        Step {
            day,
            at: at.map(|(h, m)| Hm::new(h, m).unwrap()),
            action: StepAction::GuideTask { title: "t".into(), script_id: None, material_id: None },
        }
    }

    /// A Shanghai wall-clock instant.
    fn sh(y: i64, mo: u32, d: u32, h: u8, mi: u8) -> i64 {
        instant(days_from_civil(y, mo, d), Hm::new(h, mi).unwrap())
    }

    #[test]
    fn times_parse_and_print() {
        assert_eq!(Hm::parse("9:05"), Hm::new(9, 5));
        assert_eq!(Hm::parse("23:59").unwrap().to_string(), "23:59");
        for bad in ["24:00", "10:60", "10", "aa:bb", "10:5", ""] {
            assert_eq!(Hm::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn weekdays_are_iso() {
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(weekday(days_from_civil(2026, 12, 7)), 1, "2026-12-07 is a Monday");
        assert_eq!(weekday(days_from_civil(2026, 12, 13)), 7);
    }

    #[test]
    fn day_n_after_add_is_in_shanghai_time() {
        // Added 2026-12-07 23:30 Shanghai (15:30 UTC): day 1 at 10:00 is the 8th, Shanghai.
        let added = sh(2026, 12, 7, 23, 30);
        assert_eq!(anchored_due(added, &step(1, Some((10, 0)))), sh(2026, 12, 8, 10, 0));
        // Added 00:30 Shanghai (still the 6th in UTC): day 0 at 10:00 is the same Shanghai morning.
        let early = sh(2026, 12, 7, 0, 30);
        assert_eq!(anchored_due(early, &step(0, Some((10, 0)))), sh(2026, 12, 7, 10, 0));
        // Day 0 at 10:00 for someone added at 15:00: at once.
        let late = sh(2026, 12, 7, 15, 0);
        assert_eq!(anchored_due(late, &step(0, Some((10, 0)))), late);
        assert_eq!(anchored_due(late, &step(2, None)), late + 2 * DAY_MS);
    }

    #[test]
    fn every_tuesday_at_ten() {
        let t = Trigger::Weekly { weekdays: vec![2] };
        let s = step(0, Some((10, 0)));
        // Monday 2026-12-07 12:00 → the next Tuesday 10:00 is the 8th.
        let from = sh(2026, 12, 7, 12, 0);
        let got = calendar_occurrences(&t, &s, from, from + 7 * DAY_MS);
        assert_eq!(got, vec![(days_from_civil(2026, 12, 8), sh(2026, 12, 8, 10, 0))]);
        // A window ending just before 10:00 has none; one ending at 10:00 has it.
        assert!(calendar_occurrences(&t, &s, from, sh(2026, 12, 8, 9, 59)).is_empty());
        assert_eq!(calendar_occurrences(&t, &s, from, sh(2026, 12, 8, 10, 0)).len(), 1);
    }

    #[test]
    fn festivals_with_a_preheat() {
        let t = Trigger::Festival { festivals: vec!["mid_autumn".into()], brand_days: vec![] };
        let s = step(-2, Some((20, 0)));
        let from = sh(2026, 9, 1, 0, 0);
        let got = calendar_occurrences(&t, &s, from, sh(2026, 10, 1, 0, 0));
        // Mid-Autumn 2026 is 25 September: the preheat is the 23rd at 20:00.
        assert_eq!(got, vec![(days_from_civil(2026, 9, 25), sh(2026, 9, 23, 20, 0))]);
        let member_day = Trigger::Festival {
            festivals: vec![],
            brand_days: vec![BrandDay { name: "会员日".into(), month: None, day: 8 }],
        };
        let got = calendar_occurrences(&member_day, &step(0, Some((9, 0))), from, sh(2026, 12, 31, 0, 0));
        assert_eq!(got.len(), 4, "8 Sep, Oct, Nov, Dec");
    }

    proptest! {
        /// Windows that tile a span find each occurrence exactly once: a
        /// timer that runs at any rhythm never fires a date twice or skips one.
        #[test]
        fn tiled_windows_fire_each_occurrence_once(
            start in 1_700_000_000_000i64..1_900_000_000_000,
            cuts in proptest::collection::vec(1i64..3 * DAY_MS, 1..40),
            weekdays in proptest::collection::btree_set(1u8..=7, 1..4),
            day in -3i32..5,
            h in 0u8..24, m in 0u8..60,
        ) {
            let t = Trigger::Weekly { weekdays: weekdays.into_iter().collect() };
            let s = step(day, Some((h, m)));
            let end = start + cuts.iter().sum::<i64>();
            let whole = calendar_occurrences(&t, &s, start, end);
            let mut tiled = Vec::new();
            let mut at = start;
            for c in cuts {
                tiled.extend(calendar_occurrences(&t, &s, at, at + c));
                at += c;
            }
            prop_assert_eq!(&tiled, &whole);
            let mut occ: Vec<i64> = tiled.iter().map(|o| o.0).collect();
            occ.dedup();
            prop_assert_eq!(occ.len(), tiled.len(), "one due per occurrence");
            for (d, due) in whole {
                prop_assert!(due > start && due <= end);
                prop_assert_eq!(local_day(due), d + i64::from(day));
            }
        }

        /// A per-customer step is never due before its anchor, and lands on
        /// the right Shanghai date.
        #[test]
        fn anchored_steps_follow_their_anchor(anchor in 0i64..4_000_000_000_000, day in 0i32..366, h in 0u8..24, m in 0u8..60) {
            let due = anchored_due(anchor, &step(day, Some((h, m))));
            prop_assert!(due >= anchor);
            if day > 0 {
                prop_assert_eq!(local_day(due), local_day(anchor) + i64::from(day));
            }
        }
    }
}
