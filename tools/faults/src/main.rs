//! `survey-faults`: the fault-injection suite. Run it with `cargo xtask faults [--short]`,
//! which builds the services, starts a private stack and hands it over.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Drives surveys through the real pipeline while injecting faults, and checks the sinks.
#[derive(Debug, Parser)]
#[command(name = "survey-faults", version, about)]
struct Args {
    /// The short form: every fault once or more, shorter outages, a few minutes in all.
    #[arg(long)]
    short: bool,
    /// Also write the report, as Markdown, to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let command = if args.short {
        "cargo xtask faults --short"
    } else {
        "cargo xtask faults"
    };
    let options =
        match survey_faults::Options::from_env(args.short, args.report, command.to_owned()) {
            Ok(options) => options,
            Err(error) => {
                eprintln!("survey-faults: {error:#}");
                return ExitCode::FAILURE;
            }
        };
    match survey_faults::run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("survey-faults: {error:#}");
            ExitCode::FAILURE
        }
    }
}
