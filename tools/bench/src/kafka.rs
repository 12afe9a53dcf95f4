//! Kafka-side measurements: the producer alone, and the filter draining a
//! pre-filled raw topic.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use survey_contracts::{AvroCodec, SurveyResponse, topics};
use survey_filter::FilterConfig;
use survey_runtime::config::ProcessingGuarantee;
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{KafkaSettings, Shutdown, kafka};

use crate::load::{Rng, webhook_body};

/// Futures awaited at most at once before more records are enqueued; bounds
/// the bench's memory. librdkafka's own queue (64 MiB) is the other bound.
const MAX_PENDING: usize = 50_000;

/// How a producer run went.
#[derive(Debug, Clone)]
pub struct ProduceResult {
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records that failed.
    pub failed: u64,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
    /// Bytes of each value.
    pub record_bytes: usize,
}

impl ProduceResult {
    /// Acknowledged records per second.
    pub fn per_second(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The production producer settings (`acks=all`, idempotence, linger 5 ms,
/// lz4), with a generous delivery timeout.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer> {
    kafka::producer_config(settings, Duration::from_secs(120))
        .create()
        .context("creating the producer")
}

async fn await_front(pending: &mut VecDeque<DeliveryFuture>, count: usize, failed: &mut u64) {
    for _ in 0..count {
        let Some(delivery) = pending.pop_front() else {
            return;
        };
        if !matches!(delivery.await, Ok(Ok(_))) {
            *failed += 1;
        }
    }
}

/// Enqueues every `(key, value)` with `send_result` and awaits the
/// acknowledgements in bulk.
pub async fn produce_all(
    producer: &FutureProducer,
    topic: &str,
    records: &[(String, Vec<u8>)],
) -> Result<ProduceResult> {
    let started = Instant::now();
    let mut pending: VecDeque<DeliveryFuture> = VecDeque::with_capacity(MAX_PENDING);
    let mut failed = 0u64;
    for (key, value) in records {
        loop {
            match producer.send_result(FutureRecord::to(topic).key(key).payload(value)) {
                Ok(delivery) => {
                    pending.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if pending.is_empty() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        await_front(&mut pending, 1_000, &mut failed).await;
                    }
                }
                Err((err, _)) => bail!("enqueueing to {topic}: {err}"),
            }
        }
        if pending.len() >= MAX_PENDING {
            await_front(&mut pending, MAX_PENDING / 5, &mut failed).await;
        }
    }
    let left = pending.len();
    await_front(&mut pending, left, &mut failed).await;
    Ok(ProduceResult {
        acknowledged: records.len() as u64 - failed,
        failed,
        elapsed: started.elapsed(),
        record_bytes: records.first().map_or(0, |(_, v)| v.len()),
    })
}

/// Measurement 3: `count` records of `record_bytes` (webhook JSON, so lz4
/// compresses them as it would real data) to a fresh 6-partition topic.
pub async fn producer_bench(
    settings: &KafkaSettings,
    count: usize,
    record_bytes: usize,
) -> Result<ProduceResult> {
    provision(
        settings,
        &[topics::SURVEY_RESPONSES_RAW],
        &ProvisionSettings::default(),
    )
    .await?;
    let topic = settings.topology().topic(&topics::SURVEY_RESPONSES_RAW);
    let mut rng = Rng::new(42);
    let records: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let mut value = webhook_body(&format!("p-{i}"), 3, record_bytes, &mut rng);
            value.resize(record_bytes, b' ');
            (format!("p-{i}"), value)
        })
        .collect();
    let producer = producer(settings)?;
    produce_all(&producer, &topic, &records).await
}

/// How the filter run went.
#[derive(Debug, Clone)]
pub struct FilterResult {
    /// Records pre-filled (and to be read).
    pub records: u64,
    /// Of which actionable.
    pub actionable: u64,
    /// Pre-fill speed.
    pub prefill: ProduceResult,
    /// Time `start` took (provisioning, seen-set load).
    pub startup: Duration,
    /// From `start` returning until `records_in_total` reached `records`.
    pub drain: Duration,
    /// `records_in_total` when measured (at least `records` unless timed out).
    pub records_in: u64,
    /// `records_out_total` at the same moment.
    pub records_out: u64,
    /// Whether it gave up before reading everything.
    pub timed_out: bool,
    /// The guarantee the filter was configured with.
    pub guarantee: ProcessingGuarantee,
    /// Sum of the actionable topic's end offsets after the filter stopped.
    /// Transaction commit markers take offsets too, so an end offset above
    /// the actionable count shows that transactions were written.
    pub actionable_end_offsets: Option<i64>,
    /// 1-minute load average at the end.
    pub load: String,
    /// CPU used on the machine during the drain.
    pub cpu: crate::cpu::CpuUse,
}

