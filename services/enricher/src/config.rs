//! The enricher's configuration. See the README's configuration reference.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use survey_genesys::GenesysConfig;
use survey_runtime::KafkaSettings;

use crate::recording::RecordingSettings;

/// Everything the enricher can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnricherConfig {
    /// Brokers, registry and topic prefix.
    pub kafka: KafkaSettings,
    /// Genesys Cloud region and OAuth client.
    pub genesys: GenesysConfig,
    /// Recording retries.
    pub recording: RecordingSettings,
    /// The operator's routing file (`ROUTING_FILE`); without one, every
    /// alert goes to `fallback_slack_channel`.
    pub routing_file: Option<PathBuf>,
    /// Slack channel for alerts when no routing file is given.
    pub fallback_slack_channel: String,
    /// Write the routing file's queues to the directory topic at start-up.
    pub sync_directory_on_start: bool,
    /// How long an output may wait for Kafka's acknowledgement before the
    /// enricher stops (and, restarted, reprocesses from the stored offset).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Address of `/healthz`, `/readyz` and `/metrics` (`OPS_ADDR`).
    pub ops_addr: SocketAddr,
    /// How long the service may take to drain and stop after SIGTERM
    /// (`SHUTDOWN_TIMEOUT`) before it exits non-zero.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

impl Default for EnricherConfig {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            genesys: GenesysConfig::default(),
            recording: RecordingSettings::default(),
            routing_file: None,
            fallback_slack_channel: "#survey-alerts".to_owned(),
            sync_directory_on_start: true,
            delivery_timeout: Duration::from_secs(120),
            ops_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Plain environment variables the enricher honours.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("GENESYS_REGION", "genesys.region"),
    ("GENESYS_API_URL", "genesys.api_url"),
    ("GENESYS_LOGIN_URL", "genesys.login_url"),
    ("GENESYS_CLIENT_ID", "genesys.client_id"),
    ("GENESYS_CLIENT_SECRET", "genesys.client_secret"),
    ("ROUTING_FILE", "routing_file"),
    ("RECORDING_MODE", "recording.mode"),
    ("RECORDING_CHECK_INTERVAL", "recording.check_interval"),
    ("RECORDING_GIVE_UP_AFTER", "recording.give_up_after"),
];
