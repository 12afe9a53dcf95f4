//! At most one send per interval per key (a Slack channel): each send
//! reserves the next free slot of its key and waits for it, so callers on
//! other keys never wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Keys with no reservation left in the future are forgotten past this many.
const PRUNE_ABOVE: usize = 1024;

/// The next free send slot of each key.
#[derive(Debug)]
pub(crate) struct Pacer {
    interval: Duration,
    next_free: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the first slot of `key` at or after `now` and returns it;
    /// the key's next slot is one interval later.
    pub(crate) fn reserve(&self, key: &str, now: Instant) -> Instant {
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if next_free.len() > PRUNE_ABOVE {
            next_free.retain(|_, free| *free > now);
        }
        let slot = next_free.get(key).map_or(now, |free| (*free).max(now));
        next_free.insert(key.to_owned(), slot + self.interval);
        slot
    }

    /// Keeps `key` free of sends until `until` (a server's Retry-After).
    pub(crate) fn hold(&self, key: &str, until: Instant) {
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let free = next_free.entry(key.to_owned()).or_insert(until);
        *free = (*free).max(until);
    }

    /// Waits for the next slot of `key`.
    pub(crate) async fn wait(&self, key: &str) {
        let slot = self.reserve(key, Instant::now());
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn sends_to_one_key_are_an_interval_apart() {
        let pacer = Pacer::new(SECOND);
        let t0 = Instant::now();
        assert_eq!(pacer.reserve("C1", t0), t0);
        assert_eq!(pacer.reserve("C1", t0), t0 + SECOND);
        assert_eq!(
            pacer.reserve("C1", t0 + Duration::from_millis(100)),
            t0 + 2 * SECOND
        );
        assert_eq!(pacer.reserve("C2", t0), t0, "other keys don't wait");
        let later = t0 + 10 * SECOND;
        assert_eq!(
            pacer.reserve("C1", later),
            later,
            "an idle key is free at once"
        );
    }

    #[test]
    fn a_hold_pushes_the_next_slot_back() {
        let pacer = Pacer::new(SECOND);
        let t0 = Instant::now();
        pacer.hold("C1", t0 + 5 * SECOND);
        assert_eq!(pacer.reserve("C1", t0), t0 + 5 * SECOND);
        pacer.hold("C1", t0);
        assert_eq!(
            pacer.reserve("C1", t0),
            t0 + 6 * SECOND,
            "a hold never shortens"
        );
    }
}
