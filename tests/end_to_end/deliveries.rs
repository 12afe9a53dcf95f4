use std::time::Duration;

use survey_demo::samples::{post_signed, webhook};
use survey_demo::{PipelineOptions, RunningPipeline, start_pipeline};
use survey_sandbox::{
    ConversationSeed, Fault, HandledBy, MediaType, Route, Sandbox, SandboxConfig, SandboxState,
    SlackMessage, SlackMethod, demo,
};

const WAIT: Duration = Duration::from_secs(60);

struct Run {
    sandbox: Sandbox,
    pipeline: RunningPipeline,
    http: reqwest::Client,
    id: String,
}

impl Run {
    async fn start() -> Self {
        let sandbox = Sandbox::start(SandboxConfig {
            quiet: true,
            ..SandboxConfig::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox: {e:#}"));
        let kafka = survey_test_support::kafka_settings();
        let pipeline = start_pipeline(PipelineOptions::quick(kafka), &sandbox)
            .await
            .unwrap_or_else(|e| panic!("pipeline: {e:#}"));
        Self {
            sandbox,
            pipeline,
            http: reqwest::Client::new(),
            id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        }
    }

    fn state(&self) -> SandboxState {
        self.sandbox.state()
    }

    fn response_id(&self, name: &str) -> String {
        format!("{}-{name}", self.id)
    }

    async fn post(&self, body: &serde_json::Value) {
        let status = post_signed(&self.http, self.pipeline.ingest_addr, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 202);
    }

    /// A conversation of its own, handled by Priya in the Billing queue.
    fn conversation(&self, name: &str, ready_after_polls: u32) -> String {
        let id = format!("{}-{name}", self.id);
        self.state().add_conversation(
            ConversationSeed::new(
                &id,
                MediaType::Voice,
                HandledBy::Agent {
                    user_id: demo::AGENT_PRIYA_ID.to_owned(),
                    name: "Priya Nair".to_owned(),
                },
            )
            .queue(demo::BILLING_QUEUE_ID)
            .recording_ready_after(ready_after_polls),
        );
        id
    }

    async fn stop(self) {
        self.pipeline
            .stop()
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.sandbox.shutdown().await;
    }
}

fn about(messages: &[SlackMessage], alert_id: &str) -> Vec<SlackMessage> {
    messages
        .iter()
        .filter(|m| m.body.to_string().contains(alert_id))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_low_score_reaches_slack_teams_email_and_coaching_once() {
    let run = Run::start().await;
    let low = run.response_id("low");
    let body = webhook(
        &low,
        demo::VOICE_CONVERSATION_ID,
        2,
        Some("The agent was \"rude\" & <hung up>."),
        Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
    );
    run.post(&body).await;
    run.post(&body).await; // a webhook retry
    let bot = run.response_id("bot");
    run.post(&webhook(
        &bot,
        demo::BOT_CHAT_CONVERSATION_ID,
        1,
        Some("loops"),
        None,
    ))
    .await;
    let happy = run.response_id("happy");
    run.post(&webhook(
        &happy,
        demo::VOICE_CONVERSATION_ID,
        5,
        None,
        Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
    ))
    .await;

    let state = run.state();
    let arrived = state
        .wait_for(WAIT, |s| {
            let slack = s.slack_messages();
            !about(&slack, &low).is_empty()
                && !about(&slack, &bot).is_empty()
                && !s.emails().is_empty()
                && s.teams_cards().len() >= 2
                && !s.coaching_appointments().is_empty()
        })
        .await;
    assert!(arrived, "deliveries: {:?}", state.deliveries());
    // Let any duplicate show itself.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let slack = state.slack_messages();
    let low_messages = about(&slack, &low);
    assert_eq!(
        low_messages.len(),
        1,
        "the duplicate webhook is delivered once"
    );
    let message = &low_messages[0];
    assert_eq!(message.channel, "#billing-supervisors");
    let text = message.body.to_string();
    for expected in [
        "Priya Nair",
        demo::AGENT_PRIYA_ID,
        "2/5",
        "Billing Support",
        "rude",
        "&amp;",
        "&lt;hung up&gt;",
        "/recordings/",
        demo::VOICE_CONVERSATION_ID,
        "csat 2 is below 3",
    ] {
        assert!(
            text.contains(expected),
            "Slack message lacks {expected}: {text}"
        );
    }
    let latency = message.received_at.timestamp_millis()
        - chrono::DateTime::parse_from_rfc3339(
            body["data"]["submittedAt"].as_str().unwrap_or_default(),
        )
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    println!("end to end, submittedAt -> Slack sink: {latency} ms");

    let bot_messages = about(&slack, &bot);
    assert_eq!(bot_messages.len(), 1);
    assert_eq!(bot_messages[0].channel, "#bot-dev");
    assert!(about(&slack, &happy).is_empty());

    let emails = state.emails();
    assert_eq!(emails.len(), 1, "one e-mail for the one human-agent alert");
    assert_eq!(emails[0].to, vec!["billing-leads@example.com".to_owned()]);
    assert!(
        emails[0]
            .subject
            .as_deref()
            .is_some_and(|s| s.contains("2/5"))
    );
    let teams = state.teams_cards();
    assert_eq!(
        teams.iter().filter(|c| c.webhook_id == "billing").count(),
        1
    );
    assert_eq!(
        teams.iter().filter(|c| c.webhook_id == "bot-dev").count(),
        1
    );
    assert_eq!(state.coaching_appointments().len(), 1);
    run.stop().await;
}

#[tokio::test]
async fn a_late_recording_updates_the_slack_message_in_place() {
    let run = Run::start().await;
    let conversation = run.conversation("late", 2);
    let late = run.response_id("late");
    run.post(&webhook(
        &late,
        &conversation,
        1,
        None,
        Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
    ))
    .await;
    let state = run.state();
    let updated = state
        .wait_for(WAIT, |s| about(&s.slack_messages(), &late).len() >= 2)
        .await;
    assert!(updated, "no update: {:?}", state.slack_messages());
    let messages = about(&state.slack_messages(), &late);
    assert!(matches!(messages[0].method, SlackMethod::PostMessage));
    assert!(matches!(messages[1].method, SlackMethod::Update));
    assert_eq!(messages[0].ts, messages[1].ts, "updated in place");
    assert!(
        messages[0].body.to_string().contains("Recording pending")
            || !messages[0].body.to_string().contains("/recordings/")
    );
    assert!(messages[1].body.to_string().contains("/recordings/"));
    run.stop().await;
}

#[tokio::test]
async fn slack_429_is_honoured_and_a_restarted_notifier_repeats_nothing() {
    let mut run = Run::start().await;
    run.state()
        .fail_next(Route::Slack, Fault::rate_limited(1, 1));
    let ids: Vec<String> = (0..4)
        .map(|i| run.response_id(&format!("burst-{i}")))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let conversation = run.conversation(&format!("burst-{i}"), 0);
        run.post(&webhook(
            id,
            &conversation,
            1,
            None,
            Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
        ))
        .await;
    }
    let state = run.state();
    let first = state
        .wait_for(WAIT, |s| {
            ids.iter()
                .any(|id| !about(&s.slack_messages(), id).is_empty())
        })
        .await;
    assert!(first, "nothing was delivered");

    // Restart the notifier mid-stream: the old one drains and leaves, a new
    // one reads the ledger back and takes over.
    run.pipeline.notifier_shutdown.trigger();
    let shutdown = survey_runtime::Shutdown::new();
    let fresh = survey_notifier::start(run.pipeline.notifier_config.clone(), shutdown.clone())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let old = std::mem::replace(&mut run.pipeline.notifier, fresh);
    run.pipeline.notifier_shutdown = shutdown;
    old.wait().await.unwrap_or_else(|e| panic!("{e:#}"));

    let all = state
        .wait_for(WAIT, |s| {
            ids.iter()
                .all(|id| !about(&s.slack_messages(), id).is_empty())
        })
        .await;
    assert!(all, "an alert was lost: {:?}", state.slack_messages());
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in &ids {
        let posts = about(&state.slack_messages(), id);
        assert_eq!(
            posts.len(),
            1,
            "alert {id} was delivered {} times",
            posts.len()
        );
    }
    let limited = state.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 1, "the 429 was answered once and then honoured");
    run.stop().await;
}
