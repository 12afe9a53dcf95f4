//! The fault-injection suite: known surveys through the real pipeline (the four service
//! binaries, the real broker and registry, the sandbox binary for Genesys Cloud, Slack,
//! Teams and SMTP) while services are SIGKILLed and restarted, the broker is stopped and
//! killed, the registry is down, Genesys answers 429, 5xx and slowly, and Slack is down.
//! Then what the sandbox's sinks received is compared with what each survey must receive:
//! every actionable survey once per target, its final revision included, nothing lost,
//! nothing doubled, no revision regressing.
//!
//! `cargo xtask faults [--short]` builds it and runs it on a private stack, and is the way
//! to run it; it hands the stack over through the environment (see [`Options::from_env`]).

pub mod check;
pub mod load;
pub mod plan;
pub mod procs;
pub mod report;
pub mod sandbox;
pub mod schedule;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::load::Load;
use crate::procs::{Service, StackControl, free_port, supervise};
use crate::report::evaluate;
use crate::sandbox::SandboxProcess;
use crate::schedule::{Rig, Timing, wait_until};

/// The webhook secret ingest runs with.
const WEBHOOK_SECRET: &str = "faults-webhook-secret";
/// The built-in Slack template, rendered with the revision next to the alert id so the
/// sink can tell revisions apart (the other channels' templates already show it).
const SLACK_TEMPLATE: &str = include_str!("../../../services/notifier/templates/slack.json.j2");
/// What the Slack template's footer says, and what it says here.
const SLACK_FOOTER: (&str, &str) = (
    r#"" · alert " ~ alert_id|mrkdwn"#,
    r#"" · alert " ~ alert_id|mrkdwn ~ ", revision " ~ revision"#,
);
/// How long the sinks must stay quiet at the end, so late duplicates are seen.
const QUIET: Duration = Duration::from_secs(10);

/// What a run needs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The short form (`cargo xtask test`) instead of the full one.
    pub short: bool,
    /// Where to write the Markdown report, if anywhere.
    pub report: Option<PathBuf>,
    /// The command that produced the report, for the report.
    pub command: String,
    /// Kafka bootstrap servers (`KAFKA_BOOTSTRAP_SERVERS`).
    pub bootstrap_servers: String,
    /// Registry URL (`SCHEMA_REGISTRY_URL`).
    pub schema_registry_url: String,
    /// The xtask binary that stops and starts the private stack (`FAULTS_XTASK`).
    pub xtask: PathBuf,
    /// Where the service and sandbox binaries are (`FAULTS_BIN_DIR`).
    pub bin_dir: PathBuf,
    /// Where logs and generated files go (`FAULTS_WORK_DIR`).
    pub work_dir: PathBuf,
}

impl Options {
    /// The stack and binaries from the environment `cargo xtask faults` sets.
    pub fn from_env(short: bool, report: Option<PathBuf>, command: String) -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| {
                    format!("{name} is not set: run the suite with `cargo xtask faults`")
                })
        };
        Ok(Self {
            short,
            report,
            command,
            bootstrap_servers: var("KAFKA_BOOTSTRAP_SERVERS")?,
            schema_registry_url: var("SCHEMA_REGISTRY_URL")?,
            xtask: var("FAULTS_XTASK")?.into(),
            bin_dir: var("FAULTS_BIN_DIR")?.into(),
            work_dir: var("FAULTS_WORK_DIR")?.into(),
        })
    }
}

