//! Replay protection, secret rotation and request limits, against a running
//! ingest.

use secrecy::SecretString;
use survey_ingest::auth::{sign, sign_timestamped};
use survey_test_support::samples;

use crate::helpers::{SECRET, TestApp, config, spawn_with};

fn body(id: &str) -> Vec<u8> {
    serde_json::to_vec(&samples::webhook(id, 4, None, "queue-1")).unwrap_or_default()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `bytes` with the given extra headers; status, JSON and the
/// `Retry-After` header.
async fn post(
    app: &TestApp,
    bytes: Vec<u8>,
    headers: &[(&str, String)],
) -> (u16, serde_json::Value, Option<String>) {
    let mut request = app
        .http
        .post(app.url("/webhooks/survey"))
        .header("content-type", "application/json")
        .body(bytes);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json = response.json().await.unwrap_or_default();
    (status, json, retry_after)
}

fn error(json: &serde_json::Value) -> String {
    json["error"].as_str().unwrap_or_default().to_lowercase()
}

fn timestamped(secret: &str, at: i64, bytes: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-signature-timestamp", at.to_string()),
        ("x-signature-256", sign_timestamped(secret, at, bytes)),
    ]
}

#[tokio::test]
async fn required_timestamps_refuse_missing_stale_and_future_ones() {
    let mut config = config(survey_test_support::kafka_settings());
    config.auth.require_timestamp = true;
    let app = spawn_with(config).await;

    let fresh = body(&unique("replay-fresh"));
    let (status, json, _) = post(
        &app,
        fresh.clone(),
        &timestamped(SECRET, now_secs(), &fresh),
    )
    .await;
    assert_eq!(status, 202, "{json}");

    let cases = [
        (
            "plain signature",
            vec![("x-signature-256", sign(SECRET, &fresh))],
            "missing x-signature-timestamp",
        ),
        (
            "ten minutes old",
            timestamped(SECRET, now_secs() - 600, &fresh),
            "stale",
        ),
        (
            "ten minutes ahead",
            timestamped(SECRET, now_secs() + 600, &fresh),
            "in the future",
        ),
        (
            "not a number",
            vec![
                ("x-signature-timestamp", "yesterday".to_owned()),
                ("x-signature-256", sign(SECRET, &fresh)),
            ],
            "whole seconds",
        ),
        (
            "fresh timestamp, signature of another one",
            vec![
                ("x-signature-timestamp", now_secs().to_string()),
                (
                    "x-signature-256",
                    sign_timestamped(SECRET, now_secs() - 600, &fresh),
                ),
            ],
            "invalid signature",
        ),
    ];
    for (name, headers, message) in cases {
        let (status, json, _) = post(&app, fresh.clone(), &headers).await;
        assert_eq!(status, 401, "{name}: {json}");
        assert!(error(&json).contains(message), "{name}: {json}");
    }
    let count = survey_test_support::record_count(&app.kafka, &app.raw_topic()).unwrap_or(-1);
    assert_eq!(count, 1, "only the fresh request was published");
}

#[tokio::test]
async fn without_the_requirement_plain_and_timestamped_signatures_both_work() {
    let app = spawn_with(config(survey_test_support::kafka_settings())).await;
    let plain = body(&unique("plain"));
    let (status, json, _) = post(
        &app,
        plain.clone(),
        &[("x-signature-256", sign(SECRET, &plain))],
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let stamped = body(&unique("stamped"));
    let (status, json, _) = post(
        &app,
        stamped.clone(),
        &timestamped(SECRET, now_secs(), &stamped),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    // A sender that signs timestamps is protected even so.
    let (status, json, _) = post(
        &app,
        stamped.clone(),
        &timestamped(SECRET, now_secs() - 3600, &stamped),
    )
    .await;
    assert_eq!(status, 401, "{json}");
    assert!(error(&json).contains("stale"), "{json}");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_and_both_tokens_pass_and_a_third_does_not() {
    let mut config = config(survey_test_support::kafka_settings());
    let secret = |value: &str| Some(SecretString::from(value.to_owned()));
    config.auth.webhook_secret_previous = secret("previous-secret");
    config.auth.webhook_token = secret("current-token");
    config.auth.webhook_token_previous = secret("previous-token");
    let app = spawn_with(config).await;

    for key in [SECRET, "previous-secret"] {
        let bytes = body(&unique("rotate"));
        let (status, json, _) = post(
            &app,
            bytes.clone(),
            &[("x-signature-256", sign(key, &bytes))],
        )
        .await;
        assert_eq!(status, 202, "{key}: {json}");
    }
    for token in ["current-token", "previous-token"] {
        let (status, json, _) = post(
            &app,
            body(&unique("rotate")),
            &[("authorization", format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(status, 202, "{token}: {json}");
    }
    let bytes = body(&unique("rotate"));
    let (status, _, _) = post(
        &app,
        bytes.clone(),
        &[("x-signature-256", sign("third-secret", &bytes))],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = post(
        &app,
        bytes,
        &[("authorization", "Bearer third-token".to_owned())],
    )
    .await;
    assert_eq!(status, 401);
    let count = survey_test_support::record_count(&app.kafka, &app.raw_topic()).unwrap_or(-1);
    assert_eq!(count, 4);
}

#[tokio::test]
async fn a_source_over_its_rate_gets_429_with_retry_after_and_probes_do_not() {
    let mut config = config(survey_test_support::kafka_settings());
    config.limits.rate_per_source = 1;
    config.limits.burst_per_source = 3;
    let app = spawn_with(config).await;

    // Unsigned requests: the rate is checked before the credentials.
    let mut statuses = Vec::new();
    let mut last = (0, serde_json::Value::Null, None);
    for _ in 0..5 {
        last = post(&app, body("rate"), &[]).await;
        statuses.push(last.0);
    }
    assert_eq!(statuses[..3], [401, 401, 401], "{statuses:?}");
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
    let (_, json, retry_after) = last;
    assert!(error(&json).contains("too many requests"), "{json}");
    let seconds: u64 = retry_after.and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((1..=2).contains(&seconds), "Retry-After {seconds}");

    for _ in 0..5 {
        let health = app
            .http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(health.status(), 200);
    }
    // The allowance comes back.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, _, _) = post(&app, body("rate"), &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn header_limits_answer_431_with_a_json_error_and_the_body_limit_413() {
    let mut config = config(survey_test_support::kafka_settings());
    config.limits.max_header_count = 20;
    config.limits.max_header_bytes = 4 * 1024;
    config.max_body_bytes = 1024;
    let app = spawn_with(config).await;
    let bytes = body("limits");

    let many: Vec<(&str, String)> = (0..25)
        .map(|i| (["x-a", "x-b", "x-c", "x-d", "x-e"][i % 5], i.to_string()))
        .collect();
    let (status, json, _) = post(&app, bytes.clone(), &many).await;
    assert_eq!(status, 431, "{json}");
    assert!(error(&json).contains("too many request headers"), "{json}");

    let big = vec![("x-padding", "a".repeat(5 * 1024))];
    let (status, json, _) = post(&app, bytes.clone(), &big).await;
    assert_eq!(status, 431, "{json}");
    assert!(error(&json).contains("exceed 4096 bytes"), "{json}");

    let large = serde_json::to_vec(&samples::webhook("limits", 4, Some(&"x".repeat(2048)), "q"))
        .unwrap_or_default();
    let signature = sign(SECRET, &large);
    let (status, json, _) = post(&app, large, &[("x-signature-256", signature)]).await;
    assert_eq!(status, 413, "{json}");
    assert!(error(&json).contains("1024 bytes"), "{json}");
}
