//! Wires the filter: provisioning, the seen-set table, and the stage loop.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use survey_contracts::{AvroCodec, DedupMarker, topics};
use survey_runtime::provision::ProvisionSettings;
use survey_runtime::service::prepare;
use survey_runtime::stage::RunnerSettings;
use survey_runtime::table::{TableSink, decode_entry, materialize};
use survey_runtime::{Shutdown, StageStats, kafka, now_millis};
use tokio::task::JoinHandle;

use crate::config::FilterConfig;
use crate::dedup::SeenSet;
use crate::handler::{Clock, FilterHandler};
use crate::rules::ActionRules;

/// Topics the filter reads or writes, and so provisions.
pub const TOPICS: &[topics::TopicSpec] = &[
    topics::SURVEY_RESPONSES_RAW,
    topics::SURVEY_RESPONSES_ACTIONABLE,
    topics::SURVEY_RESPONSES_DEDUP,
    topics::FILTER_DLQ,
];

/// A running filter.
#[derive(Debug)]
pub struct RunningFilter {
    /// Its counters.
    pub stats: Arc<StageStats>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningFilter {
    /// Waits for the filter to stop (after its shutdown was triggered, or on
    /// a fatal error).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("filter task panicked")?
    }
}

/// Starts the filter. It returns once the seen-set has caught up, so
/// everything produced to the raw topic afterwards is judged against it.
pub async fn start(config: FilterConfig, shutdown: Shutdown) -> anyhow::Result<RunningFilter> {
    start_with_clock(config, shutdown, Arc::new(now_millis)).await
}

/// [`start`] with an injected clock.
pub async fn start_with_clock(
    config: FilterConfig,
    shutdown: Shutdown,
    clock: Clock,
) -> anyhow::Result<RunningFilter> {
    let topology = config.kafka.topology();
    let provision_settings = ProvisionSettings {
        dedup_window: config.dedup_window,
    };
    prepare(
        &config.kafka,
        config.ops_addr,
        TOPICS,
        &provision_settings,
        &shutdown,
    )
    .await?;
    let codec = Arc::new(AvroCodec::for_url(&config.kafka.schema_registry_url));
    let seen = Arc::new(Mutex::new(SeenSet::new(config.dedup_window)));
    let dedup_topic = topology.topic(&topics::SURVEY_RESPONSES_DEDUP);
    let loader = SeenSetLoader {
        codec: Arc::clone(&codec),
        seen: Arc::clone(&seen),
        clock: Arc::clone(&clock),
    };
    let _follower = materialize(&config.kafka, &dedup_topic, loader, shutdown.clone()).await?;
    let remembered = seen.lock().map(|s| s.len()).unwrap_or_default();
    tracing::info!(remembered, "seen-set loaded");

    let producer = kafka::producer_config(&config.kafka, config.delivery_timeout);

    let stats = Arc::new(StageStats::new("filter"));
    let handler = FilterHandler::new(
        codec,
        ActionRules::new(&config.rules),
        seen,
        &topology,
        Arc::clone(&stats),
        clock,
    );
    let task = survey_runtime::stage::spawn(
        &config.kafka,
        &topics::SURVEY_RESPONSES_RAW,
        producer,
        handler,
        RunnerSettings {
            stage: "filter",
            dlq_topic: topology.topic(&topics::FILTER_DLQ),
            guarantee: config.kafka.processing_guarantee,
            max_in_flight: config.max_in_flight,
            commit_interval: config.commit_interval,
            initial_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(10),
            // CPU-bound: one input at a time, in offset order.
            concurrency: 1,
        },
        Arc::clone(&stats),
        shutdown,
    )?;
    Ok(RunningFilter { stats, task })
}

/// Feeds dedup markers into the seen-set, and expires old entries as it goes.
struct SeenSetLoader {
    codec: Arc<AvroCodec>,
    seen: Arc<Mutex<SeenSet>>,
    clock: Clock,
}

#[async_trait]
impl TableSink for SeenSetLoader {
    async fn apply(&mut self, _key: &[u8], payload: Option<&[u8]>) {
        let Some(payload) = payload else { return };
        let Some(marker) = decode_entry::<DedupMarker>(&self.codec, payload, "dedup").await else {
            return;
        };
        if let Ok(mut seen) = self.seen.lock() {
            let now = (self.clock)();
            seen.insert(&marker.response_id, marker.first_seen_at);
            if seen.len() % 4096 == 0 {
                seen.expire(now);
            }
        }
    }
}
