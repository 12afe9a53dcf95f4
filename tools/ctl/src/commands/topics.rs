//! `topics list` and `topics apply`: the topic registry as a table, and the
//! registry made real on the cluster.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use survey_contracts::codec::EMBEDDED;
use survey_contracts::topics::{self, ValueFormat};
use survey_runtime::KafkaSettings;
use survey_runtime::provision::{ProvisionSettings, provision};

use crate::kafka::{self, REQUEST_TIMEOUT};
use crate::table::Table;

/// The topic registry with this deployment's names and groups (the README's
/// topic table).
pub fn list(settings: &KafkaSettings) -> Table {
    let topology = settings.topology();
    let mut table = Table::new([
        "topic",
        "key",
        "value",
        "policy",
        "producer",
        "consumer (group)",
    ]);
    for spec in topics::ALL {
        let value = match spec.value {
            ValueFormat::Avro(schema) => format!("Avro `{}`", schema.file),
            ValueFormat::DeadLetter => "original bytes + `dlq.*` headers".to_owned(),
        };
        let consumer = match (spec.consumer, topology.group(spec)) {
            (Some(service), Some(group)) => format!("{service} (`{group}`)"),
            (Some(service), None) => format!("{service} (reads all partitions)"),
            (None, _) => "operators".to_owned(),
        };
        table.row([
            format!("`{}`", topology.topic(spec)),
            spec.key.to_owned(),
            value,
            spec.cleanup.as_kafka_str().to_owned(),
            spec.producer.to_owned(),
            consumer,
        ]);
    }
    table
}

/// What `topics apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Topics that did not exist and were created.
    pub created: Vec<String>,
    /// Topics that existed and had the registry's configuration re-applied
    /// (partition counts and replication factors are left as they are).
    pub updated: Vec<String>,
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(["topic", "action"]);
        for topic in &self.created {
            table.row([topic.as_str(), "created"]);
        }
        for topic in &self.updated {
            table.row([topic.as_str(), "updated"]);
        }
        write!(f, "{table}")?;
        writeln!(
            f,
            "{} created, {} updated",
            self.created.len(),
            self.updated.len()
        )
    }
}

/// Creates every topic of the registry with its declared configuration, and
/// re-applies that configuration to the ones that exist. Schemas are left to
/// `schemas register`.
pub async fn apply(
    settings: &KafkaSettings,
    provision_settings: &ProvisionSettings,
) -> anyhow::Result<ApplyReport> {
    let existing = existing_topics(settings)?;
    // With no registry to write to, provisioning does the topics only.
    let topics_only = KafkaSettings {
        schema_registry_url: EMBEDDED.to_owned(),
        ..settings.clone()
    };
    provision(&topics_only, topics::ALL, provision_settings).await?;
    let topology = settings.topology();
    let (updated, created) = topics::ALL
        .iter()
        .map(|spec| topology.topic(spec))
        .partition(|name| existing.contains(name));
    Ok(ApplyReport { created, updated })
}

fn existing_topics(settings: &KafkaSettings) -> anyhow::Result<BTreeSet<String>> {
    let metadata = kafka::client(settings)?
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .context("listing the cluster's topics")?;
    Ok(metadata
        .topics()
        .iter()
        .map(|topic| topic.name().to_owned())
        .collect())
}
