//! Fake Genesys Cloud: the OAuth token endpoint on the login host and the
//! Platform API v2 routes the enricher and the notifier call.
//!
//! Both hosts are the sandbox's base URL, so `GENESYS_LOGIN_URL` and
//! `GENESYS_API_URL` point at the same place.

mod auth;
mod routes;
mod shapes;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use crate::state::SandboxState;

/// The token endpoint, `/api/v2` routes (bearer token required) and the
/// recording media files.
pub(crate) fn router(state: SandboxState) -> Router {
    let api = Router::new()
        .route(
            "/api/v2/conversations/{conversationId}",
            get(routes::conversation),
        )
        .route(
            "/api/v2/conversations/{conversationId}/recordings",
            get(routes::recordings),
        )
        .route(
            "/api/v2/conversations/{conversationId}/summaries",
            get(routes::summaries),
        )
        .route(
            "/api/v2/analytics/conversations/{conversationId}/details",
            get(routes::analytics_details),
        )
        .route("/api/v2/routing/queues/{queueId}", get(routes::queue))
        .route(
            "/api/v2/routing/queues/{queueId}/members",
            get(routes::queue_members),
        )
        .route("/api/v2/users/{userId}", get(routes::user))
        .route("/api/v2/users/{userId}/superiors", get(routes::superiors))
        .route(
            "/api/v2/coaching/appointments",
            get(routes::list_appointments).post(routes::create_appointment),
        )
        .route(
            "/api/v2/coaching/appointments/{appointmentId}",
            get(routes::appointment),
        )
        .route("/api/v2/{*rest}", get(unknown).post(unknown))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    Router::new()
        .route("/oauth/token", post(auth::token))
        .route("/recordings/{file}", get(routes::media))
        .merge(api)
        .with_state(state)
}

async fn unknown() -> Response {
    error(StatusCode::NOT_FOUND, "not.found", "HTTP 404 Not Found")
}

/// A Genesys error body (`ErrorBody`: message, code, status, messageParams,
/// contextId, details, errors) with an `ININ-Correlation-Id` header.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    error_with_details(status, code, message, Vec::new())
}

/// [`error`] with field-level `details` (`errorCode`, `fieldName`, …).
pub(crate) fn error_with_details(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    details: Vec<serde_json::Value>,
) -> Response {
    let context_id = Uuid::new_v4().to_string();
    let body = json!({
        "message": message.into(),
        "code": code,
        "status": status.as_u16(),
        "messageParams": {},
        "contextId": context_id,
        "details": details,
        "errors": [],
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&context_id) {
        response.headers_mut().insert("inin-correlation-id", value);
    }
    response
}

/// The answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    let (code, message) = match status.as_u16() {
        400 => (
            "bad.request",
            "The request could not be understood by the server due to malformed syntax.",
        ),
        401 => ("bad.credentials", "Invalid login credentials."),
        403 => (
            "missing.permissions",
            "You are not authorized to perform the requested action.",
        ),
        404 => ("not.found", "The requested resource was not found."),
        408 => (
            "request.timeout",
            "The client did not produce a request within the server timeout limit.",
        ),
        429 => (
            "too.many.requests",
            "Rate limit exceeded the maximum. Retry the request later.",
        ),
        502 => (
            "bad.gateway",
            "The server received an invalid response from an upstream server.",
        ),
        503 => (
            "service.unavailable",
            "Service is currently unavailable. Please retry the request later.",
        ),
        504 => (
            "gateway.timeout",
            "The upstream server did not respond in time.",
        ),
        _ => (
            "internal.server.error",
            "The server encountered an unexpected condition which prevented it from fulfilling the request.",
        ),
    };
    error(status, code, message)
}

/// The login host's OAuth error shape.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "error": error,
            "description": description,
            "error_description": description,
        })),
    )
        .into_response()
}
