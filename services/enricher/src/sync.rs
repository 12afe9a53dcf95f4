//! The directory sync: writes one directory entry per queue of the routing
//! file, with the queue's name and supervisors from the Genesys API.

use std::time::Duration;

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use survey_contracts::{AvroCodec, topics};
use survey_genesys::GenesysClient;
use survey_runtime::{KafkaSettings, kafka, now_millis};

use crate::directory::{QueueDirectory, entry_from_sources, resolve_people};
use crate::routing_file::RoutingFile;

/// Writes the routing file's queues to the directory topic, and into
/// `directory` so that this process need not wait to read them back.
/// Returns how many entries it wrote.
pub async fn sync_directory(
    settings: &KafkaSettings,
    genesys: &GenesysClient,
    routing_file: &RoutingFile,
    directory: Option<&QueueDirectory>,
) -> anyhow::Result<usize> {
    let topic = settings.topology().topic(&topics::QUEUE_DIRECTORY);
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let producer: FutureProducer =
        kafka::producer_config(settings, Duration::from_secs(30)).create()?;
    for (queue_id, route) in &routing_file.queues {
        let api_queue = match genesys.queue(queue_id).await {
            Ok(queue) => queue,
            Err(error) => {
                tracing::warn!(queue_id, %error, "queue not read from Genesys; using the routing file alone");
                None
            }
        };
        let supervisors = resolve_people(genesys, &route.supervisors)
            .await
            .with_context(|| format!("looking up the supervisors of queue {queue_id}"))?;
        let entry = entry_from_sources(
            queue_id,
            api_queue.as_ref(),
            Some(route),
            supervisors,
            now_millis(),
        );
        let payload = codec.encode(&topic, &entry).await?;
        producer
            .send(
                FutureRecord::to(&topic).key(queue_id).payload(&payload),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| anyhow::anyhow!("writing directory entry {queue_id}: {error}"))?;
        if let Some(directory) = directory {
            directory.insert(entry);
        }
    }
    tracing::info!(queues = routing_file.queues.len(), "directory synced");
    Ok(routing_file.queues.len())
}
