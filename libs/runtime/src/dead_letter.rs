//! Dead-letter records: the failed input's key and bytes, unchanged, with
//! headers that say where it came from and why it failed.

use crate::stage::{InputRecord, OutputRecord};

/// Header names on every dead-letter record.
pub mod headers {
    /// Stable machine-readable reason code (for example `not_wire_format`).
    pub const REASON: &str = "dlq.reason";
    /// Human-readable error message.
    pub const ERROR: &str = "dlq.error";
    /// The stage that gave up on the record.
    pub const STAGE: &str = "dlq.stage";
    /// Topic, partition and offset of the original record.
    pub const SOURCE_TOPIC: &str = "dlq.source.topic";
    /// Partition of the original record.
    pub const SOURCE_PARTITION: &str = "dlq.source.partition";
    /// Offset of the original record.
    pub const SOURCE_OFFSET: &str = "dlq.source.offset";
    /// When the stage gave up, epoch milliseconds.
    pub const FAILED_AT: &str = "dlq.failed.at";
    /// The notifier's target (`channel:address`) of a failed delivery.
    pub const TARGET: &str = "dlq.target";
    /// Set by `survey-ctl dlq redrive`: the DLQ offset a record came back from.
    pub const REDRIVEN_FROM: &str = "dlq.redriven.from";
}

/// The dead-letter record for `input`.
pub fn dead_letter(
    input: &InputRecord<'_>,
    dlq_topic: &str,
    stage: &str,
    reason: &str,
    error: &str,
) -> OutputRecord {
    let mut record = OutputRecord::new(
        dlq_topic,
        input.key.map(<[u8]>::to_vec).unwrap_or_default(),
        input.payload.map(<[u8]>::to_vec).unwrap_or_default(),
    );
    // The original headers travel along, so trace context survives.
    record.headers.extend(
        input
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
    );
    for (name, value) in [
        (headers::REASON, reason.to_owned()),
        (headers::ERROR, error.to_owned()),
        (headers::STAGE, stage.to_owned()),
        (headers::SOURCE_TOPIC, input.topic.to_owned()),
        (headers::SOURCE_PARTITION, input.partition.to_string()),
        (headers::SOURCE_OFFSET, input.offset.to_string()),
        (headers::FAILED_AT, crate::now_millis().to_string()),
    ] {
        record.headers.push((name.to_owned(), value.into_bytes()));
    }
    record
}
