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
    /// Static group membership id of this instance (`GROUP_INSTANCE_ID`),
    /// stable across restarts of the same replica (a pod name, say). A
    /// restarted consumer then rejoins with its old partitions at once instead
    /// of waiting for a rebalance, and a transactional stage fences the
    /// transaction its predecessor left open. Unset: dynamic membership.
    pub group_instance_id: Option<String>,
    /// Delivery guarantee of the consume-transform-produce stages
    /// (`PROCESSING_GUARANTEE`): `exactly-once` (Kafka transactions, the
    /// default) or `at-least-once` (acknowledged outputs, then the offset).
    pub processing_guarantee: ProcessingGuarantee,
    /// Extra librdkafka properties, passed through unchanged; they override
    /// the service's own settings.
    pub librdkafka: BTreeMap<String, String>,
}

/// How a stage ties its outputs to its input offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessingGuarantee {
    /// Outputs and input offsets are committed in one Kafka transaction;
    /// `read_committed` consumers never see an output twice or half.
    #[default]
    ExactlyOnce,
    /// Offsets are stored after the outputs are acknowledged; a crash can
    /// repeat outputs, which consumers deduplicate by business key.
    AtLeastOnce,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:19092".to_owned(),
            schema_registry_url: "http://127.0.0.1:18081/apis/ccompat/v7".to_owned(),
            topic_prefix: String::new(),
            replication_factor: 1,
            provision_on_start: true,
            group_instance_id: None,
            processing_guarantee: ProcessingGuarantee::default(),
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
    ("GROUP_INSTANCE_ID", "kafka.group_instance_id"),
    ("PROCESSING_GUARANTEE", "kafka.processing_guarantee"),
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
