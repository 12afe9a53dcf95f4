//! `cargo xtask`: developer tasks for survey-alerts.
//!
//! Runs a local Apache Kafka broker and Apicurio Registry without Docker (only Java 17 and
//! Maven are needed) and is the one entry point for running the test suite against them.
//! Argument parsing lives here; the work is done in [`stack`] and [`test_cmd`].

mod bench;
mod fuzz;
mod stack;
mod test_cmd;

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::{Result, bail};

/// Printed by `cargo xtask help` and on usage errors.
const USAGE: &str = "\
Usage: cargo xtask <command>

Commands:
  stack up            Fetch (once) and start Kafka + Apicurio Registry on 127.0.0.1 (idempotent)
  stack down [--wipe] [kafka|registry]
                      Stop them (or one); --wipe also deletes the data (next `up` reformats)
  stack kill kafka|registry
                      SIGKILL one component (a crash); `stack up` starts it again
  stack status        Show pid, liveness, port and log of each component
  test [-- ARGS...]   Run `cargo test --workspace --all-targets ARGS...` against a broker and
                      registry: the ones in KAFKA_BOOTSTRAP_SERVERS + SCHEMA_REGISTRY_URL if both
                      are set, else a running local stack, else a fresh local stack that is
                      stopped and wiped afterwards
  bench [-- ARGS...]  Build survey-bench (release), run it against the broker and registry found
                      as for `test` (a local stack it had to start is stopped afterwards) and
                      write docs/BENCHMARKS.md; ARGS go to survey-bench (`--help` lists them)
  faults [--short] [-- ARGS...]
                      Fault-injection suite (tools/faults) on a private stack (ports 29092,
                      29093, 28081, 29000; state in target/faults/stack): kills and restarts
                      every service, the broker and the registry, Genesys and Slack faults;
                      counts what the sandbox's sinks received. The full form writes
                      docs/FAULTS.md; `test` runs --short after `cargo test`. ARGS go to
                      survey-faults (`--help` lists them)
  fuzz [--seconds N]  Fuzz ingest's webhook parser and validator (services/ingest/fuzz) with
                      cargo-fuzz (installed if missing) for N seconds (30), seeded with the
                      hostile corpus; `test` runs it last
  help                Show this help

Environment:
  KAFKA_PORT (19092), CONTROLLER_PORT (19093), REGISTRY_PORT (18081), REGISTRY_MGMT_PORT (19000)
                      Ports of the local stack
  SURVEY_ALERTS_CACHE Where Kafka and Apicurio are fetched to ($HOME/.cache/survey-alerts)
  JAVA_HOME           Java used to run them (else `java` from PATH)
  SURVEY_ALERTS_STACK_DIR
                      State directory (data, logs, pid files, generated configs) instead of
                      <workspace>/.stack/
  SURVEY_ALERTS_REGISTRY_PERSIST=1
                      Keep the registry's schemas on disk in the state directory
  SURVEY_ALERTS_SKIP_FAULTS=1
                      `test` skips the short fault-injection suite
  SURVEY_ALERTS_SKIP_FUZZ=1
                      `test` skips the fuzzing run";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A `cargo` command as if typed in a shell, not by `cargo run`: the variables
/// `cargo run` sets for xtask (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...) are
/// removed, because build scripts watch some of them (ring watches
/// `CARGO_MANIFEST_DIR`), and a build under other values recompiles what a
/// plain `cargo build` or `cargo test` already built.
pub(crate) fn cargo_command() -> Command {
    // `cargo run` sets CARGO to the cargo that runs us.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        let set_by_cargo_run = name_text.starts_with("CARGO_PKG_")
            || matches!(
                name_text.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if set_by_cargo_run {
            command.env_remove(&name);
        }
    }
    command
}

/// Dispatches one command line (without the program name).
fn run(args: &[String]) -> Result<ExitCode> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "up"] => {
            stack::Stack::from_env()?.up()?;
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "down"] => {
            stack::Stack::from_env()?.down(false)?;
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "down", "--wipe"] => {
            stack::Stack::from_env()?.down(true)?;
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "down", component] | ["stack", "down", component, "--wipe"] => {
            let component = stack::Component::from_name(component)?;
            let wipe = words.last() == Some(&"--wipe");
            stack::Stack::from_env()?.stop(&[component], wipe)?;
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "kill", component] => {
            let component = stack::Component::from_name(component)?;
            stack::Stack::from_env()?.kill(component)?;
            Ok(ExitCode::SUCCESS)
        }
        ["stack", "status"] => {
            stack::Stack::from_env()?.status();
            Ok(ExitCode::SUCCESS)
        }
        ["test", rest @ ..] => {
            // Accept both `test -- ARGS` and `test ARGS`; only the first `--` is ours, so
            // `test -- -- --nocapture` still reaches the test harness.
            let rest = match rest {
                ["--", tail @ ..] => tail,
                other => other,
            };
            let extra: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            test_cmd::run(&extra)
        }
        ["faults", rest @ ..] => {
            let short = rest.first() == Some(&"--short");
            let rest = if short { &rest[1..] } else { rest };
            let rest = match rest {
                ["--", tail @ ..] => tail,
                other => other,
            };
            let extra: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            stack::faults::run(short, &extra)
        }
        ["fuzz", rest @ ..] => fuzz::run(fuzz::parse_seconds(rest)?),
        ["bench", rest @ ..] => {
            let rest = match rest {
                ["--", tail @ ..] => tail,
                other => other,
            };
            let extra: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            bench::run(&extra)
        }
        _ => bail!(
            "unknown command `{}`; `cargo xtask help` lists the commands",
            args.join(" ")
        ),
    }
}
