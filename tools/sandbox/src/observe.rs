//! The middleware in front of every fake: records each call in the call
//! log and applies injected faults and outages before the fake answers.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::faults::{Service, Verdict};
use crate::state::{RecordedRequest, SandboxState};
use crate::{genesys, slack, teams};

pub(crate) async fn observe(
    State(state): State<SandboxState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let service = Service::of_path(&path);
    if !service.is_counted() {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let full_path = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), ToString::to_string);
    let route = matched.map(|m| m.as_str().to_owned());
    let at = Utc::now();
    let response = match state.verdict(service, &path) {
        Verdict::Pass => next.run(request).await,
        Verdict::Delay(pause) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Verdict::Fail {
            code,
            retry_after_secs,
        } => fault_response(service, code, retry_after_secs),
        Verdict::Down => fault_response(service, 503, None),
    };
    state.record_request(RecordedRequest {
        service,
        method,
        path: full_path,
        route,
        status: response.status().as_u16(),
        at,
    });
    response
}

/// An injected failure in the shape of the fake it hits.
fn fault_response(service: Service, code: u16, retry_after_secs: Option<u32>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match service {
        Service::GenesysLogin | Service::GenesysApi => genesys::fault_response(status),
        Service::Slack => slack::fault_response(status),
        Service::Teams => teams::fault_response(status),
        Service::Media | Service::Smtp | Service::Control => {
            (status, "injected by survey-sandbox").into_response()
        }
    };
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
