//! The call budget: WeCom allows each corp 10,000 calls a minute and 150,000
//! an hour *per API* (§5), and answers 45009 for the rest of the window once
//! they are spent. Every caller in koi shares one budget per (corp, API), so a
//! customer sync cannot starve the welcome message that must leave within 20 s.
//!
//! WeCom counts per calendar minute and hour. The budget keeps to at most the
//! limit in *any* 60 s (and any 3600 s), a sliding window, so no calendar
//! window can ever see more, wherever its boundaries fall.
//!
//! Two layers: [`Lane`] is plain accounting (windows, the priority queue, the
//! pause after 45009/45033) driven by an explicit `now`, unit-tested without a
//! clock; [`Budget`] wraps one lane per (corp, API) and makes callers wait
//! their turn.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::ApiError;

/// Limits per corp per API. The defaults are the contract's figures.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    /// Calls in any 60 s, hence in any calendar minute.
    pub per_minute: u64,
    /// Calls in any 3600 s, hence in any calendar hour.
    pub per_hour: u64,
    /// How long an API is paused after 45009. WeCom blocks "for the window's
    /// length"; the minute window is the one normally hit first.
    pub frequency_pause: Duration,
    /// How long an API is paused after 45033 (too much concurrency).
    pub concurrency_pause: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            per_minute: 10_000,
            per_hour: 150_000,
            frequency_pause: Duration::from_secs(60),
            concurrency_pause: Duration::from_millis(500),
        }
    }
}

/// Who goes first when calls queue for budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A welcome message: its welcome_code dies 20 s after the customer added
    /// the member, so it is worthless after `deadline`. Earliest deadline first.
    Welcome { deadline: Instant },
    /// Someone is waiting for the answer (console, landing page).
    Interactive,
    /// Background work: customer sync, mass sends, statistics.
    Bulk,
}

impl Priority {
    /// A welcome message whose code arrived at `received` (it lives 20 s).
    pub fn welcome_received_at(received: Instant) -> Self {
        Self::Welcome { deadline: received + Duration::from_secs(20) }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Welcome { deadline } => Some(*deadline),
            Self::Interactive | Self::Bulk => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Welcome { .. } => 0,
            Self::Interactive => 1,
            Self::Bulk => 2,
        }
    }
}

/// How many buckets a window's length is cut into. More buckets waste less
/// budget (a bucket frees its calls one grain late at worst, so a saturated
/// lane gets `limit` calls per `length + length / BUCKETS`) but cost memory.
const BUCKETS: u32 = 60;

/// Calls admitted close together, counted as one group.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The first call in the bucket; calls within a grain of it join it.
    first: Instant,
    /// The last call in the bucket: they all count until it leaves the window.
    last: Instant,
    count: u64,
}

/// A sliding window: at most `limit` calls in any span of `length`, however
/// that span is placed. WeCom (and koi-sim) count per calendar minute and
/// hour (§5); a calendar window is one such span, so the budget stays within
/// it wherever the boundaries fall and whatever the offset between our clock
/// and WeCom's. A window anchored at the first call would not: it could spend
/// its limit just before its own boundary and again just after, twice the
/// limit inside one calendar minute, and draw 45009.
///
/// Memory stays small: calls are kept as counts in buckets one grain
/// (`length / BUCKETS`) wide, at most `BUCKETS + 2` of them. A bucket counts
/// in full until its *last* call is `length` old, which over-counts its
/// earlier calls, never under-counts any.
#[derive(Debug, Clone)]
struct Window {
    length: Duration,
    grain: Duration,
    limit: u64,
    /// The sum of the buckets' counts.
    used: u64,
    buckets: VecDeque<Bucket>,
}

impl Window {
    fn new(length: Duration, limit: u64) -> Self {
        // A zero limit would never admit anything and make `eta` loop forever.
        Self { length, grain: length / BUCKETS, limit: limit.max(1), used: 0, buckets: VecDeque::new() }
    }

