//! The enricher and the notifier, each alone, in the bench process against
//! the sandbox's fakes (Genesys, Slack, Teams), draining a pre-filled input
//! topic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use secrecy::SecretString;
use survey_contracts::{
    ActionableReason, ActionableSurvey, AvroCodec, EnrichedAlert, SurveyResponse, topics,
};
use survey_enricher::EnricherConfig;
use survey_genesys::GenesysConfig;
use survey_notifier::NotifierConfig;
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{KafkaSettings, Shutdown, StageStats};
use survey_sandbox::{Fault, Route, Sandbox, SandboxConfig, demo};

use crate::kafka::{ProduceResult, produce_all, producer};

/// Requests per minute the bench lets the Genesys client send to the
/// sandbox. The real Genesys allows 300 per token; the client's own limiter
/// would otherwise be the only thing measured.
pub const BENCH_GENESYS_RPM: u32 = 6_000_000;

/// Slack channel of every bench alert.
pub const SLACK_CHANNEL: &str = "#billing-supervisors";
/// Teams webhook name of every bench alert.
pub const TEAMS_WEBHOOK: &str = "billing";

/// A quiet sandbox with the demo organisation.
pub async fn sandbox() -> Result<Sandbox> {
    Sandbox::start(SandboxConfig {
        quiet: true,
        ..SandboxConfig::default()
    })
    .await
}

/// The Genesys client settings for `sandbox`, with the bench's budget.
pub fn genesys(sandbox: &Sandbox) -> GenesysConfig {
    GenesysConfig {
        api_url: Some(sandbox.base_url()),
        login_url: Some(sandbox.base_url()),
        client_id: "survey-alerts-demo".to_owned(),
        client_secret: SecretString::from("demo-client-secret".to_owned()),
        requests_per_minute: BENCH_GENESYS_RPM,
        request_timeout: Duration::from_secs(5),
        ..GenesysConfig::default()
    }
}

/// A routing file: the demo's Billing queue (every bench alert is about it)
/// to one Slack channel and one Teams webhook; no e-mail, no coaching.
pub fn routing_file(prefix: &str) -> Result<PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "survey-bench-routing-{}.yaml",
        prefix.trim_end_matches('.')
    ));
    let text = format!(
        "default: {{ slack: \"#cx-alerts\" }}\nqueues:\n  \"{queue}\":\n    name: {name}\n    \
         supervisors: [\"{maria}\", \"{james}\"]\n    slack: \"{SLACK_CHANNEL}\"\n    teams: {TEAMS_WEBHOOK}\n",
        queue = demo::BILLING_QUEUE_ID,
        name = demo::BILLING_QUEUE_NAME,
        maria = demo::SUPERVISOR_MARIA_ID,
        james = demo::SUPERVISOR_JAMES_ID,
    );
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The notifier's settings for `sandbox`: Slack (no per-channel pacing, see
/// the report) and the Teams webhook.
pub fn notifier_config(kafka: &KafkaSettings, sandbox: &Sandbox) -> NotifierConfig {
    let mut config = NotifierConfig {
        kafka: kafka.clone(),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..NotifierConfig::default()
    };
    config.slack.api_url = format!("{}/api", sandbox.base_url());
    config.slack.bot_token = SecretString::from(survey_demo::SLACK_TOKEN.to_owned());
    config.slack.min_interval_per_channel = Duration::ZERO;
    config.teams.webhooks.insert(
        TEAMS_WEBHOOK.to_owned(),
        SecretString::from(format!("{}/teams/{TEAMS_WEBHOOK}", sandbox.base_url())),
    );
    config.email.smtp_host = sandbox.smtp_addr().ip().to_string();
    config.email.smtp_port = sandbox.smtp_addr().port();
    config.email.tls = false;
    config.email.from = "survey-alerts@example.com".to_owned();
    config.genesys = genesys(sandbox);
    config
}

/// An actionable survey about the demo's voice conversation (Priya, Billing
/// Support; recording ready at the first poll; a summary).
pub fn actionable(id: &str, now: i64) -> ActionableSurvey {
    ActionableSurvey {
        survey: SurveyResponse {
            response_id: id.to_owned(),
            event: "survey.response.created".to_owned(),
            survey_id: Some("6f1c2a4e-8d3b-4f7a-9e21-5b0c7d9a3e11".to_owned()),
            interaction_id: demo::VOICE_CONVERSATION_ID.to_owned(),
            submitted_at: now - 1_000,
            received_at: now - 900,
            csat: 1,
            comment: Some("The agent answered quickly but my bill is still wrong.".to_owned()),
            other_answers: std::collections::BTreeMap::new(),
            queue_id: Some(demo::BILLING_QUEUE_ID.to_owned()),
            agent_id: Some(demo::AGENT_PRIYA_ID.to_owned()),
            agent_name: Some("Priya Nair".to_owned()),
        },
        reasons: vec![ActionableReason {
            code: "low_score".to_owned(),
            detail: "csat 1 is below 3".to_owned(),
        }],
        filtered_at: now - 800,
    }
}

