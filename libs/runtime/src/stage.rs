//! The consume-process-produce loop every consuming stage runs.
//!
//! Delivery semantics: at-least-once. Auto-commit is on but the offset
//! *store* is manual: an input's offset is stored only after every output it
//! produced (including a dead-letter record) was acknowledged by Kafka with
//! `acks=all`. A crash therefore redelivers inputs, never loses them; each
//! stage deduplicates by business key downstream of that.
//!
//! Outputs of many inputs are in flight at once (bounded by
//! `max_in_flight`), and offsets are stored in input order, so throughput
//! does not wait on one acknowledgement round trip per record.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tracing::Instrument;

use survey_contracts::TopicSpec;

use crate::config::KafkaSettings;
use crate::dead_letter::dead_letter;
use crate::shutdown::Shutdown;
use crate::stats::StageStats;

/// One consumed record, borrowed from the consumer.
#[derive(Debug)]
pub struct InputRecord<'a> {
    /// Topic it was read from.
    pub topic: &'a str,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
    /// Its value, if any.
    pub payload: Option<&'a [u8]>,
    /// Its headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Destination topic.
    pub topic: String,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl OutputRecord {
    /// A record without headers.
    pub fn new(topic: impl Into<String>, key: impl Into<Vec<u8>>, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            payload,
            headers: Vec::new(),
        }
    }
}

/// How handling one input failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The input itself is bad; it goes to the dead-letter queue and the
    /// stage moves on.
    #[error("poison record ({code}): {message}")]
    Poison {
        /// Stable reason code for the DLQ header.
        code: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A dependency is unavailable; the same input is tried again after a
    /// back-off, and its offset is not stored meanwhile.
    #[error("retriable failure: {0}")]
    Retriable(String),
    /// The stage cannot go on; it stops without storing the offset.
    #[error("fatal failure: {0}")]
    Fatal(String),
    /// The input is not due yet (delay topics). Its partition is paused and
    /// rewound to it, and resumed after `wait`; other partitions go on.
    #[error("not due for {wait:?}")]
    NotDue {
        /// How long until it is due.
        wait: Duration,
    },
}

/// What handling one input came to.
enum Handled {
    Outputs(Vec<OutputRecord>),
    NotDue(Duration),
    ShutDown,
}

/// The pure-ish part of a stage: turns one input into its outputs.
#[async_trait]
pub trait StageHandler: Send {
    /// Handles one input. Returning `Ok(vec![])` drops it on purpose.
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError>;
}

/// Settings of a [`StageRunner`].
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Stage name for logs and DLQ headers.
    pub stage: &'static str,
    /// Topic that receives poison records.
    pub dlq_topic: String,
    /// Inputs whose outputs may await acknowledgement at once.
    pub max_in_flight: usize,
    /// First back-off after a retriable failure; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
}

impl RunnerSettings {
    /// Settings for a stage whose handler waits on external calls: a small
    /// in-flight window (so an outage does not pile up work to redo) and
    /// back-off from 250 ms to 15 s.
    pub fn new(stage: &'static str, dlq_topic: &str) -> Self {
        Self {
            stage,
            dlq_topic: dlq_topic.to_owned(),
            max_in_flight: 256,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
        }
    }
}

type Acknowledged = Pin<Box<dyn Future<Output = Result<(String, i32, i64), KafkaError>> + Send>>;

/// Runs a [`StageHandler`] between a consumer and a producer.
pub struct StageRunner<H> {
    consumer: Arc<StreamConsumer>,
    group: String,
    producer: FutureProducer,
    handler: H,
    settings: RunnerSettings,
    stats: Arc<StageStats>,
}

impl<H> std::fmt::Debug for StageRunner<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRunner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<H: StageHandler> StageRunner<H> {
    /// A runner over a consumer already subscribed in `group`.
    pub fn new(
        consumer: StreamConsumer,
        group: String,
        producer: FutureProducer,
        handler: H,
        settings: RunnerSettings,
        stats: Arc<StageStats>,
    ) -> Self {
        Self {
            consumer: Arc::new(consumer),
            group,
            producer,
            handler,
            settings,
            stats,
        }
    }

