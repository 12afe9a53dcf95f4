//! The filter stage: raw survey responses in, actionable ones out.
//!
//! Delivery semantics: exactly-once by default. The actionable record, its
//! dedup marker and the input offset commit in one Kafka transaction
//! (`PROCESSING_GUARANTEE=at-least-once` stores the offset after both are
//! acknowledged instead). A response id emitted within the dedup window is
//! dropped, and the set of emitted ids is rebuilt from the compacted dedup
//! topic at start, so neither a webhook retry, a restart nor a second
//! instance re-emits an alert.
//!
//! - [`rules`]: what is actionable (pure);
//! - [`dedup`]: the seen-set (pure);
//! - [`decide`]: the outcome for one response (pure);
//! - [`handler`]: decode, decide, encode;
//! - [`app`] wires them and starts up.

pub mod app;
pub mod config;
pub mod decide;
pub mod dedup;
pub mod handler;
pub mod rules;

pub use app::{RunningFilter, start};
pub use config::FilterConfig;
