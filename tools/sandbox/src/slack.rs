//! Fake Slack Web API: `chat.postMessage` and `chat.update`.
//!
//! Like Slack, it answers HTTP 200 with `{"ok": false, "error": ...}` for
//! application errors (`not_authed`, `invalid_auth`, `channel_not_found`,
//! `message_not_found`, `no_text`, `invalid_json`) and HTTP 429 with
//! `Retry-After` and `"error": "ratelimited"` when rate limited.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::form::query_pairs;
use crate::state::{ChannelLookup, SandboxState, SlackMessage, SlackMethod, one_line};

/// The bot user the sandbox posts as.
const BOT_USER: &str = "U0SANDBOX1";
/// The bot id the sandbox posts as.
const BOT_ID: &str = "B0SANDBOX1";

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .route("/api/chat.update", post(update))
        .route("/api/{method}", post(unknown_method).get(unknown_method))
        .with_state(state)
}

fn slack_error(error: &str) -> Response {
    Json(json!({ "ok": false, "error": error })).into_response()
}

/// The answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let error = match status.as_u16() {
        429 => "ratelimited",
        408 | 504 => "request_timeout",
        503 => "service_unavailable",
        500 => "internal_error",
        _ => "fatal_error",
    };
    (status, Json(json!({ "ok": false, "error": error }))).into_response()
}

async fn unknown_method() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "ok": false, "error": "unknown_method" })),
    )
        .into_response()
}

/// Checks the bot token and reads a JSON or form body into an object; the
/// error is Slack's error code.
fn read_call(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        None => return Err("not_authed"),
        Some(token) if !token.starts_with("xox") => return Err("invalid_auth"),
        Some(_) => {}
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let text = std::str::from_utf8(body).map_err(|_| "invalid_form_data")?;
        return Ok(query_pairs(Some(text))
            .into_iter()
            .map(|(key, value)| {
                let value = match key.as_str() {
                    "blocks" | "attachments" => {
                        serde_json::from_str(&value).unwrap_or(Value::String(value))
                    }
                    _ => Value::String(value),
                };
                (key, value)
            })
            .collect());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("invalid_json"),
    }
}

fn string_field(call: &Map<String, Value>, name: &str) -> Option<String> {
    call.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn has_content(call: &Map<String, Value>) -> bool {
    string_field(call, "text").is_some()
        || call
            .get("blocks")
            .and_then(Value::as_array)
            .is_some_and(|b| !b.is_empty())
        || call
            .get("attachments")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

fn message_json(call: &Map<String, Value>, ts: &str) -> Value {
    let mut message = json!({
        "type": "message",
        "subtype": "bot_message",
        "user": BOT_USER,
        "bot_id": BOT_ID,
        "text": string_field(call, "text").unwrap_or_default(),
        "ts": ts,
    });
    if let Some(map) = message.as_object_mut() {
        for key in ["blocks", "attachments", "thread_ts"] {
            if let Some(value) = call.get(key) {
                map.insert(key.to_owned(), value.clone());
            }
        }
    }
    message
}

/// `POST /api/chat.postMessage`.
async fn post_message(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match read_call(&headers, &body) {
        Ok(call) => call,
        Err(code) => return slack_error(code),
    };
    let Some(channel) = string_field(&call, "channel") else {
        return slack_error("channel_not_found");
    };
    if !has_content(&call) {
        return slack_error("no_text");
    }
    let outcome = state.deliver(|s| {
        let ChannelLookup::Found(channel_id) = s.slack_channel(&channel) else {
            return None;
        };
        let ts = s.next_slack_ts();
        let record = SlackMessage {
            method: SlackMethod::PostMessage,
            channel: channel.clone(),
            channel_id: channel_id.clone(),
            ts: ts.clone(),
            text: string_field(&call, "text"),
            blocks: call.get("blocks").cloned(),
            thread_ts: string_field(&call, "thread_ts"),
            body: Value::Object(call.clone()),
            received_at: Utc::now(),
        };
        s.announce(&format!(
            "slack chat.postMessage {channel} ts={ts} \"{}\"",
            one_line(record.text.as_deref().unwrap_or("(blocks only)"), 100)
        ));
        s.slack_live.insert((channel_id.clone(), ts.clone()));
        s.slack_messages.push(record);
        Some((channel_id, ts))
    });
    let Some((channel_id, ts)) = outcome else {
        return slack_error("channel_not_found");
    };
    Json(json!({
        "ok": true,
        "channel": channel_id,
        "ts": ts,
        "message": message_json(&call, &ts),
    }))
    .into_response()
}

/// Why an update was refused.
enum UpdateRefusal {
    ChannelNotFound,
    MessageNotFound,
}

/// `POST /api/chat.update`.
async fn update(State(state): State<SandboxState>, headers: HeaderMap, body: Bytes) -> Response {
    let call = match read_call(&headers, &body) {
        Ok(call) => call,
        Err(code) => return slack_error(code),
    };
    let Some(channel) = string_field(&call, "channel") else {
        return slack_error("channel_not_found");
    };
    let Some(ts) = string_field(&call, "ts") else {
        return slack_error("message_not_found");
    };
    if !has_content(&call) {
        return slack_error("no_text");
    }
    let outcome = state.deliver(|s| {
        let ChannelLookup::Found(channel_id) = s.slack_channel(&channel) else {
            return Err(UpdateRefusal::ChannelNotFound);
        };
        if !s.slack_live.contains(&(channel_id.clone(), ts.clone())) {
            return Err(UpdateRefusal::MessageNotFound);
        }
        let record = SlackMessage {
            method: SlackMethod::Update,
            channel: channel.clone(),
            channel_id: channel_id.clone(),
            ts: ts.clone(),
            text: string_field(&call, "text"),
            blocks: call.get("blocks").cloned(),
            thread_ts: None,
            body: Value::Object(call.clone()),
            received_at: Utc::now(),
        };
        s.announce(&format!(
            "slack chat.update {channel} ts={ts} \"{}\"",
            one_line(record.text.as_deref().unwrap_or("(blocks only)"), 100)
        ));
        s.slack_messages.push(record);
        Ok(channel_id)
    });
    match outcome {
        Err(UpdateRefusal::ChannelNotFound) => slack_error("channel_not_found"),
        Err(UpdateRefusal::MessageNotFound) => slack_error("message_not_found"),
        Ok(channel_id) => Json(json!({
            "ok": true,
            "channel": channel_id,
            "ts": ts,
            "text": string_field(&call, "text").unwrap_or_default(),
            "message": message_json(&call, &ts),
        }))
        .into_response(),
    }
}
