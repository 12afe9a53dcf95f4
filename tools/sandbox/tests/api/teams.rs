//! The fake Teams incoming webhook.

use reqwest::StatusCode;
use serde_json::json;
use survey_sandbox::{ADAPTIVE_CARD, Seed};

use crate::helpers::{TestResult, spawn_sandbox};

#[tokio::test]
async fn adaptive_cards_are_recorded_and_answered_with_1() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [{ "type": "TextBlock", "text": "Low survey score: 2/10", "wrap": true }],
    });
    let payload = json!({
        "type": "message",
        "attachments": [{ "contentType": ADAPTIVE_CARD, "contentUrl": null, "content": card }],
    });
    let response = app
        .client
        .post(format!("{}/teams/billing-supervisors", app.base))
        .json(&payload)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await?, "1");
    let cards = app.sandbox.state().teams_cards();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].webhook_id, "billing-supervisors");
    assert_eq!(cards[0].card, card);

    let deleted = app
        .client
        .post(format!("{}/teams/invalid-webhook", app.base))
        .json(&payload)
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    let not_a_card = app
        .client
        .post(format!("{}/teams/billing-supervisors", app.base))
        .json(&json!({ "text": "legacy message card" }))
        .send()
        .await?;
    assert_eq!(not_a_card.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.sandbox.state().teams_cards().len(), 1);
    app.sandbox.shutdown().await;
    Ok(())
}
