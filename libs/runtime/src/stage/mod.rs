//! The consume-process-produce loop every consuming stage runs, under one of
//! two named guarantees ([`ProcessingGuarantee`]):
//!
//! - [`exactly_once`]: each batch of inputs is handled inside one Kafka
//!   transaction that holds its outputs and its input offsets, committed
//!   every `commit_interval`. `read_committed` readers see every output once
//!   or not at all; an aborted batch is handled again.
//! - [`at_least_once`]: an input's offset is stored only after every output
//!   it produced was acknowledged (`acks=all`). A crash redelivers inputs,
//!   never loses them, and consumers deduplicate by business key.
//!
//! Both share the intake ([`intake`]): receiving, pausing a partition whose
//! next record is not due yet, and lag reporting.

mod at_least_once;
mod exactly_once;
mod intake;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::Instrument;

use survey_contracts::TopicSpec;

use crate::config::KafkaSettings;
pub use crate::config::ProcessingGuarantee;
use crate::dead_letter::dead_letter;
use crate::shutdown::Shutdown;
use crate::stats::StageStats;
use intake::Intake;

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
    RetryLater,
    ShutDown,
}

/// The pure-ish part of a stage: turns one input into its outputs.
#[async_trait]
pub trait StageHandler: Send {
    /// Handles one input. Returning `Ok(vec![])` drops it on purpose.
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError>;

    /// The outputs of every input handled so far are durable (exactly-once:
    /// their transaction committed; at-least-once: handed to the producer,
    /// whose failure stops the stage). State kept for inputs in progress can
    /// be settled.
    fn committed(&mut self) {}

    /// The outputs handled since the last [`Self::committed`] were discarded
    /// (an aborted transaction); those inputs will be handled again, so state
    /// they changed must be rolled back.
    fn aborted(&mut self) {}

