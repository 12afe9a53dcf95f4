//! Log policy: no survey comment and no conversation summary (transcript
//! text) appears in the logs at INFO, while both do reach the alerts.
//!
//! This binary installs the process-wide tracing subscriber (JSON at INFO,
//! as the services' production format, with span fields) writing into a
//! buffer, so it holds this one test only.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use survey_demo::samples::webhook;
use survey_demo::{PipelineOptions, WEBHOOK_SECRET, start_pipeline};
use survey_sandbox::{ConversationSeed, HandledBy, MediaType, Sandbox, SandboxConfig, demo};

/// Customer text that must reach Slack but never the logs.
const COMMENT: &str = "ZEBRA-SECRET-COMMENT: the agent was rude";
const SUMMARY: &str = "ZEBRA-SECRET-TRANSCRIPT: the customer read out card number 4111";
const DROPPED_COMMENT: &str = "ZEBRA-SECRET-HAPPY-COMMENT all good";
const REJECTED_COMMENT: &str = "ZEBRA-SECRET-REJECTED-COMMENT";
const MARKERS: [&str; 4] = [
    "ZEBRA-SECRET-COMMENT",
    "ZEBRA-SECRET-TRANSCRIPT",
    "ZEBRA-SECRET-HAPPY-COMMENT",
    "ZEBRA-SECRET-REJECTED-COMMENT",
];
const CONVERSATION_ID: &str = "0a7e1c2d-5b6f-4c3d-9e8f-1a2b3c4d5e6f";

/// Everything logged, shared by every writer the subscriber makes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_comment_or_transcript_text_is_logged_at_info() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || writer.clone())
        .init();

    let sandbox = Sandbox::start(SandboxConfig {
        quiet: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let now = chrono::Utc::now();
    sandbox.state().add_conversation(
        ConversationSeed::new(
            CONVERSATION_ID,
            MediaType::Voice,
            HandledBy::Agent {
                user_id: demo::AGENT_PRIYA_ID.to_owned(),
                name: "Priya Nair".to_owned(),
            },
        )
        .times(
            now - chrono::Duration::minutes(12),
            Some(now - chrono::Duration::minutes(3)),
        )
        .queue(demo::BILLING_QUEUE_ID)
        .wrapup(demo::WRAPUP_REFUND_ID, "Billing - Refund request")
        .customer("Jordan Smith", "tel:+15551230001")
        .recording_ready_after(0)
        .summary(SUMMARY),
    );
    let pipeline = start_pipeline(
        PipelineOptions::quick(survey_test_support::kafka_settings()),
        &sandbox,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));

    let run = uuid::Uuid::new_v4().simple().to_string();
    let alert_id = format!("logs-{run}");
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        http.post(format!("http://{}/webhooks/survey", pipeline.ingest_addr))
            .header("content-type", "application/json")
            .header(
                "x-signature-256",
                survey_ingest::auth::sign(WEBHOOK_SECRET, &bytes),
            )
            .body(bytes)
            .send()
    };
    let priya = Some((demo::AGENT_PRIYA_ID, "Priya Nair"));
    let angry = webhook(&alert_id, CONVERSATION_ID, 1, Some(COMMENT), priya);
    let happy = webhook(
        &format!("logs-happy-{run}"),
        CONVERSATION_ID,
        5,
        Some(DROPPED_COMMENT),
        priya,
    );
    let mut invalid = webhook(
        &format!("logs-bad-{run}"),
        CONVERSATION_ID,
        1,
        Some(REJECTED_COMMENT),
        priya,
    );
    invalid["data"]["answers"]["q1_csat"] = serde_json::json!(9);
    for (body, status) in [(angry, 202), (happy, 202), (invalid, 400)] {
        let response = post(body).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), status);
    }

    // The comment and the summary do travel: the Slack alert carries both.
    let state = sandbox.state();
    let delivered = state
        .wait_for(Duration::from_secs(60), |s| {
            s.slack_messages().iter().any(|m| {
                let body = m.body.to_string();
                body.contains(&alert_id) && body.contains("ZEBRA-SECRET-TRANSCRIPT")
            })
        })
        .await;
    let slack: Vec<String> = state
        .slack_messages()
        .iter()
        .map(|m| m.body.to_string())
        .collect();
    assert!(delivered, "no Slack alert with the summary: {slack:?}");
    assert!(
        slack
            .iter()
            .any(|body| body.contains("ZEBRA-SECRET-COMMENT")),
        "the comment is not in the alert: {slack:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    pipeline.stop().await.unwrap_or_else(|e| panic!("{e:#}"));
    sandbox.shutdown().await;

    let logs = captured.text();
    // The capture did see the survey go through every stage.
    assert!(
        logs.lines().filter(|line| line.contains(&alert_id)).count() >= 2,
        "the captured log does not follow the survey: {logs}"
    );
    for marker in MARKERS {
        let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(marker)).collect();
        assert!(leaks.is_empty(), "{marker} logged at INFO: {leaks:#?}");
    }
}
