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
    /// Consumers a stage that waits on external calls (the enricher's and the
    /// notifier's main loops) runs in one process (`PARALLEL_CONSUMERS`).
    /// The group shares the partitions out among them, so inputs of
    /// different partitions are handled concurrently while each partition
    /// keeps its order. More than the topic's partitions leaves some idle.
    pub parallel_consumers: usize,
    /// Under `at-least-once`, inputs each of those consumers handles at once
    /// (`CONCURRENT_INPUTS`): while one waits on Genesys, Slack or Kafka,
    /// others proceed. Inputs with the same key (one alert's revisions) are
    /// still handled one after another, in order, and offsets are committed
    /// only below the oldest unfinished input. 1 handles one at a time.
    /// Exactly-once stages handle one input at a time per consumer.
    pub concurrent_inputs: usize,
    /// Extra librdkafka properties, passed through unchanged; they override
    /// the service's own settings. From the environment:
    /// `SURVEY_ALERTS__KAFKA__LIBRDKAFKA__SECURITY.PROTOCOL=SASL_SSL` (the
    /// dots of a property name survive as dots).
    #[serde(deserialize_with = "dotted_properties")]
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
            parallel_consumers: 3,
            concurrent_inputs: 32,
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
    ("PARALLEL_CONSUMERS", "kafka.parallel_consumers"),
    ("CONCURRENT_INPUTS", "kafka.concurrent_inputs"),
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

/// A librdkafka property value as a config source delivers it: the
/// environment layer splits `security.protocol` into nested keys, and a TOML
/// file may give numbers or booleans.
#[derive(Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Flag(bool),
    Nested(BTreeMap<String, PropertyValue>),
}

/// Reads librdkafka properties, joining nested keys back into dotted names.
fn dotted_properties<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    fn flatten(prefix: &str, value: PropertyValue, into: &mut BTreeMap<String, String>) {
        let text = match value {
            PropertyValue::Text(text) => text,
            PropertyValue::Integer(number) => number.to_string(),
            PropertyValue::Float(number) => number.to_string(),
            PropertyValue::Flag(flag) => flag.to_string(),
            PropertyValue::Nested(entries) => {
                for (key, value) in entries {
                    let name = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&name, value, into);
                }
                return;
            }
        };
        into.insert(prefix.to_owned(), text);
    }
    let entries = BTreeMap::<String, PropertyValue>::deserialize(deserializer)?;
    let mut properties = BTreeMap::new();
    flatten("", PropertyValue::Nested(entries), &mut properties);
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        kafka: KafkaSettings,
    }

    #[test]
    fn dotted_librdkafka_properties_survive_the_environment_layer() {
        let loaded: Wrapper = config::Config::builder()
            .add_source(
                config::Environment::with_prefix("SURVEY_ALERTS")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(
                        [
                            (
                                "SURVEY_ALERTS__KAFKA__LIBRDKAFKA__SECURITY.PROTOCOL".to_owned(),
                                "SASL_SSL".to_owned(),
                            ),
                            (
                                "SURVEY_ALERTS__KAFKA__LIBRDKAFKA__SASL.MECHANISMS".to_owned(),
                                "SCRAM-SHA-512".to_owned(),
                            ),
                            (
                                "SURVEY_ALERTS__KAFKA__LIBRDKAFKA__LINGER.MS".to_owned(),
                                "10".to_owned(),
                            ),
                            (
                                "SURVEY_ALERTS__KAFKA__LIBRDKAFKA__ACKS".to_owned(),
                                "all".to_owned(),
                            ),
                        ]
                        .into_iter()
                        .collect(),
                    )),
            )
            .build()
            .and_then(config::Config::try_deserialize)
            .expect("the settings load");
        let properties = loaded.kafka.librdkafka;
        assert_eq!(properties["security.protocol"], "SASL_SSL");
        assert_eq!(properties["sasl.mechanisms"], "SCRAM-SHA-512");
        assert_eq!(properties["linger.ms"], "10");
        assert_eq!(properties["acks"], "all");
    }
}
