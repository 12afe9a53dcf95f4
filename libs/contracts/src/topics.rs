//! The topic registry: every topic of the pipeline, declared once.
//!
//! Provisioning, the services, the tests and the README's topic table all read
//! these declarations; nothing else spells a topic name or its settings.

use std::time::Duration;

use crate::schemas::{self, SchemaSpec};

/// How Kafka cleans a topic's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Segments are deleted after the retention time.
    Delete,
    /// The newest record per key is kept, and whole segments still expire:
    /// a table that forgets keys after the retention time.
    CompactDelete,
    /// The newest record per key is kept for ever: a table.
    Compact,
}

impl CleanupPolicy {
    /// The value of Kafka's `cleanup.policy`.
    pub fn as_kafka_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::CompactDelete => "compact,delete",
            Self::Compact => "compact",
        }
    }
}

/// How long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// A fixed retention.
    Fixed(Duration),
    /// The filter's dedup window, which is configurable.
    DedupWindow,
}

/// What a topic's value holds.
#[derive(Debug, Clone, Copy)]
pub enum ValueFormat {
    /// Confluent wire format Avro, registered under `<topic>-value`.
    Avro(&'static SchemaSpec),
    /// The failed input's original bytes, unchanged, with reason headers.
    DeadLetter,
}

/// One topic of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec {
    /// Name without the deployment's prefix.
    pub base_name: &'static str,
    /// What the key holds (always UTF-8 text).
    pub key: &'static str,
    /// What the value holds.
    pub value: ValueFormat,
    /// Kafka's `cleanup.policy`.
    pub cleanup: CleanupPolicy,
    /// Kafka's `retention.ms`.
    pub retention: Retention,
    /// Kafka's `segment.ms`, when it must be shorter than the default week
    /// (a compacted window can only expire keys segment by segment).
    pub segment: Option<Duration>,
    /// Partition count at creation.
    pub partitions: i32,
    /// The service that writes it.
    pub producer: &'static str,
    /// The service that reads it, if any.
    pub consumer: Option<&'static str>,
    /// Consumer group of that service, without the prefix. `None` where the
    /// reader assigns all partitions itself (tables read from the start).
    pub consumer_group: Option<&'static str>,
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// Survey responses as ingest accepted them.
pub const SURVEY_RESPONSES_RAW: TopicSpec = TopicSpec {
    base_name: "survey.responses.raw",
    key: "survey response id",
    value: ValueFormat::Avro(&schemas::SURVEY_RESPONSE),
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(WEEK),
    segment: None,
    partitions: 6,
    producer: "ingest",
    consumer: Some("filter"),
    consumer_group: Some("survey-alerts.filter"),
};

/// Responses that need a supervisor, with their reasons.
pub const SURVEY_RESPONSES_ACTIONABLE: TopicSpec = TopicSpec {
    base_name: "survey.responses.actionable",
    key: "survey response id",
    value: ValueFormat::Avro(&schemas::ACTIONABLE_SURVEY),
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(WEEK),
    segment: None,
    partitions: 6,
    producer: "filter",
    consumer: Some("enricher"),
    consumer_group: Some("survey-alerts.enricher"),
};

/// The filter's seen-set: one marker per emitted response id.
pub const SURVEY_RESPONSES_DEDUP: TopicSpec = TopicSpec {
    base_name: "survey.responses.dedup",
    key: "survey response id",
    value: ValueFormat::Avro(&schemas::DEDUP_MARKER),
    cleanup: CleanupPolicy::CompactDelete,
    retention: Retention::DedupWindow,
    segment: Some(Duration::from_secs(3600)),
    partitions: 6,
    producer: "filter",
    consumer: Some("filter"),
    consumer_group: None,
};

/// Raw records the filter could not decode, with reason headers.
pub const FILTER_DLQ: TopicSpec = TopicSpec {
    base_name: "survey.filter.dlq",
    key: "original key",
    value: ValueFormat::DeadLetter,
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(Duration::from_secs(14 * 24 * 3600)),
    segment: None,
    partitions: 1,
    producer: "filter",
    consumer: None,
    consumer_group: None,
};

/// Supervisor alerts: the public contract other teams consume.
pub const ALERTS_ENRICHED: TopicSpec = TopicSpec {
    base_name: "survey.alerts.enriched",
    key: "alert id (survey response id)",
    value: ValueFormat::Avro(&schemas::ENRICHED_ALERT),
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(WEEK),
    segment: None,
    partitions: 6,
    producer: "enricher",
    consumer: Some("notifier"),
    consumer_group: Some("survey-alerts.notifier"),
};

/// Recording re-checks the enricher scheduled for later.
pub const RECORDING_RETRIES: TopicSpec = TopicSpec {
    base_name: "survey.enricher.recording-retries",
    key: "alert id",
    value: ValueFormat::Avro(&schemas::RECORDING_RETRY),
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(DAY),
    segment: None,
    partitions: 6,
    producer: "enricher",
    consumer: Some("enricher"),
    consumer_group: Some("survey-alerts.enricher.recording-retries"),
};

/// The queue routing directory: supervisors and targets per queue.
pub const QUEUE_DIRECTORY: TopicSpec = TopicSpec {
    base_name: "survey.directory.queues",
    key: "queue id",
    value: ValueFormat::Avro(&schemas::QUEUE_DIRECTORY_ENTRY),
    cleanup: CleanupPolicy::Compact,
    retention: Retention::Fixed(WEEK),
    segment: Some(Duration::from_secs(3600)),
    partitions: 1,
    producer: "enricher sync-directory",
    consumer: Some("enricher"),
    consumer_group: None,
};

/// Actionable records the enricher could not decode, with reason headers.
pub const ENRICHER_DLQ: TopicSpec = TopicSpec {
    base_name: "survey.enricher.dlq",
    producer: "enricher",
    ..FILTER_DLQ
};

/// The notifier's ledger: the newest revision delivered per alert and target.
pub const DELIVERY_LEDGER: TopicSpec = TopicSpec {
    base_name: "survey.notifier.deliveries",
    key: "alert id|channel:address",
    value: ValueFormat::Avro(&schemas::DELIVERY_RECORD),
    cleanup: CleanupPolicy::Compact,
    retention: Retention::Fixed(WEEK),
    segment: Some(Duration::from_secs(3600)),
    partitions: 6,
    producer: "notifier",
    consumer: Some("notifier"),
    consumer_group: None,
};

/// Deliveries the notifier is about to make: written before a channel is
/// called, removed once the ledger has the delivery.
pub const DELIVERY_INTENTS: TopicSpec = TopicSpec {
    base_name: "survey.notifier.delivery-intents",
    value: ValueFormat::Avro(&schemas::DELIVERY_INTENT),
    ..DELIVERY_LEDGER
};

/// Deliveries that failed transiently, scheduled for another attempt.
pub const DELIVERY_RETRIES: TopicSpec = TopicSpec {
    base_name: "survey.notifier.delivery-retries",
    key: "alert id|channel:address",
    value: ValueFormat::Avro(&schemas::DELIVERY_RETRY),
    cleanup: CleanupPolicy::Delete,
    retention: Retention::Fixed(DAY),
    segment: None,
    partitions: 6,
    producer: "notifier",
    consumer: Some("notifier"),
    consumer_group: Some("survey-alerts.notifier.delivery-retries"),
};

/// Alerts or deliveries the notifier gave up on, with reason headers.
pub const NOTIFIER_DLQ: TopicSpec = TopicSpec {
    base_name: "survey.notifier.dlq",
    producer: "notifier",
    ..FILTER_DLQ
};

/// Every topic, in pipeline order.
pub const ALL: &[TopicSpec] = &[
    SURVEY_RESPONSES_RAW,
    SURVEY_RESPONSES_ACTIONABLE,
    SURVEY_RESPONSES_DEDUP,
    FILTER_DLQ,
    QUEUE_DIRECTORY,
    ALERTS_ENRICHED,
    RECORDING_RETRIES,
    ENRICHER_DLQ,
    DELIVERY_LEDGER,
    DELIVERY_INTENTS,
    DELIVERY_RETRIES,
    NOTIFIER_DLQ,
];

/// The default dedup window (and so the dedup topic's retention).
pub const DEFAULT_DEDUP_WINDOW: Duration = DAY;

/// Turns declared topics into the names of one deployment.
///
/// A prefix separates environments that share a cluster, and gives every
/// integration test its own topics and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// A topology whose names all start with `prefix` (may be empty).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The deployment's prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic's full name.
    pub fn topic(&self, spec: &TopicSpec) -> String {
        format!("{}{}", self.prefix, spec.base_name)
    }

