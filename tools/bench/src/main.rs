//! `survey-bench`: measures ingest under open-model load (next to a no-Kafka
//! baseline and a Python peer), the Kafka producer alone, each stage (filter
//! at-least-once and exactly-once, enricher, notifier), the pipeline end to
//! end and the services' memory, against a real broker and registry, and
//! writes the figures to `docs/BENCHMARKS.md` and `docs/bench/*.svg`.
//!
//! Run it through `cargo xtask bench`, which starts the local stack if needed
//! and builds this crate in release mode. Not part of the test run.

mod cpu;
mod e2e;
mod kafka;
mod load;
mod peer;
mod procs;
mod report;
mod servers;
mod stages;
mod svg;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use survey_runtime::KafkaSettings;
use survey_runtime::config::ProcessingGuarantee;

use crate::load::{StepResult, StepSettings};
use crate::servers::{Kind, Server};

/// Command line.
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Benchmarks ingest, a Python peer, the Kafka producer, each stage, the pipeline end to end and memory"
)]
pub struct Args {
    /// Brokers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:19092"
    )]
    pub bootstrap_servers: String,
    /// Confluent-compatible registry URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:18081/apis/ccompat/v7"
    )]
    pub schema_registry_url: String,
    /// Request rates of the load steps, requests per second, ascending.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,2000,5000,10000,15000,20000,25000,30000,40000,50000,60000"
    )]
    pub rates: Vec<u64>,
    /// Seconds per load step.
    #[arg(long, default_value_t = 10)]
    pub step_secs: u64,
    /// Most requests (connections) in flight at once.
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Request timeout from the intended start, milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Records of the producer measurement.
    #[arg(long, default_value_t = 200_000)]
    pub producer_records: usize,
    /// Bytes per record of the producer measurement.
    #[arg(long, default_value_t = 1024)]
    pub record_bytes: usize,
    /// Records of the filter measurement.
    #[arg(long, default_value_t = 100_000)]
    pub filter_records: usize,
    /// Measurements to run: ingest, baseline, peer, producer, filter,
    /// enricher, notifier (needs enricher), e2e, backlog.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,baseline,peer,producer,filter,enricher,notifier,e2e,backlog"
    )]
    pub only: Vec<String>,
    /// The peer's Python (of a venv with tools/bench/peer/requirements.txt);
    /// `cargo xtask bench` makes one. Without it the peer is not run.
    #[arg(long, env = "BENCH_PEER_PYTHON")]
    pub peer_python: Option<PathBuf>,
    /// uvicorn workers of the peer (default: all cores).
    #[arg(long)]
    pub peer_workers: Option<usize>,
    /// Where the service binaries are (release build).
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// Logs and configuration files of the processes the bench starts.
    #[arg(long, default_value = "target/bench-logs")]
    pub log_dir: PathBuf,
    /// Actionable surveys pre-filled for the enricher.
    #[arg(long, default_value_t = 2000)]
    pub enricher_alerts: usize,
    /// Genesys API latency the sandbox adds to every API answer, ms.
    #[arg(long, default_value_t = 20)]
    pub api_latency_ms: u64,
    /// Time bound of the enricher and notifier drains, seconds.
    #[arg(long, default_value_t = 30)]
    pub stage_secs: u64,
    /// Enriched alerts pre-filled for the notifier.
    #[arg(long, default_value_t = 2000)]
    pub notifier_alerts: usize,
    /// End-to-end webhook rate, per second (the goal's rate).
    #[arg(long, default_value_t = 1000)]
    pub e2e_rate: u64,
    /// A second, light end-to-end rate, per second, run after the first: the
    /// pipeline's latency when the cores are not the bottleneck (0: skip).
    #[arg(long, default_value_t = 100)]
    pub e2e_light_rate: u64,
    /// End-to-end measured seconds (after a 3 s warm-up).
    #[arg(long, default_value_t = 20)]
    pub e2e_secs: u64,
    /// How long to wait for the last end-to-end delivery, seconds.
    #[arg(long, default_value_t = 60)]
    pub e2e_drain_secs: u64,
    /// Raw records of the backlog measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub backlog_records: u64,
    /// Time bound of the backlog pre-fill, seconds.
    #[arg(long, default_value_t = 90)]
    pub backlog_prefill_secs: u64,
    /// Time bound of the backlog drain, seconds.
    #[arg(long, default_value_t = 150)]
    pub backlog_drain_secs: u64,
    /// librdkafka properties (`key=value`, comma-separated) passed to ingest
    /// on top of its own, to try a setting (none by default: the measured
    /// settings are the service's).
    #[arg(long, value_delimiter = ',')]
    pub ingest_librdkafka: Vec<String>,
    /// librdkafka properties (`key=value`, comma-separated) passed to the
    /// filter (both modes and the backlog) on top of its own.
    #[arg(long, value_delimiter = ',')]
    pub filter_librdkafka: Vec<String>,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub out: PathBuf,
    /// Runtime worker threads of the server under load (default: all cores).
    #[arg(long)]
    pub server_threads: Option<usize>,
    /// How the stack was provided, for the report.
    #[arg(
        long,
        env = "BENCH_STACK_NOTE",
        default_value = "given by the environment"
    )]
    pub stack_note: String,
}

