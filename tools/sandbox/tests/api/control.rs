//! The HTTP control endpoints, the deliveries page and waiting for deliveries.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use survey_sandbox::{ADAPTIVE_CARD, Seed};

use crate::helpers::{TestResult, spawn_sandbox};

fn card_message(text: &str) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": ADAPTIVE_CARD,
            "content": { "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock", "text": text }] },
        }],
    })
}

#[tokio::test]
async fn faults_seeds_and_deliveries_over_http() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let post = |path: &str, body: Value| {
        app.client
            .post(format!("{}{path}", app.base))
            .json(&body)
            .send()
    };

    let added = post(
        "/sandbox/faults",
        json!({ "route": "teams", "fault": { "kind": "status", "code": 503, "retry_after_secs": 1 } }),
    )
    .await?;
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    let webhook = format!("{}/teams/ops", app.base);
    let failed = app
        .client
        .post(&webhook)
        .json(&card_message("first"))
        .send()
        .await?;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(failed.headers().contains_key("retry-after"));
    let ok = app
        .client
        .post(&webhook)
        .json(&card_message("Low score <b>2</b>"))
        .send()
        .await?;
    assert_eq!(ok.status(), StatusCode::OK);

    post("/sandbox/down", json!({ "route": "teams", "down": true })).await?;
    let down = app
        .client
        .post(&webhook)
        .json(&card_message("x"))
        .send()
        .await?;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let cleared = app
        .client
        .delete(format!("{}/sandbox/faults", app.base))
        .send()
        .await?;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);

    let seeded = post(
        "/sandbox/seed/conversation",
        json!({
            "id": "conv-http",
            "media_type": "voice",
            "start": "2030-01-01T10:00:00Z",
            "end": "2030-01-01T10:05:00Z",
            "queue_id": "q-http",
            "handled_by": { "kind": "agent", "user_id": "u-http", "name": "Ann Agent" },
            "wrapup": { "code": "w1", "name": "Other" },
            "recording_ready_after_polls": 0,
        }),
    )
    .await?;
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let token = app.token().await?;
    let conversation: Value = app
        .genesys_get(&token, "/api/v2/conversations/conv-http")
        .await?
        .json()
        .await?;
    assert_eq!(conversation["startTime"], "2030-01-01T10:00:00.000Z");
    assert_eq!(conversation["participants"][3]["userId"], "u-http");
    let user = app.genesys_get(&token, "/api/v2/users/u-http").await?;
    assert_eq!(
        user.status(),
        StatusCode::OK,
        "agents of seeded conversations are users"
    );

    let deliveries: Value = app
        .client
        .get(format!("{}/sandbox/deliveries", app.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(deliveries["teams"].as_array().map(Vec::len), Some(1));
    assert_eq!(deliveries["teams"][0]["webhook_id"], "ops");

    let page = app
        .client
        .get(format!("{}/", app.base))
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("Low score &lt;b&gt;2&lt;/b&gt;"), "{page}");

    let requests: Value = app
        .client
        .get(format!("{}/sandbox/requests", app.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        requests["genesys_calls"]["GET /api/v2/conversations/{conversationId}"],
        1
    );

    let reset = post("/sandbox/reset", json!({})).await?;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert!(app.sandbox.state().teams_cards().is_empty());
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn wait_for_wakes_on_delivery() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let state = app.sandbox.state();
    let client = app.client.clone();
    let webhook = format!("{}/teams/ops", app.base);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client
            .post(webhook)
            .json(&card_message("late"))
            .send()
            .await
    });
    let arrived = state
        .wait_for(Duration::from_secs(5), |s| !s.teams_cards().is_empty())
        .await;
    assert!(arrived);
    sender.await??;
    let nothing = state
        .wait_for(Duration::from_millis(50), |s| !s.emails().is_empty())
        .await;
    assert!(!nothing);
    app.sandbox.shutdown().await;
    Ok(())
}
