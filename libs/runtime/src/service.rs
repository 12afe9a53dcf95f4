//! The steps every consuming service shares: serve the ops endpoint,
//! provision its topics, and wait for its stage loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use survey_contracts::TopicSpec;
use tokio::task::JoinHandle;

use crate::config::KafkaSettings;
use crate::provision::{ProvisionSettings, provision};
use crate::shutdown::Shutdown;

/// Serves `/healthz`, `/readyz` (ready until shutdown) and `/metrics` on
/// `ops_addr`, then creates or updates `topics` unless provisioning is off.
pub async fn prepare(
    kafka: &KafkaSettings,
    ops_addr: SocketAddr,
    topics: &[TopicSpec],
    provision_settings: &ProvisionSettings,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let ready = shutdown.clone();
    crate::ops::serve(
        ops_addr,
        Arc::new(move || !ready.is_triggered()),
        shutdown.clone(),
    )
    .await?;
    if kafka.provision_on_start {
        provision_when_reachable(kafka, topics, provision_settings, shutdown).await?;
    }
    Ok(())
}

/// Provisions, waiting out a broker or registry that cannot be reached yet
/// (a pod starting before the registry, a registry restarting), so that a
/// service does not crash-loop through an outage. A refusal stops it.
async fn provision_when_reachable(
    kafka: &KafkaSettings,
    topics: &[TopicSpec],
    provision_settings: &ProvisionSettings,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let error = match provision(kafka, topics, provision_settings).await {
            Ok(()) => return Ok(()),
            Err(error) if is_unreachable(&error) => error,
            Err(error) => return Err(error),
        };
        tracing::warn!(
            error = format!("{error:#}"),
            ?backoff,
            "provisioning waits for Kafka and the registry"
        );
        tokio::select! {
            () = shutdown.triggered() => return Err(error.context("stopped while provisioning")),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

fn is_unreachable(error: &anyhow::Error) -> bool {
    if let Some(codec) = error.downcast_ref::<survey_contracts::CodecError>() {
        return codec.is_retriable();
    }
    error
        .downcast_ref::<rdkafka::error::KafkaError>()
        .is_some_and(crate::kafka::is_retriable)
}

/// The stage loops of one service.
#[derive(Debug, Default)]
pub struct StageLoops {
    loops: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
}

impl StageLoops {
    /// Adds a running loop.
    pub fn push(&mut self, name: &'static str, handle: JoinHandle<anyhow::Result<()>>) {
        self.loops.push((name, handle));
    }

    /// Waits for every loop; the first failure is the result.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut outcome = Ok(());
        for (name, handle) in self.loops {
            let result = match handle.await {
                Ok(result) => result,
                Err(join) => Err(anyhow::anyhow!("{name} loop panicked: {join}")),
            };
            if let (Err(error), true) = (result, outcome.is_ok()) {
                outcome = Err(error.context(format!("{name} loop failed")));
            }
        }
        outcome
    }
}
