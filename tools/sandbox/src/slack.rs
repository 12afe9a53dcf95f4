//! Fake Slack Web API: `chat.postMessage` and `chat.update`, and the read
//! methods `conversations.list` and `conversations.history`.
//!
//! Like Slack, it answers HTTP 200 with `{"ok": false, "error": ...}` for
//! application errors (`not_authed`, `invalid_auth`, `channel_not_found`,
//! `message_not_found`, `no_text`, `invalid_json`, `invalid_cursor`,
//! `invalid_limit`, `invalid_ts_oldest`, `invalid_ts_latest`) and HTTP 429
//! with `Retry-After` and `"error": "ratelimited"` when rate limited.
//!
//! The read methods take their arguments from the query string (`GET`) or
//! a form or JSON body (`POST`). `conversations.list` shows the channels
//! posted to by name, all public; `conversations.history` needs a channel
//! id and shows its messages as they read now, newest first, with their
//! `metadata` only under `include_all_metadata`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::form::query_pairs;
use crate::state::{
    ChannelLookup, Inner, SandboxState, SlackMessage, SlackMethod, is_channel_id, one_line,
};

/// The bot user the sandbox posts as.
const BOT_USER: &str = "U0SANDBOX1";
/// The bot id the sandbox posts as.
const BOT_ID: &str = "B0SANDBOX1";

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .route("/api/chat.update", post(update))
        .route("/api/conversations.list", read_method(list))
        .route("/api/conversations.history", read_method(history))
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
    check_token(headers)?;
    parse_body(headers, body)
}

/// Checks the bot token and reads a read method's arguments: the query
/// string, then a form or JSON body if there is one.
fn read_args(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, &'static str> {
    check_token(headers)?;
    let mut args: Map<String, Value> = query_pairs(query)
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    if !body.is_empty() {
        args.extend(parse_body(headers, body)?);
    }
    Ok(args)
}

/// The bearer token must look like a Slack token.
fn check_token(headers: &HeaderMap) -> Result<(), &'static str> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        None => Err("not_authed"),
        Some(token) if !token.starts_with("xox") => Err("invalid_auth"),
        Some(_) => Ok(()),
    }
}

/// A JSON or form body as an object; form values that Slack takes as JSON
/// are parsed.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, &'static str> {
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
                    "blocks" | "attachments" | "metadata" => {
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
            metadata: call.get("metadata").cloned(),
            body: Value::Object(call.clone()),
            received_at: Utc::now(),
        };
        s.announce(&format!(
            "slack chat.postMessage {channel} ts={ts} \"{}\"",
            one_line(record.text.as_deref().unwrap_or("(blocks only)"), 100)
        ));
        remember_name(s, &channel, &channel_id);
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
            metadata: call.get("metadata").cloned(),
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

/// Keeps the name of a channel posted to by name, for `conversations.list`.
fn remember_name(s: &mut Inner, channel: &str, channel_id: &str) {
    let name = channel.trim_start_matches('#');
    if !is_channel_id(name) {
        s.slack_channel_names
            .insert(name.to_owned(), channel_id.to_owned());
    }
}

/// An argument as text, whether sent as a string, number or boolean.
fn arg(call: &Map<String, Value>, name: &str) -> Option<String> {
    match call.get(name)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A boolean argument: `true` or `1`.
fn flag(call: &Map<String, Value>, name: &str) -> bool {
    matches!(arg(call, name).as_deref(), Some("true" | "1"))
}

/// `limit`: 100 when absent or 0, at most 999.
fn page_limit(call: &Map<String, Value>) -> Result<usize, &'static str> {
    match arg(call, "limit") {
        None => Ok(100),
        Some(text) => match text.parse::<usize>() {
            Ok(0) => Ok(100),
            Ok(limit) => Ok(limit.min(999)),
            Err(_) => Err("invalid_limit"),
        },
    }
}

