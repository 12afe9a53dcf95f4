//! `cargo xtask bench`: runs `survey-bench` (release build) against a broker and registry
//! and has it write `docs/BENCHMARKS.md`.
//!
//! The broker and registry are found as `cargo xtask test` finds them: the ones named by
//! `KAFKA_BOOTSTRAP_SERVERS` + `SCHEMA_REGISTRY_URL` when both are set; else the local stack,
//! started if it is not running (and then stopped and wiped afterwards, like a test run).

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::stack::{Component, Stack};

/// Runs the benchmark with `extra` passed to `survey-bench`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let root = crate::stack::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));

    // Build first: a compile error should not cost a stack start.
    println!("xtask bench: building survey-bench (release)");
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "survey-bench"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p survey-bench failed");
    }

    let external = (
        non_empty_env("KAFKA_BOOTSTRAP_SERVERS"),
        non_empty_env("SCHEMA_REGISTRY_URL"),
    );
    let mut started = Vec::new();
    let mut stack = None;
    let (bootstrap, registry, note) = match external {
        (Some(bootstrap), Some(registry)) => (bootstrap, registry, "from the environment"),
        _ => {
            let local = Stack::from_env()?;
            let running = Component::ALL.iter().all(|&c| local.is_running(c));
            let result = local.start(false, &mut started);
            let (bootstrap, registry) = (local.bootstrap_servers(), local.registry_url());
            stack = Some(local);
            if let Err(err) = result {
                stop(stack.as_ref(), &started);
                return Err(err);
            }
            let note = if running {
                "local stack, already running"
            } else {
                "local stack, started for this run"
            };
            (bootstrap, registry, note)
        }
    };
    println!("xtask bench: broker   {bootstrap}");
    println!("xtask bench: registry {registry}");

    let binary = root.join("target").join("release").join("survey-bench");
    let status = Command::new(&binary)
        .current_dir(&root)
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .env("SCHEMA_REGISTRY_URL", &registry)
        .env("BENCH_STACK_NOTE", note)
        .arg("--out")
        .arg(root.join("docs").join("BENCHMARKS.md"))
        .args(extra)
        .status()
        .with_context(|| format!("running {}", binary.display()));
    stop(stack.as_ref(), &started);
    let status = status?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Stops (and wipes) what this run started, if anything.
fn stop(stack: Option<&Stack>, started: &[Component]) {
    if let (Some(stack), false) = (stack, started.is_empty()) {
        println!("xtask bench: stopping what this run started");
        if let Err(err) = stack.stop(started, true) {
            eprintln!("xtask: error stopping the stack: {err:#} (try `cargo xtask stack down`)");
        }
    }
}

fn non_empty_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}
