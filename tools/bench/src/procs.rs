//! The services as their own processes (the release binaries, configured
//! through a TOML file in `SURVEY_ALERTS_CONFIG`), so that their memory can be
//! read per process from `/proc/<pid>/status`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use survey_runtime::KafkaSettings;

/// Resident memory of one process, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the highest resident size so far.
    pub hwm_kib: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`; `None` once the process is gone.
    pub fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// A free loopback port (bound, read and released; another process could
/// take it in between, which on loopback in a bench run it does not).
pub fn free_addr() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    listener.local_addr().context("reading the free port")
}

/// The `[kafka]` table of a service's TOML configuration.
pub fn kafka_toml(settings: &KafkaSettings, at_least_once: bool) -> String {
    let mut out = format!(
        "[kafka]\nbootstrap_servers = {:?}\nschema_registry_url = {:?}\ntopic_prefix = {:?}\n",
        settings.bootstrap_servers, settings.schema_registry_url, settings.topic_prefix
    );
    if at_least_once {
        out.push_str("processing_guarantee = \"at-least-once\"\n");
    }
    if !settings.librdkafka.is_empty() {
        out.push_str("[kafka.librdkafka]\n");
        for (key, value) in &settings.librdkafka {
            let _ = writeln!(out, "{key:?} = {value:?}");
        }
    }
    out
}

/// One service running as a child process.
#[derive(Debug)]
pub struct ServiceProcess {
    /// `ingest`, `filter`, `enricher` or `notifier`.
    pub name: &'static str,
    /// Its `/healthz`, `/readyz`, `/metrics` address.
    pub ops_addr: SocketAddr,
    child: Child,
    config_path: PathBuf,
}

impl ServiceProcess {
    /// Starts `bin_dir/survey-<name>` with `config` (TOML, without
    /// `ops_addr`, which is added), logging at `warn` to
    /// `log_dir/<name>.log`, and waits until `/readyz` answers 200.
    pub async fn start(
        bin_dir: &Path,
        log_dir: &Path,
        name: &'static str,
        config: &str,
        ready_within: Duration,
    ) -> Result<Self> {
        let binary = bin_dir.join(format!("survey-{name}"));
        if !binary.exists() {
            bail!(
                "{} is missing: build it with `cargo build --release -p survey-{name}` (cargo xtask bench does)",
                binary.display()
            );
        }
        std::fs::create_dir_all(log_dir).ok();
        let ops_addr = free_addr()?;
        let mut text = format!("ops_addr = \"{ops_addr}\"\n");
        let _ = write!(text, "{config}");
        let config_path = log_dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, text)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log = std::fs::File::create(log_dir.join(format!("{name}.log")))
            .context("creating the log file")?;
        let child = Command::new(&binary)
            .env("SURVEY_ALERTS_CONFIG", &config_path)
            .env("RUST_LOG", "warn")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            // Configured by the file only: the bench's own variables must not
            // override it.
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("SCHEMA_REGISTRY_URL")
            .env_remove("TOPIC_PREFIX")
            .env_remove("PROCESSING_GUARANTEE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning the log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut process = Self {
            name,
            ops_addr,
            child,
            config_path,
        };
        if let Err(err) = process.wait_ready(ready_within).await {
            let _ = process.stop();
            return Err(err.context(format!(
                "survey-{name} did not become ready; see {}",
                log_dir.join(format!("{name}.log")).display()
            )));
        }
        Ok(process)
    }

    async fn wait_ready(&mut self, within: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("http://{}/readyz", self.ops_addr);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("survey-{} exited at start-up: {status}", self.name);
            }
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!("not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory now.
    pub fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid())
    }

    /// Reads a counter from its `/metrics`: the sum over every series of
    /// `metric` whose labels contain `label` (for example `stage="filter"`).
    pub async fn counter(&self, http: &reqwest::Client, metric: &str, label: &str) -> Option<f64> {
        let text = http
            .get(format!("http://{}/metrics", self.ops_addr))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut found = None;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(metric) else {
                continue;
            };
            if !(rest.starts_with('{') || rest.starts_with(' ')) || !rest.contains(label) {
                continue;
            }
            if let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
                *found.get_or_insert(0.0) += value;
            }
        }
        found
    }

    /// SIGTERM, then waits up to 30 s (then SIGKILL).
    pub fn stop(mut self) -> Result<()> {
        terminate(self.child.id());
        let started = Instant::now();
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                eprintln!(
                    "survey-bench: survey-{} did not stop within 30 s; killing it",
                    self.name
                );
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&self.config_path);
        Ok(())
    }
}

/// Sends SIGTERM to `pid` (through `kill(1)`: this workspace forbids unsafe
/// code, so no `libc::kill`).
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}
