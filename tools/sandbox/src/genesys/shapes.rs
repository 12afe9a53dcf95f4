//! The JSON the Platform API answers with, built from the seeds.
//!
//! Field names and nesting follow the public SDK models (Conversation,
//! Participant, Call/ConversationChat/Message, Wrapup, Recording with
//! `mediaUris` of MediaResult, ConversationSummariesGetResponse, Queue,
//! QueueMemberEntityListing, User, CoachingAppointmentResponse,
//! AnalyticsConversation). Absent values are left out, as Genesys does.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::seed::{ConversationSeed, HandledBy, MediaType, UserSeed};
use crate::state::{ConversationEntry, Inner, StoredQueue};

/// The single division everything lives in.
pub(super) const HOME_DIVISION_ID: &str = "7e5f3f1b-2f3c-4c7e-9d55-3c1a8b0e6a01";

/// Genesys timestamp format: `2024-05-01T12:34:56.789Z`.
pub(super) fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Removes `null` members from objects, recursively.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

fn division() -> Value {
    json!({
        "id": HOME_DIVISION_ID,
        "name": "Home",
        "selfUri": format!("/api/v2/authorization/divisions/{HOME_DIVISION_ID}"),
    })
}

/// When each participant was on the conversation.
struct Timeline {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    flow_end: DateTime<Utc>,
    queue_end: DateTime<Utc>,
}

impl Timeline {
    fn of(seed: &ConversationSeed) -> Self {
        let start = seed.start;
        let end = seed
            .end
            .unwrap_or_else(Utc::now)
            .max(start + Duration::seconds(10));
        let span = end - start;
        let flow_end = match (&seed.handled_by, seed.media_type) {
            (HandledBy::Bot { .. }, _) => end,
            (_, MediaType::Voice) => start + span / 10,
            _ => start,
        };
        let queue_end = match seed.handled_by {
            HandledBy::Agent { .. } => flow_end + span / 6,
            _ => end,
        };
        Self {
            start,
            end,
            flow_end,
            queue_end,
        }
    }
}

/// Who was on the conversation, in join order.
struct Party<'a> {
    id: &'a str,
    session_id: &'a str,
    purpose: &'static str,
    name: String,
    user_id: Option<&'a str>,
    queue_id: Option<&'a str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    disconnect_type: &'static str,
    recorded: bool,
    wrapup: Option<Value>,
}

fn parties<'a>(entry: &'a ConversationEntry, inner: &Inner) -> Vec<Party<'a>> {
    let seed = &entry.seed;
    let ids = &entry.ids;
    let time = Timeline::of(seed);
    let queue_name = seed
        .queue_id
        .as_ref()
        .and_then(|q| inner.queues.get(q))
        .map(|q| q.name.clone());
    let recorded = seed.recording_ready_after_polls.is_some();
    let mut list = vec![Party {
        id: &ids.customer,
        session_id: &ids.customer_session,
        purpose: "customer",
        name: seed
            .customer_name
            .clone()
            .unwrap_or_else(|| "Customer".to_owned()),
        user_id: None,
        queue_id: None,
        start: time.start,
        end: time.end,
        disconnect_type: match seed.handled_by {
            HandledBy::Agent { .. } => "peer",
            _ => "client",
        },
        recorded,
        wrapup: None,
    }];
    match &seed.handled_by {
        HandledBy::Bot { flow_name } => list.push(Party {
            id: &ids.flow,
            session_id: &ids.flow_session,
            purpose: if seed.media_type == MediaType::Voice {
                "ivr"
            } else {
                "workflow"
            },
            name: flow_name.clone(),
            user_id: None,
            queue_id: None,
            start: time.start,
            end: time.end,
            disconnect_type: "peer",
            recorded: false,
            wrapup: None,
        }),
        _ if seed.media_type == MediaType::Voice => list.push(Party {
            id: &ids.flow,
            session_id: &ids.flow_session,
            purpose: "ivr",
            name: "Main Menu".to_owned(),
            user_id: None,
            queue_id: None,
            start: time.start,
            end: time.flow_end,
            disconnect_type: "transfer",
            recorded: false,
            wrapup: None,
        }),
        _ => {}
    }
    if let Some(queue_id) = seed.queue_id.as_deref() {
        list.push(Party {
            id: &ids.acd,
            session_id: &ids.acd_session,
            purpose: "acd",
            name: queue_name.unwrap_or_else(|| "Queue".to_owned()),
            user_id: None,
            queue_id: Some(queue_id),
            start: time.flow_end,
            end: time.queue_end,
            disconnect_type: match seed.handled_by {
                HandledBy::Agent { .. } => "transfer",
                _ => "peer",
            },
            recorded: false,
            wrapup: None,
        });
    }
    if let HandledBy::Agent { user_id, name } = &seed.handled_by {
        let wrapup = seed.wrapup.as_ref().map(|w| {
            json!({
                "code": w.code,
                "name": w.name,
                "durationSeconds": 25,
                "endTime": iso(time.end + Duration::seconds(25)),
            })
        });
        list.push(Party {
            id: &ids.agent,
            session_id: &ids.agent_session,
            purpose: "agent",
            name: name.clone(),
            user_id: Some(user_id),
            queue_id: seed.queue_id.as_deref(),
            start: time.queue_end,
            end: time.end,
            disconnect_type: "client",
            recorded,
            wrapup,
        });
    }
    list
}

