//! Slack against a wiremock Web API.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};
use survey_notifier::channels::slack::{SlackChannel, SlackSettings};
use survey_notifier::channels::{Attempt, Channel, Delivered, DeliveryError, Found};
use survey_sandbox::Route;
use wiremock::matchers::{
    bearer_token, body_partial_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use crate::support::{
    attempt, expect_permanent, expect_transient, human_agent_recording_ready, record, revised,
    sandbox, templates,
};

const TOKEN: &str = "xoxb-test-token";

fn channel(server: &MockServer, min_interval: Duration) -> SlackChannel {
    channel_at(&server.uri(), min_interval)
}

fn channel_at(base: &str, min_interval: Duration) -> SlackChannel {
    SlackChannel::new(
        SlackSettings {
            api_url: format!("{base}/api"),
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

/// HTTP 429 with `Retry-After: retry_after`, as Slack rate-limits.
fn ratelimited(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", retry_after)
        .set_body_json(json!({"ok": false, "error": "ratelimited"}))
}

fn target(address: &str) -> NotificationTarget {
    NotificationTarget::new("slack", address)
}

/// The ledger's record of revision 1 of `alert`, posted to `target` as
/// message `1789380960.000100` in channel `C0BILLING`.
fn posted_before(alert: &EnrichedAlert, target: &NotificationTarget) -> DeliveryRecord {
    let mut previous = record(alert, target, 1);
    previous.slack_channel = Some("C0BILLING".to_owned());
    previous.slack_ts = Some("1789380960.000100".to_owned());
    previous
}

/// A first delivery of [`human_agent_recording_ready`] to `address`.
async fn deliver(slack: &SlackChannel, address: &str) -> Result<Delivered, DeliveryError> {
    slack
        .deliver(
            &human_agent_recording_ready(),
            &target(address),
            None,
            &attempt(),
        )
        .await
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

    let delivered = deliver(&channel(&server, Duration::ZERO), "#cx-billing")
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
    assert_eq!(
        sent["metadata"],
        json!({
            "event_type": "survey_alert",
            "event_payload": {
                "attempt_key": attempt().key,
                "alert_id": "resp-1001",
                "revision": 1,
            },
        })
    );
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
    let previous = posted_before(&alert, &target);
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
    assert!(body(&requests[0]).get("metadata").is_none());
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
    let previous = posted_before(&alert, &target);
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

    let reason = expect_permanent(deliver(&slack, "#gone").await);
    assert!(reason.contains("channel_not_found"), "{reason}");
    let reason = expect_permanent(deliver(&slack, "#auth").await);
    assert!(
        reason.contains("invalid_auth") && !reason.contains(TOKEN),
        "{reason}"
    );
    let (reason, _) = expect_transient(deliver(&slack, "#flaky").await);
    assert!(reason.contains("internal_error"), "{reason}");
}

#[tokio::test]
async fn http_429_is_transient_with_the_servers_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ratelimited("2"))
        .expect(1)
        .mount(&server)
        .await;

    let result = deliver(&channel(&server, Duration::ZERO), "#cx-billing").await;
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
    expect_transient(deliver(&slack, "#down").await);
    expect_transient(deliver(&slack, "#slow").await);
    expect_permanent(deliver(&slack, "#odd").await);
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

/// `oldest` for [`attempt`]: a minute before it started, in seconds.
const OLDEST: &str = "1789380901";

fn history(messages: Value, next_cursor: Option<&str>) -> ResponseTemplate {
    let mut page = json!({
        "ok": true, "messages": messages, "has_more": next_cursor.is_some(), "pin_count": 0,
    });
    if let Some(cursor) = next_cursor {
        page["response_metadata"] = json!({"next_cursor": cursor});
    }
    ResponseTemplate::new(200).set_body_json(page)
}

fn message(ts: &str, attempt_key: Option<&str>) -> Value {
    let mut message =
        json!({"type": "message", "bot_id": "B1", "text": "Low survey score", "ts": ts});
    if let Some(key) = attempt_key {
        message["metadata"] = json!({
            "event_type": "survey_alert",
            "event_payload": {"attempt_key": key, "alert_id": "resp-1001", "revision": 1},
        });
    }
    message
}

/// A key other than [`attempt`]'s.
const ANOTHER_KEY: &str = "ffffffffffffffffffffffffffffffff";

/// A page of `conversations.list` with `channels` as (id, name).
fn conversations(channels: &[(&str, &str)], next_cursor: &str) -> ResponseTemplate {
    let channels: Vec<Value> = channels
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    ResponseTemplate::new(200).set_body_json(json!({
        "ok": true, "channels": channels, "response_metadata": {"next_cursor": next_cursor},
    }))
}

/// A read of the method `api_method`, which takes its arguments in the
/// query string.
fn read(api_method: &str) -> MockBuilder {
    Mock::given(method("GET")).and(path(format!("/api/{api_method}")))
}

async fn find(slack: &SlackChannel, address: &str) -> Result<Found, DeliveryError> {
    slack
        .find(
            &human_agent_recording_ready(),
            &target(address),
            None,
            &attempt(),
        )
        .await
}

#[tokio::test]
async fn find_resolves_a_name_and_settles_the_message_that_carries_the_key() {
    let server = MockServer::start().await;
    read("conversations.list")
        .and(bearer_token(TOKEN))
        .and(query_param("types", "public_channel,private_channel"))
        .and(query_param_is_missing("cursor"))
        .respond_with(conversations(&[("C0SALES001", "cx-sales")], "dGVhbTpDMDI="))
        .expect(1)
        .mount(&server)
        .await;
    read("conversations.list")
        .and(query_param("cursor", "dGVhbTpDMDI="))
        .respond_with(conversations(&[("C0BILLING", "cx-billing")], ""))
        .expect(1)
        .mount(&server)
        .await;
    read("conversations.history")
        .and(bearer_token(TOKEN))
        .and(query_param("channel", "C0BILLING"))
        .and(query_param("oldest", OLDEST))
        .and(query_param("include_all_metadata", "true"))
        .and(query_param("limit", "200"))
        .and(query_param_is_missing("cursor"))
        .respond_with(history(
            json!([
                message("1789380999.000300", None),
                message("1789380980.000200", Some(ANOTHER_KEY)),
            ]),
            Some("bmV4dF90czox"),
        ))
        .expect(2)
        .mount(&server)
        .await;
    read("conversations.history")
        .and(query_param("cursor", "bmV4dF90czox"))
        .respond_with(history(
            json!([message("1789380962.000100", Some(&attempt().key))]),
            None,
        ))
        .expect(2)
        .mount(&server)
        .await;

    let slack = channel(&server, Duration::ZERO);
    let expected = Found::Delivered(Delivered {
        slack_channel: Some("C0BILLING".to_owned()),
        slack_ts: Some("1789380962.000100".to_owned()),
        ..Delivered::default()
    });
    assert_eq!(find(&slack, "#cx-billing").await, Ok(expected.clone()));
    // The id is kept: the second read-back lists no channels.
    assert_eq!(find(&slack, "#cx-billing").await, Ok(expected));
    server.verify().await;
}

#[tokio::test]
async fn find_reports_absent_when_no_message_carries_the_key() {
    let server = MockServer::start().await;
    read("conversations.list")
        .respond_with(conversations(&[("C0SALES001", "cx-sales")], ""))
        .expect(1)
        .mount(&server)
        .await;
    read("conversations.history")
        .and(query_param("channel", "C0BILLING"))
        .respond_with(history(
            json!([
                message("1789380999.000300", Some(ANOTHER_KEY)),
                message("1789380980.000200", None),
            ]),
            None,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let slack = channel(&server, Duration::ZERO);

    assert_eq!(find(&slack, "C0BILLING").await, Ok(Found::Absent));
    // No channel the bot can see has the name: nothing can be there.
    assert_eq!(find(&slack, "#cx-billing").await, Ok(Found::Absent));
    server.verify().await;
}

#[tokio::test]
async fn find_leaves_a_pending_update_to_be_sent_again() {
    let server = MockServer::start().await;
    let alert = revised(human_agent_recording_ready());
    let target = target("#cx-billing");
    let previous = posted_before(&alert, &target);

    let found = channel(&server, Duration::ZERO)
        .find(&alert, &target, Some(&previous), &attempt())
        .await;
    assert_eq!(found, Ok(Found::Unknown));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn find_failures_are_sorted_like_deliveries() {
    let server = MockServer::start().await;
    for (channel_id, response) in [
        ("C0LIMITED1", ratelimited("1")),
        ("C0DOWN0001", ResponseTemplate::new(503)),
        ("C0GONE0001", slack_error("channel_not_found")),
        ("C0FLAKY001", slack_error("internal_error")),
    ] {
        read("conversations.history")
            .and(query_param("channel", channel_id))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    read("conversations.list")
        .respond_with(slack_error("missing_scope"))
        .mount(&server)
        .await;
    let slack = channel(&server, Duration::ZERO);

    let (reason, retry_after) = expect_transient(find(&slack, "C0LIMITED1").await);
    assert!(reason.contains("conversations.history"), "{reason}");
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    expect_transient(find(&slack, "C0DOWN0001").await);
    let (reason, _) = expect_transient(find(&slack, "C0FLAKY001").await);
    assert!(reason.contains("internal_error"), "{reason}");
    let reason = expect_permanent(find(&slack, "C0GONE0001").await);
    assert!(reason.contains("channel_not_found"), "{reason}");
    let reason = expect_permanent(find(&slack, "#cx-billing").await);
    assert!(
        reason.contains("conversations.list") && reason.contains("missing_scope"),
        "{reason}"
    );
}

#[tokio::test]
async fn against_the_sandbox_find_sees_what_deliver_posted() {
    let sandbox = sandbox().await;
    let slack = channel_at(&sandbox.base_url(), Duration::ZERO);
    let alert = human_agent_recording_ready();
    let billing = target("#cx-billing");
    // The attempt starts now: the sandbox stamps messages with its clock.
    let first_try = Attempt::new(
        &alert.alert_id,
        alert.revision,
        &billing,
        chrono::Utc::now().timestamp_millis(),
    );

    assert_eq!(
        slack.find(&alert, &billing, None, &first_try).await,
        Ok(Found::Absent),
        "never posted"
    );
    let delivered = slack
        .deliver(&alert, &billing, None, &first_try)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let posted = sandbox.state().slack_messages();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0]
            .metadata
            .as_ref()
            .map(|m| m["event_payload"]["attempt_key"].clone()),
        Some(Value::from(first_try.key.as_str()))
    );

    let found = slack.find(&alert, &billing, None, &first_try).await;
    assert_eq!(found, Ok(Found::Delivered(delivered.clone())));
    // After a restart the id is looked up by name.
    let restarted = channel_at(&sandbox.base_url(), Duration::ZERO);
    let found = restarted.find(&alert, &billing, None, &first_try).await;
    assert_eq!(found, Ok(Found::Delivered(delivered.clone())));
    let by_id = target(delivered.slack_channel.as_deref().unwrap_or_default());
    let found = slack.find(&alert, &by_id, None, &first_try).await;
    assert_eq!(found, Ok(Found::Delivered(delivered)));
    let another = Attempt::new(&alert.alert_id, 2, &billing, first_try.started_at);
    assert_eq!(
        slack.find(&alert, &billing, None, &another).await,
        Ok(Found::Absent)
    );

    sandbox.state().set_down(Route::Slack, true);
    expect_transient(slack.find(&alert, &billing, None, &first_try).await);
    sandbox.shutdown().await;
}
