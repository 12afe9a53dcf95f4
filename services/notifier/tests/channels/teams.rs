//! Teams against a wiremock incoming webhook.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use survey_contracts::NotificationTarget;
use survey_notifier::channels::teams::{TeamsChannel, TeamsSettings};
use survey_notifier::channels::{Channel, Delivered};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    attempt, expect_permanent, expect_transient, human_agent_recording_ready, record, revised,
    templates,
};

/// The webhook path; its last segment stands for the URL's secret part.
const WEBHOOK_PATH: &str = "/webhookb2/billing/IncomingWebhook/s3cr3t";

fn channel(server: &MockServer) -> TeamsChannel {
    channel_at(&server.uri())
}

fn channel_at(base: &str) -> TeamsChannel {
    let mut webhooks = BTreeMap::new();
    webhooks.insert(
        "billing".to_owned(),
        SecretString::from(format!("{base}{WEBHOOK_PATH}")),
    );
    TeamsChannel::new(
        TeamsSettings {
            webhooks,
            request_timeout: Duration::from_secs(5),
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn target(name: &str) -> NotificationTarget {
    NotificationTarget::new("teams", name)
}

async fn answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_string("1"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn an_adaptive_card_is_posted_to_the_named_webhook() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(2)
        .mount(&server)
        .await;
    let teams = channel(&server);
    let alert = human_agent_recording_ready();
    let delivered = teams
        .deliver(&alert, &target("billing"), None, &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered, Delivered::default());

    let requests = server.received_requests().await.unwrap_or_default();
    let message: Value =
        serde_json::from_slice(&requests[0].body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["contentUrl"], Value::Null);
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let facts = card["body"]
        .as_array()
        .and_then(|body| body.iter().find(|item| item["type"] == "FactSet"))
        .map(|facts| facts["facts"].to_string())
        .unwrap_or_default();
    assert!(
        facts.contains("Jordan Smith") && facts.contains("2/5"),
        "{facts}"
    );
    let actions = card["actions"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 2);
    assert!(
        actions
            .iter()
            .all(|action| action["type"] == "Action.OpenUrl")
    );
    assert_eq!(actions[1]["url"], alert.interaction.link);

    // A later revision posts a follow-up card that says what changed.
    let second = revised(alert);
    let previous = record(&second, &target("billing"), 1);
    teams
        .deliver(&second, &target("billing"), Some(&previous), &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let requests = server.received_requests().await.unwrap_or_default();
    let follow_up: Value =
        serde_json::from_slice(&requests[1].body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        follow_up["attachments"][0]["content"]["body"][1]["text"],
        "Updated: recording ready"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_removed_webhook_is_permanent_and_its_url_stays_secret() {
    let server = answering(404).await;
    let reason = expect_permanent(
        channel(&server)
            .deliver(
                &human_agent_recording_ready(),
                &target("billing"),
                None,
                &attempt(),
            )
            .await,
    );
    assert!(
        reason.contains("404") && reason.contains("billing"),
        "{reason}"
    );
    assert!(
        !reason.contains("s3cr3t") && !reason.contains("webhookb2"),
        "{reason}"
    );
}

#[tokio::test]
async fn server_errors_throttling_and_unreachable_webhooks_are_transient() {
    let server = answering(500).await;
    expect_transient(
        channel(&server)
            .deliver(
                &human_agent_recording_ready(),
                &target("billing"),
                None,
                &attempt(),
            )
            .await,
    );

    let throttled = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...",
            ),
        )
        .mount(&throttled)
        .await;
    expect_transient(
        channel(&throttled)
            .deliver(
                &human_agent_recording_ready(),
                &target("billing"),
                None,
                &attempt(),
            )
            .await,
    );

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let gone = channel_at(&format!("http://127.0.0.1:{port}"));
    let (reason, _) = expect_transient(
        gone.deliver(
            &human_agent_recording_ready(),
            &target("billing"),
            None,
            &attempt(),
        )
        .await,
    );
    assert!(!reason.contains("s3cr3t"), "{reason}");
}

#[tokio::test]
async fn an_unknown_webhook_name_is_permanent_and_nothing_is_sent() {
    let server = answering(200).await;
    let reason = expect_permanent(
        channel(&server)
            .deliver(
                &human_agent_recording_ready(),
                &target("marketing"),
                None,
                &attempt(),
            )
            .await,
    );
    assert!(reason.contains("marketing"), "{reason}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}