fn provider(media: MediaType) -> &'static str {
    match media {
        MediaType::Voice | MediaType::Callback => "Edge",
        MediaType::Chat => "PureCloud Webchat v2",
        MediaType::Message => "PureCloud Messaging",
        MediaType::Email => "PureCloud Email",
    }
}

/// `GET /api/v2/conversations/{id}`.
pub(super) fn conversation(entry: &ConversationEntry, inner: &Inner) -> Value {
    let seed = &entry.seed;
    let ended = seed.end.is_some();
    let queue_name = |queue_id: Option<&str>| {
        queue_id
            .and_then(|q| inner.queues.get(q))
            .map(|q| q.name.clone())
    };
    let participants: Vec<Value> = parties(entry, inner)
        .into_iter()
        .map(|p| {
            let mut session = json!({
                "id": p.session_id,
                "state": if ended { "disconnected" } else { "connected" },
                "initialState": if p.purpose == "customer" { "offering" } else { "alerting" },
                "direction": seed.direction.as_str(),
                "recording": p.recorded,
                "recordingState": if p.recorded { "active" } else { "none" },
                "recordingId": p.recorded.then_some(entry.ids.recording.as_str()),
                "connectedTime": iso(p.start),
                "disconnectedTime": ended.then(|| iso(p.end)),
                "disconnectType": ended.then_some(p.disconnect_type),
                "provider": provider(seed.media_type),
            });
            if seed.media_type == MediaType::Message
                && let Some(map) = session.as_object_mut()
            {
                map.insert("type".to_owned(), json!("webmessaging"));
            }
            let mut participant = json!({
                "id": p.id,
                "startTime": iso(p.start),
                "endTime": ended.then(|| iso(p.end)),
                "connectedTime": iso(p.start),
                "name": p.name,
                "userUri": p.user_id.map(|u| format!("/api/v2/users/{u}")),
                "userId": p.user_id,
                "queueId": p.queue_id,
                "queueName": queue_name(p.queue_id),
                "purpose": p.purpose,
                "participantType": if p.purpose == "customer" { "External" } else { "Internal" },
                "address": (p.purpose == "customer").then(|| seed.customer_address.clone()).flatten(),
                "ani": (p.purpose == "customer").then(|| seed.customer_address.clone()).flatten(),
                "wrapupRequired": p.purpose == "agent",
                "wrapup": p.wrapup,
                "attributes": {},
            });
            if let Some(map) = participant.as_object_mut() {
                map.insert(
                    seed.media_type.session_key().to_owned(),
                    Value::Array(vec![session]),
                );
            }
            participant
        })
        .collect();
    compact(json!({
        "id": seed.id,
        "startTime": iso(seed.start),
        "endTime": seed.end.map(iso),
        "address": seed.customer_address,
        "participants": participants,
        "recordingState": if seed.recording_ready_after_polls.is_some() { "active" } else { "none" },
        "divisions": [{
            "division": { "id": HOME_DIVISION_ID, "selfUri": format!("/api/v2/authorization/divisions/{HOME_DIVISION_ID}") },
            "entities": [],
        }],
        "selfUri": format!("/api/v2/conversations/{}", seed.id),
    }))
}

