//! Slack through the Web API: `chat.postMessage` for a new alert,
//! `chat.update` for a later revision of one already posted.
//!
//! Slack answers most errors with HTTP 200 and `{"ok": false, "error":
//! code}`; [`classify`] sorts the codes. HTTP 429 (with `Retry-After`), 408,
//! 5xx and timeouts are transient. Messages to one channel are paced at
//! `min_interval_per_channel` (Slack allows about one per second per
//! channel); the wait happens inside `deliver`, so other channels go on.
//!
//! When the message to update is gone (`message_not_found`, deleted by
//! someone) or can no longer be edited (`cant_update_message`,
//! `edit_window_closed`), the revision is posted as a new message and the
//! ledger then points at that one: the supervisor still learns what changed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};

use super::pacing::Pacer;
use super::{Attempt, Channel, Delivered, DeliveryError, SetupError, http};
use crate::templates::{AlertView, Templates};

/// How to reach Slack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    /// Base URL of the Web API (`SLACK_API_URL`); methods are posted to
    /// `{api_url}/chat.postMessage`. The sandbox serves it at
    /// `{sandbox}/api`.
    pub api_url: String,
    /// Bot token (`xoxb-...`, `SLACK_BOT_TOKEN`) with the `chat:write`
    /// scope; the bot must be a member of each channel. Never printed or
    /// logged.
    pub bot_token: SecretString,
    /// Time allowed for one API call, body included (`10s`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Least time between two messages to the same channel (`1s`, Slack's
    /// limit for `chat.postMessage`).
    #[serde(with = "humantime_serde")]
    pub min_interval_per_channel: Duration,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_url: "https://slack.com/api".to_owned(),
            bot_token: SecretString::from(String::new()),
            request_timeout: Duration::from_secs(10),
            min_interval_per_channel: Duration::from_secs(1),
        }
    }
}

/// Posts alerts to Slack channels.
#[derive(Debug)]
pub struct SlackChannel {
    http: reqwest::Client,
    api_url: String,
    bot_token: SecretString,
    templates: Arc<Templates>,
    pacer: Pacer,
}

/// What a successful call returned.
#[derive(Debug, Default, Deserialize)]
struct SlackAnswer {
    ok: bool,
    error: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
}

/// Why a call failed: Slack's error code, or a failure without one.
#[derive(Debug)]
enum CallError {
    Slack(String),
    Other(DeliveryError),
}

impl CallError {
    fn into_delivery_error(self, method: &str) -> DeliveryError {
        match self {
            Self::Slack(code) => classify(method, &code),
            Self::Other(error) => error,
        }
    }
}

impl SlackChannel {
    /// Checks the settings and builds the HTTP client; nothing is sent yet.
    pub fn new(settings: SlackSettings, templates: Arc<Templates>) -> Result<Self, SetupError> {
        let api_url = settings.api_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&api_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(SetupError::new(
                    "slack",
                    format!("api_url {api_url:?} must be an http(s) URL"),
                ));
            }
        }
        if settings.bot_token.expose_secret().trim().is_empty() {
            return Err(SetupError::new("slack", "bot_token is empty"));
        }
        Ok(Self {
            http: http::client("slack", settings.request_timeout)?,
            api_url,
            bot_token: settings.bot_token,
            templates,
            pacer: Pacer::new(settings.min_interval_per_channel),
        })
    }

    /// Calls `method` with `body` after the channel's pacing wait.
    async fn call(
        &self,
        method: &str,
        pace_key: &str,
        body: &Map<String, Value>,
    ) -> Result<SlackAnswer, CallError> {
        self.pacer.wait(pace_key).await;
        tracing::debug!(method, channel = pace_key, "calling Slack");
        let response = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(self.bot_token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|error| CallError::Other(http::transport_error(method, error)))?;
        let status = response.status();
        if !status.is_success() {
            let error = http::status_error(&format!("Slack {method}"), status, response.headers());
            if let Some(wait) = error.retry_after() {
                self.pacer
                    .hold(pace_key, tokio::time::Instant::now() + wait);
            }
            return Err(CallError::Other(error));
        }
        let retry_after = http::retry_after(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|error| CallError::Other(http::transport_error(method, error)))?;
        let answer: SlackAnswer = serde_json::from_slice(&bytes).map_err(|error| {
            CallError::Other(DeliveryError::transient(format!(
                "Slack {method} answered with unreadable JSON: {error}"
            )))
        })?;
        if answer.ok {
            return Ok(answer);
        }
        let code = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
        if code == "ratelimited" {
            let wait = retry_after.unwrap_or(Duration::from_secs(1));
            self.pacer
                .hold(pace_key, tokio::time::Instant::now() + wait);
            return Err(CallError::Other(DeliveryError::Transient {
                reason: format!("Slack {method} failed: ratelimited"),
                retry_after: Some(wait),
            }));
        }
        Err(CallError::Slack(code))
    }
}

