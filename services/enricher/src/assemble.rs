//! Builds an alert from what the lookups found. Pure.

use std::collections::BTreeMap;

use survey_contracts::{
    ActionableSurvey, AlertReason, AlertSurvey, EnrichedAlert, Interaction, RecordingInfo, Routing,
};
use survey_genesys::InteractionDetails;

use crate::recording::status;
use crate::routing::HandledBy;

/// Who handled an interaction, from the API's details or, when the API does
/// not know the conversation, from the webhook's routing data.
pub fn handled_by(details: Option<&InteractionDetails>, survey: &ActionableSurvey) -> HandledBy {
    if let Some(details) = details {
        if let Some(agent) = &details.agent {
            return HandledBy::Agent {
                user_id: agent.user_id.clone(),
                name: agent
                    .name
                    .clone()
                    .or_else(|| survey.survey.agent_name.clone()),
            };
        }
        if details.handled_by_bot {
            return HandledBy::Bot {
                flow: details.flow_name.clone(),
            };
        }
    }
    match &survey.survey.agent_id {
        Some(user_id) => HandledBy::Agent {
            user_id: user_id.clone(),
            name: survey.survey.agent_name.clone(),
        },
        None if details.is_some() => HandledBy::Unassigned,
        // Neither the API nor the webhook names an agent; the webhook's
        // null agent means a bot or nobody, and without the API we cannot
        // tell which: the queue's supervisors are the safer recipients.
        None => HandledBy::Unassigned,
    }
}

/// Everything an alert is made of.
#[derive(Debug)]
pub struct AlertParts<'a> {
    /// The actionable survey.
    pub survey: &'a ActionableSurvey,
    /// The API's interaction details, if it knows the conversation.
    pub details: Option<&'a InteractionDetails>,
    /// Who handled it.
    pub handled_by: &'a HandledBy,
    /// Queue name, if known.
    pub queue_name: Option<String>,
    /// Conversation summary, if any.
    pub summary: Option<String>,
    /// Recipients.
    pub routing: Routing,
    /// Genesys UI link.
    pub link: String,
    /// Trace context of the input.
    pub trace_context: BTreeMap<String, String>,
    /// Issue time.
    pub now: i64,
}

