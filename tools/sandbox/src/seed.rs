//! What tests and the demo put into the fake Genesys Cloud organisation.
//!
//! Seeds are plain data with builder helpers. They deserialize from the
//! same JSON the `/sandbox/seed/...` control endpoints accept (snake_case).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The media of a conversation, which decides the session array
/// (`calls`, `chats`, `messages`, `emails`, `callbacks`) in the Conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// A phone call (`calls`, analytics `voice`).
    Voice,
    /// A web chat (`chats`).
    Chat,
    /// Web messaging, SMS, WhatsApp… (`messages`).
    Message,
    /// An email interaction (`emails`).
    Email,
    /// A scheduled callback (`callbacks`).
    Callback,
}

impl MediaType {
    /// The participant session array name in `GET /api/v2/conversations/{id}`.
    pub(crate) fn session_key(self) -> &'static str {
        match self {
            Self::Voice => "calls",
            Self::Chat => "chats",
            Self::Message => "messages",
            Self::Email => "emails",
            Self::Callback => "callbacks",
        }
    }

    /// The analytics `mediaType` value.
    pub(crate) fn analytics_name(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Chat => "chat",
            Self::Message => "message",
            Self::Email => "email",
            Self::Callback => "callback",
        }
    }

    /// The Recording `media` value.
    pub(crate) fn recording_media(self) -> &'static str {
        match self {
            Self::Voice | Self::Callback => "audio",
            Self::Chat => "chat",
            Self::Message => "messaging",
            Self::Email => "email",
        }
    }
}

/// Who started the conversation, from the organisation's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The customer reached the contact centre.
    #[default]
    Inbound,
    /// The contact centre reached the customer.
    Outbound,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// Who handled the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HandledBy {
    /// A human agent (participant purpose `agent`). The user is also added
    /// to the users directory if it is not there yet.
    Agent {
        /// Genesys user id (UUID).
        user_id: String,
        /// Display name.
        name: String,
    },
    /// A bot or Architect flow only (participant purpose `workflow` for
    /// digital media, `ivr` for voice); there is no agent participant.
    Bot {
        /// The flow's name, shown as the participant name.
        flow_name: String,
    },
    /// Nobody: the customer waited in queue and left (abandoned).
    Unassigned,
}

/// A wrap-up code as it appears on a participant (`wrapup.code` is the
/// code's id, `wrapup.name` its label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapupSeed {
    /// Wrap-up code id (UUID).
    pub code: String,
    /// Wrap-up code name.
    pub name: String,
}

/// How `GET /api/v2/conversations/{id}/recordings` answers while the
/// recording is not ready yet. Real clients meet all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PendingStyle {
    /// `202 Accepted` with an empty body.
    #[default]
    Accepted,
    /// `200 OK` with `[]`.
    EmptyList,
    /// `200 OK` with recordings whose `fileState` is `UPLOADING` and that
    /// have no `mediaUris`.
    Uploading,
}

/// One conversation of the fake organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSeed {
    /// Conversation id (UUID).
    pub id: String,
    /// Media type.
    pub media_type: MediaType,
    /// Originating direction.
    #[serde(default)]
    pub direction: Direction,
    /// When the first participant joined.
    pub start: DateTime<Utc>,
    /// When the last participant left; `None` for a conversation still active.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Queue the conversation was routed through, if any.
    #[serde(default)]
    pub queue_id: Option<String>,
    /// Who handled it.
    pub handled_by: HandledBy,
    /// The agent's wrap-up, if any.
    #[serde(default)]
    pub wrapup: Option<WrapupSeed>,
    /// The recording is ready once this many polls have been answered
    /// "not ready": `Some(0)` is ready on the first poll, `Some(3)` on the
    /// fourth, `None` never.
    #[serde(default)]
    pub recording_ready_after_polls: Option<u32>,
    /// How "not ready" looks.
    #[serde(default)]
    pub recording_pending: PendingStyle,
    /// AI summary text; `None` makes `/summaries` answer 404.
    #[serde(default)]
    pub summary: Option<String>,
    /// Customer display name.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Customer address (ANI for calls, e.g. `tel:+15551234567`).
    #[serde(default)]
    pub customer_address: Option<String>,
}

