//! Arguments and dispatch: parses the command line, runs the command, prints
//! its report to stdout and picks the exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use survey_contracts::codec::EMBEDDED;
use survey_filter::rules::RuleSettings;
use survey_genesys::GenesysConfig;
use survey_runtime::KafkaSettings;
use survey_runtime::provision::ProvisionSettings;

use crate::commands::{backtest, directory, dlq, replay, schemas, tail, topics};
use crate::stage::Stage;

/// survey-ctl: operate the survey-alerts topics, schemas, consumer groups
/// and dead-letter queues.
#[derive(Debug, Parser)]
#[command(name = "survey-ctl", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where the cluster and registry are.
    #[command(flatten)]
    pub connection: Connection,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The connection settings every service reads, from the same variables.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// Bootstrap servers.
    #[arg(
        long,
        global = true,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:19092"
    )]
    pub bootstrap_servers: String,
    /// Confluent-compatible registry URL (Apicurio: its /apis/ccompat/v7).
    #[arg(
        long,
        global = true,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:18081/apis/ccompat/v7"
    )]
    pub schema_registry_url: String,
    /// Topic and group prefix of the deployment.
    #[arg(long, global = true, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Replication factor of topics `topics apply` creates.
    #[arg(long, global = true, env = "REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: i32,
}

impl Connection {
    /// The runtime's settings for this connection.
    pub fn kafka_settings(&self) -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: self.bootstrap_servers.clone(),
            schema_registry_url: self.schema_registry_url.clone(),
            topic_prefix: self.topic_prefix.clone(),
            replication_factor: self.replication_factor,
            ..KafkaSettings::default()
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The topic registry (`topics` alone: `topics list`).
    Topics {
        /// What to do with the topics.
        #[command(subcommand)]
        action: Option<TopicsCommand>,
    },
    /// `topics apply` then `schemas register` (idempotent).
    Provision(DedupWindow),
    /// The embedded Avro schemas and the registry.
    Schemas {
        /// What to do with the schemas.
        #[command(subcommand)]
        action: SchemasCommand,
    },
    /// Move a stopped stage's consumer group to the first records at or
    /// after a point in time, so it reprocesses them.
    Replay {
        /// The stage whose input to replay.
        #[arg(long, value_enum)]
        stage: Stage,
        /// RFC 3339 timestamp, for example 2024-05-01T08:00:00Z.
        #[arg(long, value_parser = timestamp)]
        from: DateTime<Utc>,
        /// Show the offsets, commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A stage's dead-letter queue.
    Dlq {
        /// What to do with the dead letters.
        #[command(subcommand)]
        action: DlqCommand,
    },
    /// The filter's rules.
    Rules {
        /// What to do with the rules.
        #[command(subcommand)]
        action: RulesCommand,
    },
    /// The queue routing directory.
    Directory {
        /// What to do with the directory.
        #[command(subcommand)]
        action: DirectoryCommand,
    },
    /// Print a topic's records as JSON lines, decoded through the registry.
    Tail {
        /// Topic name without the prefix, for example survey.responses.actionable.
        topic: String,
        /// Stop after this many records.
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Stop after this long without a record.
        #[arg(long, default_value = "5s", value_parser = duration)]
        idle: Duration,
    },
}

/// `topics` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Print the registry as a table, with this deployment's names.
    List,
    /// Create every topic with its declared settings; re-apply them to the
    /// topics that exist.
    Apply(DedupWindow),
}

/// The dedup window setting of provisioning.
#[derive(Debug, Clone, Args)]
pub struct DedupWindow {
    /// Dedup window, and so the dedup topic's retention.
    #[arg(long, default_value = "24h", value_parser = duration)]
    pub dedup_window: Duration,
}

impl DedupWindow {
    fn provision_settings(&self) -> ProvisionSettings {
        ProvisionSettings {
            dedup_window: self.dedup_window,
        }
    }
}

/// `schemas` subcommands.
#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Register every embedded schema under its subject, with its
    /// compatibility level.
    Register,
    /// Ask the registry whether every embedded schema is compatible with
    /// the registered versions; exits 1 when one is not.
    Check,
}

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters (headers and sizes, not payloads) and count them
    /// per reason.
    Inspect {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        stage: Stage,
        /// Records to list; all are counted.
        #[arg(long, default_value_t = 50)]
        max: usize,
        /// Also show payloads, decoded where possible. They can hold
        /// customer comments.
        #[arg(long)]
        show_payload: bool,
    },
    /// Send dead letters back to the stage's input, each once: the original
    /// key and bytes, trace headers kept, `dlq.redriven.from` added.
    Redrive {
        /// Whose dead-letter queue.
        #[arg(long, value_enum)]
        stage: Stage,
        /// Only dead letters with this `dlq.reason`.
        #[arg(long)]
        reason: Option<String>,
        /// Count, but neither produce nor commit.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Count the alerts rules would have raised on a window of raw
    /// responses, per queue and reason (read-only).
    Backtest(BacktestArgs),
}

