use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};
use secrecy::SecretString;
use survey_contracts::{
    ActionableReason, ActionableSurvey, AvroCodec, EnrichedAlert, SurveyResponse, topics,
};
use survey_enricher::{EnricherConfig, RunningEnricher};
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{KafkaSettings, Shutdown};
use survey_sandbox::{Sandbox, SandboxConfig, demo};
use survey_test_support::{TopicReader, producer};

pub const ARRIVAL: Duration = Duration::from_secs(30);
pub const QUIET: Duration = Duration::from_secs(3);

/// One deployment: its own topics, a demo sandbox, a routing file.
pub struct Harness {
    pub kafka: KafkaSettings,
    pub codec: AvroCodec,
    pub sandbox: Sandbox,
    routing_file: std::path::PathBuf,
    producer: rdkafka::producer::FutureProducer,
}

impl Harness {
    pub async fn new() -> Self {
        let kafka = survey_test_support::kafka_settings();
        provision(
            &kafka,
            survey_enricher::app::TOPICS,
            &ProvisionSettings::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("provisioning failed: {e:#}"));
        let sandbox = Sandbox::start(SandboxConfig {
            quiet: true,
            ..SandboxConfig::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox failed to start: {e:#}"));
        let routing_file =
            std::env::temp_dir().join(format!("routing-{}.yaml", kafka.topic_prefix));
        let routing = format!(
            r##"
default: {{ slack: "#cx-alerts" }}
bot_team: {{ slack: "#bot-dev" }}
queues:
  "{queue}":
    supervisors: ["{maria}", "{james}"]
    slack: "#billing-supervisors"
    coaching: true
"##,
            queue = demo::BILLING_QUEUE_ID,
            maria = demo::SUPERVISOR_MARIA_ID,
            james = demo::SUPERVISOR_JAMES_ID,
        );
        std::fs::write(&routing_file, routing).unwrap_or_else(|e| panic!("{e}"));
        Self {
            codec: AvroCodec::registry(&kafka.schema_registry_url),
            producer: producer(&kafka).unwrap_or_else(|e| panic!("{e}")),
            kafka,
            sandbox,
            routing_file,
        }
    }

    pub fn config(&self) -> EnricherConfig {
        let mut config = EnricherConfig {
            kafka: self.kafka.clone(),
            routing_file: Some(self.routing_file.clone()),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            ..EnricherConfig::default()
        };
        config.genesys.api_url = Some(self.sandbox.base_url());
        config.genesys.login_url = Some(self.sandbox.base_url());
        config.genesys.client_id = "survey-alerts-test".to_owned();
        config.genesys.client_secret = SecretString::from("test-secret".to_owned());
        config.genesys.request_timeout = Duration::from_secs(2);
        config.recording.check_interval = Duration::from_millis(300);
        config.recording.give_up_after = Duration::from_secs(3);
        config
    }

    pub async fn start(&self, config: EnricherConfig) -> (RunningEnricher, Shutdown) {
        let shutdown = Shutdown::new();
        let enricher = survey_enricher::start(config, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("enricher failed to start: {e:#}"));
        (enricher, shutdown)
    }

    pub async fn send(&self, survey: &ActionableSurvey) {
        let topic = self
            .kafka
            .topology()
            .topic(&topics::SURVEY_RESPONSES_ACTIONABLE);
        let payload = self
            .codec
            .encode(&topic, survey)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let key = survey.survey.response_id.as_bytes();
        survey_test_support::produce(
            &self.producer,
            &topic,
            key,
            &payload,
            &[("traceparent", "00-trace-span-01")],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    pub async fn send_bytes(&self, payload: &[u8]) {
        let topic = self
            .kafka
            .topology()
            .topic(&topics::SURVEY_RESPONSES_ACTIONABLE);
        survey_test_support::produce(&self.producer, &topic, b"poison", payload, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn reader(&self, spec: &topics::TopicSpec) -> TopicReader {
        TopicReader::new(&self.kafka, &self.kafka.topology().topic(spec))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads `count` alerts, then whatever else comes within [`QUIET`].
    pub async fn alerts(
        &self,
        reader: &TopicReader,
        count: usize,
        limit: Duration,
    ) -> Vec<EnrichedAlert> {
        let mut records: Vec<OwnedMessage> = reader.read(count, limit).await;
        records.extend(reader.read_all(QUIET).await);
        let mut alerts = Vec::new();
        for record in &records {
            let payload = record.payload().unwrap_or_default();
            alerts.push(
                self.codec
                    .decode(payload)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        alerts
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.routing_file);
    }
}

/// An actionable survey about `conversation_id`.
pub fn actionable(
    response_id: &str,
    conversation_id: &str,
    agent_id: Option<&str>,
) -> ActionableSurvey {
    let now = survey_runtime::now_millis();
    ActionableSurvey {
        survey: SurveyResponse {
            response_id: response_id.to_owned(),
            event: "survey.response.created".to_owned(),
            survey_id: Some("survey-1".to_owned()),
            interaction_id: conversation_id.to_owned(),
            submitted_at: now,
            received_at: now,
            csat: 1,
            comment: Some("The agent was rude.".to_owned()),
            other_answers: Default::default(),
            queue_id: Some(demo::BILLING_QUEUE_ID.to_owned()),
            agent_id: agent_id.map(str::to_owned),
            agent_name: None,
        },
        reasons: vec![ActionableReason {
            code: "low_score".to_owned(),
            detail: "csat 1 is below 3".to_owned(),
        }],
        filtered_at: now,
    }
}

pub fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}
