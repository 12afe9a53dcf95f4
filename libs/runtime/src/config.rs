//! Layered configuration: compiled defaults, then an optional TOML file
//! (`SURVEY_ALERTS_CONFIG`), then `SURVEY_ALERTS__SECTION__FIELD` variables,
//! then the well-known plain variables each service names (for example
//! `KAFKA_BOOTSTRAP_SERVERS`). Later layers win.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use survey_contracts::Topology;

/// Connection settings shared by every service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list of brokers (`KAFKA_BOOTSTRAP_SERVERS`).
    pub bootstrap_servers: String,
    /// Base URL of the Confluent-compatible schema registry
    /// (`SCHEMA_REGISTRY_URL`); for Apicurio, its `/apis/ccompat/v7` path.
    pub schema_registry_url: String,
    /// Prefix of every topic and consumer group name (`TOPIC_PREFIX`); lets
    /// environments share a cluster.
    pub topic_prefix: String,
    /// Replication factor of topics this service creates (`REPLICATION_FACTOR`);
    /// 3 on a production cluster. Existing topics keep theirs.
    pub replication_factor: i32,
    /// Create missing topics and register schemas at start-up. Turn off where
    /// topics are managed elsewhere (Strimzi `KafkaTopic` resources).
    pub provision_on_start: bool,
    /// Extra librdkafka properties, passed through unchanged; they override
    /// the service's own settings.
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:19092".to_owned(),
            schema_registry_url: "http://127.0.0.1:18081/apis/ccompat/v7".to_owned(),
            topic_prefix: String::new(),
            replication_factor: 1,
            provision_on_start: true,
            librdkafka: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    /// The topic names of this deployment.
    pub fn topology(&self) -> Topology {
        Topology::with_prefix(self.topic_prefix.clone())
    }
}

/// Plain environment variables every service honours, mapped to config keys.
pub const COMMON_ENV_ALIASES: &[(&str, &str)] = &[
    ("KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap_servers"),
    ("SCHEMA_REGISTRY_URL", "kafka.schema_registry_url"),
    ("TOPIC_PREFIX", "kafka.topic_prefix"),
    ("REPLICATION_FACTOR", "kafka.replication_factor"),
    ("OPS_ADDR", "ops_addr"),
    ("SHUTDOWN_TIMEOUT", "shutdown_timeout"),
];

/// Loads a service's configuration through every layer. `aliases` maps
/// well-known plain variables to config keys, on top of [`COMMON_ENV_ALIASES`].
pub fn load_config<T: DeserializeOwned>(aliases: &[(&str, &str)]) -> anyhow::Result<T> {
    let mut builder = config::Config::builder();
    if let Ok(path) = std::env::var("SURVEY_ALERTS_CONFIG") {
        builder = builder.add_source(config::File::with_name(&path));
    }
    builder = builder.add_source(
        config::Environment::with_prefix("SURVEY_ALERTS")
            .prefix_separator("__")
            .separator("__"),
    );
    for (variable, key) in COMMON_ENV_ALIASES.iter().chain(aliases) {
        builder = builder
            .set_override_option(*key, std::env::var(variable).ok())
            .with_context(|| format!("applying {variable}"))?;
    }
    builder
        .build()
        .context("reading configuration")?
        .try_deserialize()
        .context("invalid configuration")
}