/// `GET /api/v2/analytics/conversations/{id}/details`.
pub(super) fn analytics_details(entry: &ConversationEntry, inner: &Inner) -> Value {
    let seed = &entry.seed;
    let ended = seed.end.is_some();
    let participants: Vec<Value> = parties(entry, inner)
        .into_iter()
        .map(|p| {
            let disconnect = ended.then_some(p.disconnect_type);
            let segments = match p.purpose {
                "agent" => {
                    let alert_end = p.start + Duration::seconds(5);
                    let wrap_code = seed.wrapup.as_ref().map(|w| w.code.clone());
                    let mut list = vec![
                        json!({"segmentStart": iso(p.start), "segmentEnd": iso(alert_end), "segmentType": "alert", "queueId": p.queue_id}),
                        json!({"segmentStart": iso(alert_end), "segmentEnd": ended.then(|| iso(p.end)), "segmentType": "interact", "queueId": p.queue_id, "disconnectType": disconnect}),
                    ];
                    if ended && wrap_code.is_some() {
                        list.push(json!({"segmentStart": iso(p.end), "segmentEnd": iso(p.end + Duration::seconds(25)), "segmentType": "wrapup", "queueId": p.queue_id, "wrapUpCode": wrap_code}));
                    }
                    list
                }
                "ivr" => vec![json!({"segmentStart": iso(p.start), "segmentEnd": ended.then(|| iso(p.end)), "segmentType": "ivr", "disconnectType": disconnect})],
                _ => vec![json!({"segmentStart": iso(p.start), "segmentEnd": ended.then(|| iso(p.end)), "segmentType": "interact", "queueId": p.queue_id, "disconnectType": disconnect})],
            };
            let flow = matches!(p.purpose, "ivr" | "workflow").then(|| {
                json!({
                    "flowName": p.name,
                    "flowType": match (p.purpose, seed.media_type) {
                        ("ivr", _) => "INBOUNDCALL",
                        (_, MediaType::Chat) => "INBOUNDCHAT",
                        (_, MediaType::Email) => "INBOUNDEMAIL",
                        _ => "INBOUNDSHORTMESSAGE",
                    },
                })
            });
            json!({
                "participantId": p.id,
                "participantName": p.name,
                "purpose": p.purpose,
                "userId": p.user_id,
                "sessions": [{
                    "mediaType": seed.media_type.analytics_name(),
                    "sessionId": p.session_id,
                    "direction": seed.direction.as_str(),
                    "ani": (p.purpose == "customer").then(|| seed.customer_address.clone()).flatten(),
                    "recording": p.recorded.then_some(true),
                    "flow": flow,
                    "segments": segments,
                }],
            })
        })
        .collect();
    compact(json!({
        "conversationId": seed.id,
        "conversationStart": iso(seed.start),
        "conversationEnd": seed.end.map(iso),
        "originatingDirection": seed.direction.as_str(),
        "divisionIds": [HOME_DIVISION_ID],
        "participants": participants,
    }))
}

/// File extension for a recording `formatId`; `None` for `NONE`.
pub(super) fn extension(format_id: &str) -> Option<&'static str> {
    match format_id.to_ascii_uppercase().as_str() {
        "NONE" => None,
        "WAV" | "WAV_ULAW" => Some("wav"),
        "OGG_VORBIS" => Some("ogg"),
        "OGG_OPUS" => Some("opus"),
        "MP3" => Some("mp3"),
        _ => Some("webm"),
    }
}

