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

/// Why an alert was raised. See `schemas/enriched-alert.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReason {
    /// `low_score` or `critical_keyword`.
    pub code: String,
    /// The score and threshold, or the keyword.
    pub detail: String,
}

/// Someone who must act.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// Genesys user id.
    pub user_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// One place an alert goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NotificationTarget {
    /// `slack`, `teams`, `email` or `coaching`.
    pub channel: String,
    /// Channel, webhook name, address, or facilitator id.
    pub address: String,
}

impl NotificationTarget {
    /// A target on `channel` at `address`.
    pub fn new(channel: &str, address: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            address: address.to_owned(),
        }
    }

    /// `channel:address`, the target's key in ledgers and logs.
    pub fn key(&self) -> String {
        format!("{}:{}", self.channel, self.address)
    }
}

/// The survey part of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertSurvey {
    /// Survey response id.
    pub response_id: String,
    /// Survey definition id.
    pub survey_id: Option<String>,
    /// Submission time, epoch milliseconds.
    pub submitted_at: i64,
    /// Receive time at ingest, epoch milliseconds.
    pub received_at: i64,
    /// CSAT score.
    pub csat: i32,
    /// Customer comment.
    pub comment: Option<String>,
    /// Why it is actionable.
    pub reasons: Vec<AlertReason>,
}

/// The interaction part of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interaction {
    /// Conversation id.
    pub id: String,
    /// Media type.
    pub media_type: Option<String>,
    /// inbound or outbound.
    pub direction: Option<String>,
    /// Start, epoch milliseconds.
    pub started_at: Option<i64>,
    /// End, epoch milliseconds.
    pub ended_at: Option<i64>,
    /// Queue id.
    pub queue_id: Option<String>,
    /// Queue name.
    pub queue_name: Option<String>,
    /// `agent`, `bot` or `unassigned`.
    pub handled_by: String,
    /// Agent user id.
    pub agent_id: Option<String>,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Bot or flow name.
    pub flow_name: Option<String>,
    /// Wrap-up code.
    pub wrap_up_code: Option<String>,
    /// Genesys UI deep link.
    pub link: String,
}

/// The recording part of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingInfo {
    /// `ready`, `pending` or `unavailable`.
    pub status: String,
    /// Media URL when ready.
    pub url: Option<String>,
}

/// Who must act and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// Which rule chose the recipients.
    pub kind: String,
    /// The people who must act.
    pub supervisors: Vec<Person>,
    /// Where to deliver.
    pub targets: Vec<NotificationTarget>,
}

/// A supervisor alert. See `schemas/enriched-alert.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrichedAlert {
    /// The survey response id.
    pub alert_id: String,
    /// Revision, from 1.
    pub revision: i32,
    /// Issue time, epoch milliseconds.
    pub issued_at: i64,
    /// The survey.
    pub survey: AlertSurvey,
    /// The interaction.
    pub interaction: Interaction,
    /// The recording.
    pub recording: RecordingInfo,
    /// Conversation summary.
    pub transcript_summary: Option<String>,
    /// Recipients.
    pub routing: Routing,
    /// W3C trace context.
    pub trace_context: BTreeMap<String, String>,
}

impl Contract for EnrichedAlert {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::ENRICHED_ALERT
    }
}

/// A scheduled recording re-check. See `schemas/recording-retry.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRetry {
    /// The alert as last issued or held.
    pub alert: EnrichedAlert,
    /// Earliest re-check, epoch milliseconds.
    pub due_at: i64,
    /// Checks made so far.
    pub attempt: i32,
    /// Deadline, epoch milliseconds.
    pub give_up_at: i64,
    /// Whether the alert was already issued.
    pub alert_issued: bool,
}

impl Contract for RecordingRetry {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::RECORDING_RETRY
    }
}

/// A queue of the routing directory. See `schemas/queue-directory-entry.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDirectoryEntry {
    /// Queue id.
    pub queue_id: String,
    /// Queue name.
    pub name: Option<String>,
    /// Supervisors.
    pub supervisors: Vec<Person>,
    /// Where alerts go.
    pub targets: Vec<NotificationTarget>,
    /// Coaching appointments on.
    pub coaching: bool,
    /// Write time, epoch milliseconds.
    pub updated_at: i64,
    /// Where the entry came from.
    pub source: String,
}

impl Contract for QueueDirectoryEntry {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::QUEUE_DIRECTORY_ENTRY
    }
}

/// A delivery ledger entry. See `schemas/delivery-record.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// The alert id.
    pub alert_id: String,
    /// The target.
    pub target: NotificationTarget,
    /// Newest revision delivered.
    pub revision: i32,
    /// Acknowledgement time, epoch milliseconds.
    pub delivered_at: i64,
    /// Slack channel id.
    pub slack_channel: Option<String>,
    /// Slack message ts.
    pub slack_ts: Option<String>,
    /// First mail's Message-ID.
    pub message_id: Option<String>,
    /// Channel's id for the delivery.
    pub external_id: Option<String>,
}

impl DeliveryRecord {
    /// The ledger key of an alert's delivery to a target.
    pub fn key_for(alert_id: &str, target: &NotificationTarget) -> String {
        format!("{alert_id}|{}", target.key())
    }
}

impl Contract for DeliveryRecord {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::DELIVERY_RECORD
    }
}

/// A delivery about to be made. See `schemas/delivery-intent.avsc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryIntent {
    /// The alert id.
    pub alert_id: String,
    /// The target.
    pub target: NotificationTarget,
    /// The revision being delivered.
    pub revision: i32,
    /// The idempotency key of its messages.
    pub attempt_key: String,
    /// First attempt, epoch milliseconds.
    pub started_at: i64,
    /// The instance that claimed it.
    #[serde(default)]
    pub owner: String,
    /// When it was claimed, epoch milliseconds.
    #[serde(default)]
    pub claimed_at: i64,
}

impl Contract for DeliveryIntent {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::DELIVERY_INTENT
    }
}

/// A scheduled delivery retry. See `schemas/delivery-retry.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRetry {
    /// The alert.
    pub alert: EnrichedAlert,
    /// The one target.
    pub target: NotificationTarget,
    /// Earliest attempt, epoch milliseconds.
    pub due_at: i64,
    /// Attempts so far.
    pub attempt: i32,
    /// Last failure.
    pub last_error: String,
}

impl Contract for DeliveryRetry {
    fn schema_spec() -> &'static SchemaSpec {
        &schemas::DELIVERY_RETRY
    }
}
