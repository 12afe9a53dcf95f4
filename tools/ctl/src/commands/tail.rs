//! `tail`: a topic's records from the start as JSON lines, Avro values
//! decoded through the registry; for a look, not for processing.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use survey_contracts::AvroCodec;
use survey_contracts::topics::{self, ValueFormat};
use survey_runtime::KafkaSettings;

use crate::kafka;

/// Writes up to `max` records of the topic `base_name` (without the prefix)
/// to `out`, one JSON object per line, and stops after `idle` without a
/// record. Returns how many it wrote.
pub async fn tail<W: Write>(
    settings: &KafkaSettings,
    base_name: &str,
    max: usize,
    idle: Duration,
    out: &mut W,
) -> anyhow::Result<usize> {
    let spec = topics::ALL
        .iter()
        .find(|spec| spec.base_name == base_name)
        .ok_or_else(|| anyhow::anyhow!("unknown topic {base_name}; see `survey-ctl topics`"))?;
    let topic = settings.topology().topic(spec);
    let consumer: StreamConsumer = survey_runtime::kafka::table_reader_config(settings)
        .set("group.id", "survey-alerts.ctl")
        .create()
        .context("creating the Kafka consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in kafka::partitions(&consumer, &topic)? {
        assignment.add_partition_offset(&topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let mut written = 0;
    while written < max {
        let Ok(received) = tokio::time::timeout(idle, consumer.recv()).await else {
            break;
        };
        let message = received?;
        let key = message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned());
        let value = match (spec.value, message.payload()) {
            (ValueFormat::Avro(_), Some(payload)) => codec
                .decode_json(payload)
                .await
                .unwrap_or_else(|error| json!({ "undecodable": error.to_string() })),
            (_, payload) => json!(payload.map(|p| String::from_utf8_lossy(p).into_owned())),
        };
        let headers: serde_json::Map<String, Value> = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        (h.key.to_owned(), json!(value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let line = json!({
            "partition": message.partition(),
            "offset": message.offset(),
            "key": key,
            "headers": headers,
            "value": value,
        });
        writeln!(out, "{line}")?;
        written += 1;
    }
    Ok(written)
}
