//! The Avro schemas in `schemas/`, embedded at build time so that a binary
//! carries the exact contract it was compiled against.

use std::sync::OnceLock;

use apache_avro::Schema;

/// Schema evolution rule registered for a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// New readers can read all older data: enough for internal topics.
    BackwardTransitive,
    /// Old and new readers and writers interoperate across all versions:
    /// required for topics other teams consume.
    FullTransitive,
}

impl Compatibility {
    /// The level's name in the Confluent registry API.
    pub fn as_registry_str(self) -> &'static str {
        match self {
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }
}

/// One `.avsc` file of `schemas/`.
#[derive(Debug)]
pub struct SchemaSpec {
    /// File name below `schemas/`.
    pub file: &'static str,
    /// The schema text, as registered.
    pub text: &'static str,
    /// Compatibility mode of every subject that uses this schema.
    pub compatibility: Compatibility,
    parsed: OnceLock<Schema>,
}

impl SchemaSpec {
    const fn new(file: &'static str, text: &'static str, compatibility: Compatibility) -> Self {
        Self {
            file,
            text,
            compatibility,
            parsed: OnceLock::new(),
        }
    }

    /// The parsed schema. The files are checked by this crate's tests, so a
    /// parse failure is a build defect, not a runtime condition.
    #[allow(clippy::expect_used)]
    pub fn schema(&self) -> &Schema {
        self.parsed.get_or_init(|| {
            Schema::parse_str(self.text).expect("embedded schema files are validated by tests")
        })
    }
}

/// Raw survey responses as ingest accepted them.
pub static SURVEY_RESPONSE: SchemaSpec = SchemaSpec::new(
    "survey-response.avsc",
    include_str!("../../../schemas/survey-response.avsc"),
    Compatibility::BackwardTransitive,
);

/// Responses the filter found actionable.
pub static ACTIONABLE_SURVEY: SchemaSpec = SchemaSpec::new(
    "actionable-survey.avsc",
    include_str!("../../../schemas/actionable-survey.avsc"),
    Compatibility::BackwardTransitive,
);

/// Markers of the filter's dedup topic.
pub static DEDUP_MARKER: SchemaSpec = SchemaSpec::new(
    "dedup-marker.avsc",
    include_str!("../../../schemas/dedup-marker.avsc"),
    Compatibility::BackwardTransitive,
);

/// Alerts for supervisors: the public contract other teams consume.
pub static ENRICHED_ALERT: SchemaSpec = SchemaSpec::new(
    "enriched-alert.avsc",
    include_str!("../../../schemas/enriched-alert.avsc"),
    Compatibility::FullTransitive,
);

/// Scheduled recording re-checks on the enricher's delay topic.
pub static RECORDING_RETRY: SchemaSpec = SchemaSpec::new(
    "recording-retry.avsc",
    include_str!("../../../schemas/recording-retry.avsc"),
    Compatibility::BackwardTransitive,
);

/// Entries of the queue routing directory.
pub static QUEUE_DIRECTORY_ENTRY: SchemaSpec = SchemaSpec::new(
    "queue-directory-entry.avsc",
    include_str!("../../../schemas/queue-directory-entry.avsc"),
    Compatibility::BackwardTransitive,
);

/// The notifier's delivery ledger.
pub static DELIVERY_RECORD: SchemaSpec = SchemaSpec::new(
    "delivery-record.avsc",
    include_str!("../../../schemas/delivery-record.avsc"),
    Compatibility::BackwardTransitive,
);

/// The notifier's delivery intents.
pub static DELIVERY_INTENT: SchemaSpec = SchemaSpec::new(
    "delivery-intent.avsc",
    include_str!("../../../schemas/delivery-intent.avsc"),
    Compatibility::BackwardTransitive,
);

/// Scheduled delivery retries on the notifier's delay topic.
pub static DELIVERY_RETRY: SchemaSpec = SchemaSpec::new(
    "delivery-retry.avsc",
    include_str!("../../../schemas/delivery-retry.avsc"),
    Compatibility::BackwardTransitive,
);

/// Every embedded schema, in a fixed order (the embedded codec's ids follow it).
pub static ALL: &[&SchemaSpec] = &[
    &SURVEY_RESPONSE,
    &ACTIONABLE_SURVEY,
    &DEDUP_MARKER,
    &ENRICHED_ALERT,
    &RECORDING_RETRY,
    &QUEUE_DIRECTORY_ENTRY,
    &DELIVERY_RECORD,
    &DELIVERY_INTENT,
    &DELIVERY_RETRY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses_and_documents_every_field() {
        for spec in ALL {
            let json: serde_json::Value = serde_json::from_str(spec.text).unwrap_or_default();
            assert!(json.get("doc").is_some(), "{} has no doc", spec.file);
            let fields = json["fields"].as_array().cloned().unwrap_or_default();
            assert!(!fields.is_empty(), "{} has no fields", spec.file);
            for field in fields {
                assert!(
                    field.get("doc").is_some(),
                    "{}: field {} has no doc",
                    spec.file,
                    field["name"]
                );
            }
            let _ = spec.schema();
        }
    }

    #[test]
    fn the_public_alert_schema_lets_every_optional_field_default() {
        let alert: serde_json::Value =
            serde_json::from_str(ENRICHED_ALERT.text).unwrap_or_default();
        let mut optional = 0;
        let mut stack = vec![alert];
        while let Some(node) = stack.pop() {
            for field in node["fields"].as_array().cloned().unwrap_or_default() {
                if field["type"][0] == "null" {
                    optional += 1;
                    assert!(
                        field.get("default").is_some(),
                        "{} lacks a default",
                        field["name"]
                    );
                }
                stack.push(field["type"].clone());
                stack.push(field["type"]["items"].clone());
            }
        }
        assert!(optional > 10);
        assert_eq!(ENRICHED_ALERT.compatibility, Compatibility::FullTransitive);
    }

    #[test]
    fn the_retry_record_embeds_the_alert_schema_unchanged() {
        let alert: serde_json::Value =
            serde_json::from_str(ENRICHED_ALERT.text).unwrap_or_default();
        let retry: serde_json::Value =
            serde_json::from_str(RECORDING_RETRY.text).unwrap_or_default();
        assert_eq!(retry["fields"][0]["type"], alert);
    }

    #[test]
    fn actionable_survey_embeds_the_raw_survey_schema_unchanged() {
        let raw: serde_json::Value = serde_json::from_str(SURVEY_RESPONSE.text).unwrap_or_default();
        let actionable: serde_json::Value =
            serde_json::from_str(ACTIONABLE_SURVEY.text).unwrap_or_default();
        assert_eq!(actionable["fields"][0]["type"], raw);
    }
}
