//! Kafka plumbing the commands share: partitions and offsets by time, a
//! consumer group's committed offsets, and a reader of offset ranges that
//! stops at their ends instead of waiting for more.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use survey_runtime::KafkaSettings;

/// How long one metadata, offset or commit request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Offsets per partition.
pub type Offsets = BTreeMap<i32, i64>;

/// A client for metadata and offset look-ups; it joins no group and
/// commits nothing.
pub fn client(settings: &KafkaSettings) -> anyhow::Result<BaseConsumer> {
    survey_runtime::kafka::table_reader_config(settings)
        .set("group.id", "survey-alerts.ctl")
        .create()
        .context("creating the Kafka client")
}

/// The partitions of `topic`; an error when it does not exist.
pub fn partitions<C: Consumer>(consumer: &C, topic: &str) -> anyhow::Result<Vec<i32>> {
    let partitions = survey_runtime::kafka::topic_partitions(consumer, topic, REQUEST_TIMEOUT)
        .with_context(|| format!("reading the metadata of {topic}"))?;
    anyhow::ensure!(
        !partitions.is_empty(),
        "topic {topic} does not exist; create it with `survey-ctl topics apply`"
    );
    Ok(partitions)
}

/// The low and high watermark of each partition.
pub fn watermarks<C: Consumer>(
    consumer: &C,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, (i64, i64)>> {
    partitions
        .iter()
        .map(|&partition| {
            let marks = consumer
                .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
                .with_context(|| format!("reading the watermarks of {topic}/{partition}"))?;
            Ok((partition, marks))
        })
        .collect()
}

/// Per partition, the first offset whose record timestamp is at or after
/// `at`; the high watermark where no record is that recent.
pub fn offsets_at<C: Consumer>(
    consumer: &C,
    topic: &str,
    partitions: &[i32],
    at: DateTime<Utc>,
) -> anyhow::Result<Offsets> {
    let mut query = TopicPartitionList::new();
    for &partition in partitions {
        query.add_partition_offset(topic, partition, Offset::Offset(at.timestamp_millis()))?;
    }
    let found = consumer
        .offsets_for_times(query, REQUEST_TIMEOUT)
        .with_context(|| format!("looking up the offsets of {topic} at {at}"))?;
    let mut offsets = Offsets::new();
    for element in found.elements_for_topic(topic) {
        element
            .error()
            .with_context(|| format!("looking up {topic}/{} at {at}", element.partition()))?;
        let offset = match element.offset() {
            Offset::Offset(offset) => offset,
            _ => {
                consumer
                    .fetch_watermarks(topic, element.partition(), REQUEST_TIMEOUT)?
                    .1
            }
        };
        offsets.insert(element.partition(), offset);
    }
    Ok(offsets)
}

/// What the broker says about a consumer group's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// `Empty`, `Stable`, `PreparingRebalance`, `Dead` (unknown group), ...
    pub state: String,
    /// Members currently joined.
    pub members: usize,
}

impl GroupState {
    /// True when a member holds partitions, so committing for the group from
    /// outside would be rejected or overwritten.
    pub fn is_active(&self) -> bool {
        self.members > 0 || !matches!(self.state.as_str(), "Empty" | "Dead" | "")
    }
}

/// Reads and commits one consumer group's offsets without joining it.
pub struct GroupOffsets {
    group: String,
    consumer: BaseConsumer,
}

