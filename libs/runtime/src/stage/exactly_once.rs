//! Exactly-once: consume-transform-produce in Kafka transactions.
//!
//! Inputs are handled in batches. A batch opens a transaction at its first
//! input; its outputs are produced into it, and after `commit_interval` (or
//! `max_in_flight` inputs) the next input offsets go into it with the
//! consumer's group metadata (`send_offsets_to_transaction`, KIP-447) and it
//! commits. Outputs and offsets become visible to `read_committed` readers
//! together or not at all.
//!
//! - An abortable error (a failed delivery, a rebalance that moved a
//!   partition, a timed-out transaction) aborts the batch, rewinds its
//!   partitions to the batch's first inputs, tells the handler to roll back,
//!   and handles the inputs again.
//! - A fatal one (the producer was fenced) ends the loop with
//!   [`ClientFailed`], and the batch is never committed. The coordinator
//!   fences a producer whose transaction outlived its timeout, as during a
//!   broker outage; the caller then rebuilds the loop with new clients under
//!   the same identities (at most once per [`super::RENEW_INTERVAL`]), and
//!   the batch is handled again from the committed offsets.
//! - The transactional calls block, so they run on the blocking pool, never
//!   on an async worker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use super::intake::{Intake, sleep_until_or_never};
use super::{ClientFailed, Delivery, Position, RunnerSettings, StageHandler, Taken, enqueue, take};
use crate::shutdown::Shutdown;
use crate::stats::StageStats;

/// How long one blocking transactional call may take before it is retried.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Consumes until `shutdown`, committing a transaction per batch. On a clean
/// stop the open batch is committed; on an error it is aborted.
pub(super) async fn run<H: StageHandler>(
    mut intake: Intake,
    producer: FutureProducer,
    handler: &mut H,
    settings: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut stage = Transactional {
        producer,
        settings,
        stats,
        batch: Batch::default(),
    };
    match stage.init(&shutdown).await {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(error) => return Err(stage.failure(error)),
    }
    let consumer = Arc::clone(&intake.consumer);
    // Per partition: the back-off of an input waiting for a dependency.
    let mut backoffs: HashMap<(String, i32), Duration> = HashMap::new();
    let outcome = loop {
        let commit_at = stage.commit_at();
        let has_room = stage.batch.inputs < stage.settings.max_in_flight;
        tokio::select! {
            biased;
            () = shutdown.triggered() => break Ok(()),
            () = sleep_until_or_never(commit_at) => {
                if let Err(error) = stage.settle(&mut intake, handler, &shutdown).await {
                    break Err(stage.failure(error));
                }
            }
            () = sleep_until_or_never(intake.next_resume()) => intake.resume_due(),
            received = consumer.recv(), if has_room => {
                let message = match received {
                    Ok(message) => message,
                    Err(error) => match intake.failed_receive(&error) {
                        Some(fatal) => break Err(fatal),
                        None => continue,
                    },
                };
                let taken = take(&mut intake, &message, handler, &stage.settings, &stage.stats, &shutdown, true).await;
                match taken {
                    Ok(Taken::Outputs { position, outputs, span }) => {
                        backoffs.remove(&(position.topic.clone(), position.partition));
                        if let Err(error) = stage.add(position, outputs, intake.revocations(), &shutdown, &span).await {
                            break Err(stage.failure(error));
                        }
                    }
                    Ok(Taken::RetryLater(position)) => {
                        // Commit what is done rather than let the transaction
                        // outlive its timeout while a dependency is down; the
                        // input is read again after its back-off, and other
                        // partitions go on meanwhile.
                        let key = (position.topic.clone(), position.partition);
                        let mut resume_from = position.offset;
                        if stage.batch.is_open() {
                            let first = stage.batch.partitions.get(&key).map(|(first, _)| *first);
                            match stage.settle(&mut intake, handler, &shutdown).await {
                                Ok(true) => {}
                                // Aborted: the batch's own inputs of this
                                // partition come first again.
                                Ok(false) => resume_from = first.unwrap_or(resume_from),
                                Err(error) => break Err(stage.failure(error)),
                            }
                        }
                        let backoff = backoffs
                            .entry(key)
                            .or_insert(stage.settings.initial_backoff);
                        let wait = *backoff;
                        *backoff = (wait * 2).min(stage.settings.max_backoff);
                        if let Err(error) = intake.pause_at(&position.topic, position.partition, resume_from, wait) {
                            break Err(error);
                        }
                    }
                    Ok(Taken::Paused) => {}
                    Ok(Taken::ShutDown) => break Ok(()),
                    Err(error) => break Err(error),
                }
            }
        }
    };
    if stage.batch.is_open() {
        match &outcome {
            Ok(()) => {
                stage.settle(&mut intake, handler, &shutdown).await?;
            }
            Err(_) => {
                // Nothing of the unfinished batch becomes visible; a restart
                // handles its inputs again.
                if let Err(error) = stage.abort().await {
                    tracing::warn!(stage = stage.settings.stage, %error, "abort on stop failed");
                }
            }
        }
    }
    super::retire_on_error(&outcome, consumer, intake, stage.producer);
    outcome
}

