//! OAuth client-credentials tokens, fetched once and shared.
//!
//! `POST {login}/oauth/token` with HTTP Basic `client_id:client_secret` and the
//! form `grant_type=client_credentials` answers
//! `{"access_token", "token_type": "bearer", "expires_in": seconds}`. The token
//! is cached behind an async mutex, so concurrent callers wait for one fetch,
//! and replaced a little before it expires (10% of its lifetime, at most 60 s).

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::GenesysError;
use crate::http::{describe_transport_error, error_excerpt};

/// Lifetime assumed when the token response omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime trusted, whatever `expires_in` says.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most a token is renewed ahead of its expiry.
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds until the token expires.
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The token endpoint's refusal, as the Genesys SDKs read it.
#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
    description: Option<String>,
}

struct CachedToken {
    value: SecretString,
    renew_at: Instant,
}

/// Fetches and caches the client-credentials token.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    url: Url,
    client_id: String,
    client_secret: SecretString,
    timeout: Duration,
    cached: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        url: Url,
        client_id: String,
        client_secret: SecretString,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            url,
            client_id,
            client_secret,
            timeout,
            cached: Mutex::new(None),
        }
    }

    /// A valid token, fetched only when none is cached or it is due renewal.
    pub(crate) async fn token(&self) -> Result<SecretString, GenesysError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets `rejected` after the API answered 401 to it. A token that a
    /// concurrent caller has already replaced is left alone.
    pub(crate) async fn invalidate(&self, rejected: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<CachedToken, GenesysError> {
        let started = Instant::now();
        let response = self
            .http
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose_secret()))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|error| {
                GenesysError::Unavailable(format!(
                    "token endpoint: {}",
                    describe_transport_error(&error)
                ))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| {
            GenesysError::Unavailable(format!(
                "token endpoint: {}",
                describe_transport_error(&error)
            ))
        })?;
        tracing::debug!(
            method = "POST",
            path = self.url.path(),
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "genesys token request"
        );
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(&body)
                .map_err(|error| GenesysError::Decode(format!("token response: {error}")))?;
            if parsed.access_token.is_empty() {
                return Err(GenesysError::Decode(
                    "token response has an empty access_token".to_owned(),
                ));
            }
            let lifetime = parsed
                .expires_in
                .map_or(DEFAULT_LIFETIME, Duration::from_secs)
                .min(MAX_LIFETIME);
            return Ok(CachedToken {
                value: SecretString::from(parsed.access_token),
                renew_at: started + lifetime - renew_margin(lifetime),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(GenesysError::Unavailable(format!(
                "token endpoint answered {status}"
            )));
        }
        let refusal: TokenError = serde_json::from_slice(&body).unwrap_or_default();
        let reason = [
            refusal.error,
            refusal.error_description.or(refusal.description),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
        Err(GenesysError::Auth(if reason.is_empty() {
            format!("{status}: {}", error_excerpt(&body))
        } else {
            format!("{status}: {reason}")
        }))
    }
}

/// How long before expiry a token of `lifetime` is renewed.
fn renew_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_RENEW_MARGIN)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::renew_margin;

    #[test]
    fn tokens_are_renewed_early_but_not_too_early() {
        // Genesys issues day-long client-credentials tokens by default.
        assert_eq!(
            renew_margin(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
        assert_eq!(
            renew_margin(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(renew_margin(Duration::ZERO), Duration::ZERO);
    }
}
