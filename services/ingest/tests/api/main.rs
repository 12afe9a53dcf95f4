//! Ingest against the real broker and registry; each test has its own topics.

mod corpus;
mod helpers;
mod publishes_to_kafka;
mod rejects_bad_input;
mod security;
mod sigterm;
