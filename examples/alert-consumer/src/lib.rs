//! How another team consumes `survey.alerts.enriched`, the public contract of
//! survey-alerts (see `docs/consumer-guide.md`).
//!
//! Delivery semantics:
//! - **At-least-once.** The offset of a record is committed only after the
//!   record was handled. A crash or rebalance before the commit delivers it
//!   again, and the enricher itself may publish the same revision twice
//!   (README, "Delivery guarantees"). Nothing is skipped, some things repeat.
//! - **Keep the highest revision per `alertId`.** An alert is re-issued with
//!   a higher `revision` when its recording becomes ready or unavailable.
//!   [`LatestAlerts`] keeps the highest revision seen; an equal revision is a
//!   duplicate and a lower one is stale, and both are ignored. So handling is
//!   idempotent by (`alertId`, `revision`): reading the same record twice, or
//!   an older revision after a newer one, changes nothing.
//! - **`read_committed`**, like the pipeline's own consumers, in a consumer
//!   group of the reading team's own (never one of `survey-alerts.*`).
//!
//! The example depends on none of the survey-alerts crates. It decodes the
//! Confluent wire format with schema_registry_converter's [`AvroDecoder`]
//! (the writer's schema comes from the registry by the id in the record) and
//! reads the result into [`AlertView`], its own serde struct declaring only
//! the fields it needs. The topic's schema evolves FULL_TRANSITIVE: fields
//! may be added (always optional, with defaults), and this reader simply
//! does not see them.
//!
//! `survey.comment` and `transcriptSummary` are customer text. This example
//! does not even read them; if you do, keep them out of your logs.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use apache_avro::types::Value;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde::Deserialize;

/// The public topic, without the deployment's prefix.
pub const TOPIC: &str = "survey.alerts.enriched";

/// The prefix of survey-alerts' own consumer groups (after the deployment
/// prefix). Reading in one of them would steal the notifier's partitions.
const PIPELINE_GROUP_PREFIX: &str = "survey-alerts.";

/// Command-line arguments. The variables are the ones survey-alerts uses.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "Consumes survey.alerts.enriched and prints each new alert or revision")]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:19092"
    )]
    pub bootstrap_servers: String,
    /// Confluent-compatible schema registry; for Apicurio its
    /// `/apis/ccompat/v7` base.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:18081/apis/ccompat/v7"
    )]
    pub schema_registry_url: String,
    /// The deployment's topic prefix (`TOPIC_PREFIX` of survey-alerts).
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Your team's consumer group.
    #[arg(long)]
    pub group: String,
}

impl Args {
    /// The full topic name in this deployment.
    pub fn topic(&self) -> String {
        format!("{}{TOPIC}", self.topic_prefix)
    }
}

/// The part of an enriched alert this consumer reads. Every field name is
/// the schema's (`schemas/enriched-alert.avsc`); fields not declared here
/// are ignored, so new fields in the contract never break this reader.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// The alert id (the survey response id), also the record key.
    pub alert_id: String,
    /// 1 for the first issue; each re-issue adds 1.
    pub revision: i32,
    /// When the enricher issued this revision, epoch milliseconds.
    pub issued_at: i64,
    /// The survey part.
    pub survey: SurveyView,
    /// The interaction part.
    pub interaction: InteractionView,
    /// The recording.
    pub recording: RecordingView,
}

/// The survey fields this consumer reads (not the customer's comment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SurveyView {
    /// CSAT, 1 (worst) to 5 (best).
    pub csat: i32,
    /// Why the response is actionable.
    pub reasons: Vec<ReasonView>,
}

/// One reason, by its code (`low_score`, `critical_keyword`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReasonView {
    /// The reason code.
    pub code: String,
}

/// The interaction fields this consumer reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InteractionView {
    /// Genesys conversation id.
    pub id: String,
    /// `agent`, `bot` or `unassigned`.
    pub handled_by: String,
    /// Queue name, when known.
    #[serde(default)]
    pub queue_name: Option<String>,
    /// Agent display name, when known.
    #[serde(default)]
    pub agent_name: Option<String>,
}

/// The recording's state in this revision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordingView {
    /// `ready`, `pending` (a later revision follows) or `unavailable`.
    pub status: String,
    /// Media URL when `ready`.
    #[serde(default)]
    pub url: Option<String>,
}

