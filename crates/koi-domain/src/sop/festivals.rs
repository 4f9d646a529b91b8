//! The festival calendar. Lunar festivals move in the Gregorian calendar:
//! their dates are listed for 2024–2035 (a lunar conversion is not worth
//! its weight for twelve years; extend the table before 2035). Shopping
//! festivals and the brand's own days are fixed dates.

use crate::calendar::days_from_civil;
use crate::error::Checker;
use crate::ValidationError;
use serde::{Deserialize, Serialize};

/// A brand's own day: every year on `month`-`day`, or every month on `day`
/// when `month` is empty (a membership day on the 8th). A day past the end
/// of a month (31 in April) does not happen that month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrandDay {
    pub name: String,
    #[serde(default)]
    pub month: Option<u32>,
    pub day: u32,
}

impl BrandDay {
    pub fn check(&self) -> Result<(), ValidationError> {
        let mut c = Checker::default();
        if self.month.is_some_and(|m| !(1..=12).contains(&m)) {
            c.push("trigger.brand_days.month", "out_of_range", "month is 1..=12");
        }
        if !(1..=31).contains(&self.day) {
            c.push("trigger.brand_days.day", "out_of_range", "day is 1..=31");
        }
        c.finish(())
    }

    fn is(&self, day: i64) -> bool {
        let (_, m, d) = crate::calendar::civil_from_days(day);
        d == self.day && self.month.is_none_or(|want| want == m)
    }
}

/// A festival of the calendar: its key, Chinese and English names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Festival {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// Fixed month and day, or `None` for a lunar festival (see [`LUNAR`]).
    fixed: Option<(u32, u32)>,
}

const fn fixed(key: &'static str, zh: &'static str, en: &'static str, m: u32, d: u32) -> Festival {
    Festival { key, zh, en, fixed: Some((m, d)) }
}

const fn lunar(key: &'static str, zh: &'static str, en: &'static str) -> Festival {
    Festival { key, zh, en, fixed: None }
}

/// Every festival an SOP may name.
pub const FESTIVALS: &[Festival] = &[
    fixed("new_year", "元旦", "New Year's Day", 1, 1),
    lunar("spring_festival", "春节", "Spring Festival"),
    lunar("lantern", "元宵节", "Lantern Festival"),
    fixed("valentines", "情人节", "Valentine's Day", 2, 14),
    fixed("womens_day", "妇女节", "Women's Day", 3, 8),
    fixed("may_day", "劳动节", "Labour Day", 5, 1),
    fixed("520", "520", "520 (I love you)", 5, 20),
    lunar("dragon_boat", "端午节", "Dragon Boat Festival"),
    fixed("618", "618", "618 shopping festival", 6, 18),
    lunar("qixi", "七夕", "Qixi"),
    lunar("mid_autumn", "中秋节", "Mid-Autumn Festival"),
    fixed("national_day", "国庆节", "National Day", 10, 1),
    fixed("double_eleven", "双十一", "Double Eleven", 11, 11),
    fixed("double_twelve", "双十二", "Double Twelve", 12, 12),
    fixed("christmas", "圣诞节", "Christmas", 12, 25),
];

/// Lunar festivals' Gregorian dates by year, 2024–2035: Spring Festival
/// (1/1), Dragon Boat (5/5), Qixi (7/7), Mid-Autumn (8/15). The Lantern
/// Festival (1/15) is always 14 days after the Spring Festival.
/// A month and day.
type Md = (u32, u32);