#[async_trait]
impl Channel for SlackChannel {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision, channel = %target.address)
    )]
    async fn deliver(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        _attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let message = self
            .templates
            .slack_message(&AlertView::new(alert, false))?;
        let posted = previous.and_then(|previous| Some((previous, previous.slack_ts.as_deref()?)));
        if let Some((previous, ts)) = posted {
            let channel = previous.slack_channel.as_deref().unwrap_or(&target.address);
            let mut body = message.clone();
            body.insert("channel".to_owned(), Value::from(channel));
            body.insert("ts".to_owned(), Value::from(ts));
            match self.call("chat.update", &target.address, &body).await {
                Ok(answer) => return Ok(delivered(answer, channel, Some(ts))),
                Err(CallError::Slack(code)) if replace_instead(&code) => {
                    tracing::info!(
                        code,
                        "the Slack message to update is gone or locked; posting a new one"
                    );
                }
                Err(error) => return Err(error.into_delivery_error("chat.update")),
            }
        }
        let mut body = message;
        body.insert("channel".to_owned(), Value::from(target.address.as_str()));
        let answer = self
            .call("chat.postMessage", &target.address, &body)
            .await
            .map_err(|error| error.into_delivery_error("chat.postMessage"))?;
        Ok(delivered(answer, &target.address, None))
    }
}

/// The ledger's ids from a successful answer. Slack always names the
/// channel id and ts; should it not, the request's values stand in.
fn delivered(answer: SlackAnswer, channel: &str, ts: Option<&str>) -> Delivered {
    if answer.ts.is_none() {
        tracing::warn!("Slack answered ok without a message ts; a later revision will post anew");
    }
    Delivered {
        slack_channel: answer.channel.or_else(|| Some(channel.to_owned())),
        slack_ts: answer.ts.or_else(|| ts.map(str::to_owned)),
        ..Delivered::default()
    }
}

/// `chat.update` codes after which the revision is posted as a new message.
fn replace_instead(code: &str) -> bool {
    matches!(
        code,
        "message_not_found" | "cant_update_message" | "edit_window_closed"
    )
}

/// Sorts a Slack error code. Transient: Slack's own trouble. Permanent:
/// everything else, among them the channel (`channel_not_found`,
/// `not_in_channel`, `is_archived`), the token (`invalid_auth`,
/// `not_authed`, `account_inactive`, `token_revoked`, `missing_scope`) and
/// the message (`msg_too_long`, `invalid_blocks`, `no_text`).
fn classify(method: &str, code: &str) -> DeliveryError {
    let reason = format!("Slack {method} failed: {code}");
    match code {
        "ratelimited"
        | "rate_limited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => DeliveryError::transient(reason),
        _ => DeliveryError::permanent(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_error_codes_are_sorted() {
        for code in [
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ] {
            assert!(classify("chat.postMessage", code).is_transient(), "{code}");
        }
        for code in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "missing_scope",
            "message_not_found",
            "msg_too_long",
            "invalid_blocks",
            "no_text",
            "something_new",
        ] {
            let error = classify("chat.postMessage", code);
            assert!(!error.is_transient(), "{code}");
            assert_eq!(
                error.to_string(),
                format!("delivery refused: Slack chat.postMessage failed: {code}")
            );
        }
        assert!(replace_instead("message_not_found"));
        assert!(!replace_instead("channel_not_found"));
    }

    #[test]
    fn settings_default_and_refuse_unknown_fields() {
        let parsed: SlackSettings = serde_json::from_str(
            r#"{"bot_token":"xoxb-secret","min_interval_per_channel":"200ms"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.api_url, "https://slack.com/api");
        assert_eq!(parsed.min_interval_per_channel, Duration::from_millis(200));
        assert_eq!(parsed.request_timeout, Duration::from_secs(10));
        assert!(!format!("{parsed:?}").contains("xoxb-secret"));
        assert!(serde_json::from_str::<SlackSettings>(r#"{"token":"x"}"#).is_err());

        let templates = Arc::new(Templates::embedded());
        let channel =
            SlackChannel::new(parsed, templates.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{channel:?}").contains("xoxb-secret"));
        assert!(SlackChannel::new(SlackSettings::default(), templates.clone()).is_err());
        let bad_url = SlackSettings {
            api_url: "slack.com".into(),
            bot_token: SecretString::from("xoxb-1"),
            ..SlackSettings::default()
        };
        assert!(SlackChannel::new(bad_url, templates).is_err());
    }
}
