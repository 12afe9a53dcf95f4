//! At-least-once: auto-commit is on but the offset *store* is manual. An
//! input's offset is stored only after every output it produced (a
//! dead-letter record included) was acknowledged with `acks=all`.
//!
//! Outputs of many inputs are in flight at once (bounded by
//! `max_in_flight`), and offsets are stored in input order, so throughput
//! does not wait on one acknowledgement round trip per record.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::{FutureExt, Shared};
use futures::stream::FuturesOrdered;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::intake::{Intake, sleep_until_or_never};
use super::{
    Handled, InputRecord, Position, RunnerSettings, StageHandler, Taken, enqueue,
    handle_with_retries, owned_headers, take,
};
use crate::shutdown::Shutdown;
use crate::stats::StageStats;

type Acknowledged = Pin<Box<dyn Future<Output = Result<Position, KafkaError>> + Send>>;

/// Consumes until `shutdown`, then drains in-flight outputs, stores and
/// commits their offsets. Returns an error when an output could not be
/// delivered or a handler failed fatally; offsets of unfinished inputs are
/// then not stored, so a restart redelivers them.
pub(super) async fn run<H: StageHandler>(
    mut intake: Intake,
    producer: FutureProducer,
    handler: &mut H,
    settings: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let consumer = Arc::clone(&intake.consumer);
    let mut in_flight: FuturesOrdered<Acknowledged> = FuturesOrdered::new();
    let outcome = loop {
        tokio::select! {
            biased;
            () = shutdown.triggered() => break Ok(()),
            () = sleep_until_or_never(intake.next_resume()) => intake.resume_due(),
            Some(acknowledged) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(error) = store(&intake, &settings, acknowledged) {
                    break Err(error);
                }
            }
            received = consumer.recv(), if in_flight.len() < settings.max_in_flight => {
                let message = match received {
                    Ok(message) => message,
                    Err(error) => match intake.failed_receive(&error) {
                        Some(fatal) => break Err(fatal),
                        None => continue,
                    },
                };
                let taken = take(&mut intake, &message, handler, &settings, &stats, &shutdown, false).await;
                let (position, outputs, span) = match taken {
                    Ok(Taken::Outputs { position, outputs, span }) => (position, outputs, span),
                    // Retried in place; never handed back here.
                    Ok(Taken::Paused | Taken::RetryLater(_)) => continue,
                    Ok(Taken::ShutDown) => break Ok(()),
                    Err(error) => break Err(error),
                };
                match enqueue(&producer, outputs, &shutdown, &span).await {
                    Ok(deliveries) => {
                        // Handed over: a failed acknowledgement stops the stage.
                        handler.committed();
                        let stats = Arc::clone(&stats);
                        in_flight.push_back(Box::pin(async move {
                            for delivery in deliveries {
                                delivery.await?;
                                stats.record_out();
                            }
                            Ok(position)
                        }));
                    }
                    Err(error) => break Err(error),
                }
            }
        }
    };
    // Drain: whatever was enqueued gets its chance to be acknowledged, and
    // only acknowledged inputs have their offsets stored.
    while let Some(acknowledged) = in_flight.next().await {
        store(&intake, &settings, acknowledged)?;
    }
    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing stored yet, or a rebalance took the partitions: the
        // committed offsets are still correct, only older.
        tracing::debug!(stage = settings.stage, %error, "final commit skipped");
    }
    super::retire_on_error(&outcome, consumer, intake, producer);
    outcome
}

fn store(
    intake: &Intake,
    settings: &RunnerSettings,
    acknowledged: Result<Position, KafkaError>,
) -> anyhow::Result<()> {
    let position = acknowledged
        .map_err(|error| anyhow::anyhow!("output not acknowledged, stopping: {error}"))?;
    let mut positions = TopicPartitionList::new();
    positions.add_partition_offset(
        &position.topic,
        position.partition,
        Offset::Offset(position.offset + 1),
    )?;
    if let Err(error) = intake.consumer.store_offsets(&positions) {
        // The partition was revoked meanwhile; its new owner redelivers.
        tracing::debug!(stage = settings.stage, %error, topic = position.topic, partition = position.partition, "offset not stored");
    }
    Ok(())
}