/// A message timestamp as (seconds, microseconds), for ordering.
type Ts = (i64, u32);

/// Reads `1789380960.000100` (or whole seconds).
fn parse_ts(text: &str) -> Option<Ts> {
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((secs.parse().ok()?, format!("{fraction:0<6}").parse().ok()?))
}

/// An opaque cursor, base64 like Slack's.
fn encode_cursor(text: &str) -> String {
    STANDARD.encode(text)
}

/// The text after `prefix` in a cursor made by [`encode_cursor`].
fn decode_cursor(cursor: &str, prefix: &str) -> Option<String> {
    let text = String::from_utf8(STANDARD.decode(cursor).ok()?).ok()?;
    text.strip_prefix(prefix).map(str::to_owned)
}

/// The `cursor` argument, made with `prefix` and read by `parse`; `None`
/// on the first page.
fn cursor_arg<T>(
    call: &Map<String, Value>,
    prefix: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, &'static str> {
    arg(call, "cursor")
        .map(|cursor| {
            decode_cursor(&cursor, prefix)
                .and_then(|text| parse(&text))
                .ok_or("invalid_cursor")
        })
        .transpose()
}

/// What a read method answers for its arguments, or Slack's error code.
type ReadAnswer = fn(&SandboxState, &Map<String, Value>) -> Result<Value, &'static str>;

/// `GET|POST` of a read method: the arguments as [`read_args`] reads them,
/// answered by `answer`.
fn read_method(answer: ReadAnswer) -> MethodRouter<SandboxState> {
    let handler = move |State(state): State<SandboxState>,
                        headers: HeaderMap,
                        RawQuery(query): RawQuery,
                        body: Bytes| async move {
        match read_args(&headers, query.as_deref(), &body).and_then(|call| answer(&state, &call)) {
            Ok(answer) => Json(answer).into_response(),
            Err(code) => slack_error(code),
        }
    };
    get(handler).post(handler)
}

/// `conversations.list`: a page of the channels.
fn list(state: &SandboxState, call: &Map<String, Value>) -> Result<Value, &'static str> {
    let types = arg(call, "types").unwrap_or_else(|| "public_channel".to_owned());
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    if !types
        .iter()
        .all(|t| matches!(*t, "public_channel" | "private_channel" | "mpim" | "im"))
    {
        return Err("invalid_types");
    }
    let limit = page_limit(call)?;
    let offset = cursor_arg(call, "offset:", |n| n.parse().ok())?.unwrap_or(0);
    // Every sandbox channel is public.
    let channels: Vec<(String, String)> = if types.contains(&"public_channel") {
        state.with(|s| {
            s.slack_channel_names
                .iter()
                .filter(|(name, _)| matches!(s.slack_channel(name), ChannelLookup::Found(_)))
                .map(|(name, id)| (name.clone(), id.clone()))
                .collect()
        })
    } else {
        Vec::new()
    };
    let page: Vec<Value> = channels
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(name, id)| {
            json!({
                "id": id,
                "name": name,
                "name_normalized": name,
                "is_channel": true,
                "is_group": false,
                "is_im": false,
                "is_mpim": false,
                "is_private": false,
                "is_archived": false,
                "is_member": true,
            })
        })
        .collect();
    let next = offset + page.len();
    let next_cursor = if next < channels.len() {
        encode_cursor(&format!("offset:{next}"))
    } else {
        String::new()
    };
    Ok(json!({
        "ok": true,
        "channels": page,
        "response_metadata": { "next_cursor": next_cursor },
    }))
}