/// An HTTP load series: one result per step, stopping at the first failing
/// step.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// The steps run.
    pub steps: Vec<StepResult>,
    /// Load average (1 / 5 / 15 min) after the series.
    pub load: String,
}

impl Series {
    /// The highest accepted throughput among steps that held (at most 1 %
    /// failures, p99 at most 1 s).
    pub fn max_sustained(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| holds(s))
            .map(StepResult::throughput)
            .reduce(f64::max)
    }

    /// The held step with the highest accepted throughput.
    pub fn best_held(&self) -> Option<&StepResult> {
        self.steps
            .iter()
            .filter(|s| holds(s))
            .max_by(|a, b| a.throughput().total_cmp(&b.throughput()))
    }

    /// The step at `rate`, if run.
    pub fn at(&self, rate: u64) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.settings.rate == rate)
    }
}

/// Whether a step held: at most 1 % failures and p99 at most 1 s.
pub fn holds(step: &StepResult) -> bool {
    step.error_ratio() <= 0.01 && step.percentile_ms(0.99) <= 1000.0
}

/// Everything measured, for the report.
#[derive(Debug, Default)]
pub struct Results {
    /// Measurement 1.
    pub ingest: Option<Series>,
    /// Measurement 2.
    pub baseline: Option<Series>,
    /// The Python peer under the same load.
    pub peer: Option<Series>,
    /// The peer's versions.
    pub peer_versions: String,
    /// Measurement 3.
    pub producer: Option<kafka::ProduceResult>,
    /// Load average after measurement 3.
    pub producer_load: String,
    /// Measurement 4, at-least-once.
    pub filter: Option<kafka::FilterResult>,
    /// Measurement 4, exactly-once.
    pub filter_txn: Option<kafka::FilterResult>,
    /// The enricher against the sandbox with API latency, at-least-once.
    pub enricher: Option<stages::DrainResult>,
    /// The same, exactly-once.
    pub enricher_txn: Option<stages::DrainResult>,
    /// The notifier against the sandbox's Slack and Teams fakes.
    pub notifier: Option<stages::DrainResult>,
    /// End to end at the goal's rate, with per-process memory.
    pub e2e: Option<e2e::EndToEnd>,
    /// End to end at the light rate.
    pub e2e_light: Option<e2e::EndToEnd>,
    /// CPU used by the machine at rest, before the first measurement.
    pub idle_cpu: cpu::CpuUse,
    /// The filter's memory under a backlog.
    pub backlog: Option<e2e::Backlog>,
    /// Measurements that failed, with the error.
    pub failures: Vec<(String, String)>,
    /// The topic prefix of the run.
    pub prefix: String,
}

const SECRET: &str = "bench-secret";

