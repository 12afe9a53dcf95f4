//! The fake Slack's read methods: `conversations.list` and
//! `conversations.history`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use survey_sandbox::{Route, Seed};

use crate::helpers::{TestResult, TestSandbox, spawn_sandbox};

/// `GET {base}/api/{method}?{args}` as a Slack bot.
async fn read(app: &TestSandbox, method: &str, args: &[(&str, &str)]) -> reqwest::Result<Value> {
    let mut url = reqwest::Url::parse(&format!("{}/api/{method}", app.base))
        .unwrap_or_else(|e| panic!("{e}"));
    url.query_pairs_mut().extend_pairs(args);
    app.client
        .get(url)
        .bearer_auth("xoxb-sandbox-test")
        .send()
        .await?
        .json()
        .await
}

/// Posts `text` to `channel`, with metadata naming `key` if given; the ts.
async fn post(
    app: &TestSandbox,
    channel: &str,
    text: &str,
    key: Option<&str>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut body = json!({ "channel": channel, "text": text });
    if let Some(key) = key {
        body["metadata"] =
            json!({ "event_type": "survey_alert", "event_payload": { "attempt_key": key } });
    }
    let posted: Value = app.slack("chat.postMessage", body).await?.json().await?;
    Ok(posted["ts"].as_str().ok_or("no ts")?.to_owned())
}

fn texts(page: &Value) -> Vec<&str> {
    page["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn history_pages_newest_first_with_metadata_on_request() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let first = post(&app, "#alerts", "one", Some("k1")).await?;
    post(&app, "#alerts", "two", None).await?;
    let third = post(&app, "#alerts", "three", Some("k3")).await?;
    post(&app, "#other", "elsewhere", None).await?;
    let updated: Value = app
        .slack(
            "chat.update",
            json!({ "channel": "#alerts", "ts": third, "text": "three, edited" }),
        )
        .await?
        .json()
        .await?;
    assert_eq!(updated["ok"], true);

    let list = read(
        &app,
        "conversations.list",
        &[("types", "public_channel,private_channel")],
    )
    .await?;
    let alerts = list["channels"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "alerts"))
        .and_then(|c| c["id"].as_str())
        .ok_or("#alerts not listed")?
        .to_owned();

    let args = [
        ("channel", alerts.as_str()),
        ("include_all_metadata", "true"),
        ("limit", "2"),
    ];
    let page = read(&app, "conversations.history", &args).await?;
    assert_eq!(page["ok"], true);
    assert_eq!(texts(&page), ["three, edited", "two"]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["messages"][0]["ts"], third.as_str());
    assert_eq!(page["messages"][0]["bot_id"], "B0SANDBOX1");
    assert_eq!(
        page["messages"][0]["metadata"]["event_payload"]["attempt_key"],
        "k3"
    );
    assert!(page["messages"][1].get("metadata").is_none());
    let cursor = page["response_metadata"]["next_cursor"]
        .as_str()
        .ok_or("no cursor")?
        .to_owned();
    let rest = read(
        &app,
        "conversations.history",
        &[
            ("channel", alerts.as_str()),
            ("include_all_metadata", "true"),
            ("limit", "2"),
            ("cursor", &cursor),
        ],
    )
    .await?;
    assert_eq!(texts(&rest), ["one"]);
    assert_eq!(rest["has_more"], false);
    assert!(rest.get("response_metadata").is_none());

    // Metadata only on request; `oldest` itself is left out.
    let plain = read(
        &app,
        "conversations.history",
        &[("channel", &alerts), ("oldest", &first)],
    )
    .await?;
    assert_eq!(texts(&plain), ["three, edited", "two"]);
    assert!(plain["messages"][0].get("metadata").is_none());

    // The read methods take form bodies too.
    let form: Value = app
        .client
        .post(format!("{}/api/conversations.history", app.base))
        .bearer_auth("xoxb-sandbox-test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("channel={alerts}&include_all_metadata=1"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(texts(&form), ["three, edited", "two", "one"]);
    assert_eq!(
        form["messages"][2]["metadata"]["event_payload"]["attempt_key"],
        "k1"
    );
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn list_pages_through_the_channels_posted_to() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    for channel in ["#a-team", "#b-team", "#c-team"] {
        post(&app, channel, "hi", None).await?;
    }
    let page = read(&app, "conversations.list", &[("limit", "2")]).await?;
    let names = |page: &Value| -> Vec<String> {
        page["channels"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&page), ["a-team", "b-team"]);
    let cursor = page["response_metadata"]["next_cursor"]
        .as_str()
        .ok_or("no cursor")?;
    assert!(!cursor.is_empty());
    let rest = read(
        &app,
        "conversations.list",
        &[("limit", "2"), ("cursor", cursor)],
    )
    .await?;
    assert_eq!(names(&rest), ["c-team"]);
    assert_eq!(rest["response_metadata"]["next_cursor"], "");

    let ims = read(&app, "conversations.list", &[("types", "im")]).await?;
    assert_eq!(ims["channels"], json!([]));
    app.sandbox.state().add_missing_channel("b-team");
    let now = read(&app, "conversations.list", &[]).await?;
    assert_eq!(names(&now), ["a-team", "c-team"]);
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn history_refuses_names_bad_arguments_and_anonymous_callers() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    post(&app, "#alerts", "hi", None).await?;
    let error = |page: Value| page["error"].as_str().map(str::to_owned);

    let by_name = read(&app, "conversations.history", &[("channel", "#alerts")]).await?;
    assert_eq!(error(by_name).as_deref(), Some("channel_not_found"));
    app.sandbox.state().add_missing_channel("C0MISSING01");
    let missing = read(&app, "conversations.history", &[("channel", "C0MISSING01")]).await?;
    assert_eq!(error(missing).as_deref(), Some("channel_not_found"));
    for (name, value, code) in [
        ("cursor", "not-a-cursor", "invalid_cursor"),
        ("oldest", "yesterday", "invalid_ts_oldest"),
        ("latest", "1.2.3", "invalid_ts_latest"),
        ("limit", "many", "invalid_limit"),
    ] {
        let page = read(
            &app,
            "conversations.history",
            &[("channel", "C0123456789"), (name, value)],
        )
        .await?;
        assert_eq!(error(page).as_deref(), Some(code), "{name}={value}");
    }
    let anonymous: Value = app
        .client
        .get(format!(
            "{}/api/conversations.history?channel=C0123456789",
            app.base
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(anonymous, json!({ "ok": false, "error": "not_authed" }));

    // An outage of Slack takes the reads down too.
    app.sandbox.state().set_down(Route::Slack, true);
    let down = app
        .client
        .get(format!(
            "{}/api/conversations.history?channel=C0123456789",
            app.base
        ))
        .bearer_auth("xoxb-sandbox-test")
        .send()
        .await?;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.sandbox.shutdown().await;
    Ok(())
}
