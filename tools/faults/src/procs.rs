//! The processes of the run: the four services and the sandbox as child processes, the
//! broker and registry through `cargo xtask stack`.
//!
//! A service that exits by itself (it may give up while the broker or the registry is
//! down) is started again after a second, as an orchestrator would; such restarts are
//! counted and reported.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// A free loopback port.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(listener.local_addr()?.port())
}

/// One service process, restartable with the same configuration.
#[derive(Debug)]
pub struct Service {
    /// `ingest`, `filter`, `enricher` or `notifier`.
    pub name: &'static str,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    /// Its `/healthz`, `/readyz` and `/metrics` port.
    pub ops_port: u16,
    state: Mutex<ServiceState>,
}

#[derive(Debug, Default)]
struct ServiceState {
    child: Option<Child>,
    /// Stopped on purpose: the supervisor leaves it down.
    held_down: bool,
    /// Exits nobody asked for.
    unplanned_exits: u32,
}

impl Service {
    /// A service run from `bin_dir/survey-<name>` with `env`, logging to `log_dir/<name>.log`.
    pub fn new(
        name: &'static str,
        bin_dir: &Path,
        log_dir: &Path,
        ops_port: u16,
        env: Vec<(String, String)>,
    ) -> Self {
        Self {
            name,
            binary: bin_dir.join(format!("survey-{name}")),
            env,
            log: log_dir.join(format!("{name}.log")),
            ops_port,
            state: Mutex::new(ServiceState::default()),
        }
    }

    /// Its environment.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Starts it (again); returns when the process is spawned.
    pub async fn start(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        state.held_down = false;
        let child = spawn_logged(&self.binary, &self.env, &self.log)?;
        state.child = Some(child);
        Ok(())
    }

    /// SIGKILLs it and waits until it is gone; the supervisor leaves it down until
    /// [`Self::start`].
    ///
    /// Returns when it was gone.
    pub async fn kill(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        let mut state = self.state.lock().await;
        state.held_down = true;
        if let Some(mut child) = state.child.take() {
            child.start_kill().ok();
            child.wait().await.context("waiting for a killed service")?;
        }
        Ok(chrono::Utc::now())
    }

    /// SIGTERM, then SIGKILL after `limit`; returns whether it stopped in time.
    pub async fn terminate(&self, limit: Duration) -> bool {
        let mut state = self.state.lock().await;
        state.held_down = true;
        let Some(mut child) = state.child.take() else {
            return true;
        };
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                child.start_kill().ok();
                let _ = child.wait().await;
                false
            }
        }
    }

    /// Restarts it if it exited by itself; returns whether it did.
    pub async fn revive_if_exited(&self) -> Result<bool> {
        let mut state = self.state.lock().await;
        if state.held_down {
            return Ok(false);
        }
        let exited = match state.child.as_mut() {
            Some(child) => child.try_wait()?.is_some(),
            None => true,
        };
        if exited {
            state.unplanned_exits += 1;
            state.child = Some(spawn_logged(&self.binary, &self.env, &self.log)?);
        }
        Ok(exited)
    }

    /// Exits nobody asked for so far.
    pub async fn unplanned_exits(&self) -> u32 {
        self.state.lock().await.unplanned_exits
    }

    /// The sum of its `survey_alerts_records_in_total` and `..._records_out_total` counters
    /// (0 while it has none, or does not answer).
    pub async fn progress(&self, http: &reqwest::Client) -> f64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.ops_port);
        let Ok(response) = http.get(url).send().await else {
            return 0.0;
        };
        let Ok(text) = response.text().await else {
            return 0.0;
        };
        records_total(&text)
    }

    /// Waits until the (just restarted) process has handled a record, at most `limit`;
    /// returns how long that took.
    pub async fn wait_progress(&self, http: &reqwest::Client, limit: Duration) -> Option<Duration> {
        let since = Instant::now();
        while since.elapsed() < limit {
            if self.progress(http).await > 0.0 {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// Sums the records-in and records-out counters of a Prometheus text page, and the
/// webhooks answered 202 (ingest's progress).
pub fn records_total(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("survey_alerts_records_in_total")
                || line.starts_with("survey_alerts_records_out_total")
                || (line.starts_with("survey_alerts_http_requests_total")
                    && line.contains("status=\"202\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn spawn_logged(binary: &Path, env: &[(String, String)], log: &Path) -> Result<Child> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let mut command = Command::new(binary);
    command
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// Restarts services that exited by themselves, every 500 ms, until dropped.
pub fn supervise(services: Vec<Arc<Service>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            for service in &services {
                match service.revive_if_exited().await {
                    Ok(true) => {
                        eprintln!("faults: {} exited by itself; started again", service.name)
                    }
                    Ok(false) => {}
                    Err(error) => eprintln!("faults: restarting {}: {error:#}", service.name),
                }
            }
        }
    })
}

/// The broker and registry of the private stack, controlled through the xtask binary.
#[derive(Debug, Clone)]
pub struct StackControl {
    xtask: PathBuf,
}

impl StackControl {
    /// Control through `xtask` (the environment already names the private stack).
    pub fn new(xtask: PathBuf) -> Self {
        Self { xtask }
    }

    /// `stack down <component>`: a clean stop.
    pub async fn stop(&self, component: &str) -> Result<()> {
        self.run(&["stack", "down", component]).await
    }

    /// `stack kill <component>`: a crash.
    pub async fn kill(&self, component: &str) -> Result<()> {
        self.run(&["stack", "kill", component]).await
    }

    /// `stack up`: starts what is down and waits until it answers. A start
    /// that failed is tried once more: on a loaded machine a JVM has been
    /// seen to exit during start-up once, which is the harness's problem,
    /// not a fault under test.
    pub async fn up(&self) -> Result<()> {
        match self.run(&["stack", "up"]).await {
            Ok(()) => Ok(()),
            Err(first) => {
                eprintln!("faults: stack start failed, trying once more: {first:#}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.run(&["stack", "up"]).await
            }
        }
    }

    async fn run(&self, args: &[&str]) -> Result<()> {
        let output = Command::new(&self.xtask)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {} {}", self.xtask.display(), args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "xtask {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_summed_over_stages_and_labels() {
        let page = "# TYPE survey_alerts_records_in_total counter\n\
                    survey_alerts_records_in_total{stage=\"filter\"} 3\n\
                    survey_alerts_records_out_total{stage=\"filter\",topic=\"a\"} 2\n\
                    survey_alerts_records_dropped_total{stage=\"filter\"} 7\n\
                    survey_alerts_http_requests_total{route=\"/w\",status=\"202\"} 4\n\
                    survey_alerts_http_requests_total{route=\"/w\",status=\"503\"} 9\n";
        assert!((records_total(page) - 9.0).abs() < f64::EPSILON);
        assert!(records_total("").abs() < f64::EPSILON);
    }
}
