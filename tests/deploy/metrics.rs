//! Dashboards and alert rules use only the metrics the services export.

use survey_runtime::metrics::{ALL_NAMES, names};

use crate::support::{self, assert_no_problems};

const DASHBOARD: &str = "deploy/kubernetes/base/dashboards/survey-alerts.json";
const RULES: &str = "deploy/kubernetes/base/monitoring/prometheusrule.yaml";

/// Series Prometheus derives from a histogram.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// Every `survey_alerts_*` token of `text`.
fn metric_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("survey_alerts_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        tokens.push(&tail[..end]);
        rest = &tail[end..];
    }
    tokens
}

/// Whether `token` is an exported series: a metric, or a histogram's
/// bucket, sum or count. Histograms are the `_seconds` metrics (the
/// recorder gives buckets to exactly those).
fn is_exported(token: &str) -> bool {
    ALL_NAMES.contains(&token)
        || HISTOGRAM_SUFFIXES.iter().any(|suffix| {
            token
                .strip_suffix(suffix)
                .is_some_and(|base| ALL_NAMES.contains(&base) && base.ends_with("_seconds"))
        })
}

fn unknown_metrics(relative: &str) -> Vec<String> {
    let text = support::read(relative);
    let mut unknown: Vec<String> = metric_tokens(&text)
        .into_iter()
        .filter(|token| !is_exported(token))
        .map(|token| format!("{token} is not a metric of survey_runtime::metrics::ALL_NAMES"))
        .collect();
    unknown.dedup();
    unknown
}

#[test]
fn the_dashboard_uses_exported_metrics_and_shows_the_headline() {
    let text = support::read(DASHBOARD);
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"));
    let mut problems = unknown_metrics(DASHBOARD);
    if !text.contains(names::END_TO_END_LATENCY) {
        problems.push("no panel shows the end-to-end latency".to_owned());
    }
    if dashboard
        .get("uid")
        .and_then(serde_json::Value::as_str)
        .is_none()
    {
        problems.push("no uid: Grafana would duplicate it on every load".to_owned());
    }
    assert_no_problems(DASHBOARD, &problems);
}

#[test]
fn alert_rules_use_exported_metrics_and_watch_the_headline() {
    let mut problems = unknown_metrics(RULES);
    let text = support::read(RULES);
    for watched in [
        names::END_TO_END_LATENCY,
        names::CONSUMER_LAG,
        names::DLQ_RECORDS,
        names::EXTERNAL_CALL_ERRORS,
    ] {
        if !text.contains(watched) {
            problems.push(format!("no rule watches {watched}"));
        }
    }
    assert_no_problems(RULES, &problems);
}

#[test]
fn metric_tokens_are_checked_strictly() {
    assert!(is_exported(
        "survey_alerts_end_to_end_latency_seconds_bucket"
    ));
    assert!(is_exported("survey_alerts_records_in_total"));
    assert!(!is_exported("survey_alerts_records_in_total_count"));
    assert!(!is_exported("survey_alerts_record_in_total"));
    assert_eq!(
        metric_tokens("rate(survey_alerts_a_total[5m]) / survey_alerts_b"),
        ["survey_alerts_a_total", "survey_alerts_b"]
    );
}
