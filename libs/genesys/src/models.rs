//! Wire shapes of the Genesys Cloud Platform API v2, read leniently, and the
//! resource types this crate hands out.
//!
//! Field names follow the public SDK model docs (`Conversation`,
//! `Participant`, `Call`, `Wrapup`, `Recording`, `MediaResult`,
//! `ConversationSummariesGetResponse`, `Queue`, `QueueMember`,
//! `QueueMemberEntityListing`, `User`, `CreateCoachingAppointmentRequest`,
//! `CoachingAppointmentResponse`, `CoachingAppointmentResponseList`). Every
//! field the client does not need is ignored; every field it reads may be
//! missing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Reads `null` as the default, for lists Genesys may send as `null`.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// An RFC 3339 timestamp as epoch milliseconds.
pub(crate) fn epoch_ms(timestamp: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(timestamp?.trim())
        .ok()
        .map(|time| time.timestamp_millis())
}

/// `{"id": ..., "name": ..., "selfUri": ...}` references.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EntityRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// `GET /api/v2/conversations/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Conversation {
    pub id: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub participants: Vec<Participant>,
}

/// One participant of a conversation.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Participant {
    pub name: Option<String>,
    /// `customer`, `external`, `ivr`, `workflow`, `acd`, `agent`, `user`, ...
    pub purpose: Option<String>,
    pub user_id: Option<String>,
    /// The media-specific endpoints (`/conversations/calls/{id}`) nest the
    /// user and queue instead of `userId` / `queueId`.
    pub user: Option<EntityRef>,
    pub queue_id: Option<String>,
    pub queue: Option<EntityRef>,
    pub start_time: Option<String>,
    pub connected_time: Option<String>,
    /// Only the media-specific endpoints carry it at this level.
    pub direction: Option<String>,
    pub wrapup: Option<Wrapup>,
    #[serde(deserialize_with = "nullable")]
    pub calls: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub callbacks: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub chats: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub cobrowsesessions: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub emails: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub messages: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub screenshares: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub social_expressions: Vec<Session>,
    #[serde(deserialize_with = "nullable")]
    pub videos: Vec<Session>,
}

impl Participant {
    /// The participant's user id, in either shape.
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.user_id
            .as_deref()
            .or_else(|| self.user.as_ref()?.id.as_deref())
            .filter(|id| !id.is_empty())
    }

    /// The queue the participant came through, in either shape.
    pub(crate) fn queue_id(&self) -> Option<&str> {
        self.queue_id
            .as_deref()
            .or_else(|| self.queue.as_ref()?.id.as_deref())
            .filter(|id| !id.is_empty())
    }

    /// The media sessions, each list with the media type it stands for, in
    /// the order that decides a conversation's media type: a callback also
    /// has calls, so callbacks come first.
    pub(crate) fn sessions(&self) -> [(&'static str, &[Session]); 9] {
        [
            ("callback", &self.callbacks),
            ("voice", &self.calls),
            ("chat", &self.chats),
            ("message", &self.messages),
            ("email", &self.emails),
            ("video", &self.videos),
            ("socialExpression", &self.social_expressions),
            ("cobrowse", &self.cobrowsesessions),
            ("screenshare", &self.screenshares),
        ]
    }
}

/// A media session of a participant (`Call`, `ConversationChat`, `Message`...).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Session {
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    pub connected_time: Option<String>,
    pub wrapup: Option<Wrapup>,
}

/// Wrap-up (disposition) data.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Wrapup {
    /// The wrap-up code id.
    pub code: Option<String>,
    /// The wrap-up code name, when Genesys includes it.
    pub name: Option<String>,
}

/// One element of `GET /api/v2/conversations/{id}/recordings`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Recording {
    /// `audio`, `chat`, `messaging`, `email` or `screen`.
    pub media: Option<String>,
    /// `UPLOADING`, `AVAILABLE`, `ARCHIVED`, `RESTORING`, `RESTORED`,
    /// `DELETED` or `ERROR`.
    pub file_state: Option<String>,
    /// Null when there is no playable media.
    pub media_uris: Option<BTreeMap<String, MediaResult>>,
}