    /// Consumes until `shutdown`, then drains in-flight outputs, stores and
    /// commits their offsets. Returns an error when an output could not be
    /// delivered or a handler failed fatally; offsets of unfinished inputs are
    /// then not stored, so a restart redelivers them.
    pub async fn run(mut self, shutdown: Shutdown) -> anyhow::Result<()> {
        tokio::spawn(report_lag(
            Arc::clone(&self.consumer),
            self.settings.stage,
            shutdown.clone(),
        ));
        let mut in_flight: FuturesOrdered<Acknowledged> = FuturesOrdered::new();
        let mut paused: BinaryHeap<Reverse<(Instant, String, i32)>> = BinaryHeap::new();
        let outcome = loop {
            let next_resume = paused.peek().map(|Reverse((at, _, _))| *at);
            tokio::select! {
                biased;
                () = shutdown.triggered() => break Ok(()),
                () = sleep_until_or_never(next_resume) => {
                    self.resume_due(&mut paused);
                }
                Some(acknowledged) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Err(error) = self.store(acknowledged) {
                        break Err(error);
                    }
                }
                received = self.consumer.recv(), if in_flight.len() < self.settings.max_in_flight => {
                    let message = match received {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::warn!(stage = self.settings.stage, %error, "consumer error");
                            continue;
                        }
                    };
                    self.stats.record_in();
                    let input = InputRecord {
                        topic: message.topic(),
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key(),
                        payload: message.payload(),
                        headers: owned_headers(&message),
                    };
                    let span = tracing::info_span!(
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
                    );
                    crate::trace_context::set_parent(&span, &input.headers);
                    let handled = handle_with_retries(&mut self.handler, &input, &self.settings, &self.stats, &shutdown)
                        .instrument(span.clone())
                        .await;
                    let outputs = match handled {
                        Ok(Handled::Outputs(outputs)) => outputs,
                        Ok(Handled::NotDue(wait)) => {
                            if let Err(error) = self.pause_until(&input, wait, &mut paused) {
                                break Err(error);
                            }
                            continue;
                        }
                        Ok(Handled::ShutDown) => break Ok(()),
                        Err(error) => break Err(error),
                    };
                    let position = (input.topic.to_owned(), input.partition, input.offset);
                    match enqueue(&self.producer, outputs, &self.stats, &shutdown, &span).await {
                        Ok(deliveries) => in_flight.push_back(Box::pin(async move {
                            for delivery in deliveries {
                                delivery.await?;
                            }
                            Ok(position)
                        })),
                        Err(error) => break Err(error),
                    }
                }
            }
        };
        // Drain: whatever was enqueued gets its chance to be acknowledged, and
        // only acknowledged inputs have their offsets stored.
        while let Some(acknowledged) = in_flight.next().await {
            self.store(acknowledged)?;
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing stored yet, or a rebalance took the partitions: the
            // committed offsets are still correct, only older.
            tracing::debug!(stage = self.settings.stage, %error, "final commit skipped");
        }
        outcome
    }

    /// Pauses the input's partition and rewinds it to the input, so that
    /// nothing behind it is read before it is due.
    fn pause_until(
        &self,
        input: &InputRecord<'_>,
        wait: Duration,
        paused: &mut BinaryHeap<Reverse<(Instant, String, i32)>>,
    ) -> anyhow::Result<()> {
        let mut partition = TopicPartitionList::new();
        partition.add_partition(input.topic, input.partition);
        self.consumer.pause(&partition)?;
        self.consumer.seek(
            input.topic,
            input.partition,
            Offset::Offset(input.offset),
            Duration::from_secs(10),
        )?;
        paused.push(Reverse((
            Instant::now() + wait,
            input.topic.to_owned(),
            input.partition,
        )));
        Ok(())
    }

    fn resume_due(&self, paused: &mut BinaryHeap<Reverse<(Instant, String, i32)>>) {
        let now = Instant::now();
        while paused.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            let Some(Reverse((_, topic, partition))) = paused.pop() else {
                break;
            };
            let mut resumed = TopicPartitionList::new();
            resumed.add_partition(&topic, partition);
            // A rebalance may have taken the partition meanwhile; its new
            // owner starts unpaused.
            if let Err(error) = self.consumer.resume(&resumed) {
                tracing::debug!(stage = self.settings.stage, %error, topic, partition, "resume skipped");
            }
        }
    }

    fn store(&self, acknowledged: Result<(String, i32, i64), KafkaError>) -> anyhow::Result<()> {
        let (topic, partition, offset) = acknowledged
            .map_err(|error| anyhow::anyhow!("output not acknowledged, stopping: {error}"))?;
        let mut positions = TopicPartitionList::new();
        positions.add_partition_offset(&topic, partition, Offset::Offset(offset + 1))?;
        if let Err(error) = self.consumer.store_offsets(&positions) {
            // The partition was revoked meanwhile; its new owner redelivers.
            tracing::debug!(stage = self.settings.stage, %error, topic, partition, "offset not stored");
        }
        Ok(())
    }
}

