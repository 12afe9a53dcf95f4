//! Alerts for every case the messages must handle, and small helpers.

use std::collections::BTreeMap;
use std::sync::Arc;

use survey_contracts::{
    AlertReason, AlertSurvey, DeliveryRecord, EnrichedAlert, Interaction, NotificationTarget,
    Person, RecordingInfo, Routing,
};
use survey_notifier::channels::DeliveryError;
use survey_notifier::templates::Templates;
use survey_sandbox::{Sandbox, SandboxConfig, Seed};

pub const AGENT_ID: &str = "5f6fe78e-dfbb-400f-a70b-d9b5c8340fdc";
pub const CONVERSATION_ID: &str = "7d0a5e1c-3b8f-4a52-9f6e-1c2d3e4f5a6b";
/// 2026-09-14T10:15:00Z.
const SUBMITTED_AT: i64 = 1_789_380_900_000;

pub fn templates() -> Arc<Templates> {
    Arc::new(Templates::embedded())
}

fn reason(code: &str, detail: &str) -> AlertReason {
    AlertReason {
        code: code.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A human agent, recording ready, revision 1.
pub fn human_agent_recording_ready() -> EnrichedAlert {
    EnrichedAlert {
        alert_id: "resp-1001".to_owned(),
        revision: 1,
        issued_at: SUBMITTED_AT + 60_000,
        survey: AlertSurvey {
            response_id: "resp-1001".to_owned(),
            survey_id: Some("post-call-csat".to_owned()),
            submitted_at: SUBMITTED_AT,
            received_at: SUBMITTED_AT + 2_000,
            csat: 2,
            comment: Some("The agent was rude and hung up on me.".to_owned()),
            reasons: vec![
                reason("low_score", "csat 2 is below 3"),
                reason("critical_keyword", "rude"),
            ],
        },
        interaction: Interaction {
            id: CONVERSATION_ID.to_owned(),
            media_type: Some("voice".to_owned()),
            direction: Some("inbound".to_owned()),
            started_at: Some(SUBMITTED_AT - 900_000),
            ended_at: Some(SUBMITTED_AT - 300_000),
            queue_id: Some("67ce2258-ff62-4f8e-8467-2d79c9b98e2b".to_owned()),
            queue_name: Some("Billing".to_owned()),
            handled_by: "agent".to_owned(),
            agent_id: Some(AGENT_ID.to_owned()),
            agent_name: Some("Jordan Smith".to_owned()),
            flow_name: None,
            wrap_up_code: Some("Billing dispute".to_owned()),
            link: format!(
                "https://apps.mypurecloud.com/directory/#/analytics/interactions/{CONVERSATION_ID}/admin"
            ),
        },
        recording: RecordingInfo {
            status: "ready".to_owned(),
            url: Some(format!(
                "https://apps.mypurecloud.com/directory/#/engage/admin/interactions/{CONVERSATION_ID}/recordings"
            )),
        },
        transcript_summary: Some(
            "Customer disputed a late fee; the agent refused a refund and ended the call."
                .to_owned(),
        ),
        routing: Routing {
            kind: "queue_supervisors".to_owned(),
            supervisors: vec![Person {
                user_id: Some("9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b".to_owned()),
                name: Some("Maria Lopez".to_owned()),
                email: Some("maria.lopez@example.com".to_owned()),
            }],
            targets: vec![NotificationTarget::new("slack", "#cx-billing")],
        },
        trace_context: BTreeMap::new(),
    }
}

/// A bot handled it, recording pending, revision 1.
pub fn bot_recording_pending() -> EnrichedAlert {
    let mut alert = human_agent_recording_ready();
    alert.alert_id = "resp-1002".to_owned();
    alert.survey.response_id = "resp-1002".to_owned();
    alert.survey.csat = 1;
    alert.survey.comment = Some("The bot kept asking the same question.".to_owned());
    alert.survey.reasons = vec![reason("low_score", "csat 1 is below 3")];
    alert.interaction.media_type = Some("message".to_owned());
    alert.interaction.handled_by = "bot".to_owned();
    alert.interaction.agent_id = None;
    alert.interaction.agent_name = None;
    alert.interaction.flow_name = Some("Billing assistant".to_owned());
    alert.interaction.wrap_up_code = None;
    alert.recording = RecordingInfo {
        status: "pending".to_owned(),
        url: None,
    };
    alert.transcript_summary = None;
    alert.routing.kind = "bot_team".to_owned();
    alert
}

/// Queued but never answered, revision 2 after the recording was given up.
pub fn unassigned_revision_2_unavailable() -> EnrichedAlert {
    let mut alert = human_agent_recording_ready();
    alert.alert_id = "resp-1003".to_owned();
    alert.revision = 2;
    alert.survey.response_id = "resp-1003".to_owned();
    alert.survey.csat = 1;
    alert.survey.comment = None;
    alert.survey.reasons = vec![reason("low_score", "csat 1 is below 3")];
    alert.interaction.queue_name = Some("Support".to_owned());
    alert.interaction.handled_by = "unassigned".to_owned();
    alert.interaction.agent_id = None;
    alert.interaction.agent_name = None;
    alert.interaction.wrap_up_code = None;
    alert.recording = RecordingInfo {
        status: "unavailable".to_owned(),
        url: None,
    };
    alert.transcript_summary = None;
    alert.routing.kind = "fallback".to_owned();
    alert
}

/// The customer wrote everything that needs escaping; the directory does
/// not know the agent's name.
pub const HOSTILE_COMMENT: &str =
    "He said \"never again\" & hung up.\n<script>alert('x')</script> \\o/ <@U123|everyone> *bold*";

pub fn hostile_comment() -> EnrichedAlert {
    let mut alert = human_agent_recording_ready();
    alert.alert_id = "resp-1004".to_owned();
    alert.survey.response_id = "resp-1004".to_owned();
    alert.survey.comment = Some(HOSTILE_COMMENT.to_owned());
    alert.interaction.agent_name = None;
    alert.interaction.queue_name = Some("Sales & <Renewals>".to_owned());
    alert.recording.url =
        Some("https://media.example.com/rec.opus?sig=a|b&expires=1789381000".to_owned());
    alert.transcript_summary = Some("Line one \"quoted\"\nline two <b>".to_owned());
    alert
}

/// The ledger's record of revision `revision` delivered to `target`.
pub fn record(alert: &EnrichedAlert, target: &NotificationTarget, revision: i32) -> DeliveryRecord {
    DeliveryRecord {
        alert_id: alert.alert_id.clone(),
        target: target.clone(),
        revision,
        delivered_at: alert.issued_at,
        slack_channel: None,
        slack_ts: None,
        message_id: None,
        external_id: None,
    }
}

/// The alert at a later revision with its recording ready.
pub fn revised(mut alert: EnrichedAlert) -> EnrichedAlert {
    alert.revision += 1;
    alert.recording = RecordingInfo {
        status: "ready".to_owned(),
        url: Some("https://media.example.com/rec-2.opus".to_owned()),
    };
    alert
}

pub fn expect_permanent(result: Result<impl std::fmt::Debug, DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Permanent { reason }) => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

pub fn expect_transient(
    result: Result<impl std::fmt::Debug, DeliveryError>,
) -> (String, Option<std::time::Duration>) {
    match result {
        Err(DeliveryError::Transient {
            reason,
            retry_after,
        }) => (reason, retry_after),
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

/// A first attempt, as the notifier makes it.
pub fn attempt() -> survey_notifier::channels::Attempt {
    survey_notifier::channels::Attempt {
        key: "0123456789abcdef0123456789abcdef".to_owned(),
        started_at: SUBMITTED_AT + 61_000,
    }
}

/// A quiet, empty sandbox on a free port.
pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        seed: Seed::Empty,
        quiet: true,
        ..SandboxConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox: {e:#}"))
}
