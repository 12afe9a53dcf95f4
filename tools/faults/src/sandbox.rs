//! The sandbox binary (Genesys Cloud, Slack, Teams and SMTP fakes) as a child process,
//! and a client for its control API.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use survey_sandbox::{ConversationSeed, Fault, Route};
use tokio::process::Child;

use crate::procs::free_port;

/// What `GET /sandbox/counts` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Counts {
    /// Slack calls.
    pub slack: usize,
    /// Teams posts.
    pub teams: usize,
    /// Emails.
    pub emails: usize,
    /// Coaching appointments.
    pub coaching: usize,
    /// Faulted requests still queued.
    pub pending_faults: u32,
}

impl Counts {
    /// Every delivery of every sink.
    pub fn total(&self) -> usize {
        self.slack + self.teams + self.emails + self.coaching
    }
}

/// A running sandbox.
#[derive(Debug)]
pub struct SandboxProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// SMTP port.
    pub smtp_port: u16,
    http: reqwest::Client,
}

impl SandboxProcess {
    /// Starts `bin_dir/survey-sandbox` on free loopback ports, logging to `log`.
    pub async fn start(bin_dir: &Path, log: &Path) -> Result<Self> {
        let (http_port, smtp_port) = (free_port()?, free_port()?);
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(bin_dir.join("survey-sandbox"))
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .args(["--smtp", &format!("127.0.0.1:{smtp_port}")])
            .args(["--seed", "demo", "--quiet"])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("starting survey-sandbox")?;
        let sandbox = Self {
            child,
            base_url: format!("http://127.0.0.1:{http_port}"),
            smtp_port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(20) {
            if sandbox
                .http
                .get(format!("{}/healthz", sandbox.base_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(sandbox);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the sandbox did not answer within 20 s (log {})",
            log.display()
        )
    }

    async fn post(&self, path: &str, body: &Value) -> Result<()> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path} to the sandbox"))?;
        if !response.status().is_success() {
            bail!("POST {path} to the sandbox: {}", response.status());
        }
        Ok(())
    }

    /// Adds a conversation.
    pub async fn seed_conversation(&self, seed: &ConversationSeed) -> Result<()> {
        self.post("/sandbox/seed/conversation", &serde_json::to_value(seed)?)
            .await
    }

    /// Queues a fault.
    pub async fn fault(&self, route: Route, fault: Fault) -> Result<()> {
        self.post(
            "/sandbox/faults",
            &json!({ "route": route, "fault": fault }),
        )
        .await
    }

    /// An outage that ends by itself after `duration`.
    pub async fn outage(&self, route: Route, duration: Duration) -> Result<()> {
        self.post(
            "/sandbox/outage",
            &json!({ "route": route, "seconds": duration.as_secs_f64() }),
        )
        .await
    }

    /// Delivery counts (all zero when the sandbox does not answer).
    pub async fn counts(&self) -> Counts {
        let response = self
            .http
            .get(format!("{}/sandbox/counts", self.base_url))
            .send()
            .await;
        match response {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => Counts::default(),
        }
    }

    /// Every delivery, as `GET /sandbox/deliveries` shows it.
    pub async fn deliveries(&self) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/sandbox/deliveries", self.base_url))
            .send()
            .await
            .context("GET /sandbox/deliveries")?;
        response.json().await.context("reading the deliveries")
    }

    /// Every request the fakes answered, as `GET /sandbox/requests` shows it.
    pub async fn requests(&self) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/sandbox/requests", self.base_url))
            .send()
            .await
            .context("GET /sandbox/requests")?;
        response.json().await.context("reading the requests")
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
