//! E-mail over SMTP: one `multipart/alternative` mail (text and HTML) per
//! alert and address, with a Message-ID of ours (`<attempt key@survey-alerts>`).
//! A later revision is a short reply to that first mail (`Re: ` subject,
//! `In-Reply-To` and `References` naming it), so mail clients thread them;
//! the ledger keeps the first mail's Message-ID.
//!
//! SMTP cannot be asked whether a mail arrived, so a mail that may have been
//! taken before the notifier stopped is sent again, byte for byte the same in
//! its Message-ID and Date (both come from the attempt). Mail stores discard
//! such a copy as a duplicate: Exchange's store keeps the Internet Message-ID
//! and submit time of every delivered mail, and drops a second one.
//!
//! SMTP 5xx answers (no such mailbox, relaying denied) are permanent, as is
//! an address that does not parse; 4xx answers, connection failures and
//! timeouts are transient.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};

use super::{Attempt, Channel, Delivered, DeliveryError, SetupError};
use crate::templates::{AlertView, Templates};

/// How to send mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// SMTP relay host (`SMTP_HOST`).
    pub smtp_host: String,
    /// SMTP port (`587`, the submission port).
    pub smtp_port: u16,
    /// Require STARTTLS (`true`). Only the local sandbox sink runs without.
    pub tls: bool,
    /// SMTP user name, when the relay wants authentication.
    pub username: Option<String>,
    /// SMTP password. Never printed or logged.
    pub password: Option<SecretString>,
    /// The sender, `Survey alerts <alerts@example.com>` or a bare address.
    pub from: String,
    /// Time allowed for each SMTP command (`10s`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_host: "localhost".to_owned(),
            smtp_port: 587,
            tls: true,
            username: None,
            password: None,
            from: "Survey alerts <survey-alerts@localhost>".to_owned(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Sends alert e-mails.
#[derive(Debug)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: Arc<Templates>,
}

impl EmailChannel {
    /// Checks the settings and prepares the pooled transport; no connection
    /// is opened yet. Call it inside a Tokio runtime: the pool starts a
    /// task that closes idle connections.
    pub fn new(settings: EmailSettings, templates: Arc<Templates>) -> Result<Self, SetupError> {
        let invalid = |message: String| SetupError::new("email", message);
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error| invalid(format!("from {:?}: {error}", settings.from)))?;
        let host = settings.smtp_host.trim();
        if host.is_empty() {
            return Err(invalid("smtp_host is empty".to_owned()));
        }
        if settings.timeout.is_zero() {
            return Err(invalid("timeout must be positive".to_owned()));
        }
        let mut builder = if settings.tls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|error| invalid(format!("STARTTLS to {host}: {error}")))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        };
        builder = builder
            .port(settings.smtp_port)
            .timeout(Some(settings.timeout));
        match (settings.username, settings.password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user, password.expose_secret().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "username and password go together: set both or neither".to_owned(),
                ));
            }
        }
        Ok(Self {
            transport: builder.build(),
            from,
            templates,
        })
    }
}

#[async_trait]
impl Channel for EmailChannel {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision)
    )]
    async fn deliver(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        let to: Mailbox = target.address.trim().parse().map_err(|error| {
            DeliveryError::permanent(format!(
                "invalid e-mail address {:?}: {error}",
                target.address
            ))
        })?;
        let first_mail = previous.and_then(|previous| previous.message_id.clone());
        let content = self
            .templates
            .email(&AlertView::new(alert, first_mail.is_some()))?;
        let message_id = format!("<{}@survey-alerts>", attempt.key);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .message_id(Some(message_id.clone()))
            .date(submitted_at(attempt.started_at));
        builder = match &first_mail {
            Some(first) => builder
                .subject(format!("Re: {}", content.subject))
                .in_reply_to(first.clone())
                .references(first.clone()),
            None => builder.subject(content.subject),
        };
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                content.text,
                content.html,
            ))
            .map_err(|error| DeliveryError::permanent(format!("cannot build the mail: {error}")))?;
        self.transport.send(message).await.map_err(smtp_error)?;
        tracing::debug!(%message_id, follow_up = first_mail.is_some(), "mail accepted");
        Ok(Delivered {
            message_id: Some(first_mail.unwrap_or(message_id)),
            ..Delivered::default()
        })
    }
}

/// The attempt's first start as the mail's Date; a resend keeps it.
fn submitted_at(started_at: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(started_at).unwrap_or(0))
}

/// 5xx answers are permanent; everything else (4xx, connection, TLS,
/// timeout) may pass later.
fn smtp_error(error: lettre::transport::smtp::Error) -> DeliveryError {
    if error.is_permanent() {
        DeliveryError::permanent(format!("the SMTP server refused the mail: {error}"))
    } else {
        DeliveryError::transient(format!("SMTP delivery failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_are_checked() {
        let templates = Arc::new(Templates::embedded());
        let settings: EmailSettings = serde_json::from_str(
            r#"{"smtp_host":"mail.example.com","username":"alerts","password":"hunter2","timeout":"5s"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(settings.tls);
        assert_eq!(settings.smtp_port, 587);
        assert!(!format!("{settings:?}").contains("hunter2"));
        let channel = EmailChannel::new(settings.clone(), templates.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{channel:?}").contains("hunter2"));

        for broken in [
            EmailSettings {
                from: "not an address".into(),
                ..settings.clone()
            },
            EmailSettings {
                password: None,
                ..settings.clone()
            },
            EmailSettings {
                smtp_host: " ".into(),
                ..settings
            },
        ] {
            assert!(EmailChannel::new(broken, templates.clone()).is_err());
        }
        assert!(serde_json::from_str::<EmailSettings>(r#"{"host":"x"}"#).is_err());
    }
}
