//! The steps every consuming service shares: serve the ops endpoint,
//! provision its topics, and wait for its stage loops.

use std::net::SocketAddr;
use std::sync::Arc;

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
        provision(kafka, topics, provision_settings).await?;
    }
    Ok(())
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