    /// Forget the buckets whose every call is at least `length` old: a call
    /// at `t` and one at `t + length` never share a calendar window.
    fn roll(&mut self, now: Instant) {
        while let Some(front) = self.buckets.front() {
            if front.last + self.length > now {
                break;
            }
            self.used -= front.count;
            self.buckets.pop_front();
        }
        if self.buckets.is_empty() && self.buckets.capacity() > 4 {
            // An idle lane gives its memory back.
            self.buckets = VecDeque::new();
        }
    }

    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    fn record(&mut self, count: u64, now: Instant) {
        if count == 0 {
            return;
        }
        self.used += count;
        if let Some(back) = self.buckets.back_mut() {
            if now < back.first + self.grain {
                back.last = back.last.max(now);
                back.count += count;
                return;
            }
        }
        self.buckets.push_back(Bucket { first: now, last: now, count });
    }

    /// When the oldest counted calls leave the window (`None` if it is empty).
    fn frees_at(&self) -> Option<Instant> {
        self.buckets.front().map(|front| front.last + self.length)
    }
}

/// The minute and hour windows of one (corp, API), plus any pause.
#[derive(Debug, Clone)]
struct Allowance {
    minute: Window,
    hour: Window,
    paused_until: Option<Instant>,
}

impl Allowance {
    fn new(config: &BudgetConfig) -> Self {
        Self {
            minute: Window::new(Duration::from_secs(60), config.per_minute),
            hour: Window::new(Duration::from_secs(3600), config.per_hour),
            paused_until: None,
        }
    }

    fn capacity(&mut self, now: Instant) -> u64 {
        if self.paused_until.is_some_and(|until| now < until) {
            return 0;
        }
        self.minute.roll(now);
        self.hour.roll(now);
        self.minute.remaining().min(self.hour.remaining())
    }

    fn take(&mut self, count: u64, now: Instant) {
        self.minute.record(count, now);
        self.hour.record(count, now);
    }

    /// When the call with `ahead` calls queued before it could be admitted,
    /// assuming those go first and nobody else spends budget.
    fn eta(&self, now: Instant, ahead: u64) -> Instant {
        let mut sim = self.clone();
        let mut at = match self.paused_until {
            Some(until) if until > now => until,
            _ => now,
        };
        let mut needed = ahead + 1;
        loop {
            let capacity = sim.capacity(at);
            if capacity >= needed {
                return at;
            }
            needed -= capacity;
            sim.take(capacity, at);
            // No room left: wait until every full window frees some. A full
            // window always holds a bucket; the fallback only rules out a loop.
            at = [&sim.minute, &sim.hour]
                .into_iter()
                .filter(|window| window.remaining() == 0)
                .filter_map(Window::frees_at)
                .max()
                .filter(|next| *next > at)
                .unwrap_or(at + sim.minute.grain.max(Duration::from_millis(1)));
        }
    }
}

/// A queued call. Ordered by priority, then (for welcome messages) by
/// deadline, then by arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket {
    rank: u8,
    deadline: Option<Instant>,
    seq: u64,
}

/// What a queued call should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go: one call has been charged to the windows.
    Admitted,
    /// Not yet; look again at this instant (or when the queue changes).
    WaitUntil(Instant),
    /// The deadline cannot be met; the ticket has left the queue.
    Missed { available_at: Instant },
}

/// The accounting for one (corp, API): windows, pause and waiting calls.
#[derive(Debug)]
pub(crate) struct Lane {
    allowance: Allowance,
    queue: BTreeSet<Ticket>,
    next_seq: u64,
}

impl Lane {
    pub(crate) fn new(config: &BudgetConfig) -> Self {
        Self { allowance: Allowance::new(config), queue: BTreeSet::new(), next_seq: 0 }
    }

