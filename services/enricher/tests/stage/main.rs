//! The enricher against the real broker and registry, with the sandbox
//! standing in for Genesys Cloud; each test has its own topics.

mod alerts;
mod failures;
mod helpers;
mod recordings;
