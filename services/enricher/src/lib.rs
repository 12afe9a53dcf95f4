//! The enricher stage: actionable surveys in, supervisor alerts out.
//!
//! Delivery semantics: exactly-once by default: the alert (and, for a
//! pending recording, its retry record) commits in one Kafka transaction with
//! the input offset. Under `PROCESSING_GUARANTEE=at-least-once` a redelivered
//! input yields the same alert id and revision, which the notifier's ledger
//! delivers once.
//!
//! - [`routing_file`], [`routing`]: who must act (pure);
//! - [`assemble`]: the alert (pure);
//! - [`recording`]: recording retries and revisions (pure, injected time);
//! - [`directory`]: the queue table (compacted topic) with API fallback;
//! - [`enrich`]: the handlers, doing the lookups;
//! - [`sync`]: the directory sync;
//! - [`app`] wires them.

pub mod app;
pub mod assemble;
pub mod config;
pub mod directory;
pub mod enrich;
pub mod recording;
pub mod routing;
pub mod routing_file;
pub mod sync;

pub use app::{RunningEnricher, start, start_with_clock};
pub use config::EnricherConfig;
