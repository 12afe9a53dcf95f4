//! Publishes accepted surveys to the raw topic and waits for the broker's
//! acknowledgement (`acks=all`, idempotent producer) before the request may
//! succeed.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use survey_contracts::{AvroCodec, CodecError, SurveyResponse};

/// Why a survey was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No acknowledgement within the bound, or the broker is unreachable:
    /// the sender should retry.
    #[error("Kafka did not acknowledge: {0}")]
    Unavailable(String),
    /// The registry could not encode the record.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Kafka refused the record for good (too large, unknown topic, denied).
    #[error("Kafka refused the record: {0}")]
    Refused(KafkaError),
}

/// Writes raw survey records.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    codec: Arc<AvroCodec>,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher to `topic`, waiting at most `timeout` per record.
    pub fn new(
        producer: FutureProducer,
        codec: Arc<AvroCodec>,
        topic: String,
        timeout: Duration,
    ) -> Self {
        Self {
            producer,
            codec,
            topic,
            timeout,
        }
    }

    /// Publishes `survey` keyed by its response id, returning once Kafka has
    /// acknowledged it.
    pub async fn publish(
        &self,
        survey: &SurveyResponse,
        headers: rdkafka::message::OwnedHeaders,
    ) -> Result<(), PublishError> {
        let payload = tokio::time::timeout(self.timeout, self.codec.encode(&self.topic, survey))
            .await
            .map_err(|_| PublishError::Unavailable("schema registry timed out".to_owned()))??;
        let record = FutureRecord::to(&self.topic)
            .key(&survey.response_id)
            .payload(&payload)
            .headers(headers);
        let delivery = match self.producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((error, _)) => return Err(classify(error)),
        };
        match tokio::time::timeout(self.timeout, delivery).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((error, _)))) => Err(classify(error)),
            Ok(Err(_canceled)) => Err(PublishError::Unavailable("producer shut down".to_owned())),
            Err(_elapsed) => Err(PublishError::Unavailable(format!(
                "no acknowledgement within {:?}",
                self.timeout
            ))),
        }
    }

    /// Whether the producer currently reaches the cluster and the topic.
    pub async fn ready(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .is_ok_and(|metadata| {
                    metadata.topics().iter().any(|t| {
                        t.name() == topic && t.error().is_none() && !t.partitions().is_empty()
                    })
                })
        })
        .await
        .unwrap_or(false)
    }

    /// The topic it writes to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits for in-flight records on shutdown.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}

fn classify(error: KafkaError) -> PublishError {
    if matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    ) || survey_runtime::kafka::is_retriable(&error)
    {
        PublishError::Unavailable(error.to_string())
    } else {
        PublishError::Refused(error)
    }
}
