//! The pipeline end to end, every service in-process, against the real
//! broker and registry, with the sandbox standing in for Genesys Cloud,
//! Slack, Teams and SMTP.

mod deliveries;
mod pipeline;
