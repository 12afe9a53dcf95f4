//! Microsoft Teams through incoming webhooks: each alert is an Adaptive Card
//! posted to the webhook a target names. A webhook message cannot be edited,
//! so a later revision posts a follow-up card.
//!
//! Targets name a webhook (`teams:<name>`); the URLs live only in the
//! settings, as secrets, and never reach logs or error messages. A 2xx is
//! delivered; 429, 408, 5xx and timeouts are transient; any other 4xx means
//! the webhook is invalid or removed, which is permanent. The classic
//! connector answers throttling with HTTP 200 and a body naming error 429;
//! that is transient too.
//!
//! A webhook answers no message id and cannot be read, so every card's body
//! is wrapped in one Container with the id `survey-alert-<attempt key>`.
//! With `graph` and `channels` set, [`Channel::find`] reads the webhook's
//! channel back through Microsoft Graph, with a client-credentials token
//! from `{login_url}/{tenant_id}/oauth2/v2.0/token` (application permission
//! `ChannelMessage.Read.All`):
//! `GET {graph_url}/teams/{team_id}/channels/{channel_id}/messages?$top=50`,
//! newest first, following `@odata.nextLink` until messages older than the
//! first attempt (less a minute of clock skew), for at most ten pages. A
//! card whose attachment content names the key is delivered (its Graph
//! message id as `external_id`); reaching older messages or the end without
//! it is absent; running out of pages is unknown, and so is a webhook
//! without a channel mapping. Graph's 401 renews the token once, then is
//! transient; 403 (permission missing) and 404 (wrong ids) are permanent;
//! 429, 5xx and timeouts transient.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Attempt, Channel, Delivered, DeliveryError, Found, SetupError, http};
use crate::templates::{AlertView, Templates};

/// The attachment content type of an Adaptive Card.
const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";
/// Prefix of the card's container id; the attempt key follows.
const KEY_PREFIX: &str = "survey-alert-";
/// Messages per page: Graph's maximum for channel messages.
const PAGE_SIZE: u32 = 50;
/// Pages read before the read-back gives up and answers unknown.
const MAX_PAGES: usize = 10;
/// How much earlier than the first attempt Teams may have stamped the card:
/// our clock and Microsoft's differ.
const CLOCK_SKEW_MS: i64 = 60_000;
/// Lifetime assumed when the token answer omits `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// The longest lifetime trusted, whatever `expires_in` says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The most a token is renewed ahead of its expiry.
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// Where Teams alerts go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamsSettings {
    /// Incoming webhook URL by name; a target's address is the name. The
    /// URLs carry their own credentials: never printed or logged.
    pub webhooks: BTreeMap<String, SecretString>,
    /// Time allowed for one post, body included (`10s`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The Microsoft Graph app that reads channels back after an attempt
    /// that may have arrived. Without it every such attempt is sent again.
    pub graph: Option<GraphSettings>,
    /// The channel each webhook posts to, by webhook name
    /// (`SURVEY_ALERTS__TEAMS__CHANNELS__BILLING__TEAM_ID` and `..._CHANNEL_ID`).
    /// Webhooks not listed are never read back. Needs `graph`.
    pub channels: BTreeMap<String, GraphChannel>,
}

impl Default for TeamsSettings {
    fn default() -> Self {
        Self {
            webhooks: BTreeMap::new(),
            request_timeout: Duration::from_secs(10),
            graph: None,
            channels: BTreeMap::new(),
        }
    }
}

/// A Microsoft Entra app registration allowed to read the channels
/// (application permission `ChannelMessage.Read.All`, admin-consented).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphSettings {
    /// Directory (tenant) id the app and the teams belong to
    /// (`SURVEY_ALERTS__TEAMS__GRAPH__TENANT_ID`).
    pub tenant_id: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    /// The app's client secret. Never printed or logged.
    pub client_secret: SecretString,
    /// Graph API base (`https://graph.microsoft.com/v1.0`); the token's
    /// scope is this origin's `/.default`. The sandbox serves it at
    /// `{sandbox}/teams/graph/v1.0`.
    pub graph_url: String,
    /// Microsoft identity platform base (`https://login.microsoftonline.com`);
    /// tokens come from `{login_url}/{tenant_id}/oauth2/v2.0/token`. The
    /// sandbox serves it at `{sandbox}/teams/login`.
    pub login_url: String,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            tenant_id: String::new(),
            client_id: String::new(),
            client_secret: SecretString::from(String::new()),
            graph_url: "https://graph.microsoft.com/v1.0".to_owned(),
            login_url: "https://login.microsoftonline.com".to_owned(),
        }
    }
}

