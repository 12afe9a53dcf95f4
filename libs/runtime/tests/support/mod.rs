//! Set-up shared by the stage-loop tests of this crate.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use survey_contracts::topics;
use survey_runtime::KafkaSettings;
use survey_runtime::kafka::consumer_config;
use survey_runtime::provision::{ProvisionSettings, provision};

/// Provisions the topics a test stage reads and writes (the raw topic as its
/// input, the actionable topic as its output, the filter's DLQ) under
/// `kafka`'s prefix, and returns the input and output topic names.
pub async fn stage_topics(kafka: &KafkaSettings) -> (String, String) {
    provision(
        kafka,
        &[
            topics::SURVEY_RESPONSES_RAW,
            topics::SURVEY_RESPONSES_ACTIONABLE,
            topics::FILTER_DLQ,
        ],
        &ProvisionSettings::default(),
    )
    .await
    .expect("provisioning");
    let topology = kafka.topology();
    (
        topology.topic(&topics::SURVEY_RESPONSES_RAW),
        topology.topic(&topics::SURVEY_RESPONSES_ACTIONABLE),
    )
}

/// Joins the raw topic's group as static member `instance_id`, taking the
/// place of the stage's consumer with that id (as a broker restart that lost
/// track of the member does): the stage's consumer is fenced. Stays in the
/// group until the stage rejoins under the same id, which fences this
/// consumer in turn, and returns that fatal error. Panics after 60 s.
pub async fn fence_static_member(
    kafka: &KafkaSettings,
    instance_id: &str,
) -> (RDKafkaErrorCode, String) {
    let intruder_settings = KafkaSettings {
        group_instance_id: Some(instance_id.to_owned()),
        ..kafka.clone()
    };
    let topology = kafka.topology();
    let group = topology
        .group(&topics::SURVEY_RESPONSES_RAW)
        .expect("the raw topic has a consumer group");
    let intruder: StreamConsumer = consumer_config(&intruder_settings, &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("intruder");
    intruder
        .subscribe(&[&topology.topic(&topics::SURVEY_RESPONSES_RAW)])
        .expect("intruder subscribes");
    let fenced = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(200), intruder.recv()).await;
            if let Some(fatal) = intruder.client().fatal_error() {
                break fatal;
            }
        }
    })
    .await
    .expect("the stage never rejoined under its instance id");
    tokio::task::spawn_blocking(move || drop(intruder));
    fenced
}
