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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};

use super::{Attempt, Channel, Delivered, DeliveryError, SetupError, http};
use crate::templates::{AlertView, Templates};

/// The attachment content type of an Adaptive Card.
const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

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
}

impl Default for TeamsSettings {
    fn default() -> Self {
        Self {
            webhooks: BTreeMap::new(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Posts alerts to Teams incoming webhooks.
#[derive(Debug)]
pub struct TeamsChannel {
    http: reqwest::Client,
    webhooks: BTreeMap<String, SecretString>,
    templates: Arc<Templates>,
}

impl TeamsChannel {
    /// Checks that every webhook is an http(s) URL and builds the client.
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
        Ok(Self {
            http: http::client("teams", settings.request_timeout)?,
            webhooks: settings.webhooks,
            templates,
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
        _attempt: &Attempt,
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
                "content": card,
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
}
