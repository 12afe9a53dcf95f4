//! Rust twins of the Avro records in `schemas/`. Field names follow the
//! schemas (camelCase) so that serde maps them one to one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::schemas::{self, SchemaSpec};

/// A record type bound to its schema file.
pub trait Contract: Serialize + DeserializeOwned + Send + Sync {
    /// The schema this type is written with and read as.
    fn schema_spec() -> &'static SchemaSpec;
}

/// A survey response as ingest accepted it. See `schemas/survey-response.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SurveyResponse {
    /// Survey response id, the business key.
    pub response_id: String,
    /// Webhook event type.
    pub event: String,
    /// Survey definition id.
    pub survey_id: Option<String>,
    /// Conversation the survey is about.
    pub interaction_id: String,
    /// Submission time, epoch milliseconds.
    pub submitted_at: i64,
    /// Receive time at ingest, epoch milliseconds.
    pub received_at: i64,
    /// CSAT score, 1 to 5.
    pub csat: i32,
    /// Free-text comment; customer text.
    pub comment: Option<String>,
    /// Other answers by question key, as JSON text.
    pub other_answers: BTreeMap<String, String>,
    /// Queue of the interaction.
    pub queue_id: Option<String>,
    /// Agent user id; `None` for bots and unassigned interactions.
    pub agent_id: Option<String>,
    /// Agent display name.
    pub agent_name: Option<String>,
}

impl Contract for SurveyResponse {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::SURVEY_RESPONSE
    }
}

/// Why a response is actionable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionableReason {
    /// `low_score` or `critical_keyword`.
    pub code: String,
    /// The score and threshold, or the keyword.
    pub detail: String,
}

/// A response that needs a supervisor. See `schemas/actionable-survey.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionableSurvey {
    /// The response, unchanged.
    pub survey: SurveyResponse,
    /// Why it is actionable; never empty.
    pub reasons: Vec<ActionableReason>,
    /// Emission time at the filter, epoch milliseconds.
    pub filtered_at: i64,
}

impl Contract for ActionableSurvey {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::ACTIONABLE_SURVEY
    }
}

/// A dedup topic entry. See `schemas/dedup-marker.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DedupMarker {
    /// The response id.
    pub response_id: String,
    /// First emission, epoch milliseconds.
    pub first_seen_at: i64,
}

impl Contract for DedupMarker {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::DEDUP_MARKER
    }
}
