//! End to end, and memory: the four services as their own processes (the
//! release binaries) against one broker and the in-process sandbox. Webhooks
//! go to ingest at a constant rate; each body's `submittedAt` is its
//! intended send time, and an alert's latency runs from there to the Slack
//! fake receiving its message. Each process's memory is sampled meanwhile.
//!
//! Then the backlog: a million small raw records are produced while no
//! filter runs, and a filter process is started and sampled while it drains
//! them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use survey_contracts::{AvroCodec, SurveyResponse, topics};
use survey_runtime::KafkaSettings;
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_sandbox::{Sandbox, SlackMethod, demo};

use crate::load::{SignedBody, StepResult, StepSettings, run_generated_step};
use crate::procs::{Memory, ServiceProcess, kafka_toml};
use crate::stages;

/// Memory of one service over a measurement.
#[derive(Debug, Clone)]
pub struct ServiceMemory {
    /// The service.
    pub name: &'static str,
    /// After start-up, before load.
    pub idle: Memory,
    /// Highest `VmRSS` sampled during the measured load.
    pub peak_rss_kib: u64,
    /// At the end of the measured load.
    pub end: Memory,
}

/// What the end-to-end run measured.
#[derive(Debug, Clone)]
pub struct EndToEnd {
    /// Offered webhooks per second.
    pub rate: u64,
    /// Every `actionable_every`th webhook has CSAT 1.
    pub actionable_every: u64,
    /// The ingest side of the load.
    pub step: StepResult,
    /// Actionable webhooks accepted in the measured step.
    pub expected: u64,
    /// Submitted-to-Slack latencies of the delivered ones, ms, sorted.
    pub latencies_ms: Vec<u64>,
    /// How long after the load the last delivery was awaited.
    pub drain_wait: Duration,
    /// Per service.
    pub memory: Vec<ServiceMemory>,
    /// Where the time went, per hop (from the records' own timestamps).
    pub hops: Vec<Hop>,
    /// Load average at the end.
    pub load: String,
}

/// One hop of the pipeline: milliseconds per alert, sorted.
#[derive(Debug, Clone)]
pub struct Hop {
    /// What the hop spans.
    pub name: &'static str,
    /// Per alert, ms, sorted.
    pub ms: Vec<u64>,
}

impl Hop {
    /// The `q` quantile, ms.
    pub fn percentile_ms(&self, q: f64) -> u64 {
        crate::load::percentile(&self.ms, q)
    }
}

/// Every record of `topic` from the beginning, until none came for `idle`
/// (or `bound` passed).
async fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
    idle: Duration,
    bound: Duration,
) -> Result<Vec<Vec<u8>>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = survey_runtime::kafka::consumer_config(
        settings,
        &format!("{}bench-hops-{}", settings.topic_prefix, topic.len()),
    )
    .set("enable.auto.commit", "false")
    .create()?;
    consumer.subscribe(&[topic])?;
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut last = Instant::now();
        let mut out = Vec::new();
        while started.elapsed() < bound && (out.is_empty() || last.elapsed() < idle) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                if let Some(payload) = message.payload() {
                    out.push(payload.to_vec());
                }
                last = Instant::now();
            }
        }
        out
    })
    .await
    .map_err(Into::into)
}

/// Splits each delivered alert's latency into hops: ingest (`submittedAt`
/// to ingest's `receivedAt`), filter (to `filteredAt`), enricher (to
/// `issuedAt`), notifier (to the Slack fake).
async fn hops(
    kafka: &KafkaSettings,
    prefix: &str,
    delivered: &HashMap<String, chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<Hop>> {
    let codec = AvroCodec::for_url(&kafka.schema_registry_url);
    let topology = kafka.topology();
    let idle = Duration::from_secs(3);
    let bound = Duration::from_secs(60);
    let mut filtered = HashMap::new();
    for bytes in read_topic(
        kafka,
        &topology.topic(&topics::SURVEY_RESPONSES_ACTIONABLE),
        idle,
        bound,
    )
    .await?
    {
        let survey: survey_contracts::ActionableSurvey = codec.decode(&bytes).await?;
        if survey.survey.response_id.starts_with(prefix) {
            filtered.insert(survey.survey.response_id, survey.filtered_at);
        }
    }
    let mut hops: Vec<Hop> = [
        "webhook → ingest (submittedAt → receivedAt)",
        "filter (→ filteredAt)",
        "enricher (→ issuedAt)",
        "notifier (→ Slack fake)",
    ]
    .into_iter()
    .map(|name| Hop {
        name,
        ms: Vec::new(),
    })
    .collect();
    for bytes in read_topic(
        kafka,
        &topology.topic(&topics::ALERTS_ENRICHED),
        idle,
        bound,
    )
    .await?
    {
        let alert: survey_contracts::EnrichedAlert = codec.decode(&bytes).await?;
        let id = &alert.survey.response_id;
        let (Some(&filtered_at), Some(slack)) = (filtered.get(id), delivered.get(id)) else {
            continue;
        };
        if alert.revision != 1 {
            continue;
        }
        let points = [
            alert.survey.submitted_at,
            alert.survey.received_at,
            filtered_at,
            alert.issued_at,
            slack.timestamp_millis(),
        ];
        for (hop, pair) in hops.iter_mut().zip(points.windows(2)) {
            hop.ms.push(u64::try_from(pair[1] - pair[0]).unwrap_or(0));
        }
    }
    for hop in &mut hops {
        hop.ms.sort_unstable();
    }
    Ok(hops)
}

impl EndToEnd {
    /// The `q` quantile of the latencies, ms.
    pub fn percentile_ms(&self, q: f64) -> u64 {
        crate::load::percentile(&self.latencies_ms, q)
    }
}

/// Where the service binaries are and where their logs go.
#[derive(Debug, Clone)]
pub struct Binaries<'a> {
    /// `target/release`.
    pub bin_dir: &'a Path,
    /// Their logs and config files.
    pub log_dir: &'a Path,
}

