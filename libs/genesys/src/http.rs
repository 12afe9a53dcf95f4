//! Sends one API call: token, rate limit, timeout, retries, and the sorting of
//! every answer into success, retriable or fatal.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use crate::GenesysError;
use crate::auth::TokenSource;
use crate::limiter::RateLimiter;

/// The longest `Retry-After` honoured; Genesys Cloud budgets are per minute.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest excerpt of an error body kept in an error message.
const MAX_EXCERPT: usize = 200;

/// When to try again and how long to wait in between.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (at least 1): capped
    /// exponential backoff with "equal jitter", half fixed and half scaled by
    /// `jitter` in `[0, 1)`.
    pub(crate) fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        ceiling / 2 + (ceiling / 2).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Whether a call may be sent twice. A timed-out or 5xx POST may already have
/// taken effect, so it is retried only when it certainly was not processed
/// (a 429, or a connection that never opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    Idempotent,
    NotIdempotent,
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as `T`; `what` names it in the error.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, GenesysError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| GenesysError::Decode(format!("{what}: {error}")))
    }
}

/// One call to send.
#[derive(Debug)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    /// A JSON body, already serialized.
    pub body: Option<Vec<u8>>,
    /// Added to the request timeout (for long-polling endpoints).
    pub extra_timeout: Duration,
    pub idempotency: Idempotency,
}

impl Call {
    pub(crate) fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
            extra_timeout: Duration::ZERO,
            idempotency: Idempotency::Idempotent,
        }
    }
}

/// Why an attempt did not succeed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// 401: the token was refused.
    Unauthorized,
    /// Worth another attempt, after `after` if the server said so.
    Retry {
        reason: String,
        after: Option<Duration>,
        /// True when the server certainly did not act on the request.
        unprocessed: bool,
    },
    Fatal(GenesysError),
}

/// Sorts an HTTP answer: `Ok` for any 2xx.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<(), Failure> {
    Err(match status {
        status if status.is_success() => return Ok(()),
        StatusCode::UNAUTHORIZED => Failure::Unauthorized,
        StatusCode::NOT_FOUND => Failure::Fatal(GenesysError::NotFound),
        StatusCode::TOO_MANY_REQUESTS => Failure::Retry {
            reason: "rate limited (429)".to_owned(),
            after: retry_after(headers),
            unprocessed: true,
        },
        status if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT => {
            Failure::Retry {
                reason: format!("answered {status}"),
                after: retry_after(headers),
                unprocessed: false,
            }
        }
        status => Failure::Fatal(GenesysError::Rejected {
            status: status.as_u16(),
            message: error_message(body),
        }),
    })
}

/// `Retry-After` in seconds, capped. The HTTP-date form is not used by
/// Genesys Cloud and falls back to the backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Genesys Cloud's error body: `{"message", "code", "status", ...}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    code: Option<String>,
}

/// The `message` of an error body, else its `code`, else a short excerpt.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) if !message.trim().is_empty() => truncate(message.trim()),
        Ok(ErrorBody {
            code: Some(code), ..
        }) if !code.trim().is_empty() => truncate(code.trim()),
        _ => error_excerpt(body),
    }
}