/// The window and rule overrides of a backtest.
#[derive(Debug, Clone, Args)]
pub struct BacktestArgs {
    /// Start of the window, RFC 3339.
    #[arg(long, value_parser = timestamp)]
    pub from: DateTime<Utc>,
    /// End of the window (exclusive), RFC 3339; default: the topic's end.
    #[arg(long, value_parser = timestamp)]
    pub to: Option<DateTime<Utc>>,
    /// A score below this is actionable (default: the filter's, 3).
    #[arg(long)]
    pub score_threshold: Option<i32>,
    /// Critical keywords, comma-separated; replace the filter's defaults.
    #[arg(long, value_delimiter = ',')]
    pub keywords: Option<Vec<String>>,
    /// A queue's own threshold, `<queue id>=<score>`; repeatable.
    #[arg(long = "queue-threshold", value_parser = queue_threshold)]
    pub queue_thresholds: Vec<(String, i32)>,
}

impl BacktestArgs {
    /// The filter's default rules with these overrides.
    pub fn options(&self) -> backtest::BacktestOptions {
        let defaults = RuleSettings::default();
        let rules = RuleSettings {
            score_threshold: self.score_threshold.unwrap_or(defaults.score_threshold),
            queue_thresholds: self.queue_thresholds.iter().cloned().collect(),
            critical_keywords: self
                .keywords
                .clone()
                .unwrap_or_else(|| defaults.critical_keywords.clone()),
            ..defaults
        };
        backtest::BacktestOptions {
            from: self.from,
            to: self.to,
            rules,
        }
    }
}

/// `directory` subcommands.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Write one directory entry per queue of the routing file, with names
    /// and supervisors from Genesys Cloud.
    Sync(SyncArgs),
}

/// The routing file and the Genesys organisation, from the enricher's
/// variables.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// The operator's routing file.
    #[arg(long, env = "ROUTING_FILE")]
    pub routing_file: PathBuf,
    /// Genesys Cloud region domain, for example mypurecloud.ie.
    #[arg(long, env = "GENESYS_REGION", default_value = "mypurecloud.com")]
    pub genesys_region: String,
    /// Overrides the API base URL.
    #[arg(long, env = "GENESYS_API_URL")]
    pub genesys_api_url: Option<String>,
    /// Overrides the login base URL.
    #[arg(long, env = "GENESYS_LOGIN_URL")]
    pub genesys_login_url: Option<String>,
    /// OAuth client id (client credentials).
    #[arg(long, env = "GENESYS_CLIENT_ID")]
    pub genesys_client_id: String,
    /// OAuth client secret; prefer the variable to the flag.
    #[arg(long, env = "GENESYS_CLIENT_SECRET", hide_env_values = true)]
    pub genesys_client_secret: SecretString,
}

impl SyncArgs {
    /// The Genesys client settings.
    pub fn genesys(&self) -> GenesysConfig {
        GenesysConfig {
            region: self.genesys_region.clone(),
            api_url: self.genesys_api_url.clone(),
            login_url: self.genesys_login_url.clone(),
            client_id: self.genesys_client_id.clone(),
            client_secret: self.genesys_client_secret.clone(),
            ..GenesysConfig::default()
        }
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime_serde::re::humantime::parse_duration(text).map_err(|e| format!("{text}: {e}"))
}

fn timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| {
            format!("{text} is not an RFC 3339 timestamp ({e}), e.g. 2024-05-01T08:00:00Z")
        })
}

fn queue_threshold(text: &str) -> Result<(String, i32), String> {
    let (queue, score) = text
        .split_once('=')
        .ok_or_else(|| format!("{text}: expected <queue id>=<score>"))?;
    let score = score
        .parse()
        .map_err(|e| format!("{text}: the score is not a number ({e})"))?;
    Ok((queue.to_owned(), score))
}