impl FilterResult {
    /// Records read per second.
    pub fn per_second(&self) -> f64 {
        self.records_in as f64 / self.drain.as_secs_f64().max(1e-9)
    }
}

/// Measurement 4: pre-fill the raw topic with `count` encoded responses
/// (every fifth actionable), start the filter and time it reading them all.
pub async fn filter_bench(
    settings: &KafkaSettings,
    guarantee: ProcessingGuarantee,
    count: usize,
    timeout: Duration,
) -> Result<FilterResult> {
    let settings = &KafkaSettings {
        processing_guarantee: guarantee,
        ..settings.clone()
    };
    let config = FilterConfig {
        kafka: settings.clone(),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..FilterConfig::default()
    };
    provision(
        settings,
        survey_filter::app::TOPICS,
        &ProvisionSettings {
            dedup_window: config.dedup_window,
        },
    )
    .await?;
    let topic = settings.topology().topic(&topics::SURVEY_RESPONSES_RAW);
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let now = survey_runtime::now_millis();
    let mut records = Vec::with_capacity(count);
    let mut actionable = 0u64;
    for i in 0..count {
        let low = i % 5 == 0;
        actionable += u64::from(low);
        let response = SurveyResponse {
            response_id: format!("f-{i}"),
            event: "survey.response.created".to_owned(),
            survey_id: Some("6f1c2a4e-8d3b-4f7a-9e21-5b0c7d9a3e11".to_owned()),
            interaction_id: format!("c-{i}"),
            submitted_at: now - 1_000,
            received_at: now,
            csat: if low { 1 } else { 3 + (i % 3) as i32 },
            comment: Some("The agent answered quickly and explained my bill.".to_owned()),
            other_answers: std::collections::BTreeMap::new(),
            queue_id: Some("2b7e8f4c-1a9d-4c3e-8f6a-0d5b9c7e2a41".to_owned()),
            agent_id: Some("9a4d6c2e-7f1b-4e8a-b3c5-1d0e9f8a7b62".to_owned()),
            agent_name: Some("Jane Doe".to_owned()),
        };
        let value = codec
            .encode(&topic, &response)
            .await
            .context("encoding a survey response")?;
        records.push((response.response_id, value));
    }
    let prefill = produce_all(&producer(settings)?, &topic, &records).await?;
    drop(records);

    let shutdown = Shutdown::new();
    let started = Instant::now();
    let filter = survey_filter::start(config, shutdown.clone()).await?;
    let startup = started.elapsed();
    let running = Instant::now();
    let cpu_before = crate::cpu::Snapshot::take();
    let target = count as u64;
    let mut timed_out = false;
    while filter.stats.records_in_total() < target {
        if running.elapsed() > timeout {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = running.elapsed();
    let cpu = cpu_before.until(&crate::cpu::Snapshot::take());
    let records_in = filter.stats.records_in_total();
    let records_out = filter.stats.records_out_total();
    shutdown.trigger();
    if let Err(err) = filter.wait().await {
        eprintln!("survey-bench: the filter stopped with an error: {err:#}");
    }
    let actionable_topic = settings
        .topology()
        .topic(&topics::SURVEY_RESPONSES_ACTIONABLE);
    let actionable_end_offsets = end_offsets(settings, &actionable_topic).await.ok();
    Ok(FilterResult {
        records: target,
        actionable,
        prefill,
        startup,
        drain,
        records_in,
        records_out,
        timed_out,
        guarantee,
        actionable_end_offsets,
        load: crate::report::load_average(),
        cpu,
    })
}

/// The sum of `topic`'s high watermarks.
pub async fn end_offsets(settings: &KafkaSettings, topic: &str) -> Result<i64> {
    let consumer: BaseConsumer = kafka::consumer_config(settings, "bench-watermarks")
        .create()
        .context("creating a metadata client")?;
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || -> Result<i64> {
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let mut total = 0;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (_, high) =
                    consumer.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?;
                total += high;
            }
        }
        Ok(total)
    })
    .await
    .context("the watermark reader panicked")?
}
