//! Display helpers: times in the brand's time zone, masked secrets.

use koi_domain::calendar::civil_from_days;

/// Minutes east of UTC for times shown on screen (Asia/Shanghai, no DST).
pub const DISPLAY_OFFSET_MINUTES: i64 = 8 * 60;

/// `2026-11-22 16:05` for a UTC millisecond timestamp.
pub fn datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + DISPLAY_OFFSET_MINUTES * 60;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

pub fn opt_datetime(ms: Option<i64>) -> String {
    ms.map(datetime).unwrap_or_else(|| "—".into())
}

/// `2026-11-22` for a local day number (days since 1970-01-01).
pub fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `11-22` for a local day number, for chart axes.
pub fn month_day(day: i64) -> String {
    let (_, m, d) = civil_from_days(day);
    format!("{m:02}-{d:02}")
}

/// A distance as a customer reads it: metres under 1 km ("22 米"), then
/// kilometres to one decimal ("1.4 公里").
pub fn distance(metres: f64, lang: crate::i18n::Lang) -> String {
    let t = crate::i18n::Tr(lang);
    let m = metres.max(0.0).round();
    if m < 1000.0 {
        format!("{m:.0} {}", t.s("unit_metres"))
    } else {
        format!("{:.1} {}", m / 1000.0, t.s("unit_kilometres"))
    }
}

#[cfg(test)]
mod tests {
    use super::{date, datetime, distance, month_day};
    use crate::i18n::Lang;

    #[test]
    fn distances_under_a_kilometre_are_in_metres() {
        assert_eq!(distance(22.4, Lang::Zh), "22 米");
        assert_eq!(distance(22.4, Lang::En), "22 m");
        assert_eq!(distance(999.4, Lang::Zh), "999 米");
        assert_eq!(distance(1_000.0, Lang::Zh), "1.0 公里");
        assert_eq!(distance(1_449.0, Lang::En), "1.4 km");
    }

    #[test]
    fn shanghai_time_is_shown() {
        assert_eq!(datetime(0), "1970-01-01 08:00");
        // 2024-02-29T15:59:00Z is 23:59 in Shanghai on a leap day.
        assert_eq!(datetime(1_709_222_340_000), "2024-02-29 23:59");
        assert_eq!(datetime(1_709_222_400_000), "2024-03-01 00:00");
        assert_eq!((date(19_782), month_day(19_782)), ("2024-02-29".to_string(), "02-29".to_string()));
    }
}
