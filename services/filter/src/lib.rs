//! The filter stage: raw survey responses in, actionable ones out.
//!
//! Delivery semantics: at-least-once, deduplicated. Offsets are stored only
//! after the actionable record and its dedup marker are acknowledged; a
//! response id emitted within the dedup window is dropped, and the set of
//! emitted ids is rebuilt from the compacted dedup topic at start, so neither
//! a webhook retry, a restart nor a second instance re-emits an alert.
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