/// A playable rendition of a recording.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct MediaResult {
    pub media_uri: Option<String>,
}

/// `GET /api/v2/conversations/{id}/summaries`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ConversationSummaries {
    pub summary: Option<SummaryText>,
    #[serde(deserialize_with = "nullable")]
    pub session_summaries: Vec<SummaryText>,
}

/// A conversation or session summary.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SummaryText {
    pub text: Option<String>,
    /// `Pending`, `Queued`, `Started`, `Completed`, `Error`, `Processing`.
    pub status: Option<String>,
    pub edited_summary: Option<EditedText>,
    pub date_created: Option<String>,
}

/// A summary as edited by the agent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EditedText {
    pub text: Option<String>,
}

impl SummaryText {
    /// The agent's edit if any, else the generated text once completed.
    fn best_text(&self) -> Option<&str> {
        let edited = self.edited_summary.as_ref().and_then(|e| e.text.as_deref());
        let completed = self
            .status
            .as_deref()
            .is_none_or(|status| status.to_ascii_lowercase().starts_with("complete"));
        let generated = self.text.as_deref().filter(|_| completed);
        [edited, generated]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|text| !text.is_empty())
    }
}

impl ConversationSummaries {
    /// The conversation summary, else the newest session summary.
    pub(crate) fn best_text(&self) -> Option<String> {
        let mut sessions: Vec<&SummaryText> = self.session_summaries.iter().collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(epoch_ms(s.date_created.as_deref())));
        self.summary
            .iter()
            .chain(sessions)
            .find_map(SummaryText::best_text)
            .map(str::to_owned)
    }
}

/// A routing queue (`GET /api/v2/routing/queues/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// Queue id.
    pub id: String,
    /// Queue name, as shown in the Genesys Cloud UI.
    #[serde(default)]
    pub name: String,
    /// The queue description, if one is set.
    #[serde(default)]
    pub description: Option<String>,
    /// Total number of members, if Genesys reported it.
    #[serde(default)]
    pub member_count: Option<u32>,
}

/// A member of a queue. The members listing has no role: supervisors are
/// found through [`crate::GenesysClient::superiors`] instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMember {
    /// The member's user id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// The user's email, when the listing includes the user.
    pub email: Option<String>,
    /// Whether the member is joined to the queue (receives interactions).
    pub joined: Option<bool>,
    /// How the user became a member: `user` (directly) or `group`.
    pub member_by: Option<String>,
}

/// One `QueueMember` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireQueueMember {
    id: Option<String>,
    name: Option<String>,
    user: Option<WireUser>,
    joined: Option<bool>,
    member_by: Option<String>,
}

impl WireQueueMember {
    /// The member, or `None` when it carries no id at all.
    pub(crate) fn into_member(self) -> Option<QueueMember> {
        let user = self.user.unwrap_or_default();
        let id = self.id.or(user.id).filter(|id| !id.is_empty())?;
        Some(QueueMember {
            id,
            name: self.name.or(user.name),
            email: user.email,
            joined: self.joined,
            member_by: self.member_by,
        })
    }
}

/// One page of an entity listing (`QueueMemberEntityListing`,
/// `CoachingAppointmentResponseList`, ...). Some listings omit `total` and
/// `pageCount` and signal more pages with `nextUri` only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct Listing<T> {
    #[serde(default, deserialize_with = "nullable")]
    pub entities: Vec<T>,
    #[serde(default)]
    pub page_number: Option<u32>,
    #[serde(default)]
    pub page_count: Option<u32>,
    #[serde(default)]
    pub next_uri: Option<String>,
}

/// A Genesys Cloud user (`GET /api/v2/users/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Primary email address.
    pub email: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The id of the user's manager, when one is set.
    pub manager_id: Option<String>,
    /// `active`, `inactive` or `deleted`.
    pub state: Option<String>,
}

/// `User` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireUser {
    id: Option<String>,
    name: Option<String>,
    email: Option<String>,
    title: Option<String>,
    manager: Option<EntityRef>,
    state: Option<String>,
}

