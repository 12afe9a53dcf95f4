use survey_contracts::topics;
use survey_sandbox::demo;

use crate::helpers::{ARRIVAL, Harness, actionable, unique};

#[tokio::test]
async fn a_low_score_for_a_human_agent_carries_everything_a_supervisor_needs() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    let id = unique("human");
    harness
        .send(&actionable(
            &id,
            demo::VOICE_CONVERSATION_ID,
            Some(demo::AGENT_PRIYA_ID),
        ))
        .await;

    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 1, ARRIVAL).await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert.alert_id, id);
    assert_eq!(alert.revision, 1);
    assert_eq!(alert.interaction.handled_by, "agent");
    assert_eq!(
        alert.interaction.agent_id.as_deref(),
        Some(demo::AGENT_PRIYA_ID)
    );
    assert!(
        alert
            .interaction
            .agent_name
            .as_deref()
            .is_some_and(|n| n.starts_with("Priya")),
        "{:?}",
        alert.interaction
    );
    assert_eq!(
        alert.interaction.queue_id.as_deref(),
        Some(demo::BILLING_QUEUE_ID)
    );
    assert_eq!(
        alert.interaction.queue_name.as_deref(),
        Some("Billing Support")
    );
    assert_eq!(alert.interaction.media_type.as_deref(), Some("voice"));
    assert!(alert.interaction.link.contains(demo::VOICE_CONVERSATION_ID));
    assert_eq!(alert.recording.status, "ready");
    assert!(
        alert
            .recording
            .url
            .as_deref()
            .is_some_and(|url| url.starts_with("http"))
    );
    assert!(
        alert
            .transcript_summary
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(alert.routing.kind, "queue_supervisors");
    let supervisors: Vec<_> = alert
        .routing
        .supervisors
        .iter()
        .filter_map(|p| p.user_id.as_deref())
        .collect();
    assert_eq!(
        supervisors,
        vec![demo::SUPERVISOR_MARIA_ID, demo::SUPERVISOR_JAMES_ID]
    );
    assert!(
        alert
            .routing
            .supervisors
            .iter()
            .all(|p| p.email.is_some() && p.name.is_some())
    );
    let targets: Vec<_> = alert.routing.targets.iter().map(|t| t.key()).collect();
    assert_eq!(
        targets,
        vec![
            "slack:#billing-supervisors".to_owned(),
            format!("coaching:{}", demo::SUPERVISOR_MARIA_ID)
        ]
    );
    assert_eq!(
        alert.trace_context.get("traceparent").map(String::as_str),
        Some("00-trace-span-01")
    );
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn bots_go_to_the_bot_team_and_unassigned_to_the_queue_supervisors() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    let bot = unique("bot");
    let unassigned = unique("unassigned");
    harness
        .send(&actionable(&bot, demo::BOT_CHAT_CONVERSATION_ID, None))
        .await;
    harness
        .send(&actionable(
            &unassigned,
            demo::ABANDONED_CONVERSATION_ID,
            None,
        ))
        .await;

    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 2, ARRIVAL).await;
    let bot_alert = alerts
        .iter()
        .find(|a| a.alert_id == bot)
        .unwrap_or_else(|| panic!("no bot alert"));
    assert_eq!(bot_alert.interaction.handled_by, "bot");
    assert!(bot_alert.interaction.flow_name.is_some());
    assert_eq!(bot_alert.routing.kind, "bot_team");
    assert_eq!(
        bot_alert
            .routing
            .targets
            .iter()
            .map(|t| t.key())
            .collect::<Vec<_>>(),
        vec!["slack:#bot-dev"]
    );

    let unassigned_alert = alerts
        .iter()
        .find(|a| a.alert_id == unassigned)
        .unwrap_or_else(|| panic!("no alert"));
    assert_eq!(unassigned_alert.interaction.handled_by, "unassigned");
    assert_eq!(unassigned_alert.routing.kind, "queue_supervisors");
    assert_eq!(unassigned_alert.routing.supervisors.len(), 2);
    assert_eq!(
        unassigned_alert
            .routing
            .targets
            .iter()
            .map(|t| t.key())
            .collect::<Vec<_>>(),
        vec!["slack:#billing-supervisors"]
    );
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn an_agent_unknown_to_the_directory_is_named_by_id_not_a_crash() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    // Genesys knows neither the conversation nor the agent: the webhook's
    // routing data is all there is.
    let conversation = unique("conv");
    let ghost = "0c7e0c1e-0000-4000-8000-00000000dead";
    let id = unique("ghost");
    let mut survey = actionable(&id, &conversation, Some(ghost));
    survey.survey.queue_id = None;
    harness.send(&survey).await;
    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 1, ARRIVAL).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].interaction.agent_id.as_deref(), Some(ghost));
    assert_eq!(alerts[0].interaction.agent_name, None);
    assert_eq!(alerts[0].interaction.handled_by, "agent");
    // Genesys does not know the conversation: there is no recording to wait for.
    assert_eq!(alerts[0].recording.status, "unavailable");
    assert_eq!(alerts[0].routing.kind, "fallback");
    assert_eq!(
        alerts[0]
            .routing
            .targets
            .iter()
            .map(|t| t.key())
            .collect::<Vec<_>>(),
        vec!["slack:#cx-alerts"]
    );
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