    /// The consumer group that reads the topic.
    pub fn group(&self, spec: &TopicSpec) -> Option<String> {
        spec.consumer_group
            .map(|group| format!("{}{group}", self.prefix))
    }

    /// The registry subject of the topic's value (TopicNameStrategy).
    pub fn value_subject(&self, spec: &TopicSpec) -> String {
        format!("{}-value", self.topic(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let topology = Topology::with_prefix("t1.");
        let names: std::collections::BTreeSet<_> =
            ALL.iter().map(|spec| topology.topic(spec)).collect();
        assert_eq!(names.len(), ALL.len());
        assert!(names.iter().all(|name| name.starts_with("t1.survey.")));
        let groups: std::collections::BTreeSet<_> =
            ALL.iter().filter_map(|spec| topology.group(spec)).collect();
        assert_eq!(
            groups.len(),
            ALL.iter().filter(|s| s.consumer_group.is_some()).count()
        );
        assert_eq!(
            topology.value_subject(&SURVEY_RESPONSES_RAW),
            "t1.survey.responses.raw-value"
        );
    }

    #[test]
    fn compacted_topics_roll_segments_well_inside_their_retention() {
        for spec in ALL
            .iter()
            .filter(|s| s.cleanup == CleanupPolicy::CompactDelete)
        {
            let segment = spec.segment.unwrap_or(WEEK);
            assert!(
                segment < DEFAULT_DEDUP_WINDOW,
                "{} keeps keys too long",
                spec.base_name
            );
        }
    }
}
