//! Rules of the durable job queue: states, retry backoff, dead letters.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker whose lease has not run out.
    Running,
    Done,
    /// Failed `max_attempts` times, or can never succeed as it stands;
    /// waits for a person to retry or drop it.
    Dead,
    /// Ran to its end, but the outside world (WeCom) refused it for good —
    /// an unknown or departed customer, a missing permission. Not retried;
    /// shown with the reason on the jobs page and the customer's timeline.
    Refused,
}

impl JobState {
    pub const ALL: [JobState; 5] =
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Refused, JobState::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|j| j.as_str() == s)
    }
}

/// Job priorities, lower first. The order is the hot path's: a welcome code
/// dies 20 s after its add, the add must be recorded before its welcome can
/// go, routing should follow an add before the next scan, and tags and
/// housekeeping can wait.
pub mod priority {
    pub const WELCOME: i32 = 0;
    pub const ADD: i32 = 1;
    pub const ROUTE: i32 = 5;
    pub const TAGS: i32 = 50;
    pub const DEFAULT: i32 = 100;
}

/// Default attempts before a job becomes a dead letter.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Delay before the next attempt after `attempts` failures: 1 s, 2 s, 4 s …
/// capped at 10 minutes, so a flapping dependency is not hammered and a job
/// reaches the dead-letter list within about half an hour.
pub fn retry_delay_ms(attempts: i32) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (1_000i64 << exp).min(600_000)
}

/// What happens to a job that just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(i64),
    Dead,
}

pub fn after_failure(attempts: i32, max_attempts: i32, now: i64) -> AfterFailure {
    if attempts >= max_attempts {
        AfterFailure::Dead
    } else {
        AfterFailure::RetryAt(now + retry_delay_ms(attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(retry_delay_ms(1), 1_000);
        assert_eq!(retry_delay_ms(2), 2_000);
        assert_eq!(retry_delay_ms(5), 16_000);
        assert_eq!(retry_delay_ms(30), 600_000);
    }

    #[test]
    fn the_last_attempt_makes_a_dead_letter() {
        assert_eq!(after_failure(1, 3, 100), AfterFailure::RetryAt(1_100));
        assert_eq!(after_failure(3, 3, 100), AfterFailure::Dead);
    }

    #[test]
    fn states_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
    }
}
