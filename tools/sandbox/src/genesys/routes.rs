//! Platform API v2 handlers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::shapes::{self, NewAppointment};
use super::{error, error_with_details};
use crate::form::query_pairs;
use crate::seed::PendingStyle;
use crate::state::{CoachingAppointment, SandboxState, one_line};

fn conversation_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not.found",
        format!("Conversation with ID {id} could not be found."),
    )
}

/// `GET /api/v2/conversations/{conversationId}`.
pub(super) async fn conversation(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Response {
    state
        .with(|s| {
            s.conversations
                .get(&id)
                .map(|entry| shapes::conversation(entry, s))
        })
        .map_or_else(|| conversation_not_found(&id), |v| Json(v).into_response())
}

/// `GET /api/v2/analytics/conversations/{conversationId}/details`.
pub(super) async fn analytics_details(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Response {
    state
        .with(|s| {
            s.conversations
                .get(&id)
                .map(|entry| shapes::analytics_details(entry, s))
        })
        .map_or_else(|| conversation_not_found(&id), |v| Json(v).into_response())
}

/// What a recordings poll found.
enum Poll {
    Unknown,
    Pending(PendingStyle, Value),
    Ready(Value),
}

/// `GET /api/v2/conversations/{conversationId}/recordings?maxWaitMs=&formatId=`.
///
/// Every call counts as a poll. Answers at once (never holds the request
/// for `maxWaitMs`).
pub(super) async fn recordings(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = query_pairs(query.as_deref());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(wait) = param("maxWaitMs")
        && wait.parse::<u64>().is_err()
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "maxWaitMs must be a positive integer.",
        );
    }
    let format_id = param("formatId").unwrap_or("WEBM").to_owned();
    let host = request_base(&headers, &state);
    let poll = state.with(|s| {
        let Some(entry) = s.conversations.get_mut(&id) else {
            return Poll::Unknown;
        };
        let answered_before = entry.polls;
        entry.polls += 1;
        let ready = entry
            .seed
            .recording_ready_after_polls
            .is_some_and(|n| answered_before >= n);
        if ready {
            let uri = shapes::extension(&format_id)
                .map(|ext| format!("{host}/recordings/{}.{ext}", entry.ids.recording));
            Poll::Ready(shapes::recording(entry, uri))
        } else {
            Poll::Pending(entry.seed.recording_pending, shapes::recording(entry, None))
        }
    });
    match poll {
        Poll::Unknown => conversation_not_found(&id),
        Poll::Ready(recording) => Json(json!([recording])).into_response(),
        Poll::Pending(PendingStyle::Accepted, _) => StatusCode::ACCEPTED.into_response(),
        Poll::Pending(PendingStyle::EmptyList, _) => Json(json!([])).into_response(),
        Poll::Pending(PendingStyle::Uploading, recording) => {
            Json(json!([recording])).into_response()
        }
    }
}

/// The base URL the caller used to reach the sandbox (its `Host`), so
/// media links work from inside containers too.
fn request_base(headers: &HeaderMap, state: &SandboxState) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_else(|| state.with(|s| s.base_url.clone()))
}

/// `GET /recordings/{file}`: a few bytes of "audio".
pub(super) async fn media(Path(file): Path<String>) -> Response {
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("wav") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "opus") => "audio/ogg",
        _ => "audio/webm",
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        Bytes::from_static(b"survey-sandbox fake recording\n"),
    )
        .into_response()
}

/// `GET /api/v2/conversations/{conversationId}/summaries`; 404 when the
/// conversation has no summary.
pub(super) async fn summaries(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Response {
    let found = state.with(|s| {
        s.conversations.get(&id).map(|entry| {
            entry
                .seed
                .summary
                .as_deref()
                .map(|text| shapes::summaries(entry, text))
        })
    });
    match found {
        None => conversation_not_found(&id),
        Some(None) => error(
            StatusCode::NOT_FOUND,
            "not.found",
            format!("No summary found for conversation {id}."),
        ),
        Some(Some(value)) => Json(value).into_response(),
    }
}

fn queue_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not.found",
        format!("Queue with ID {id} could not be found."),
    )
}