/// One Recording of `GET /api/v2/conversations/{id}/recordings`.
/// `media_uri` is the media file's URL (`None`: not ready, so `fileState`
/// is `UPLOADING` and there are no `mediaUris`).
pub(super) fn recording(entry: &ConversationEntry, media_uri: Option<String>) -> Value {
    let seed = &entry.seed;
    let end = seed.end.unwrap_or_else(Utc::now);
    let ready = media_uri.is_some();
    let duration_ms = (end - seed.start).num_milliseconds().max(0);
    let audio = seed.media_type.recording_media() == "audio";
    compact(json!({
        "id": entry.ids.recording,
        "conversationId": seed.id,
        "startTime": ready.then(|| iso(seed.start)),
        "endTime": ready.then(|| iso(end)),
        "media": seed.media_type.recording_media(),
        "fileState": if ready { "AVAILABLE" } else { "UPLOADING" },
        "mediaUris": media_uri.filter(|_| audio).map(|uri| json!({ "S": { "mediaUri": uri } })),
        "estimatedTranscodeTimeMs": 1200,
        "actualTranscodeTimeMs": ready.then_some(1100),
        "outputDurationMs": ready.then_some(duration_ms),
        "outputSizeInBytes": ready.then_some(duration_ms * 2),
        "sessionId": entry.ids.customer_session,
        "recordingFileRole": "CUSTOMER_EXPERIENCE",
        "creationTime": iso(end),
        "archiveDate": iso(end + Duration::days(90)),
        "deleteDate": iso(end + Duration::days(365)),
        "selfUri": format!("/api/v2/conversations/{}/recordings/{}", seed.id, entry.ids.recording),
    }))
}

/// `GET /api/v2/conversations/{id}/summaries` (ConversationSummariesGetResponse).
pub(super) fn summaries(entry: &ConversationEntry, text: &str) -> Value {
    let seed = &entry.seed;
    let created = seed.end.unwrap_or_else(Utc::now) + Duration::seconds(30);
    let media = match seed.media_type {
        MediaType::Voice => "call",
        MediaType::Chat => "chat",
        MediaType::Message => "message",
        MediaType::Email => "email",
        MediaType::Callback => "callback",
    };
    let mut participants = vec![json!({ "id": entry.ids.customer })];
    if let HandledBy::Agent { user_id, .. } = &seed.handled_by {
        participants.push(json!({ "id": user_id, "selfUri": format!("/api/v2/users/{user_id}") }));
    }
    let summary = json!({
        "id": entry.ids.summary,
        "text": text,
        "confidence": 0.87,
        "status": "Completed",
        "mediaType": media,
        "language": "en-us",
        "dateCreated": iso(created),
        "participants": participants,
    });
    let mut session = summary.clone();
    if let Some(map) = session.as_object_mut() {
        map.insert(
            "communication".to_owned(),
            json!({ "id": entry.ids.agent_session }),
        );
    }
    json!({
        "conversation": { "id": seed.id, "selfUri": format!("/api/v2/conversations/{}", seed.id) },
        "summary": summary,
        "sessionSummaries": [session],
    })
}

/// `GET /api/v2/routing/queues/{id}`.
pub(super) fn queue(queue: &StoredQueue) -> Value {
    let joined = queue.members.iter().filter(|(_, j)| *j).count();
    compact(json!({
        "id": queue.id,
        "name": queue.name,
        "division": division(),
        "description": queue.description,
        "dateCreated": iso(queue.created),
        "dateModified": iso(queue.created),
        "memberCount": queue.members.len(),
        "userMemberCount": queue.members.len(),
        "joinedMemberCount": joined,
        "acwSettings": { "wrapupPrompt": "MANDATORY_TIMEOUT", "timeoutMs": 30000 },
        "skillEvaluationMethod": "ALL",
        "autoAnswerOnly": false,
        "enableTranscription": false,
        "enableManualAssignment": false,
        "selfUri": format!("/api/v2/routing/queues/{}", queue.id),
    }))
}

/// A User; roles under `authorization` only when expanded.
pub(super) fn user(user: &UserSeed, inner: &Inner, expand_authorization: bool) -> Value {
    let authorization = expand_authorization.then(|| {
        let roles: Vec<Value> = user
            .roles
            .iter()
            .map(|name| {
                json!({
                    "id": inner.role_ids.get(name).cloned().unwrap_or_default(),
                    "name": name,
                })
            })
            .collect();
        json!({ "roles": roles, "permissions": [] })
    });
    compact(json!({
        "id": user.id,
        "name": user.name,
        "division": division(),
        "email": user.email,
        "state": "active",
        "title": user.title,
        "department": user.department,
        "username": user.email.clone().unwrap_or_else(|| format!("{}@sandbox.local", user.id)),
        "version": 1,
        "acdAutoAnswer": false,
        "authorization": authorization,
        "selfUri": format!("/api/v2/users/{}", user.id),
    }))
}

