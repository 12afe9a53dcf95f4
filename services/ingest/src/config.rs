//! The ingest service's configuration. See the README's configuration
//! reference.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use survey_runtime::KafkaSettings;

/// Everything ingest can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Brokers, registry and topic prefix.
    pub kafka: KafkaSettings,
    /// Address to listen on (`LISTEN_ADDR`); port 0 picks a free port.
    pub listen_addr: SocketAddr,
    /// Who may post.
    pub auth: AuthSettings,
    /// Largest accepted body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a request waits for Kafka's acknowledgement before it gets
    /// 503 with `Retry-After` (the record may still land; the sender's retry
    /// is then deduplicated by the filter).
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Seconds sent in `Retry-After` with a 503.
    pub retry_after_secs: u32,
    /// How far in the future `submittedAt` may lie (clock skew).
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
    /// How old `submittedAt` may be.
    #[serde(with = "humantime_serde")]
    pub max_survey_age: Duration,
    /// Address of the ops endpoint (`OPS_ADDR`): `/healthz`, `/readyz` and
    /// `/metrics`, as on every service. The webhook port serves them too.
    pub ops_addr: SocketAddr,
    /// How long ingest may take to finish in-flight requests and flush after
    /// SIGTERM (`SHUTDOWN_TIMEOUT`) before it exits non-zero.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

/// Credentials and network limits for webhook senders.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HMAC-SHA256 key for `X-Signature-256` (`WEBHOOK_SECRET`).
    pub webhook_secret: Option<SecretString>,
    /// Static bearer token for senders that cannot sign (`WEBHOOK_TOKEN`).
    pub webhook_token: Option<SecretString>,
    /// Networks allowed to post; empty allows any (`WEBHOOK_ALLOWED_CIDRS`,
    /// comma-separated).
    pub allowed_cidrs: Vec<IpNet>,
    /// Accept unauthenticated webhooks when no secret or token is set. For
    /// local development only (`INGEST_INSECURE_DEV=true`).
    pub insecure_dev: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            auth: AuthSettings::default(),
            max_body_bytes: 64 * 1024,
            publish_timeout: Duration::from_secs(5),
            retry_after_secs: 5,
            max_clock_skew: Duration::from_secs(300),
            max_survey_age: Duration::from_secs(7 * 24 * 3600),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Plain environment variables ingest honours.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("LISTEN_ADDR", "listen_addr"),
    ("WEBHOOK_SECRET", "auth.webhook_secret"),
    ("WEBHOOK_TOKEN", "auth.webhook_token"),
    ("INGEST_INSECURE_DEV", "auth.insecure_dev"),
];