/// Reads a decoded record (the writer's schema, any version) as the view.
pub fn alert_from_value(value: &Value) -> Result<AlertView, apache_avro::Error> {
    apache_avro::from_value(value)
}

/// What a revision means given what was seen before for its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first revision seen of this alert.
    New,
    /// Higher than the one kept, which it replaces.
    Revised {
        /// The revision kept before.
        previous: i32,
    },
    /// The revision already kept: a redelivery. Ignore it.
    Duplicate,
    /// Lower than the one kept: arrived late. Ignore it.
    Stale {
        /// The revision kept.
        latest: i32,
    },
}

impl Seen {
    /// Whether the revision is news, to act on; otherwise it is ignored.
    pub fn is_news(self) -> bool {
        matches!(self, Self::New | Self::Revised { .. })
    }
}

/// Classifies `incoming` against the revision kept for its alert, if any.
pub fn classify(kept: Option<i32>, incoming: i32) -> Seen {
    match kept {
        None => Seen::New,
        Some(kept) if incoming > kept => Seen::Revised { previous: kept },
        Some(kept) if incoming == kept => Seen::Duplicate,
        Some(kept) => Seen::Stale { latest: kept },
    }
}

/// The highest revision seen of every alert, in memory.
///
/// A real consumer keeps this where its state lives (a table keyed by
/// `alertId`, with the revision as an optimistic-concurrency check) and may
/// forget alerts older than the topic's retention (7 days).
#[derive(Debug, Default)]
pub struct LatestAlerts {
    alerts: HashMap<String, AlertView>,
}

impl LatestAlerts {
    /// Keeps `alert` if it is the highest revision of its alert so far.
    pub fn offer(&mut self, alert: AlertView) -> Seen {
        let kept = self.alerts.get(&alert.alert_id).map(|kept| kept.revision);
        let seen = classify(kept, alert.revision);
        if seen.is_news() {
            self.alerts.insert(alert.alert_id.clone(), alert);
        }
        seen
    }

    /// The kept revision of `alert_id`.
    pub fn get(&self, alert_id: &str) -> Option<&AlertView> {
        self.alerts.get(alert_id)
    }

    /// How many alerts are kept.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// Whether no alert is kept.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// One line for a new alert or revision. No customer text.
pub fn describe(alert: &AlertView, seen: Seen) -> String {
    let what = match seen {
        Seen::Revised { previous } => format!("revised (was {previous})"),
        _ => "new".to_owned(),
    };
    let reasons: Vec<&str> = alert
        .survey
        .reasons
        .iter()
        .map(|reason| reason.code.as_str())
        .collect();
    let who = alert
        .interaction
        .agent_name
        .as_deref()
        .unwrap_or(&alert.interaction.handled_by);
    let recording = match &alert.recording.url {
        Some(url) if alert.recording.status == "ready" => format!("ready {url}"),
        _ => alert.recording.status.clone(),
    };
    format!(
        "alert {} rev {} {what}: csat {} [{}], queue {}, handled by {who}, recording {recording}",
        alert.alert_id,
        alert.revision,
        alert.survey.csat,
        reasons.join(","),
        alert.interaction.queue_name.as_deref().unwrap_or("-"),
    )
}

/// The consumer's librdkafka settings.
pub fn consumer_config(args: &Args) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("group.id", &args.group)
        .set("client.id", "survey-alert-consumer-example")
        // Only what transactions committed (and everything non-transactional).
        .set("isolation.level", "read_committed")
        // Offsets are committed by hand, after each record is handled.
        .set("enable.auto.commit", "false")
        // A new group starts at the oldest retained alert (7 days).
        .set("auto.offset.reset", "earliest");
    config
}

/// Refuses survey-alerts' own groups: sharing one would split the topic's
/// partitions between this program and the notifier.
pub fn check_group(args: &Args) -> anyhow::Result<()> {
    let own = format!("{}{PIPELINE_GROUP_PREFIX}", args.topic_prefix);
    anyhow::ensure!(!args.group.trim().is_empty(), "--group must not be empty");
    anyhow::ensure!(
        !args.group.starts_with(&own),
        "--group {} is one of survey-alerts' own groups ({own}*); use your team's",
        args.group
    );
    Ok(())
}

