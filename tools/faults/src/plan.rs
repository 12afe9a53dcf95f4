//! The load, decided up front: which surveys are sent, how often, and what the sinks must
//! receive for each. Pure; the same index always gives the same survey.

use serde_json::{Value, json};
use survey_sandbox::{ConversationSeed, HandledBy, MediaType, demo};

/// The routing file the enricher runs with: the demo organisation's Billing queue, with one
/// target per channel, and a bot team with Slack and Teams.
pub const ROUTING_YAML: &str = r##"# Written by survey-faults.
default: { slack: "#cx-alerts" }
bot_team: { slack: "#bot-dev", teams: bots }
queues:
  "365c25e4-253a-4b45-9e87-59238d5e402f":
    name: Billing Support
    supervisors: ["37726c76-41d5-4309-9cc5-7a2b707bcf16", "564a1bb9-9595-47d2-9e27-3d7dbe4831f0"]
    slack: "#billing-supervisors"
    teams: billing
    emails: [billing-leads@example.com]
    coaching: true
"##;

/// Teams webhook names of [`ROUTING_YAML`].
pub const TEAMS_WEBHOOKS: [&str; 2] = ["billing", "bots"];

/// A channel of the notifier. Every survey has at most one target per channel under
/// [`ROUTING_YAML`], so a channel names a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Slack `chat.postMessage` / `chat.update`.
    Slack,
    /// A Teams webhook.
    Teams,
    /// E-mail.
    Email,
    /// A Genesys coaching appointment (one per alert, whatever the revision).
    Coaching,
}

impl Channel {
    /// Every channel, in report order.
    pub const ALL: [Channel; 4] = [Self::Slack, Self::Teams, Self::Email, Self::Coaching];

    /// Whether each revision is delivered (Slack, Teams, e-mail), or only the first
    /// (coaching).
    pub fn revisioned(self) -> bool {
        self != Self::Coaching
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Email => "email",
            Self::Coaching => "coaching",
        }
    }
}

/// What kind of survey it is, which decides what must be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Score 5 and a kind comment: not actionable, nothing may be delivered.
    Happy,
    /// Low score, an agent in Billing Support, recording ready at once: one revision to
    /// Slack, Teams, e-mail and coaching.
    Agent,
    /// A critical keyword, an agent in Billing Support, the recording ready only on the
    /// third poll: revision 1 (recording pending) and then revision 2 (ready) to Slack
    /// (updated in place), Teams and e-mail; one coaching appointment. (When the enricher
    /// had to look more than twice, because it was restarted or a transaction was
    /// aborted, revision 1 is already ready.)
    AgentLateRecording,
    /// Low score on a chat the bot handled: Slack and Teams of the bot team.
    Bot,
}

impl Kind {
    /// The channels that must receive the alert.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            Self::Happy => &[],
            Self::Agent | Self::AgentLateRecording => &Channel::ALL,
            Self::Bot => &[Channel::Slack, Channel::Teams],
        }
    }

    /// Whether its final message must link the recording (a voice call's recording has a
    /// media URL; the bot's chat transcript has none).
    pub fn links_recording(self) -> bool {
        matches!(self, Self::Agent | Self::AgentLateRecording)
    }

    /// Whether the filter lets it through.
    pub fn actionable(self) -> bool {
        self != Self::Happy
    }
}

/// One survey of the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// Index in the load.
    pub index: usize,
    /// Survey response id (unique per run).
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// The interaction it is about.
    pub conversation: String,
    /// How many times the webhook is sent (webhook retries): 1 to 3.
    pub sends: u32,
}

/// The `index`-th survey of run `run`: 40% happy, 35% agent, 15% agent with a late
/// recording, 10% bot; 30% are sent twice or three times.
pub fn survey(run: &str, index: usize) -> Survey {
    let kind = match index % 20 {
        0..=7 => Kind::Happy,
        8..=14 => Kind::Agent,
        15..=17 => Kind::AgentLateRecording,
        _ => Kind::Bot,
    };
    let sends = match (index * 7) % 10 {
        1 | 4 => 2,
        7 => 3,
        _ => 1,
    };
    let id = format!("{}{index}", id_prefix(run));
    let conversation = match kind {
        Kind::Bot => demo::BOT_CHAT_CONVERSATION_ID.to_owned(),
        Kind::Happy => demo::VOICE_CONVERSATION_ID.to_owned(),
        Kind::Agent | Kind::AgentLateRecording => format!("conv-{id}"),
    };
    Survey {
        index,
        id,
        kind,
        conversation,
        sends,
    }
}

/// What every survey id of run `run` starts with; also how alerts of the run are found in
/// sink messages.
pub fn id_prefix(run: &str) -> String {
    format!("fx{run}-")
}

impl Survey {
    /// The conversation the sandbox must know for this survey, if it is not a demo one.
    pub fn conversation_seed(&self) -> Option<ConversationSeed> {
        let ready_after = match self.kind {
            Kind::Agent => 0,
            Kind::AgentLateRecording => 2,
            Kind::Happy | Kind::Bot => return None,
        };
        Some(
            ConversationSeed::new(
                &self.conversation,
                MediaType::Voice,
                HandledBy::Agent {
                    user_id: demo::AGENT_PRIYA_ID.to_owned(),
                    name: "Priya Nair".to_owned(),
                },
            )
            .queue(demo::BILLING_QUEUE_ID)
            .recording_ready_after(ready_after),
        )
    }

    /// The webhook body, submitted at `submitted_at` (RFC 3339).
    pub fn webhook(&self, submitted_at: &str) -> Value {
        let (csat, comment) = match self.kind {
            Kind::Happy => (5, "Lovely, thank you"),
            Kind::Agent | Kind::Bot => (2, "Nobody could help me."),
            Kind::AgentLateRecording => (4, "Quick, but the tone was unprofessional."),
        };
        let agent = match self.kind {
            Kind::Bot => None,
            _ => Some(demo::AGENT_PRIYA_ID),
        };
        json!({
            "event": "survey.response.created",
            "data": {
                "id": self.id,
                "surveyId": "5d1fa7c4-0b4e-4c36-9a55-3b1b2cd9a001",
                "interactionId": self.conversation,
                "submittedAt": submitted_at,
                "answers": { "q1_csat": csat, "q2_comments": comment },
                "routingData": {
                    "queueId": demo::BILLING_QUEUE_ID,
                    "agentId": agent,
                    "agentName": agent.map(|_| "Priya Nair"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_and_some_retries() {
        let surveys: Vec<Survey> = (0..100).map(|i| survey("r", i)).collect();
        let count = |kind| surveys.iter().filter(|s| s.kind == kind).count();
        assert_eq!(count(Kind::Happy), 40);
        assert_eq!(count(Kind::Agent), 35);
        assert_eq!(count(Kind::AgentLateRecording), 15);
        assert_eq!(count(Kind::Bot), 10);
        let retried = surveys.iter().filter(|s| s.sends > 1).count();
        assert_eq!(retried, 30);
        assert!(surveys.iter().any(|s| s.sends == 3));
        assert_eq!(survey("r", 7), survey("r", 7));
        assert_eq!(survey("r", 7).id, "fxr-7");
    }

    #[test]
    fn only_agent_surveys_need_their_own_conversation() {
        assert!(survey("r", 0).conversation_seed().is_none());
        assert!(survey("r", 8).conversation_seed().is_some());
        assert!(survey("r", 19).conversation_seed().is_none());
    }
}
