//! Set-up shared by the stage-loop tests of this crate.

use survey_contracts::topics;
use survey_runtime::KafkaSettings;
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
