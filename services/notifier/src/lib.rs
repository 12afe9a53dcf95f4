//! The notifier stage: alerts in, deliveries out, once per target and
//! revision.
//!
//! Delivery semantics: each (alert, target) pair gets each revision once.
//! The compacted delivery ledger says which revision every target already
//! has; it is read back at start, and a delivery's ledger record is
//! acknowledged by Kafka before the alert's offset is stored. A crash after
//! a channel accepted a message and before its ledger record was written is
//! covered by the delivery intent, acknowledged before the channel is
//! called: an intent without its ledger record makes the notifier read the
//! channel back for the message's idempotency key before it sends again.
//!
//! - [`channels`]: Slack, Teams, e-mail and coaching behind one trait;
//! - [`templates`]: the editable message templates;
//! - [`plan`]: which targets need what, how a delivery begins, and what an
//!   attempt leads to (pure);
//! - [`ledger`]: the delivery ledger and intents tables;
//! - [`deliver`]: the handlers;
//! - [`app`] wires them.

pub mod app;
pub mod channels;
pub mod config;
pub mod deliver;
pub mod ledger;
pub mod plan;
pub mod templates;

pub use app::{RunningNotifier, start, start_with_clock};
pub use config::NotifierConfig;
