//! Slack against a wiremock Web API.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use survey_contracts::NotificationTarget;
use survey_notifier::channels::Channel;
use survey_notifier::channels::slack::{SlackChannel, SlackSettings};
use wiremock::matchers::{bearer_token, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{
    attempt, expect_permanent, expect_transient, human_agent_recording_ready, record, revised,
    templates,
};

const TOKEN: &str = "xoxb-test-token";

fn channel(server: &MockServer, min_interval: Duration) -> SlackChannel {
    SlackChannel::new(
        SlackSettings {
            api_url: format!("{}/api", server.uri()),
            bot_token: SecretString::from(TOKEN),
            request_timeout: Duration::from_secs(5),
            min_interval_per_channel: min_interval,
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn posted(channel_id: &str, ts: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "ok": true, "channel": channel_id, "ts": ts,
        "message": {"type": "message", "text": "...", "ts": ts}
    }))
}

fn slack_error(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": code}))
}

fn target(address: &str) -> NotificationTarget {
    NotificationTarget::new("slack", address)
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_new_alert_is_posted_with_blocks_and_the_bot_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(bearer_token(TOKEN))
        .and(header("content-type", "application/json"))
        .respond_with(posted("C0BILLING", "1789380960.000100"))
        .expect(1)
        .mount(&server)
        .await;

    let delivered = channel(&server, Duration::ZERO)
        .deliver(
            &human_agent_recording_ready(),
            &target("#cx-billing"),
            None,
            &attempt(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered.slack_channel.as_deref(), Some("C0BILLING"));
    assert_eq!(delivered.slack_ts.as_deref(), Some("1789380960.000100"));
    assert_eq!(delivered.message_id, None);

    let requests = server.received_requests().await.unwrap_or_default();
    let sent = body(&requests[0]);
    assert_eq!(sent["channel"], "#cx-billing");
    assert_eq!(
        sent["text"],
        "Low survey score 2/5 – Jordan Smith – Billing"
    );
    assert!(sent.get("ts").is_none());
    let blocks = sent["blocks"].as_array().cloned().unwrap_or_default();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "Low survey score: 2/5");
    let all = sent["blocks"].to_string();
    for expected in [
        "Jordan Smith",
        crate::support::AGENT_ID,
        "The agent was rude and hung up on me.",
        "Low score: csat 2 is below 3",
        "Critical keyword: rude",
        "Listen to the recording",
        "Open the interaction in Genesys Cloud",
    ] {
        assert!(all.contains(expected), "{expected:?} missing from {all}");
    }
    server.verify().await;
}

#[tokio::test]
async fn a_later_revision_updates_the_posted_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .and(bearer_token(TOKEN))
        .and(body_partial_json(
            json!({"channel": "C0BILLING", "ts": "1789380960.000100"}),
        ))
        .respond_with(posted("C0BILLING", "1789380960.000100"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(posted("C0BILLING", "1789380999.000200"))
        .expect(0)
        .mount(&server)
        .await;

    let alert = revised(crate::support::bot_recording_pending());
    let target = target("#cx-billing");
    let mut previous = record(&alert, &target, 1);
    previous.slack_channel = Some("C0BILLING".to_owned());
    previous.slack_ts = Some("1789380960.000100".to_owned());
    let delivered = channel(&server, Duration::ZERO)
        .deliver(&alert, &target, Some(&previous), &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered.slack_channel.as_deref(), Some("C0BILLING"));
    assert_eq!(delivered.slack_ts.as_deref(), Some("1789380960.000100"));

    let requests = server.received_requests().await.unwrap_or_default();
    assert!(
        body(&requests[0])["blocks"]
            .to_string()
            .contains("Updated: recording ready")
    );
    server.verify().await;
}

#[tokio::test]
async fn an_update_of_a_deleted_message_posts_a_new_one() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(slack_error("message_not_found"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(body_partial_json(json!({"channel": "#cx-billing"})))
        .respond_with(posted("C0BILLING", "1789381000.000300"))
        .expect(1)
        .mount(&server)
        .await;

    let alert = revised(human_agent_recording_ready());
    let target = target("#cx-billing");
    let mut previous = record(&alert, &target, 1);
    previous.slack_channel = Some("C0BILLING".to_owned());
    previous.slack_ts = Some("1789380960.000100".to_owned());
    let delivered = channel(&server, Duration::ZERO)
        .deliver(&alert, &target, Some(&previous), &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered.slack_ts.as_deref(), Some("1789381000.000300"));
    server.verify().await;
}

#[tokio::test]
async fn slack_application_errors_are_sorted() {
    let server = MockServer::start().await;
    for (code, address) in [
        ("channel_not_found", "#gone"),
        ("invalid_auth", "#auth"),
        ("internal_error", "#flaky"),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(body_partial_json(json!({"channel": address})))
            .respond_with(slack_error(code))
            .mount(&server)
            .await;
    }
    let slack = channel(&server, Duration::ZERO);
    let alert = human_agent_recording_ready();

    let reason = expect_permanent(
        slack
            .deliver(&alert, &target("#gone"), None, &attempt())
            .await,
    );
    assert!(reason.contains("channel_not_found"), "{reason}");
    let reason = expect_permanent(
        slack
            .deliver(&alert, &target("#auth"), None, &attempt())
            .await,
    );
    assert!(
        reason.contains("invalid_auth") && !reason.contains(TOKEN),
        "{reason}"
    );
    let (reason, _) = expect_transient(
        slack
            .deliver(&alert, &target("#flaky"), None, &attempt())
            .await,
    );
    assert!(reason.contains("internal_error"), "{reason}");
}

#[tokio::test]
async fn http_429_is_transient_with_the_servers_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "2")
                .set_body_json(json!({"ok": false, "error": "ratelimited"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let result = channel(&server, Duration::ZERO)
        .deliver(
            &human_agent_recording_ready(),
            &target("#cx-billing"),
            None,
            &attempt(),
        )
        .await;
    let (_, retry_after) = expect_transient(result);
    assert_eq!(retry_after, Some(Duration::from_secs(2)));
    server.verify().await;
}

#[tokio::test]
async fn server_errors_and_timeouts_are_transient_and_other_statuses_permanent() {
    let server = MockServer::start().await;
    for (address, response) in [
        ("#down", ResponseTemplate::new(503)),
        (
            "#slow",
            ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
        ),
        ("#odd", ResponseTemplate::new(404)),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(body_partial_json(json!({"channel": address})))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    let slack = SlackChannel::new(
        SlackSettings {
            api_url: format!("{}/api", server.uri()),
            bot_token: SecretString::from(TOKEN),
            request_timeout: Duration::from_millis(500),
            min_interval_per_channel: Duration::ZERO,
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let alert = human_agent_recording_ready();
    expect_transient(
        slack
            .deliver(&alert, &target("#down"), None, &attempt())
            .await,
    );
    expect_transient(
        slack
            .deliver(&alert, &target("#slow"), None, &attempt())
            .await,
    );
    expect_permanent(
        slack
            .deliver(&alert, &target("#odd"), None, &attempt())
            .await,
    );
}

#[tokio::test]
async fn messages_to_one_channel_are_paced_and_other_channels_do_not_wait() {
    const INTERVAL: Duration = Duration::from_millis(500);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(posted("C0BILLING", "1789380960.000100"))
        .mount(&server)
        .await;
    let slack = channel(&server, INTERVAL);
    let alert = human_agent_recording_ready();
    let (one, other, same) = (target("#one"), target("#other"), target("#one"));

    let attempt = attempt();
    let started = Instant::now();
    let (a, b) = tokio::join!(
        slack.deliver(&alert, &one, None, &attempt),
        slack.deliver(&alert, &other, None, &attempt)
    );
    a.unwrap_or_else(|e| panic!("{e}"));
    b.unwrap_or_else(|e| panic!("{e}"));
    let different_channels = started.elapsed();
    slack
        .deliver(&alert, &same, None, &attempt)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let same_channel = started.elapsed();

    assert!(
        different_channels < INTERVAL,
        "two channels took {different_channels:?}"
    );
    assert!(
        same_channel >= INTERVAL,
        "the second message to #one came after {same_channel:?}"
    );
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}
