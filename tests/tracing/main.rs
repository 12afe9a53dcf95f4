//! One survey, one trace: the webhook's trace context reaches every stage
//! through Kafka headers, and each stage's spans join that trace.
//!
//! This binary installs the process-wide tracing subscriber with an
//! in-memory span exporter, so it holds this one test only.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use survey_demo::samples::webhook;
use survey_demo::{PipelineOptions, WEBHOOK_SECRET, start_pipeline};
use survey_sandbox::{Sandbox, SandboxConfig, demo};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_survey_is_one_trace_across_the_four_services() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .init();

    let sandbox = Sandbox::start(SandboxConfig {
        quiet: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let pipeline = start_pipeline(
        PipelineOptions::quick(survey_test_support::kafka_settings()),
        &sandbox,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));

    let alert_id = format!("traced-{}", uuid::Uuid::new_v4().simple());
    let body = webhook(
        &alert_id,
        demo::VOICE_CONVERSATION_ID,
        1,
        None,
        Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
    );
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let response = reqwest::Client::new()
        .post(format!("http://{}/webhooks/survey", pipeline.ingest_addr))
        .header("content-type", "application/json")
        .header(
            "x-signature-256",
            survey_ingest::auth::sign(WEBHOOK_SECRET, &bytes),
        )
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .body(bytes)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 202);

    let state = sandbox.state();
    let delivered = state
        .wait_for(Duration::from_secs(60), |s| {
            s.slack_messages()
                .iter()
                .any(|m| m.body.to_string().contains(&alert_id))
        })
        .await;
    assert!(delivered, "the alert never reached Slack");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = provider.force_flush();

    let spans = exporter.get_finished_spans().unwrap_or_default();
    let in_trace: Vec<String> = spans
        .iter()
        .filter(|span| span.span_context.trace_id().to_string() == TRACE_ID)
        .map(|span| span.name.to_string())
        .collect();
    for expected in [
        "POST /webhooks/survey",
        "publish",
        "process",
        "deliver slack",
        "deliver email",
        "deliver teams",
    ] {
        assert!(
            in_trace.iter().any(|name| name.starts_with(expected)),
            "no {expected} span in the survey's trace; spans in it: {in_trace:?}; all: {:?}",
            spans
                .iter()
                .map(|s| (s.name.to_string(), s.span_context.trace_id().to_string()))
                .collect::<Vec<_>>()
        );
    }
    // One process span per stage: filter, enricher and notifier.
    for stage_input in [
        "survey.responses.raw",
        "survey.responses.actionable",
        "survey.alerts.enriched",
    ] {
        assert!(
            in_trace
                .iter()
                .any(|name| name.starts_with("process") && name.ends_with(stage_input)),
            "no process span for {stage_input}: {in_trace:?}"
        );
    }
    pipeline.stop().await.unwrap_or_else(|e| panic!("{e:#}"));
    sandbox.shutdown().await;
}