/// `GET /api/v2/routing/queues/{queueId}`.
pub(super) async fn queue(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    state
        .with(|s| s.queues.get(&id).map(shapes::queue))
        .map_or_else(|| queue_not_found(&id), |v| Json(v).into_response())
}

/// `expand` values, repeated or comma separated.
fn expands(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "expand")
        .flat_map(|(_, v)| v.split(',').map(|e| e.trim().to_owned()))
        .filter(|e| !e.is_empty())
        .collect()
}

fn int_param(params: &[(String, String)], name: &str, default: u32) -> Result<u32, Box<Response>> {
    match params.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v.parse().map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "bad.request",
                format!("{name} must be an integer."),
            ))
        }),
    }
}

/// `pageSize` 1–100 (default 25) and `pageNumber` from 1 (default 1).
fn paging(params: &[(String, String)]) -> Result<(u32, u32), Box<Response>> {
    let page_size = int_param(params, "pageSize", 25)?;
    let page_number = int_param(params, "pageNumber", 1)?;
    if !(1..=100).contains(&page_size) {
        return Err(Box::new(bad_request("pageSize must be between 1 and 100.")));
    }
    if page_number < 1 {
        return Err(Box::new(bad_request("pageNumber must be 1 or greater.")));
    }
    Ok((page_size, page_number))
}

/// `GET /api/v2/routing/queues/{queueId}/members?pageSize=&pageNumber=&sortOrder=&expand=`:
/// sorted by name, `pageSize` 1–100 (default 25), `nextUri` while more pages follow.
pub(super) async fn queue_members(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_pairs(query.as_deref());
    let (page_size, page_number) = match paging(&params) {
        Ok(paging) => paging,
        Err(response) => return *response,
    };
    let expand = expands(&params);
    let descending = params
        .iter()
        .any(|(k, v)| k == "sortOrder" && v.eq_ignore_ascii_case("desc"));
    let joined_filter = params
        .iter()
        .find(|(k, _)| k == "joined")
        .map(|(_, v)| v == "true");
    let listing = state.with(|s| {
        let queue = s.queues.get(&id)?;
        let mut members: Vec<(String, String, bool)> = queue
            .members
            .iter()
            .filter(|(_, joined)| joined_filter.is_none_or(|want| want == *joined))
            .map(|(user_id, joined)| {
                let name = s
                    .users
                    .get(user_id)
                    .map_or_else(|| user_id.clone(), |u| u.name.clone());
                (user_id.clone(), name, *joined)
            })
            .collect();
        members.sort_by_key(|m| m.1.to_lowercase());
        if descending {
            members.reverse();
        }
        let with_auth = expand.iter().any(|e| e == "authorization");
        let skip = (page_number as usize - 1) * page_size as usize;
        let entities: Vec<Value> = members
            .iter()
            .skip(skip)
            .take(page_size as usize)
            .map(|(user_id, name, joined)| {
                let user = s.users.get(user_id).map_or_else(
                    || shapes::user_reference(user_id),
                    |u| shapes::user(u, s, with_auth),
                );
                shapes::queue_member(user, user_id, name, *joined)
            })
            .collect();
        let more = members.len() > skip + entities.len();
        Some((entities, more))
    });
    let Some((entities, more)) = listing else {
        return queue_not_found(&id);
    };
    let expand_query: String = expands(&params)
        .iter()
        .map(|e| format!("&expand={e}"))
        .collect();
    let uri = |page: u32| {
        format!(
            "/api/v2/routing/queues/{id}/members?pageSize={page_size}&pageNumber={page}{expand_query}"
        )
    };
    let mut body = json!({
        "entities": entities,
        "pageSize": page_size,
        "pageNumber": page_number,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
    });
    if let Some(map) = body.as_object_mut() {
        if more {
            map.insert("nextUri".to_owned(), json!(uri(page_number + 1)));
        }
        if page_number > 1 {
            map.insert("previousUri".to_owned(), json!(uri(page_number - 1)));
        }
    }
    Json(body).into_response()
}