/// Publishes the consumer's lag per assigned partition every few seconds.
/// The watermark calls block, so they run off the async workers.
async fn report_lag(consumer: Arc<StreamConsumer>, stage: &'static str, shutdown: Shutdown) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = every.tick() => {}
        }
        let consumer = Arc::clone(&consumer);
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

fn partition_lags(consumer: &StreamConsumer) -> Vec<(String, i32, i64)> {
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

async fn sleep_until_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Subscribes a consumer to `input` in its declared group and runs `handler`
/// on it in a task. If the loop stops, it triggers `shutdown`, so that a
/// process with several loops stops whole and restarts whole.
pub fn spawn<H: StageHandler + 'static>(
    settings: &KafkaSettings,
    input: &TopicSpec,
    producer: FutureProducer,
    handler: H,
    runner: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let topology = settings.topology();
    let group = topology
        .group(input)
        .ok_or_else(|| anyhow::anyhow!("{} declares no consumer group", input.base_name))?;
    let consumer: StreamConsumer = crate::kafka::consumer_config(settings, &group).create()?;
    consumer.subscribe(&[&topology.topic(input)])?;
    let stop_all = shutdown.clone();
    let runner = StageRunner::new(consumer, group, producer, handler, runner, stats);
    Ok(tokio::spawn(async move {
        let outcome = runner.run(shutdown).await;
        stop_all.trigger();
        outcome
    }))
}

