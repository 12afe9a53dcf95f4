//! Per-stage counters: records in, out, dropped (by reason), dead-lettered
//! and retried. Each also counts into the Prometheus metric of the same
//! meaning; tests read the in-process numbers.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::names;

/// Counters of one stage.
#[derive(Debug, Default)]
pub struct StageStats {
    stage: &'static str,
    records_in: AtomicU64,
    records_out: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
}

impl StageStats {
    /// Counters for `stage` (the metrics' `stage` label).
    pub fn new(stage: &'static str) -> Self {
        Self {
            stage,
            ..Self::default()
        }
    }

    /// One input record was read.
    pub fn record_in(&self) {
        self.records_in.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::RECORDS_IN, "stage" => self.stage).increment(1);
    }

    /// One output record was acknowledged.
    pub fn record_out(&self) {
        self.records_out.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::RECORDS_OUT, "stage" => self.stage).increment(1);
    }

    /// One input went to the dead-letter queue, for `reason`.
    pub fn dead_letter(&self, reason: &'static str) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::DLQ_RECORDS, "stage" => self.stage, "reason" => reason)
            .increment(1);
    }

    /// One retriable failure was retried.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::RETRIES, "stage" => self.stage).increment(1);
    }

    /// One input was dropped on purpose, for `reason`.
    pub fn dropped(&self, reason: &'static str) {
        if let Ok(mut dropped) = self.dropped.lock() {
            *dropped.entry(reason).or_default() += 1;
        }
        metrics::counter!(names::RECORDS_DROPPED, "stage" => self.stage, "reason" => reason)
            .increment(1);
        if reason == "duplicate" {
            metrics::counter!(names::RECORDS_DEDUPLICATED, "stage" => self.stage).increment(1);
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
