//! The local stack: one Apache Kafka KRaft node and one Apicurio Registry, run as plain Java
//! processes on 127.0.0.1 (no Docker).
//!
//! Binaries are fetched once with Maven into a cache outside the repository (see [`fetch`]);
//! everything a run produces (data, logs, pid files, generated configs) lives in
//! `<workspace>/.stack/`. Processes are detached so they outlive `cargo xtask`, and are found
//! again through their pid files.

pub mod faults;
mod fetch;
mod kafka;
mod net;
mod process;
mod registry;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a component may take to start answering before `up` gives up.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a component gets to exit after SIGTERM before it is SIGKILLed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often start-up and shutdown are polled.
const POLL: Duration = Duration::from_millis(250);
/// Overrides the state directory (`<workspace>/.stack`).
pub const STACK_DIR_VAR: &str = "SURVEY_ALERTS_STACK_DIR";
/// `1` keeps the registry's schemas on disk in the state directory.
pub const REGISTRY_PERSIST_VAR: &str = "SURVEY_ALERTS_REGISTRY_PERSIST";

/// One process of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The Kafka broker (combined broker + controller KRaft node).
    Kafka,
    /// Apicurio Registry, whose Confluent-compatible API the services use.
    Registry,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 2] = [Component::Kafka, Component::Registry];

    /// Parses a component's name (`kafka` or `registry`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "kafka" => Ok(Component::Kafka),
            "registry" => Ok(Component::Registry),
            other => bail!("unknown component `{other}`: expected kafka or registry"),
        }
    }

    /// Short name used in file names and messages.
    fn name(self) -> &'static str {
        match self {
            Component::Kafka => "kafka",
            Component::Registry => "registry",
        }
    }

    /// A string found in the process's command line; guards against a recycled pid.
    fn cmdline_marker(self) -> &'static str {
        match self {
            Component::Kafka => kafka::MAIN_CLASS,
            Component::Registry => registry::CMDLINE_MARKER,
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ports of the local stack, overridable through the environment.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// Kafka client listener (`KAFKA_PORT`).
    pub kafka: u16,
    /// KRaft controller listener (`CONTROLLER_PORT`).
    pub controller: u16,
    /// Registry HTTP API (`REGISTRY_PORT`).
    pub registry: u16,
    /// Registry management interface, health and metrics (`REGISTRY_MGMT_PORT`).
    pub registry_mgmt: u16,
}

impl Ports {
    /// Reads the ports from the environment, falling back to the defaults.
    fn from_env() -> Result<Self> {
        Ok(Self {
            kafka: port_from_env("KAFKA_PORT", 19092)?,
            controller: port_from_env("CONTROLLER_PORT", 19093)?,
            registry: port_from_env("REGISTRY_PORT", 18081)?,
            registry_mgmt: port_from_env("REGISTRY_MGMT_PORT", 19000)?,
        })
    }
}

fn port_from_env(var: &str, default: u16) -> Result<u16> {
    match std::env::var(var) {
        Ok(value) => value
            .trim()
            .parse()
            .with_context(|| format!("{var}={value:?} is not a port number")),
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(err) => Err(err).with_context(|| format!("reading {var}")),
    }
}

/// Where a component stands, as seen from its pid file and port.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Our process is alive and answering.
    Running(u32),
    /// Our process is alive but not answering yet (e.g. started by a concurrent `up`).
    Starting(u32),
    /// No live process of ours (a stale pid file has been removed).
    Stopped,
}

/// The local stack's configuration and locations.
#[derive(Debug)]
pub struct Stack {
    /// Workspace root.
    root: PathBuf,
    /// `<workspace>/.stack`: data, logs, pid files, generated configs.
    state: PathBuf,
    /// Where the Kafka and Apicurio distributions are fetched to.
    cache: PathBuf,
    /// Ports to bind (on 127.0.0.1 only).
    ports: Ports,
    /// Whether the registry keeps its schemas on disk (in `state`), so that it can be
    /// stopped and started again without forgetting them (`SURVEY_ALERTS_REGISTRY_PERSIST`).
    registry_persist: bool,
}

