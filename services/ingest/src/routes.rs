//! HTTP handlers. The webhook answers 202 only after Kafka acknowledged the
//! record; every rejection is a JSON error and writes nothing.

use std::net::SocketAddr;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use rdkafka::message::{Header, OwnedHeaders};
use serde_json::{Value, json};

use survey_runtime::trace_context::{self, TRACE_HEADERS};
use tracing::Instrument;

use crate::auth::{Presented, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::error::ApiError;
use crate::publish::PublishError;
use crate::startup::AppState;
use crate::webhook::parse_survey;

/// `POST /webhooks/survey`. The request's span joins the sender's trace when
/// it sends `traceparent`.
pub async fn receive_survey(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let span = tracing::info_span!(
        "POST /webhooks/survey",
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/webhooks/survey",
        response_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let incoming: Vec<(String, Vec<u8>)> = TRACE_HEADERS
        .iter()
        .filter_map(|name| {
            headers
                .get(*name)
                .map(|value| ((*name).to_owned(), value.as_bytes().to_vec()))
        })
        .collect();
    trace_context::set_parent(&span, &incoming);
    handle_survey(state, peer, headers, body, incoming)
        .instrument(span)
        .await
}

async fn handle_survey(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
    mut trace_headers: Vec<(String, Vec<u8>)>,
) -> Result<impl IntoResponse + use<>, ApiError> {
    state.limits.check(peer.ip(), &headers)?;
    state.auth.check_source(peer.ip())?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > state.max_body_bytes) {
        return Err(ApiError::TooLarge(state.max_body_bytes));
    }
    let body = to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|error| unreadable_body(&error, state.max_body_bytes))?;

    // A credential that is present but not visible ASCII is a wrong one, not
    // a missing one.
    let credential = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap_or_default())
    };
    let presented = Presented {
        signature: credential(SIGNATURE_HEADER),
        timestamp: credential(TIMESTAMP_HEADER),
        authorization: credential(header::AUTHORIZATION.as_str()),
    };
    let now_secs = survey_runtime::now_millis().div_euclid(1000);
    state.auth.verify(&presented, &body, now_secs)?;

    let header_str = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());

    let is_json = header_str(header::CONTENT_TYPE.as_str()).is_some_and(|content_type| {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }

    let json: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    let survey = parse_survey(&json, survey_runtime::now_millis(), state.time_bounds)?;
    tracing::Span::current().record("response_id", survey.response_id.as_str());

    // The record carries the publish span's context onwards.
    let publish = tracing::info_span!(
        "publish",
        otel.name = %format!("publish {}", state.publisher.topic()),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.destination.name = %state.publisher.topic(),
    );
    trace_context::inject(&publish, &mut trace_headers);
    let record_headers =
        trace_headers
            .iter()
            .fold(OwnedHeaders::new(), |record_headers, (key, value)| {
                record_headers.insert(Header {
                    key,
                    value: Some(value),
                })
            });
    match state
        .publisher
        .publish(&survey, record_headers)
        .instrument(publish)
        .await
    {
        Ok(()) => {
            tracing::info!(response_id = %survey.response_id, csat = survey.csat, "survey accepted");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "id": survey.response_id, "status": "accepted" })),
            ))
        }
        Err(PublishError::Unavailable(reason)) => {
            tracing::warn!(response_id = %survey.response_id, reason, "survey not acknowledged");
            Err(ApiError::Unavailable {
                retry_after_secs: state.retry_after_secs,
            })
        }
        Err(PublishError::Codec(error)) if error.is_retriable() => {
            tracing::warn!(%error, "schema registry unavailable");
            Err(ApiError::Unavailable {
                retry_after_secs: state.retry_after_secs,
            })
        }
        Err(error) => {
            tracing::error!(%error, "survey could not be published");
            Err(ApiError::Internal)
        }
    }
}

/// Why the body could not be read: over the limit (413), or broken on the
/// wire, such as a malformed chunked encoding (400). `to_bytes` passes the
/// connection's own errors on as `axum::Error`; anything else is its limit.
fn unreadable_body(error: &axum::Error, max_body_bytes: usize) -> ApiError {
    match std::error::Error::source(error) {
        Some(source) if source.is::<axum::Error>() => {
            ApiError::MalformedJson(format!("the body could not be read: {error}"))
        }
        _ => ApiError::TooLarge(max_body_bytes),
    }
}

/// A known path with the wrong method: the JSON error, not an empty 405.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// An unknown path: the JSON error, not an empty 404.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// `GET /metrics`: Prometheus metrics.
pub async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        survey_runtime::metrics::install().render(),
    )
}

/// Counts requests by route and status.
pub async fn count_requests(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::counter!(
        survey_runtime::metrics::names::HTTP_REQUESTS,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// `GET /healthz`: the process is alive. Does not look at Kafka.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the producer reaches the cluster and the raw topic.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.publisher.ready().await {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "kafka unreachable" })),
        )
    }
}