/// The Teams channel a webhook posts to, as Graph names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphChannel {
    /// The team's id (its Microsoft 365 group id).
    pub team_id: String,
    /// The channel's id (`19:…@thread.tacv2`).
    pub channel_id: String,
}

/// Posts alerts to Teams incoming webhooks.
#[derive(Debug)]
pub struct TeamsChannel {
    http: reqwest::Client,
    webhooks: BTreeMap<String, SecretString>,
    templates: Arc<Templates>,
    graph: Option<Graph>,
}

impl TeamsChannel {
    /// Checks that every webhook is an http(s) URL and that the read-back
    /// settings fit them, and builds the client; nothing is sent yet.
    pub fn new(settings: TeamsSettings, templates: Arc<Templates>) -> Result<Self, SetupError> {
        for (name, url) in &settings.webhooks {
            match reqwest::Url::parse(url.expose_secret().trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return Err(SetupError::new(
                        "teams",
                        format!("webhook {name:?} is not an http(s) URL"),
                    ));
                }
            }
        }
        let graph = match settings.graph {
            None if settings.channels.is_empty() => None,
            None => {
                return Err(SetupError::new(
                    "teams",
                    "channels are mapped for the read-back but graph is not set",
                ));
            }
            Some(graph) => Some(Graph::new(graph, settings.channels, &settings.webhooks)?),
        };
        Ok(Self {
            http: http::client("teams", settings.request_timeout)?,
            webhooks: settings.webhooks,
            templates,
            graph,
        })
    }
}

#[async_trait]
impl Channel for TeamsChannel {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision, webhook = %target.address)
    )]
    async fn deliver(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let Some(url) = self.webhooks.get(&target.address) else {
            return Err(DeliveryError::permanent(format!(
                "no Teams webhook named {:?} is configured",
                target.address
            )));
        };
        let card = self
            .templates
            .teams_card(&AlertView::new(alert, previous.is_some()))?;
        let message = json!({
            "type": "message",
            "attachments": [{
                "contentType": ADAPTIVE_CARD,
                "contentUrl": Value::Null,
                "content": keyed(card, &attempt.key),
            }],
        });
        let what = format!("Teams webhook {:?}", target.address);
        let response = self
            .http
            .post(url.expose_secret().trim())
            .json(&message)
            .send()
            .await
            .map_err(|error| http::transport_error(&what, error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(http::status_error(&what, status, response.headers()));
        }
        let retry_after = http::retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        if body.contains("HTTP error 429") {
            return Err(DeliveryError::Transient {
                reason: format!("{what} is throttled"),
                retry_after,
            });
        }
        tracing::debug!(%status, "Teams card posted");
        Ok(Delivered::default())
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision, webhook = %target.address)
    )]
    async fn find(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        _previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Found, DeliveryError> {
        let Some((graph, channel)) = self
            .graph
            .as_ref()
            .and_then(|graph| Some((graph, graph.channels.get(&target.address)?)))
        else {
            return Ok(Found::Unknown);
        };
        let what = format!("Graph messages of Teams webhook {:?}", target.address);
        let found = graph.find(&self.http, &what, channel, attempt).await?;
        tracing::debug!(?found, "Teams channel read back");
        Ok(found)
    }
}

