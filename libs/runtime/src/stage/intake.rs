//! The consuming side both loops share: the subscribed consumer, partitions
//! paused until their next record is due, and the lag gauge.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use super::InputRecord;
use crate::shutdown::Shutdown;

/// Counts partition revocations, so that a transaction opened before one is
/// never committed after it: once this member has rejoined, its offsets
/// commit under the new generation, even for a partition that moved to
/// another member, which then handles the same inputs again.
///
/// Also counts assignments, so that the stage can let its handler catch up
/// with what the partitions' previous owner wrote before their first input.
#[derive(Debug, Default)]
pub(super) struct StageContext {
    revocations: AtomicU64,
    assignments: AtomicU64,
}

impl ClientContext for StageContext {}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Revoke(_)) {
            self.revocations.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(partitions) if partitions.count() > 0) {
            self.assignments.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The consumer every stage loop uses.
pub(super) type StageConsumer = StreamConsumer<StageContext>;

/// A subscribed consumer and the partitions it holds back.
pub(super) struct Intake {
    /// The consumer; the loops receive from a clone of this handle.
    pub consumer: Arc<StageConsumer>,
    /// Its consumer group, for spans.
    pub group: String,
    stage: &'static str,
    paused: BinaryHeap<Reverse<(Instant, String, i32)>>,
    /// The assignment count the handler last caught up with.
    assignments_seen: u64,
}

impl Intake {
    /// Wraps a subscribed consumer and starts reporting its lag.
    pub fn new(
        consumer: StageConsumer,
        group: String,
        stage: &'static str,
        shutdown: &Shutdown,
    ) -> Self {
        let consumer = Arc::new(consumer);
        tokio::spawn(report_lag(
            Arc::downgrade(&consumer),
            stage,
            shutdown.clone(),
        ));
        Self {
            consumer,
            group,
            stage,
            paused: BinaryHeap::new(),
            assignments_seen: 0,
        }
    }

    /// True once after each assignment of partitions: their inputs may have
    /// been another instance's until now.
    pub fn newly_assigned(&mut self) -> bool {
        let assignments = self.consumer.context().assignments.load(Ordering::SeqCst);
        let new = assignments != self.assignments_seen;
        self.assignments_seen = assignments;
        new
    }

    /// How many times partitions were revoked from this consumer so far.
    pub fn revocations(&self) -> u64 {
        self.consumer.context().revocations.load(Ordering::SeqCst)
    }

    /// The `process <topic>` span of one input.
    pub fn process_span(&self, input: &InputRecord<'_>) -> tracing::Span {
        tracing::info_span!(
            "process",
            otel.name = %format!("process {}", input.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.destination.name = input.topic,
            messaging.consumer.group.name = %self.group,
            messaging.destination.partition.id = input.partition,
            messaging.kafka.offset = input.offset,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        )
    }

    /// What a failed receive comes to: the error that ends the loop when the
    /// consumer failed fatally (for example a fenced static member), else
    /// `None` once it is logged, since librdkafka recovers by itself.
    pub fn failed_receive(&self, error: &KafkaError) -> Option<anyhow::Error> {
        match self.consumer.client().fatal_error() {
            Some((code, reason)) => Some(
                super::ClientFailed {
                    client: "consumer",
                    code,
                    reason,
                }
                .into(),
            ),
            None => {
                tracing::warn!(stage = self.stage, %error, "consumer error");
                None
            }
        }
    }

    /// When the earliest paused partition is due.
    pub fn next_resume(&self) -> Option<Instant> {
        self.paused.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pauses the input's partition and rewinds it to the input, so that
    /// nothing behind it is read before it is due.
    pub fn pause_until(&mut self, input: &InputRecord<'_>, wait: Duration) -> anyhow::Result<()> {
        self.pause_at(input.topic, input.partition, input.offset, wait)
    }

    /// Pauses `partition` of `topic` for `wait`, rewound to `offset`.
    pub fn pause_at(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        wait: Duration,
    ) -> anyhow::Result<()> {
        let mut paused = TopicPartitionList::new();
        paused.add_partition(topic, partition);
        self.consumer.pause(&paused)?;
        self.rewind(topic, partition, offset)?;
        self.paused.push(Reverse((
            Instant::now() + wait,
            topic.to_owned(),
            partition,
        )));
        Ok(())
    }

    /// Moves the partition's position back to `offset`.
    pub fn rewind(&self, topic: &str, partition: i32, offset: i64) -> anyhow::Result<()> {
        self.consumer.seek(
            topic,
            partition,
            Offset::Offset(offset),
            Duration::from_secs(10),
        )?;
        Ok(())
    }

    /// Resumes every paused partition whose wait is over.
    pub fn resume_due(&mut self) {
        let now = Instant::now();
        while self
            .paused
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= now)
        {
            let Some(Reverse((_, topic, partition))) = self.paused.pop() else {
                break;
            };
            let mut resumed = TopicPartitionList::new();
            resumed.add_partition(&topic, partition);
            // A rebalance may have taken the partition meanwhile; its new
            // owner starts unpaused.
            if let Err(error) = self.consumer.resume(&resumed) {
                tracing::debug!(stage = self.stage, %error, topic, partition, "resume skipped");
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub(super) async fn sleep_until_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Publishes the consumer's lag per assigned partition every few seconds.
/// The watermark calls block, so they run off the async workers. Runs until
/// shutdown, or until the consumer is replaced: it only watches the
/// consumer, so that a failed one can be closed.
async fn report_lag(consumer: Weak<StageConsumer>, stage: &'static str, shutdown: Shutdown) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = every.tick() => {}
        }
        let Some(consumer) = consumer.upgrade() else {
            return;
        };
        let lags = tokio::task::spawn_blocking(move || partition_lags(&consumer)).await;
        for (topic, partition, lag) in lags.unwrap_or_default() {
            metrics::gauge!(
                crate::metrics::names::CONSUMER_LAG,
                "stage" => stage,
                "topic" => topic,
                "partition" => partition.to_string()
            )
            .set(lag as f64);
        }
    }
}

fn partition_lags(consumer: &StageConsumer) -> Vec<(String, i32, i64)> {
    let Ok(positions) = consumer.position() else {
        return Vec::new();
    };
    positions
        .elements()
        .iter()
        .filter_map(|element| {
            let (_, high) = consumer
                .fetch_watermarks(element.topic(), element.partition(), Duration::from_secs(2))
                .ok()?;
            let lag = match element.offset() {
                Offset::Offset(position) => (high - position).max(0),
                _ => high,
            };
            Some((element.topic().to_owned(), element.partition(), lag))
        })
        .collect()
}