/// The channel's top-level messages as they read now, newest first; thread
/// replies are left out, as Slack leaves them out of the history.
fn channel_messages(s: &Inner, channel_id: &str, with_metadata: bool) -> Vec<(Ts, Value)> {
    let mut messages: Vec<(Ts, Value)> = s
        .slack_messages
        .iter()
        .filter(|m| m.method == SlackMethod::PostMessage && m.channel_id == channel_id)
        .filter(|m| m.thread_ts.as_ref().is_none_or(|parent| *parent == m.ts))
        .filter(|m| s.slack_live.contains(&(m.channel_id.clone(), m.ts.clone())))
        .filter_map(|post| {
            let versions: Vec<&SlackMessage> = s
                .slack_messages
                .iter()
                .filter(|m| m.channel_id == post.channel_id && m.ts == post.ts)
                .collect();
            let now = versions.last()?.body.as_object()?;
            let mut message = message_json(now, &post.ts);
            let metadata = versions.iter().rev().find_map(|m| m.metadata.clone());
            if let (true, Some(metadata), Some(map)) =
                (with_metadata, metadata, message.as_object_mut())
            {
                map.insert("metadata".to_owned(), metadata);
            }
            Some((parse_ts(&post.ts)?, message))
        })
        .collect();
    messages.sort_by_key(|(ts, _)| std::cmp::Reverse(*ts));
    messages
}

/// `conversations.history`: a page of a channel's messages.
fn history(state: &SandboxState, call: &Map<String, Value>) -> Result<Value, &'static str> {
    let channel = string_field(call, "channel").ok_or("channel_not_found")?;
    let bound = |name: &str, error: &'static str| match arg(call, name) {
        None => Ok(None),
        Some(text) => parse_ts(&text).map(Some).ok_or(error),
    };
    let oldest = bound("oldest", "invalid_ts_oldest")?;
    let latest = bound("latest", "invalid_ts_latest")?;
    let inclusive = flag(call, "inclusive");
    let limit = page_limit(call)?;
    // The cursor names the first message of the next page.
    let from = cursor_arg(call, "next_ts:", parse_ts)?;
    let with_metadata = flag(call, "include_all_metadata");
    let messages = state
        .with(|s| match s.slack_channel(&channel) {
            ChannelLookup::Found(id) if is_channel_id(&channel) => {
                Some(channel_messages(s, &id, with_metadata))
            }
            _ => None,
        })
        .ok_or("channel_not_found")?;
    let after = |ts: &Ts| oldest.is_none_or(|o| *ts > o || (inclusive && *ts == o));
    let before = |ts: &Ts| latest.is_none_or(|l| *ts < l || (inclusive && *ts == l));
    let mut selected = messages
        .into_iter()
        .filter(|(ts, _)| after(ts) && before(ts) && from.is_none_or(|f| *ts <= f));
    let page: Vec<Value> = selected
        .by_ref()
        .take(limit)
        .map(|(_, message)| message)
        .collect();
    let mut answer = json!({
        "ok": true,
        "messages": page,
        "has_more": false,
        "pin_count": 0,
    });
    if let (Some(((secs, micros), _)), Some(map)) = (selected.next(), answer.as_object_mut()) {
        map.insert("has_more".to_owned(), Value::Bool(true));
        map.insert(
            "response_metadata".to_owned(),
            json!({ "next_cursor": encode_cursor(&format!("next_ts:{secs}.{micros:06}")) }),
        );
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_cursors_read_back() {
        assert_eq!(parse_ts("1789380960.000100"), Some((1_789_380_960, 100)));
        assert_eq!(parse_ts("1789380960"), Some((1_789_380_960, 0)));
        assert_eq!(parse_ts("1789380960.5"), Some((1_789_380_960, 500_000)));
        assert_eq!(parse_ts("soon"), None);
        assert_eq!(parse_ts("1.1234567"), None);
        let cursor = encode_cursor("next_ts:1789380960.000100");
        assert_eq!(
            decode_cursor(&cursor, "next_ts:").as_deref(),
            Some("1789380960.000100")
        );
        assert_eq!(decode_cursor(&cursor, "offset:"), None);
        assert_eq!(decode_cursor("%%%", "offset:"), None);
    }
}