/// Revision 1 of an alert, recording `pending` until a check says otherwise.
pub fn assemble(parts: AlertParts<'_>) -> EnrichedAlert {
    let survey = &parts.survey.survey;
    let details = parts.details;
    let (agent_id, agent_name, flow_name) = match parts.handled_by {
        HandledBy::Agent { user_id, name } => (Some(user_id.clone()), name.clone(), None),
        HandledBy::Bot { flow } => (None, None, flow.clone()),
        HandledBy::Unassigned => (None, None, None),
    };
    EnrichedAlert {
        alert_id: survey.response_id.clone(),
        revision: 1,
        issued_at: parts.now,
        survey: AlertSurvey {
            response_id: survey.response_id.clone(),
            survey_id: survey.survey_id.clone(),
            submitted_at: survey.submitted_at,
            received_at: survey.received_at,
            csat: survey.csat,
            comment: survey.comment.clone(),
            reasons: parts
                .survey
                .reasons
                .iter()
                .map(|reason| AlertReason {
                    code: reason.code.clone(),
                    detail: reason.detail.clone(),
                })
                .collect(),
        },
        interaction: Interaction {
            id: survey.interaction_id.clone(),
            media_type: details.and_then(|d| d.media_type.clone()),
            direction: details.and_then(|d| d.direction.clone()),
            started_at: details.and_then(|d| d.started_at),
            ended_at: details.and_then(|d| d.ended_at),
            queue_id: details
                .and_then(|d| d.queue_id.clone())
                .or_else(|| survey.queue_id.clone()),
            queue_name: parts.queue_name,
            handled_by: parts.handled_by.as_str().to_owned(),
            agent_id,
            agent_name,
            flow_name,
            wrap_up_code: details.and_then(|d| d.wrap_up_code.clone()),
            link: parts.link,
        },
        recording: RecordingInfo {
            status: status::PENDING.to_owned(),
            url: None,
        },
        transcript_summary: parts.summary,
        routing: parts.routing,
        trace_context: parts.trace_context,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use survey_contracts::{ActionableReason, NotificationTarget, SurveyResponse};
    use survey_genesys::AgentRef;

    use super::*;

    pub(crate) fn actionable(agent: Option<&str>) -> ActionableSurvey {
        ActionableSurvey {
            survey: SurveyResponse {
                response_id: "r-1".into(),
                event: "survey.response.created".into(),
                survey_id: Some("s".into()),
                interaction_id: "c-1".into(),
                submitted_at: 10,
                received_at: 11,
                csat: 2,
                comment: Some("rude".into()),
                other_answers: Default::default(),
                queue_id: Some("q-webhook".into()),
                agent_id: agent.map(String::from),
                agent_name: agent.map(|_| "Webhook Name".to_owned()),
            },
            reasons: vec![ActionableReason {
                code: "low_score".into(),
                detail: "csat 2 is below 3".into(),
            }],
            filtered_at: 12,
        }
    }

    pub(crate) fn sample_alert() -> EnrichedAlert {
        let survey = actionable(Some("a-1"));
        let handled_by = handled_by(None, &survey);
        assemble(AlertParts {
            survey: &survey,
            details: None,
            handled_by: &handled_by,
            queue_name: None,
            summary: None,
            routing: Routing {
                kind: "fallback".into(),
                supervisors: vec![],
                targets: vec![NotificationTarget::new("slack", "#x")],
            },
            link: "https://apps.mypurecloud.com/x".into(),
            trace_context: Default::default(),
            now: 20,
        })
    }

    fn details(agent: Option<&str>, bot: bool) -> InteractionDetails {
        InteractionDetails {
            id: "c-1".into(),
            media_type: Some("voice".into()),
            direction: Some("inbound".into()),
            started_at: Some(1),
            ended_at: Some(2),
            queue_id: Some("q-api".into()),
            agent: agent.map(|id| AgentRef {
                user_id: id.into(),
                name: Some("API Name".into()),
            }),
            handled_by_bot: bot,
            flow_name: bot.then(|| "Billing Bot".to_owned()),
            wrap_up_code: Some("wrap".into()),
            wrap_up_name: None,
        }
    }

    #[test]
    fn the_api_decides_who_handled_it_and_the_webhook_fills_gaps() {
        let survey = actionable(Some("a-webhook"));
        assert_eq!(
            handled_by(Some(&details(Some("a-api"), false)), &survey),
            HandledBy::Agent {
                user_id: "a-api".into(),
                name: Some("API Name".into())
            }
        );
        assert!(matches!(
            handled_by(Some(&details(None, true)), &actionable(None)),
            HandledBy::Bot { .. }
        ));
        assert_eq!(
            handled_by(Some(&details(None, false)), &actionable(None)),
            HandledBy::Unassigned
        );
        assert!(
            matches!(handled_by(None, &survey), HandledBy::Agent { user_id, .. } if user_id == "a-webhook")
        );
    }

    #[test]
    fn an_alert_carries_the_interaction_and_survey() {
        let survey = actionable(None);
        let details = details(None, true);
        let handled_by = handled_by(Some(&details), &survey);
        let alert = assemble(AlertParts {
            survey: &survey,
            details: Some(&details),
            handled_by: &handled_by,
            queue_name: Some("Billing".into()),
            summary: Some("Customer asked for a refund.".into()),
            routing: Routing {
                kind: "bot_team".into(),
                supervisors: vec![],
                targets: vec![],
            },
            link: "L".into(),
            trace_context: [("traceparent".to_owned(), "t".to_owned())].into(),
            now: 99,
        });
        assert_eq!(alert.alert_id, "r-1");
        assert_eq!(alert.revision, 1);
        assert_eq!(alert.interaction.handled_by, "bot");
        assert_eq!(alert.interaction.flow_name.as_deref(), Some("Billing Bot"));
        assert_eq!(alert.interaction.queue_id.as_deref(), Some("q-api"));
        assert_eq!(alert.interaction.queue_name.as_deref(), Some("Billing"));
        assert_eq!(alert.interaction.wrap_up_code.as_deref(), Some("wrap"));
        assert_eq!(alert.survey.reasons.len(), 1);
        assert_eq!(
            alert.transcript_summary.as_deref(),
            Some("Customer asked for a refund.")
        );
        assert_eq!(alert.trace_context.len(), 1);
    }
}