/// The inputs handled in the open transaction.
#[derive(Default)]
struct Batch {
    opened_at: Option<Instant>,
    /// The consumer's revocation count when the batch opened.
    revocations: u64,
    inputs: usize,
    /// Per partition: the first offset handled in this batch, and the next
    /// offset to read after it.
    partitions: BTreeMap<(String, i32), (i64, i64)>,
    deliveries: Vec<Delivery>,
}

impl Batch {
    fn is_open(&self) -> bool {
        self.opened_at.is_some()
    }

    fn next_offsets(&self) -> anyhow::Result<TopicPartitionList> {
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), (_, next)) in &self.partitions {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        Ok(offsets)
    }
}

/// How a failed transactional call is handled.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Call it again.
    Retriable,
    /// Abort the transaction and handle the batch again.
    Abortable,
    /// This producer cannot go on (fenced, or a fatal librdkafka error).
    Fatal,
}

fn classify(error: &KafkaError) -> Failure {
    match error {
        KafkaError::Transaction(error) if error.is_fatal() => Failure::Fatal,
        KafkaError::Transaction(error) if error.txn_requires_abort() => Failure::Abortable,
        KafkaError::Transaction(error) if error.is_retriable() => Failure::Retriable,
        _ => Failure::Fatal,
    }
}

struct Transactional {
    producer: FutureProducer,
    settings: RunnerSettings,
    stats: Arc<StageStats>,
    batch: Batch,
}

impl Transactional {
    /// Registers the transactional id, fencing any earlier producer with the
    /// same id and aborting what it left open. `Ok(false)`: shutdown came
    /// first.
    async fn init(&mut self, shutdown: &Shutdown) -> anyhow::Result<bool> {
        blocking(
            &self.producer,
            &self.settings,
            "start transactions",
            Some(shutdown),
            |producer| producer.init_transactions(CALL_TIMEOUT),
        )
        .await
    }

    /// `error`, as [`ClientFailed`] when it left the producer fatally
    /// failed (fenced): the loop can then only go on with a new producer.
    fn failure(&self, error: anyhow::Error) -> anyhow::Error {
        match self.producer.client().fatal_error() {
            Some((code, reason)) => anyhow::Error::new(ClientFailed {
                client: "producer",
                code,
                reason,
            })
            .context(error.to_string()),
            None => error,
        }
    }

    /// When the open batch should commit: after the commit interval, or at
    /// once when it is full.
    fn commit_at(&self) -> Option<Instant> {
        let opened = self.batch.opened_at?;
        if self.batch.inputs >= self.settings.max_in_flight {
            return Some(Instant::now());
        }
        Some(opened + self.settings.commit_interval)
    }

    /// Puts one handled input and its outputs into the open transaction,
    /// opening one if needed. A dropped input (no outputs) still moves the
    /// offsets the transaction commits.
    async fn add(
        &mut self,
        position: Position,
        outputs: Vec<super::OutputRecord>,
        revocations: u64,
        shutdown: &Shutdown,
        span: &tracing::Span,
    ) -> anyhow::Result<()> {
        if !self.batch.is_open() {
            self.batch.revocations = revocations;
            // Local state change only: no network round trip.
            self.producer
                .begin_transaction()
                .map_err(|error| anyhow::anyhow!("cannot begin a transaction: {error}"))?;
            self.batch.opened_at = Some(Instant::now());
        }
        // Counted in first, so that a failed enqueue rewinds to this input too.
        self.batch.inputs += 1;
        let range = self
            .batch
            .partitions
            .entry((position.topic, position.partition))
            .or_insert((position.offset, position.offset + 1));
        range.1 = position.offset + 1;
        let deliveries = enqueue(&self.producer, outputs, shutdown, span).await?;
        self.batch.deliveries.extend(deliveries);
        Ok(())
    }

