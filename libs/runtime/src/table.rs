//! Compacted topics as tables: read every partition from its start until
//! caught up with the end as it was at start-up, then keep following.
//!
//! Services block their own start-up on the catch-up, so a table (the
//! filter's seen-set, the enricher's queue directory, the notifier's
//! delivery ledger) is complete before the first input is handled. A stage
//! that takes over partitions from another instance waits again
//! ([`TableProgress::caught_up`]), so that it sees what that instance wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaSettings;
use crate::shutdown::Shutdown;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);
const IDLE_PROBE: Duration = Duration::from_millis(200);

/// The partitions of `topic`. A topic created a moment ago may not be in
/// every broker's metadata yet, so an empty answer is asked again.
async fn partitions(consumer: &StreamConsumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let started = tokio::time::Instant::now();
    loop {
        let partitions = crate::kafka::topic_partitions(consumer, topic, METADATA_TIMEOUT)
            .with_context(|| format!("reading metadata of {topic}"))?;
        if !partitions.is_empty() {
            return Ok(partitions);
        }
        anyhow::ensure!(
            started.elapsed() < METADATA_TIMEOUT,
            "table topic {topic} does not exist"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A new topic's partitions may have no leader for a moment; ask again
/// rather than fail the service's start.
async fn watermarks(
    consumer: &StreamConsumer,
    topic: &str,
    partition: i32,
) -> anyhow::Result<(i64, i64)> {
    let started = tokio::time::Instant::now();
    loop {
        match consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT) {
            Ok(watermarks) => return Ok(watermarks),
            Err(error)
                if crate::kafka::is_retriable(&error) && started.elapsed() < METADATA_TIMEOUT =>
            {
                tracing::debug!(topic, partition, %error, "watermarks not available yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("reading the watermarks of {topic}/{partition}")));
            }
        }
    }
}

/// Receives a table topic's records in offset order per partition.
#[async_trait]
pub trait TableSink: Send + 'static {
    /// Applies one record; `payload` is `None` for a tombstone.
    async fn apply(&mut self, key: &[u8], payload: Option<&[u8]>);
}

/// Decodes one table record. A registry that cannot be reached is waited
/// out, because a table missing records (a forgotten dedup marker or ledger
/// entry) would let a duplicate through; a record that can never decode is
/// skipped with a warning.
pub async fn decode_entry<T: survey_contracts::Contract>(
    codec: &survey_contracts::AvroCodec,
    payload: &[u8],
    table: &'static str,
) -> Option<T> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match codec.decode::<T>(payload).await {
            Ok(value) => return Some(value),
            Err(error) if error.is_retriable() => {
                tracing::warn!(table, %error, ?backoff, "table record not readable yet, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(error) => {
                tracing::warn!(table, %error, "unreadable table record skipped");
                return None;
            }
        }
    }
}

/// How far the follower of a table topic has applied it.
#[derive(Clone)]
pub struct TableProgress {
    consumer: Arc<StreamConsumer>,
    topic: String,
    partitions: Vec<i32>,
    /// Per partition: the offset after the last record applied (or passed,
    /// such as a transaction marker).
    applied: Arc<Mutex<HashMap<i32, i64>>>,
}

impl std::fmt::Debug for TableProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableProgress")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl TableProgress {
    /// Waits until every record the topic held when called is applied: read
    /// your (and other instances') acknowledged writes. Fails after `limit`.
    pub async fn caught_up(&self, limit: Duration) -> anyhow::Result<()> {
        let ends = {
            let (consumer, topic) = (Arc::clone(&self.consumer), self.topic.clone());
            let partitions = self.partitions.clone();
            tokio::task::spawn_blocking(move || {
                partitions
                    .into_iter()
                    .map(|partition| {
                        let (_, high) =
                            consumer.fetch_watermarks(&topic, partition, METADATA_TIMEOUT)?;
                        Ok((partition, high))
                    })
                    .collect::<Result<Vec<_>, rdkafka::error::KafkaError>>()
            })
            .await?
            .with_context(|| format!("reading the end offsets of {}", self.topic))?
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let behind = {
                let applied = self
                    .applied
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?;
                ends.iter()
                    .any(|(partition, end)| applied.get(partition).copied().unwrap_or(0) < *end)
            };
            if !behind {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "table {} did not catch up within {limit:?}",
                self.topic
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn applied(&self, partition: i32, next: i64) {
        if let Ok(mut applied) = self.applied.lock() {
            let entry = applied.entry(partition).or_insert(0);
            *entry = (*entry).max(next);
        }
    }

    /// Counts what the consumer has passed as applied: called only between
    /// records, when everything received has been applied.
    fn passed(&self) {
        if let Ok(positions) = self.consumer.position() {
            for element in positions.elements() {
                if let Offset::Offset(position) = element.offset() {
                    self.applied(element.partition(), position);
                }
            }
        }
    }
}

/// Reads `topic` until caught up, then follows it in the background until
/// `shutdown`. Returns how far the follower has applied it.
pub async fn materialize<S: TableSink>(
    settings: &KafkaSettings,
    topic: &str,
    mut sink: S,
    shutdown: Shutdown,
) -> anyhow::Result<TableProgress> {
    let consumer: StreamConsumer = crate::kafka::table_reader_config(settings)
        .create()
        .context("creating the table reader")?;
    let partitions = partitions(&consumer, topic).await?;

    let mut assignment = TopicPartitionList::new();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    // Nothing below the low watermark is left to read.
    let mut applied = HashMap::new();
    for partition in &partitions {
        assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
        let (low, high) = watermarks(&consumer, topic, *partition).await?;
        applied.insert(*partition, low);
        if high > low {
            remaining.insert(*partition, high);
        }
    }
    consumer.assign(&assignment)?;
    let progress = TableProgress {
        consumer: Arc::new(consumer),
        topic: topic.to_owned(),
        partitions,
        applied: Arc::new(Mutex::new(applied)),
    };
    let consumer = Arc::clone(&progress.consumer);

    let started = tokio::time::Instant::now();
    while !remaining.is_empty() {
        anyhow::ensure!(
            started.elapsed() < CATCH_UP_LIMIT,
            "table {topic} did not catch up"
        );
        match tokio::time::timeout(IDLE_PROBE, consumer.recv()).await {
            Ok(Ok(message)) => {
                let key = message.key().unwrap_or_default();
                sink.apply(key, message.payload()).await;
                progress.applied(message.partition(), message.offset() + 1);
                if remaining
                    .get(&message.partition())
                    .is_some_and(|end| message.offset() + 1 >= *end)
                {
                    remaining.remove(&message.partition());
                }
            }
            Ok(Err(error)) => tracing::warn!(topic, %error, "table read error"),
            // Idle: transaction markers may sit at the end; ask for positions.
            Err(_) => {
                progress.passed();
                let applied = progress
                    .applied
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?;
                remaining.retain(|partition, end| applied.get(partition).is_none_or(|at| at < end));
            }
        }
    }
    tracing::info!(topic, "table caught up");

    let follower = progress.clone();
    let topic = topic.to_owned();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.triggered() => break,
                received = tokio::time::timeout(IDLE_PROBE, consumer.recv()) => match received {
                    Ok(Ok(message)) => {
                        sink.apply(message.key().unwrap_or_default(), message.payload()).await;
                        follower.applied(message.partition(), message.offset() + 1);
                    }
                    Ok(Err(error)) => tracing::warn!(topic, %error, "table follow error"),
                    Err(_) => follower.passed(),
                },
            }
        }
    });
    Ok(progress)
}