/// The card with its body wrapped in a Container named after `key`: Graph
/// hands the card back as a string, and the id survives in it.
fn keyed(mut card: Value, key: &str) -> Value {
    if let Some(fields) = card.as_object_mut() {
        let items = match fields.remove("body") {
            Some(Value::Array(items)) => items,
            Some(other) => vec![other],
            None => Vec::new(),
        };
        fields.insert(
            "body".to_owned(),
            json!([{ "type": "Container", "id": format!("{KEY_PREFIX}{key}"), "items": items }]),
        );
    }
    card
}

/// The read-back through Microsoft Graph.
#[derive(Debug)]
struct Graph {
    /// `graph_url`, without a trailing slash.
    api: Url,
    channels: BTreeMap<String, GraphChannel>,
    tokens: Tokens,
}

impl Graph {
    fn new(
        settings: GraphSettings,
        channels: BTreeMap<String, GraphChannel>,
        webhooks: &BTreeMap<String, SecretString>,
    ) -> Result<Self, SetupError> {
        for (name, channel) in &channels {
            if !webhooks.contains_key(name) {
                return Err(SetupError::new(
                    "teams",
                    format!("channels names {name:?}, which is not among the webhooks"),
                ));
            }
            if channel.team_id.trim().is_empty() || channel.channel_id.trim().is_empty() {
                return Err(SetupError::new(
                    "teams",
                    format!("channel of webhook {name:?} needs team_id and channel_id"),
                ));
            }
        }
        for (field, value) in [
            ("tenant_id", settings.tenant_id.as_str()),
            ("client_id", settings.client_id.as_str()),
            ("client_secret", settings.client_secret.expose_secret()),
        ] {
            if value.trim().is_empty() {
                return Err(SetupError::new("teams", format!("graph.{field} is empty")));
            }
        }
        let api = base_url("graph_url", &settings.graph_url)?;
        let mut token_url = base_url("login_url", &settings.login_url)?;
        token_url
            .path_segments_mut()
            .map_err(|()| SetupError::new("teams", "graph.login_url cannot take a path"))?
            .pop_if_empty()
            .extend([settings.tenant_id.trim(), "oauth2", "v2.0", "token"]);
        let scope = format!("{}/.default", api.origin().ascii_serialization());
        Ok(Self {
            api,
            channels,
            tokens: Tokens {
                url: token_url,
                form: token_form(&settings.client_id, &settings.client_secret, &scope),
                cached: Mutex::new(None),
            },
        })
    }

    /// Looks through the channel's newest messages for the attempt's card.
    async fn find(
        &self,
        http: &reqwest::Client,
        what: &str,
        channel: &GraphChannel,
        attempt: &Attempt,
    ) -> Result<Found, DeliveryError> {
        let marker = format!("{KEY_PREFIX}{}", attempt.key);
        let cutoff = attempt.started_at - CLOCK_SKEW_MS;
        let mut url = self.messages_url(channel)?;
        for _ in 0..MAX_PAGES {
            let page = self.page(http, what, url).await?;
            let mut reached_older = false;
            for message in &page.value {
                if message.carries(&marker) {
                    return Ok(Found::Delivered(Delivered {
                        external_id: message.id.clone(),
                        ..Delivered::default()
                    }));
                }
                // Whether Graph orders by creation or by last change, once a
                // message's later time is before the cutoff, so are the rest.
                reached_older |= message.last_activity().is_some_and(|at| at < cutoff);
            }
            match page.next_link {
                Some(next) if !reached_older => url = self.follow(what, &next)?,
                _ => return Ok(Found::Absent),
            }
        }
        Ok(Found::Unknown)
    }

    fn messages_url(&self, channel: &GraphChannel) -> Result<Url, DeliveryError> {
        let mut url = self.api.clone();
        url.path_segments_mut()
            .map_err(|()| DeliveryError::permanent("graph_url cannot take a path"))?
            .pop_if_empty()
            .extend([
                "teams",
                channel.team_id.trim(),
                "channels",
                channel.channel_id.trim(),
                "messages",
            ]);
        url.set_query(Some(&format!("$top={PAGE_SIZE}")));
        Ok(url)
    }

