//! What the HTTP channels (Slack, Teams) share: the client, and the sorting
//! of transport failures and status codes into transient and permanent.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{DeliveryError, SetupError};

/// A client with `timeout` for a whole exchange, body included.
pub(crate) fn client(
    channel: &'static str,
    timeout: Duration,
) -> Result<reqwest::Client, SetupError> {
    if timeout.is_zero() {
        return Err(SetupError::new(channel, "request_timeout must be positive"));
    }
    reqwest::Client::builder()
        .user_agent(concat!("survey-alerts/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|error| SetupError::new(channel, format!("HTTP client: {error}")))
}

/// A request that got no usable answer. The URL is left out: a Teams
/// webhook URL is a secret. Transient, except when the request could not
/// even be built.
pub(crate) fn transport_error(what: &str, error: reqwest::Error) -> DeliveryError {
    let error = error.without_url();
    let mut reason = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_builder() {
        DeliveryError::permanent(reason)
    } else {
        DeliveryError::transient(reason)
    }
}

/// A non-success status: 429, 408 and 5xx are transient (429 with the
/// server's `Retry-After`), every other status permanent.
pub(crate) fn status_error(what: &str, status: StatusCode, headers: &HeaderMap) -> DeliveryError {
    let reason = format!("{what} answered HTTP {status}");
    if status == StatusCode::TOO_MANY_REQUESTS {
        DeliveryError::Transient {
            reason,
            retry_after: retry_after(headers),
        }
    } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        DeliveryError::transient(reason)
    } else {
        DeliveryError::permanent(reason)
    }
}

/// `Retry-After` as seconds, or as an HTTP date from now.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(retry_after).unwrap_or_else(|e| panic!("{e}")),
        );
        headers
    }

    #[test]
    fn statuses_are_sorted_into_transient_and_permanent() {
        let none = HeaderMap::new();
        for status in [429, 408, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}"));
            assert!(status_error("x", status, &none).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 413] {
            let status = StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}"));
            assert!(!status_error("x", status, &none).is_transient(), "{status}");
        }
        assert_eq!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, &headers("7")).retry_after(),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(&headers(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let waited = retry_after(&headers(&later)).unwrap_or_default();
        assert!(waited > Duration::from_secs(80), "{waited:?}");
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
