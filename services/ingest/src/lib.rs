//! The ingest service: an authenticated webhook receiver that turns each
//! survey response into a record on the raw topic.
//!
//! Delivery semantics: a request is answered 202 only after Kafka has
//! acknowledged its record (`acks=all`, idempotent producer); otherwise it
//! gets 503 with `Retry-After` and the sender retries. A retry whose first
//! attempt did land after all is removed downstream by the filter's dedup.

pub mod auth;
pub mod config;
pub mod error;
pub mod limits;
pub mod publish;
pub mod routes;
pub mod startup;
pub mod webhook;

pub use config::IngestConfig;
pub use startup::Application;
