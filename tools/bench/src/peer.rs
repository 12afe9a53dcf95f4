//! The peer: `tools/bench/peer/app.py` (FastAPI on uvicorn, confluent-kafka)
//! as its own process tree, one uvicorn worker per core.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use survey_contracts::topics;
use survey_runtime::KafkaSettings;
use survey_runtime::provision::{ProvisionSettings, provision};

use crate::procs::{free_addr, terminate};

/// The running peer.
#[derive(Debug)]
pub struct Peer {
    /// Where uvicorn listens.
    pub addr: SocketAddr,
    child: Child,
}

/// The peer's package versions, for the report: `pip freeze` of its venv.
pub fn versions(python: &Path) -> String {
    let out = Command::new(python)
        .args(["-c", "import importlib.metadata, confluent_kafka, fastapi, uvicorn, sys; print(f'Python {sys.version.split()[0]}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, confluent-kafka {importlib.metadata.version(\"confluent-kafka\")} (librdkafka {confluent_kafka.libversion()[0]})')"])
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => "unknown".to_owned(),
    }
}

impl Peer {
    /// Provisions its topic (like ingest's raw topic: 6 partitions) and
    /// starts `python -m uvicorn app:app --workers {workers}` from
    /// `app_dir`, then waits for `/healthz`.
    pub async fn start(
        python: &Path,
        app_dir: &Path,
        log_dir: &Path,
        kafka: &KafkaSettings,
        secret: &str,
        workers: usize,
    ) -> Result<Self> {
        provision(
            kafka,
            &[topics::SURVEY_RESPONSES_RAW],
            &ProvisionSettings::default(),
        )
        .await?;
        let topic = kafka.topology().topic(&topics::SURVEY_RESPONSES_RAW);
        let addr = free_addr()?;
        std::fs::create_dir_all(log_dir).ok();
        let log = std::fs::File::create(log_dir.join("peer.log")).context("creating peer.log")?;
        let child = Command::new(python)
            .args(["-m", "uvicorn", "app:app", "--app-dir"])
            .arg(app_dir)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(addr.port().to_string())
            .args(["--workers", &workers.to_string()])
            .args(["--log-level", "warning", "--no-access-log"])
            .args(["--loop", "uvloop", "--http", "httptools"])
            .env("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
            .env("PEER_TOPIC", &topic)
            .env("WEBHOOK_SECRET", secret)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} -m uvicorn", python.display()))?;
        let mut peer = Self { addr, child };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = peer.child.try_wait()? {
                bail!("the peer exited at start-up ({status}); see target/bench-logs/peer.log");
            }
            if let Ok(response) = http.get(format!("http://{addr}/healthz")).send().await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                peer.stop();
                bail!("the peer did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Every worker must be up and have its producer: give them a moment
        // after the first answers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(peer)
    }

    /// SIGTERM to uvicorn's supervisor (it stops its workers), then waits
    /// up to 20 s before SIGKILL.
    pub fn stop(mut self) {
        terminate(self.child.id());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
