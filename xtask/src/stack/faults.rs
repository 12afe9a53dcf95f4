//! `cargo xtask faults [--short]`: the fault-injection suite (`tools/faults`) on a private
//! stack of its own.
//!
//! The suite stops, kills and restarts the broker and the registry, so it never uses the
//! shared stack: it gets its own state directory (`target/faults/stack`), its own ports and a
//! registry that keeps its schemas on disk across restarts. The suite controls the stack by
//! running this xtask binary (`stack down|kill|up`) with that stack's environment.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{
    Component, Ports, REGISTRY_PERSIST_VAR, STACK_DIR_VAR, Stack, net, process, workspace_root,
};

/// How long a run waits for a concurrent one (in the same checkout) to finish.
const LOCK_WAIT: Duration = Duration::from_secs(20 * 60);
/// How long a run waits for the private ports to be free.
const PORTS_WAIT: Duration = Duration::from_secs(60);

/// Ports of the private stack, away from the shared one's (19092, 19093, 18081, 19000).
const PORTS: Ports = Ports {
    kafka: 29092,
    controller: 29093,
    registry: 28081,
    registry_mgmt: 29000,
};

/// Builds the suite and the services, starts the private stack, runs the suite (the short
/// form with `short`, else the full one, whose report goes to `docs/FAULTS.md`), and stops
/// and wipes the stack whichever way the suite ended.
pub fn run(short: bool, extra: &[String]) -> Result<ExitCode> {
    let root = workspace_root();
    // The same selection and targets as `cargo xtask test`'s `cargo test`, so that after it
    // this build reuses every artifact: a build of just the suite's packages unifies
    // dependency features differently and compiles a second copy of most of them.
    let mut build = crate::cargo_command();
    build
        .current_dir(&root)
        .args(["build", "--workspace", "--all-targets"]);
    println!("xtask faults: building the workspace (the suite, the services, the sandbox)");
    if !build.status().context("running cargo build")?.success() {
        bail!("cargo build of the fault-injection suite failed");
    }

    // One run at a time per checkout: several `cargo xtask test` runs may end together.
    let _lock = RunLock::acquire(&root.join("target").join("faults").join("run.pid"))?;
    wait_for_free_ports()?;
    let state = root.join("target").join("faults").join("stack");
    let stack = Stack::new(root.clone(), state.clone(), PORTS, true)?;
    // A run that was interrupted may have left its stack behind: stop and wipe it.
    stack.stop(&Component::ALL, true)?;
    let mut guard = StopGuard {
        stack,
        started: Vec::new(),
    };
    guard.stack.start(true, &mut guard.started)?;
    let stack = &guard.stack;

    let xtask = std::env::current_exe().context("locating the xtask binary")?;
    let binary = root.join("target").join("debug").join("survey-faults");
    let mut cmd = Command::new(&binary);
    cmd.current_dir(&root)
        .env("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap_servers())
        .env("SCHEMA_REGISTRY_URL", stack.registry_url())
        .env("FAULTS_XTASK", &xtask)
        .env("FAULTS_BIN_DIR", root.join("target").join("debug"))
        .env("FAULTS_WORK_DIR", root.join("target").join("faults"))
        // What the xtask child processes need to find this stack again.
        .env(STACK_DIR_VAR, &state)
        .env(REGISTRY_PERSIST_VAR, "1")
        .env("KAFKA_PORT", PORTS.kafka.to_string())
        .env("CONTROLLER_PORT", PORTS.controller.to_string())
        .env("REGISTRY_PORT", PORTS.registry.to_string())
        .env("REGISTRY_MGMT_PORT", PORTS.registry_mgmt.to_string());
    if short {
        cmd.arg("--short");
    } else {
        cmd.arg("--report").arg(report_path(&root));
    }
    cmd.args(extra);
    println!("xtask faults: running {}", binary.display());
    let status = cmd
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    drop(guard);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_path(root: &Path) -> std::path::PathBuf {
    root.join("docs").join("FAULTS.md")
}

/// Waits (at most [`PORTS_WAIT`]) until nothing listens on the private ports.
fn wait_for_free_ports() -> Result<()> {
    let ports = [
        PORTS.kafka,
        PORTS.controller,
        PORTS.registry,
        PORTS.registry_mgmt,
    ];
    let since = Instant::now();
    let mut said = false;
    loop {
        let busy: Vec<u16> = ports.into_iter().filter(|&p| net::tcp_answers(p)).collect();
        if busy.is_empty() {
            return Ok(());
        }
        if since.elapsed() > PORTS_WAIT {
            bail!(
                "127.0.0.1 ports {busy:?} stayed in use for {PORTS_WAIT:?}; the fault-injection stack needs them"
            );
        }
        if !said {
            println!("xtask faults: 127.0.0.1 ports {busy:?} are in use; waiting for them");
            said = true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A pid file that makes concurrent runs in one checkout wait for each other; removed when
/// dropped. A file whose process is gone is taken over.
#[derive(Debug)]
struct RunLock {
    path: PathBuf,
}

impl RunLock {
    fn acquire(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let since = Instant::now();
        let mut said = false;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Self {
                        path: path.to_owned(),
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    match process::read_pid(path) {
                        Some(pid) if process::is_alive(pid, "xtask") => {
                            if since.elapsed() > LOCK_WAIT {
                                bail!(
                                    "another fault-injection run (pid {pid}) is still going after {LOCK_WAIT:?}"
                                );
                            }
                            if !said {
                                println!(
                                    "xtask faults: waiting for the run of pid {pid} to finish"
                                );
                                said = true;
                            }
                            std::thread::sleep(Duration::from_secs(2));
                        }
                        // Gone (or the file is half-written: give its writer a moment).
                        _ => {
                            std::thread::sleep(Duration::from_millis(200));
                            if process::read_pid(path)
                                .is_none_or(|pid| !process::is_alive(pid, "xtask"))
                            {
                                let _ = std::fs::remove_file(path);
                            }
                        }
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Stops and wipes the private stack when dropped.
#[derive(Debug)]
struct StopGuard {
    stack: Stack,
    started: Vec<Component>,
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        println!("xtask faults: stopping the private stack");
        // Everything, not only `started`: the suite restarts components itself.
        if let Err(err) = self.stack.stop(&Component::ALL, true) {
            eprintln!(
                "xtask: error stopping the fault-injection stack: {err:#} (state in {})",
                self.stack.state_dir().display()
            );
        }
        self.started.clear();
    }
}
