//! Plumbing every survey-alerts service shares: layered configuration,
//! Kafka clients and topic provisioning, the consume-process-produce loop with
//! its dead-letter queue, telemetry, and the one shutdown token per process.

pub mod config;
pub mod dead_letter;
pub mod kafka;
pub mod metrics;
pub mod ops;
pub mod provision;
pub mod service;
pub mod shutdown;
pub mod stage;
pub mod stats;
pub mod table;
pub mod telemetry;
pub mod trace_context;

pub use config::{KafkaSettings, load_config};
pub use shutdown::Shutdown;
pub use stage::{InputRecord, OutputRecord, ProcessingGuarantee, StageError, StageHandler};
pub use stats::StageStats;

/// Milliseconds since the Unix epoch, the unit of every timestamp in the
/// pipeline's records.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
