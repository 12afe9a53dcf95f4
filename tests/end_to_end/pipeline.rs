use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::message::Message;
use secrecy::SecretString;
use survey_contracts::{ActionableSurvey, AvroCodec, topics};
use survey_filter::FilterConfig;
use survey_ingest::auth::sign;
use survey_ingest::{Application, IngestConfig};
use survey_runtime::Shutdown;
use survey_test_support::{TopicReader, samples};

const SECRET: &str = "e2e-secret";

#[tokio::test]
async fn a_webhook_and_its_retries_become_one_actionable_event() {
    let kafka = survey_test_support::kafka_settings();
    let shutdown = Shutdown::new();

    let mut ingest_config = IngestConfig {
        kafka: kafka.clone(),
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..IngestConfig::default()
    };
    ingest_config.auth.webhook_secret = Some(SecretString::from(SECRET.to_owned()));
    let ingest = Application::build(ingest_config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let address = ingest.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(ingest.run_until_stopped(shutdown.clone()));

    let filter_config = FilterConfig {
        kafka: kafka.clone(),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..FilterConfig::default()
    };
    let filter = survey_filter::start(filter_config, shutdown.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));

    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        http.post(format!("http://{address}/webhooks/survey"))
            .header("content-type", "application/json")
            .header("x-signature-256", sign(SECRET, &bytes))
            .body(bytes)
            .send()
    };
    // The angry customer's webhook arrives three times (Genesys retries a slow
    // receiver); a happy customer's once.
    let angry = samples::webhook("e2e-angry", 2, Some("The agent was rude."), "queue-1");
    for _ in 0..3 {
        let response = post(angry.clone()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 202);
    }
    let happy = samples::webhook("e2e-happy", 5, Some("Lovely"), "queue-1");
    assert_eq!(
        post(happy).await.map(|r| r.status().as_u16()).unwrap_or(0),
        202
    );

    let actionable_topic = kafka.topology().topic(&topics::SURVEY_RESPONSES_ACTIONABLE);
    let reader = TopicReader::new(&kafka, &actionable_topic).unwrap_or_else(|e| panic!("{e}"));
    let mut records = reader.read(1, Duration::from_secs(30)).await;
    records.extend(reader.read_all(Duration::from_secs(3)).await);
    assert_eq!(records.len(), 1, "exactly one actionable event");
    let codec = AvroCodec::registry(&kafka.schema_registry_url);
    let event: ActionableSurvey = codec
        .decode(records[0].payload().unwrap_or_default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.survey.response_id, "e2e-angry");
    let codes: Vec<_> = event.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, vec!["low_score", "critical_keyword"]);
    let latency = event.filtered_at - event.survey.submitted_at;
    println!("webhook submittedAt -> actionable event: {latency} ms");

    assert_eq!(filter.stats.dropped_total("duplicate"), 2);
    assert_eq!(filter.stats.dropped_total("not_actionable"), 1);
    shutdown.trigger();
    filter.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
