//! `cargo xtask bench`: runs `survey-bench` (release build) against a broker and registry
//! and has it write `docs/BENCHMARKS.md` and `docs/bench/*.svg`.
//!
//! It also builds the four service binaries (release; the end-to-end and memory
//! measurements run them as processes) and prepares the Python peer's venv in
//! `~/.cache/survey-alerts/peer-venv` from `tools/bench/peer/requirements.txt`.
//!
//! The broker and registry are found as `cargo xtask test` finds them: the ones named by
//! `KAFKA_BOOTSTRAP_SERVERS` + `SCHEMA_REGISTRY_URL` when both are set; else the local stack,
//! started if it is not running (and then stopped and wiped afterwards, like a test run).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::stack::{Component, Stack};

/// Runs the benchmark with `extra` passed to `survey-bench`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let root = crate::stack::workspace_root();
    // Build first: a compile error should not cost a stack start.
    println!("xtask bench: building survey-bench and the service binaries (release)");
    let status = crate::cargo_command()
        .current_dir(&root)
        .args(["build", "--release", "-p", "survey-bench"])
        .args(["-p", "survey-ingest", "-p", "survey-filter"])
        .args(["-p", "survey-enricher", "-p", "survey-notifier", "--bins"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release of survey-bench and the services failed");
    }
    let peer_python = match peer_venv(&root) {
        Ok(python) => Some(python),
        Err(err) => {
            eprintln!("xtask bench: no Python peer this run: {err:#}");
            None
        }
    };

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
    let mut command = Command::new(&binary);
    if let Some(python) = &peer_python {
        command.arg("--peer-python").arg(python);
    }
    let status = command
        .current_dir(&root)
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .env("SCHEMA_REGISTRY_URL", &registry)
        .env("BENCH_STACK_NOTE", note)
        .arg("--out")
        .arg(root.join("docs").join("BENCHMARKS.md"))
        .arg("--bin-dir")
        .arg(root.join("target").join("release"))
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

/// The peer's Python: a venv in `~/.cache/survey-alerts/peer-venv` (made on
/// first use) with `tools/bench/peer/requirements.txt` installed.
fn peer_venv(root: &Path) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = PathBuf::from(home)
        .join(".cache")
        .join("survey-alerts")
        .join("peer-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        println!("xtask bench: creating the peer venv in {}", venv.display());
        std::fs::create_dir_all(venv.parent().unwrap_or(&venv)).ok();
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv")?;
        if !status.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    println!("xtask bench: installing the peer's requirements (pip)");
    let requirements = root
        .join("tools")
        .join("bench")
        .join("peer")
        .join("requirements.txt");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .context("running pip install")?;
    if !status.success() {
        bail!("pip install -r {} failed", requirements.display());
    }
    Ok(python)
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
