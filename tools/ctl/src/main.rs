//! survey-ctl: the operator's view of the pipeline's topics.
//!
//! - `survey-ctl topics`: the topic registry as a table;
//! - `survey-ctl provision`: create the topics and register the schemas;
//! - `survey-ctl tail <topic>`: print a topic's records, decoded through the
//!   registry, as JSON lines.

use std::time::Duration;

use clap::{Parser, Subcommand};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use survey_contracts::AvroCodec;
use survey_contracts::topics::{self, ValueFormat};
use survey_runtime::KafkaSettings;
use survey_runtime::provision::{ProvisionSettings, provision};

#[derive(Parser)]
#[command(version, about = "Operate survey-alerts topics")]
struct Cli {
    /// Bootstrap servers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:19092"
    )]
    bootstrap_servers: String,
    /// Confluent-compatible registry URL.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:18081/apis/ccompat/v7"
    )]
    schema_registry_url: String,
    /// Topic and group prefix of the deployment.
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the topic registry.
    Topics,
    /// Create every topic and register every schema (idempotent).
    Provision {
        /// Dedup window, and so the dedup topic's retention.
        #[arg(long, default_value = "24h", value_parser = humantime_duration)]
        dedup_window: Duration,
    },
    /// Print a topic's records as JSON lines, decoded through the registry.
    Tail {
        /// Topic name without the prefix, for example survey.responses.actionable.
        topic: String,
        /// Stop after this many records.
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Stop after this long without a record.
        #[arg(long, default_value = "5s", value_parser = humantime_duration)]
        idle: Duration,
    },
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number.parse().map_err(|_| format!("bad duration {text}"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" | "" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => return Err(format!("bad duration unit in {text}")),
    };
    Ok(Duration::from_secs(seconds))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = KafkaSettings {
        bootstrap_servers: cli.bootstrap_servers,
        schema_registry_url: cli.schema_registry_url,
        topic_prefix: cli.topic_prefix,
        ..KafkaSettings::default()
    };
    match cli.command {
        Command::Topics => print_topics(&settings),
        Command::Provision { dedup_window } => {
            let provision_settings = ProvisionSettings {
                dedup_window,
                ..ProvisionSettings::default()
            };
            provision(&settings, topics::ALL, &provision_settings).await?;
            println!("provisioned {} topics", topics::ALL.len());
        }
        Command::Tail { topic, max, idle } => tail(&settings, &topic, max, idle).await?,
    }
    Ok(())
}

fn print_topics(settings: &KafkaSettings) {
    let topology = settings.topology();
    println!("| topic | key | value | policy | producer | consumer (group) |");
    println!("|---|---|---|---|---|---|");
    for spec in topics::ALL {
        let value = match spec.value {
            ValueFormat::Avro(schema) => format!("Avro `{}`", schema.file),
            ValueFormat::DeadLetter => "original bytes + `dlq.*` headers".to_owned(),
        };
        let consumer = match (spec.consumer, topology.group(spec)) {
            (Some(service), Some(group)) => format!("{service} (`{group}`)"),
            (Some(service), None) => format!("{service} (reads all partitions)"),
            (None, _) => "operators".to_owned(),
        };
        println!(
            "| `{}` | {} | {value} | {} | {} | {consumer} |",
            topology.topic(spec),
            spec.key,
            spec.cleanup.as_kafka_str(),
            spec.producer,
        );
    }
}

async fn tail(
    settings: &KafkaSettings,
    base_name: &str,
    max: usize,
    idle: Duration,
) -> anyhow::Result<()> {
    let spec = topics::ALL
        .iter()
        .find(|spec| spec.base_name == base_name)
        .ok_or_else(|| anyhow::anyhow!("unknown topic {base_name}; see `survey-ctl topics`"))?;
    let topic = settings.topology().topic(spec);
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", "survey-ctl")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment.add_partition_offset(&topic, partition.id(), Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let mut printed = 0;
    while printed < max {
        let Ok(received) = tokio::time::timeout(idle, consumer.recv()).await else {
            break;
        };
        let message = received?;
        let key = message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned());
        let value = match (spec.value, message.payload()) {
            (ValueFormat::Avro(_), Some(payload)) => codec
                .decode_json(payload)
                .await
                .unwrap_or_else(|error| serde_json::json!({ "undecodable": error.to_string() })),
            (_, payload) => {
                serde_json::json!(payload.map(|p| String::from_utf8_lossy(p).into_owned()))
            }
        };
        let headers: serde_json::Map<String, serde_json::Value> = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            serde_json::json!(
                                h.value.map(|v| String::from_utf8_lossy(v).into_owned())
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let line = serde_json::json!({
            "partition": message.partition(),
            "offset": message.offset(),
            "key": key,
            "headers": headers,
            "value": value,
        });
        println!("{line}");
        printed += 1;
    }
    eprintln!("{printed} record(s) from {topic}");
    Ok(())
}
