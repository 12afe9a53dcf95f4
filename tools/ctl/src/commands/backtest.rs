//! `rules backtest`: what a set of filter rules would have alerted on, from
//! the raw responses of a time window. Read-only: no group, no commits, no
//! output topic.
//!
//! Responses are counted once per response id, as the filter's dedup does
//! for webhook retries. The window is taken by offsets: from each
//! partition's first record at or after `from` up to its first record at or
//! after `to` (or its end).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use survey_contracts::{AvroCodec, SurveyResponse, topics};
use survey_filter::rules::{ActionRules, RuleSettings};
use survey_runtime::KafkaSettings;

use crate::kafka::{self, RangeReader};
use crate::table::Table;

/// How long to wait for the next record before the window's end.
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);
/// The queue column of responses without a queue.
pub const NO_QUEUE: &str = "(no queue)";

/// The window and the rules to try.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Start of the window (inclusive).
    pub from: DateTime<Utc>,
    /// End of the window (exclusive); the topic's end when `None`.
    pub to: Option<DateTime<Utc>>,
    /// The rules.
    pub rules: RuleSettings,
}

/// What the rules would have done.
#[derive(Debug, Clone)]
pub struct BacktestReport {
    /// The raw topic.
    pub topic: String,
    /// The window and rules.
    pub options: BacktestOptions,
    /// Records read.
    pub read: usize,
    /// Records that are not a decodable survey response.
    pub undecodable: usize,
    /// Records whose response id was already counted.
    pub duplicates: usize,
    /// Distinct responses the rules found actionable.
    pub actionable: usize,
    /// Alerts per (queue id, reason code); a response with two reasons
    /// counts under both.
    pub alerts: BTreeMap<(String, String), usize>,
}

impl BacktestReport {
    /// Alerts of `queue` for `reason`.
    pub fn count(&self, queue: &str, reason: &str) -> usize {
        self.alerts
            .get(&(queue.to_owned(), reason.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Alerts per reason code, over all queues.
    pub fn by_reason(&self) -> BTreeMap<String, usize> {
        let mut totals = BTreeMap::new();
        for ((_, reason), count) in &self.alerts {
            *totals.entry(reason.clone()).or_default() += count;
        }
        totals
    }
}

impl fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = &self.options.rules;
        writeln!(
            f,
            "rules: score below {}, queue thresholds {:?}, keywords {:?}\n",
            rules.score_threshold, rules.queue_thresholds, rules.critical_keywords
        )?;
        let mut table = Table::new(["queue", "reason", "alerts"]);
        for ((queue, reason), count) in &self.alerts {
            table.row([queue.clone(), reason.clone(), count.to_string()]);
        }
        for (reason, count) in self.by_reason() {
            table.row(["**total**".to_owned(), reason, count.to_string()]);
        }
        table.row([
            "**total**".to_owned(),
            "actionable responses".to_owned(),
            self.actionable.to_string(),
        ]);
        write!(f, "{table}")?;
        let window_end = self.options.to.map_or("its end".to_owned(), |to| {
            to.to_rfc3339_opts(SecondsFormat::Secs, true)
        });
        writeln!(
            f,
            "read {} record(s) of {} from {} to {window_end}: {} duplicate id(s), {} undecodable",
            self.read,
            self.topic,
            self.options.from.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.duplicates,
            self.undecodable
        )
    }
}

/// Runs `options.rules` over the raw responses of the window.
pub async fn backtest(
    settings: &KafkaSettings,
    options: BacktestOptions,
) -> anyhow::Result<BacktestReport> {
    let topic = settings.topology().topic(&topics::SURVEY_RESPONSES_RAW);
    let consumer = &kafka::client(settings)?;
    let partitions = kafka::partitions(consumer, &topic)?;
    let starts = kafka::offsets_at(consumer, &topic, &partitions, options.from)?;
    let ends = match options.to {
        Some(to) => kafka::offsets_at(consumer, &topic, &partitions, to)?,
        None => kafka::watermarks(consumer, &topic, &partitions)?
            .into_iter()
            .map(|(partition, (_, high))| (partition, high))
            .collect(),
    };
    let ranges = starts
        .iter()
        .map(|(&partition, &start)| {
            (
                partition,
                (start, ends.get(&partition).copied().unwrap_or(start)),
            )
        })
        .collect();
    let mut reader = RangeReader::new(settings, &topic, &ranges, IDLE)?;
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let rules = ActionRules::new(&options.rules);
    let mut report = BacktestReport {
        topic,
        options,
        read: 0,
        undecodable: 0,
        duplicates: 0,
        actionable: 0,
        alerts: BTreeMap::new(),
    };
    let mut seen = HashSet::new();
    while let Some(message) = reader.next().await? {
        report.read += 1;
        let Some(payload) = rdkafka::Message::payload(&message) else {
            report.undecodable += 1;
            continue;
        };
        let survey: SurveyResponse = match codec.decode(payload).await {
            Ok(survey) => survey,
            Err(error) if error.is_retriable() => {
                return Err(error).context("decoding a raw response");
            }
            Err(_) => {
                report.undecodable += 1;
                continue;
            }
        };
        if !seen.insert(survey.response_id.clone()) {
            report.duplicates += 1;
            continue;
        }
        let codes: BTreeSet<String> = rules
            .reasons(&survey)
            .into_iter()
            .map(|reason| reason.code)
            .collect();
        if codes.is_empty() {
            continue;
        }
        report.actionable += 1;
        let queue = survey.queue_id.unwrap_or_else(|| NO_QUEUE.to_owned());
        for code in codes {
            *report.alerts.entry((queue.clone(), code)).or_default() += 1;
        }
    }
    Ok(report)
}