fn user_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not.found",
        format!("User with ID {id} could not be found."),
    )
}

/// `GET /api/v2/users/{userId}?expand=`.
pub(super) async fn user(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let with_auth = expands(&query_pairs(query.as_deref()))
        .iter()
        .any(|e| e == "authorization");
    state
        .with(|s| s.users.get(&id).map(|u| shapes::user(u, s, with_auth)))
        .map_or_else(|| user_not_found(&id), |v| Json(v).into_response())
}

/// `GET /api/v2/users/{userId}/superiors`: a bare array of users.
pub(super) async fn superiors(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let with_auth = expands(&query_pairs(query.as_deref()))
        .iter()
        .any(|e| e == "authorization");
    state
        .with(|s| {
            let user = s.users.get(&id)?;
            let list: Vec<Value> = user
                .superiors
                .iter()
                .map(|sid| {
                    s.users.get(sid).map_or_else(
                        || shapes::user_reference(sid),
                        |u| shapes::user(u, s, with_auth),
                    )
                })
                .collect();
            Some(Value::Array(list))
        })
        .map_or_else(|| user_not_found(&id), |v| Json(v).into_response())
}

/// A validated CreateCoachingAppointmentRequest.
struct AppointmentRequest {
    name: String,
    description: String,
    date_start: DateTime<Utc>,
    date_start_raw: String,
    length_in_minutes: i64,
    attendee_ids: Vec<String>,
    facilitator_id: Option<String>,
    conversation_ids: Vec<String>,
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Checks the required fields: name, description, dateStart,
/// lengthInMinutes, attendeeIds. Returns the problems found.
fn validate(body: &Value) -> Result<AppointmentRequest, Vec<String>> {
    let mut problems = Vec::new();
    let text = |field: &str, problems: &mut Vec<String>| match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            problems.push(format!("{field} is required"));
            None
        }
        Some(_) => {
            problems.push(format!("{field} must be a string"));
            None
        }
    };
    let name = text("name", &mut problems);
    let description = text("description", &mut problems);
    let date_start_raw = text("dateStart", &mut problems);
    let date_start = date_start_raw.as_deref().and_then(|raw| {
        let parsed = DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|d| d.with_timezone(&Utc));
        if parsed.is_none() {
            problems.push("dateStart must be an ISO-8601 date-time".to_owned());
        }
        parsed
    });
    let length = match body.get("lengthInMinutes") {
        None | Some(Value::Null) => {
            problems.push("lengthInMinutes is required".to_owned());
            None
        }
        Some(v) => match v.as_i64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                problems.push("lengthInMinutes must be a positive integer".to_owned());
                None
            }
        },
    };
    let attendees = match body.get("attendeeIds") {
        None | Some(Value::Null) => {
            problems.push("attendeeIds is required".to_owned());
            None
        }
        Some(v) => match string_list(v) {
            Some(list) if !list.is_empty() => Some(list),
            _ => {
                problems.push("attendeeIds must be a non-empty list of user ids".to_owned());
                None
            }
        },
    };
    let facilitator_id = body
        .get("facilitatorId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let conversation_ids = body
        .get("conversationIds")
        .and_then(string_list)
        .unwrap_or_default();
    match (
        name,
        description,
        date_start_raw,
        date_start,
        length,
        attendees,
    ) {
        (
            Some(name),
            Some(description),
            Some(date_start_raw),
            Some(date_start),
            Some(length_in_minutes),
            Some(attendee_ids),
        ) if problems.is_empty() => Ok(AppointmentRequest {
            name,
            description,
            date_start,
            date_start_raw,
            length_in_minutes,
            attendee_ids,
            facilitator_id,
            conversation_ids,
        }),
        _ => Err(problems),
    }
}

