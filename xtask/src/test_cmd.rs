//! `cargo xtask test`: the project's one test command.
//!
//! Runs `cargo test` against a real broker and registry: the ones named by
//! `KAFKA_BOOTSTRAP_SERVERS` + `SCHEMA_REGISTRY_URL` when both are set; else the local stack
//! if it already runs (left running); else a freshly started local stack, stopped and wiped
//! afterwards (also when the tests fail), so such runs are hermetic. Then the short form of
//! the fault-injection suite runs on a private stack ([`crate::stack::faults`]), and last a
//! bounded fuzzing run of the webhook parser ([`crate::fuzz`]).

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::stack::{Component, Stack};

/// Runs the tests with `extra` appended to `cargo test`, and returns cargo's exit code.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let external = (
        non_empty_env("KAFKA_BOOTSTRAP_SERVERS"),
        non_empty_env("SCHEMA_REGISTRY_URL"),
    );
    // Declared before the tests run so it is dropped (stopping what we started) after them,
    // whichever way they end.
    let mut guard = None;
    let (bootstrap, registry, source) = match external {
        (Some(bootstrap), Some(registry)) => {
            (bootstrap, registry, "from the environment; nothing started")
        }
        (kafka, registry) => {
            if kafka.is_some() || registry.is_some() {
                eprintln!(
                    "xtask: only one of KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL is set; \
                     ignoring it and using the local stack"
                );
            }
            let stack = Stack::from_env()?;
            stack.reap_abandoned_test_stack()?;
            let running = Component::ALL.iter().all(|&c| stack.is_running(c));
            if !running {
                stack.mark_test_owner()?;
            }
            let source = if running {
                "local stack, already running; left running"
            } else {
                "local stack, started for this run; stopped and wiped afterwards"
            };
            let (bootstrap, registry) = (stack.bootstrap_servers(), stack.registry_url());
            let stop = guard.insert(StopGuard {
                stack,
                started: Vec::new(),
                owner: !running,
            });
            stop.stack.start(true, &mut stop.started)?;
            (bootstrap, registry, source)
        }
    };

    println!("xtask test: broker   {bootstrap}");
    println!("xtask test: registry {registry}");
    println!("xtask test: {source}");

    let mut cmd = cargo_test(extra);
    cmd.env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .env("SCHEMA_REGISTRY_URL", &registry)
        .env("SURVEY_ALERTS_REQUIRE_STACK", "1");
    let status = cmd.status().context("running cargo test")?;
    drop(guard);

    let tests = match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // Killed by a signal.
        None => ExitCode::FAILURE,
    };
    // The short fault-injection suite runs last, on a private stack of its own, so that
    // stopping and killing its broker cannot disturb any other test. A run that selects
    // packages or tests is a targeted one and skips it.
    if !extra.is_empty() || non_empty_env("SURVEY_ALERTS_SKIP_FAULTS").is_some() {
        println!("xtask test: short fault-injection suite skipped (`cargo xtask faults --short`)");
        return Ok(tests);
    }
    // A failed `cargo test` decides the run; its failure stays the last thing in the log.
    if tests != ExitCode::SUCCESS {
        eprintln!("xtask test: cargo test failed ({status}); short fault-injection suite not run");
        return Ok(tests);
    }
    println!("xtask test: short fault-injection suite (`cargo xtask faults --short`)");
    let faults = crate::stack::faults::run(true, &[])?;
    if faults != ExitCode::SUCCESS {
        return Ok(faults);
    }
    if non_empty_env("SURVEY_ALERTS_SKIP_FUZZ").is_some() {
        println!("xtask test: fuzzing skipped (`cargo xtask fuzz`)");
        return Ok(tests);
    }
    println!("xtask test: fuzzing the webhook parser (`cargo xtask fuzz`)");
    crate::fuzz::run(crate::fuzz::SHORT_SECONDS)
}

/// `cargo test --workspace --all-targets EXTRA`, from the workspace root.
///
/// `--workspace` is left out when `extra` selects packages (cargo would otherwise ignore
/// `-p`), and `--all-targets` when it selects targets.
fn cargo_test(extra: &[String]) -> Command {
    // Only flags before a `--` are cargo's; the rest goes to the test harness.
    let cargo_flags = extra.iter().take_while(|a| *a != "--");
    let mut selects_packages = false;
    let mut selects_targets = false;
    for arg in cargo_flags {
        let flag = arg.split('=').next().unwrap_or(arg);
        match flag {
            "-p" | "--package" | "--manifest-path" | "--workspace" | "--all" => {
                selects_packages = true;
            }
            "--lib" | "--bin" | "--bins" | "--test" | "--tests" | "--example" | "--examples"
            | "--bench" | "--benches" | "--all-targets" | "--doc" => selects_targets = true,
            _ if flag.starts_with("-p") => selects_packages = true,
            _ => {}
        }
    }
    let mut cmd = crate::cargo_command();
    cmd.current_dir(crate::stack::workspace_root()).arg("test");
    if !selects_packages {
        cmd.arg("--workspace");
    }
    if !selects_targets {
        cmd.arg("--all-targets");
    }
    cmd.args(extra);
    cmd
}

fn non_empty_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Stops (and wipes) the components this run started, when dropped.
#[derive(Debug)]
struct StopGuard {
    stack: Stack,
    /// Filled by [`Stack::start`] as it spawns.
    started: Vec<Component>,
    /// Whether this run marked itself as the stack's owner.
    owner: bool,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        if !self.started.is_empty() {
            println!("xtask test: stopping what this run started");
            if let Err(err) = self.stack.stop(&self.started, true) {
                eprintln!(
                    "xtask: error stopping the stack: {err:#} (try `cargo xtask stack down`)"
                );
                // Keep the owner mark: the next test run then retries the cleanup.
                return;
            }
        }
        if self.owner {
            self.stack.clear_test_owner();
        }
    }
}
