//! The filter's configuration. See the README's configuration reference.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use survey_runtime::KafkaSettings;

use crate::rules::RuleSettings;

/// Everything the filter can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Brokers, registry and topic prefix.
    pub kafka: KafkaSettings,
    /// What counts as actionable.
    pub rules: RuleSettings,
    /// How long a response id is remembered for deduplication
    /// (`DEDUP_WINDOW`, for example `24h`); also the dedup topic's retention.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
    /// Inputs whose outputs may await acknowledgement at once; under
    /// exactly-once, the most inputs in one transaction.
    pub max_in_flight: usize,
    /// Under exactly-once, how long a transaction collects inputs before it
    /// commits (`COMMIT_INTERVAL`): the latency the filter adds, against
    /// the cost of a commit.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// How long an output may wait for Kafka's acknowledgement before the
    /// filter stops (and, restarted, reprocesses from the stored offset).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics` (`OPS_ADDR`).
    pub ops_addr: SocketAddr,
    /// How long the service may take to drain and stop after SIGTERM
    /// (`SHUTDOWN_TIMEOUT`) before it exits non-zero.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            rules: RuleSettings::default(),
            dedup_window: survey_contracts::topics::DEFAULT_DEDUP_WINDOW,
            max_in_flight: 10_000,
            commit_interval: Duration::from_millis(100),
            delivery_timeout: Duration::from_secs(120),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Plain environment variables the filter honours.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("DEDUP_WINDOW", "dedup_window"),
    ("SCORE_THRESHOLD", "rules.score_threshold"),
    ("COMMIT_INTERVAL", "commit_interval"),
];
