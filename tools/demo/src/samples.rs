//! The demo's sample surveys, about the sandbox's demo conversations, and a
//! signed webhook sender.

use std::net::SocketAddr;

use serde_json::{Value, json};
use survey_sandbox::demo;

/// One sample: what it shows, and its webhook body.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What the sample demonstrates.
    pub label: &'static str,
    /// The webhook body.
    pub body: Value,
}

/// A `survey.response.created` body submitted now.
pub fn webhook(
    response_id: &str,
    conversation_id: &str,
    csat: i64,
    comment: Option<&str>,
    agent: Option<(&str, &str)>,
) -> Value {
    json!({
        "event": "survey.response.created",
        "data": {
            "id": response_id,
            "surveyId": "5d1fa7c4-0b4e-4c36-9a55-3b1b2cd9a001",
            "interactionId": conversation_id,
            "submittedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "answers": { "q1_csat": csat, "q2_comments": comment },
            "routingData": {
                "queueId": demo::BILLING_QUEUE_ID,
                "agentId": agent.map(|(id, _)| id),
                "agentName": agent.map(|(_, name)| name),
            }
        }
    })
}

/// The demo's samples; `run` makes their response ids unique per run.
pub fn demo_samples(run: &str) -> Vec<Sample> {
    let id = |name: &str| format!("{run}-{name}");
    vec![
        Sample {
            label: "low score, human agent, recording ready",
            body: webhook(
                &id("low-score"),
                demo::VOICE_CONVERSATION_ID,
                2,
                Some("The agent was rude and hung up on me."),
                Some((demo::AGENT_PRIYA_ID, "Priya Shah")),
            ),
        },
        Sample {
            label: "webhook retry of the same response (deduplicated)",
            body: webhook(
                &id("low-score"),
                demo::VOICE_CONVERSATION_ID,
                2,
                Some("The agent was rude and hung up on me."),
                Some((demo::AGENT_PRIYA_ID, "Priya Shah")),
            ),
        },
        Sample {
            label: "good score, critical keyword",
            body: webhook(
                &id("keyword"),
                demo::MESSAGING_CONVERSATION_ID,
                4,
                Some("Quick answer, but the tone was unprofessional."),
                Some((demo::AGENT_ANA_ID, "Ana Costa")),
            ),
        },
        Sample {
            label: "bot-handled chat",
            body: webhook(
                &id("bot"),
                demo::BOT_CHAT_CONVERSATION_ID,
                1,
                Some("The bot kept looping."),
                None,
            ),
        },
        Sample {
            label: "recording still processing (late recording)",
            body: webhook(
                &id("late-recording"),
                demo::SLOW_RECORDING_CONVERSATION_ID,
                1,
                None,
                Some((demo::AGENT_TOM_ID, "Tom Becker")),
            ),
        },
        Sample {
            label: "happy customer (not actionable)",
            body: webhook(
                &id("happy"),
                demo::VOICE_CONVERSATION_ID,
                5,
                Some("Great service, thank you!"),
                Some((demo::AGENT_PRIYA_ID, "Priya Shah")),
            ),
        },
    ]
}

/// Posts `body` to ingest with a valid signature; returns the status code.
pub async fn post_signed(
    http: &reqwest::Client,
    ingest: SocketAddr,
    body: &Value,
) -> anyhow::Result<u16> {
    let bytes = serde_json::to_vec(body)?;
    let signature = survey_ingest::auth::sign(crate::WEBHOOK_SECRET, &bytes);
    let response = http
        .post(format!("http://{ingest}/webhooks/survey"))
        .header("content-type", "application/json")
        .header("x-signature-256", signature)
        .body(bytes)
        .send()
        .await?;
    Ok(response.status().as_u16())
}
