//! The delivery channels and their templates: snapshots of every rendered
//! message, Slack and Teams against wiremock, e-mail against the sandbox's
//! SMTP sink, and coaching against a wiremock Genesys Cloud.

mod coaching;
mod email;
mod slack;
mod support;
mod teams;
mod templates;
