//! The sandbox's own HTTP API, mirroring [`SandboxState`] so the binary
//! can be seeded, faulted and read over HTTP (snake_case JSON):
//!
//! | Method and path | Body | Effect |
//! |---|---|---|
//! | `GET /healthz` | | `ok` |
//! | `GET /sandbox/deliveries` | | Slack, Teams, email and coaching deliveries |
//! | `GET /sandbox/counts` | | how many of each, and how many injected faults are left |
//! | `GET /sandbox/requests` | | call log and Genesys calls per route |
//! | `GET /sandbox/conversations/{id}/polls` | | `{"polls": n}` recording polls |
//! | `POST /sandbox/faults` | `{"route": "slack", "fault": {"kind": "status", "code": 429, "retry_after_secs": 2, "count": 3}}` | queue a fault |
//! | `DELETE /sandbox/faults` | | clear faults and outages |
//! | `POST /sandbox/down` | `{"route": "genesys", "down": true}` | outage on/off |
//! | `POST /sandbox/outage` | `{"route": "teams", "seconds": 30}` | outage that ends by itself |
//! | `POST /sandbox/seed/conversation` | a [`ConversationSeed`] | add a conversation |
//! | `POST /sandbox/seed/queue` | a [`QueueSeed`] | add a queue |
//! | `POST /sandbox/seed/user` | a [`UserSeed`] | add a user |
//! | `POST /sandbox/seed/missing-channel` | `{"channel": "#gone"}` | Slack `channel_not_found` for it |
//! | `POST /sandbox/reset` | | forget deliveries and the call log |

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::{Fault, Route};
use crate::seed::{ConversationSeed, QueueSeed, UserSeed};
use crate::state::SandboxState;

pub(crate) fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/sandbox/deliveries", get(deliveries))
        .route("/sandbox/counts", get(counts))
        .route("/sandbox/requests", get(requests))
        .route("/sandbox/conversations/{id}/polls", get(polls))
        .route("/sandbox/faults", post(add_fault).delete(clear_faults))
        .route("/sandbox/down", post(down))
        .route("/sandbox/outage", post(outage))
        .route("/sandbox/seed/conversation", post(seed_conversation))
        .route("/sandbox/seed/queue", post(seed_queue))
        .route("/sandbox/seed/user", post(seed_user))
        .route("/sandbox/seed/missing-channel", post(seed_missing_channel))
        .route("/sandbox/reset", post(reset))
        .with_state(state)
}

async fn deliveries(State(state): State<SandboxState>) -> Response {
    Json(state.deliveries()).into_response()
}

async fn counts(State(state): State<SandboxState>) -> Response {
    Json(state.counts()).into_response()
}

async fn requests(State(state): State<SandboxState>) -> Response {
    Json(json!({
        "genesys_calls": state.genesys_calls(),
        "requests": state.requests(),
    }))
    .into_response()
}

async fn polls(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    Json(json!({ "polls": state.recording_polls(&id) })).into_response()
}

#[derive(Debug, Deserialize)]
struct FaultRequest {
    route: Route,
    fault: Fault,
}

async fn add_fault(
    State(state): State<SandboxState>,
    Json(request): Json<FaultRequest>,
) -> StatusCode {
    state.fail_next(request.route, request.fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<SandboxState>) -> StatusCode {
    state.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct DownRequest {
    route: Route,
    down: bool,
}

async fn down(State(state): State<SandboxState>, Json(request): Json<DownRequest>) -> StatusCode {
    state.set_down(request.route, request.down);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct OutageRequest {
    route: Route,
    seconds: f64,
}

async fn outage(State(state): State<SandboxState>, Json(request): Json<OutageRequest>) -> Response {
    match Duration::try_from_secs_f64(request.seconds) {
        Ok(duration) => {
            state.outage(request.route, duration);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "seconds must be a positive number",
        )
            .into_response(),
    }
}

async fn seed_conversation(
    State(state): State<SandboxState>,
    Json(seed): Json<ConversationSeed>,
) -> StatusCode {
    state.add_conversation(seed);
    StatusCode::CREATED
}

async fn seed_queue(State(state): State<SandboxState>, Json(seed): Json<QueueSeed>) -> StatusCode {
    state.add_queue(seed);
    StatusCode::CREATED
}

async fn seed_user(State(state): State<SandboxState>, Json(seed): Json<UserSeed>) -> StatusCode {
    state.add_user(seed);
    StatusCode::CREATED
}

#[derive(Debug, Deserialize)]
struct MissingChannel {
    channel: String,
}

async fn seed_missing_channel(
    State(state): State<SandboxState>,
    Json(request): Json<MissingChannel>,
) -> StatusCode {
    state.add_missing_channel(request.channel);
    StatusCode::CREATED
}

async fn reset(State(state): State<SandboxState>) -> StatusCode {
    state.clear_deliveries();
    state.clear_requests();
    StatusCode::NO_CONTENT
}
