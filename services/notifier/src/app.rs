//! Wires the notifier: templates, channels, the delivery ledger table, and
//! two stage loops (new alert revisions, and the delivery-retries delay
//! topic).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use survey_contracts::{AvroCodec, TopicSpec, topics};
use survey_genesys::GenesysClient;
use survey_runtime::provision::ProvisionSettings;
use survey_runtime::service::{StageLoops, prepare};
use survey_runtime::stage::{ProcessingGuarantee, RunnerSettings, spawn, spawn_parallel};
use survey_runtime::table::materialize;
use survey_runtime::{Shutdown, StageStats, kafka, now_millis};

use crate::channels::Channel;
use crate::channels::coaching::CoachingChannel;
use crate::channels::email::EmailChannel;
use crate::channels::slack::SlackChannel;
use crate::channels::teams::TeamsChannel;
use crate::config::NotifierConfig;
use crate::deliver::{AlertHandler, Clock, Delivery, DeliveryRetryHandler, KeyLocks};
use crate::ledger::{DeliveryIntents, DeliveryLedger, IntentSink, LedgerSink};
use crate::templates::Templates;

/// Topics the notifier reads or writes, and so provisions.
pub const TOPICS: &[TopicSpec] = &[
    topics::ALERTS_ENRICHED,
    topics::DELIVERY_LEDGER,
    topics::DELIVERY_INTENTS,
    topics::DELIVERY_RETRIES,
    topics::NOTIFIER_DLQ,
];

/// A running notifier.
#[derive(Debug)]
pub struct RunningNotifier {
    /// Counters of the alerts loop.
    pub stats: Arc<StageStats>,
    /// Counters of the retries loop.
    pub retry_stats: Arc<StageStats>,
    /// The delivery ledger.
    pub ledger: Arc<DeliveryLedger>,
    loops: StageLoops,
}

impl RunningNotifier {
    /// Waits for both loops to stop.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.loops.wait().await
    }
}

/// The configured channels, by the names targets use.
pub fn channels(
    config: &NotifierConfig,
) -> anyhow::Result<BTreeMap<&'static str, Arc<dyn Channel>>> {
    let templates = Arc::new(match &config.templates_dir {
        Some(dir) => Templates::from_dir(dir)
            .with_context(|| format!("loading templates from {}", dir.display()))?,
        None => Templates::embedded(),
    });
    // A channel without credentials is left out; a target on it is then
    // dead-lettered as "no channel configured", never silently dropped.
    let mut channels: BTreeMap<&'static str, Arc<dyn Channel>> = BTreeMap::new();
    if !config.slack.bot_token.expose_secret().is_empty() {
        channels.insert(
            "slack",
            Arc::new(SlackChannel::new(
                config.slack.clone(),
                Arc::clone(&templates),
            )?),
        );
    }
    if !config.teams.webhooks.is_empty() {
        channels.insert(
            "teams",
            Arc::new(TeamsChannel::new(
                config.teams.clone(),
                Arc::clone(&templates),
            )?),
        );
    }
    if !config.email.from.is_empty() {
        channels.insert(
            "email",
            Arc::new(EmailChannel::new(config.email.clone(), templates)?),
        );
    }
    tracing::info!(channels = ?channels.keys().collect::<Vec<_>>(), "delivery channels configured");
    if !config.genesys.client_id.is_empty() {
        let genesys =
            GenesysClient::new(config.genesys.clone()).context("configuring the Genesys client")?;
        channels.insert(
            "coaching",
            Arc::new(CoachingChannel::new(genesys, config.coaching.clone())),
        );
    }
    Ok(channels)
}

/// Starts the notifier with the real clock.
pub async fn start(config: NotifierConfig, shutdown: Shutdown) -> anyhow::Result<RunningNotifier> {
    start_with_clock(config, shutdown, Arc::new(now_millis)).await
}

/// Starts the notifier with an injected clock. Returns once the ledger has
/// caught up, so nothing delivered before is delivered again.
pub async fn start_with_clock(
    config: NotifierConfig,
    shutdown: Shutdown,
    clock: Clock,
) -> anyhow::Result<RunningNotifier> {
    let topology = config.kafka.topology();
    prepare(
        &config.kafka,
        config.ops_addr,
        TOPICS,
        &ProvisionSettings::default(),
        &shutdown,
    )
    .await?;
    let channels = channels(&config)?;
    let codec = Arc::new(AvroCodec::for_url(&config.kafka.schema_registry_url));
    let ledger = Arc::new(DeliveryLedger::default());
    let sink = LedgerSink {
        codec: Arc::clone(&codec),
        ledger: Arc::clone(&ledger),
    };
    let ledger_progress = materialize(
        &config.kafka,
        &topology.topic(&topics::DELIVERY_LEDGER),
        sink,
        shutdown.clone(),
    )
    .await?;
    let intents = Arc::new(DeliveryIntents::default());
    let intents_progress = materialize(
        &config.kafka,
        &topology.topic(&topics::DELIVERY_INTENTS),
        IntentSink {
            codec: Arc::clone(&codec),
            intents: Arc::clone(&intents),
        },
        shutdown.clone(),
    )
    .await?;
    tracing::info!(
        deliveries = ledger.len(),
        unsettled = intents.len(),
        "delivery ledger and intents loaded"
    );

    // No lingering: a delivery waits on its intent before the send and on
    // its ledger record after it.
    let mut producer_config = kafka::producer_config(&config.kafka, config.delivery_timeout);
    if !config.kafka.librdkafka.contains_key("linger.ms") {
        producer_config.set("linger.ms", "0");
    }
    let delivery = Arc::new(Delivery {
        codec,
        channels,
        ledger: Arc::clone(&ledger),
        intents,
        tables: vec![ledger_progress, intents_progress],
        in_progress: KeyLocks::default(),
        // A static member restarted is the same owner; anything else is new.
        owner: config
            .kafka
            .group_instance_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        lease: config.delivery_lease,
        retry: config.retry.clone(),
        topology: topology.clone(),
        clock,
        writer: producer_config.create()?,
        settle_encoders: tokio::sync::OnceCell::new(),
    });
    // The channels are outside Kafka, so no transaction could cover them:
    // the ledger deduplicates instead.
    let guarantee = ProcessingGuarantee::AtLeastOnce;
    let dlq = topology.topic(&topics::NOTIFIER_DLQ);
    let stats = Arc::new(StageStats::new("notifier"));
    let retry_stats = Arc::new(StageStats::new("notifier.delivery-retries"));
    let mut loops = StageLoops::default();
    let alerts = spawn_parallel(
        &config.kafka,
        &topics::ALERTS_ENRICHED,
        producer_config.clone(),
        AlertHandler(Arc::clone(&delivery)),
        RunnerSettings::new("notifier", &dlq, guarantee),
        Arc::clone(&stats),
        shutdown.clone(),
    )?;
    let retries = spawn(
        &config.kafka,
        &topics::DELIVERY_RETRIES,
        producer_config,
        DeliveryRetryHandler(delivery),
        RunnerSettings::new("notifier.delivery-retries", &dlq, guarantee),
        Arc::clone(&retry_stats),
        shutdown,
    )?;
    for handle in alerts {
        loops.push("alerts", handle);
    }
    loops.push("delivery-retries", retries);
    Ok(RunningNotifier {
        stats,
        retry_stats,
        ledger,
        loops,
    })
}
