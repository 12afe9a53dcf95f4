//! The notifier's handlers: new alert revisions, and due retries from the
//! delay topic. Targets of one alert are delivered concurrently, so one slow
//! or failing channel never holds back the others.
//!
//! Each delivery is begun with an intent record, acknowledged before the
//! channel is called, and settled by a ledger record. An intent without its
//! ledger record means an earlier attempt may have reached the channel: the
//! channel is read back ([`Channel::find`]) before anything is sent again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord};
use survey_contracts::{
    AvroCodec, Contract, DeliveryIntent, DeliveryRecord, DeliveryRetry, EnrichedAlert,
    NotificationTarget, Topology, topics,
};
use survey_runtime::dead_letter::dead_letter;
use survey_runtime::stage::{decode_input, due, encode_output};
use survey_runtime::table::TableProgress;
use survey_runtime::{InputRecord, OutputRecord, StageError, StageHandler, metrics};
use tracing::Instrument;

use crate::channels::{Attempt, Channel, Delivered, DeliveryError, Found};
use crate::config::RetrySettings;
use crate::ledger::{DeliveryIntents, DeliveryLedger};
use crate::plan::{AttemptOutcome, Pending, Start, after_attempt, pending_targets, start};

/// A clock in epoch milliseconds; tests pass their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How long catching up with the ledger and intents may take before it is
/// retried.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

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
    /// Which deliveries were begun and not yet settled.
    pub intents: Arc<DeliveryIntents>,
    /// Deliveries being attempted in this process, by ledger key.
    pub in_progress: KeyLocks,
    /// How far the ledger and intents topics have been read, to catch up
    /// with another instance's writes when its partitions come here.
    pub tables: Vec<TableProgress>,
    /// This instance, as intents name their owner.
    pub owner: String,
    /// How long another instance's claim on a delivery is left to it.
    pub lease: Duration,
    /// Retry policy.
    pub retry: RetrySettings,
    /// Topic names.
    pub topology: Topology,
    /// Time source.
    pub clock: Clock,
    /// Writes each delivery's intent before its channel is called, and its
    /// ledger record the moment the channel accepted the message (not with
    /// the slowest of the alert's other targets).
    pub writer: FutureProducer,
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
    /// Waits until the ledger and the intents hold every record written
    /// before now: after a rebalance, the partitions' previous owner may
    /// have begun or finished deliveries this instance has not read yet,
    /// and would otherwise begin them afresh.
    async fn catch_up(&self) -> Result<(), StageError> {
        for table in &self.tables {
            table
                .caught_up(CATCH_UP_LIMIT)
                .await
                .map_err(|error| StageError::Retriable(format!("{error:#}")))?;
        }
        Ok(())
    }

    async fn decode<T: Contract>(&self, input: &InputRecord<'_>) -> Result<T, StageError> {
        decode_input(&self.codec, input).await
    }

    fn channel(&self, target: &NotificationTarget) -> Result<&Arc<dyn Channel>, DeliveryError> {
        self.channels.get(target.channel.as_str()).ok_or_else(|| {
            DeliveryError::permanent(format!("no channel named {} is configured", target.channel))
        })
    }

    /// Runs one call to `target`'s channel in a client span named
    /// `{verb} {channel}`, and counts it.
    async fn observed<T>(
        &self,
        verb: &str,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        call: impl Future<Output = Result<T, DeliveryError>>,
    ) -> Result<T, DeliveryError> {
        let started = Instant::now();
        let span = tracing::info_span!(
            "channel call",
            otel.name = %format!("{verb} {}", target.channel),
            otel.kind = "client",
            alert_id = %alert.alert_id,
            revision = alert.revision,
            destination = %target.key(),
        );
        let result = call.instrument(span).await;
        metrics::external_call(
            external_system(target),
            call_outcome(&result),
            started.elapsed(),
        );
        result
    }

    /// Sends to the channel.
    async fn attempt(
        &self,
        alert: &EnrichedAlert,
        pending: &Pending,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let channel = self.channel(&pending.target)?;
        let previous = pending.previous.as_ref();
        let call = channel.deliver(alert, &pending.target, previous, attempt);
        self.observed("deliver", alert, &pending.target, call).await
    }

    /// Reads the channel back for an earlier attempt, and sends only if it
    /// is not there.
    async fn resume(
        &self,
        alert: &EnrichedAlert,
        pending: &Pending,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let channel = self.channel(&pending.target)?;
        let previous = pending.previous.as_ref();
        let call = channel.find(alert, &pending.target, previous, attempt);
        let found = self.observed("find", alert, &pending.target, call).await;
        let found = match found {
            // A channel that cannot be read (a missing scope or permission)
            // must not cost the alert: send again, at least once.
            Err(DeliveryError::Permanent { reason }) => {
                tracing::warn!(alert_id = %alert.alert_id, destination = %pending.target.key(), %reason, "the channel cannot be read back; sending again under the same key");
                Found::Unknown
            }
            other => other?,
        };
        match found {
            Found::Delivered(delivered) => {
                tracing::info!(alert_id = %alert.alert_id, revision = alert.revision, destination = %pending.target.key(), "an earlier attempt had reached the target; not sent again");
                Ok(delivered)
            }
            Found::Absent => self.attempt(alert, pending, attempt).await,
            Found::Unknown => {
                tracing::info!(alert_id = %alert.alert_id, revision = alert.revision, destination = %pending.target.key(), "the channel cannot be read back; sending again under the same key");
                self.attempt(alert, pending, attempt).await
            }
        }
    }

    /// Writes the intent (or a claim on another instance's) and waits for
    /// its acknowledgement: nothing is sent before the intent is durable.
    async fn begin(&self, intent: DeliveryIntent) -> Result<Attempt, StageError> {
        let topic = self.topology.topic(&topics::DELIVERY_INTENTS);
        let key = DeliveryRecord::key_for(&intent.alert_id, &intent.target);
        let payload = self.codec.encode(&topic, &intent).await?;
        let record = FutureRecord::to(&topic).key(&key).payload(&payload);
        if let Err((error, _)) = self.writer.send(record, Duration::from_secs(0)).await {
            return Err(StageError::Retriable(format!(
                "writing the delivery intent: {error}"
            )));
        }
        let attempt = Attempt {
            key: intent.attempt_key.clone(),
            started_at: intent.started_at,
        };
        self.intents.record(intent);
        Ok(attempt)
    }

    /// Removes a settled intent. Not waited for: one left behind is ignored,
    /// because the ledger then has its revision.
    fn settle_intent(&self, key: &str) {
        self.intents.remove(key);
        let topic = self.topology.topic(&topics::DELIVERY_INTENTS);
        if let Err((error, _)) = self
            .writer
            .send_result(FutureRecord::<str, [u8]>::to(&topic).key(key))
        {
            tracing::debug!(%error, "intent tombstone not queued");
        }
    }

    /// Gives up this instance's claim on a delivery that waits for a retry:
    /// nobody is sending it meanwhile, so whichever instance takes the retry
    /// reads the channel back at once instead of waiting out the lease. Not
    /// waited for: a claim left in place only makes that instance wait.
    async fn release_intent(&self, alert: &EnrichedAlert, target: &NotificationTarget) {
        let Some(intent) = self
            .intents
            .get(&alert.alert_id, target)
            .filter(|intent| intent.revision == alert.revision && intent.owner == self.owner)
        else {
            return;
        };
        let released = DeliveryIntent {
            owner: String::new(),
            claimed_at: 0,
            ..intent
        };
        let topic = self.topology.topic(&topics::DELIVERY_INTENTS);
        let key = DeliveryRecord::key_for(&released.alert_id, target);
        match self.codec.encode(&topic, &released).await {
            Ok(payload) => {
                let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                if let Err((error, _)) = self.writer.send_result(record) {
                    tracing::debug!(%error, "intent release not queued");
                }
            }
            Err(error) => tracing::debug!(%error, "intent release not encoded"),
        }
        self.intents.record(released);
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
        // The alerts loop (an input redelivered after a restart) and the
        // retries loop can reach one delivery at once; one goes at a time,
        // and the second sees what the first did.
        let _turn = self
            .in_progress
            .lock(&DeliveryRecord::key_for(&alert.alert_id, &pending.target))
            .await;
        let previous = self.ledger.get(&alert.alert_id, &pending.target);
        if previous
            .as_ref()
            .is_some_and(|done| done.revision >= alert.revision)
        {
            return Ok(None);
        }
        let pending = &Pending {
            target: pending.target.clone(),
            previous,
        };
        let begun = self.intents.get(&alert.alert_id, &pending.target);
        let now = (self.clock)();
        let result = match start(alert, &pending.target, begun, &self.owner, self.lease, now) {
            Start::Fresh(intent) => {
                let attempt = self.begin(intent).await?;
                self.attempt(alert, pending, &attempt).await
            }
            Start::Resume(attempt) => self.resume(alert, pending, &attempt).await,
            Start::TakeOver(intent) => {
                let attempt = self.begin(intent).await?;
                self.resume(alert, pending, &attempt).await
            }
            Start::Wait(wait) => {
                return Err(StageError::Retriable(format!(
                    "another notifier began delivering to {} and may still be at it; its claim \
                     lasts {wait:?} more",
                    pending.target.key()
                )));
            }
        };
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
                let unwritten = self.write_ledger_now(output).await;
                if unwritten.is_none() {
                    self.settle_intent(&key);
                }
                unwritten
            }
            AttemptOutcome::Retry(retry) => {
                tracing::warn!(alert_id = %alert.alert_id, destination = %pending.target.key(), attempt, error = %retry.last_error, "delivery will be retried");
                self.release_intent(alert, &pending.target).await;
                Some(
                    self.record(&topics::DELIVERY_RETRIES, &key, &retry, input)
                        .await?,
                )
            }
            AttemptOutcome::GiveUp { code, reason } => {
                tracing::error!(alert_id = %alert.alert_id, destination = %pending.target.key(), code, %reason, "delivery dead-lettered");
                self.settle_intent(&key);
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
    /// back when the write failed, so that it goes out with the handler's
    /// outputs (whose failure stops the stage before the input's offset is
    /// stored).
    async fn write_ledger_now(&self, output: OutputRecord) -> Option<OutputRecord> {
        let record = FutureRecord::to(&output.topic)
            .key(&output.key)
            .payload(&output.payload);
        match self.writer.send(record, Duration::from_secs(0)).await {
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

/// The system a channel calls, for the external-call metrics.
fn external_system(target: &NotificationTarget) -> &'static str {
    match target.channel.as_str() {
        "slack" => "slack",
        "teams" => "teams",
        "email" => "smtp",
        "coaching" => "genesys",
        _ => "other",
    }
}

/// One async lock per key, held while a delivery to a target is attempted;
/// a key's entry lives only while someone holds or waits for it.
#[derive(Debug, Default)]
pub struct KeyLocks {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A held [`KeyLocks`] key.
#[derive(Debug)]
pub struct KeyTurn<'a> {
    locks: &'a KeyLocks,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Waits for `key`'s turn.
    pub async fn lock(&self, key: &str) -> KeyTurn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(key.to_owned()).or_default())
        };
        KeyTurn {
            locks: self,
            key: key.to_owned(),
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for KeyTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds it: nobody waits.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

fn call_outcome<T>(result: &Result<T, DeliveryError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(DeliveryError::Transient { .. }) => "transient_error",
        Err(DeliveryError::Permanent { .. }) => "permanent_error",
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

    async fn partitions_assigned(&mut self) -> Result<(), StageError> {
        self.0.catch_up().await
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

    async fn partitions_assigned(&mut self) -> Result<(), StageError> {
        self.0.catch_up().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_goes_one_at_a_time_and_other_keys_do_not_wait() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("alert-1|slack:C1").await;
        let waiting = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _turn = locks.lock("alert-1|slack:C1").await;
            })
        };
        // Another key is free meanwhile.
        drop(locks.lock("alert-2|slack:C1").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the same key waited for its turn");
        drop(first);
        waiting.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            locks.locks.lock().map(|l| l.is_empty()).unwrap_or(false),
            "no entry is left once nobody holds or waits for a key"
        );
    }
}
