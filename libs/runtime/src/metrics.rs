//! Prometheus metrics with one naming scheme across services:
//! `survey_alerts_<name>_<unit>` with `_total` for counters. Every service
//! installs the same recorder and serves it at `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names, declared once.
pub mod names {
    /// Webhook requests by route and status.
    pub const HTTP_REQUESTS: &str = "survey_alerts_http_requests_total";
    /// Records a stage read.
    pub const RECORDS_IN: &str = "survey_alerts_records_in_total";
    /// Records a stage produced and Kafka acknowledged.
    pub const RECORDS_OUT: &str = "survey_alerts_records_out_total";
    /// Records a stage dropped on purpose, by reason.
    pub const RECORDS_DROPPED: &str = "survey_alerts_records_dropped_total";
    /// Records a stage dropped as duplicates.
    pub const RECORDS_DEDUPLICATED: &str = "survey_alerts_records_deduplicated_total";
    /// Records sent to a dead-letter queue, by reason.
    pub const DLQ_RECORDS: &str = "survey_alerts_dlq_records_total";
    /// Retries of retriable failures.
    pub const RETRIES: &str = "survey_alerts_retries_total";
    /// Latency of calls to Genesys, Slack, Teams and SMTP, by target and outcome.
    pub const EXTERNAL_CALL_DURATION: &str = "survey_alerts_external_call_duration_seconds";
    /// Failed calls to external services, by target.
    pub const EXTERNAL_CALL_ERRORS: &str = "survey_alerts_external_call_errors_total";
    /// Records between a consumer's position and the end of its partition.
    pub const CONSUMER_LAG: &str = "survey_alerts_consumer_lag";
    /// From the survey's submittedAt to its delivery, by channel: the
    /// product's headline figure.
    pub const END_TO_END_LATENCY: &str = "survey_alerts_end_to_end_latency_seconds";
}

/// Every metric name, for dashboards and their tests.
pub const ALL_NAMES: &[&str] = &[
    names::HTTP_REQUESTS,
    names::RECORDS_IN,
    names::RECORDS_OUT,
    names::RECORDS_DROPPED,
    names::RECORDS_DEDUPLICATED,
    names::DLQ_RECORDS,
    names::RETRIES,
    names::EXTERNAL_CALL_DURATION,
    names::EXTERNAL_CALL_ERRORS,
    names::CONSUMER_LAG,
    names::END_TO_END_LATENCY,
];

/// Installs the process's recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let latency_buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &latency_buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (tests embedding services);
                // keep a detached one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Records one call to an external service.
pub fn external_call(target: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::histogram!(names::EXTERNAL_CALL_DURATION, "target" => target, "outcome" => outcome)
        .record(elapsed.as_secs_f64());
    if outcome != "ok" {
        metrics::counter!(names::EXTERNAL_CALL_ERRORS, "target" => target).increment(1);
    }
}

/// Counts one record sent to a dead-letter queue outside a stage loop's own
/// poison handling (for example one failed delivery target).
pub fn counter_dlq(stage: &'static str, reason: &'static str) {
    metrics::counter!(names::DLQ_RECORDS, "stage" => stage, "reason" => reason).increment(1);
}

/// Records a delivery's end-to-end latency from the survey's submission.
pub fn end_to_end(channel: &str, submitted_at_millis: i64) {
    let elapsed = crate::now_millis()
        .saturating_sub(submitted_at_millis)
        .max(0);
    metrics::histogram!(names::END_TO_END_LATENCY, "channel" => channel.to_owned())
        .record(elapsed as f64 / 1000.0);
}