/// A table topic held in memory: values by key, shared between the
/// follower that writes it and the handlers that read it.
#[derive(Debug)]
pub struct KeyedTable<V> {
    entries: std::sync::RwLock<HashMap<String, V>>,
}

impl<V> Default for KeyedTable<V> {
    fn default() -> Self {
        Self {
            entries: std::sync::RwLock::new(HashMap::new()),
        }
    }
}

impl<V: Clone> KeyedTable<V> {
    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<V> {
        self.entries.read().ok()?.get(key).cloned()
    }

    /// Stores `value` under `key` unless `keep_existing(existing, &value)`
    /// says the stored one wins.
    pub fn upsert(&self, key: String, value: V, keep_existing: impl Fn(&V, &V) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            if entries
                .get(&key)
                .is_some_and(|existing| keep_existing(existing, &value))
            {
                return;
            }
            entries.insert(key, value);
        }
    }

    /// Forgets `key` (a tombstone on the topic).
    pub fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .map(|entries| entries.len())
            .unwrap_or_default()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod decode_tests {
    use std::time::Duration;

    use survey_contracts::{AvroCodec, DedupMarker};

    use super::decode_entry;

    #[tokio::test]
    async fn an_unreachable_registry_is_waited_out_and_garbage_is_skipped() {
        // Nothing listens on port 9 of loopback: the registry is down.
        let down = AvroCodec::registry("http://127.0.0.1:9");
        let wire = [0_u8, 0, 0, 0, 1, 2, 3];
        let waited = tokio::time::timeout(
            Duration::from_secs(1),
            decode_entry::<DedupMarker>(&down, &wire, "test"),
        )
        .await;
        assert!(waited.is_err(), "still waiting for the registry");
        let garbage = decode_entry::<DedupMarker>(&down, b"not avro", "test").await;
        assert!(garbage.is_none());
    }
}