/// A user id that is not in the directory, as a bare reference.
pub(super) fn user_reference(id: &str) -> Value {
    json!({ "id": id, "selfUri": format!("/api/v2/users/{id}") })
}

/// One QueueMember of the members listing.
pub(super) fn queue_member(user_value: Value, user_id: &str, name: &str, joined: bool) -> Value {
    json!({
        "id": user_id,
        "name": name,
        "user": user_value,
        "ringNumber": 1,
        "joined": joined,
        "memberBy": "user",
        "selfUri": format!("/api/v2/users/{user_id}"),
    })
}

/// CoachingAppointmentResponse for a created appointment.
pub(super) struct NewAppointment<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub date_start: DateTime<Utc>,
    pub length_in_minutes: i64,
    pub facilitator_id: Option<&'a str>,
    pub attendee_ids: &'a [String],
    pub conversation_ids: &'a [String],
    pub created: DateTime<Utc>,
}

pub(super) fn appointment(a: &NewAppointment<'_>) -> Value {
    let refs = |ids: &[String], path: &str| -> Vec<Value> {
        ids.iter()
            .map(|id| json!({ "id": id, "selfUri": format!("/api/v2/{path}/{id}") }))
            .collect()
    };
    compact(json!({
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "dateStart": iso(a.date_start),
        "lengthInMinutes": a.length_in_minutes,
        "status": "Scheduled",
        "facilitator": a.facilitator_id.map(user_reference),
        "attendees": refs(a.attendee_ids, "users"),
        "createdBy": a.facilitator_id.map(user_reference),
        "dateCreated": iso(a.created),
        "modifiedBy": a.facilitator_id.map(user_reference),
        "dateModified": iso(a.created),
        "conversations": refs(a.conversation_ids, "conversations"),
        "documents": [],
        "isOverdue": false,
        "externalLinks": [],
        "selfUri": format!("/api/v2/coaching/appointments/{}", a.id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::ConversationSeed;
    use crate::state::SandboxState;

    #[test]
    fn an_agent_call_has_customer_ivr_acd_and_agent_with_calls() {
        let state = SandboxState::new(true);
        state.add_conversation(
            ConversationSeed::new(
                "c1",
                MediaType::Voice,
                HandledBy::Agent {
                    user_id: "u1".into(),
                    name: "Ann".into(),
                },
            )
            .queue("q1")
            .wrapup("w1", "Refund")
            .recording_ready_after(0),
        );
        let value = state.with(|s| conversation(&s.conversations["c1"], s));
        let purposes: Vec<&str> = value["participants"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["purpose"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(purposes, ["customer", "ivr", "acd", "agent"]);
        let agent = &value["participants"][3];
        assert_eq!(agent["userId"], "u1");
        assert_eq!(agent["queueId"], "q1");
        assert_eq!(agent["wrapup"]["code"], "w1");
        assert_eq!(agent["calls"][0]["direction"], "inbound");
        assert!(agent.get("chats").is_none());
        assert!(
            value["participants"][2].get("userId").is_none(),
            "nulls are dropped"
        );
    }

    #[test]
    fn a_bot_chat_has_a_workflow_and_no_agent() {
        let state = SandboxState::new(true);
        state.add_conversation(ConversationSeed::new(
            "c2",
            MediaType::Chat,
            HandledBy::Bot {
                flow_name: "FAQ Bot".into(),
            },
        ));
        let value = state.with(|s| conversation(&s.conversations["c2"], s));
        let purposes: Vec<&str> = value["participants"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["purpose"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(purposes, ["customer", "workflow"]);
        assert_eq!(value["participants"][1]["chats"][0]["direction"], "inbound");
    }
}
