//! Fake Microsoft Teams: incoming webhooks, and the Microsoft Graph calls
//! that read their channels back.
//!
//! `POST /teams/{webhook_id}` with
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{...}}]}`
//! answers 200 with the body `1`. Webhook ids starting with `invalid`
//! behave like a deleted webhook (404); a payload that is not an Adaptive
//! Card message gets 400. Webhook ids `login/…` and `graph/…` are taken by
//! the routes below.
//!
//! Webhook `{name}` posts to team `team-{name}`, channel
//! `19:{name}@thread.tacv2`; every other pair of ids is not found (404).
//! Everything lives under `/teams/`, so Teams faults and outages hit the
//! read-back too:
//!
//! | Graph call | sandbox path (set `login_url` = `{base}/teams/login`, `graph_url` = `{base}/teams/graph/v1.0`) |
//! |---|---|
//! | client-credentials token | `POST /teams/login/{tenant}/oauth2/v2.0/token` |
//! | list channel messages | `GET /teams/graph/v1.0/teams/{team}/channels/{channel}/messages` |
//!
//! The token endpoint takes the form `grant_type=client_credentials`,
//! `client_id`, `client_secret` and a `scope` ending in `/.default`, and
//! answers `{"token_type":"Bearer","expires_in":3599,"access_token":…}`;
//! client ids starting with `invalid` are unknown (400 `unauthorized_client`).
//! The listing wants a live bearer token (else 401), answers the channel's
//! cards newest first, `$top` of them (default 20, at most 50), with
//! `@odata.nextLink` (an offset as `$skiptoken`) while more remain. Each
//! message's `attachments[0].content` is the card as a JSON string, as
//! Graph returns it.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::form::query_pairs;
use crate::state::{SandboxState, TeamsCard, one_line};

/// The attachment content type of an Adaptive Card.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// Lifetime of Graph tokens, as Microsoft Entra issues them.
const GRAPH_TOKEN_TTL: Duration = Duration::from_secs(3599);
/// Graph's default and largest page of channel messages.
const DEFAULT_TOP: usize = 20;
const MAX_TOP: usize = 50;

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/teams/login/{tenant}/oauth2/v2.0/token", post(graph_token))
        .route(
            "/teams/graph/v1.0/teams/{team}/channels/{channel}/messages",
            get(graph_messages),
        )
        .route("/teams/{*webhook_id}", post(receive))
        .with_state(state)
}

/// The team a webhook posts to.
pub(crate) fn team_id(webhook_id: &str) -> String {
    format!("team-{webhook_id}")
}

/// The channel a webhook posts to.
pub(crate) fn channel_id(webhook_id: &str) -> String {
    format!("19:{webhook_id}@thread.tacv2")
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let body = match status.as_u16() {
        429 => "Microsoft Teams endpoint returned HTTP error 429",
        400..=499 => "Webhook request rejected",
        _ => "Microsoft Teams endpoint is unavailable",
    };
    text(status, body)
}

/// The Adaptive Card of a webhook message, if the payload is one.
fn adaptive_card(payload: &Value) -> Option<&Value> {
    if payload.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let attachment = payload.get("attachments")?.as_array()?.first()?;
    if attachment.get("contentType").and_then(Value::as_str) != Some(ADAPTIVE_CARD) {
        return None;
    }
    let content = attachment.get("content")?;
    (content.get("type").and_then(Value::as_str) == Some("AdaptiveCard")).then_some(content)
}

/// The card's first text, containers searched too, for the delivery line.
pub(crate) fn card_title(card: &Value) -> String {
    fn first_text(items: Option<&Value>) -> Option<&str> {
        items?.as_array()?.iter().find_map(|item| {
            item.get("text")
                .and_then(Value::as_str)
                .or_else(|| first_text(item.get("items")))
        })
    }
    first_text(card.get("body"))
        .unwrap_or("(no text)")
        .to_owned()
}

async fn receive(
    State(state): State<SandboxState>,
    Path(webhook_id): Path<String>,
    body: Bytes,
) -> Response {
    if webhook_id.starts_with("invalid") {
        return text(
            StatusCode::NOT_FOUND,
            "Webhook not found or has been deleted",
        );
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Bad payload received by generic incoming webhook.",
        );
    };
    let Some(card) = adaptive_card(&payload).cloned() else {
        return text(
            StatusCode::BAD_REQUEST,
            "Bad payload received by generic incoming webhook.",
        );
    };
    state.deliver(|s| {
        s.announce(&format!(
            "teams card webhook={webhook_id} \"{}\"",
            one_line(&card_title(&card), 100)
        ));
        let received_at = Utc::now();
        let last = s
            .teams_cards
            .last()
            .and_then(|c| c.message_id.parse::<i64>().ok())
            .unwrap_or(0);
        s.teams_cards.push(TeamsCard {
            team_id: team_id(&webhook_id),
            channel_id: channel_id(&webhook_id),
            message_id: received_at.timestamp_millis().max(last + 1).to_string(),
            webhook_id,
            card,
            payload,
            received_at,
        });
    });
    text(StatusCode::OK, "1")
}

/// A Microsoft Entra token error.
fn entra_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "error": error,
            "error_description": description,
            "timestamp": Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": Uuid::new_v4().to_string(),
            "correlation_id": Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

/// A Microsoft Graph error.
fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "request-id": Uuid::new_v4().to_string(),
                    "client-request-id": Uuid::new_v4().to_string(),
                },
            },
        })),
    )
        .into_response()
}

/// `POST /teams/login/{tenant}/oauth2/v2.0/token`: the client-credentials grant.
async fn graph_token(
    State(state): State<SandboxState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form = query_pairs(std::str::from_utf8(&body).ok());
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    if tenant.starts_with("invalid") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    if field("grant_type") != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    let client_id = field("client_id");
    if client_id.is_empty() || client_id.starts_with("invalid") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if field("client_secret").is_empty() {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if !field("scope").ends_with("/.default") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: Client credential flows must have a scope value with /.default.",
        );
    }
    let access_token = format!("graph-{}", Uuid::new_v4().simple());
    state.with(|s| {
        s.teams_tokens
            .insert(access_token.clone(), Instant::now() + GRAPH_TOKEN_TTL)
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "token_type": "Bearer",
            "expires_in": GRAPH_TOKEN_TTL.as_secs(),
            "ext_expires_in": GRAPH_TOKEN_TTL.as_secs(),
            "access_token": access_token,
        })),
    )
        .into_response()
}

/// `GET /teams/graph/v1.0/teams/{team}/channels/{channel}/messages`.
async fn graph_messages(
    State(state): State<SandboxState>,
    Path((team, channel)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .unwrap_or_default();
    let now = Instant::now();
    if !state.with(|s| s.teams_tokens.get(&token).is_some_and(|until| *until > now)) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        );
    }
    let known = team
        .strip_prefix("team-")
        .is_some_and(|webhook| channel == channel_id(webhook));
    if !known {
        return graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No team or channel found with these ids.",
        );
    }
    let query = query_pairs(uri.query());
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let top = match param("$top").map(|v| v.parse::<usize>()) {
        None => DEFAULT_TOP,
        Some(Ok(top)) if (1..=MAX_TOP).contains(&top) => top,
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid page size specified: $top must be between 1 and 50.",
            );
        }
    };
    let Ok(offset) = param("$skiptoken").map_or(Ok(0), |v| v.parse::<usize>()) else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid $skiptoken.");
    };
    let (newest_first, base) = state.with(|s| {
        let cards: Vec<TeamsCard> = s
            .teams_cards
            .iter()
            .rev()
            .filter(|c| c.team_id == team && c.channel_id == channel)
            .cloned()
            .collect();
        (cards, s.base_url.clone())
    });
    let path = format!(
        "{base}/teams/graph/v1.0/teams/{}/channels/{}/messages",
        path_segment(&team),
        path_segment(&channel)
    );
    let value: Vec<Value> = newest_first
        .iter()
        .skip(offset)
        .take(top)
        .map(graph_message)
        .collect();
    let mut page = json!({
        "@odata.context": format!(
            "{base}/teams/graph/v1.0/$metadata#teams('{team}')/channels('{}')/messages",
            path_segment(&channel)
        ),
        "@odata.count": value.len(),
    });
    if offset + top < newest_first.len() {
        page["@odata.nextLink"] = json!(format!("{path}?$top={top}&$skiptoken={}", offset + top));
    }
    page["value"] = Value::Array(value);
    axum::Json(page).into_response()
}

/// A webhook card as Graph lists it.
fn graph_message(card: &TeamsCard) -> Value {
    let at = card
        .received_at
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let attachment_id = format!("card-{}", card.message_id);
    json!({
        "id": card.message_id,
        "replyToId": null,
        "etag": card.message_id,
        "messageType": "message",
        "createdDateTime": at,
        "lastModifiedDateTime": at,
        "lastEditedDateTime": null,
        "deletedDateTime": null,
        "subject": null,
        "summary": null,
        "chatId": null,
        "importance": "normal",
        "locale": "en-us",
        "policyViolation": null,
        "eventDetail": null,
        "from": {
            "application": {
                "displayName": "Incoming Webhook",
                "applicationIdentityType": "bot",
            },
            "device": null,
            "user": null,
        },
        "body": {
            "contentType": "html",
            "content": format!("<attachment id=\"{attachment_id}\"></attachment>"),
        },
        "channelIdentity": { "teamId": card.team_id, "channelId": card.channel_id },
        "attachments": [{
            "id": attachment_id,
            "contentType": ADAPTIVE_CARD,
            "contentUrl": null,
            "content": card.card.to_string(),
            "name": null,
            "thumbnailUrl": null,
        }],
        "mentions": [],
        "reactions": [],
    })
}

/// Percent-encodes a path segment, keeping what Graph's own links keep.
fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':' | b'@') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