/// The result of one input handled by [`run_concurrent`]: its position once
/// its outputs were acknowledged, or `None` when shutdown came first.
type Finished = Pin<Box<dyn Future<Output = anyhow::Result<Option<Position>>> + Send>>;

/// Inputs with this key (in this partition) finish in order: a handler of a
/// later one starts only once the earlier one's outputs were handed over.
type KeyOrder = HashMap<(i32, Vec<u8>), Shared<oneshot::Receiver<()>>>;

/// At-least-once with up to `settings.concurrency` inputs handled at once,
/// for a handler that waits on external calls (the way Confluent's parallel
/// consumer orders by key): inputs with the same key are handled one after
/// another in offset order, inputs with different keys overlap. Offsets are
/// still stored in input order, each only after its own and every earlier
/// input's outputs were acknowledged, so a crash redelivers and never skips.
///
/// A retriable failure is retried in place with back-off, a record that is not
/// due yet waits in place; neither holds up other keys.
pub(super) async fn run_concurrent<H: StageHandler + Clone + 'static>(
    mut intake: Intake,
    producer: FutureProducer,
    handler: H,
    settings: RunnerSettings,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let consumer = Arc::clone(&intake.consumer);
    let settings = Arc::new(settings);
    // Stops the inputs in progress when this loop fails, even if the stage
    // goes on with new clients.
    let inputs_stop = shutdown.child();
    let mut in_flight: FuturesOrdered<Finished> = FuturesOrdered::new();
    let mut key_order = KeyOrder::new();
    let outcome = loop {
        tokio::select! {
            biased;
            () = shutdown.triggered() => break Ok(()),
            Some(finished) = in_flight.next(), if !in_flight.is_empty() => {
                match finished {
                    Ok(Some(position)) => {
                        if let Err(error) = store(&intake, &settings, Ok(position)) {
                            break Err(error);
                        }
                    }
                    // Shutdown came before this input was done.
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(error),
                }
            }
            received = consumer.recv(), if in_flight.len() < settings.concurrency.max(1) => {
                let message = match received {
                    Ok(message) => message,
                    Err(error) => match intake.failed_receive(&error) {
                        Some(fatal) => break Err(fatal),
                        None => continue,
                    },
                };
                if intake.newly_assigned() {
                    match super::catch_up(&mut handler.clone(), &settings, &shutdown).await {
                        Ok(true) => {}
                        Ok(false) => break Ok(()),
                        Err(error) => break Err(error),
                    }
                }
                stats.record_in();
                let input = OwnedInput::from(&message);
                let span = intake.process_span(&input.borrow());
                crate::trace_context::set_parent(&span, &input.headers);
                let (done, finished) = oneshot::channel();
                let previous = match &input.key {
                    Some(key) => {
                        if key_order.len() > 4 * settings.concurrency.max(1) {
                            forget_finished(&mut key_order);
                        }
                        key_order.insert((input.partition, key.clone()), finished.shared())
                    }
                    None => None,
                };
                in_flight.push_back(Box::pin(
                    handle_in_turn(
                        input,
                        previous,
                        done,
                        handler.clone(),
                        producer.clone(),
                        Arc::clone(&settings),
                        Arc::clone(&stats),
                        inputs_stop.clone(),
                        span.clone(),
                    )
                    .instrument(span),
                ));
            }
        }
    };
    // A failed loop leaves its inputs in progress to the next run; stopping
    // them now also ends the back-off of inputs still retrying, which the
    // drain would wait out.
    if outcome.is_err() {
        inputs_stop.trigger();
    }
    // Drain: offsets are stored in input order up to the first input that
    // was not done; later ones are left for the next run to redeliver.
    let mut storing = outcome.is_ok();
    while let Some(finished) = in_flight.next().await {
        match finished {
            Ok(Some(position)) if storing => store(&intake, &settings, Ok(position))?,
            Ok(_) => storing = false,
            Err(error) => {
                storing = false;
                tracing::warn!(stage = settings.stage, %error, "input not done at stop");
            }
        }
    }
    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(stage = settings.stage, %error, "final commit skipped");
    }
    super::retire_on_error(&outcome, consumer, intake, producer);
    outcome
}

