//! The contracts every survey-alerts service shares: which topics exist and how
//! they are configured ([`topics`]), the Avro records that flow through them
//! ([`records`]), and how those records are put on the wire ([`codec`]).
//!
//! Nothing here talks to Kafka; the runtime crate does, using these
//! declarations, so that a topic or schema is described exactly once.

pub mod codec;
pub mod records;
pub mod registry_admin;
pub mod schemas;
pub mod topics;

pub use codec::{AvroCodec, CodecError};
pub use records::{
    ActionableReason, ActionableSurvey, AlertReason, AlertSurvey, Contract, DedupMarker,
    DeliveryIntent, DeliveryRecord, DeliveryRetry, EnrichedAlert, Interaction, NotificationTarget,
    Person, QueueDirectoryEntry, RecordingInfo, RecordingRetry, Routing, SurveyResponse,
};
pub use schemas::{Compatibility, SchemaSpec};
pub use topics::{CleanupPolicy, Retention, TopicSpec, Topology};