impl WireUser {
    /// The user, or `None` when it carries no id.
    pub(crate) fn into_user(self) -> Option<User> {
        Some(User {
            id: self.id.filter(|id| !id.is_empty())?,
            name: self.name,
            email: self.email,
            title: self.title,
            manager_id: self.manager.and_then(|manager| manager.id),
            state: self.state,
        })
    }
}

/// A coaching appointment to create (`CreateCoachingAppointmentRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoachingAppointmentRequest {
    /// Title of the appointment.
    pub name: String,
    /// What the session is about.
    pub description: String,
    /// Start, RFC 3339 (`2026-09-21T09:00:00Z`); Genesys rounds it down to the
    /// minute.
    pub date_start: String,
    /// Duration in minutes.
    pub length_in_minutes: u32,
    /// User ids of the attendees (the coached agents).
    pub attendee_ids: Vec<String>,
    /// User id of the facilitator; Genesys picks the caller when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facilitator_id: Option<String>,
    /// Conversations to review in the session.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_ids: Vec<String>,
}

/// A coaching appointment as Genesys returns it (`CoachingAppointmentResponse`),
/// created or listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoachingAppointment {
    /// Appointment id.
    pub id: String,
    /// Title of the appointment.
    pub name: Option<String>,
    /// What the session is about.
    pub description: Option<String>,
    /// Start as Genesys stored it (rounded down to the minute).
    pub date_start: Option<String>,
    /// Duration in minutes.
    pub length_in_minutes: Option<u32>,
    /// `Scheduled`, `InProgress`, `Completed` or `InvalidSchedule`.
    pub status: Option<String>,
    /// User id of the facilitator.
    pub facilitator_id: Option<String>,
    /// User ids of the attendees.
    pub attendee_ids: Vec<String>,
    /// Conversations attached for review.
    pub conversation_ids: Vec<String>,
    /// API path of the appointment.
    pub self_uri: Option<String>,
}

/// `CoachingAppointmentResponse` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireAppointment {
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    date_start: Option<String>,
    length_in_minutes: Option<u32>,
    status: Option<String>,
    facilitator: Option<EntityRef>,
    #[serde(deserialize_with = "nullable")]
    attendees: Vec<EntityRef>,
    #[serde(deserialize_with = "nullable")]
    conversations: Vec<EntityRef>,
    self_uri: Option<String>,
}

impl WireAppointment {
    /// The appointment, or `None` when it carries no id.
    pub(crate) fn into_appointment(self) -> Option<CoachingAppointment> {
        let ids = |refs: Vec<EntityRef>| -> Vec<String> {
            refs.into_iter()
                .filter_map(|r| r.id.filter(|id| !id.is_empty()))
                .collect()
        };
        Some(CoachingAppointment {
            id: self.id.filter(|id| !id.is_empty())?,
            name: self.name,
            description: self.description,
            date_start: self.date_start,
            length_in_minutes: self.length_in_minutes,
            status: self.status,
            facilitator_id: self.facilitator.and_then(|f| f.id),
            attendee_ids: ids(self.attendees),
            conversation_ids: ids(self.conversations),
            self_uri: self.self_uri,
        })
    }
}

/// Which coaching appointments to list (`GET /api/v2/coaching/appointments`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoachingAppointmentQuery {
    /// `userIds`: appointments these users take part in. Genesys matches a
    /// user as attendee, facilitator or creator (its `relationships` filter
    /// narrows that; not used here).
    pub user_ids: Vec<String>,
    /// `facilitatorIds`: only appointments one of these users facilitates;
    /// empty for any facilitator.
    pub facilitator_ids: Vec<String>,
    /// `interval`: only appointments starting in `[start, end)`.
    pub interval: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[cfg(test)]
