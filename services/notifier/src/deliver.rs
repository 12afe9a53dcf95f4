//! The notifier's handlers: new alert revisions, and due retries from the
//! delay topic. Targets of one alert are delivered concurrently, so one slow
//! or failing channel never holds back the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord};
use survey_contracts::{
    AvroCodec, Contract, DeliveryRecord, DeliveryRetry, EnrichedAlert, NotificationTarget,
    Topology, topics,
};
use survey_runtime::dead_letter::dead_letter;
use survey_runtime::stage::{decode_input, due, encode_output};
use survey_runtime::{InputRecord, OutputRecord, StageError, StageHandler, metrics};
use tracing::Instrument;

use crate::channels::{Attempt, Channel, DeliveryError};
use crate::config::RetrySettings;
use crate::ledger::DeliveryLedger;
use crate::plan::{AttemptOutcome, Pending, after_attempt, pending_targets};

/// A clock in epoch milliseconds; tests pass their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Header naming the target of a dead-lettered delivery.
pub const DLQ_TARGET_HEADER: &str = survey_runtime::dead_letter::headers::TARGET;

/// What both handlers share.
pub struct Delivery {
    /// Avro codec.
    pub codec: Arc<AvroCodec>,
    /// Channels by name (`slack`, `teams`, `email`, `coaching`).
    pub channels: BTreeMap<&'static str, Arc<dyn Channel>>,
    /// Who already has what.
    pub ledger: Arc<DeliveryLedger>,
    /// Retry policy.
    pub retry: RetrySettings,
    /// Topic names.
    pub topology: Topology,
    /// Time source.
    pub clock: Clock,
    /// Writes each target's ledger record the moment that target accepted
    /// the message, so the at-least-once window is that one write, not the
    /// slowest of the alert's other targets. Without it the ledger records
    /// go out with the handler's other outputs.
    pub ledger_writer: Option<FutureProducer>,
    /// Set once the records that settle a delivery (ledger, retry) were
    /// encoded: their schemas are then cached, so settling a message already
    /// sent never waits on the registry.
    pub settle_encoders: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Handles the enriched-alerts topic.
#[derive(Debug, Clone)]
pub struct AlertHandler(pub Arc<Delivery>);

/// Handles the delivery-retries delay topic.
#[derive(Debug, Clone)]
pub struct DeliveryRetryHandler(pub Arc<Delivery>);

impl Delivery {
    async fn decode<T: Contract>(&self, input: &InputRecord<'_>) -> Result<T, StageError> {
        decode_input(&self.codec, input).await
    }