    /// Partitions were assigned to this instance; called before the first
    /// of their inputs is handled. State that every instance writes to a
    /// shared table topic must first catch up with what the partitions'
    /// previous owner wrote, or its work would look undone. A retriable
    /// error is retried with back-off.
    async fn partitions_assigned(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

/// Lets the handler catch up after an assignment, retrying with back-off.
/// `Ok(false)`: shutdown came first.
async fn catch_up<H: StageHandler>(
    handler: &mut H,
    settings: &RunnerSettings,
    shutdown: &Shutdown,
) -> anyhow::Result<bool> {
    let mut backoff = settings.initial_backoff;
    loop {
        match handler.partitions_assigned().await {
            Ok(()) => return Ok(true),
            Err(StageError::Retriable(reason)) => {
                tracing::warn!(
                    stage = settings.stage,
                    ?backoff,
                    "catching up after an assignment: {reason}"
                );
                tokio::select! {
                    () = shutdown.triggered() => return Ok(false),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(settings.max_backoff);
            }
            Err(error) => anyhow::bail!(
                "{} cannot catch up after an assignment: {error}",
                settings.stage
            ),
        }
    }
}

/// Settings of a [`StageRunner`].
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Stage name for logs and DLQ headers.
    pub stage: &'static str,
    /// Topic that receives poison records.
    pub dlq_topic: String,
    /// How outputs are tied to input offsets.
    pub guarantee: ProcessingGuarantee,
    /// Inputs whose outputs may await acknowledgement at once; under
    /// exactly-once, the most inputs in one transaction.
    pub max_in_flight: usize,
    /// Under exactly-once, how long a transaction collects inputs before it
    /// commits: the latency each transactional stage adds, traded for fewer
    /// commits (Kafka Streams uses 100 ms).
    pub commit_interval: Duration,
    /// First back-off after a retriable failure; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
    /// Under at-least-once, how many inputs [`spawn_parallel`]'s consumers
    /// each handle at once (inputs with one key still go one at a time, in
    /// order); 1 handles one input at a time.
    pub concurrency: usize,
}

impl RunnerSettings {
    /// Settings for a stage whose handler waits on external calls: a small
    /// in-flight window (so an outage does not pile up work to redo) and
    /// back-off from 250 ms to 15 s.
    pub fn new(stage: &'static str, dlq_topic: &str, guarantee: ProcessingGuarantee) -> Self {
        Self {
            stage,
            dlq_topic: dlq_topic.to_owned(),
            guarantee,
            max_in_flight: 256,
            commit_interval: Duration::from_millis(100),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            concurrency: 1,
        }
    }
}

/// Subscribes a consumer to `input` in its declared group and runs `handler`
/// on it in a task, producing with a producer made from `producer` (made
/// transactional under exactly-once). If the loop stops, it triggers
/// `shutdown`, so that a process with several loops stops whole and restarts
/// whole. A client that failed fatally is replaced in the task (see
/// [`ClientFailed`]).
pub fn spawn<H: StageHandler + 'static>(
    settings: &KafkaSettings,
    input: &TopicSpec,
    producer: ClientConfig,
    handler: H,
    runner: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let clients = subscribe(settings, input, producer.clone(), &runner, &shutdown)?;
    let (settings, input) = (settings.clone(), *input);
    Ok(in_task(&shutdown.clone(), async move {
        let mut handler = handler;
        let mut renewals = Renewals::default();
        let (mut intake, mut created) = clients;
        loop {
            let outcome = match runner.guarantee {
                ProcessingGuarantee::ExactlyOnce => {
                    exactly_once::run(
                        intake,
                        created,
                        &mut handler,
                        runner.clone(),
                        Arc::clone(&stats),
                        shutdown.clone(),
                    )
                    .await
                }
                ProcessingGuarantee::AtLeastOnce => {
                    at_least_once::run(
                        intake,
                        created,
                        &mut handler,
                        runner.clone(),
                        Arc::clone(&stats),
                        shutdown.clone(),
                    )
                    .await
                }
            };
            let Err(error) = outcome else {
                return Ok(());
            };
            renewals.allow(error, &runner, &stats, &shutdown)?;
            // Nothing uncommitted survives the old clients: the handler's
            // state for it is rolled back, and the new consumer starts from
            // the committed offsets.
            handler.aborted();
            (intake, created) = subscribe(&settings, &input, producer.clone(), &runner, &shutdown)?;
        }
    }))
}

/// A Kafka client of the stage loop failed fatally: a static consumer was
/// fenced (`FENCED_INSTANCE_ID`, as after a broker restart that lost track of
/// the member), or a transactional producer was fenced (its transaction
/// outlived its timeout during a broker outage). Neither client can be used
/// again, but new ones with the same identities can: the loop is rebuilt in
/// the process, from the committed offsets, at most once per
/// [`RENEW_INTERVAL`].
#[derive(Debug, thiserror::Error)]
#[error("{client} failed fatally: {code:?}: {reason}")]
pub struct ClientFailed {
    /// `consumer` or `producer`.
    pub client: &'static str,
    /// librdkafka's fatal error code.
    pub code: RDKafkaErrorCode,
    /// librdkafka's description.
    pub reason: String,
}

/// The stage loop's clients are replaced at most once in this long. A second
/// fatal failure within it means a live twin with the same identities (a
/// zombie's successor) keeps fencing this instance, which must then stop.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(60);

/// When the stage loop's clients were last replaced.
#[derive(Debug, Default)]
struct Renewals {
    last: Option<tokio::time::Instant>,
}

impl Renewals {
    /// `Ok` when the loop stopped with `error` because a client failed
    /// fatally and may be rebuilt now; otherwise `error` again.
    fn allow(
        &mut self,
        error: anyhow::Error,
        runner: &RunnerSettings,
        stats: &StageStats,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        let Some(failed) = error.downcast_ref::<ClientFailed>() else {
            return Err(error);
        };
        if shutdown.is_triggered() {
            return Err(error);
        }
        if self.last.is_some_and(|at| at.elapsed() < RENEW_INTERVAL) {
            return Err(error.context(format!(
                "a client failed fatally again within {RENEW_INTERVAL:?} of the last replacement"
            )));
        }
        tracing::warn!(
            stage = runner.stage,
            client = failed.client,
            code = ?failed.code,
            reason = failed.reason,
            "client failed fatally; rejoining with new clients, uncommitted inputs will be handled again"
        );
        self.last = Some(tokio::time::Instant::now());
        stats.retry();
        Ok(())
    }
}

/// Closes the clients of a loop that failed off the async workers, since
/// closing blocks and the stage may go on with new clients.
fn retire_on_error(
    outcome: &anyhow::Result<()>,
    consumer: Arc<intake::StageConsumer>,
    intake: Intake,
    producer: FutureProducer,
) {
    if outcome.is_err() {
        drop(consumer);
        tokio::task::spawn_blocking(move || drop((intake, producer)));
    }
}

/// Runs a stage loop in a task; whenever it stops, it stops the whole service.
fn in_task(
    shutdown: &Shutdown,
    stage_loop: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let stop_all = shutdown.clone();
    tokio::spawn(async move {
        let outcome = stage_loop.await;
        stop_all.trigger();
        outcome
    })
}

/// [`spawn`] `settings.parallel_consumers` times in one consumer group, for a
/// handler that waits on external calls: the partitions are shared out among
/// the consumers, so inputs of different partitions are handled concurrently
/// while each partition keeps its order. Under at-least-once each consumer
/// also handles up to `settings.concurrent_inputs` inputs at once, in order
/// per key.
pub fn spawn_parallel<H: StageHandler + Clone + 'static>(
    settings: &KafkaSettings,
    input: &TopicSpec,
    producer: ClientConfig,
    handler: H,
    mut runner: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    runner.concurrency = settings.concurrent_inputs.max(1);
    (0..settings.parallel_consumers.max(1))
        .map(|n| {
            let mut member = settings.clone();
            // Static members of one group need ids of their own.
            member.group_instance_id = settings
                .group_instance_id
                .as_ref()
                .map(|id| format!("{id}-{n}"));
            if runner.guarantee == ProcessingGuarantee::ExactlyOnce || runner.concurrency == 1 {
                return spawn(
                    &member,
                    input,
                    producer.clone(),
                    handler.clone(),
                    runner.clone(),
                    Arc::clone(&stats),
                    shutdown.clone(),
                );
            }
            let (mut intake, mut created) =
                subscribe(&member, input, producer.clone(), &runner, &shutdown)?;
            let (input, producer, handler) = (*input, producer.clone(), handler.clone());
            let (runner, stats, shutdown) = (runner.clone(), Arc::clone(&stats), shutdown.clone());
            Ok(in_task(&shutdown.clone(), async move {
                let mut renewals = Renewals::default();
                loop {
                    let outcome = at_least_once::run_concurrent(
                        intake,
                        created,
                        handler.clone(),
                        runner.clone(),
                        Arc::clone(&stats),
                        shutdown.clone(),
                    )
                    .await;
                    let Err(error) = outcome else {
                        return Ok(());
                    };
                    renewals.allow(error, &runner, &stats, &shutdown)?;
                    (intake, created) =
                        subscribe(&member, &input, producer.clone(), &runner, &shutdown)?;
                }
            }))
        })
        .collect()
}