fn validation_error(problems: &[String]) -> Response {
    let details: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({
                "errorCode": "bad.request",
                "fieldName": p.split(' ').next().unwrap_or_default(),
            })
        })
        .collect();
    error_with_details(
        StatusCode::BAD_REQUEST,
        "bad.request",
        format!(
            "The request could not be processed: {}.",
            problems.join("; ")
        ),
        details,
    )
}

/// `POST /api/v2/coaching/appointments`: 201 with the created appointment.
pub(super) async fn create_appointment(State(state): State<SandboxState>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad.request",
            "The request body is not valid JSON.",
        );
    };
    let appointment = match validate(&request) {
        Ok(appointment) => appointment,
        Err(problems) => return validation_error(&problems),
    };
    let id = Uuid::new_v4().to_string();
    let created = Utc::now();
    let date_start = to_the_minute(appointment.date_start);
    let response = shapes::appointment(&NewAppointment {
        id: &id,
        name: &appointment.name,
        description: &appointment.description,
        date_start,
        length_in_minutes: appointment.length_in_minutes,
        facilitator_id: appointment.facilitator_id.as_deref(),
        attendee_ids: &appointment.attendee_ids,
        conversation_ids: &appointment.conversation_ids,
        created,
    });
    let record = CoachingAppointment {
        id,
        name: appointment.name,
        description: appointment.description,
        date_start: appointment.date_start_raw,
        length_in_minutes: appointment.length_in_minutes,
        attendee_ids: appointment.attendee_ids,
        facilitator_id: appointment.facilitator_id,
        conversation_ids: appointment.conversation_ids,
        request,
        received_at: created,
    };
    state.deliver(|s| {
        s.announce(&format!(
            "coaching appointment \"{}\" at {} for {}",
            one_line(&record.name, 80),
            record.date_start,
            record.attendee_ids.join(", ")
        ));
        s.coaching.push(record);
    });
    (StatusCode::CREATED, Json(response)).into_response()
}

/// `GET /api/v2/coaching/appointments/{appointmentId}`.
pub(super) async fn appointment(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
) -> Response {
    let found = state.with(|s| s.coaching.iter().find(|a| a.id == id).cloned());
    let Some(a) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "not.found",
            format!("Appointment with ID {id} could not be found."),
        );
    };
    Json(stored_appointment(&a)).into_response()
}

/// Genesys keeps appointment starts rounded down to the minute.
fn to_the_minute(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(time)
}

/// When a recorded appointment starts, as Genesys keeps it.
fn stored_start(a: &CoachingAppointment) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&a.date_start)
        .map_or(a.received_at, |d| to_the_minute(d.with_timezone(&Utc)))
}

/// A recorded appointment as CoachingAppointmentResponse.
fn stored_appointment(a: &CoachingAppointment) -> Value {
    shapes::appointment(&NewAppointment {
        id: &a.id,
        name: &a.name,
        description: &a.description,
        date_start: stored_start(a),
        length_in_minutes: a.length_in_minutes,
        facilitator_id: a.facilitator_id.as_deref(),
        attendee_ids: &a.attendee_ids,
        conversation_ids: &a.conversation_ids,
        created: a.received_at,
    })
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad.request", message)
}

