//! `directory sync`: the enricher's directory sync, run by hand. Writes one
//! entry per queue of the routing file to the compacted directory topic,
//! with the queue's name and supervisors from the Genesys API; the running
//! enrichers pick the entries up from the topic.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use survey_contracts::topics;
use survey_enricher::routing_file::RoutingFile;
use survey_enricher::sync::sync_directory;
use survey_genesys::{GenesysClient, GenesysConfig};
use survey_runtime::KafkaSettings;

/// What `directory sync` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The directory topic.
    pub topic: String,
    /// Entries written: one per queue of the routing file.
    pub entries: usize,
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} directory entr{} to {}",
            self.entries,
            if self.entries == 1 { "y" } else { "ies" },
            self.topic
        )
    }
}

/// Loads the routing file at `routing_file` and syncs its queues through the
/// Genesys organisation `genesys` describes.
pub async fn sync(
    settings: &KafkaSettings,
    genesys: GenesysConfig,
    routing_file: &Path,
) -> anyhow::Result<SyncReport> {
    let routing = RoutingFile::load(routing_file)?;
    let client = GenesysClient::new(genesys).context("configuring the Genesys client")?;
    let entries = sync_directory(settings, &client, &routing, None).await?;
    Ok(SyncReport {
        topic: settings.topology().topic(&topics::QUEUE_DIRECTORY),
        entries,
    })
}