    pub(crate) fn enqueue(&mut self, priority: Priority) -> Ticket {
        let ticket = Ticket { rank: priority.rank(), deadline: priority.deadline(), seq: self.next_seq };
        self.next_seq += 1;
        self.queue.insert(ticket);
        ticket
    }

    /// Admit `ticket` if the windows have room for it and for every call
    /// queued before it; otherwise say when to look again, or give up if
    /// that is past the ticket's deadline.
    pub(crate) fn poll(&mut self, ticket: Ticket, now: Instant) -> Admission {
        let ahead = self.queue.range(..ticket).count() as u64;
        if self.allowance.capacity(now) > ahead {
            self.allowance.take(1, now);
            self.queue.remove(&ticket);
            return Admission::Admitted;
        }
        let eta = self.allowance.eta(now, ahead);
        match ticket.deadline {
            Some(deadline) if eta > deadline => {
                self.queue.remove(&ticket);
                Admission::Missed { available_at: eta }
            }
            _ => Admission::WaitUntil(eta),
        }
    }

    pub(crate) fn cancel(&mut self, ticket: Ticket) {
        self.queue.remove(&ticket);
    }

    /// Stop admitting calls until `until` (WeCom said 45009 or 45033).
    pub(crate) fn pause(&mut self, until: Instant) {
        if self.allowance.paused_until.is_none_or(|current| current < until) {
            self.allowance.paused_until = Some(until);
        }
    }
}

/// Why WeCom pushed back, which decides how long the API pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushback {
    /// 45009: the window's quota is spent.
    Frequency,
    /// 45033: too many concurrent calls.
    Concurrency,
}

struct LaneCell {
    lane: Mutex<Lane>,
    /// Woken when a ticket leaves the queue without being admitted, which
    /// can move everyone behind it forward.
    changed: Notify,
}

impl LaneCell {
    fn lane(&self) -> std::sync::MutexGuard<'_, Lane> {
        self.lane.lock().expect("lane lock is never poisoned: no panics while held")
    }
}

/// Lanes by (corp_id, api).
type Lanes = HashMap<(String, &'static str), Arc<LaneCell>>;

/// The shared budget: one lane per (corp, API). Clones share the lanes.
#[derive(Clone, Default)]
pub struct Budget {
    lanes: Arc<Mutex<Lanes>>,
    config: Arc<BudgetConfig>,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Self {
        Self { lanes: Arc::default(), config: Arc::new(config) }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    fn cell(&self, corp_id: &str, api: &'static str) -> Arc<LaneCell> {
        let mut lanes = self.lanes.lock().expect("lane map is never poisoned: no panics while held");
        lanes
            .entry((corp_id.to_owned(), api))
            .or_insert_with(|| Arc::new(LaneCell { lane: Mutex::new(Lane::new(&self.config)), changed: Notify::new() }))
            .clone()
    }

    /// Wait until one call to `api` may be sent for `corp_id`. Calls with a
    /// deadline get [`ApiError::Budget`] as soon as it is clear the deadline
    /// cannot be met, rather than waiting for nothing.
    pub async fn acquire(&self, corp_id: &str, api: &'static str, priority: Priority) -> Result<(), ApiError> {
        let cell = self.cell(corp_id, api);
        let ticket = cell.lane().enqueue(priority);
        let mut queued = Queued { cell: &cell, ticket: Some(ticket) };
        loop {
            let changed = cell.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let admission = cell.lane().poll(ticket, Instant::now());
            match admission {
                Admission::Admitted => {
                    queued.ticket = None;
                    return Ok(());
                }
                Admission::Missed { available_at } => {
                    queued.ticket = None;
                    cell.changed.notify_waiters();
                    let deadline = priority.deadline().unwrap_or(available_at);
                    tracing::debug!(corp_id, api, "budget cannot meet deadline");
                    return Err(ApiError::Budget { api, available_at, deadline });
                }
                Admission::WaitUntil(at) => {
                    let wake = priority.deadline().map_or(at, |deadline| deadline.min(at));
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake) => {}
                        _ = &mut changed => {}
                    }
                }
            }
        }
    }

    /// WeCom pushed back on `api`: stop sending it for a while.
    pub fn pause(&self, corp_id: &str, api: &'static str, why: Pushback) {
        let length = match why {
            Pushback::Frequency => self.config.frequency_pause,
            Pushback::Concurrency => self.config.concurrency_pause,
        };
        tracing::warn!(corp_id, api, ?why, ?length, "wecom rate limit: pausing api");
        self.cell(corp_id, api).lane().pause(Instant::now() + length);
    }
}

