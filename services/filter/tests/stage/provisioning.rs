use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use survey_contracts::registry_admin::RegistryAdmin;
use survey_contracts::topics;
use survey_runtime::provision::{ProvisionSettings, provision};

use crate::helpers::Harness;

async fn topic_config(harness: &Harness, topic: &str, key: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &harness.kafka.bootstrap_servers)
        .create()
        .ok()?;
    let results = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .ok()?;
    let resource = results.into_iter().next()?.ok()?;
    resource.get(key).and_then(|entry| entry.value.clone())
}

#[tokio::test]
async fn topics_and_subjects_get_their_declared_configuration_idempotently() {
    let harness = Harness::new().await;
    let dedup = harness.topic(&topics::SURVEY_RESPONSES_DEDUP);
    let raw = harness.topic(&topics::SURVEY_RESPONSES_RAW);
    assert_eq!(
        topic_config(&harness, &dedup, "cleanup.policy")
            .await
            .as_deref(),
        Some("compact,delete")
    );
    assert_eq!(
        topic_config(&harness, &dedup, "retention.ms")
            .await
            .as_deref(),
        Some("86400000")
    );
    assert_eq!(
        topic_config(&harness, &dedup, "segment.ms")
            .await
            .as_deref(),
        Some("3600000")
    );
    assert_eq!(
        topic_config(&harness, &raw, "cleanup.policy")
            .await
            .as_deref(),
        Some("delete")
    );

    // Running it again with another dedup window updates the existing topic.
    let settings = ProvisionSettings {
        dedup_window: Duration::from_secs(7200),
    };
    provision(&harness.kafka, survey_filter::app::TOPICS, &settings)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // The broker applies a config change through its metadata log; a
    // describe right after it may still show the old value.
    let mut retention = None;
    for _ in 0..50 {
        retention = topic_config(&harness, &dedup, "retention.ms").await;
        if retention.as_deref() == Some("7200000") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(retention.as_deref(), Some("7200000"));

    let registry = RegistryAdmin::new(&harness.kafka.schema_registry_url);
    let topology = harness.kafka.topology();
    let level = registry
        .compatibility(&topology.value_subject(&topics::SURVEY_RESPONSES_RAW))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(level, "BACKWARD_TRANSITIVE");

    provision(
        &harness.kafka,
        &[topics::ALERTS_ENRICHED],
        &ProvisionSettings::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let level = registry
        .compatibility(&topology.value_subject(&topics::ALERTS_ENRICHED))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(level, "FULL_TRANSITIVE");
}