/// A short, printable excerpt of a body.
pub(crate) fn error_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no error body".to_owned()
    } else {
        truncate(text)
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A transport error with its causes, without Debug noise.
pub(crate) fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The shared machinery behind every call.
#[derive(Debug)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub tokens: TokenSource,
    pub limiter: RateLimiter,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl Transport {
    /// Sends `call` until it succeeds, fails for good, or runs out of
    /// attempts. A 401 renews the token and repeats the request once, without
    /// spending an attempt.
    pub(crate) async fn send(&self, call: &Call) -> Result<ApiResponse, GenesysError> {
        let mut failures = 0;
        let mut renewed_token = false;
        loop {
            let token = match self.tokens.token().await {
                Ok(token) => token,
                Err(GenesysError::Unavailable(reason)) => {
                    failures += 1;
                    self.pause_or_give_up(call, failures, &reason, None).await?;
                    continue;
                }
                Err(fatal) => return Err(fatal),
            };
            let span = tracing::info_span!(
                "genesys",
                otel.name = %format!("{} {}", call.method, call.url.path()),
                otel.kind = "client",
                http.request.method = %call.method,
                url.path = call.url.path(),
            );
            let started = Instant::now();
            let attempt = self
                .attempt(call, &token, failures + 1)
                .instrument(span)
                .await;
            let outcome = if attempt.is_ok() { "ok" } else { "error" };
            survey_runtime::metrics::external_call("genesys", outcome, started.elapsed());
            let failure = match attempt {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            match failure {
                Failure::Unauthorized if !renewed_token => {
                    renewed_token = true;
                    self.tokens.invalidate(&token).await;
                }
                Failure::Unauthorized => {
                    return Err(GenesysError::Rejected {
                        status: 401,
                        message: "unauthorized even with a newly issued token".to_owned(),
                    });
                }
                Failure::Fatal(error) => return Err(error),
                Failure::Retry {
                    reason,
                    after,
                    unprocessed,
                } => {
                    if call.idempotency == Idempotency::NotIdempotent && !unprocessed {
                        return Err(GenesysError::Unavailable(format!(
                            "{} {}: {reason}; not retried because it may have taken effect",
                            call.method,
                            call.url.path()
                        )));
                    }
                    failures += 1;
                    self.pause_or_give_up(call, failures, &reason, after)
                        .await?;
                }
            }
        }
    }

    /// Sleeps before the next attempt, or gives up after the last one.
    async fn pause_or_give_up(
        &self,
        call: &Call,
        failures: u32,
        reason: &str,
        after: Option<Duration>,
    ) -> Result<(), GenesysError> {
        if failures >= self.retry.max_attempts {
            return Err(GenesysError::Unavailable(format!(
                "{} {}: {reason} (gave up after {failures} attempts)",
                call.method,
                call.url.path()
            )));
        }
        let wait = after.unwrap_or_else(|| self.retry.backoff(failures, rand::random()));
        tracing::debug!(
            method = %call.method,
            path = call.url.path(),
            attempt = failures,
            reason,
            wait_ms = wait.as_millis() as u64,
            "genesys request will be retried"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// One HTTP exchange, body included, within the timeout.
    async fn attempt(
        &self,
        call: &Call,
        token: &SecretString,
        attempt: u32,
    ) -> Result<ApiResponse, Failure> {
        self.limiter.acquire().await;
        let started = Instant::now();
        let mut request = self
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose_secret())
            .header(ACCEPT, "application/json")
            .timeout(self.timeout + call.extra_timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        };
        let outcome = exchange.await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok((status, headers, body)) => {
                tracing::debug!(
                    method = %call.method,
                    path = call.url.path(),
                    status = status.as_u16(),
                    latency_ms,
                    attempt,
                    "genesys request"
                );
                classify(status, &headers, &body)?;
                Ok(ApiResponse {
                    status,
                    body: body.to_vec(),
                })
            }
            Err(error) => {
                let reason = describe_transport_error(&error);
                tracing::debug!(
                    method = %call.method,
                    path = call.url.path(),
                    latency_ms,
                    attempt,
                    error = %reason,
                    "genesys request failed"
                );
                Err(Failure::Retry {
                    reason,
                    after: None,
                    unprocessed: error.is_connect(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    use super::{Failure, RetryPolicy, classify, error_message};
    use crate::GenesysError;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_stays_capped() {
        let policy = policy();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(2, 0.5), Duration::from_millis(300));
        assert_eq!(policy.backoff(3, 0.0), Duration::from_millis(400));
        assert_eq!(policy.backoff(30, 1.0), Duration::from_secs(10));
        assert_eq!(policy.backoff(u32::MAX, 0.0), Duration::from_secs(5));
    }

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(retry_after) {
            headers.insert(RETRY_AFTER, value);
        }
        headers
    }

    #[test]
    fn answers_are_sorted_into_retriable_and_fatal() {
        let none = HeaderMap::new();
        assert_eq!(classify(StatusCode::OK, &none, b"{}"), Ok(()));
        assert_eq!(classify(StatusCode::ACCEPTED, &none, b""), Ok(()));
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none, b""),
            Err(Failure::Unauthorized)
        );
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &none, b""),
            Err(Failure::Fatal(GenesysError::NotFound))
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers("3"), b""),
            Err(Failure::Retry {
                reason: "rate limited (429)".into(),
                after: Some(Duration::from_secs(3)),
                unprocessed: true,
            })
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers("3600"), b""),
            Err(Failure::Retry { after: Some(after), .. }) if after == Duration::from_secs(60)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &none, b"<html>"),
            Err(Failure::Retry {
                after: None,
                unprocessed: false,
                ..
            })
        ));
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                &none,
                br#"{"message":"The conversation id is invalid","code":"bad.request","status":400}"#
            ),
            Err(Failure::Fatal(GenesysError::Rejected {
                status: 400,
                message: "The conversation id is invalid".into()
            }))
        );
    }

    #[test]
    fn error_messages_prefer_message_then_code_then_excerpt() {
        assert_eq!(
            error_message(br#"{"code":"missing.permissions"}"#),
            "missing.permissions"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        assert_eq!(error_message(b""), "no error body");
        let long = "x".repeat(500);
        assert_eq!(error_message(long.as_bytes()).chars().count(), 201);
    }
}