/// Takes the ticket out of the queue if the waiting future is dropped, so an
/// abandoned call does not hold up the ones behind it.
struct Queued<'a> {
    cell: &'a LaneCell,
    ticket: Option<Ticket>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.cell.lane().cancel(ticket);
            self.cell.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(per_minute: u64, per_hour: u64) -> BudgetConfig {
        BudgetConfig { per_minute, per_hour, ..BudgetConfig::default() }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn minute_window_resets() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(2, 100));
        for _ in 0..2 {
            let t = lane.enqueue(Priority::Bulk);
            assert_eq!(lane.poll(t, t0), Admission::Admitted);
        }
        let third = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(third, t0 + secs(10)), Admission::WaitUntil(t0 + secs(60)));
        assert_eq!(lane.poll(third, t0 + secs(60)), Admission::Admitted);
    }

    #[test]
    fn hour_window_caps_the_minutes() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(2, 3));
        for at in [0, 0, 60] {
            let t = lane.enqueue(Priority::Bulk);
            assert_eq!(lane.poll(t, t0 + secs(at)), Admission::Admitted);
        }
        let fourth = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(fourth, t0 + secs(61)), Admission::WaitUntil(t0 + secs(3600)));
        assert_eq!(lane.poll(fourth, t0 + secs(3600)), Admission::Admitted);
    }

    #[test]
    fn welcome_goes_before_interactive_before_bulk() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(1, 100));
        let first = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(first, t0), Admission::Admitted);
        // The minute is spent; three calls queue in the "wrong" order.
        let bulk = lane.enqueue(Priority::Bulk);
        let interactive = lane.enqueue(Priority::Interactive);
        let welcome = lane.enqueue(Priority::Welcome { deadline: t0 + secs(65) });
        let next = t0 + secs(60);
        assert_eq!(lane.poll(bulk, t0), Admission::WaitUntil(t0 + secs(180)));
        assert_eq!(lane.poll(interactive, t0), Admission::WaitUntil(t0 + secs(120)));
        assert_eq!(lane.poll(welcome, t0), Admission::WaitUntil(next));
        // At the new minute the bulk call looks first but must leave the slot.
        assert!(matches!(lane.poll(bulk, next), Admission::WaitUntil(_)));
        assert!(matches!(lane.poll(interactive, next), Admission::WaitUntil(_)));
        assert_eq!(lane.poll(welcome, next), Admission::Admitted);
        assert_eq!(lane.poll(interactive, t0 + secs(120)), Admission::Admitted);
        assert_eq!(lane.poll(bulk, t0 + secs(180)), Admission::Admitted);
    }

    #[test]
    fn earlier_welcome_deadline_goes_first() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(1, 100));
        let first = lane.enqueue(Priority::Interactive);
        assert_eq!(lane.poll(first, t0), Admission::Admitted);
        let late = lane.enqueue(Priority::Welcome { deadline: t0 + secs(200) });
        let early = lane.enqueue(Priority::Welcome { deadline: t0 + secs(70) });
        assert_eq!(lane.poll(late, t0 + secs(60)), Admission::WaitUntil(t0 + secs(120)));
        assert_eq!(lane.poll(early, t0 + secs(60)), Admission::Admitted);
    }

    #[test]
    fn unmeetable_deadline_is_missed_not_queued() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(1, 100));
        let first = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(first, t0), Admission::Admitted);
        let welcome = lane.enqueue(Priority::Welcome { deadline: t0 + secs(20) });
        assert_eq!(lane.poll(welcome, t0), Admission::Missed { available_at: t0 + secs(60) });
        // It left the queue: a later bulk call is not held up by it.
        let bulk = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(bulk, t0 + secs(60)), Admission::Admitted);
    }

    #[test]
    fn pause_blocks_until_it_ends_even_with_budget_left() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(100, 1000));
        lane.pause(t0 + secs(60));
        lane.pause(t0 + secs(1)); // a shorter pause never shortens a longer one
        let bulk = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(bulk, t0 + secs(5)), Admission::WaitUntil(t0 + secs(60)));
        let welcome = lane.enqueue(Priority::Welcome { deadline: t0 + secs(25) });
        assert_eq!(lane.poll(welcome, t0 + secs(5)), Admission::Missed { available_at: t0 + secs(60) });
        assert_eq!(lane.poll(bulk, t0 + secs(60)), Admission::Admitted);
    }

    #[test]
    fn capacity_admits_without_head_of_line_waits() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(10, 100));
        let a = lane.enqueue(Priority::Bulk);
        let b = lane.enqueue(Priority::Bulk);
        // b is behind a but there is room for both: it need not wait for a.
        assert_eq!(lane.poll(b, t0), Admission::Admitted);
        assert_eq!(lane.poll(a, t0), Admission::Admitted);
    }

    #[test]
    fn eta_spans_several_windows() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(2, 5));
        let tickets: Vec<_> = (0..8).map(|_| lane.enqueue(Priority::Bulk)).collect();
        // 2 now, 2 at 1 min, 1 at 2 min (hour spent), the rest at 1 h.
        assert_eq!(lane.poll(tickets[4], t0), Admission::WaitUntil(t0 + secs(120)));
        assert_eq!(lane.poll(tickets[5], t0), Admission::WaitUntil(t0 + secs(3600)));
        assert_eq!(lane.poll(tickets[7], t0), Admission::WaitUntil(t0 + secs(3660)));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_are_admitted_in_priority_order() {
        let budget = Budget::new(small(1, 1000));
        budget.acquire("corp", "list", Priority::Bulk).await.expect("first is free");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let start = Instant::now();
        for (name, priority) in [
            ("bulk", Priority::Bulk),
            ("interactive", Priority::Interactive),
            ("welcome", Priority::Welcome { deadline: start + secs(90) }),
        ] {
            let budget = budget.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                budget.acquire("corp", "list", priority).await.expect("admitted eventually");
                order.lock().expect("not poisoned").push((name, start.elapsed().as_secs()));
            }));
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.expect("task runs");
        }
        let order = order.lock().expect("not poisoned").clone();
        assert_eq!(order, vec![("welcome", 60), ("interactive", 120), ("bulk", 180)]);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_caller_gets_budget_error_instead_of_waiting() {
        let budget = Budget::new(small(1, 1000));
        budget.acquire("corp", "send_welcome_msg", Priority::Bulk).await.expect("free");
        let start = Instant::now();
        let err = budget
            .acquire("corp", "send_welcome_msg", Priority::welcome_received_at(start))
            .await
            .expect_err("cannot wait 60 s for a 20 s code");
        assert!(matches!(err, ApiError::Budget { api: "send_welcome_msg", .. }), "{err:?}");
        assert_eq!(start.elapsed(), Duration::ZERO, "fails at once, not at the deadline");
        // Other corps and other APIs have their own lanes.
        budget.acquire("corp", "get", Priority::welcome_received_at(start)).await.expect("other api");
        budget.acquire("other", "send_welcome_msg", Priority::welcome_received_at(start)).await.expect("other corp");
    }

    #[tokio::test(start_paused = true)]
    async fn frequency_pushback_pauses_the_api() {
        let budget = Budget::new(BudgetConfig { frequency_pause: secs(30), ..BudgetConfig::default() });
        budget.acquire("corp", "list", Priority::Bulk).await.expect("free");
        budget.pause("corp", "list", Pushback::Frequency);
        let start = Instant::now();
        budget.acquire("corp", "list", Priority::Bulk).await.expect("after the pause");
        assert_eq!(start.elapsed(), secs(30));
        budget.pause("corp", "list", Pushback::Concurrency);
        let start = Instant::now();
        budget.acquire("corp", "list", Priority::Interactive).await.expect("after the pause");
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_waiter_leaves_the_queue() {
        let budget = Budget::new(small(1, 1000));
        budget.acquire("corp", "list", Priority::Bulk).await.expect("free");
        let abandoned = tokio::time::timeout(secs(5), budget.acquire("corp", "list", Priority::Interactive)).await;
        assert!(abandoned.is_err(), "timed out while queued");
        let start = Instant::now();
        budget.acquire("corp", "list", Priority::Bulk).await.expect("admitted");
        assert_eq!(start.elapsed(), secs(55), "not pushed back by the abandoned ticket");
    }

    /// The most of `times` that fall in any half-open span of `length`; that
    /// is the most any calendar window of that length can see, wherever its
    /// boundaries are.
    fn most_in_any_span(times: &[Instant], length: Duration) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        (0..sorted.len())
            .map(|i| sorted[i..].iter().take_while(|t| **t < sorted[i] + length).count())
            .max()
            .unwrap_or(0)
    }

    /// Calls in the calendar window `[start, start + length)`.
    fn in_window(times: &[Instant], start: Instant, length: Duration) -> usize {
        times.iter().filter(|t| **t >= start && **t < start + length).count()
    }

    /// A bulk caller that sends as much as the lane admits every `step` from
    /// `from` until `until`; returns when each call went out.
    fn greedy(lane: &mut Lane, from: Instant, until: Instant, step: Duration) -> Vec<Instant> {
        let mut sent = Vec::new();
        let mut now = from;
        while now < until {
            loop {
                let ticket = lane.enqueue(Priority::Bulk);
                if lane.poll(ticket, now) == Admission::Admitted {
                    sent.push(now);
                } else {
                    lane.cancel(ticket);
                    break;
                }
            }
            now += step;
        }
        sent
    }

    #[test]
    fn burst_straddling_a_calendar_minute_stays_within_each_minute() {
        // The first call is at hh:mm:30; the calendar minutes start at t0 - 30 s,
        // t0 + 30 s, t0 + 90 s, ...
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(10, 1000));
        let first = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(first, t0), Admission::Admitted);
        // A burst from hh:(mm+1):20 to past hh:(mm+3):30, straddling the
        // minute a window anchored at t0 would reset in (at hh:(mm+1):30).
        let mut sent = vec![t0];
        sent.extend(greedy(&mut lane, t0 + secs(50), t0 + secs(200), Duration::from_millis(100)));
        for k in 0..4 {
            let minute = t0 - secs(30) + secs(60 * k);
            let count = in_window(&sent, minute, secs(60));
            assert!(count <= 10, "{count} calls in calendar minute {k}: {sent:?}");
        }
        assert!(most_in_any_span(&sent, secs(60)) <= 10, "{sent:?}");
        // The budget is still used: the limit is reached in the straddled minute.
        assert_eq!(in_window(&sent, t0 + secs(30), secs(60)), 10);
    }

    #[test]
    fn burst_straddling_a_calendar_hour_stays_within_each_hour() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(100, 5));
        let first = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(first, t0), Admission::Admitted);
        // The calendar hour starting at t0 + 30 min holds t0 + 1 h, where a
        // window anchored at t0 would reset.
        let mut sent = vec![t0];
        sent.extend(greedy(&mut lane, t0 + secs(3000), t0 + secs(9000), secs(10)));
        let hour = in_window(&sent, t0 + secs(1800), secs(3600));
        assert!(hour <= 5, "{hour} calls in one calendar hour: {sent:?}");
        assert!(most_in_any_span(&sent, secs(3600)) <= 5, "{sent:?}");
    }

    #[test]
    fn no_span_of_a_minute_ever_exceeds_the_limit() {
        // An uneven load: bursts, trickles and idle stretches, polled every
        // 250 ms for ten minutes. Whatever the calendar's phase, no minute
        // may hold more than the limit.
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(7, 1000));
        let mut sent = Vec::new();
        let mut now = t0;
        for step in 0u64..2400 {
            let wanted = match step % 97 {
                0..=3 => 5,
                40..=60 => u64::from(step % 3 == 0),
                _ => 0,
            };
            for _ in 0..wanted {
                let ticket = lane.enqueue(Priority::Bulk);
                if lane.poll(ticket, now) == Admission::Admitted {
                    sent.push(now);
                } else {
                    lane.cancel(ticket);
                }
            }
            now += Duration::from_millis(250);
        }
        assert!(sent.len() > 50, "the load is admitted: {}", sent.len());
        assert!(most_in_any_span(&sent, secs(60)) <= 7, "{sent:?}");
    }

    #[test]
    fn saturated_lane_keeps_nearly_the_full_rate() {
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(10, 1000));
        let sent = greedy(&mut lane, t0, t0 + secs(600), Duration::from_millis(100));
        // 10 a minute for ten minutes, losing at most a grain per window.
        assert!(sent.len() >= 100, "only {} calls in ten minutes", sent.len());
        assert!(most_in_any_span(&sent, secs(60)) <= 10, "{sent:?}");
    }

    #[test]
    fn memory_per_lane_stays_bounded() {
        // A call every 100 ms for two hours: 72,000 calls, a few buckets.
        let t0 = Instant::now();
        let mut lane = Lane::new(&small(1_000_000, 1_000_000));
        let mut now = t0;
        for _ in 0..72_000 {
            let ticket = lane.enqueue(Priority::Bulk);
            assert_eq!(lane.poll(ticket, now), Admission::Admitted);
            now += Duration::from_millis(100);
        }
        let allowance = &lane.allowance;
        assert!(allowance.minute.buckets.len() <= BUCKETS as usize + 2, "{}", allowance.minute.buckets.len());
        assert!(allowance.hour.buckets.len() <= BUCKETS as usize + 2, "{}", allowance.hour.buckets.len());
        assert_eq!(allowance.minute.used, 600);
        // Idle for an hour: everything is forgotten.
        let ticket = lane.enqueue(Priority::Bulk);
        assert_eq!(lane.poll(ticket, now + secs(3600)), Admission::Admitted);
        assert_eq!(lane.allowance.hour.buckets.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_never_puts_more_than_the_limit_in_a_minute() {
        let budget = Budget::new(small(5, 1000));
        let start = Instant::now();
        budget.acquire("corp", "list", Priority::Bulk).await.expect("free");
        let mut sent = vec![Instant::now()];
        tokio::time::sleep(secs(55)).await;
        for _ in 0..12 {
            budget.acquire("corp", "list", Priority::Bulk).await.expect("admitted");
            sent.push(Instant::now());
        }
        assert!(most_in_any_span(&sent, secs(60)) <= 5, "{:?}", sent.iter().map(|t| *t - start).collect::<Vec<_>>());
        // First at 0 s, four at 55 s, one at 60 s (the first's slot), four at
        // 115 s, one at 120 s, the last two at 175 s.
        let offsets: Vec<u64> = sent.iter().map(|t| (*t - start).as_secs()).collect();
        assert_eq!(offsets, [0, 55, 55, 55, 55, 60, 115, 115, 115, 115, 120, 175, 175]);
    }
}