const LUNAR: &[(i64, Md, Md, Md, Md)] = &[
    (2024, (2, 10), (6, 10), (8, 10), (9, 17)),
    (2025, (1, 29), (5, 31), (8, 29), (10, 6)),
    (2026, (2, 17), (6, 19), (8, 19), (9, 25)),
    (2027, (2, 6), (6, 9), (8, 8), (9, 15)),
    (2028, (1, 26), (5, 28), (8, 26), (10, 3)),
    (2029, (2, 13), (6, 16), (8, 16), (9, 22)),
    (2030, (2, 3), (6, 5), (8, 5), (9, 12)),
    (2031, (1, 23), (6, 24), (8, 24), (10, 1)),
    (2032, (2, 11), (6, 12), (8, 12), (9, 19)),
    (2033, (1, 31), (6, 1), (8, 1), (9, 8)),
    (2034, (2, 19), (6, 20), (8, 20), (9, 27)),
    (2035, (2, 8), (6, 10), (8, 10), (9, 16)),
];

pub fn festival(key: &str) -> Option<&'static Festival> {
    FESTIVALS.iter().find(|f| f.key == key)
}

impl Festival {
    /// The festival's day number in `year`, if the calendar knows it.
    pub fn day_in(&self, year: i64) -> Option<i64> {
        if let Some((m, d)) = self.fixed {
            return Some(days_from_civil(year, m, d));
        }
        let &(_, spring, dragon, qixi, autumn) = LUNAR.iter().find(|r| r.0 == year)?;
        let at = |(m, d): Md| days_from_civil(year, m, d);
        Some(match self.key {
            "spring_festival" => at(spring),
            "lantern" => at(spring) + 14,
            "dragon_boat" => at(dragon),
            "qixi" => at(qixi),
            "mid_autumn" => at(autumn),
            _ => return None,
        })
    }
}

/// Whether day `day` is one of these festivals or brand days.
pub fn is_calendar_day(keys: &[String], brand_days: &[BrandDay], day: i64) -> bool {
    let (year, _, _) = crate::calendar::civil_from_days(day);
    keys.iter().filter_map(|k| festival(k)).any(|f| f.day_in(year) == Some(day)) || brand_days.iter().any(|b| b.is(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::civil_from_days;

    #[test]
    fn lunar_festivals_keep_their_lunar_distances() {
        let f = |k: &str, y: i64| festival(k).unwrap().day_in(y).unwrap();
        for y in 2024..=2035 {
            // 7/7 to 8/15: the rest of a 29- or 30-day month, plus 15.
            let gap = f("mid_autumn", y) - f("qixi", y);
            assert!((37..=38).contains(&gap), "{y}: qixi to mid-autumn {gap}");
            let (_, m, _) = civil_from_days(f("spring_festival", y));
            assert!(m == 1 || m == 2, "{y}: spring festival in Jan or Feb");
            // Dragon boat (5/5) to qixi (7/7): two lunar months and two days, or three with a leap month.
            let gap = f("qixi", y) - f("dragon_boat", y);
            assert!((60..=62).contains(&gap) || (89..=92).contains(&gap), "{y}: dragon boat to qixi {gap}");
        }
        assert_eq!(civil_from_days(f("spring_festival", 2026)), (2026, 2, 17));
        assert_eq!(civil_from_days(f("lantern", 2026)), (2026, 3, 3));
        assert_eq!(festival("spring_festival").unwrap().day_in(2040), None, "outside the table");
        assert_eq!(civil_from_days(f("double_eleven", 2040)), (2040, 11, 11));
    }

    #[test]
    fn every_festival_has_a_unique_key() {
        let mut keys: Vec<_> = FESTIVALS.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), FESTIVALS.len());
    }

    #[test]
    fn brand_days_are_yearly_or_monthly() {
        let member = BrandDay { name: "会员日".into(), month: None, day: 8 };
        let anniversary = BrandDay { name: "店庆".into(), month: Some(4), day: 18 };
        assert!(member.is(days_from_civil(2026, 7, 8)));
        assert!(!member.is(days_from_civil(2026, 7, 9)));
        assert!(anniversary.is(days_from_civil(2027, 4, 18)));
        assert!(!anniversary.is(days_from_civil(2027, 5, 18)));
        assert!(BrandDay { name: "x".into(), month: Some(13), day: 0 }.check().is_err());
    }
}
