use std::time::Duration;

use rdkafka::message::Message;
use survey_contracts::{AvroCodec, SurveyResponse};
use survey_test_support::{TopicReader, samples};

use crate::helpers::{config, spawn_app, spawn_with};

#[tokio::test]
async fn an_accepted_webhook_is_on_the_raw_topic_and_decodes_through_the_registry() {
    let app = spawn_app().await;
    let body = samples::webhook("resp-1", 2, Some("The agent was rude."), "queue-1");
    let response = app.post_signed(&body).await;
    assert_eq!(response.status(), 202);
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(json["id"], "resp-1");

    let reader = TopicReader::new(&app.kafka, &app.raw_topic()).unwrap_or_else(|e| panic!("{e}"));
    let records = reader.read(1, Duration::from_secs(20)).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key(), Some(&b"resp-1"[..]));
    let codec = AvroCodec::registry(&app.kafka.schema_registry_url);
    let survey: SurveyResponse = codec
        .decode(records[0].payload().unwrap_or_default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(survey.response_id, "resp-1");
    assert_eq!(survey.interaction_id, "conv-resp-1");
    assert_eq!(survey.csat, 2);
    assert_eq!(survey.comment.as_deref(), Some("The agent was rude."));
    assert_eq!(survey.agent_name.as_deref(), Some("John Doe"));
    assert!(survey.received_at >= survey.submitted_at);
}

#[tokio::test]
async fn trace_context_travels_in_record_headers() {
    let app = spawn_app().await;
    let body = samples::webhook("resp-traced", 4, None, "queue-1");
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .http
        .post(app.url("/webhooks/survey"))
        .header("content-type", "application/json")
        .header(
            "x-signature-256",
            survey_ingest::auth::sign(crate::helpers::SECRET, &bytes),
        )
        .header("traceparent", traceparent)
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 202);
    let reader = TopicReader::new(&app.kafka, &app.raw_topic()).unwrap_or_else(|e| panic!("{e}"));
    let records = reader.read(1, Duration::from_secs(20)).await;
    assert_eq!(
        survey_test_support::header(&records[0], "traceparent").as_deref(),
        Some(traceparent)
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.status(), 200);
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn kafka_unreachable_gives_503_with_retry_after_and_liveness_stays_up() {
    // Provision on the real cluster, then point ingest at a broker that is not there.
    let reachable = spawn_app().await;
    let mut kafka = reachable.kafka.clone();
    kafka.bootstrap_servers = "127.0.0.1:9".to_owned();
    kafka.provision_on_start = false;
    let mut unreachable_config = config(kafka);
    unreachable_config.publish_timeout = Duration::from_millis(1500);
    let app = spawn_with(unreachable_config).await;

    let response = app
        .post_signed(&samples::webhook("resp-down", 1, None, "q"))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let json: serde_json::Value = response.json().await.unwrap_or_default();
    assert!(json["error"].is_string());

    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready.status(), 503);
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.status(), 200);
    assert_eq!(
        survey_test_support::record_count(&reachable.kafka, &reachable.raw_topic()).unwrap_or(-1),
        0
    );
}

#[tokio::test]
async fn refuses_to_start_without_credentials_unless_told_it_is_development() {
    let mut insecure = config(survey_test_support::kafka_settings());
    insecure.auth.webhook_secret = None;
    let refused = survey_ingest::Application::build(insecure.clone()).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("WEBHOOK_SECRET"), "{message}");

    insecure.auth.insecure_dev = true;
    let app = spawn_with(insecure).await;
    let body = samples::webhook("resp-dev", 5, None, "q");
    let response = app
        .http
        .post(app.url("/webhooks/survey"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 202);
}
