//! Normalizes a Genesys `Conversation` into the few facts an alert needs.
//!
//! A conversation lists its participants in joining order, each with a
//! `purpose`. The rules:
//! - **agent**: the last `agent` or `user` participant that actually
//!   connected (a `connectedTime` on it or on one of its sessions, or a
//!   wrap-up code). Agents that were only alerted and never answered do not
//!   count.
//! - **queue**: that agent's queue, else the last `acd` participant's, else
//!   the first queue any participant names.
//! - **media type and direction**: from the customer's (or external party's)
//!   sessions; callbacks win over the calls they later place.
//! - **bot-handled**: an automated participant (`ivr`, `workflow` or `bot`)
//!   took part, no agent connected, and the interaction never reached a
//!   queue (an `acd` participant means it waited for a human: unassigned or
//!   abandoned, not bot-handled).
//! - **flow name**: the name of the last automated participant. For voice
//!   IVR legs Genesys sometimes puts a location label there instead.

use crate::models::{Conversation, Participant, epoch_ms};

/// A conversation reduced to what an alert shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionDetails {
    /// Conversation id.
    pub id: String,
    /// `voice`, `callback`, `chat`, `message`, `email`, `video`,
    /// `socialExpression`, `cobrowse` or `screenshare`.
    pub media_type: Option<String>,
    /// `inbound` or `outbound`, as the customer's session reports it.
    pub direction: Option<String>,
    /// Start, epoch milliseconds.
    pub started_at: Option<i64>,
    /// End, epoch milliseconds; `None` while the conversation is active.
    pub ended_at: Option<i64>,
    /// The queue that routed it.
    pub queue_id: Option<String>,
    /// The agent who handled it last.
    pub agent: Option<AgentRef>,
    /// A flow or bot handled it and no agent did.
    pub handled_by_bot: bool,
    /// Name of the last automated (IVR, flow or bot) participant.
    pub flow_name: Option<String>,
    /// The agent's wrap-up code id.
    pub wrap_up_code: Option<String>,
    /// The wrap-up code's name, when Genesys includes it.
    pub wrap_up_name: Option<String>,
}

/// The agent of an interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRef {
    /// Genesys user id.
    pub user_id: String,
    /// Display name as the conversation shows it.
    pub name: Option<String>,
}

const AGENT_PURPOSES: &[&str] = &["agent", "user"];
const AUTOMATED_PURPOSES: &[&str] = &["ivr", "workflow", "bot"];
const CUSTOMER_PURPOSES: &[&str] = &["customer", "external"];

fn has_purpose(participant: &Participant, purposes: &[&str]) -> bool {
    participant
        .purpose
        .as_deref()
        .is_some_and(|purpose| purposes.iter().any(|p| purpose.eq_ignore_ascii_case(p)))
}

/// True when the participant answered (or wrapped up) the interaction.
fn connected(participant: &Participant) -> bool {
    participant.connected_time.is_some()
        || participant
            .wrapup
            .as_ref()
            .is_some_and(|w| w.code.is_some())
        || participant.sessions().iter().any(|(_, sessions)| {
            sessions.iter().any(|s| {
                s.connected_time.is_some() || s.wrapup.as_ref().is_some_and(|w| w.code.is_some())
            })
        })
}

/// The wrap-up (code, name) of a participant, or of its last session with one.
fn wrap_up(participant: &Participant) -> (Option<String>, Option<String>) {
    let session_wrapups = participant
        .sessions()
        .into_iter()
        .flat_map(|(_, sessions)| sessions.iter().rev())
        .filter_map(|session| session.wrapup.as_ref());
    participant
        .wrapup
        .iter()
        .chain(session_wrapups)
        .find(|wrapup| wrapup.code.is_some())
        .map_or((None, None), |wrapup| {
            (wrapup.code.clone(), wrapup.name.clone())
        })
}

/// The media type and direction from the customer's side.
fn media_and_direction(participants: &[Participant]) -> (Option<String>, Option<String>) {
    let customer_first = participants
        .iter()
        .filter(|p| has_purpose(p, CUSTOMER_PURPOSES))
        .chain(participants.iter());
    for participant in customer_first {
        let found = participant
            .sessions()
            .into_iter()
            .find(|(_, sessions)| !sessions.is_empty());
        if let Some((media_type, sessions)) = found {
            let direction = sessions
                .iter()
                .find_map(|s| s.direction.clone())
                .or_else(|| participant.direction.clone());
            return (Some(media_type.to_owned()), direction);
        }
    }
    (None, None)
}

