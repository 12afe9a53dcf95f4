//! Test harness for the integration and end-to-end tests: the real broker and
//! registry, a fresh topic prefix per test, and readers that collect what
//! landed on a topic.
//!
//! The broker and registry come from `KAFKA_BOOTSTRAP_SERVERS` and
//! `SCHEMA_REGISTRY_URL` (`cargo xtask test` starts them and sets both).
//! Without them, and where a Docker engine answers, testcontainers starts
//! both instead. With neither, tests fail and say how to get a stack.

use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use survey_runtime::KafkaSettings;

mod containers;
mod registry_gate;

pub use registry_gate::RegistryGate;

/// Where the test broker and registry are.
#[derive(Debug, Clone)]
pub struct StackAddress {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// Confluent-compatible registry base URL.
    pub schema_registry_url: String,
}

/// The shared test stack, found or started once per test binary.
pub fn stack() -> &'static StackAddress {
    static STACK: OnceLock<StackAddress> = OnceLock::new();
    STACK.get_or_init(|| {
        let from_env = (
            std::env::var("KAFKA_BOOTSTRAP_SERVERS"),
            std::env::var("SCHEMA_REGISTRY_URL"),
        );
        if let (Ok(bootstrap_servers), Ok(schema_registry_url)) = from_env {
            return StackAddress {
                bootstrap_servers,
                schema_registry_url,
            };
        }
        if let Some(address) = containers::start_if_docker_answers() {
            return address;
        }
        panic!(
            "no Kafka broker and schema registry for the integration tests: \
             run them with `cargo xtask test`, or set KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL"
        );
    })
}

/// Kafka settings for one test: the shared stack, a fresh topic prefix.
pub fn kafka_settings() -> KafkaSettings {
    let stack = stack();
    KafkaSettings {
        bootstrap_servers: stack.bootstrap_servers.clone(),
        schema_registry_url: stack.schema_registry_url.clone(),
        topic_prefix: unique_prefix(),
        ..KafkaSettings::default()
    }
}

/// A topic and group prefix no other test uses.
pub fn unique_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("test-{}.", &id[..12])
}

/// Reads a topic from its beginning, all partitions, outside any group.
pub struct TopicReader {
    consumer: StreamConsumer,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicReader").finish_non_exhaustive()
    }
}

impl TopicReader {
    /// A reader of every partition of `topic` (which must exist).
    pub fn new(settings: &KafkaSettings, topic: &str) -> anyhow::Result<Self> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "20")
            .create()?;
        // A topic created a moment ago may not be in the metadata yet.
        let mut assignment = TopicPartitionList::new();
        for _ in 0..50 {
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
            }
            if assignment.count() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        anyhow::ensure!(assignment.count() > 0, "topic {topic} has no partitions");
        consumer.assign(&assignment)?;
        Ok(Self { consumer })
    }

    /// Collects records until `count` arrived or `limit` passed.
    pub async fn read(&self, count: usize, limit: Duration) -> Vec<OwnedMessage> {
        let mut records = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while records.len() < count {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => records.push(message.detach()),
                Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        records
    }

    /// Collects whatever arrives within `quiet` (for asserting that nothing
    /// more comes).
    pub async fn read_all(&self, quiet: Duration) -> Vec<OwnedMessage> {
        self.read(usize::MAX, quiet).await
    }
}

/// A plain producer for injecting records.
pub fn producer(settings: &KafkaSettings) -> anyhow::Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("acks", "all")
        .create()?)
}

/// Produces one record and waits for its acknowledgement.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &[u8],
    payload: &[u8],
    headers: &[(&str, &str)],
) -> anyhow::Result<()> {
    let headers = headers
        .iter()
        .fold(OwnedHeaders::new(), |all, (key, value)| {
            all.insert(Header {
                key,
                value: Some(*value),
            })
        });
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(headers);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| anyhow::anyhow!("produce to {topic}: {error}"))?;
    Ok(())
}

/// A header's value as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// Number of records on `topic`, from its watermarks.
pub fn record_count(settings: &KafkaSettings, topic: &str) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut total = 0;
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) =
            consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(10))?;
        total += high - low;
    }
    Ok(total)
}

/// Sample data shaped like the integration guide's webhook.
pub mod samples {
    use serde_json::{Value, json};
    use survey_contracts::SurveyResponse;

    /// A `survey.response.created` body submitted just now.
    pub fn webhook(id: &str, csat: i64, comment: Option<&str>, queue: &str) -> Value {
        json!({
            "event": "survey.response.created",
            "data": {
                "id": id,
                "surveyId": "5d1fa7c4-0b4e-4c36-9a55-3b1b2cd9a001",
                "interactionId": format!("conv-{id}"),
                "submittedAt": chrono_now_rfc3339(),
                "answers": { "q1_csat": csat, "q2_comments": comment },
                "routingData": { "queueId": queue, "agentId": "agent-1", "agentName": "John Doe" }
            }
        })
    }

    /// The raw record ingest would have written for such a webhook.
    pub fn raw_survey(id: &str, csat: i32, comment: Option<&str>, queue: &str) -> SurveyResponse {
        let now = survey_runtime::now_millis();
        SurveyResponse {
            response_id: id.to_owned(),
            event: "survey.response.created".to_owned(),
            survey_id: None,
            interaction_id: format!("conv-{id}"),
            submitted_at: now,
            received_at: now,
            csat,
            comment: comment.map(str::to_owned),
            other_answers: Default::default(),
            queue_id: Some(queue.to_owned()),
            agent_id: Some("agent-1".to_owned()),
            agent_name: Some("John Doe".to_owned()),
        }
    }

    fn chrono_now_rfc3339() -> String {
        let millis = survey_runtime::now_millis();
        let seconds = millis.div_euclid(1000);
        let nanos = u32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0);
        chrono::DateTime::from_timestamp(seconds, nanos)
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    }
}

/// A service binary started as its own process, stopped with SIGTERM.
pub mod process {
    use std::net::TcpListener;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::time::Duration;

    use survey_runtime::KafkaSettings;

    /// A free loopback port.
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    /// Starts `binary` against `kafka`, with its ops endpoint on `ops_port`
    /// and `extra` environment.
    pub fn spawn(
        binary: &str,
        kafka: &KafkaSettings,
        ops_port: u16,
        extra: &[(&str, String)],
    ) -> std::io::Result<Child> {
        let mut command = Command::new(binary);
        command
            .env("KAFKA_BOOTSTRAP_SERVERS", &kafka.bootstrap_servers)
            .env("SCHEMA_REGISTRY_URL", &kafka.schema_registry_url)
            .env("TOPIC_PREFIX", &kafka.topic_prefix)
            .env("OPS_ADDR", format!("127.0.0.1:{ops_port}"))
            .env("LOG_FORMAT", "text")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in extra {
            command.env(name, value);
        }
        command.spawn()
    }

    /// Waits until `GET url` answers 200, at most `limit`.
    pub async fn wait_ready(url: &str, limit: Duration) -> bool {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if http
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    /// Sends SIGTERM and waits for the exit, at most `limit`.
    pub async fn terminate(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        None
    }
}
