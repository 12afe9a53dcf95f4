//! The filter's seen-set: which actionable response ids were already
//! emitted within the dedup window.
//!
//! Only actionable ids are remembered (a duplicate of a dropped response is
//! dropped again anyway), each as a 16-byte digest plus its timestamp, so the
//! memory per key is small and fixed. Entries expire by their own timestamp;
//! the compacted topic behind the set only has to be at least as long-lived.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

type IdDigest = [u8; 16];

/// Emitted response ids, by digest, with when they were first emitted.
#[derive(Debug, Clone)]
pub struct SeenSet {
    window_millis: i64,
    entries: HashMap<IdDigest, i64>,
}

impl SeenSet {
    /// An empty set that remembers ids for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window_millis: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            entries: HashMap::new(),
        }
    }

    /// True if `response_id` was emitted less than a window before `now`.
    pub fn contains(&self, response_id: &str, now: i64) -> bool {
        self.entries
            .get(&digest(response_id))
            .is_some_and(|first_seen| now.saturating_sub(*first_seen) < self.window_millis)
    }

    /// Remembers `response_id` as emitted at `first_seen` (the earliest
    /// sighting wins, so replaying the topic cannot extend an entry's life).
    pub fn insert(&mut self, response_id: &str, first_seen: i64) {
        self.entries
            .entry(digest(response_id))
            .and_modify(|seen| *seen = (*seen).min(first_seen))
            .or_insert(first_seen);
    }

    /// Forgets `response_id`, whose emission was rolled back.
    pub fn forget(&mut self, response_id: &str) {
        self.entries.remove(&digest(response_id));
    }

    /// Forgets entries older than the window.
    pub fn expire(&mut self, now: i64) {
        let window = self.window_millis;
        self.entries
            .retain(|_, first_seen| now.saturating_sub(*first_seen) < window);
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn digest(response_id: &str) -> IdDigest {
    let hash = Sha256::digest(response_id.as_bytes());
    let mut digest = [0; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_remembered_for_the_window_only() {
        let mut seen = SeenSet::new(Duration::from_secs(10));
        seen.insert("a", 1_000);
        assert!(seen.contains("a", 1_000));
        assert!(seen.contains("a", 10_999));
        assert!(!seen.contains("a", 11_000));
        assert!(!seen.contains("b", 1_000));
        seen.insert("b", 5_000);
        seen.expire(11_000);
        assert_eq!(seen.len(), 1);
        assert!(seen.contains("b", 11_000));
    }

    #[test]
    fn a_rolled_back_emission_is_forgotten() {
        let mut seen = SeenSet::new(Duration::from_secs(10));
        seen.insert("a", 1_000);
        seen.insert("b", 1_000);
        seen.forget("a");
        assert!(!seen.contains("a", 1_000));
        assert!(seen.contains("b", 1_000));
    }

    #[test]
    fn replaying_a_later_marker_does_not_extend_an_entry() {
        let mut seen = SeenSet::new(Duration::from_secs(10));
        seen.insert("a", 1_000);
        seen.insert("a", 9_000);
        assert!(!seen.contains("a", 11_000));
    }
}