/// Ingest's and the filter's allocator, so that they run in this process as in
/// their own binaries (the enricher and notifier, measured here too, are bound
/// by their external calls, not by allocation).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let run_id = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let prefix = format!("bench{run_id}.");
    let settings = |name: &str| KafkaSettings {
        bootstrap_servers: args.bootstrap_servers.clone(),
        schema_registry_url: args.schema_registry_url.clone(),
        topic_prefix: format!("{prefix}{name}."),
        ..KafkaSettings::default()
    };
    let wants = |name: &str| args.only.iter().any(|o| o == name);
    // What the machine uses doing nothing (the broker and registry idle), so that
    // per-request CPU costs can leave it out.
    let idle_cpu = {
        let before = cpu::Snapshot::take();
        tokio::time::sleep(Duration::from_secs(3)).await;
        before.until(&cpu::Snapshot::take())
    };
    println!(
        "survey-bench: idle machine: CPU {:.1} % busy ({})",
        idle_cpu.busy_share * 100.0,
        idle_cpu.breakdown()
    );
    let mut results = Results {
        prefix: prefix.clone(),
        idle_cpu,
        ..Results::default()
    };
    let server_threads = args.server_threads.unwrap_or(cores);

    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.max_in_flight)
        .timeout(Duration::from_millis(args.timeout_ms))
        .build()
        .context("building the HTTP client")?;
    let bodies = Arc::new(load::signed_bodies(SECRET, 4096, &run_id));

    for (name, kind) in [
        (
            "ingest",
            Kind::Ingest(with_passthrough(
                settings("ingest"),
                &args.ingest_librdkafka,
            )),
        ),
        ("baseline", Kind::Baseline),
    ] {
        if !wants(name) {
            continue;
        }
        println!("survey-bench: {name}: starting the server");
        let started =
            tokio::task::spawn_blocking(move || Server::start(kind, SECRET, server_threads))
                .await
                .context("the server start panicked")
                .and_then(|r| r);
        let outcome = match started {
            Ok(server) => {
                let url = format!("http://{}/webhooks/survey", server.addr);
                let series = load_series(&args, &client, &bodies, &url).await;
                tokio::task::spawn_blocking(move || server.stop())
                    .await
                    .context("the server stop panicked")
                    .and_then(|r| r)
                    .map(|()| series)
            }
            Err(err) => Err(err),
        };
        match outcome {
            Ok(series) if name == "ingest" => results.ingest = Some(series),
            Ok(series) => results.baseline = Some(series),
            Err(err) => fail(&mut results, name, &err),
        }
    }

    if wants("peer") {
        match &args.peer_python {
            Some(python) => {
                results.peer_versions = peer::versions(python);
                println!("survey-bench: peer: {}", results.peer_versions);
                let workers = args.peer_workers.unwrap_or(cores);
                match peer::Peer::start(
                    python,
                    std::path::Path::new("tools/bench/peer"),
                    &args.log_dir,
                    &settings("peer"),
                    SECRET,
                    workers,
                )
                .await
                {
                    Ok(peer) => {
                        let url = format!("http://{}/webhooks/survey", peer.addr);
                        let series = load_series(&args, &client, &bodies, &url).await;
                        tokio::task::spawn_blocking(move || peer.stop()).await.ok();
                        results.peer = Some(series);
                    }
                    Err(err) => fail(&mut results, "peer", &err),
                }
            }
            None => fail(
                &mut results,
                "peer",
                &anyhow::anyhow!("no --peer-python (cargo xtask bench makes the venv)"),
            ),
        }
    }

    if wants("producer") {
        println!(
            "survey-bench: producer: {} records of {} B",
            args.producer_records, args.record_bytes
        );
        match kafka::producer_bench(
            &settings("producer"),
            args.producer_records,
            args.record_bytes,
        )
        .await
        {
            Ok(result) => {
                results.producer_load = report::load_average();
                println!(
                    "survey-bench: producer: {:.0} records/s ({} failed) [load {}]",
                    result.per_second(),
                    result.failed,
                    results.producer_load
                );
                results.producer = Some(result);
            }
            Err(err) => fail(&mut results, "producer", &err),
        }
    }

    if wants("filter") {
        for (name, guarantee) in [
            ("filter-alo", ProcessingGuarantee::AtLeastOnce),
            ("filter-eos", ProcessingGuarantee::ExactlyOnce),
        ] {
            println!(
                "survey-bench: {name}: {} records, {guarantee:?}",
                args.filter_records
            );
            match kafka::filter_bench(
                &with_passthrough(settings(name), &args.filter_librdkafka),
                guarantee,
                args.filter_records,
                Duration::from_secs(180),
            )
            .await
            {
                Ok(result) => {
                    println!(
                        "survey-bench: {name}: {:.0} events/s ({} read, {} out, actionable end offsets {:?} for {} actionable) [load {}]",
                        result.per_second(),
                        result.records_in,
                        result.records_out,
                        result.actionable_end_offsets,
                        result.actionable,
                        result.load
                    );
                    if guarantee == ProcessingGuarantee::AtLeastOnce {
                        results.filter = Some(result);
                    } else {
                        results.filter_txn = Some(result);
                    }
                }
                Err(err) => fail(&mut results, name, &err),
            }
        }
    }

    let stage_bound = Duration::from_secs(args.stage_secs);
    if wants("enricher") {
        for (name, guarantee) in [
            ("enricher-alo", ProcessingGuarantee::AtLeastOnce),
            ("enricher-eos", ProcessingGuarantee::ExactlyOnce),
        ] {
            println!(
                "survey-bench: {name}: {} alerts, API latency {} ms, {guarantee:?}",
                args.enricher_alerts, args.api_latency_ms
            );
            let settings = KafkaSettings {
                processing_guarantee: guarantee,
                ..settings(name)
            };
            match stages::enricher_bench(
                &settings,
                args.enricher_alerts,
                Duration::from_millis(args.api_latency_ms),
                stage_bound,
            )
            .await
            {
                Ok(result) => {
                    println!(
                        "survey-bench: {name}: {:.1} alerts/s ({} of {} in {:.1} s, {} Genesys API calls) [load {}]",
                        result.per_second(),
                        result.completed,
                        result.records,
                        result.elapsed.as_secs_f64(),
                        result.genesys_calls,
                        result.load
                    );
                    if guarantee == ProcessingGuarantee::AtLeastOnce {
                        results.enricher = Some(result);
                    } else {
                        results.enricher_txn = Some(result);
                    }
                }
                Err(err) => fail(&mut results, name, &err),
            }
        }
    }

    if wants("notifier") {
        println!("survey-bench: notifier: {} alerts", args.notifier_alerts);
        match stages::notifier_bench(
            &settings("notifier"),
            &settings("enricher-alo"),
            args.notifier_alerts,
            stage_bound,
        )
        .await
        {
            Ok(result) => {
                println!(
                    "survey-bench: notifier: {:.1} deliveries/s ({} deliveries, {} alerts read, in {:.1} s) [load {}]",
                    result.per_second(),
                    result.completed,
                    result.records_in,
                    result.elapsed.as_secs_f64(),
                    result.load
                );
                results.notifier = Some(result);
            }
            Err(err) => fail(&mut results, "notifier", &err),
        }
    }

    let bins = e2e::Binaries {
        bin_dir: &args.bin_dir,
        log_dir: &args.log_dir,
    };
    let e2e_runs = [(args.e2e_rate, "e2e"), (args.e2e_light_rate, "e2e-light")];
    for (rate, name) in e2e_runs.into_iter().filter(|(rate, _)| *rate > 0) {
        if !wants("e2e") {
            break;
        }
        println!(
            "survey-bench: e2e: {rate} webhooks/s for {} s, four service processes",
            args.e2e_secs
        );
        match e2e::end_to_end(
            &bins,
            &settings(name),
            &client,
            SECRET,
            &run_id,
            rate,
            Duration::from_secs(args.e2e_secs),
            Duration::from_secs(args.e2e_drain_secs),
        )
        .await
        {
            Ok(result) => {
                println!(
                    "survey-bench: e2e: {} of {} alerts delivered; p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms; ingest p99 {:.2} ms; machine CPU {:.0} % busy ({}) [load {}]",
                    result.latencies_ms.len(),
                    result.expected,
                    result.percentile_ms(0.5),
                    result.percentile_ms(0.99),
                    result.percentile_ms(0.999),
                    result.percentile_ms(1.0),
                    result.step.percentile_ms(0.99),
                    result.step.cpu.busy_share * 100.0,
                    result.step.cpu.breakdown(),
                    result.load
                );
                for hop in &result.hops {
                    println!(
                        "survey-bench:   hop {}: p50 {} ms, p99 {} ms ({} alerts)",
                        hop.name,
                        hop.percentile_ms(0.5),
                        hop.percentile_ms(0.99),
                        hop.ms.len()
                    );
                }
                for m in &result.memory {
                    println!(
                        "survey-bench:   {}: RSS idle {} KiB, peak {} KiB, end {} KiB (HWM {} KiB)",
                        m.name, m.idle.rss_kib, m.peak_rss_kib, m.end.rss_kib, m.end.hwm_kib
                    );
                }
                let slot = if name == "e2e" {
                    &mut results.e2e
                } else {
                    &mut results.e2e_light
                };
                *slot = Some(result);
            }
            Err(err) => fail(&mut results, name, &err),
        }
    }

    if wants("backlog") {
        println!(
            "survey-bench: backlog: {} raw records, then a filter process drains them",
            args.backlog_records
        );
        match e2e::backlog(
            &bins,
            &with_passthrough(settings("backlog"), &args.filter_librdkafka),
            args.backlog_records,
            Duration::from_secs(args.backlog_prefill_secs),
            Duration::from_secs(args.backlog_drain_secs),
        )
        .await
        {
            Ok(result) => {
                println!(
                    "survey-bench: backlog: {} produced in {:.1} s; {} drained in {:.1} s; filter RSS idle {} KiB, HWM {} KiB [load {}]",
                    result.records,
                    result.prefill_secs,
                    result.drained,
                    result.drain_secs,
                    result.idle.rss_kib,
                    result.hwm_kib,
                    result.load
                );
                results.backlog = Some(result);
            }
            Err(err) => fail(&mut results, "backlog", &err),
        }
    }

    let markdown = report::render(&args, &results, cores, server_threads);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).ok();
        let plots = parent.join("bench");
        std::fs::create_dir_all(&plots).ok();
        for (name, svg) in report::plots(&results) {
            let path = plots.join(name);
            std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
            println!("survey-bench: wrote {}", path.display());
        }
    }
    std::fs::write(&args.out, markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("survey-bench: wrote {}", args.out.display());
    Ok(())
}

