//! The fake Slack Web API.

use reqwest::StatusCode;
use serde_json::{Value, json};
use survey_sandbox::{Fault, Route, Seed, SlackMethod};

use crate::helpers::{TestResult, header, spawn_sandbox};

#[tokio::test]
async fn post_then_update_the_same_message() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let blocks =
        json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "*Low score* 2/10" } }]);
    let posted: Value = app
        .slack(
            "chat.postMessage",
            json!({ "channel": "#billing-alerts", "text": "Low score 2/10", "blocks": blocks }),
        )
        .await?
        .json()
        .await?;
    assert_eq!(posted["ok"], true);
    let channel = posted["channel"].as_str().ok_or("no channel")?.to_owned();
    let ts = posted["ts"].as_str().ok_or("no ts")?.to_owned();
    assert!(channel.starts_with('C'));
    assert!(ts.contains('.') && ts.split('.').nth(1).is_some_and(|m| m.len() == 6));
    assert_eq!(posted["message"]["text"], "Low score 2/10");
    assert_eq!(posted["message"]["blocks"], blocks);

    let updated: Value = app
        .slack(
            "chat.update",
            json!({ "channel": channel, "ts": ts, "text": "Low score 2/10 — acknowledged" }),
        )
        .await?
        .json()
        .await?;
    assert_eq!(updated["ok"], true);
    assert_eq!(updated["ts"], ts.as_str());
    assert_eq!(updated["channel"], channel.as_str());
    assert_eq!(updated["text"], "Low score 2/10 — acknowledged");

    let second: Value = app
        .slack(
            "chat.postMessage",
            json!({ "channel": "#billing-alerts", "text": "another" }),
        )
        .await?
        .json()
        .await?;
    assert_ne!(second["ts"], ts.as_str());

    let messages = app.sandbox.state().slack_messages();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].method, SlackMethod::PostMessage);
    assert_eq!(messages[0].channel, "#billing-alerts");
    assert_eq!(messages[0].blocks.as_ref(), Some(&blocks));
    assert_eq!(messages[1].method, SlackMethod::Update);
    assert_eq!(messages[1].ts, ts);
    assert_eq!(
        messages[1].text.as_deref(),
        Some("Low score 2/10 — acknowledged")
    );

    let unknown: Value = app
        .slack(
            "chat.update",
            json!({ "channel": channel, "ts": "1.000001", "text": "x" }),
        )
        .await?
        .json()
        .await?;
    assert_eq!(
        unknown,
        json!({ "ok": false, "error": "message_not_found" })
    );
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_channels_and_missing_tokens_are_refused() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let missing = app
        .slack(
            "chat.postMessage",
            json!({ "channel": "#missing-team", "text": "hi" }),
        )
        .await?;
    assert_eq!(missing.status(), StatusCode::OK);
    assert_eq!(
        missing.json::<Value>().await?,
        json!({ "ok": false, "error": "channel_not_found" })
    );
    app.sandbox.state().add_missing_channel("archived");
    let archived: Value = app
        .slack(
            "chat.postMessage",
            json!({ "channel": "#archived", "text": "hi" }),
        )
        .await?
        .json()
        .await?;
    assert_eq!(archived["error"], "channel_not_found");

    let anonymous: Value = app
        .client
        .post(format!("{}/api/chat.postMessage", app.base))
        .json(&json!({ "channel": "#alerts", "text": "hi" }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(anonymous, json!({ "ok": false, "error": "not_authed" }));
    let no_text: Value = app
        .slack("chat.postMessage", json!({ "channel": "#alerts" }))
        .await?
        .json()
        .await?;
    assert_eq!(no_text["error"], "no_text");
    assert!(app.sandbox.state().slack_messages().is_empty());
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rate_limited_with_retry_after_then_accepted() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    app.sandbox
        .state()
        .fail_next(Route::Slack, Fault::rate_limited(3, 1));
    let body = json!({ "channel": "#alerts", "text": "Low score" });
    let limited = app.slack("chat.postMessage", body.clone()).await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after"), Some("3"));
    assert_eq!(
        limited.json::<Value>().await?,
        json!({ "ok": false, "error": "ratelimited" })
    );
    let accepted: Value = app.slack("chat.postMessage", body).await?.json().await?;
    assert_eq!(accepted["ok"], true);
    assert_eq!(app.sandbox.state().slack_messages().len(), 1);
    app.sandbox.shutdown().await;
    Ok(())
}