impl std::fmt::Debug for GroupOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupOffsets")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl GroupOffsets {
    /// A client that commits as `group`; it never subscribes, so it never
    /// becomes a member.
    pub fn new(settings: &KafkaSettings, group: &str) -> anyhow::Result<Self> {
        let consumer = survey_runtime::kafka::consumer_config(settings, group)
            .set("enable.auto.commit", "false")
            .create()
            .context("creating the Kafka consumer")?;
        Ok(Self {
            group: group.to_owned(),
            consumer,
        })
    }

    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The client, for metadata and offset look-ups.
    pub fn consumer(&self) -> &BaseConsumer {
        &self.consumer
    }

    /// The group's state and member count.
    pub fn state(&self) -> anyhow::Result<GroupState> {
        let list = self
            .consumer
            .fetch_group_list(Some(&self.group), REQUEST_TIMEOUT)
            .with_context(|| format!("describing consumer group {}", self.group))?;
        Ok(list
            .groups()
            .iter()
            .find(|group| group.name() == self.group)
            .map_or_else(
                || GroupState {
                    state: "Dead".to_owned(),
                    members: 0,
                },
                |group| GroupState {
                    state: group.state().to_owned(),
                    members: group.members().len(),
                },
            ))
    }

    /// The committed offset of each partition; `None` where the group has
    /// none.
    pub fn committed(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<BTreeMap<i32, Option<i64>>> {
        let mut query = TopicPartitionList::new();
        for &partition in partitions {
            query.add_partition(topic, partition);
        }
        let committed = self
            .consumer
            .committed_offsets(query, REQUEST_TIMEOUT)
            .with_context(|| format!("reading the offsets of group {} on {topic}", self.group))?;
        Ok(committed
            .elements_for_topic(topic)
            .iter()
            .map(|element| match element.offset() {
                Offset::Offset(offset) => (element.partition(), Some(offset)),
                _ => (element.partition(), None),
            })
            .collect())
    }

    /// Commits `offsets` (the next offset to read, per partition)
    /// synchronously. The broker accepts this only while the group has no
    /// members.
    pub fn commit(&self, topic: &str, offsets: &Offsets) -> KafkaResult<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in offsets {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        }
        self.consumer.commit(&list, CommitMode::Sync)
    }
}

/// Reads each partition of a topic from a start offset to an end offset
/// (exclusive), outside any group, and then stops.
pub struct RangeReader {
    topic: String,
    consumer: StreamConsumer,
    ends: Offsets,
    idle: Duration,
}

impl std::fmt::Debug for RangeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeReader")
            .field("topic", &self.topic)
            .field("ends", &self.ends)
            .finish_non_exhaustive()
    }
}

impl RangeReader {
    /// A reader of `ranges` (partition → (start, end)) of `topic`. `idle`
    /// bounds the wait for one record; a partition that stays silent that
    /// long before its end is an error.
    pub fn new(
        settings: &KafkaSettings,
        topic: &str,
        ranges: &BTreeMap<i32, (i64, i64)>,
        idle: Duration,
    ) -> anyhow::Result<Self> {
        let consumer: StreamConsumer = survey_runtime::kafka::table_reader_config(settings)
            .set("group.id", "survey-alerts.ctl")
            .set("enable.partition.eof", "true")
            .create()
            .context("creating the Kafka consumer")?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = Offsets::new();
        for (&partition, &(start, end)) in ranges.iter().filter(|(_, (s, e))| s < e) {
            assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
            ends.insert(partition, end);
        }
        if assignment.count() > 0 {
            consumer.assign(&assignment)?;
        }
        Ok(Self {
            topic: topic.to_owned(),
            consumer,
            ends,
            idle,
        })
    }

    /// The next record of any partition still short of its end; `None` once
    /// every partition reached its end.
    pub async fn next(&mut self) -> anyhow::Result<Option<OwnedMessage>> {
        while !self.ends.is_empty() {
            let received = tokio::time::timeout(self.idle, self.consumer.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "no record from {} for {:?}; partitions (→ end offset) {:?} did not reach their end",
                        self.topic,
                        self.idle,
                        self.ends
                    )
                })?;
            match received {
                Ok(message) => {
                    let partition = message.partition();
                    let Some(&end) = self.ends.get(&partition) else {
                        continue;
                    };
                    if message.offset() + 1 >= end {
                        self.ends.remove(&partition);
                    }
                    if message.offset() < end {
                        return Ok(Some(message.detach()));
                    }
                }
                // At the end (or the last stable offset) before the planned
                // end: transaction markers or aborted records fill the rest.
                Err(KafkaError::PartitionEOF(partition)) => {
                    self.ends.remove(&partition);
                }
                Err(error) if survey_runtime::kafka::is_retriable(&error) => {}
                Err(error) => {
                    return Err(error).with_context(|| format!("reading {}", self.topic));
                }
            }
        }
        Ok(None)
    }
}