fn sandbox_toml(sandbox: &Sandbox) -> String {
    format!(
        "[genesys]\napi_url = \"{base}\"\nlogin_url = \"{base}\"\nclient_id = \"survey-alerts-demo\"\n\
         client_secret = \"demo-client-secret\"\nrequests_per_minute = {rpm}\n",
        base = sandbox.base_url(),
        rpm = stages::BENCH_GENESYS_RPM
    )
}

/// Starts ingest, filter, enricher and notifier (in that order of readiness).
async fn start_services(
    bins: &Binaries<'_>,
    kafka: &KafkaSettings,
    sandbox: &Sandbox,
    secret: &str,
    routing: &Path,
) -> Result<(Vec<ServiceProcess>, std::net::SocketAddr)> {
    let kafka_section = kafka_toml(kafka, true);
    let listen = crate::procs::free_addr()?;
    let ingest =
        format!("listen_addr = \"{listen}\"\n{kafka_section}[auth]\nwebhook_secret = {secret:?}\n");
    let filter = kafka_section.clone();
    let enricher = format!(
        "routing_file = {:?}\n{kafka_section}{}",
        routing.display().to_string(),
        sandbox_toml(sandbox)
    );
    let notifier = format!(
        "{kafka_section}{genesys}[slack]\napi_url = \"{base}/api\"\nbot_token = {token:?}\n\
         min_interval_per_channel = \"0s\"\n[teams.webhooks]\n{teams} = \"{base}/teams/{teams}\"\n\
         [email]\nsmtp_host = \"{smtp_host}\"\nsmtp_port = {smtp_port}\ntls = false\nfrom = \"survey-alerts@example.com\"\n",
        genesys = sandbox_toml(sandbox),
        base = sandbox.base_url(),
        token = survey_demo::SLACK_TOKEN,
        teams = stages::TEAMS_WEBHOOK,
        smtp_host = sandbox.smtp_addr().ip(),
        smtp_port = sandbox.smtp_addr().port(),
    );
    let mut running = Vec::new();
    for (name, config) in [
        ("ingest", ingest),
        ("filter", filter),
        ("enricher", enricher),
        ("notifier", notifier),
    ] {
        match ServiceProcess::start(
            bins.bin_dir,
            bins.log_dir,
            name,
            &config,
            Duration::from_secs(120),
        )
        .await
        {
            Ok(process) => running.push(process),
            Err(err) => {
                for process in running {
                    let _ = process.stop();
                }
                return Err(err);
            }
        }
    }
    Ok((running, listen))
}

/// The response id of the `n`th webhook of the run.
fn response_id(run: &str, phase: char, n: u64) -> String {
    format!("{run}{phase}{n:08}")
}

