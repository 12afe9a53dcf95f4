//! Keeps one client within its requests-per-minute budget.
//!
//! A token bucket in its GCRA form: `burst` requests may go at once, then one
//! every `interval`, chosen so that no 60-second window, wherever it starts,
//! holds more than `requests_per_minute` requests. Each
//! caller reserves the next slot under a short lock and then sleeps until it,
//! so concurrent callers queue fairly without holding the lock while waiting.
//! [`RateLimiter::reserve`] is pure over the `now` it is given.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);
/// The largest burst, whatever the budget.
const MAX_BURST: u32 = 10;

/// A shared requests-per-minute limiter.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Time between two slots once the burst is spent.
    interval: Duration,
    /// How far ahead of `now` the next slot may be and still be free.
    tolerance: Duration,
    /// Theoretical arrival time of the next request; `None` until the first.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `requests_per_minute` (at least 1).
    pub(crate) fn per_minute(requests_per_minute: u32) -> Self {
        let budget = requests_per_minute.max(1);
        let burst = (budget / 30).clamp(1, MAX_BURST);
        // The burst plus `refill - 1` further slots fit in one window.
        let refill = u64::from(budget - burst + 1);
        // Rounded up, so that truncation never squeezes in an extra slot.
        let interval = Duration::from_nanos((WINDOW.as_nanos() as u64).div_ceil(refill));
        Self {
            interval,
            tolerance: interval * (burst - 1),
            next: Mutex::new(None),
        }
    }

    /// Takes the next slot and returns how long the caller must wait for it.
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let arrival = next.map_or(now, |at| at.max(now));
        *next = Some(arrival + self.interval);
        arrival
            .saturating_duration_since(now)
            .saturating_sub(self.tolerance)
    }

    /// Waits for the next slot.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tracing::debug!(wait_ms = wait.as_millis() as u64, "rate limit: waiting");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::RateLimiter;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_small_budget_spaces_every_request() {
        // 60 per minute: a burst of 2, then one every 60 s / 59.
        let limiter = RateLimiter::per_minute(60);
        let start = Instant::now();
        let interval = Duration::from_nanos(60_000_000_000_u64.div_ceil(59));
        assert_eq!(limiter.reserve(start), Duration::ZERO);
        assert_eq!(limiter.reserve(start), Duration::ZERO);
        assert_eq!(limiter.reserve(start), interval);
        assert_eq!(limiter.reserve(start), interval * 2);
    }

    #[test]
    fn the_default_budget_allows_a_burst_of_ten_then_paces() {
        let limiter = RateLimiter::per_minute(300);
        let start = Instant::now();
        let waits: Vec<Duration> = (0..12).map(|_| limiter.reserve(start)).collect();
        assert!(waits[..10].iter().all(Duration::is_zero), "{waits:?}");
        let interval = Duration::from_nanos(60_000_000_000_u64.div_ceil(291));
        assert_eq!(waits[10], interval);
        assert_eq!(waits[11], interval * 2);
    }

    #[test]
    fn idle_time_refills_the_bucket() {
        let limiter = RateLimiter::per_minute(60);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.reserve(start);
        }
        // Five reserved at `start` push the schedule about 4 intervals ahead;
        // after a long pause everything is free again.
        let later = start + Duration::from_secs(30);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert!(limiter.reserve(later) > 1000 * MS);
    }

    #[test]
    fn no_minute_holds_more_than_the_budget() {
        for budget in [1, 2, 7, 60, 300, 1000] {
            let limiter = RateLimiter::per_minute(budget);
            let start = Instant::now();
            // Callers arrive every 20 ms for two and a half minutes, far more
            // often than the budget allows.
            let mut slots = Vec::new();
            let mut now = start;
            while now < start + Duration::from_secs(150) {
                slots.push(now + limiter.reserve(now));
                now += 20 * MS;
            }
            assert!(slots.is_sorted(), "slots are handed out in order");
            // Every sliding 60-second window, found with two pointers.
            let mut busiest = 0;
            let mut first = 0;
            for (last, at) in slots.iter().enumerate() {
                while *at >= slots[first] + Duration::from_secs(60) {
                    first += 1;
                }
                busiest = busiest.max(last + 1 - first);
            }
            assert!(
                busiest <= budget as usize,
                "budget {budget}: {busiest} requests in one minute"
            );
            let first_minute = slots
                .iter()
                .filter(|at| **at < start + Duration::from_secs(60))
                .count();
            assert!(
                first_minute * 10 >= budget as usize * 8,
                "budget {budget}: only {first_minute} requests in the first minute"
            );
        }
    }
}
