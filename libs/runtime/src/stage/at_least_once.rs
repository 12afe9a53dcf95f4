//! At-least-once: auto-commit is on but the offset *store* is manual. An
//! input's offset is stored only after every output it produced (a
//! dead-letter record included) was acknowledged with `acks=all`.
//!
//! Outputs of many inputs are in flight at once (bounded by
//! `max_in_flight`), and offsets are stored in input order, so throughput
//! does not wait on one acknowledgement round trip per record.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use super::intake::{Intake, sleep_until_or_never};
use super::{Position, RunnerSettings, StageHandler, Taken, enqueue, take};
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
    mut handler: H,
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
                    Err(error) => match intake.fatal_error() {
                        Some(fatal) => break Err(anyhow::anyhow!("consumer failed: {fatal}")),
                        None => {
                            tracing::warn!(stage = settings.stage, %error, "consumer error");
                            continue;
                        }
                    },
                };
                let taken = take(&mut intake, &message, &mut handler, &settings, &stats, &shutdown, false).await;
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