/// Consumes until Ctrl-C, printing one line per new alert or revision.
pub async fn run(args: Args) -> anyhow::Result<()> {
    check_group(&args)?;
    let topic = args.topic();
    let consumer: StreamConsumer = consumer_config(&args)
        .create()
        .context("creating the Kafka consumer")?;
    consumer
        .subscribe(&[&topic])
        .with_context(|| format!("subscribing to {topic}"))?;
    let registry = SrSettings::new(args.schema_registry_url.trim_end_matches('/').to_owned());
    let decoder = AvroDecoder::new(registry);
    let mut latest = LatestAlerts::default();
    println!("reading {topic} in group {}; Ctrl-C stops", args.group);

    loop {
        let message = tokio::select! {
            received = consumer.recv() => received,
            _ = tokio::signal::ctrl_c() => break,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                // librdkafka reconnects by itself; fetch errors are reported
                // here and the stream goes on.
                eprintln!("kafka: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        handle(&decoder, &mut latest, &message).await?;
        // After handling, never before: at-least-once. (At high volume,
        // store offsets instead and let librdkafka commit them in batches.)
        consumer
            .commit_message(&message, CommitMode::Async)
            .context("committing the offset")?;
    }

    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => return Err(error).context("committing offsets at shutdown"),
    }
    println!("stopped; {} alerts kept", latest.len());
    Ok(())
}

/// Decodes and keeps one record. A record this reader can never read is
/// reported by its position and skipped (a production consumer would park
/// it in a dead-letter topic of its own); a registry failure stops the
/// consumer before the offset is committed, so a restart reads the record
/// again.
async fn handle(
    decoder: &AvroDecoder,
    latest: &mut LatestAlerts,
    message: &BorrowedMessage<'_>,
) -> anyhow::Result<()> {
    let position = format!(
        "{}[{}]@{}",
        message.topic(),
        message.partition(),
        message.offset()
    );
    let Some(payload) = message.payload() else {
        eprintln!("{position}: no value, skipped");
        return Ok(());
    };
    if !matches!(payload, [0, _, _, _, _, ..]) {
        eprintln!("{position}: not Confluent wire format, skipped");
        return Ok(());
    }
    let decoded = decoder
        .decode(Some(payload))
        .await
        .with_context(|| format!("{position}: decoding through the schema registry"))?;
    let alert = match alert_from_value(&decoded.value) {
        Ok(alert) => alert,
        Err(error) => {
            eprintln!("{position}: does not fit the alert view ({error}), skipped");
            return Ok(());
        }
    };
    let seen = latest.offer(alert.clone());
    if seen.is_news() {
        println!("{}", describe(&alert, seen));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use survey_contracts::schemas::ENRICHED_ALERT;

    /// An alert as the enricher writes it: the whole contract, customer text
    /// included, resolved against `schemas/enriched-alert.avsc`.
    fn written_alert(revision: i32, recording: serde_json::Value) -> Value {
        let json = serde_json::json!({
            "alertId": "r-1",
            "revision": revision,
            "issuedAt": 1_698_400_805_000_i64,
            "survey": {
                "responseId": "r-1",
                "surveyId": "s-1",
                "submittedAt": 1_698_400_800_000_i64,
                "receivedAt": 1_698_400_801_000_i64,
                "csat": 1,
                "comment": "The agent was rude.",
                "reasons": [
                    {"code": "low_score", "detail": "csat 1 is below 3"},
                    {"code": "critical_keyword", "detail": "rude"}
                ]
            },
            "interaction": {
                "id": "c-1",
                "mediaType": "voice",
                "handledBy": "agent",
                "agentId": "a-1",
                "agentName": "Priya Nair",
                "queueId": "q-1",
                "queueName": "Billing Support",
                "link": "https://apps.mypurecloud.ie/directory/#/engage/admin/interactions/c-1"
            },
            "recording": recording,
            "transcriptSummary": "Customer disputed a charge.",
            "routing": {
                "kind": "queue_supervisors",
                "supervisors": [{"userId": "s-1", "name": "Sam", "email": "sam@example.com"}],
                "targets": [{"channel": "slack", "address": "#billing"}]
            },
            "traceContext": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        });
        Value::try_from(json)
            .and_then(|value| value.resolve(ENRICHED_ALERT.schema()))
            .unwrap_or_else(|e| panic!("the test alert does not fit the contract: {e}"))
    }

    fn view(revision: i32) -> AlertView {
        let recording = serde_json::json!({"status": "pending"});
        alert_from_value(&written_alert(revision, recording))
            .unwrap_or_else(|e| panic!("reading the view: {e}"))
    }

    #[test]
    fn the_topic_is_the_registrys_public_topic() {
        assert_eq!(TOPIC, survey_contracts::topics::ALERTS_ENRICHED.base_name);
    }

    #[test]
    fn the_view_reads_the_contract_and_only_what_it_declares() -> Result<(), apache_avro::Error> {
        let ready = serde_json::json!({"status": "ready", "url": "https://media.example/r-1"});
        let alert = alert_from_value(&written_alert(2, ready))?;
        assert_eq!(alert.alert_id, "r-1");
        assert_eq!(alert.revision, 2);
        assert_eq!(alert.survey.csat, 1);
        assert_eq!(alert.interaction.agent_name.as_deref(), Some("Priya Nair"));
        assert_eq!(
            alert.recording.url.as_deref(),
            Some("https://media.example/r-1")
        );
        let line = describe(&alert, Seen::Revised { previous: 1 });
        assert_eq!(
            line,
            "alert r-1 rev 2 revised (was 1): csat 1 [low_score,critical_keyword], \
             queue Billing Support, handled by Priya Nair, recording ready https://media.example/r-1"
        );
        assert!(!line.contains("rude") && !line.contains("disputed"));
        Ok(())
    }

    #[test]
    fn fields_added_to_the_contract_later_are_ignored() -> Result<(), apache_avro::Error> {
        let recording = serde_json::json!({"status": "unavailable"});
        let mut value = written_alert(3, recording);
        let Value::Record(fields) = &mut value else {
            panic!("an alert is a record: {value:?}");
        };
        fields.push(("sentiment".to_owned(), Value::Double(-0.8)));
        assert_eq!(alert_from_value(&value)?.recording.status, "unavailable");
        Ok(())
    }

    #[test]
    fn revisions_are_classified_against_the_kept_one() {
        assert_eq!(classify(None, 1), Seen::New);
        assert_eq!(classify(None, 3), Seen::New);
        assert_eq!(classify(Some(1), 2), Seen::Revised { previous: 1 });
        assert_eq!(classify(Some(2), 2), Seen::Duplicate);
        assert_eq!(classify(Some(3), 2), Seen::Stale { latest: 3 });
        assert!(Seen::New.is_news() && Seen::Revised { previous: 1 }.is_news());
        assert!(!Seen::Duplicate.is_news() && !Seen::Stale { latest: 1 }.is_news());
    }

    #[test]
    fn the_highest_revision_per_alert_is_kept_whatever_the_order() {
        let mut latest = LatestAlerts::default();
        assert_eq!(latest.offer(view(1)), Seen::New);
        assert_eq!(latest.offer(view(1)), Seen::Duplicate);
        assert_eq!(latest.offer(view(3)), Seen::Revised { previous: 1 });
        assert_eq!(latest.offer(view(2)), Seen::Stale { latest: 3 });
        assert_eq!(latest.offer(view(3)), Seen::Duplicate);
        assert_eq!(latest.get("r-1").map(|alert| alert.revision), Some(3));

        let mut other = view(1);
        other.alert_id = "r-2".to_owned();
        assert_eq!(latest.offer(other), Seen::New);
        assert_eq!(latest.len(), 2);
    }

    #[test]
    fn survey_alerts_own_groups_are_refused() {
        let args = |group: &str, prefix: &str| Args {
            bootstrap_servers: String::new(),
            schema_registry_url: String::new(),
            topic_prefix: prefix.to_owned(),
            group: group.to_owned(),
        };
        assert!(check_group(&args("team-qa.alerts", "")).is_ok());
        assert!(check_group(&args("survey-alerts.notifier", "")).is_err());
        assert!(check_group(&args("prod.survey-alerts.notifier", "prod.")).is_err());
        assert!(check_group(&args(" ", "")).is_err());
        assert_eq!(args("g", "prod.").topic(), "prod.survey.alerts.enriched");
    }
}