    /// Commits the open batch with its offsets (`Ok(true)`), or aborts and
    /// rewinds it (`Ok(false)`).
    async fn settle<H: StageHandler>(
        &mut self,
        intake: &mut Intake,
        handler: &mut H,
        shutdown: &Shutdown,
    ) -> anyhow::Result<bool> {
        if intake.revocations() != self.batch.revocations {
            // Partitions were revoked since the batch opened; some may be
            // another member's now, which reads them from the last commit.
            tracing::info!(
                stage = self.settings.stage,
                inputs = self.batch.inputs,
                "partitions revoked during the transaction; aborting it"
            );
            self.abort().await?;
            self.rewind(intake);
            handler.aborted();
            return Ok(false);
        }
        let offsets = self.batch.next_offsets()?;
        let mut backoff = self.settings.initial_backoff;
        loop {
            let metadata = intake
                .consumer
                .group_metadata()
                .ok_or_else(|| anyhow::anyhow!("the consumer has no group metadata"))?;
            let producer = self.producer.clone();
            let offsets = offsets.clone();
            let result = tokio::task::spawn_blocking(move || {
                producer.send_offsets_to_transaction(&offsets, &metadata, CALL_TIMEOUT)?;
                producer.commit_transaction(CALL_TIMEOUT)
            })
            .await?;
            let error = match result {
                Ok(()) => {
                    let batch = std::mem::take(&mut self.batch);
                    for delivery in batch.deliveries {
                        if delivery.await.is_ok() {
                            self.stats.record_out();
                        }
                    }
                    handler.committed();
                    tracing::debug!(
                        stage = self.settings.stage,
                        inputs = batch.inputs,
                        "transaction committed"
                    );
                    return Ok(true);
                }
                Err(error) => error,
            };
            match classify(&error) {
                Failure::Retriable => {
                    tracing::warn!(stage = self.settings.stage, %error, "commit failed, retrying");
                }
                Failure::Abortable => {
                    tracing::warn!(stage = self.settings.stage, %error, inputs = self.batch.inputs, "transaction aborted; its inputs will be handled again");
                    self.abort().await?;
                    self.rewind(intake);
                    handler.aborted();
                    self.stats.retry();
                    // Pause before the batch is handled again, so a broker
                    // outage does not spin.
                    tokio::select! {
                        () = shutdown.triggered() => {}
                        () = tokio::time::sleep(self.settings.initial_backoff) => {}
                    }
                    return Ok(false);
                }
                Failure::Fatal => {
                    anyhow::bail!(
                        "{} stopped: transaction failed fatally: {error}",
                        self.settings.stage
                    )
                }
            }
            tokio::select! {
                () = shutdown.triggered() => {}
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.settings.max_backoff);
        }
    }

    /// Aborts the open transaction; its records stay invisible to
    /// `read_committed` readers.
    async fn abort(&mut self) -> anyhow::Result<()> {
        self.batch.deliveries.clear();
        blocking(
            &self.producer,
            &self.settings,
            "abort the transaction",
            None,
            |producer| producer.abort_transaction(CALL_TIMEOUT),
        )
        .await?;
        Ok(())
    }

    /// Moves every partition of the aborted batch back to its first input.
    fn rewind(&mut self, intake: &Intake) {
        let batch = std::mem::take(&mut self.batch);
        for ((topic, partition), (first, _)) in batch.partitions {
            // A partition a rebalance took is read again by its new owner
            // from the last committed offset.
            if let Err(error) = intake.rewind(&topic, partition, first) {
                tracing::debug!(stage = self.settings.stage, %error, topic, partition, "rewind skipped");
            }
        }
    }
}

/// Runs a blocking transactional call on the blocking pool, again after
/// a back-off while it fails retriably. `Ok(false)`: `shutdown` came
/// first.
async fn blocking(
    producer: &FutureProducer,
    settings: &RunnerSettings,
    what: &'static str,
    shutdown: Option<&Shutdown>,
    call: fn(&FutureProducer) -> rdkafka::error::KafkaResult<()>,
) -> anyhow::Result<bool> {
    let mut backoff = settings.initial_backoff;
    loop {
        let producer = producer.clone();
        match tokio::task::spawn_blocking(move || call(&producer)).await? {
            Ok(()) => return Ok(true),
            Err(error) if classify(&error) == Failure::Retriable => {
                tracing::warn!(stage = settings.stage, %error, "{what} failed, retrying");
            }
            Err(error) => anyhow::bail!("{}: cannot {what}: {error}", settings.stage),
        }
        let stopped = async {
            match shutdown {
                Some(shutdown) => shutdown.triggered().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stopped => return Ok(false),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}
