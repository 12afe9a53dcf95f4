//! The filter against the real broker and registry; each test has its own
//! topics and consumer group.

mod dedup_and_restart;
mod helpers;
mod poison;
mod provisioning;
mod rules;
mod sigterm;