impl ConversationSeed {
    /// An inbound conversation that started ten minutes ago and lasted
    /// eight, with no queue, wrap-up, recording or summary.
    pub fn new(id: impl Into<String>, media_type: MediaType, handled_by: HandledBy) -> Self {
        let end = Utc::now() - Duration::minutes(2);
        Self {
            id: id.into(),
            media_type,
            direction: Direction::Inbound,
            start: end - Duration::minutes(8),
            end: Some(end),
            queue_id: None,
            handled_by,
            wrapup: None,
            recording_ready_after_polls: None,
            recording_pending: PendingStyle::Accepted,
            summary: None,
            customer_name: None,
            customer_address: None,
        }
    }

    /// Sets the queue.
    pub fn queue(mut self, queue_id: impl Into<String>) -> Self {
        self.queue_id = Some(queue_id.into());
        self
    }

    /// Sets the wrap-up code.
    pub fn wrapup(mut self, code: impl Into<String>, name: impl Into<String>) -> Self {
        self.wrapup = Some(WrapupSeed {
            code: code.into(),
            name: name.into(),
        });
        self
    }

    /// The recording becomes ready after `polls` "not ready" answers.
    pub fn recording_ready_after(mut self, polls: u32) -> Self {
        self.recording_ready_after_polls = Some(polls);
        self
    }

    /// Sets how "not ready" looks.
    pub fn recording_pending(mut self, style: PendingStyle) -> Self {
        self.recording_pending = style;
        self
    }

    /// Sets the AI summary text.
    pub fn summary(mut self, text: impl Into<String>) -> Self {
        self.summary = Some(text.into());
        self
    }

    /// Sets start and end.
    pub fn times(mut self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Sets the direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Sets the customer's name and address.
    pub fn customer(mut self, name: impl Into<String>, address: impl Into<String>) -> Self {
        self.customer_name = Some(name.into());
        self.customer_address = Some(address.into());
        self
    }
}

/// One user of the fake organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSeed {
    /// User id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email address, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Job title.
    #[serde(default)]
    pub title: Option<String>,
    /// Department.
    #[serde(default)]
    pub department: Option<String>,
    /// Role names, shown under `authorization.roles` with `expand=authorization`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Ids of the user's superiors (`GET /api/v2/users/{id}/superiors`).
    #[serde(default)]
    pub superiors: Vec<String>,
}

impl UserSeed {
    /// A user with a name and an email address.
    pub fn new(id: impl Into<String>, name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            email: Some(email.into()),
            title: None,
            department: None,
            roles: Vec::new(),
            superiors: Vec::new(),
        }
    }

    /// Sets the superiors.
    pub fn superiors<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.superiors = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

/// The role name a supervisor member gets.
pub const SUPERVISOR_ROLE: &str = "Supervisor";

/// One member of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMemberSeed {
    /// The user; added to (or updated in) the users directory.
    pub user: UserSeed,
    /// Adds the [`SUPERVISOR_ROLE`] role to the user.
    #[serde(default)]
    pub supervisor: bool,
    /// Whether the member is joined (on queue).
    #[serde(default = "yes")]
    pub joined: bool,
}

fn yes() -> bool {
    true
}

impl QueueMemberSeed {
    /// A joined agent.
    pub fn agent(user: UserSeed) -> Self {
        Self {
            user,
            supervisor: false,
            joined: true,
        }
    }

    /// A joined supervisor.
    pub fn supervisor(user: UserSeed) -> Self {
        Self {
            user,
            supervisor: true,
            joined: true,
        }
    }
}

/// One routing queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSeed {
    /// Queue id (UUID).
    pub id: String,
    /// Queue name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Members.
    #[serde(default)]
    pub members: Vec<QueueMemberSeed>,
}

impl QueueSeed {
    /// A queue with members.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        members: Vec<QueueMemberSeed>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: None,
            members,
        }
    }
}