impl Stack {
    /// Builds the stack description from the environment: ports, cache dir, the state dir
    /// (`SURVEY_ALERTS_STACK_DIR`, else `<workspace>/.stack`) and whether the registry
    /// persists its schemas (`SURVEY_ALERTS_REGISTRY_PERSIST=1`).
    pub fn from_env() -> Result<Self> {
        let root = workspace_root();
        let state = std::env::var_os(STACK_DIR_VAR)
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| root.join(".stack"), PathBuf::from);
        let registry_persist = std::env::var(REGISTRY_PERSIST_VAR)
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        Self::new(root, state, Ports::from_env()?, registry_persist)
    }

    /// A stack with explicit state dir and ports (the fault-injection run's private stack).
    pub fn new(
        root: PathBuf,
        state: PathBuf,
        ports: Ports,
        registry_persist: bool,
    ) -> Result<Self> {
        Ok(Self {
            state,
            cache: fetch::cache_dir()?,
            ports,
            registry_persist,
            root,
        })
    }

    /// The state directory (data, logs, pid files).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The value for `KAFKA_BOOTSTRAP_SERVERS`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.ports.kafka)
    }

    /// The value for `SCHEMA_REGISTRY_URL` (Apicurio's Confluent-compatible API).
    pub fn registry_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}{}",
            self.ports.registry,
            registry::CCOMPAT_PATH
        )
    }

    /// `cargo xtask stack up`: starts whatever is not running yet, waits until everything
    /// answers, and prints where things are.
    pub fn up(&self) -> Result<()> {
        let mut started = Vec::new();
        self.start(false, &mut started)?;
        // The user now owns the stack: a later `cargo xtask test` must not reap it.
        self.clear_test_owner();
        self.print_summary();
        Ok(())
    }

    /// Starts the components that are not running and waits until all answer.
    ///
    /// Every component this call spawned is pushed to `started` as soon as it is spawned, so
    /// a caller can still clean up after a failed start. With `fresh`, Kafka's data is wiped
    /// before it is started (components already running are reused as they are).
    pub fn start(&self, fresh: bool, started: &mut Vec<Component>) -> Result<()> {
        std::fs::create_dir_all(&self.state)
            .with_context(|| format!("creating {}", self.state.display()))?;

        let mut to_wait = Vec::new();
        let mut to_start = Vec::new();
        for component in Component::ALL {
            match self.state_of(component) {
                State::Running(pid) => {
                    println!("{component}: already running (pid {pid})");
                }
                State::Starting(pid) => {
                    println!("{component}: running (pid {pid}) but not answering yet; waiting");
                    to_wait.push((component, Instant::now(), None));
                }
                State::Stopped => {
                    self.ensure_ports_free(component)?;
                    to_start.push(component);
                }
            }
        }

        // Fetch and prepare everything before spawning anything, so a failed fetch leaves
        // nothing half-started.
        let mut commands = Vec::new();
        for component in to_start {
            let cmd = match component {
                Component::Kafka => {
                    let libs = fetch::kafka_libs(&self.root, &self.cache)?;
                    if fresh {
                        self.wipe_kafka_data()?;
                    }
                    kafka::prepare(self, &libs)?
                }
                Component::Registry => {
                    let home = fetch::apicurio_home(&self.cache)?;
                    if fresh {
                        self.wipe_registry_data()?;
                    }
                    registry::command(self, &home)?
                }
            };
            commands.push((component, cmd));
        }

        // Spawn everything, then wait: the JVMs start in parallel.
        for (component, mut cmd) in commands {
            let log = self.log_file(component);
            // Where this start's output begins (after a rotation, at 0).
            let (pid, log_offset) = process::spawn_detached(&mut cmd, &log)
                .with_context(|| format!("starting {component}"))?;
            process::write_pid(&self.pid_file(component), pid)?;
            started.push(component);
            println!("{component}: started (pid {pid}), log {}", log.display());
            to_wait.push((component, Instant::now(), Some(log_offset)));
        }

        for (component, since, log_offset) in to_wait {
            self.wait_ready(component, since, log_offset)?;
        }
        Ok(())
    }

    /// `cargo xtask stack down [--wipe]`: stops every component.
    pub fn down(&self, wipe: bool) -> Result<()> {
        self.stop(&Component::ALL, wipe)?;
        self.clear_test_owner();
        Ok(())
    }

    /// Stops the given components (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and removes
    /// their pid files. With `wipe` and Kafka among them, also deletes Kafka's data.
    pub fn stop(&self, components: &[Component], wipe: bool) -> Result<()> {
        let mut stopping = Vec::new();
        for &component in components {
            let pid_file = self.pid_file(component);
            match process::read_pid(&pid_file) {
                Some(pid) if process::is_alive(pid, component.cmdline_marker()) => {
                    process::signal(pid, "TERM")?;
                    stopping.push((component, pid));
                }
                Some(_) => println!("{component}: not running (stale pid file removed)"),
                None => println!("{component}: not running"),
            }
        }

        // Wait for all of them together, reporting each as it goes; SIGKILL the stragglers.
        let since = Instant::now();
        let mut killed = false;
        while !stopping.is_empty() {
            stopping.retain(|&(component, pid)| {
                let alive = process::is_alive(pid, component.cmdline_marker());
                if !alive {
                    println!(
                        "{component}: stopped (pid {pid}) in {:.1}s",
                        since.elapsed().as_secs_f64()
                    );
                }
                alive
            });
            if stopping.is_empty() {
                break;
            }
            if since.elapsed() > STOP_TIMEOUT + Duration::from_secs(5) {
                let left: Vec<String> = stopping
                    .iter()
                    .map(|(component, pid)| format!("{component} (pid {pid})"))
                    .collect();
                bail!("{} survived SIGKILL", left.join(", "));
            }
            if !killed && since.elapsed() > STOP_TIMEOUT {
                for &(component, pid) in &stopping {
                    println!("{component}: still alive after {STOP_TIMEOUT:?}, sending SIGKILL");
                    process::signal(pid, "KILL")?;
                }
                killed = true;
            }
            std::thread::sleep(POLL);
        }

        for &component in components {
            remove_if_exists(&self.pid_file(component))?;
        }
        if wipe && components.contains(&Component::Kafka) {
            self.wipe_kafka_data()?;
            println!("kafka: data wiped ({})", self.kafka_data_dir().display());
        }
        if wipe && components.contains(&Component::Registry) {
            self.wipe_registry_data()?;
        }
        Ok(())
    }

    /// `cargo xtask stack kill <component>`: SIGKILLs it (a crash, no clean shutdown), waits
    /// until it is gone and removes its pid file.
    pub fn kill(&self, component: Component) -> Result<()> {
        let pid_file = self.pid_file(component);
        let Some(pid) = process::read_pid(&pid_file)
            .filter(|&pid| process::is_alive(pid, component.cmdline_marker()))
        else {
            println!("{component}: not running");
            return remove_if_exists(&pid_file);
        };
        process::signal(pid, "KILL")?;
        let since = Instant::now();
        while process::is_alive(pid, component.cmdline_marker()) {
            if since.elapsed() > STOP_TIMEOUT {
                bail!("{component} (pid {pid}) survived SIGKILL");
            }
            std::thread::sleep(POLL);
        }
        println!("{component}: killed (pid {pid})");
        remove_if_exists(&pid_file)
    }

    /// `cargo xtask stack status`: prints pid, liveness, port and log of each component.
    pub fn status(&self) {
        for component in Component::ALL {
            let pid = process::read_pid(&self.pid_file(component));
            let pid_text = match pid {
                Some(pid) if process::is_alive(pid, component.cmdline_marker()) => {
                    format!("pid {pid} alive")
                }
                Some(pid) => format!("pid {pid} dead"),
                None => "no pid file".to_owned(),
            };
            let answering = if self.answers(component) {
                "answering"
            } else {
                "not answering"
            };
            println!(
                "{:<9} {pid_text:<18} 127.0.0.1:{:<5} {answering:<14} log {}",
                component.name(),
                self.port(component),
                self.log_file(component).display()
            );
        }
        if Component::ALL
            .iter()
            .all(|&c| matches!(self.state_of_quiet(c), State::Running(_)))
        {
            self.print_env();
        }
    }

    /// Records this process as the `cargo xtask test` run that owns the stack it is about to
    /// start, so a later run can clean up if this one is killed (e.g. by Ctrl-C) before it
    /// stops the stack itself.
    pub fn mark_test_owner(&self) -> Result<()> {
        std::fs::create_dir_all(&self.state)
            .with_context(|| format!("creating {}", self.state.display()))?;
        process::write_pid(&self.test_owner_file(), std::process::id())
    }

    /// Forgets the owning test run (best effort).
    pub fn clear_test_owner(&self) {
        let _ = remove_if_exists(&self.test_owner_file());
    }

    /// Stops and wipes a stack left by a `cargo xtask test` run that died before stopping it,
    /// so the next run starts fresh instead of reusing it. A live owner (a concurrent run) is
    /// left alone.
    pub fn reap_abandoned_test_stack(&self) -> Result<()> {
        let Some(pid) = process::read_pid(&self.test_owner_file()) else {
            return Ok(());
        };
        if process::is_alive(pid, "xtask") {
            return Ok(());
        }
        println!("stopping the stack left by an interrupted `cargo xtask test` (pid {pid})");
        self.stop(&Component::ALL, true)?;
        self.clear_test_owner();
        Ok(())
    }

    fn test_owner_file(&self) -> PathBuf {
        self.state.join("test-owner.pid")
    }

    /// True when the component runs from our pid file and answers on its port.
    pub fn is_running(&self, component: Component) -> bool {
        matches!(self.state_of_quiet(component), State::Running(_))
    }

    /// Prints what runs where and the environment to use it.
    fn print_summary(&self) {
        println!();
        println!(
            "kafka     {}  (controller 127.0.0.1:{}, log {})",
            self.bootstrap_servers(),
            self.ports.controller,
            self.log_file(Component::Kafka).display()
        );
        println!(
            "registry  {}  (log {})",
            self.registry_url(),
            self.log_file(Component::Registry).display()
        );
        if let Ok(libs) = fetch::kafka_libs_if_fetched(&self.root, &self.cache) {
            println!(
                "kafka CLI java -cp '{}/*' org.apache.kafka.tools.TopicCommand --bootstrap-server {} --list",
                libs.display(),
                self.bootstrap_servers()
            );
        }
        println!();
        self.print_env();
    }

    fn print_env(&self) {
        println!(
            "export KAFKA_BOOTSTRAP_SERVERS={}",
            self.bootstrap_servers()
        );
        println!("export SCHEMA_REGISTRY_URL={}", self.registry_url());
    }

    /// Like [`Self::state_of_quiet`], but removes a stale pid file.
    fn state_of(&self, component: Component) -> State {
        let state = self.state_of_quiet(component);
        if matches!(state, State::Stopped) {
            // Best effort: a stale pid file only causes a message later.
            let _ = remove_if_exists(&self.pid_file(component));
        }
        state
    }

    fn state_of_quiet(&self, component: Component) -> State {
        match process::read_pid(&self.pid_file(component)) {
            Some(pid) if process::is_alive(pid, component.cmdline_marker()) => {
                if self.answers(component) {
                    State::Running(pid)
                } else {
                    State::Starting(pid)
                }
            }
            _ => State::Stopped,
        }
    }

    /// Whether the component's main port answers (Kafka: accepts TCP; registry: HTTP 200).
    fn answers(&self, component: Component) -> bool {
        match component {
            Component::Kafka => net::tcp_answers(self.ports.kafka),
            Component::Registry => registry::answers(self.ports.registry),
        }
    }

    /// Fails if something that is not ours already listens on one of the component's ports.
    fn ensure_ports_free(&self, component: Component) -> Result<()> {
        let ports = match component {
            Component::Kafka => [
                ("KAFKA_PORT", self.ports.kafka),
                ("CONTROLLER_PORT", self.ports.controller),
            ],
            Component::Registry => [
                ("REGISTRY_PORT", self.ports.registry),
                ("REGISTRY_MGMT_PORT", self.ports.registry_mgmt),
            ],
        };
        for (var, port) in ports {
            if net::tcp_answers(port) {
                bail!(
                    "cannot start {component}: 127.0.0.1:{port} is already in use by a process \
                     this workspace's .stack/ does not know (another checkout's stack?); stop it \
                     or choose another port with {var}=..."
                );
            }
        }
        Ok(())
    }

    /// Waits until the component answers (at most [`START_TIMEOUT`] after `since`, when it was
    /// spawned); fails early if its process dies.
    ///
    /// `log_offset` is set when this call started the process: Kafka then must also have
    /// logged that it started since that offset, so an old line in the log does not count.
    fn wait_ready(
        &self,
        component: Component,
        since: Instant,
        log_offset: Option<u64>,
    ) -> Result<()> {
        let pid_file = self.pid_file(component);
        let log = self.log_file(component);
        let pid = process::read_pid(&pid_file)
            .with_context(|| format!("{} disappeared", pid_file.display()))?;
        loop {
            let ready = self.answers(component)
                && match (component, log_offset) {
                    (Component::Kafka, Some(offset)) => kafka::logged_start(&log, offset),
                    _ => true,
                };
            if ready {
                println!(
                    "{component}: ready in {:.1}s",
                    since.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if process::has_exited(pid, component.cmdline_marker()) {
                let _ = remove_if_exists(&pid_file);
                bail!(
                    "{component} (pid {pid}) exited during start-up; last lines of {}:\n{}",
                    log.display(),
                    process::log_tail(&log, 40)
                );
            }
            if since.elapsed() > START_TIMEOUT {
                bail!(
                    "{component} (pid {pid}) did not answer on 127.0.0.1:{} within {START_TIMEOUT:?} \
                     (still running; `cargo xtask stack down` stops it); last lines of {}:\n{}",
                    self.port(component),
                    log.display(),
                    process::log_tail(&log, 40)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    fn port(&self, component: Component) -> u16 {
        match component {
            Component::Kafka => self.ports.kafka,
            Component::Registry => self.ports.registry,
        }
    }

    fn pid_file(&self, component: Component) -> PathBuf {
        self.state.join(format!("{}.pid", component.name()))
    }

    fn log_file(&self, component: Component) -> PathBuf {
        match component {
            Component::Kafka => self.kafka_dir().join("server.log"),
            Component::Registry => self.state.join("registry.log"),
        }
    }

    /// `.stack/kafka`: generated configs, log and data of the broker.
    fn kafka_dir(&self) -> PathBuf {
        self.state.join("kafka")
    }

    fn kafka_data_dir(&self) -> PathBuf {
        self.kafka_dir().join("data")
    }

    /// Where the registry keeps its schemas when it persists them.
    fn registry_data_dir(&self) -> PathBuf {
        self.state.join("registry-data")
    }

    fn wipe_registry_data(&self) -> Result<()> {
        let data = self.registry_data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("deleting {}", data.display()))?;
        }
        Ok(())
    }

    fn wipe_kafka_data(&self) -> Result<()> {
        let data = self.kafka_data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("deleting {}", data.display()))?;
        }
        Ok(())
    }
}

/// A `java` command: `$JAVA_HOME/bin/java` if `JAVA_HOME` is set, else `java` from `PATH`.
fn java() -> Command {
    match std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        Some(home) => Command::new(Path::new(&home).join("bin").join("java")),
        None => Command::new("java"),
    }
}

/// The workspace root: the parent of the xtask crate.
pub fn workspace_root() -> PathBuf {
    // Compile-time, so the binary finds the workspace even when not run through cargo.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}
