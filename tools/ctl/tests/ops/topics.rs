use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use survey_contracts::topics::ALL;
use survey_ctl::commands::{schemas, topics};
use survey_runtime::KafkaSettings;
use survey_runtime::provision::ProvisionSettings;

use crate::helpers::ok;

fn admin(kafka: &KafkaSettings) -> AdminClient<DefaultClientContext> {
    ok(rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .create()
        .map_err(Into::into))
}

/// The topic's `retention.ms` once it is `expected` (configuration changes
/// reach the broker's metadata a moment after the controller accepts them),
/// or what it still is after 10 s.
async fn retention_ms(kafka: &KafkaSettings, topic: &str, expected: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = describe_retention_ms(kafka, topic).await;
        if value.as_deref() == Some(expected) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn describe_retention_ms(kafka: &KafkaSettings, topic: &str) -> Option<String> {
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = ok(admin(kafka)
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(Into::into));
    described
        .into_iter()
        .flatten()
        .find_map(|resource| resource.get("retention.ms").and_then(|e| e.value.clone()))
}

#[tokio::test]
async fn apply_creates_every_topic_then_puts_drifted_settings_back() {
    let kafka = survey_test_support::kafka_settings();
    let topology = kafka.topology();
    let every_topic: Vec<String> = ALL.iter().map(|spec| topology.topic(spec)).collect();

    let first = ok(topics::apply(&kafka, &ProvisionSettings::default()).await);
    assert_eq!(first.created, every_topic);
    assert!(first.updated.is_empty(), "{first}");
    assert!(
        first
            .to_string()
            .contains(&format!("{} created, 0 updated", ALL.len())),
        "{first}"
    );

    // Someone shortens the raw topic's retention by hand.
    let raw = topology.topic(&survey_contracts::topics::SURVEY_RESPONSES_RAW);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let drift = AlterConfig::new(ResourceSpecifier::Topic(&raw)).set("retention.ms", "60000");
    let altered = ok(admin(&kafka)
        .alter_configs(&[drift], &options)
        .await
        .map_err(Into::into));
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    assert_eq!(
        retention_ms(&kafka, &raw, "60000").await.as_deref(),
        Some("60000")
    );

    let second = ok(topics::apply(&kafka, &ProvisionSettings::default()).await);
    assert!(second.created.is_empty(), "{second}");
    assert_eq!(second.updated, every_topic);
    assert_eq!(
        retention_ms(&kafka, &raw, "604800000").await.as_deref(),
        Some("604800000"),
        "the declared 7 days are back"
    );

    // Topics only: no subject was registered.
    let check = ok(schemas::check(&kafka.schema_registry_url, &schemas::embedded(&topology)).await);
    assert!(
        check
            .checked
            .iter()
            .all(|c| c.verdict == schemas::Verdict::New),
        "{check}"
    );
}

#[test]
fn list_names_every_topic_and_group_of_the_deployment() {
    let kafka = KafkaSettings {
        topic_prefix: "staging.".to_owned(),
        ..KafkaSettings::default()
    };
    let table = topics::list(&kafka);
    assert_eq!(table.rows().len(), ALL.len());
    let text = table.to_string();
    assert!(text.contains("| `staging.survey.responses.raw` | survey response id | Avro `survey-response.avsc` | delete | ingest | filter (`staging.survey-alerts.filter`) |"), "{text}");
    assert!(text.contains("| `staging.survey.notifier.dlq` |"), "{text}");
}
