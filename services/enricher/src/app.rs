//! Wires the enricher: provisioning, the directory table, and two stage
//! loops (new actionable surveys, and the recording-retries delay topic).

use std::sync::Arc;

use anyhow::Context;
use survey_contracts::{AvroCodec, TopicSpec, topics};
use survey_genesys::GenesysClient;
use survey_runtime::provision::ProvisionSettings;
use survey_runtime::service::{StageLoops, prepare};
use survey_runtime::stage::RunnerSettings;
use survey_runtime::table::materialize;
use survey_runtime::{Shutdown, StageStats, kafka, now_millis};

use crate::config::EnricherConfig;
use crate::directory::{DirectorySink, QueueDirectory};
use crate::enrich::{ActionableHandler, Clock, Enrichment, RecordingRetryHandler};
use crate::routing_file::{Destinations, RoutingFile};
use crate::sync::sync_directory;

/// Topics the enricher reads or writes, and so provisions.
pub const TOPICS: &[TopicSpec] = &[
    topics::SURVEY_RESPONSES_ACTIONABLE,
    topics::QUEUE_DIRECTORY,
    topics::ALERTS_ENRICHED,
    topics::RECORDING_RETRIES,
    topics::ENRICHER_DLQ,
];

/// A running enricher.
#[derive(Debug)]
pub struct RunningEnricher {
    /// Counters of the actionable loop.
    pub stats: Arc<StageStats>,
    /// Counters of the recording-retries loop.
    pub retry_stats: Arc<StageStats>,
    /// The queue table.
    pub directory: Arc<QueueDirectory>,
    loops: StageLoops,
}

impl RunningEnricher {
    /// Waits for both loops to stop.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.loops.wait().await
    }
}

/// The routing file, or a default that sends everything to one channel.
pub fn routing_file(config: &EnricherConfig) -> anyhow::Result<RoutingFile> {
    match &config.routing_file {
        Some(path) => RoutingFile::load(path),
        None => {
            tracing::warn!(channel = %config.fallback_slack_channel, "no routing file; every alert goes to the fallback channel");
            Ok(RoutingFile {
                default: Destinations {
                    slack: Some(config.fallback_slack_channel.clone()),
                    ..Destinations::default()
                },
                ..RoutingFile::default()
            })
        }
    }
}

/// Starts the enricher with the real clock.
pub async fn start(config: EnricherConfig, shutdown: Shutdown) -> anyhow::Result<RunningEnricher> {
    start_with_clock(config, shutdown, Arc::new(now_millis)).await
}

/// Starts the enricher with an injected clock. Returns once the directory
/// table has caught up.
pub async fn start_with_clock(
    config: EnricherConfig,
    shutdown: Shutdown,
    clock: Clock,
) -> anyhow::Result<RunningEnricher> {
    let topology = config.kafka.topology();
    prepare(
        &config.kafka,
        config.ops_addr,
        TOPICS,
        &ProvisionSettings::default(),
        &shutdown,
    )
    .await?;
    let routing_file = routing_file(&config)?;
    let genesys =
        GenesysClient::new(config.genesys.clone()).context("configuring the Genesys client")?;
    let codec = Arc::new(AvroCodec::for_url(&config.kafka.schema_registry_url));
    let directory = Arc::new(QueueDirectory::default());
    if config.sync_directory_on_start {
        sync_directory(&config.kafka, &genesys, &routing_file, Some(&directory)).await?;
    }
    let sink = DirectorySink {
        codec: Arc::clone(&codec),
        directory: Arc::clone(&directory),
    };
    let directory_topic = topology.topic(&topics::QUEUE_DIRECTORY);
    let _follower = materialize(&config.kafka, &directory_topic, sink, shutdown.clone()).await?;
    tracing::info!(queues = directory.len(), "queue directory loaded");

    let enrichment = Arc::new(Enrichment {
        codec,
        genesys,
        directory: Arc::clone(&directory),
        routing_file,
        recording: config.recording.clone(),
        topology: topology.clone(),
        clock,
    });
    let producer = kafka::producer_config(&config.kafka, config.delivery_timeout);
    let guarantee = config.kafka.processing_guarantee;
    let dlq = topology.topic(&topics::ENRICHER_DLQ);
    let stats = Arc::new(StageStats::new("enricher"));
    let retry_stats = Arc::new(StageStats::new("enricher.recording-retries"));
    let mut loops = StageLoops::default();
    let actionable = survey_runtime::stage::spawn_parallel(
        &config.kafka,
        &topics::SURVEY_RESPONSES_ACTIONABLE,
        producer.clone(),
        ActionableHandler(Arc::clone(&enrichment)),
        RunnerSettings::new("enricher", &dlq, guarantee),
        Arc::clone(&stats),
        shutdown.clone(),
    )?;
    let retries = survey_runtime::stage::spawn(
        &config.kafka,
        &topics::RECORDING_RETRIES,
        producer,
        RecordingRetryHandler(enrichment),
        RunnerSettings::new("enricher.recording-retries", &dlq, guarantee),
        Arc::clone(&retry_stats),
        shutdown,
    )?;
    for handle in actionable {
        loops.push("actionable", handle);
    }
    loops.push("recording-retries", retries);
    Ok(RunningEnricher {
        stats,
        retry_stats,
        directory,
        loops,
    })
}
