//! Client settings: region, credentials, rate budget and retry policy.

use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

use crate::GenesysError;

/// How to reach one Genesys Cloud organisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenesysConfig {
    /// Genesys Cloud region domain (`GENESYS_REGION`), for example
    /// `mypurecloud.com`, `mypurecloud.ie` or `usw2.pure.cloud`. The API is
    /// `https://api.{region}`, the token endpoint `https://login.{region}` and
    /// the web UI `https://apps.{region}`.
    pub region: String,
    /// Overrides the API base URL (`GENESYS_API_URL`), scheme, host and port
    /// only; tests and the sandbox point it at `http://127.0.0.1:{port}`.
    pub api_url: Option<String>,
    /// Overrides the login base URL (`GENESYS_LOGIN_URL`), scheme, host and
    /// port only.
    pub login_url: Option<String>,
    /// OAuth client id of a client-credentials grant (`GENESYS_CLIENT_ID`).
    pub client_id: String,
    /// OAuth client secret (`GENESYS_CLIENT_SECRET`). Never printed or logged.
    pub client_secret: SecretString,
    /// Requests per minute this client may send; Genesys Cloud allows 300 per
    /// client-credentials token by default. Clones of a client share it.
    pub requests_per_minute: u32,
    /// Time allowed for one HTTP exchange, body included (`10s`). The
    /// recordings call adds its own `maxWaitMs` on top.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Attempts per call, the first included, before a retriable failure
    /// becomes [`GenesysError::Unavailable`].
    pub max_attempts: u32,
    /// Backoff before the second attempt after a 5xx or timeout (`200ms`); it
    /// doubles per attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Upper bound of the backoff between attempts (`10s`).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for GenesysConfig {
    fn default() -> Self {
        Self {
            region: "mypurecloud.com".to_owned(),
            api_url: None,
            login_url: None,
            client_id: String::new(),
            client_secret: SecretString::from(String::new()),
            requests_per_minute: 300,
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The checked, derived endpoints of a [`GenesysConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Base of every `/api/v2/...` path.
    pub api: Url,
    /// `{login}/oauth/token`.
    pub token: Url,
    /// Base of UI deep links, always the region's apps host.
    pub apps: String,
}

impl GenesysConfig {
    /// Checks the settings and derives the endpoints.
    pub(crate) fn endpoints(&self) -> Result<Endpoints, GenesysError> {
        let invalid = |message: String| Err(GenesysError::InvalidConfig(message));
        let region = self.region.trim().trim_matches('.');
        if region.is_empty() || region.contains(['/', ':', ' ']) {
            return invalid(format!(
                "region must be a domain such as mypurecloud.com, not {:?}",
                self.region
            ));
        }
        if self.client_id.trim().is_empty() {
            return invalid("client_id is empty".to_owned());
        }
        if self.requests_per_minute == 0 {
            return invalid("requests_per_minute must be at least 1".to_owned());
        }
        if self.max_attempts == 0 {
            return invalid("max_attempts must be at least 1".to_owned());
        }
        if self.request_timeout.is_zero() {
            return invalid("request_timeout must be positive".to_owned());
        }
        let api = base_url("api_url", self.api_url.as_deref(), "api", region)?;
        let login = base_url("login_url", self.login_url.as_deref(), "login", region)?;
        let token = login
            .join("/oauth/token")
            .map_err(|error| GenesysError::InvalidConfig(format!("login_url: {error}")))?;
        Ok(Endpoints {
            api,
            token,
            apps: format!("https://apps.{region}"),
        })
    }
}

fn base_url(
    field: &str,
    configured: Option<&str>,
    host_prefix: &str,
    region: &str,
) -> Result<Url, GenesysError> {
    let text = match configured.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => url.to_owned(),
        None => format!("https://{host_prefix}.{region}"),
    };
    let url = Url::parse(&text)
        .map_err(|error| GenesysError::InvalidConfig(format!("{field} {text:?}: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(GenesysError::InvalidConfig(format!(
            "{field} {text:?} must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::GenesysConfig;

    fn config() -> GenesysConfig {
        GenesysConfig {
            client_id: "client".into(),
            ..GenesysConfig::default()
        }
    }

    #[test]
    fn endpoints_follow_the_region() {
        let endpoints = GenesysConfig {
            region: "mypurecloud.ie".into(),
            ..config()
        }
        .endpoints()
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(endpoints.api.as_str(), "https://api.mypurecloud.ie/");
        assert_eq!(
            endpoints.token.as_str(),
            "https://login.mypurecloud.ie/oauth/token"
        );
        assert_eq!(endpoints.apps, "https://apps.mypurecloud.ie");
    }

    #[test]
    fn overrides_replace_api_and_login_but_not_apps() {
        let endpoints = GenesysConfig {
            api_url: Some("http://127.0.0.1:4010".into()),
            login_url: Some("http://127.0.0.1:4011/".into()),
            ..config()
        }
        .endpoints()
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(endpoints.api.as_str(), "http://127.0.0.1:4010/");
        assert_eq!(
            endpoints.token.as_str(),
            "http://127.0.0.1:4011/oauth/token"
        );
        assert_eq!(endpoints.apps, "https://apps.mypurecloud.com");
    }

    #[test]
    fn unusable_settings_are_refused() {
        for broken in [
            GenesysConfig {
                requests_per_minute: 0,
                ..config()
            },
            GenesysConfig {
                max_attempts: 0,
                ..config()
            },
            GenesysConfig {
                client_id: " ".into(),
                ..config()
            },
            GenesysConfig {
                region: "https://api.mypurecloud.com".into(),
                ..config()
            },
            GenesysConfig {
                api_url: Some("ftp://example".into()),
                ..config()
            },
        ] {
            assert!(broken.endpoints().is_err(), "{broken:?} must be refused");
        }
    }

    #[test]
    fn deserializes_with_defaults_and_refuses_unknown_fields() {
        let parsed: GenesysConfig = serde_json::from_str(
            r#"{"client_id":"abc","client_secret":"s3cret","request_timeout":"2s"}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(parsed.region, "mypurecloud.com");
        assert_eq!(parsed.requests_per_minute, 300);
        assert_eq!(parsed.request_timeout, std::time::Duration::from_secs(2));
        assert!(!format!("{parsed:?}").contains("s3cret"));
        assert!(serde_json::from_str::<GenesysConfig>(r#"{"regoin":"x"}"#).is_err());
    }
}
