//! survey-ctl: the operator's CLI; see the library for the commands.

use std::process::ExitCode;

use clap::Parser;
use survey_ctl::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let _telemetry = survey_runtime::telemetry::init_with_default("ctl", "warn");
    Cli::parse().run().await
}
