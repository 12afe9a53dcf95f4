//! Creates the pipeline's topics with their declared settings and registers
//! their value schemas, idempotently: running it again changes nothing, and
//! an existing topic has its declared settings re-applied.

use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use survey_contracts::registry_admin::RegistryAdmin;
use survey_contracts::topics::{Retention, TopicSpec, ValueFormat};

use crate::config::KafkaSettings;

/// What provisioning needs beyond the topic declarations.
#[derive(Debug, Clone)]
pub struct ProvisionSettings {
    /// Retention of the dedup topic.
    pub dedup_window: Duration,
}

impl Default for ProvisionSettings {
    fn default() -> Self {
        Self {
            dedup_window: survey_contracts::topics::DEFAULT_DEDUP_WINDOW,
        }
    }
}

/// The Kafka topic configuration of a declared topic.
pub fn topic_configs(
    spec: &TopicSpec,
    settings: &ProvisionSettings,
) -> Vec<(&'static str, String)> {
    let retention = match spec.retention {
        Retention::Fixed(duration) => duration,
        Retention::DedupWindow => settings.dedup_window,
    };
    let mut configs = vec![
        ("cleanup.policy", spec.cleanup.as_kafka_str().to_owned()),
        ("retention.ms", retention.as_millis().to_string()),
    ];
    if let Some(segment) = spec.segment {
        configs.push(("segment.ms", segment.min(retention).as_millis().to_string()));
    }
    configs
}

/// Creates or updates every topic in `specs` and registers their schemas.
pub async fn provision(
    kafka: &KafkaSettings,
    specs: &[TopicSpec],
    settings: &ProvisionSettings,
) -> anyhow::Result<()> {
    let topology = kafka.topology();
    let admin: AdminClient<DefaultClientContext> =
        crate::kafka::producer_config(kafka, Duration::from_secs(10))
            .create()
            .context("creating the Kafka admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));

    let names: Vec<String> = specs.iter().map(|spec| topology.topic(spec)).collect();
    let configs: Vec<Vec<(&str, String)>> = specs
        .iter()
        .map(|spec| topic_configs(spec, settings))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&names)
        .zip(&configs)
        .map(|((spec, name), configs)| {
            configs.iter().fold(
                NewTopic::new(
                    name,
                    spec.partitions,
                    TopicReplication::Fixed(kafka.replication_factor),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let mut existing = Vec::new();
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(name) => tracing::info!(topic = name, "topic created"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(name),
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    let alterations: Vec<AlterConfig<'_>> = names
        .iter()
        .zip(&configs)
        .filter(|(name, _)| existing.contains(name))
        .map(|(name, configs)| {
            configs.iter().fold(
                AlterConfig::new(ResourceSpecifier::Topic(name)),
                |alter, (key, value)| alter.set(key, value),
            )
        })
        .collect();
    if !alterations.is_empty() {
        for result in admin.alter_configs(&alterations, &options).await? {
            if let Err((resource, code)) = result {
                anyhow::bail!("updating {resource:?}: {code}");
            }
        }
    }

    if kafka.schema_registry_url == survey_contracts::codec::EMBEDDED {
        return Ok(());
    }
    let registry = RegistryAdmin::new(&kafka.schema_registry_url);
    for spec in specs {
        if let ValueFormat::Avro(schema) = spec.value {
            let subject = topology.value_subject(spec);
            let id = registry
                .register(&subject, schema)
                .await
                .with_context(|| format!("registering {subject}"))?;
            tracing::debug!(subject, id, "schema registered");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use survey_contracts::topics;

    #[test]
    fn dedup_topic_is_a_compacted_window() {
        let settings = ProvisionSettings {
            dedup_window: Duration::from_secs(600),
        };
        let configs = topic_configs(&topics::SURVEY_RESPONSES_DEDUP, &settings);
        assert_eq!(
            configs,
            vec![
                ("cleanup.policy", "compact,delete".to_owned()),
                ("retention.ms", "600000".to_owned()),
                ("segment.ms", "600000".to_owned()),
            ]
        );
        let raw = topic_configs(&topics::SURVEY_RESPONSES_RAW, &settings);
        assert_eq!(raw[0], ("cleanup.policy", "delete".to_owned()));
    }
}