mod tests {
    use super::{
        ConversationSummaries, Listing, WireAppointment, WireQueueMember, WireUser, epoch_ms,
    };

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{error}: {json}"))
    }

    #[test]
    fn timestamps_become_epoch_milliseconds() {
        assert_eq!(epoch_ms(Some("1970-01-01T00:00:01.500Z")), Some(1500));
        assert_eq!(
            epoch_ms(Some("2022-07-04T11:00:00Z")),
            Some(1_656_932_400_000)
        );
        assert_eq!(epoch_ms(Some("yesterday")), None);
        assert_eq!(epoch_ms(None), None);
    }

    #[test]
    fn summary_prefers_edits_then_completed_text_then_newest_session() {
        let edited: ConversationSummaries = parse(
            r#"{"summary":{"text":"generated","status":"Completed","editedSummary":{"text":"edited by agent"}}}"#,
        );
        assert_eq!(edited.best_text().as_deref(), Some("edited by agent"));

        let pending: ConversationSummaries = parse(
            r#"{"summary":{"text":"half","status":"Processing"},
                "sessionSummaries":[
                  {"text":"older","status":"Completed","dateCreated":"2026-09-20T10:00:00Z"},
                  {"text":"newer","status":"Completed","dateCreated":"2026-09-20T11:00:00Z"},
                  {"text":"failed","status":"Error","dateCreated":"2026-09-20T12:00:00Z"}]}"#,
        );
        assert_eq!(pending.best_text().as_deref(), Some("newer"));

        let empty: ConversationSummaries = parse(r#"{"sessionSummaries":null}"#);
        assert_eq!(empty.best_text(), None);
    }

    #[test]
    fn members_take_names_and_emails_from_the_nested_user() {
        let listing: Listing<WireQueueMember> = parse(
            r#"{"entities":[
                 {"id":"u-1","name":"Ana","user":{"id":"u-1","name":"Ana","email":"ana@example.com"},"joined":true,"memberBy":"user"},
                 {"user":{"id":"u-2","name":"Ben"}},
                 {"name":"nobody"}],
               "pageSize":25,"pageNumber":1}"#,
        );
        let members: Vec<_> = listing
            .entities
            .into_iter()
            .filter_map(WireQueueMember::into_member)
            .collect();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].email.as_deref(), Some("ana@example.com"));
        assert_eq!(members[1].id, "u-2");
        assert_eq!(members[1].name.as_deref(), Some("Ben"));
    }

    #[test]
    fn appointments_flatten_their_references_and_need_an_id() {
        let listing: Listing<WireAppointment> = parse(
            r#"{"entities":[
                 {"id":"a-1","name":"Review","description":"Why\nRef: k","dateStart":"2026-09-15T10:16:00Z",
                  "lengthInMinutes":30,"status":"Scheduled","facilitator":{"id":"f-1","selfUri":"/api/v2/users/f-1"},
                  "attendees":[{"id":"u-1"},{"selfUri":"/api/v2/users/"}],"conversations":null,"isOverdue":false},
                 {"name":"no id"}],
               "pageSize":25,"pageNumber":1,"total":2,"pageCount":1}"#,
        );
        assert_eq!(listing.page_count, Some(1));
        let appointments: Vec<_> = listing
            .entities
            .into_iter()
            .filter_map(WireAppointment::into_appointment)
            .collect();
        assert_eq!(appointments.len(), 1);
        let appointment = &appointments[0];
        assert_eq!(appointment.description.as_deref(), Some("Why\nRef: k"));
        assert_eq!(appointment.facilitator_id.as_deref(), Some("f-1"));
        assert_eq!(appointment.attendee_ids, ["u-1"]);
        assert!(appointment.conversation_ids.is_empty());
        assert_eq!(appointment.length_in_minutes, Some(30));
    }

    #[test]
    fn users_keep_their_manager_id() {
        let user = parse::<WireUser>(
            r#"{"id":"u-1","name":"Ana","email":"ana@example.com","manager":{"id":"m-1","selfUri":"/api/v2/users/m-1"},"state":"active","version":3}"#,
        )
        .into_user();
        assert_eq!(
            user.as_ref().and_then(|u| u.manager_id.as_deref()),
            Some("m-1")
        );
        assert!(
            parse::<WireUser>(r#"{"name":"no id"}"#)
                .into_user()
                .is_none()
        );
    }
}