    /// A `@odata.nextLink`, always sent to the configured Graph host: the
    /// token never goes anywhere else.
    fn follow(&self, what: &str, next: &str) -> Result<Url, DeliveryError> {
        let next = self.api.join(next.trim()).map_err(|error| {
            DeliveryError::transient(format!("{what}: unreadable @odata.nextLink: {error}"))
        })?;
        let mut url = self.api.clone();
        url.set_path(next.path());
        url.set_query(next.query());
        Ok(url)
    }

    /// One page; a 401 renews the token and tries once more.
    async fn page(
        &self,
        http: &reqwest::Client,
        what: &str,
        url: Url,
    ) -> Result<MessagePage, DeliveryError> {
        let mut renewed = false;
        loop {
            let token = self.tokens.token(http).await?;
            let response = http
                .get(url.clone())
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .map_err(|error| http::transport_error(what, error))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                self.tokens.invalidate(&token).await;
                if !renewed {
                    renewed = true;
                    continue;
                }
                return Err(DeliveryError::transient(format!(
                    "{what} refused a fresh token (HTTP {status})"
                )));
            }
            if !status.is_success() {
                return Err(http::status_error(what, status, response.headers()));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|error| http::transport_error(what, error))?;
            return serde_json::from_slice(&bytes).map_err(|error| {
                DeliveryError::transient(format!("{what} answered with unreadable JSON: {error}"))
            });
        }
    }
}

/// An http(s) URL without a trailing slash.
fn base_url(field: &str, text: &str) -> Result<Url, SetupError> {
    let text = text.trim().trim_end_matches('/');
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base() => Ok(url),
        _ => Err(SetupError::new(
            "teams",
            format!("graph.{field} {text:?} must be an http(s) URL"),
        )),
    }
}

/// The client-credentials form, encoded once.
fn token_form(client_id: &str, client_secret: &SecretString, scope: &str) -> SecretString {
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.trim()),
        ("client_secret", client_secret.expose_secret().trim()),
        ("scope", scope),
    ];
    let form = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", form_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    SecretString::from(form)
}

/// Percent-encodes everything but unreserved characters, which any
/// `application/x-www-form-urlencoded` reader accepts.
fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A page of `GET .../messages`.
#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    value: Vec<GraphMessage>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// The parts of a chatMessage the read-back uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    last_modified_date_time: Option<String>,
    #[serde(default)]
    attachments: Option<Vec<GraphAttachment>>,
}

#[derive(Debug, Deserialize)]
struct GraphAttachment {
    /// A string of the card's JSON for cards; anything else is searched as JSON.
    #[serde(default)]
    content: Option<Value>,
}

impl GraphMessage {
    fn carries(&self, marker: &str) -> bool {
        self.attachments
            .iter()
            .flatten()
            .filter_map(|attachment| attachment.content.as_ref())
            .any(|content| match content {
                Value::String(text) => text.contains(marker),
                other => other.to_string().contains(marker),
            })
    }

    /// Epoch milliseconds of the later of creation and last modification.
    fn last_activity(&self) -> Option<i64> {
        [&self.created_date_time, &self.last_modified_date_time]
            .into_iter()
            .flatten()
            .filter_map(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.timestamp_millis())
            .max()
    }
}

/// Client-credentials tokens, fetched once and kept until shortly before
/// they expire.
#[derive(Debug)]
struct Tokens {
    url: Url,
    /// The whole form, client secret included.
    form: SecretString,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    value: SecretString,
    renew_at: Instant,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    /// Seconds, a number (or a string from older endpoints).
    #[serde(default)]
    expires_in: Option<Value>,
}

/// The token endpoint's refusal (`invalid_client`, `unauthorized_client`, …).
#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
}

impl Tokens {
    const WHAT: &'static str = "Microsoft Entra token endpoint";

