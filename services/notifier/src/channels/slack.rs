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
//!
//! Every new message carries message metadata (`event_type`
//! `survey_alert`, with the attempt key, alert id and revision), so
//! [`Channel::find`] can read the channel back with `conversations.history`
//! (`include_all_metadata`, from a minute before the attempt started) and
//! settle an earlier attempt that Slack took without posting it twice. A
//! channel named rather than given by id is looked up with
//! `conversations.list` unless a post to it already named its id; ids are
//! kept for the life of the process. Reads take their arguments in the
//! query string, as Slack documents for read methods, and are paced per
//! method (Tier 2 and 3 limits count per method, not per channel). A
//! pending `chat.update` is not read back: sending it again is harmless.
//!
//! Scopes: `chat:write`; for the read-back also `channels:history`,
//! `groups:history`, `channels:read` and `groups:read`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};

use super::pacing::Pacer;
use super::{Attempt, Channel, Delivered, DeliveryError, Found, SetupError, http};
use crate::templates::{AlertView, Templates};

/// How to reach Slack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    /// Base URL of the Web API (`SLACK_API_URL`); methods are posted to
    /// `{api_url}/chat.postMessage`. The sandbox serves it at
    /// `{sandbox}/api`.
    pub api_url: String,
    /// Bot token (`xoxb-...`, `SLACK_BOT_TOKEN`) with the `chat:write`,
    /// `channels:history`, `groups:history`, `channels:read` and
    /// `groups:read` scopes; the bot must be a member of each channel.
    /// Never printed or logged.
    pub bot_token: SecretString,
    /// Time allowed for one API call, body included (`10s`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Least time between two messages to the same channel (`1s`, Slack's
    /// limit for `chat.postMessage`), and between two reads of one method.
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
    /// Channel ids found by name with `conversations.list`.
    channel_ids: Mutex<HashMap<String, String>>,
}

/// The `event_type` of the metadata on every message the notifier posts.
const EVENT_TYPE: &str = "survey_alert";
/// How far before an attempt's start the read-back looks: clocks differ.
const LOOK_BACK_SECS: i64 = 60;
/// Messages per history page, as Slack recommends.
const PAGE_LIMIT: &str = "200";
/// Channels per list page: the most Slack allows, as the method's limit
/// (Tier 2) is lower than history's.
const LIST_LIMIT: &str = "999";
/// Pages read back at most; a channel busier than that cannot tell.
const MAX_PAGES: usize = 25;

/// Whether a call worked: every answer has `ok`, a failed one `error`.
#[derive(Debug, Deserialize)]
struct Status {
    ok: bool,
    error: Option<String>,
}

/// What a successful post or update returned.
#[derive(Debug, Default, Deserialize)]
struct SlackAnswer {
    channel: Option<String>,
    ts: Option<String>,
}

/// The cursor of the next page, `""` on the last one.
#[derive(Debug, Default, Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: String,
}

/// One page of `conversations.history`, newest first.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct History {
    messages: Vec<HistoryMessage>,
    has_more: bool,
    response_metadata: Option<ResponseMetadata>,
}

/// A message as `conversations.history` shows it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HistoryMessage {
    ts: Option<String>,
    metadata: Option<Metadata>,
}

/// Message metadata; only `survey_alert` payloads are read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    event_type: String,
    event_payload: Map<String, Value>,
}

impl HistoryMessage {
    /// Whether the message is the one posted under `key`.
    fn carries(&self, key: &str) -> bool {
        self.metadata.as_ref().is_some_and(|metadata| {
            metadata.event_type == EVENT_TYPE
                && metadata
                    .event_payload
                    .get("attempt_key")
                    .and_then(Value::as_str)
                    == Some(key)
        })
    }
}

/// One page of `conversations.list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Conversations {
    channels: Vec<Conversation>,
    response_metadata: Option<ResponseMetadata>,
}

/// A channel as `conversations.list` shows it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Conversation {
    id: String,
    name: String,
}

