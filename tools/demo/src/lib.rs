//! The whole pipeline in one process: ingest, filter, enricher and notifier
//! wired to one Kafka (a real cluster, or librdkafka's in-process mock) and
//! to the sandbox's Genesys, Slack, Teams and SMTP fakes.
//!
//! The demo binary and the end-to-end tests both start the pipeline here,
//! so what the README shows is what the tests check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use survey_enricher::EnricherConfig;
use survey_filter::FilterConfig;
use survey_genesys::GenesysConfig;
use survey_ingest::{Application, IngestConfig};
use survey_notifier::NotifierConfig;
use survey_runtime::{KafkaSettings, Shutdown};
use survey_sandbox::{Sandbox, demo};

pub mod samples;

/// The webhook secret of the demo and the tests.
pub const WEBHOOK_SECRET: &str = "demo-webhook-secret";
/// The Slack bot token the sandbox accepts.
pub const SLACK_TOKEN: &str = "xoxb-demo-token";

/// Knobs of a pipeline run.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Kafka and registry (or `embedded`).
    pub kafka: KafkaSettings,
    /// Time between recording checks.
    pub recording_check_interval: Duration,
    /// When to stop checking for a recording.
    pub recording_give_up_after: Duration,
    /// First wait before a failed delivery is retried.
    pub delivery_retry_backoff: Duration,
}

impl PipelineOptions {
    /// Short intervals, so a late recording shows up within seconds.
    pub fn quick(kafka: KafkaSettings) -> Self {
        Self {
            kafka,
            recording_check_interval: Duration::from_millis(500),
            recording_give_up_after: Duration::from_secs(10),
            delivery_retry_backoff: Duration::from_millis(300),
        }
    }
}

/// A routing file for the sandbox's demo organisation.
pub fn demo_routing_file(kafka: &KafkaSettings) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "survey-alerts-routing-{}.yaml",
        uuid::Uuid::new_v4().simple()
    ));
    let text = format!(
        r##"# Routing of the sandbox's demo organisation ({prefix}).
default: {{ slack: "#cx-alerts" }}
bot_team: {{ slack: "#bot-dev", teams: bot-dev }}
queues:
  "{queue}":
    name: Billing Support
    supervisors: ["{maria}", "{james}"]
    slack: "#billing-supervisors"
    teams: billing
    emails: [billing-leads@example.com]
    coaching: true
"##,
        prefix = kafka.topic_prefix,
        queue = demo::BILLING_QUEUE_ID,
        maria = demo::SUPERVISOR_MARIA_ID,
        james = demo::SUPERVISOR_JAMES_ID,
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The four services, running.
#[derive(Debug)]
pub struct RunningPipeline {
    /// Where ingest listens.
    pub ingest_addr: SocketAddr,
    /// Stops everything.
    pub shutdown: Shutdown,
    /// The filter.
    pub filter: survey_filter::RunningFilter,
    /// The enricher.
    pub enricher: survey_enricher::RunningEnricher,
    /// The notifier and its own shutdown, so tests can restart it alone.
    pub notifier: survey_notifier::RunningNotifier,
    /// The notifier's own shutdown token.
    pub notifier_shutdown: Shutdown,
    /// The notifier's configuration, to start it again.
    pub notifier_config: NotifierConfig,
    routing_file: PathBuf,
}

impl RunningPipeline {
    /// Stops every service and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.notifier_shutdown.trigger();
        self.filter.wait().await?;
        self.enricher.wait().await?;
        self.notifier.wait().await?;
        let _ = std::fs::remove_file(&self.routing_file);
        Ok(())
    }
}

fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The notifier's configuration for the sandbox.
pub fn notifier_config(options: &PipelineOptions, sandbox: &Sandbox) -> NotifierConfig {
    let mut config = NotifierConfig {
        kafka: options.kafka.clone(),
        ops_addr: loopback_any_port(),
        ..NotifierConfig::default()
    };
    config.slack.api_url = format!("{}/api", sandbox.base_url());
    config.slack.bot_token = SecretString::from(SLACK_TOKEN.to_owned());
    config.slack.min_interval_per_channel = Duration::from_millis(200);
    for name in ["billing", "bot-dev"] {
        let url = format!("{}/teams/{name}", sandbox.base_url());
        config
            .teams
            .webhooks
            .insert(name.to_owned(), SecretString::from(url));
    }
    config.email.smtp_host = sandbox.smtp_addr().ip().to_string();
    config.email.smtp_port = sandbox.smtp_addr().port();
    config.email.tls = false;
    config.email.from = "survey-alerts@example.com".to_owned();
    config.genesys = genesys(sandbox);
    config.retry.initial_backoff = options.delivery_retry_backoff;
    config.retry.max_backoff = Duration::from_secs(5);
    config
}

fn genesys(sandbox: &Sandbox) -> GenesysConfig {
    GenesysConfig {
        api_url: Some(sandbox.base_url()),
        login_url: Some(sandbox.base_url()),
        client_id: "survey-alerts-demo".to_owned(),
        client_secret: SecretString::from("demo-client-secret".to_owned()),
        request_timeout: Duration::from_secs(5),
        ..GenesysConfig::default()
    }
}

/// Starts ingest, filter, enricher and notifier against `sandbox`.
pub async fn start_pipeline(
    options: PipelineOptions,
    sandbox: &Sandbox,
) -> anyhow::Result<RunningPipeline> {
    let shutdown = Shutdown::new();
    let routing_file = demo_routing_file(&options.kafka)?;

    let mut ingest = IngestConfig {
        kafka: options.kafka.clone(),
        listen_addr: loopback_any_port(),
        ops_addr: loopback_any_port(),
        ..IngestConfig::default()
    };
    ingest.auth.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET.to_owned()));
    let ingest = Application::build(ingest)
        .await
        .context("starting ingest")?;
    let ingest_addr = ingest.local_addr()?;
    tokio::spawn(ingest.run_until_stopped(shutdown.clone()));

    let filter = survey_filter::start(
        FilterConfig {
            kafka: options.kafka.clone(),
            ops_addr: loopback_any_port(),
            ..FilterConfig::default()
        },
        shutdown.clone(),
    )
    .await
    .context("starting the filter")?;

    let mut enricher = EnricherConfig {
        kafka: options.kafka.clone(),
        routing_file: Some(routing_file.clone()),
        ops_addr: loopback_any_port(),
        genesys: genesys(sandbox),
        ..EnricherConfig::default()
    };
    enricher.recording.check_interval = options.recording_check_interval;
    enricher.recording.give_up_after = options.recording_give_up_after;
    let enricher = survey_enricher::start(enricher, shutdown.clone())
        .await
        .context("starting the enricher")?;

    let notifier_config = notifier_config(&options, sandbox);
    let notifier_shutdown = Shutdown::new();
    let notifier = survey_notifier::start(notifier_config.clone(), notifier_shutdown.clone())
        .await
        .context("starting the notifier")?;
    Ok(RunningPipeline {
        ingest_addr,
        shutdown,
        filter,
        enricher,
        notifier,
        notifier_shutdown,
        notifier_config,
        routing_file,
    })
}
