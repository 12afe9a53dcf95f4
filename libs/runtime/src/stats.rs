//! Per-stage counters: records in, out, dropped (by reason), dead-lettered
//! and retried. Services expose them; tests read them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one stage.
#[derive(Debug, Default)]
pub struct StageStats {
    records_in: AtomicU64,
    records_out: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
}

impl StageStats {
    /// One input record was read.
    pub fn record_in(&self) {
        self.records_in.fetch_add(1, Ordering::Relaxed);
    }

    /// One output record was acknowledged.
    pub fn record_out(&self) {
        self.records_out.fetch_add(1, Ordering::Relaxed);
    }

    /// One input went to the dead-letter queue.
    pub fn dead_letter(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    /// One retriable failure was retried.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// One input was dropped on purpose, for `reason`.
    pub fn dropped(&self, reason: &'static str) {
        if let Ok(mut dropped) = self.dropped.lock() {
            *dropped.entry(reason).or_default() += 1;
        }
    }

    /// Inputs read so far.
    pub fn records_in_total(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }

    /// Outputs acknowledged so far.
    pub fn records_out_total(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }

    /// Inputs dead-lettered so far.
    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }

    /// Retries so far.
    pub fn retries_total(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Inputs dropped for `reason` so far.
    pub fn dropped_total(&self, reason: &str) -> u64 {
        self.dropped
            .lock()
            .map(|dropped| dropped.get(reason).copied().unwrap_or_default())
            .unwrap_or_default()
    }
}
