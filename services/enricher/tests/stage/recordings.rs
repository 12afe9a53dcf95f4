use survey_contracts::topics;
use survey_enricher::recording::RecordingMode;
use survey_sandbox::{ConversationSeed, HandledBy, MediaType, demo};

use crate::helpers::{ARRIVAL, Harness, actionable, unique};

fn late_recording(harness: &Harness, ready_after_polls: Option<u32>) -> String {
    let conversation = unique("late");
    let mut seed = ConversationSeed::new(
        &conversation,
        MediaType::Voice,
        HandledBy::Agent {
            user_id: demo::AGENT_TOM_ID.to_owned(),
            name: "Tom Becker".to_owned(),
        },
    )
    .queue(demo::BILLING_QUEUE_ID);
    if let Some(polls) = ready_after_polls {
        seed = seed.recording_ready_after(polls);
    }
    harness.sandbox.state().add_conversation(seed);
    conversation
}

#[tokio::test]
async fn a_recording_ready_on_the_third_poll_gives_a_pending_alert_then_a_ready_revision() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    let conversation = late_recording(&harness, Some(2));
    let id = unique("late");
    harness
        .send(&actionable(&id, &conversation, Some(demo::AGENT_TOM_ID)))
        .await;

    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 2, ARRIVAL).await;
    let summary: Vec<_> = alerts
        .iter()
        .map(|a| (a.revision, a.recording.status.as_str()))
        .collect();
    assert_eq!(summary, vec![(1, "pending"), (2, "ready")]);
    assert!(alerts[1].recording.url.is_some());
    assert_eq!(harness.sandbox.state().recording_polls(&conversation), 3);
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_recording_never_ready_gives_an_unavailable_revision_after_the_limit() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    let conversation = late_recording(&harness, None);
    let id = unique("never");
    harness
        .send(&actionable(&id, &conversation, Some(demo::AGENT_TOM_ID)))
        .await;

    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 2, ARRIVAL).await;
    let summary: Vec<_> = alerts
        .iter()
        .map(|a| (a.revision, a.recording.status.as_str()))
        .collect();
    assert_eq!(summary, vec![(1, "pending"), (2, "unavailable")]);
    // Checked every 300 ms for 3 s: several polls, none after giving up.
    let polls = harness.sandbox.state().recording_polls(&conversation);
    assert!((5..=12).contains(&polls), "{polls} polls");
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn wait_mode_holds_the_alert_until_the_recording_is_ready() {
    let harness = Harness::new().await;
    let mut config = harness.config();
    config.recording.mode = RecordingMode::Wait;
    let (enricher, shutdown) = harness.start(config).await;
    let ready_later = late_recording(&harness, Some(2));
    let never = late_recording(&harness, None);
    let ready_id = unique("wait-ready");
    let never_id = unique("wait-never");
    harness
        .send(&actionable(
            &ready_id,
            &ready_later,
            Some(demo::AGENT_TOM_ID),
        ))
        .await;
    harness
        .send(&actionable(&never_id, &never, Some(demo::AGENT_TOM_ID)))
        .await;

    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 2, ARRIVAL).await;
    assert_eq!(alerts.len(), 2, "one alert each, no pending first issue");
    let ready = alerts
        .iter()
        .find(|a| a.alert_id == ready_id)
        .unwrap_or_else(|| panic!("missing"));
    assert_eq!(
        (ready.revision, ready.recording.status.as_str()),
        (1, "ready")
    );
    let held = alerts
        .iter()
        .find(|a| a.alert_id == never_id)
        .unwrap_or_else(|| panic!("missing"));
    assert_eq!(
        (held.revision, held.recording.status.as_str()),
        (1, "pending")
    );
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