impl Cli {
    /// Runs the command and prints its report.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = self.connection.kafka_settings();
        let topology = settings.topology();
        let registry = settings.schema_registry_url.as_str();
        let has_registry = registry != EMBEDDED;
        match self.command {
            Command::Topics {
                action: None | Some(TopicsCommand::List),
            } => print!("{}", topics::list(&settings)),
            Command::Topics {
                action: Some(TopicsCommand::Apply(window)),
            } => print!(
                "{}",
                topics::apply(&settings, &window.provision_settings()).await?
            ),
            Command::Provision(window) => {
                print!(
                    "{}",
                    topics::apply(&settings, &window.provision_settings()).await?
                );
                if has_registry {
                    println!();
                    print!("{}", schemas::register(registry, &topology).await?);
                }
            }
            Command::Schemas { action } => {
                anyhow::ensure!(
                    has_registry,
                    "SCHEMA_REGISTRY_URL is `{EMBEDDED}`: there is no registry to talk to"
                );
                match action {
                    SchemasCommand::Register => {
                        print!("{}", schemas::register(registry, &topology).await?);
                    }
                    SchemasCommand::Check => {
                        let report =
                            schemas::check(registry, &schemas::embedded(&topology)).await?;
                        print!("{report}");
                        if !report.incompatible().is_empty() {
                            return Ok(ExitCode::FAILURE);
                        }
                    }
                }
            }
            Command::Replay {
                stage,
                from,
                dry_run,
            } => print!("{}", replay::replay(&settings, stage, from, dry_run)?),
            Command::Dlq {
                action:
                    DlqCommand::Inspect {
                        stage,
                        max,
                        show_payload,
                    },
            } => {
                let options = dlq::InspectOptions { max, show_payload };
                print!("{}", dlq::inspect(&settings, stage, options).await?);
            }
            Command::Dlq {
                action:
                    DlqCommand::Redrive {
                        stage,
                        reason,
                        dry_run,
                    },
            } => {
                let options = dlq::RedriveOptions { reason, dry_run };
                print!("{}", dlq::redrive(&settings, stage, &options).await?);
            }
            Command::Rules {
                action: RulesCommand::Backtest(args),
            } => print!("{}", backtest::backtest(&settings, args.options()).await?),
            Command::Directory {
                action: DirectoryCommand::Sync(args),
            } => print!(
                "{}",
                directory::sync(&settings, args.genesys(), &args.routing_file).await?
            ),
            Command::Tail { topic, max, idle } => {
                let written =
                    tail::tail(&settings, &topic, max, idle, &mut std::io::stdout()).await?;
                eprintln!("{written} record(s) from {}{topic}", topology.prefix());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn backtest_flags_override_the_filter_defaults() {
        let cli = parse(&[
            "survey-ctl",
            "rules",
            "backtest",
            "--from",
            "2024-05-01T08:00:00+02:00",
            "--score-threshold",
            "4",
            "--keywords",
            "lawsuit,speak to a manager",
            "--queue-threshold",
            "vip=5",
            "--queue-threshold",
            "q-2=2",
        ]);
        let Command::Rules {
            action: RulesCommand::Backtest(args),
        } = cli.command
        else {
            panic!("not a backtest: {:?}", cli.command);
        };
        let options = args.options();
        assert_eq!(options.from.to_rfc3339(), "2024-05-01T06:00:00+00:00");
        assert_eq!(options.to, None);
        assert_eq!(options.rules.score_threshold, 4);
        assert_eq!(
            options.rules.critical_keywords,
            vec!["lawsuit", "speak to a manager"]
        );
        assert_eq!(options.rules.queue_thresholds.get("vip"), Some(&5));
        assert_eq!(options.rules.queue_thresholds.get("q-2"), Some(&2));
        assert_eq!(options.rules.negations, RuleSettings::default().negations);
    }

    #[test]
    fn bad_values_are_refused_with_the_expected_form() {
        for args in [
            &[
                "survey-ctl",
                "replay",
                "--stage",
                "filter",
                "--from",
                "yesterday",
            ][..],
            &[
                "survey-ctl",
                "replay",
                "--stage",
                "ingest",
                "--from",
                "2024-05-01T08:00:00Z",
            ],
            &[
                "survey-ctl",
                "rules",
                "backtest",
                "--from",
                "2024-05-01T08:00:00Z",
                "--queue-threshold",
                "vip",
            ],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn connection_flags_go_anywhere_and_topics_alone_lists() {
        let cli = parse(&["survey-ctl", "topics", "--topic-prefix", "staging."]);
        assert_eq!(cli.connection.kafka_settings().topic_prefix, "staging.");
        assert!(matches!(cli.command, Command::Topics { action: None }));
        let cli = parse(&["survey-ctl", "provision", "--dedup-window", "2h"]);
        assert!(matches!(
            cli.command,
            Command::Provision(DedupWindow { dedup_window }) if dedup_window == Duration::from_secs(7200)
        ));
    }
}
