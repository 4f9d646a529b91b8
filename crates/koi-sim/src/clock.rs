//! The virtual clock: WeCom time as the simulator sees it. It runs at
//! `clock_speed` times real time from the real time of start, and tests push
//! it forward to expire welcome codes and tokens without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct VirtualClock {
    started: Instant,
    start_unix_ms: i64,
    speed: f64,
    advanced_ms: AtomicI64,
}

impl VirtualClock {
    pub fn new(speed: f64) -> Self {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        // A zero or negative speed would freeze or reverse time; only
        // `advance` moves a frozen clock, which tests may want, so allow 0.
        let speed = if speed.is_finite() && speed >= 0.0 { speed } else { 1.0 };
        Self { started: Instant::now(), start_unix_ms, speed, advanced_ms: AtomicI64::new(0) }
    }

    pub fn now_ms(&self) -> i64 {
        let real = self.started.elapsed().as_secs_f64() * 1000.0 * self.speed;
        self.start_unix_ms + real as i64 + self.advanced_ms.load(Ordering::Relaxed)
    }

    /// Unix seconds, the unit of every WeCom timestamp.
    pub fn now_s(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub fn advance_ms(&self, ms: i64) {
        self.advanced_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real time to wait for `virtual_ms` to pass.
    pub fn real_duration(&self, virtual_ms: i64) -> std::time::Duration {
        if self.speed <= 0.0 || virtual_ms <= 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64(virtual_ms as f64 / 1000.0 / self.speed)
    }
}

/// Days since the Unix epoch in Asia/Shanghai (UTC+8, no DST): WeCom's
/// "natural day" for quotas and statistics.
pub fn shanghai_day(unix_s: i64) -> i64 {
    (unix_s + 8 * 3600).div_euclid(86_400)
}

/// Unix seconds of 00:00 Asia/Shanghai on that day.
pub fn shanghai_day_start(day: i64) -> i64 {
    day * 86_400 - 8 * 3600
}

/// (year, month) of a day number, by Howard Hinnant's civil-from-days.
pub fn year_month(day: i64) -> (i64, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        // 2024-02-29 is day 19782.
        assert_eq!(year_month(19_782), (2024, 2));
        assert_eq!(year_month(0), (1970, 1));
        // 2024-01-01 00:30 Shanghai is still 2023-12-31 in UTC.
        assert_eq!(year_month(shanghai_day(1_704_040_200)), (2024, 1));
    }

    #[test]
    fn advance_moves_time() {
        let clock = VirtualClock::new(0.0);
        let before = clock.now_ms();
        clock.advance_ms(21_000);
        assert_eq!(clock.now_ms() - before, 21_000);
    }
}