    async fn attempt(
        &self,
        alert: &EnrichedAlert,
        pending: &Pending,
        attempt: &Attempt,
    ) -> Result<crate::channels::Delivered, DeliveryError> {
        let Some(channel) = self.channels.get(pending.target.channel.as_str()) else {
            return Err(DeliveryError::Permanent {
                reason: format!("no channel named {} is configured", pending.target.channel),
            });
        };
        let started = Instant::now();
        let span = tracing::info_span!(
            "deliver",
            otel.name = %format!("deliver {}", pending.target.channel),
            otel.kind = "client",
            alert_id = %alert.alert_id,
            revision = alert.revision,
            destination = %pending.target.key(),
        );
        let result = channel
            .deliver(alert, &pending.target, pending.previous.as_ref(), attempt)
            .instrument(span)
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(DeliveryError::Transient { .. }) => "transient_error",
            Err(DeliveryError::Permanent { .. }) => "permanent_error",
        };
        let target: &'static str = match pending.target.channel.as_str() {
            "slack" => "slack",
            "teams" => "teams",
            "email" => "smtp",
            "coaching" => "genesys",
            _ => "other",
        };
        metrics::external_call(target, outcome, started.elapsed());
        result
    }

    /// Fetches the schemas of the records that settle a delivery, once,
    /// before the first message is sent. Otherwise a registry outage just
    /// after a start would fail the ledger record of a message already sent,
    /// and the input, retried, would send it again.
    async fn ready_to_settle(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
    ) -> Result<(), StageError> {
        self.settle_encoders
            .get_or_try_init(|| async {
                let probe = DeliveryRecord {
                    alert_id: alert.alert_id.clone(),
                    target: target.clone(),
                    revision: alert.revision,
                    delivered_at: 0,
                    slack_channel: None,
                    slack_ts: None,
                    message_id: None,
                    external_id: None,
                };
                let ledger = self.topology.topic(&topics::DELIVERY_LEDGER);
                self.codec.encode(&ledger, &probe).await?;
                let probe = DeliveryRetry {
                    alert: alert.clone(),
                    target: target.clone(),
                    due_at: 0,
                    attempt: 0,
                    last_error: String::new(),
                };
                let retries = self.topology.topic(&topics::DELIVERY_RETRIES);
                self.codec.encode(&retries, &probe).await?;
                Ok::<(), StageError>(())
            })
            .await
            .map(|_| ())
    }

    /// Attempts `pending`, concurrently, and turns each outcome into its
    /// output record (none for a ledger record already written).
    async fn deliver_all(
        &self,
        alert: &EnrichedAlert,
        pending: Vec<Pending>,
        attempt: i32,
        input: &InputRecord<'_>,
    ) -> Result<Vec<OutputRecord>, StageError> {
        if let Some(first) = pending.first() {
            self.ready_to_settle(alert, &first.target).await?;
        }
        let outcomes = join_all(
            pending
                .iter()
                .map(|pending| self.deliver_one(alert, pending, attempt, input)),
        )
        .await;
        let mut outputs = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            outputs.extend(outcome?);
        }
        Ok(outputs)
    }

    /// Attempts one target and settles what became of it.
    async fn deliver_one(
        &self,
        alert: &EnrichedAlert,
        pending: &Pending,
        attempt: i32,
        input: &InputRecord<'_>,
    ) -> Result<Option<OutputRecord>, StageError> {
        let first_try = Attempt::new(
            &alert.alert_id,
            alert.revision,
            &pending.target,
            (self.clock)(),
        );
        let result = self.attempt(alert, pending, &first_try).await;
        let now = (self.clock)();
        let key = survey_contracts::DeliveryRecord::key_for(&alert.alert_id, &pending.target);
        let output = match after_attempt(alert, pending, result, attempt, &self.retry, now) {
            AttemptOutcome::Delivered(record) => {
                tracing::info!(alert_id = %alert.alert_id, revision = alert.revision, destination = %pending.target.key(), "alert delivered");
                metrics::end_to_end(&pending.target.channel, alert.survey.submitted_at);
                // Known at once, so a redelivery in this process skips it
                // even before the ledger topic is read back, and even if
                // its ledger record cannot be written.
                self.ledger.record(record.clone());
                let output = self
                    .record(&topics::DELIVERY_LEDGER, &key, &record, input)
                    .await?;
                self.write_ledger_now(output).await
            }
            AttemptOutcome::Retry(retry) => {
                tracing::warn!(alert_id = %alert.alert_id, destination = %pending.target.key(), attempt, error = %retry.last_error, "delivery will be retried");
                Some(
                    self.record(&topics::DELIVERY_RETRIES, &key, &retry, input)
                        .await?,
                )
            }
            AttemptOutcome::GiveUp { code, reason } => {
                tracing::error!(alert_id = %alert.alert_id, destination = %pending.target.key(), code, %reason, "delivery dead-lettered");
                let dlq = self.topology.topic(&topics::NOTIFIER_DLQ);
                let mut record = dead_letter(input, &dlq, "notifier", code, &reason);
                record.key = key.into_bytes();
                record.headers.push((
                    DLQ_TARGET_HEADER.to_owned(),
                    pending.target.key().into_bytes(),
                ));
                metrics::counter_dlq("notifier", code);
                Some(record)
            }
        };
        Ok(output)
    }

    /// Writes a ledger record and waits for its acknowledgement. Returns it
    /// back when there is no writer or the write failed, so that it goes out
    /// with the handler's outputs (whose failure stops the stage before the
    /// input's offset is stored).
    async fn write_ledger_now(&self, output: OutputRecord) -> Option<OutputRecord> {
        let writer = self.ledger_writer.as_ref()?;
        let record = FutureRecord::to(&output.topic)
            .key(&output.key)
            .payload(&output.payload);
        match writer.send(record, Duration::from_secs(0)).await {
            Ok(_) => None,
            Err((error, _)) => {
                tracing::warn!(%error, "ledger record not written at once; it goes with the outputs");
                Some(output)
            }
        }
    }

    async fn record<T: Contract>(
        &self,
        spec: &topics::TopicSpec,
        key: &str,
        value: &T,
        input: &InputRecord<'_>,
    ) -> Result<OutputRecord, StageError> {
        encode_output(&self.codec, self.topology.topic(spec), key, value, input).await
    }
}

#[async_trait]
impl StageHandler for AlertHandler {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let delivery = &self.0;
        let alert: EnrichedAlert = delivery.decode(input).await?;
        let pending = pending_targets(&alert, &delivery.ledger);
        if pending.is_empty() {
            tracing::debug!(alert_id = %alert.alert_id, revision = alert.revision, "every target has this revision");
            return Ok(Vec::new());
        }
        delivery.deliver_all(&alert, pending, 1, input).await
    }
}

#[async_trait]
impl StageHandler for DeliveryRetryHandler {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let delivery = &self.0;
        let retry: DeliveryRetry = delivery.decode(input).await?;
        let now = (delivery.clock)();
        due(retry.due_at, now)?;
        let previous = delivery.ledger.get(&retry.alert.alert_id, &retry.target);
        if previous
            .as_ref()
            .is_some_and(|done| done.revision >= retry.alert.revision)
        {
            tracing::debug!(alert_id = %retry.alert.alert_id, "a newer revision already reached the target");
            return Ok(Vec::new());
        }
        let pending = Pending {
            target: retry.target.clone(),
            previous,
        };
        delivery
            .deliver_all(&retry.alert, vec![pending], retry.attempt + 1, input)
            .await
    }
}