    /// A valid token; concurrent callers wait for one fetch.
    async fn token(&self, http: &reqwest::Client) -> Result<SecretString, DeliveryError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch(http).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets `rejected`, unless a concurrent caller already replaced it.
    async fn invalidate(&self, rejected: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<CachedToken, DeliveryError> {
        let started = Instant::now();
        let response = http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(self.form.expose_secret().to_owned())
            .send()
            .await
            .map_err(|error| http::transport_error(Self::WHAT, error))?;
        let status = response.status();
        if !status.is_success() {
            // A wrong client id or secret is 400/401 `invalid_client`: permanent.
            let error = http::status_error(Self::WHAT, status, response.headers());
            let body = response.bytes().await.unwrap_or_default();
            return Err(
                match (error, serde_json::from_slice::<TokenRefusal>(&body)) {
                    (DeliveryError::Permanent { reason }, Ok(refusal)) => {
                        DeliveryError::permanent(format!("{reason}: {}", refusal.error))
                    }
                    (error, _) => error,
                },
            );
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|error| http::transport_error(Self::WHAT, error))?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|error| {
            DeliveryError::transient(format!("{} answered unreadable JSON: {error}", Self::WHAT))
        })?;
        if answer.access_token.is_empty() {
            return Err(DeliveryError::transient(format!(
                "{} answered no access_token",
                Self::WHAT
            )));
        }
        let lifetime = answer
            .expires_in
            .and_then(|seconds| match seconds {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
            .min(MAX_TOKEN_LIFETIME);
        let margin = (lifetime / 10).min(MAX_RENEW_MARGIN);
        Ok(CachedToken {
            value: SecretString::from(answer.access_token),
            renew_at: started + lifetime - margin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_checked_and_never_printed() {
        let templates = Arc::new(Templates::embedded());
        let settings: TeamsSettings = serde_json::from_str(
            r#"{"webhooks":{"billing":"https://example.webhook.office.com/webhookb2/secret-part"},"request_timeout":"3s"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.request_timeout, Duration::from_secs(3));
        assert!(!format!("{settings:?}").contains("secret-part"));
        let channel =
            TeamsChannel::new(settings, templates.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{channel:?}").contains("secret-part"));

        let mut webhooks = BTreeMap::new();
        webhooks.insert(
            "broken".to_owned(),
            SecretString::from("not a url secret-part"),
        );
        let error = TeamsChannel::new(
            TeamsSettings {
                webhooks,
                ..TeamsSettings::default()
            },
            templates,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.contains("\"broken\"") && !error.contains("secret-part"),
            "{error}"
        );
        assert!(serde_json::from_str::<TeamsSettings>(r#"{"urls":{}}"#).is_err());
    }

    #[test]
    fn the_key_names_a_container_around_the_whole_body() {
        let card = json!({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "a"}]});
        let card = keyed(card, "00ff");
        assert_eq!(
            card["body"],
            json!([{
                "type": "Container",
                "id": "survey-alert-00ff",
                "items": [{"type": "TextBlock", "text": "a"}],
            }])
        );
        let bare = keyed(json!({"type": "AdaptiveCard"}), "1");
        assert_eq!(bare["body"][0]["items"], json!([]));
    }

    #[test]
    fn the_token_form_is_encoded_and_secret() {
        let form = token_form(
            "app-1",
            &SecretString::from("a+b/c=d~e"),
            "https://graph.microsoft.com/.default",
        );
        assert_eq!(
            form.expose_secret(),
            "grant_type=client_credentials&client_id=app-1&client_secret=a%2Bb%2Fc%3Dd~e\
             &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        );
        assert!(!format!("{form:?}").contains("a%2Bb"));
    }

    #[test]
    fn a_message_is_as_recent_as_its_last_change() {
        let message: GraphMessage = serde_json::from_value(json!({
            "id": "1616965872395",
            "createdDateTime": "2021-03-28T21:11:12.395Z",
            "lastModifiedDateTime": "2021-03-28T21:12:12.395Z",
            "attachments": [{"id": "x", "content": "{\"id\":\"survey-alert-ab\"}"}],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(message.last_activity(), Some(1_616_965_932_395));
        assert!(message.carries("survey-alert-ab"));
        assert!(!message.carries("survey-alert-cd"));
        let system: GraphMessage = serde_json::from_value(json!({
            "id": "1", "createdDateTime": "soon", "attachments": null, "from": null,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(system.last_activity(), None);
        assert!(!system.carries("survey-alert-ab"));
    }
}
