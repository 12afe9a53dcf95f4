//! The fake Teams incoming webhook and its Graph read-back.

use reqwest::StatusCode;
use serde_json::{Value, json};
use survey_sandbox::{ADAPTIVE_CARD, Route, Seed};

use crate::helpers::{TestResult, TestSandbox, spawn_sandbox};

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

fn card(text: &str) -> serde_json::Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": ADAPTIVE_CARD,
            "contentUrl": null,
            "content": {
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "Container", "id": format!("survey-alert-{text}"), "items": [
                    {"type": "TextBlock", "text": text},
                ]}],
            },
        }],
    })
}

/// A Graph token through the sandbox's client-credentials endpoint.
async fn graph_token(app: &TestSandbox, client_id: &str) -> reqwest::Result<reqwest::Response> {
    app.client
        .post(format!(
            "{}/teams/login/tenant-1/oauth2/v2.0/token",
            app.base
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret=s%2Bcret\
             &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        ))
        .send()
        .await
}

/// A page of channel messages at `url`, read with the Graph token `token`.
async fn graph_page(
    app: &TestSandbox,
    url: &str,
    token: &str,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    Ok(app
        .client
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn messages_url(app: &TestSandbox, webhook: &str) -> String {
    format!(
        "{}/teams/graph/v1.0/teams/team-{webhook}/channels/19:{webhook}@thread.tacv2/messages",
        app.base
    )
}

#[tokio::test]
async fn graph_lists_a_webhooks_cards_newest_first_page_by_page() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    for (webhook, text) in [("billing", "one"), ("bots", "other"), ("billing", "two")] {
        let response = app
            .client
            .post(format!("{}/teams/{webhook}", app.base))
            .json(&card(text))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let cards = app.sandbox.state().teams_cards();
    assert_eq!(cards[0].team_id, "team-billing");
    assert_eq!(cards[0].channel_id, "19:billing@thread.tacv2");
    assert!(cards[2].message_id.parse::<i64>()? > cards[0].message_id.parse::<i64>()?);

    let token = graph_token(&app, "app-1").await?;
    assert_eq!(token.status(), StatusCode::OK);
    let token: Value = token.json().await?;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3599);
    let token = token["access_token"].as_str().ok_or("no token")?.to_owned();

    let first = graph_page(
        &app,
        &format!("{}?$top=1", messages_url(&app, "billing")),
        &token,
    )
    .await?;
    let messages = first["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], cards[2].message_id.as_str());
    assert_eq!(
        messages[0]["channelIdentity"]["channelId"],
        "19:billing@thread.tacv2"
    );
    let attachment = &messages[0]["attachments"][0];
    assert_eq!(attachment["contentType"], ADAPTIVE_CARD);
    let content: Value = serde_json::from_str(attachment["content"].as_str().ok_or("no content")?)?;
    assert_eq!(content, cards[2].card);
    assert!(
        messages[0]["createdDateTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let next = first["@odata.nextLink"].as_str().ok_or("no nextLink")?;
    assert!(next.starts_with(&app.base), "{next}");
    let second = graph_page(&app, next, &token).await?;
    assert_eq!(second["value"][0]["id"], cards[0].message_id.as_str());
    assert!(second.get("@odata.nextLink").is_none());
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn graph_refuses_bad_tokens_ids_and_pages_and_shares_teams_faults() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let url = messages_url(&app, "billing");
    let anonymous = app.client.get(&url).send().await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = anonymous.json().await?;
    assert_eq!(refused["error"]["code"], "InvalidAuthenticationToken");

    let unknown_app = graph_token(&app, "invalid-app").await?;
    assert_eq!(unknown_app.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown_app.json::<Value>().await?["error"],
        "unauthorized_client"
    );

    let token: Value = graph_token(&app, "app-1").await?.json().await?;
    let token = token["access_token"].as_str().ok_or("no token")?.to_owned();
    let empty = graph_page(&app, &url, &token).await?;
    assert_eq!(empty["value"], json!([]));
    let mismatched = app
        .client
        .get(format!(
            "{}/teams/graph/v1.0/teams/team-billing/channels/19:bots@thread.tacv2/messages",
            app.base
        ))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(mismatched.status(), StatusCode::NOT_FOUND);
    let too_many = app
        .client
        .get(format!("{url}?$top=51"))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(too_many.status(), StatusCode::BAD_REQUEST);

    app.sandbox.state().set_down(Route::Teams, true);
    let down = app.client.get(&url).bearer_auth(&token).send().await?;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        graph_token(&app, "app-1").await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.sandbox.state().set_down(Route::Teams, false);

    app.sandbox.state().revoke_teams_tokens();
    let revoked = app.client.get(&url).bearer_auth(&token).send().await?;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    app.sandbox.shutdown().await;
    Ok(())
}