/// `settings` with `key=value` librdkafka properties added.
fn with_passthrough(mut settings: KafkaSettings, options: &[String]) -> KafkaSettings {
    for option in options {
        if let Some((key, value)) = option.split_once('=') {
            settings
                .librdkafka
                .insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    settings
}

fn fail(results: &mut Results, name: &str, err: &anyhow::Error) {
    eprintln!("survey-bench: {name} failed: {err:#}");
    results.failures.push((name.to_owned(), format!("{err:#}")));
}

/// Steps the rate up against `url` until a step fails to hold.
async fn load_series(
    args: &Args,
    client: &reqwest::Client,
    bodies: &Arc<Vec<load::SignedBody>>,
    url: &str,
) -> Series {
    // Warm-up: connections, the registry's schema id, the producer's
    // metadata. Not measured.
    let warmup = StepSettings {
        rate: args.rates.first().copied().unwrap_or(1000).min(1000),
        duration: Duration::from_secs(2),
        max_in_flight: args.max_in_flight,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    load::run_step(client, url, bodies, warmup).await;
    let mut series = Series::default();
    for &rate in &args.rates {
        let settings = StepSettings {
            rate,
            duration: Duration::from_secs(args.step_secs),
            max_in_flight: args.max_in_flight,
            timeout: Duration::from_millis(args.timeout_ms),
        };
        let step = load::run_step(client, url, bodies, settings).await;
        println!(
            "survey-bench:   {rate:>6} req/s offered: {:>8.0} accepted/s, p50 {:.2} ms, p99 {:.2} ms, \
             p99.9 {:.2} ms, rejected {}, transport errors {}, timeouts {} [load {}]",
            step.throughput(),
            step.percentile_ms(0.5),
            step.percentile_ms(0.99),
            step.percentile_ms(0.999),
            step.rejected,
            step.transport_errors,
            step.timeouts,
            report::load_average()
        );
        let held = holds(&step);
        series.steps.push(step);
        if !held {
            println!("survey-bench:   stopping: more than 1 % failed or p99 above 1 s");
            break;
        }
        // Let queues and connections settle between steps.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    series.load = report::load_average();
    series
}