/// Reduces `conversation`; `requested_id` stands in for a missing id.
pub(crate) fn normalize(requested_id: &str, conversation: Conversation) -> InteractionDetails {
    let participants = &conversation.participants;
    let agent_participant = participants
        .iter()
        .rev()
        .filter(|p| has_purpose(p, AGENT_PURPOSES) && connected(p))
        .find(|p| p.user_id().is_some());
    let agent = agent_participant.and_then(|p| {
        Some(AgentRef {
            user_id: p.user_id()?.to_owned(),
            name: p.name.clone().filter(|name| !name.trim().is_empty()),
        })
    });
    let queue_id = agent_participant
        .and_then(Participant::queue_id)
        .or_else(|| {
            participants
                .iter()
                .rev()
                .filter(|p| has_purpose(p, &["acd"]))
                .find_map(Participant::queue_id)
        })
        .or_else(|| participants.iter().find_map(Participant::queue_id))
        .map(str::to_owned);
    let automated = participants
        .iter()
        .rev()
        .find(|p| has_purpose(p, AUTOMATED_PURPOSES));
    let reached_queue = participants.iter().any(|p| has_purpose(p, &["acd"]));
    let (wrap_up_code, wrap_up_name) = agent_participant.map_or((None, None), wrap_up);
    let (media_type, direction) = media_and_direction(participants);
    let started_at = epoch_ms(conversation.start_time.as_deref()).or_else(|| {
        participants
            .iter()
            .filter_map(|p| epoch_ms(p.start_time.as_deref()))
            .min()
    });
    InteractionDetails {
        id: conversation
            .id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| requested_id.to_owned()),
        media_type,
        direction,
        started_at,
        ended_at: epoch_ms(conversation.end_time.as_deref()),
        queue_id,
        handled_by_bot: agent.is_none() && automated.is_some() && !reached_queue,
        agent,
        flow_name: automated
            .and_then(|p| p.name.clone())
            .filter(|name| !name.trim().is_empty()),
        wrap_up_code,
        wrap_up_name,
    }
}

#[cfg(test)]
mod tests {
    use super::{AgentRef, InteractionDetails, normalize};
    use crate::models::Conversation;

    fn fixture(name: &str) -> Conversation {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    #[test]
    fn a_voice_call_answered_by_an_agent() {
        let details = normalize("ignored", fixture("conversation_voice_agent.json"));
        assert_eq!(
            details,
            InteractionDetails {
                id: "7d0a5e1c-3b8f-4a52-9f6e-1c2d3e4f5a6b".into(),
                media_type: Some("voice".into()),
                direction: Some("inbound".into()),
                started_at: Some(1_789_380_000_000),
                ended_at: Some(1_789_380_420_500),
                queue_id: Some("67ce2258-ff62-4f8e-8467-2d79c9b98e2b".into()),
                agent: Some(AgentRef {
                    user_id: "5f6fe78e-dfbb-400f-a70b-d9b5c8340fdc".into(),
                    name: Some("Dana Ortiz".into()),
                }),
                handled_by_bot: false,
                flow_name: Some("Main IVR".into()),
                wrap_up_code: Some("560d87d0-ed4c-4662-903d-dce00bfae927".into()),
                wrap_up_name: Some("Billing question".into()),
            }
        );
    }

    #[test]
    fn a_chat_handled_by_a_bot_flow() {
        let details = normalize("ignored", fixture("conversation_chat_bot.json"));
        assert!(details.handled_by_bot);
        assert_eq!(details.agent, None);
        assert_eq!(details.media_type.as_deref(), Some("chat"));
        assert_eq!(details.direction.as_deref(), Some("inbound"));
        assert_eq!(details.flow_name.as_deref(), Some("Support Chat Bot"));
        assert_eq!(details.queue_id, None);
        assert_eq!(details.wrap_up_code, None);
    }

    #[test]
    fn an_abandoned_call_reached_a_queue_but_no_agent() {
        let details = normalize(
            "0c5a1b2d-0000-4000-8000-00000000abcd",
            fixture("conversation_voice_abandoned.json"),
        );
        assert_eq!(details.id, "0c5a1b2d-0000-4000-8000-00000000abcd");
        assert!(!details.handled_by_bot, "it waited in a queue for a human");
        assert_eq!(
            details.agent, None,
            "the agent was alerted but never answered"
        );
        assert_eq!(
            details.queue_id.as_deref(),
            Some("89bd592e-d324-4a0b-9088-09f2a9c26ae6")
        );
        assert_eq!(details.media_type.as_deref(), Some("voice"));
        assert_eq!(details.ended_at, Some(1_789_383_790_000));
        assert_eq!(details.wrap_up_code, None);
    }

    #[test]
    fn an_empty_conversation_normalizes_to_nothing() {
        let details = normalize("abc", Conversation::default());
        assert_eq!(details.id, "abc");
        assert!(!details.handled_by_bot);
        assert_eq!(details.media_type, None);
        assert_eq!(details.started_at, None);
    }
}
