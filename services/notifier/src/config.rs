//! The notifier's configuration. See the README's configuration reference.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use survey_genesys::GenesysConfig;
use survey_runtime::KafkaSettings;

use crate::channels::coaching::CoachingSettings;
use crate::channels::email::EmailSettings;
use crate::channels::slack::SlackSettings;
use crate::channels::teams::TeamsSettings;

/// Everything the notifier can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// Brokers, registry and topic prefix.
    pub kafka: KafkaSettings,
    /// Slack Web API.
    pub slack: SlackSettings,
    /// Teams incoming webhooks, by the names the routing file uses.
    pub teams: TeamsSettings,
    /// SMTP.
    pub email: EmailSettings,
    /// Genesys coaching appointments.
    pub coaching: CoachingSettings,
    /// Genesys Cloud client, for coaching appointments.
    pub genesys: GenesysConfig,
    /// Directory of message templates (`TEMPLATES_DIR`); files there replace
    /// the built-in ones without a rebuild.
    pub templates_dir: Option<PathBuf>,
    /// Retries of transient delivery failures.
    pub retry: RetrySettings,
    /// How long a delivery another notifier instance claimed is left to it
    /// (`30s`): during a rebalance an alert can reach this instance while the
    /// previous owner of its partition is still sending it. Longer than a
    /// channel call may take once begun (request timeouts, Slack pacing).
    /// With `GROUP_INSTANCE_ID` set, a restarted instance is the same owner
    /// and resumes its own deliveries at once.
    #[serde(with = "humantime_serde")]
    pub delivery_lease: Duration,
    /// How long an output may wait for Kafka's acknowledgement before the
    /// notifier stops (and, restarted, reprocesses from the stored offset).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics` (`OPS_ADDR`).
    pub ops_addr: SocketAddr,
    /// How long the service may take to drain and stop after SIGTERM
    /// (`SHUTDOWN_TIMEOUT`) before it exits non-zero.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

/// How transient failures are retried through the delay topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Wait before the first retry, unless the channel says `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Attempts before the delivery goes to the dead-letter queue.
    pub max_attempts: i32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            max_attempts: 40,
        }
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            slack: SlackSettings::default(),
            teams: TeamsSettings::default(),
            email: EmailSettings::default(),
            coaching: CoachingSettings::default(),
            genesys: GenesysConfig::default(),
            templates_dir: None,
            retry: RetrySettings::default(),
            delivery_lease: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Plain environment variables the notifier honours.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("SLACK_API_URL", "slack.api_url"),
    ("SLACK_BOT_TOKEN", "slack.bot_token"),
    ("SMTP_HOST", "email.smtp_host"),
    ("SMTP_PORT", "email.smtp_port"),
    ("SMTP_USERNAME", "email.username"),
    ("SMTP_PASSWORD", "email.password"),
    ("SMTP_FROM", "email.from"),
    ("SMTP_TLS", "email.tls"),
    ("TEMPLATES_DIR", "templates_dir"),
    ("GENESYS_REGION", "genesys.region"),
    ("GENESYS_API_URL", "genesys.api_url"),
    ("GENESYS_LOGIN_URL", "genesys.login_url"),
    ("GENESYS_CLIENT_ID", "genesys.client_id"),
    ("GENESYS_CLIENT_SECRET", "genesys.client_secret"),
];
