//! `survey-bench`: measures ingest under open-model load (and a no-Kafka
//! baseline), the Kafka producer alone and the filter, against a real broker
//! and registry, and writes the figures to `docs/BENCHMARKS.md`.
//!
//! Run it through `cargo xtask bench`, which starts the local stack if needed
//! and builds this crate in release mode. Not part of the test run.

mod kafka;
mod load;
mod report;
mod servers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use survey_runtime::KafkaSettings;

use crate::load::{StepResult, StepSettings};
use crate::servers::{Kind, Server};

/// Command line.
#[derive(Debug, Clone, Parser)]
#[command(about = "Benchmarks ingest, the Kafka producer and the filter")]
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
        default_value = "2000,5000,7500,10000,15000,20000,30000,40000"
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
    /// Measurements to run: ingest, baseline, producer, filter.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,baseline,producer,filter"
    )]
    pub only: Vec<String>,
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
    /// Measurement 3.
    pub producer: Option<kafka::ProduceResult>,
    /// Measurement 4.
    pub filter: Option<kafka::FilterResult>,
    /// Measurements that failed, with the error.
    pub failures: Vec<(String, String)>,
    /// The topic prefix of the run.
    pub prefix: String,
}

const SECRET: &str = "bench-secret";

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
    let mut results = Results {
        prefix: prefix.clone(),
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
        ("ingest", Kind::Ingest(settings("ingest"))),
        ("baseline", Kind::Baseline),
    ] {
        if !wants(name) {
            continue;
        }
        println!("survey-bench: {name}: starting the server");
        match load_series(&args, &client, &bodies, kind, server_threads).await {
            Ok(series) => {
                if name == "ingest" {
                    results.ingest = Some(series);
                } else {
                    results.baseline = Some(series);
                }
            }
            Err(err) => {
                eprintln!("survey-bench: {name} failed: {err:#}");
                results.failures.push((name.to_owned(), format!("{err:#}")));
            }
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
                println!(
                    "survey-bench: producer: {:.0} records/s ({} failed)",
                    result.per_second(),
                    result.failed
                );
                results.producer = Some(result);
            }
            Err(err) => {
                eprintln!("survey-bench: producer failed: {err:#}");
                results
                    .failures
                    .push(("producer".to_owned(), format!("{err:#}")));
            }
        }
    }

    if wants("filter") {
        println!("survey-bench: filter: {} records", args.filter_records);
        match kafka::filter_bench(
            &settings("filter"),
            args.filter_records,
            Duration::from_secs(600),
        )
        .await
        {
            Ok(result) => {
                println!(
                    "survey-bench: filter: {:.0} events/s ({} read, {} out)",
                    result.per_second(),
                    result.records_in,
                    result.records_out
                );
                results.filter = Some(result);
            }
            Err(err) => {
                eprintln!("survey-bench: filter failed: {err:#}");
                results
                    .failures
                    .push(("filter".to_owned(), format!("{err:#}")));
            }
        }
    }

    let markdown = report::render(&args, &results, cores, server_threads);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    std::fs::write(&args.out, markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("survey-bench: wrote {}", args.out.display());
    Ok(())
}

/// Starts the server and steps the rate up until a step fails to hold.
async fn load_series(
    args: &Args,
    client: &reqwest::Client,
    bodies: &Arc<Vec<load::SignedBody>>,
    kind: Kind,
    server_threads: usize,
) -> Result<Series> {
    let server = tokio::task::spawn_blocking(move || Server::start(kind, SECRET, server_threads))
        .await
        .context("the server start panicked")??;
    let url = format!("http://{}/webhooks/survey", server.addr);
    // Warm-up: connections, the registry's schema id, the producer's
    // metadata. Not measured.
    let warmup = StepSettings {
        rate: args.rates.first().copied().unwrap_or(1000).min(1000),
        duration: Duration::from_secs(2),
        max_in_flight: args.max_in_flight,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    load::run_step(client, &url, bodies, warmup).await;
    let mut series = Series::default();
    for &rate in &args.rates {
        let settings = StepSettings {
            rate,
            duration: Duration::from_secs(args.step_secs),
            max_in_flight: args.max_in_flight,
            timeout: Duration::from_millis(args.timeout_ms),
        };
        let step = load::run_step(client, &url, bodies, settings).await;
        println!(
            "survey-bench:   {rate:>6} req/s offered: {:>8.0} accepted/s, p50 {:.2} ms, p99 {:.2} ms, \
             p99.9 {:.2} ms, rejected {}, transport errors {}, timeouts {}",
            step.throughput(),
            step.percentile_ms(0.5),
            step.percentile_ms(0.99),
            step.percentile_ms(0.999),
            step.rejected,
            step.transport_errors,
            step.timeouts
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
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .context("the server stop panicked")??;
    Ok(series)
}