/// A signed webhook about the demo's voice conversation, `submittedAt` now;
/// every `actionable_every`th has CSAT 1, the rest 4 or 5, with a neutral
/// comment.
fn body(id: &str, n: u64, actionable_every: u64, secret: &str) -> (SignedBody, i64) {
    let csat = if n.is_multiple_of(actionable_every) {
        1
    } else {
        4 + (n % 2) as i64
    };
    let value = survey_demo::samples::webhook(
        id,
        demo::VOICE_CONVERSATION_ID,
        csat,
        Some("The agent answered quickly and explained my bill."),
        Some((demo::AGENT_PRIYA_ID, "Priya Nair")),
    );
    let submitted_at = value["data"]["submittedAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp_millis());
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let signature = survey_ingest::auth::sign(secret, &bytes);
    (
        SignedBody {
            bytes: bytes.into(),
            signature,
        },
        submitted_at,
    )
}

/// Measurement: end to end at `rate` webhooks/s for `duration` (after a
/// warm-up of a few seconds at the same rate, not counted), then waits up to
/// `drain_bound` for the last alert.
#[allow(clippy::too_many_arguments)]
pub async fn end_to_end(
    bins: &Binaries<'_>,
    kafka: &KafkaSettings,
    client: &reqwest::Client,
    secret: &str,
    run: &str,
    rate: u64,
    duration: Duration,
    drain_bound: Duration,
) -> Result<EndToEnd> {
    let sandbox = stages::sandbox().await?;
    let routing = stages::routing_file(&kafka.topic_prefix)?;
    let result = match start_services(bins, kafka, &sandbox, secret, &routing).await {
        Ok((services, listen)) => {
            let url = format!("http://{listen}/webhooks/survey");
            let measured = drive(
                kafka,
                &services,
                &sandbox,
                client,
                &url,
                secret,
                run,
                rate,
                duration,
                drain_bound,
            )
            .await;
            for process in services {
                let name = process.name;
                if let Err(err) = process.stop() {
                    eprintln!("survey-bench: stopping {name}: {err:#}");
                }
            }
            measured
        }
        Err(err) => Err(err),
    };
    let _ = std::fs::remove_file(&routing);
    sandbox.shutdown().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    kafka: &KafkaSettings,
    services: &[ServiceProcess],
    sandbox: &Sandbox,
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    run: &str,
    rate: u64,
    duration: Duration,
    drain_bound: Duration,
) -> Result<EndToEnd> {
    const ACTIONABLE_EVERY: u64 = 5;
    let idle: Vec<Memory> = services
        .iter()
        .map(|p| p.memory().unwrap_or_default())
        .collect();
    let settings = |duration| StepSettings {
        rate,
        duration,
        max_in_flight: 1024,
        timeout: Duration::from_secs(5),
    };
    // Warm-up: connections, schema ids, token, caches. Its alerts are
    // delivered but not counted.
    let secret_owned = secret.to_owned();
    let run_owned = run.to_owned();
    run_generated_step(client, url, settings(Duration::from_secs(3)), |n| {
        body(
            &response_id(&run_owned, 'w', n),
            n,
            ACTIONABLE_EVERY,
            &secret_owned,
        )
        .0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Sample memory every 250 ms while the measured load runs.
    let sampling = Arc::new(AtomicBool::new(true));
    let pids: Vec<u32> = services.iter().map(ServiceProcess::pid).collect();
    let sampler = {
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut peaks = vec![0u64; pids.len()];
            while sampling.load(Ordering::Relaxed) {
                for (peak, pid) in peaks.iter_mut().zip(&pids) {
                    if let Some(memory) = Memory::of(*pid) {
                        *peak = (*peak).max(memory.rss_kib);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            peaks
        })
    };
    let mut submitted: HashMap<String, i64> = HashMap::new();
    let step = run_generated_step(client, url, settings(duration), |n| {
        let id = response_id(&run_owned, 'm', n);
        let (body, submitted_at) = body(&id, n, ACTIONABLE_EVERY, &secret_owned);
        if n.is_multiple_of(ACTIONABLE_EVERY) {
            submitted.insert(id, submitted_at);
        }
        body
    })
    .await;
    sampling.store(false, Ordering::Relaxed);
    let peaks = sampler.await.unwrap_or_default();
    let end: Vec<Memory> = services
        .iter()
        .map(|p| p.memory().unwrap_or_default())
        .collect();

    // Wait for every measured actionable webhook's Slack message.
    let expected = submitted.len() as u64;
    let state = sandbox.state();
    let prefix = format!("{run}m");
    let waiting = Instant::now();
    let delivered_ids = || -> HashMap<String, chrono::DateTime<chrono::Utc>> {
        let mut first = HashMap::new();
        for message in state.slack_messages() {
            if !matches!(message.method, SlackMethod::PostMessage) {
                continue;
            }
            let text = message.body.to_string();
            if let Some(at) = text.find(&prefix) {
                let id: String = text[at..].chars().take(prefix.len() + 8).collect();
                first.entry(id).or_insert(message.received_at);
            }
        }
        first
    };
    let mut delivered = delivered_ids();
    while (delivered.len() as u64) < expected && waiting.elapsed() < drain_bound {
        tokio::time::sleep(Duration::from_millis(500)).await;
        delivered = delivered_ids();
    }
    let drain_wait = waiting.elapsed();
    let mut latencies_ms: Vec<u64> = delivered
        .iter()
        .filter_map(|(id, at)| {
            let submitted_at = submitted.get(id)?;
            u64::try_from(at.timestamp_millis() - submitted_at).ok()
        })
        .collect();
    latencies_ms.sort_unstable();
    let hops = match hops(kafka, &prefix, &delivered).await {
        Ok(hops) => hops,
        Err(err) => {
            eprintln!("survey-bench: e2e: reading the hops failed: {err:#}");
            Vec::new()
        }
    };
    let memory = services
        .iter()
        .zip(idle)
        .zip(peaks.iter().copied().chain(std::iter::repeat(0)))
        .zip(end)
        .map(|(((p, idle), peak), end)| ServiceMemory {
            name: p.name,
            idle,
            peak_rss_kib: peak,
            end,
        })
        .collect();
    Ok(EndToEnd {
        rate,
        actionable_every: ACTIONABLE_EVERY,
        step,
        expected,
        latencies_ms,
        drain_wait,
        memory,
        hops,
        load: crate::report::load_average(),
    })
}

/// What the backlog measurement saw.
#[derive(Debug, Clone)]
pub struct Backlog {
    /// Records produced with no filter running.
    pub records: u64,
    /// Of the records asked for (fewer when the pre-fill hit its bound).
    pub asked: u64,
    /// How the pre-fill went.
    pub prefill_secs: f64,
    /// Bytes per Avro value.
    pub record_bytes: usize,
    /// Records the filter read before it stopped being measured.
    pub drained: u64,
    /// From the filter's readiness to `drained`.
    pub drain_secs: f64,
    /// Whether the drain hit its time bound.
    pub timed_out: bool,
    /// The filter's memory when ready (before reading).
    pub idle: Memory,
    /// `(records read, VmRSS KiB)` samples during the drain.
    pub samples: Vec<(u64, u64)>,
    /// `VmHWM` at the end.
    pub hwm_kib: u64,
    /// Load average at the end.
    pub load: String,
}

/// Measurement: `count` small raw records produced (in chunks, bounded by
/// `prefill_bound`), then a filter process drains them (bounded by
/// `drain_bound`) while its memory is sampled.
pub async fn backlog(
    bins: &Binaries<'_>,
    kafka: &KafkaSettings,
    count: u64,
    prefill_bound: Duration,
    drain_bound: Duration,
) -> Result<Backlog> {
    provision(
        kafka,
        survey_filter::app::TOPICS,
        &ProvisionSettings::default(),
    )
    .await?;
    let topic = kafka.topology().topic(&topics::SURVEY_RESPONSES_RAW);
    let codec = AvroCodec::for_url(&kafka.schema_registry_url);
    let producer = crate::kafka::producer(kafka)?;
    let now = survey_runtime::now_millis();
    let started = Instant::now();
    let mut produced = 0u64;
    let mut record_bytes = 0;
    const CHUNK: u64 = 50_000;
    while produced < count && started.elapsed() < prefill_bound {
        let mut chunk = Vec::with_capacity(CHUNK as usize);
        for i in produced..(produced + CHUNK).min(count) {
            let response = SurveyResponse {
                response_id: format!("b{i}"),
                event: "survey.response.created".to_owned(),
                survey_id: None,
                interaction_id: format!("c{i}"),
                submitted_at: now - 1_000,
                received_at: now,
                csat: if i % 5 == 0 { 1 } else { 4 },
                comment: None,
                other_answers: std::collections::BTreeMap::new(),
                queue_id: None,
                agent_id: None,
                agent_name: None,
            };
            let value = codec.encode(&topic, &response).await?;
            record_bytes = value.len();
            chunk.push((response.response_id, value));
        }
        let result = crate::kafka::produce_all(&producer, &topic, &chunk).await?;
        produced += result.acknowledged;
    }
    let prefill_secs = started.elapsed().as_secs_f64();
    drop(producer);

    let filter = ServiceProcess::start(
        bins.bin_dir,
        bins.log_dir,
        "filter",
        &kafka_toml(kafka, true),
        Duration::from_secs(120),
    )
    .await?;
    let idle = filter.memory().unwrap_or_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let draining = Instant::now();
    let mut samples = Vec::new();
    let mut drained = 0u64;
    let mut timed_out = false;
    loop {
        let read = filter
            .counter(
                &http,
                survey_runtime::metrics::names::RECORDS_IN,
                "stage=\"filter\"",
            )
            .await
            .unwrap_or(0.0) as u64;
        drained = drained.max(read);
        if let Some(memory) = filter.memory() {
            samples.push((drained, memory.rss_kib));
        }
        if drained >= produced {
            break;
        }
        if draining.elapsed() > drain_bound {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain_secs = draining.elapsed().as_secs_f64();
    let hwm_kib = filter.memory().map_or(0, |m| m.hwm_kib);
    filter.stop()?;
    Ok(Backlog {
        records: produced,
        asked: count,
        prefill_secs,
        record_bytes,
        drained,
        drain_secs,
        timed_out,
        idle,
        samples,
        hwm_kib,
        load: crate::report::load_average(),
    })
}
