//! `survey-demo`: the whole pipeline, turning sample surveys into delivered
//! alerts, in one process.
//!
//! By default everything is embedded: librdkafka's in-process mock cluster
//! stands in for Kafka and the schemas compiled into the binary stand in for
//! the registry, so nothing but the Rust toolchain is needed. `--stack` runs
//! the same demo against the real local stack (`cargo xtask stack up`).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rdkafka::mocking::MockCluster;
use survey_contracts::topics;
use survey_demo::samples::{demo_samples, post_signed};
use survey_demo::{PipelineOptions, start_pipeline};
use survey_runtime::KafkaSettings;
use survey_sandbox::{Sandbox, SandboxConfig, SandboxState};

#[derive(Parser)]
#[command(about = "Run survey-alerts end to end on sample surveys")]
struct Cli {
    /// Use the real Kafka and schema registry (KAFKA_BOOTSTRAP_SERVERS and
    /// SCHEMA_REGISTRY_URL, or the `cargo xtask stack` defaults) instead of
    /// the embedded mock cluster.
    #[arg(long)]
    stack: bool,
    /// Keep the pipeline and the sandbox's deliveries page running after the
    /// samples were delivered, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// How long to wait for every expected delivery.
    #[arg(long, default_value_t = 90)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = survey_runtime::telemetry::init_with_default("demo", "warn");

    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (kafka, _cluster) = if cli.stack {
        (real_stack(&run), None)
    } else {
        let (kafka, cluster) = embedded_cluster(&run)?;
        (kafka, Some(cluster))
    };
    println!(
        "survey-alerts demo: Kafka at {} ({})",
        kafka.bootstrap_servers,
        if cli.stack {
            "real stack"
        } else {
            "embedded mock cluster"
        }
    );

    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .context("starting the sandbox")?;
    println!(
        "sandbox (Genesys, Slack, Teams, SMTP fakes) at {}",
        sandbox.base_url()
    );
    let pipeline = start_pipeline(PipelineOptions::quick(kafka), &sandbox).await?;
    println!(
        "pipeline running; ingest at http://{}/webhooks/survey\n",
        pipeline.ingest_addr
    );

    let http = reqwest::Client::new();
    for sample in demo_samples(&run) {
        let status = post_signed(&http, pipeline.ingest_addr, &sample.body).await?;
        println!(
            "POST survey {:<28} {:<52} -> HTTP {status}",
            sample.body["data"]["id"].as_str().unwrap_or_default(),
            sample.label
        );
    }

    // Expected: low score, keyword, bot → one Slack message each; the late
    // recording → a message, then an in-place update; plus Teams, e-mail
    // and coaching for the Billing queue's human-agent alerts.
    let state = sandbox.state();
    let delivered = state
        .wait_for(Duration::from_secs(cli.timeout_secs), |state| {
            expected_deliveries_done(state)
        })
        .await;
    print_deliveries(&state);
    if !delivered {
        println!(
            "\nnot every expected delivery arrived within {} s",
            cli.timeout_secs
        );
    }
    if cli.keep_running {
        println!(
            "\ndeliveries page: {}/  (Ctrl-C to stop)",
            sandbox.base_url()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    pipeline.stop().await?;
    sandbox.shutdown().await;
    anyhow::ensure!(delivered, "the demo did not deliver every expected alert");
    println!("\ndemo complete: every sample went where it should");
    Ok(())
}

fn expected_deliveries_done(state: &SandboxState) -> bool {
    let slack = state.slack_messages();
    let posts = slack
        .iter()
        .filter(|m| matches!(m.method, survey_sandbox::SlackMethod::PostMessage))
        .count();
    let updates = slack
        .iter()
        .filter(|m| matches!(m.method, survey_sandbox::SlackMethod::Update))
        .count();
    posts >= 4 && updates >= 1 && !state.emails().is_empty() && !state.teams_cards().is_empty()
}

fn print_deliveries(state: &SandboxState) {
    println!("\n=== delivered ===");
    for message in state.slack_messages() {
        let text = message.text.clone().unwrap_or_default();
        let first_line = text.lines().next().unwrap_or_default();
        println!(
            "slack  {:<8} {:<22} {first_line}",
            format!("{:?}", message.method),
            message.channel
        );
    }
    for card in state.teams_cards() {
        println!("teams  webhook {}", card.webhook_id);
    }
    for email in state.emails() {
        println!(
            "email  to {:<32} {}",
            email.to.join(", "),
            email.subject.unwrap_or_default()
        );
    }
    for appointment in state.coaching_appointments() {
        println!("coaching {}", appointment.name);
    }
}

fn real_stack(run: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: std::env::var("KAFKA_BOOTSTRAP_SERVERS")
            .unwrap_or_else(|_| KafkaSettings::default().bootstrap_servers),
        schema_registry_url: std::env::var("SCHEMA_REGISTRY_URL")
            .unwrap_or_else(|_| KafkaSettings::default().schema_registry_url),
        topic_prefix: format!("demo-{run}."),
        ..KafkaSettings::default()
    }
}

/// An in-process mock cluster with every topic created, and settings that
/// use the embedded schemas.
fn embedded_cluster(
    run: &str,
) -> anyhow::Result<(
    KafkaSettings,
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
)> {
    let cluster = MockCluster::new(1).context("starting the mock cluster")?;
    let kafka = KafkaSettings {
        bootstrap_servers: cluster.bootstrap_servers(),
        schema_registry_url: survey_contracts::codec::EMBEDDED.to_owned(),
        topic_prefix: format!("demo-{run}."),
        provision_on_start: false,
        ..KafkaSettings::default()
    };
    let topology = kafka.topology();
    for spec in topics::ALL {
        cluster.create_topic(&topology.topic(spec), spec.partitions, 1)?;
    }
    Ok((kafka, cluster))
}