async fn handle_with_retries<H: StageHandler>(
    handler: &mut H,
    input: &InputRecord<'_>,
    settings: &RunnerSettings,
    stats: &StageStats,
    shutdown: &Shutdown,
) -> anyhow::Result<Handled> {
    let mut backoff = settings.initial_backoff;
    loop {
        match handler.handle(input).await {
            Ok(outputs) => return Ok(Handled::Outputs(outputs)),
            Err(StageError::NotDue { wait }) => return Ok(Handled::NotDue(wait)),
            Err(StageError::Poison { code, message }) => {
                tracing::warn!(
                    stage = settings.stage,
                    topic = input.topic,
                    partition = input.partition,
                    offset = input.offset,
                    reason = code,
                    "dead-lettering record: {message}"
                );
                stats.dead_letter(code);
                let record =
                    dead_letter(input, &settings.dlq_topic, settings.stage, code, &message);
                return Ok(Handled::Outputs(vec![record]));
            }
            Err(StageError::Retriable(reason)) => {
                stats.retry();
                tracing::warn!(
                    stage = settings.stage,
                    ?backoff,
                    "retrying record: {reason}"
                );
                tokio::select! {
                    () = shutdown.triggered() => return Ok(Handled::ShutDown),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(settings.max_backoff);
            }
            Err(StageError::Fatal(reason)) => {
                anyhow::bail!("{} stopped on a fatal error: {reason}", settings.stage)
            }
        }
    }
}

type Delivery = Pin<Box<dyn Future<Output = Result<(), KafkaError>> + Send>>;

/// Hands every output to the producer at once (no round trip per record) and
/// returns the futures of their acknowledgements. A full local queue is waited
/// out, not treated as failure.
async fn enqueue(
    producer: &FutureProducer,
    outputs: Vec<OutputRecord>,
    stats: &Arc<StageStats>,
    shutdown: &Shutdown,
    parent: &tracing::Span,
) -> anyhow::Result<Vec<Delivery>> {
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(outputs.len());
    for mut output in outputs {
        let publish = tracing::info_span!(
            parent: parent,
            "publish",
            otel.name = %format!("publish {}", output.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = %output.topic,
        );
        crate::trace_context::inject(&publish, &mut output.headers);
        let headers = output
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            });
        let mut record = FutureRecord::to(&output.topic)
            .key(&output.key)
            .payload(&output.payload)
            .headers(headers);
        let delivery = loop {
            match producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // The input's offset is not stored, so giving up here is safe.
                    if shutdown.is_triggered() {
                        anyhow::bail!("shutdown while the producer queue was full");
                    }
                    record = returned;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => anyhow::bail!("could not enqueue output: {error}"),
            }
        };
        let stats = Arc::clone(stats);
        deliveries.push(Box::pin(async move {
            match delivery.await {
                Ok(Ok(_)) => {
                    stats.record_out();
                    Ok(())
                }
                Ok(Err((error, _))) => Err(error),
                Err(_canceled) => Err(KafkaError::Canceled),
            }
        }));
    }
    Ok(deliveries)
}

fn owned_headers(message: &impl Message) -> Vec<(String, Vec<u8>)> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    (
                        header.key.to_owned(),
                        header.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A codec failure at a stage's boundary: an unreachable registry is
/// retried, a record that does not decode is dead-lettered.
impl From<survey_contracts::CodecError> for StageError {
    fn from(error: survey_contracts::CodecError) -> Self {
        if error.is_retriable() {
            Self::Retriable(error.to_string())
        } else {
            Self::Poison {
                code: error.code(),
                message: error.to_string(),
            }
        }
    }
}

/// For delay topics: `Err(NotDue)` until `due_at` (epoch milliseconds) has
/// come, so the runner pauses the partition instead of sleeping.
pub fn due(due_at: i64, now: i64) -> Result<(), StageError> {
    if now >= due_at {
        return Ok(());
    }
    let wait = u64::try_from(due_at - now).unwrap_or_default();
    Err(StageError::NotDue {
        wait: Duration::from_millis(wait),
    })
}

/// Decodes an input's value as `T`; a missing value is a poison record.
pub async fn decode_input<T: survey_contracts::Contract>(
    codec: &survey_contracts::AvroCodec,
    input: &InputRecord<'_>,
) -> Result<T, StageError> {
    let payload = input.payload.ok_or_else(|| StageError::Poison {
        code: "empty_payload",
        message: "record has no value".to_owned(),
    })?;
    Ok(codec.decode(payload).await?)
}

/// Encodes `value` for `topic`, keyed by `key`, carrying the input's headers.
pub async fn encode_output<T: survey_contracts::Contract>(
    codec: &survey_contracts::AvroCodec,
    topic: String,
    key: &str,
    value: &T,
    input: &InputRecord<'_>,
) -> Result<OutputRecord, StageError> {
    let payload = codec.encode(&topic, value).await?;
    let mut record = OutputRecord::new(topic, key.as_bytes(), payload);
    record.headers = input.headers.clone();
    Ok(record)
}
