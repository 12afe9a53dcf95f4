//! OAuth client credentials: `POST /oauth/token` issues bearer tokens, and
//! every `/api/v2` call must carry a live one. Optionally enforces the
//! per-token request budget Genesys applies (300 a minute by default there).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use uuid::Uuid;

use super::{error, oauth_error};
use crate::form::query_pairs;
use crate::state::{RateWindow, SandboxState};

const RATE_WINDOW: Duration = Duration::from_secs(60);

/// `POST /oauth/token` with `grant_type=client_credentials` and Basic
/// client credentials (or `client_id`/`client_secret` form fields).
pub(super) async fn token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = query_pairs(std::str::from_utf8(&body).ok());
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type is not supported",
        );
    }
    let credentials =
        basic_credentials(&headers).or_else(|| field("client_id").zip(field("client_secret")));
    let Some((client_id, secret)) = credentials else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client not found",
        );
    };
    let accepted = state.with(|s| match &s.client_credentials {
        Some((id, expected)) => *id == client_id && *expected == secret,
        None => !client_id.is_empty() && !secret.is_empty() && !client_id.starts_with("invalid"),
    });
    if !accepted {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client not found",
        );
    }
    let access_token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let ttl = state.with(|s| {
        s.tokens
            .insert(access_token.clone(), Instant::now() + s.token_ttl);
        s.token_ttl
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": ttl.as_secs(),
        })),
    )
        .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Rejects `/api/v2` calls without a live bearer token, and over budget.
pub(super) async fn require_bearer(
    State(state): State<SandboxState>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token else {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        );
    };
    let now = Instant::now();
    let budget = state.with(|s| {
        let live = s.tokens.get(&token).is_some_and(|expiry| *expiry > now);
        if !live {
            return Err(());
        }
        let Some(limit) = s.rate_limit_per_minute else {
            return Ok(None);
        };
        let window = s.rate_windows.entry(token.clone()).or_insert(RateWindow {
            started: now,
            count: 0,
        });
        if now.duration_since(window.started) >= RATE_WINDOW {
            *window = RateWindow {
                started: now,
                count: 0,
            };
        }
        window.count += 1;
        let reset = RATE_WINDOW.saturating_sub(now.duration_since(window.started));
        Ok(Some((limit, window.count, reset.as_secs().max(1))))
    });
    let Ok(budget) = budget else {
        return error(
            StatusCode::UNAUTHORIZED,
            "bad.credentials",
            "Invalid login credentials.",
        );
    };
    let mut response = match budget {
        Some((limit, count, reset)) if count > limit => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too.many.requests",
                format!("Rate limit exceeded the maximum. Retry the request in [{reset}] seconds"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(reset));
            response
        }
        _ => next.run(request).await,
    };
    if let Some((limit, count, reset)) = budget {
        let headers = response.headers_mut();
        headers.insert("inin-ratelimit-allowed", HeaderValue::from(limit));
        headers.insert("inin-ratelimit-count", HeaderValue::from(count));
        headers.insert("inin-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}
