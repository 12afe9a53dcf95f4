use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};
use survey_contracts::{ActionableSurvey, AvroCodec, SurveyResponse, topics};
use survey_filter::{FilterConfig, RunningFilter};
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{KafkaSettings, Shutdown};
use survey_test_support::{TopicReader, producer};

/// A deployment of the filter's topics for one test.
pub struct Harness {
    pub kafka: KafkaSettings,
    pub codec: AvroCodec,
    producer: rdkafka::producer::FutureProducer,
}

impl Harness {
    pub async fn new() -> Self {
        let kafka = survey_test_support::kafka_settings();
        provision(
            &kafka,
            survey_filter::app::TOPICS,
            &ProvisionSettings::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("provisioning failed: {e:#}"));
        Self {
            codec: AvroCodec::registry(&kafka.schema_registry_url),
            producer: producer(&kafka).unwrap_or_else(|e| panic!("{e}")),
            kafka,
        }
    }

    pub fn topic(&self, spec: &topics::TopicSpec) -> String {
        self.kafka.topology().topic(spec)
    }

    pub fn config(&self) -> FilterConfig {
        FilterConfig {
            kafka: self.kafka.clone(),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            ..FilterConfig::default()
        }
    }

    pub async fn start(&self, config: FilterConfig) -> (RunningFilter, Shutdown) {
        let shutdown = Shutdown::new();
        let filter = survey_filter::start(config, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("filter failed to start: {e:#}"));
        (filter, shutdown)
    }

    /// Writes a raw survey as ingest would.
    pub async fn send_raw(&self, survey: &SurveyResponse) {
        let topic = self.topic(&topics::SURVEY_RESPONSES_RAW);
        let payload = self
            .codec
            .encode(&topic, survey)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        survey_test_support::produce(
            &self.producer,
            &topic,
            survey.response_id.as_bytes(),
            &payload,
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    pub async fn send_bytes(&self, key: &str, payload: &[u8]) {
        let topic = self.topic(&topics::SURVEY_RESPONSES_RAW);
        survey_test_support::produce(
            &self.producer,
            &topic,
            key.as_bytes(),
            payload,
            &[("traceparent", "00-abc-def-01")],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn reader(&self, spec: &topics::TopicSpec) -> TopicReader {
        TopicReader::new(&self.kafka, &self.topic(spec)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Decodes actionable records.
    pub async fn actionable(&self, records: &[OwnedMessage]) -> Vec<ActionableSurvey> {
        let mut decoded = Vec::new();
        for record in records {
            let payload = record.payload().unwrap_or_default();
            decoded.push(
                self.codec
                    .decode(payload)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        decoded
    }
}

/// How long to keep listening to be sure nothing more arrives.
pub const QUIET: Duration = Duration::from_secs(3);
/// Upper bound for records that must arrive.
pub const ARRIVAL: Duration = Duration::from_secs(30);