/// How a stage drained its input.
#[derive(Debug, Clone)]
pub struct DrainResult {
    /// Inputs pre-filled.
    pub records: u64,
    /// Pre-fill speed.
    pub prefill: ProduceResult,
    /// Time `start` took.
    pub startup: Duration,
    /// From `start` returning to the last count.
    pub elapsed: Duration,
    /// Inputs read when measured.
    pub records_in: u64,
    /// Outputs acknowledged when measured.
    pub records_out: u64,
    /// Deliveries the sandbox received (the notifier), or alerts issued
    /// (the enricher: equal to records out here).
    pub completed: u64,
    /// Genesys API calls the sandbox answered.
    pub genesys_calls: u64,
    /// Whether it stopped on the time bound before finishing.
    pub timed_out: bool,
    /// 1-minute load average at the end.
    pub load: String,
}

impl DrainResult {
    /// Completed units per second.
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

async fn wait_for(
    stats: &StageStats,
    done: impl Fn() -> u64,
    target: u64,
    bound: Duration,
) -> (Duration, bool) {
    let started = Instant::now();
    loop {
        if done() >= target {
            return (started.elapsed(), false);
        }
        if started.elapsed() > bound {
            return (started.elapsed(), true);
        }
        let _ = stats.records_in_total();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn genesys_calls(sandbox: &Sandbox) -> u64 {
    sandbox
        .state()
        .genesys_calls()
        .values()
        .map(|&n| u64::from(n))
        .sum()
}

/// Enricher alerts/s: `count` actionable surveys pre-filled, every Genesys
/// API answer delayed by `api_latency`, timed until all are enriched or
/// `bound` passes.
pub async fn enricher_bench(
    settings: &KafkaSettings,
    count: usize,
    api_latency: Duration,
    bound: Duration,
) -> Result<DrainResult> {
    let sandbox = sandbox().await?;
    let result = enricher_run(settings, &sandbox, count, api_latency, bound).await;
    sandbox.shutdown().await;
    result
}

async fn enricher_run(
    settings: &KafkaSettings,
    sandbox: &Sandbox,
    count: usize,
    api_latency: Duration,
    bound: Duration,
) -> Result<DrainResult> {
    provision(
        settings,
        survey_enricher::app::TOPICS,
        &ProvisionSettings::default(),
    )
    .await?;
    let topic = settings
        .topology()
        .topic(&topics::SURVEY_RESPONSES_ACTIONABLE);
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let now = survey_runtime::now_millis();
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let survey = actionable(&format!("en-{i}"), now);
        let value = codec.encode(&topic, &survey).await?;
        records.push((survey.survey.response_id, value));
    }
    let prefill = produce_all(&producer(settings)?, &topic, &records).await?;
    drop(records);

    let routing = routing_file(&settings.topic_prefix)?;
    let config = EnricherConfig {
        kafka: settings.clone(),
        routing_file: Some(routing.clone()),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        genesys: genesys(sandbox),
        ..EnricherConfig::default()
    };
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let enricher = survey_enricher::start(config, shutdown.clone()).await?;
    let startup = started.elapsed();
    // Start-up calls (token, directory sync) are not the stage's.
    let calls_before = genesys_calls(sandbox);
    if !api_latency.is_zero() {
        let ms = u64::try_from(api_latency.as_millis()).unwrap_or(u64::MAX);
        sandbox
            .state()
            .fail_next(Route::GenesysApi, Fault::delay(ms, u32::MAX));
    }
    let stats = Arc::clone(&enricher.stats);
    // Every input gives one enriched alert here (the recording is ready at
    // the first poll), so acknowledged outputs count finished inputs.
    let (elapsed, timed_out) =
        wait_for(&stats, || stats.records_out_total(), count as u64, bound).await;
    let records_in = stats.records_in_total();
    let records_out = stats.records_out_total();
    let genesys = genesys_calls(sandbox) - calls_before;
    sandbox.state().clear_faults();
    shutdown.trigger();
    if let Err(err) = enricher.wait().await {
        eprintln!("survey-bench: the enricher stopped with an error: {err:#}");
    }
    let _ = std::fs::remove_file(&routing);
    Ok(DrainResult {
        records: count as u64,
        prefill,
        startup,
        elapsed,
        records_in,
        records_out,
        completed: records_out,
        genesys_calls: genesys,
        timed_out,
        load: crate::report::load_average(),
    })
}

/// Reads the first record of `topic` (from the beginning).
async fn first_record(settings: &KafkaSettings, topic: &str) -> Result<Vec<u8>> {
    let consumer: BaseConsumer = survey_runtime::kafka::consumer_config(
        settings,
        &format!("{}bench-reader", settings.topic_prefix),
    )
    .set("enable.auto.commit", "false")
    .create()
    .context("creating a reader")?;
    consumer.subscribe(&[topic])?;
    let consumer = Arc::new(consumer);
    let started = Instant::now();
    loop {
        let reader = Arc::clone(&consumer);
        let polled = tokio::task::spawn_blocking(move || {
            reader
                .poll(Duration::from_millis(500))
                .map(|m| m.map(|m| m.payload().map(<[u8]>::to_vec)))
        })
        .await?;
        match polled {
            Some(Ok(Some(payload))) => return Ok(payload),
            Some(Err(err)) => bail!("reading {topic}: {err}"),
            _ if started.elapsed() > Duration::from_secs(30) => {
                bail!("no record in {topic} within 30 s")
            }
            _ => {}
        }
    }
}

/// Notifier deliveries/s: `count` enriched alerts (each to one Slack channel
/// and one Teams webhook of the sandbox), timed until every delivery arrived
/// or `bound` passes. The alert is one the enricher wrote, read back from
/// `enriched_from` (the enricher bench's settings), copied with new ids.
pub async fn notifier_bench(
    settings: &KafkaSettings,
    enriched_from: &KafkaSettings,
    count: usize,
    bound: Duration,
) -> Result<DrainResult> {
    let sandbox = sandbox().await?;
    let result = notifier_run(settings, enriched_from, &sandbox, count, bound).await;
    sandbox.shutdown().await;
    result
}

async fn notifier_run(
    settings: &KafkaSettings,
    enriched_from: &KafkaSettings,
    sandbox: &Sandbox,
    count: usize,
    bound: Duration,
) -> Result<DrainResult> {
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let source = enriched_from.topology().topic(&topics::ALERTS_ENRICHED);
    let sample: EnrichedAlert = codec
        .decode(&first_record(enriched_from, &source).await?)
        .await
        .context("decoding an enriched alert")?;
    if sample.routing.targets.is_empty() {
        bail!("the sample alert has no targets");
    }
    provision(
        settings,
        survey_notifier::app::TOPICS,
        &ProvisionSettings::default(),
    )
    .await?;
    let topic = settings.topology().topic(&topics::ALERTS_ENRICHED);
    let now = survey_runtime::now_millis();
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        let mut alert = sample.clone();
        alert.alert_id = format!("no-{i}");
        alert.survey.response_id = alert.alert_id.clone();
        alert.issued_at = now;
        let value = codec.encode(&topic, &alert).await?;
        records.push((alert.alert_id, value));
    }
    let targets = sample.routing.targets.len() as u64;
    let prefill = produce_all(&producer(settings)?, &topic, &records).await?;
    drop(records);

    let config = notifier_config(settings, sandbox);
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let notifier = survey_notifier::start(config, shutdown.clone()).await?;
    let startup = started.elapsed();
    let state = sandbox.state();
    let delivered = || {
        let d = state.deliveries();
        (d.slack.len() + d.teams.len() + d.emails.len() + d.coaching.len()) as u64
    };
    let stats = Arc::clone(&notifier.stats);
    let (elapsed, timed_out) = wait_for(&stats, delivered, count as u64 * targets, bound).await;
    let completed = delivered();
    let records_in = stats.records_in_total();
    let records_out = stats.records_out_total();
    shutdown.trigger();
    if let Err(err) = notifier.wait().await {
        eprintln!("survey-bench: the notifier stopped with an error: {err:#}");
    }
    Ok(DrainResult {
        records: count as u64,
        prefill,
        startup,
        elapsed,
        records_in,
        records_out,
        completed,
        genesys_calls: genesys_calls(sandbox),
        timed_out,
        load: crate::report::load_average(),
    })
}