/// `start/end` in ISO-8601.
fn interval(raw: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = raw.split_once('/')?;
    let parse = |text: &str| {
        DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((parse(start)?, parse(end)?)).filter(|(start, end)| start <= end)
}

/// How a user relates to an appointment (`relationships` values). The
/// sandbox records the facilitator as the creator.
fn related(a: &CoachingAppointment, user_id: &str, relationship: &str) -> bool {
    let facilitates = a.facilitator_id.as_deref() == Some(user_id);
    match relationship {
        "Attendee" => a.attendee_ids.iter().any(|id| id == user_id),
        "Facilitator" | "Creator" => facilitates,
        _ => false,
    }
}

const RELATIONSHIPS: [&str; 3] = ["Attendee", "Facilitator", "Creator"];

/// `GET /api/v2/coaching/appointments?userIds=&facilitatorIds=&interval=&intervalCondition=&relationships=&statuses=&sortOrder=&pageNumber=&pageSize=`:
/// the appointments the users take part in (as attendee, facilitator or
/// creator unless `relationships` narrows it), starting in `interval` (end
/// excluded; `intervalCondition=Overlaps` for any overlap), by start,
/// `pageSize` 1–100 (default 25), with `total` and `pageCount`.
pub(super) async fn list_appointments(
    State(state): State<SandboxState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = query_pairs(query.as_deref());
    let list = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let user_ids = list("userIds");
    if user_ids.is_empty() {
        return bad_request("userIds is required.");
    }
    let facilitator_ids = list("facilitatorIds");
    let statuses = list("statuses");
    let mut relationships = list("relationships");
    if let Some(unknown) = relationships
        .iter()
        .find(|r| !RELATIONSHIPS.contains(&r.as_str()))
    {
        return bad_request(format!(
            "relationships must be Attendee, Facilitator or Creator, not {unknown}."
        ));
    }
    if relationships.is_empty() {
        relationships = RELATIONSHIPS.map(str::to_owned).to_vec();
    }
    let window = match param("interval").map(interval) {
        None => None,
        Some(Some(window)) => Some(window),
        Some(None) => {
            return bad_request(
                "interval must be an ISO-8601 interval: YYYY-MM-DDThh:mm:ssZ/YYYY-MM-DDThh:mm:ssZ.",
            );
        }
    };
    let overlaps = param("intervalCondition").is_some_and(|c| c.eq_ignore_ascii_case("Overlaps"));
    let descending = param("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    let (page_size, page_number) = match paging(&params) {
        Ok(paging) => paging,
        Err(response) => return *response,
    };

    let mut matching: Vec<(DateTime<Utc>, CoachingAppointment)> = state.with(|s| {
        s.coaching
            .iter()
            .filter(|a| {
                user_ids
                    .iter()
                    .any(|u| relationships.iter().any(|r| related(a, u, r)))
            })
            .filter(|a| {
                facilitator_ids.is_empty()
                    || a.facilitator_id
                        .as_ref()
                        .is_some_and(|f| facilitator_ids.contains(f))
            })
            // Every recorded appointment stays Scheduled.
            .filter(|_| statuses.is_empty() || statuses.iter().any(|s| s == "Scheduled"))
            .map(|a| (stored_start(a), a.clone()))
            .collect()
    });
    if let Some((start, end)) = window {
        matching.retain(|(begins, a)| {
            if overlaps {
                let ends = chrono::Duration::try_minutes(a.length_in_minutes)
                    .and_then(|length| begins.checked_add_signed(length));
                *begins < end && ends.is_none_or(|ends| ends > start)
            } else {
                start <= *begins && *begins < end
            }
        });
    }
    matching.sort_by(|(x, a), (y, b)| x.cmp(y).then_with(|| a.id.cmp(&b.id)));
    if descending {
        matching.reverse();
    }
    let total = matching.len();
    let size = page_size as usize;
    let page_count = total.div_ceil(size);
    let entities: Vec<Value> = matching
        .iter()
        .skip((page_number as usize - 1) * size)
        .take(size)
        .map(|(_, a)| stored_appointment(a))
        .collect();

    // Page links repeat the caller's filters as sent.
    let filters: String = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && key != "pageSize" && key != "pageNumber"
        })
        .map(|pair| format!("{pair}&"))
        .collect();
    let uri = |page: usize| {
        format!("/api/v2/coaching/appointments?{filters}pageSize={page_size}&pageNumber={page}")
    };
    let number = page_number as usize;
    let mut body = json!({
        "entities": entities,
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(number),
        "lastUri": uri(page_count.max(1)),
    });
    if let Some(map) = body.as_object_mut() {
        if number < page_count {
            map.insert("nextUri".to_owned(), json!(uri(number + 1)));
        }
        if number > 1 {
            map.insert("previousUri".to_owned(), json!(uri(number - 1)));
        }
    }
    Json(body).into_response()
}