/// A consumer subscribed to `input` in its declared group, and a producer made
/// from `producer` (transactional under exactly-once).
fn subscribe(
    settings: &KafkaSettings,
    input: &TopicSpec,
    mut producer: ClientConfig,
    runner: &RunnerSettings,
    shutdown: &Shutdown,
) -> anyhow::Result<(Intake, FutureProducer)> {
    let topology = settings.topology();
    let group = topology
        .group(input)
        .ok_or_else(|| anyhow::anyhow!("{} declares no consumer group", input.base_name))?;
    let consumer_config = match runner.guarantee {
        ProcessingGuarantee::ExactlyOnce => {
            crate::kafka::make_transactional(
                &mut producer,
                &crate::kafka::transactional_id(settings, &group),
            );
            crate::kafka::transactional_consumer_config(settings, &group)
        }
        ProcessingGuarantee::AtLeastOnce => crate::kafka::consumer_config(settings, &group),
    };
    let consumer: intake::StageConsumer =
        consumer_config.create_with_context(intake::StageContext::default())?;
    consumer.subscribe(&[&topology.topic(input)])?;
    let created: FutureProducer = producer.create()?;
    Ok((
        Intake::new(consumer, group, runner.stage, shutdown),
        created,
    ))
}

/// Handles one received record: its span, its retries, and what became of it.
/// Returns the record's position with the outputs to publish.
async fn take<H: StageHandler>(
    intake: &mut Intake,
    message: &rdkafka::message::BorrowedMessage<'_>,
    handler: &mut H,
    settings: &RunnerSettings,
    stats: &Arc<StageStats>,
    shutdown: &Shutdown,
    retry_later: bool,
) -> anyhow::Result<Taken> {
    if intake.newly_assigned() && !catch_up(handler, settings, shutdown).await? {
        return Ok(Taken::ShutDown);
    }
    stats.record_in();
    let input = InputRecord {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key(),
        payload: message.payload(),
        headers: owned_headers(message),
    };
    let span = intake.process_span(&input);
    crate::trace_context::set_parent(&span, &input.headers);
    let handled = handle_with_retries(handler, &input, settings, stats, shutdown, retry_later)
        .instrument(span.clone())
        .await?;
    let position = Position {
        topic: input.topic.to_owned(),
        partition: input.partition,
        offset: input.offset,
    };
    Ok(match handled {
        Handled::Outputs(outputs) => Taken::Outputs {
            position,
            outputs,
            span,
        },
        Handled::RetryLater => Taken::RetryLater(position),
        Handled::NotDue(wait) => {
            intake.pause_until(&input, wait)?;
            Taken::Paused
        }
        Handled::ShutDown => Taken::ShutDown,
    })
}

/// Where an input was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    topic: String,
    partition: i32,
    offset: i64,
}

/// What [`take`] came to.
enum Taken {
    /// Handled; publish `outputs`, then the input is done.
    Outputs {
        position: Position,
        outputs: Vec<OutputRecord>,
        span: tracing::Span,
    },
    /// Not due; its partition is paused and rewound to it.
    Paused,
    /// A dependency failed retriably; the loop retries the input later.
    RetryLater(Position),
    /// Shutdown came during retries; the input is left for the next run.
    ShutDown,
}

/// Handles one input. A retriable failure is retried in place after a
/// back-off, or, with `retry_later`, handed back to the loop (which must not
/// hold a transaction open while a dependency is down).
async fn handle_with_retries<H: StageHandler>(
    handler: &mut H,
    input: &InputRecord<'_>,
    settings: &RunnerSettings,
    stats: &StageStats,
    shutdown: &Shutdown,
    retry_later: bool,
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
            Err(StageError::Retriable(reason)) if retry_later => {
                stats.retry();
                tracing::warn!(stage = settings.stage, "record to be retried: {reason}");
                return Ok(Handled::RetryLater);
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
        deliveries.push(Box::pin(async move {
            match delivery.await {
                Ok(Ok(_)) => Ok(()),
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
