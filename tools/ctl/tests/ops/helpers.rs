use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use survey_contracts::TopicSpec;
use survey_runtime::KafkaSettings;
use survey_runtime::provision::{ProvisionSettings, provision};

/// How long a record may take to show up.
pub const ARRIVAL: Duration = Duration::from_secs(20);
/// How long to wait to be sure nothing more shows up.
pub const QUIET: Duration = Duration::from_secs(3);

/// Unwraps, printing the whole error chain.
pub fn ok<T>(result: anyhow::Result<T>) -> T {
    result.unwrap_or_else(|error| panic!("{error:#}"))
}

/// Fresh settings with `specs` created and their schemas registered.
pub async fn provisioned(specs: &[TopicSpec]) -> KafkaSettings {
    let kafka = survey_test_support::kafka_settings();
    ok(provision(&kafka, specs, &ProvisionSettings::default()).await);
    kafka
}

/// A plain producer.
pub fn producer(kafka: &KafkaSettings) -> FutureProducer {
    ok(survey_test_support::producer(kafka))
}

/// One record, where and when the test says.
pub struct At<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub timestamp: i64,
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub headers: &'a [(String, Vec<u8>)],
}

/// Produces `record` and waits for its acknowledgement.
pub async fn produce_at(producer: &FutureProducer, record: At<'_>) {
    let headers = record
        .headers
        .iter()
        .fold(OwnedHeaders::new(), |all, (key, value)| {
            all.insert(Header {
                key,
                value: Some(value),
            })
        });
    let future = FutureRecord::to(record.topic)
        .partition(record.partition)
        .timestamp(record.timestamp)
        .key(record.key)
        .payload(record.payload)
        .headers(headers);
    if let Err((error, _)) = producer.send(future, Duration::from_secs(10)).await {
        panic!("producing to {}: {error}", record.topic);
    }
}

/// A minimal alert.
pub fn alert(id: &str) -> survey_contracts::EnrichedAlert {
    use survey_contracts::*;
    EnrichedAlert {
        alert_id: id.to_owned(),
        revision: 1,
        issued_at: 1_714_550_460_000,
        survey: AlertSurvey {
            response_id: id.to_owned(),
            survey_id: None,
            submitted_at: 1_714_550_400_000,
            received_at: 1_714_550_401_000,
            csat: 1,
            comment: Some("The agent was rude.".to_owned()),
            reasons: vec![AlertReason {
                code: "low_score".to_owned(),
                detail: "csat 1 is below 3".to_owned(),
            }],
        },
        interaction: Interaction {
            id: format!("conv-{id}"),
            media_type: Some("voice".to_owned()),
            direction: Some("inbound".to_owned()),
            started_at: None,
            ended_at: None,
            queue_id: Some("q-1".to_owned()),
            queue_name: Some("Billing".to_owned()),
            handled_by: "agent".to_owned(),
            agent_id: Some("agent-1".to_owned()),
            agent_name: Some("John Doe".to_owned()),
            flow_name: None,
            wrap_up_code: None,
            link: format!("https://apps.mypurecloud.com/interactions/conv-{id}"),
        },
        recording: RecordingInfo {
            status: "ready".to_owned(),
            url: Some("https://recordings.example/1".to_owned()),
        },
        transcript_summary: None,
        routing: Routing {
            kind: "queue_supervisors".to_owned(),
            supervisors: vec![Person::default()],
            targets: vec![
                NotificationTarget::new("slack", "#billing"),
                NotificationTarget::new("teams", "ops"),
            ],
        },
        trace_context: Default::default(),
    }
}