/// Drops the keys whose last input has been handed over (or gave up), so the
/// map holds only keys in progress. `Shared::peek` would not do: it sees only
/// an outcome some clone has polled, and a key's last input has no successor
/// polling it.
fn forget_finished(key_order: &mut KeyOrder) {
    key_order.retain(|_, finished| finished.clone().now_or_never().is_none());
}

/// Waits for the previous input with the same key, handles this one, hands
/// its outputs to the producer, lets the next one of the key go, and waits
/// for the acknowledgements.
#[allow(clippy::too_many_arguments)]
async fn handle_in_turn<H: StageHandler>(
    input: OwnedInput,
    previous: Option<Shared<oneshot::Receiver<()>>>,
    done: oneshot::Sender<()>,
    mut handler: H,
    producer: FutureProducer,
    settings: Arc<RunnerSettings>,
    stats: Arc<StageStats>,
    shutdown: Shutdown,
    span: tracing::Span,
) -> anyhow::Result<Option<Position>> {
    if let Some(previous) = previous {
        // A dropped sender: the previous input stopped unfinished (shutdown
        // or failure), so this one must not overtake it.
        if previous.await.is_err() {
            return Ok(None);
        }
    }
    let record = input.borrow();
    let outputs = loop {
        match handle_with_retries(&mut handler, &record, &settings, &stats, &shutdown, false)
            .await?
        {
            Handled::Outputs(outputs) => break outputs,
            Handled::NotDue(wait) => {
                tokio::select! {
                    () = shutdown.triggered() => return Ok(None),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Handled::RetryLater | Handled::ShutDown => return Ok(None),
        }
    };
    let deliveries = enqueue(&producer, outputs, &shutdown, &span).await?;
    handler.committed();
    // The receiver is gone when its key was pruned as finished; nothing waits.
    let _ = done.send(());
    for delivery in deliveries {
        delivery
            .await
            .map_err(|error| anyhow::anyhow!("output not acknowledged, stopping: {error}"))?;
        stats.record_out();
    }
    Ok(Some(Position {
        topic: input.topic,
        partition: input.partition,
        offset: input.offset,
    }))
}

/// A consumed record, owned, so that its handling can outlive the receive.
struct OwnedInput {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl OwnedInput {
    fn borrow(&self) -> InputRecord<'_> {
        InputRecord {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            payload: self.payload.as_deref(),
            headers: self.headers.clone(),
        }
    }
}

impl From<&BorrowedMessage<'_>> for OwnedInput {
    fn from(message: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: owned_headers(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_keys_are_forgotten_and_keys_in_progress_kept() {
        let mut key_order = KeyOrder::new();
        let (sent, sent_rx) = oneshot::channel::<()>();
        let (dropped, dropped_rx) = oneshot::channel::<()>();
        let (_in_progress, in_progress_rx) = oneshot::channel::<()>();
        key_order.insert((0, b"sent".to_vec()), sent_rx.shared());
        key_order.insert((0, b"dropped".to_vec()), dropped_rx.shared());
        key_order.insert((1, b"in-progress".to_vec()), in_progress_rx.shared());
        let _ = sent.send(());
        drop(dropped);

        forget_finished(&mut key_order);

        let left: Vec<_> = key_order.keys().cloned().collect();
        assert_eq!(left, vec![(1, b"in-progress".to_vec())]);
    }
}
