//! `cargo run -p survey-alert-consumer-example -- --group my-team`: prints
//! each new alert or revision of `survey.alerts.enriched`. See the library
//! for the semantics.

use clap::Parser;
use survey_alert_consumer_example::{Args, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run(Args::parse()).await
}
