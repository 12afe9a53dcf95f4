//! Fake Microsoft Teams incoming webhook: `POST /teams/{webhook_id}` with
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{...}}]}`
//! answers 200 with the body `1`. Webhook ids starting with `invalid`
//! behave like a deleted webhook (404); a payload that is not an Adaptive
//! Card message gets 400.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::Value;

use crate::state::{SandboxState, TeamsCard, one_line};

/// The attachment content type of an Adaptive Card.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/teams/{*webhook_id}", post(receive))
        .with_state(state)
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

/// The card's first text, for the delivery line.
pub(crate) fn card_title(card: &Value) -> String {
    card.get("body")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .find_map(|item| item.get("text").and_then(Value::as_str))
        })
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
        s.teams_cards.push(TeamsCard {
            webhook_id,
            card,
            payload,
            received_at: Utc::now(),
        });
    });
    text(StatusCode::OK, "1")
}