/// The cursor to follow, if Slack gave one.
fn next_cursor(metadata: Option<ResponseMetadata>) -> Option<String> {
    metadata
        .map(|metadata| metadata.next_cursor)
        .filter(|cursor| !cursor.is_empty())
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
            channel_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Calls `method` with a JSON `body` after the channel's pacing wait.
    async fn call(
        &self,
        method: &str,
        pace_key: &str,
        body: &Map<String, Value>,
    ) -> Result<SlackAnswer, CallError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .json(body);
        self.send(method, pace_key, request).await
    }

    /// Reads the page at `cursor` (the first when `None`) of the read
    /// method `method`, with `args` in the query string, paced per method.
    async fn read<T: DeserializeOwned>(
        &self,
        method: &str,
        args: &[(&str, &str)],
        cursor: Option<&str>,
    ) -> Result<T, DeliveryError> {
        let mut url = reqwest::Url::parse(&format!("{}/{method}", self.api_url))
            .map_err(|error| DeliveryError::permanent(format!("Slack {method} URL: {error}")))?;
        url.query_pairs_mut()
            .extend_pairs(args)
            .extend_pairs(cursor.map(|cursor| ("cursor", cursor)));
        self.send(method, method, self.http.get(url))
            .await
            .map_err(|error| error.into_delivery_error(method))
    }

    /// Sends `request` with the bot token after the wait for `pace_key`,
    /// and reads Slack's answer.
    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        pace_key: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        self.pacer.wait(pace_key).await;
        tracing::debug!(method, channel = pace_key, "calling Slack");
        let response = request
            .bearer_auth(self.bot_token.expose_secret())
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
        let unreadable = |error: serde_json::Error| {
            CallError::Other(DeliveryError::transient(format!(
                "Slack {method} answered with unreadable JSON: {error}"
            )))
        };
        let status: Status = serde_json::from_slice(&bytes).map_err(unreadable)?;
        if status.ok {
            return serde_json::from_slice(&bytes).map_err(unreadable);
        }
        let code = status.error.unwrap_or_else(|| "unknown_error".to_owned());
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

    /// Channel ids by lower-case name.
    fn known_ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.channel_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of the channel `address` names; `None` when no channel the
    /// bot can see has that name, so no message can be there either.
    async fn channel_id(&self, address: &str) -> Result<Option<String>, DeliveryError> {
        let reference = address.trim().trim_start_matches('#');
        let Some(name) = channel_name(reference) else {
            return Ok(Some(reference.to_owned()));
        };
        if let Some(id) = self.known_ids().get(&name) {
            return Ok(Some(id.clone()));
        }
        let args = [
            ("types", "public_channel,private_channel"),
            ("exclude_archived", "true"),
            ("limit", LIST_LIMIT),
        ];
        let mut cursor = None;
        loop {
            let page: Conversations = self
                .read("conversations.list", &args, cursor.as_deref())
                .await?;
            // Every name is kept: other targets' read-backs need no list.
            let mut known = self.known_ids();
            for channel in page.channels {
                known.insert(channel.name.to_ascii_lowercase(), channel.id);
            }
            if let Some(id) = known.get(&name) {
                return Ok(Some(id.clone()));
            }
            drop(known);
            match next_cursor(page.response_metadata) {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
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
        attempt: &Attempt,
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
        body.insert(
            "metadata".to_owned(),
            json!({
                "event_type": EVENT_TYPE,
                "event_payload": {
                    "attempt_key": attempt.key,
                    "alert_id": alert.alert_id,
                    "revision": alert.revision,
                },
            }),
        );
        let answer = self
            .call("chat.postMessage", &target.address, &body)
            .await
            .map_err(|error| error.into_delivery_error("chat.postMessage"))?;
        let delivered = delivered(answer, &target.address, None);
        if let (Some(name), Some(id)) = (
            channel_name(&target.address),
            delivered.slack_channel.as_ref(),
        ) && is_channel_id(id)
        {
            self.known_ids().insert(name, id.clone());
        }
        Ok(delivered)
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision, channel = %target.address)
    )]
    async fn find(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Found, DeliveryError> {
        if previous.is_some_and(|previous| previous.slack_ts.is_some()) {
            return Ok(Found::Unknown);
        }
        let known = previous.and_then(|previous| previous.slack_channel.clone());
        let channel = match known {
            Some(id) => id,
            None => match self.channel_id(&target.address).await? {
                Some(id) => id,
                None => return Ok(Found::Absent),
            },
        };
        let oldest = (attempt.started_at.div_euclid(1000) - LOOK_BACK_SECS)
            .max(0)
            .to_string();
        let args = [
            ("channel", channel.as_str()),
            ("oldest", oldest.as_str()),
            ("include_all_metadata", "true"),
            ("limit", PAGE_LIMIT),
        ];
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: History = self
                .read("conversations.history", &args, cursor.as_deref())
                .await?;
            if let Some(message) = page.messages.iter().find(|m| m.carries(&attempt.key)) {
                let answer = SlackAnswer {
                    channel: Some(channel.clone()),
                    ts: message.ts.clone(),
                };
                return Ok(Found::Delivered(delivered(answer, &channel, None)));
            }
            match next_cursor(page.response_metadata).filter(|_| page.has_more) {
                Some(next) => cursor = Some(next),
                None => return Ok(Found::Absent),
            }
        }
        tracing::warn!(
            pages = MAX_PAGES,
            "the Slack channel is too busy to read back; sending again"
        );
        Ok(Found::Unknown)
    }
}

/// The channel name `address` gives, in lower case as Slack keeps names;
/// `None` for a channel id.
fn channel_name(address: &str) -> Option<String> {
    let reference = address.trim().trim_start_matches('#');
    (!is_channel_id(reference)).then(|| reference.to_ascii_lowercase())
}

/// Whether a channel reference is an id (`C…` public, `G…` private, `D…`
/// direct) rather than a name, which Slack keeps in lower case.
fn is_channel_id(reference: &str) -> bool {
    reference.len() >= 9
        && reference.starts_with(['C', 'G', 'D'])
        && reference
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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
    fn channel_ids_and_names_are_told_apart() {
        assert_eq!(channel_name("#CX-Billing").as_deref(), Some("cx-billing"));
        assert_eq!(channel_name(" cx-billing ").as_deref(), Some("cx-billing"));
        assert_eq!(channel_name("C0BILLING"), None);
        assert_eq!(channel_name("#G0123456789"), None);
        assert!(!is_channel_id("C0B"), "too short for an id");
        assert!(!is_channel_id("cabcdefghij"));
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