/// Runs the suite; returns whether every criterion held.
pub async fn run(options: Options) -> Result<bool> {
    let timing = if options.short {
        Timing::SHORT
    } else {
        Timing::FULL
    };
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let work = options.work_dir.join(format!("run-{run_id}"));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    println!("faults: run {run_id}, logs in {}", work.display());

    let sandbox = SandboxProcess::start(&options.bin_dir, &work.join("sandbox.log")).await?;
    let templates = work.join("templates");
    std::fs::create_dir_all(&templates)?;
    if !SLACK_TEMPLATE.contains(SLACK_FOOTER.0) {
        bail!("the Slack template no longer ends with the alert id; update survey-faults");
    }
    std::fs::write(
        templates.join("slack.json.j2"),
        SLACK_TEMPLATE.replace(SLACK_FOOTER.0, SLACK_FOOTER.1),
    )?;
    let routing = work.join("routing.yaml");
    std::fs::write(&routing, plan::ROUTING_YAML)?;

    let services = services(&options, &run_id, &work, &sandbox, &templates, &routing)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    for service in services.values() {
        service.start().await?;
    }
    // From here on a service that exits by itself is started again (at start-up, services
    // provisioning the same subjects at once can trip over each other).
    let supervisor = supervise(services.values().cloned().collect());
    for service in services.values() {
        let ready = wait_until(Duration::from_secs(180), || async {
            http.get(format!("http://127.0.0.1:{}/readyz", service.ops_port))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        if ready.is_none() {
            bail!(
                "{} was not ready within 180 s (log {})",
                service.name,
                work.display()
            );
        }
    }
    println!("faults: services ready; load at {} surveys/s", timing.rate);

    let ingest_port = services["ingest"].env_value("LISTEN_ADDR");
    let load = Load::start(
        format!("http://{ingest_port}/webhooks/survey"),
        format!("{}/sandbox/seed/conversation", sandbox.base_url),
        WEBHOOK_SECRET.to_owned(),
        run_id.clone(),
        timing.rate,
    );
    let rig = Rig {
        services: services.clone(),
        stack: StackControl::new(options.xtask.clone()),
        sandbox: &sandbox,
        load: &load,
        http: http.clone(),
        timing,
    };
    let started = Instant::now();
    let phases = rig.run().await;
    let stats = load.finish().await;
    let phases = phases?;
    println!(
        "faults: {} surveys sent in {:.0} s; waiting for the sinks",
        stats.surveys(),
        started.elapsed().as_secs_f64()
    );

    let sent = stats.sent();
    let prefix = plan::id_prefix(&run_id);
    let drain_since = Instant::now();
    loop {
        let evaluation = evaluate(&sent, &phases, &sandbox.deliveries().await?, &prefix);
        if evaluation.total.lost == 0 || drain_since.elapsed() > timing.drain_limit {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let drained = drain_since.elapsed();
    let mut last = sandbox.counts().await;
    loop {
        tokio::time::sleep(QUIET).await;
        let now = sandbox.counts().await;
        if now == last {
            break;
        }
        last = now;
    }
    let evaluation = evaluate(&sent, &phases, &sandbox.deliveries().await?, &prefix);
    let read_backs = check::read_backs(&sandbox.requests().await?);
    supervisor.abort();

    let mut exits = Vec::new();
    for service in services.values() {
        let n = service.unplanned_exits().await;
        if n > 0 {
            exits.push(format!("{} {n}", service.name));
        }
    }
    let mut stopped = Vec::new();
    for service in services.values() {
        if !service.terminate(Duration::from_secs(35)).await {
            stopped.push(service.name);
        }
    }
    sandbox.stop().await;

    let table = evaluation.render();
    let facts = format!(
        "{} unique surveys ({} actionable), {} webhook posts answered 2xx, {} answered 5xx and {} refused \
         or timed out (each retried until 2xx), over {:.0} s; the sinks had everything {:.0} s after the load \
         stopped. Service exits nobody asked for (restarted at once): {}. Services that missed the SIGTERM \
         deadline at the end: {}. Channels read back before a delivery was tried again: Slack \
         `conversations.history` {}, Teams Graph channel messages {}, Genesys coaching appointments {}.",
        evaluation.total.surveys,
        evaluation.total.actionable,
        evaluation.total.accepted_posts,
        stats.unavailable.load(std::sync::atomic::Ordering::Relaxed),
        stats
            .connect_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        drained.as_secs_f64(),
        if exits.is_empty() {
            "none".to_owned()
        } else {
            exits.join(", ")
        },
        if stopped.is_empty() {
            "none".to_owned()
        } else {
            stopped.join(", ")
        },
        read_backs.slack,
        read_backs.teams,
        read_backs.coaching,
    );
    let passed = evaluation.passed();
    println!(
        "\n{table}\n{facts}\n\nfaults: {}",
        if passed { "PASSED" } else { "FAILED" }
    );
    if let Some(path) = &options.report {
        std::fs::write(path, markdown(&options, &table, &facts, passed))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("faults: report written to {}", path.display());
    }
    Ok(passed)
}

impl Service {
    /// The value of one of its environment variables.
    fn env_value(&self, name: &str) -> String {
        self.env()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// The four services, configured for the private stack, the sandbox and this run.
fn services(
    options: &Options,
    run_id: &str,
    work: &std::path::Path,
    sandbox: &SandboxProcess,
    templates: &std::path::Path,
    routing: &std::path::Path,
) -> Result<BTreeMap<&'static str, Arc<Service>>> {
    let base = &sandbox.base_url;
    let genesys = [
        ("GENESYS_API_URL", base.clone()),
        ("GENESYS_LOGIN_URL", base.clone()),
        ("GENESYS_CLIENT_ID", "survey-alerts-faults".to_owned()),
        ("GENESYS_CLIENT_SECRET", "faults-client-secret".to_owned()),
        // The sandbox has no budget to share; 3 s makes a 4 s answer a timeout.
        (
            "SURVEY_ALERTS__GENESYS__REQUESTS_PER_MINUTE",
            "60000".to_owned(),
        ),
        ("SURVEY_ALERTS__GENESYS__REQUEST_TIMEOUT", "3s".to_owned()),
    ];
    let own: [(&'static str, Vec<(&str, String)>); 4] = [
        (
            "ingest",
            vec![
                ("LISTEN_ADDR", format!("127.0.0.1:{}", free_port()?)),
                ("WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ],
        ),
        ("filter", vec![]),
        (
            "enricher",
            genesys
                .iter()
                .cloned()
                .chain([
                    ("ROUTING_FILE", routing.display().to_string()),
                    ("RECORDING_CHECK_INTERVAL", "1s".to_owned()),
                    ("RECORDING_GIVE_UP_AFTER", "15m".to_owned()),
                ])
                .collect(),
        ),
        (
            "notifier",
            genesys
                .iter()
                .cloned()
                .chain([
                    ("SLACK_API_URL", format!("{base}/api")),
                    ("SLACK_BOT_TOKEN", "xoxb-faults-token".to_owned()),
                    ("SMTP_HOST", "127.0.0.1".to_owned()),
                    ("SMTP_PORT", sandbox.smtp_port.to_string()),
                    ("SMTP_TLS", "false".to_owned()),
                    ("SMTP_FROM", "survey-alerts@example.com".to_owned()),
                    ("TEMPLATES_DIR", templates.display().to_string()),
                    (
                        "SURVEY_ALERTS__SLACK__MIN_INTERVAL_PER_CHANNEL",
                        "10ms".to_owned(),
                    ),
                    // Retries keep going through a two-minute outage and resume soon after.
                    ("SURVEY_ALERTS__RETRY__INITIAL_BACKOFF", "500ms".to_owned()),
                    ("SURVEY_ALERTS__RETRY__MAX_BACKOFF", "5s".to_owned()),
                    ("SURVEY_ALERTS__RETRY__MAX_ATTEMPTS", "1000".to_owned()),
                ])
                // The sandbox's Graph reads the cards back, so a card that arrived before a
                // kill or a timeout is settled instead of sent again.
                .chain([
                    (
                        "SURVEY_ALERTS__TEAMS__GRAPH__TENANT_ID",
                        "faults-tenant".to_owned(),
                    ),
                    (
                        "SURVEY_ALERTS__TEAMS__GRAPH__CLIENT_ID",
                        "survey-alerts-faults".to_owned(),
                    ),
                    (
                        "SURVEY_ALERTS__TEAMS__GRAPH__CLIENT_SECRET",
                        "faults-graph-secret".to_owned(),
                    ),
                    (
                        "SURVEY_ALERTS__TEAMS__GRAPH__GRAPH_URL",
                        format!("{base}/teams/graph/v1.0"),
                    ),
                    (
                        "SURVEY_ALERTS__TEAMS__GRAPH__LOGIN_URL",
                        format!("{base}/teams/login"),
                    ),
                ])
                .chain(plan::TEAMS_WEBHOOKS.iter().flat_map(|name| {
                    let [webhook, team, channel]: [&str; 3] = if *name == "billing" {
                        [
                            "SURVEY_ALERTS__TEAMS__WEBHOOKS__BILLING",
                            "SURVEY_ALERTS__TEAMS__CHANNELS__BILLING__TEAM_ID",
                            "SURVEY_ALERTS__TEAMS__CHANNELS__BILLING__CHANNEL_ID",
                        ]
                    } else {
                        [
                            "SURVEY_ALERTS__TEAMS__WEBHOOKS__BOTS",
                            "SURVEY_ALERTS__TEAMS__CHANNELS__BOTS__TEAM_ID",
                            "SURVEY_ALERTS__TEAMS__CHANNELS__BOTS__CHANNEL_ID",
                        ]
                    };
                    // The sandbox's fixed mapping of a webhook to its team and channel.
                    [
                        (webhook, format!("{base}/teams/{name}")),
                        (team, format!("team-{name}")),
                        (channel, format!("19:{name}@thread.tacv2")),
                    ]
                }))
                .collect(),
        ),
    ];
    let mut services = BTreeMap::new();
    for (name, extra) in own {
        let ops_port = free_port()?;
        let mut env: Vec<(String, String)> = vec![
            (
                "KAFKA_BOOTSTRAP_SERVERS".into(),
                options.bootstrap_servers.clone(),
            ),
            (
                "SCHEMA_REGISTRY_URL".into(),
                options.schema_registry_url.clone(),
            ),
            ("TOPIC_PREFIX".into(), format!("faults-{run_id}.")),
            ("OPS_ADDR".into(), format!("127.0.0.1:{ops_port}")),
            // Static membership: a restarted consumer takes its partitions back at once.
            ("GROUP_INSTANCE_ID".into(), format!("{name}-faults")),
            ("LOG_FORMAT".into(), "text".into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        services.insert(
            name,
            Arc::new(Service::new(name, &options.bin_dir, work, ops_port, env)),
        );
    }
    Ok(services)
}

/// `docs/FAULTS.md`.
fn markdown(options: &Options, table: &str, facts: &str, passed: bool) -> String {
    format!(
        "# Fault-injection report\n\n\
         Produced by `{command}` on {date} (UTC): {verdict}.\n\n\
         Surveys go through the real pipeline: the four service binaries, Kafka 4.1 and Apicurio \
         Registry 3.0 of a private local stack, and the sandbox binary for Genesys Cloud, Slack, \
         Teams and SMTP. 40% are happy customers (nothing may be delivered), 35% low scores of \
         an agent's call (Slack, Teams, e-mail, coaching), 15% a keyword on a call whose \
         recording is ready only on the third poll (revision 1, then revision 2 in place), 10% \
         bot chats (Slack and Teams of the bot team); 30% of the webhooks are sent two or three \
         times. The faults come one after another while the load runs; a survey counts under \
         the fault that was on when it was first sent. Deliveries are counted from what the \
         sandbox's Slack, Teams, SMTP and coaching fakes received; a duplicate is a second \
         message for the same survey, target and revision (a Slack `chat.update` carrying a \
         later revision is not one), and any duplicate fails the run. The sandbox's mailbox store \
         discards an e-mail with the Message-ID and Date of one it delivered, as Exchange's \
         does; the notifier gives a resent mail both of the first one, and the report counts \
         the copies discarded. Recovery is the time from a restart (or the end of an \
         outage) to the first record the restarted component handled (for the broker and \
         registry: every consumer; for Genesys and Slack: the next delivery); a restarted \
         service must get there within 10 s. The broker rows are not held to that bound: \
         librdkafka clients reconnect to a restarted broker with a back-off of up to \
         `reconnect.backoff.max.ms` (10 s by default).\n\n\
         {table}\n{facts}\n",
        command = options.command,
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        verdict = if passed { "passed" } else { "FAILED" },
    )
}
