//! `dlq inspect` and `dlq redrive`: a stage's dead-letter queue, read and
//! sent back to the stage.
//!
//! Dead letters hold the failed input's original key and bytes, with `dlq.*`
//! headers (see `survey_runtime::dead_letter`). The payload can hold customer
//! comments, so `inspect` shows its size only, unless asked.
//!
//! Delivery semantics of `redrive`: at-least-once, and once per run. Each
//! batch is acknowledged by Kafka before the redrive group
//! `survey-alerts.ctl.redrive.<stage>` commits past it, so an interrupted run
//! resumes where it stopped and a second run redrives nothing twice. A run
//! limited to one `--reason` commits to `…redrive.<stage>.<reason>` instead,
//! and a later run without `--reason` skips what that one redrove.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use survey_contracts::topics::{self, TopicSpec};
use survey_contracts::{AvroCodec, DeliveryRetry, Topology};
use survey_runtime::KafkaSettings;
use survey_runtime::dead_letter::headers;

use crate::kafka::{self, GroupOffsets, Offsets, RangeReader};
use crate::stage::Stage;
use crate::table::Table;

/// Header on a redriven record: the offset of the dead letter it came from.
pub const REDRIVEN_FROM: &str = survey_runtime::dead_letter::headers::REDRIVEN_FROM;

/// How long to wait for the next dead letter before the partition's end.
const IDLE: Duration = Duration::from_secs(30);
/// Records produced between two commits of the redrive group.
const BATCH: usize = 200;
/// The reason shown for a dead letter without a `dlq.reason` header.
const NO_REASON: &str = "(none)";

/// One dead letter as read from the DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// DLQ partition.
    pub partition: i32,
    /// DLQ offset.
    pub offset: i64,
    /// The original key.
    pub key: Option<Vec<u8>>,
    /// The original bytes.
    pub payload: Option<Vec<u8>>,
    /// Every header, the original ones and the `dlq.*` ones.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl DeadLetter {
    fn from_message(message: &OwnedMessage) -> Self {
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|all| {
                    all.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }

    /// The `dlq.reason` code.
    pub fn reason(&self) -> String {
        self.header(headers::REASON)
            .unwrap_or_else(|| NO_REASON.to_owned())
    }

    fn key_text(&self) -> String {
        self.key.as_deref().map_or("-".to_owned(), |key| {
            String::from_utf8_lossy(key).into_owned()
        })
    }
}

/// Which dead letters the redrive groups have already sent back.
struct RedriveLedger {
    settings: KafkaSettings,
    group: String,
    topic: String,
    partitions: Vec<i32>,
    all: BTreeMap<i32, Option<i64>>,
    by_reason: HashMap<String, BTreeMap<i32, Option<i64>>>,
}

impl RedriveLedger {
    fn load(
        settings: &KafkaSettings,
        stage: Stage,
        topic: &str,
        partitions: &[i32],
    ) -> anyhow::Result<Self> {
        let group = redrive_group(&settings.topology(), stage);
        let all = GroupOffsets::new(settings, &group)?.committed(topic, partitions)?;
        Ok(Self {
            settings: settings.clone(),
            group,
            topic: topic.to_owned(),
            partitions: partitions.to_vec(),
            all,
            by_reason: HashMap::new(),
        })
    }

    fn reason_offsets(&mut self, reason: &str) -> anyhow::Result<&BTreeMap<i32, Option<i64>>> {
        Ok(match self.by_reason.entry(reason.to_owned()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => {
                let group = reason_group(&self.group, reason);
                let committed = GroupOffsets::new(&self.settings, &group)?
                    .committed(&self.topic, &self.partitions)?;
                unknown.insert(committed)
            }
        })
    }

    /// Where a run starts on `partition`: past everything redriven, by all
    /// runs and, when `reason` is given, by that reason's runs.
    fn start(&mut self, partition: i32, reason: Option<&str>) -> anyhow::Result<i64> {
        let all = self.all.get(&partition).copied().flatten().unwrap_or(0);
        let by_reason = match reason {
            Some(reason) => self
                .reason_offsets(reason)?
                .get(&partition)
                .copied()
                .flatten()
                .unwrap_or(0),
            None => 0,
        };
        Ok(all.max(by_reason))
    }

    fn is_redriven(&mut self, record: &DeadLetter) -> anyhow::Result<bool> {
        let reason = record.reason();
        Ok(record.offset < self.start(record.partition, Some(&reason))?)
    }
}

/// The consumer group that records how far a stage's DLQ was redriven.
pub fn redrive_group(topology: &Topology, stage: Stage) -> String {
    format!("{}survey-alerts.ctl.redrive.{stage}", topology.prefix())
}

/// The consumer group of runs limited to one reason.
fn reason_group(group: &str, reason: &str) -> String {
    format!("{group}.{reason}")
}

/// What `dlq inspect` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectOptions {
    /// Records to list (all are counted).
    pub max: usize,
    /// Decode and show payloads, which may hold customer text.
    pub show_payload: bool,
}

/// One listed dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// The record.
    pub record: DeadLetter,
    /// Already sent back by `dlq redrive`.
    pub redriven: bool,
    /// The payload decoded through the registry, when asked for.
    pub payload: Option<serde_json::Value>,
}

/// Dead letters of one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCount {
    /// On the DLQ.
    pub records: usize,
    /// Of those, already redriven.
    pub redriven: usize,
}

/// What `dlq inspect` found.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectReport {
    /// The DLQ.
    pub topic: String,
    /// Records on it.
    pub total: usize,
    /// The first `max` of them.
    pub listed: Vec<Inspected>,
    /// Counts per `dlq.reason`.
    pub reasons: BTreeMap<String, ReasonCount>,
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show_payload = self.listed.iter().any(|i| i.payload.is_some());
        let mut columns = vec![
            "partition",
            "offset",
            "key",
            "reason",
            "stage",
            "source",
            "failed at",
            "target",
            "bytes",
            "redriven",
            "error",
        ];
        if show_payload {
            columns.push("payload");
        }
        let mut table = Table::new(columns);
        for inspected in &self.listed {
            let record = &inspected.record;
            let header = |name| record.header(name).unwrap_or_default();
            let source = format!(
                "{}/{}@{}",
                header(headers::SOURCE_TOPIC),
                header(headers::SOURCE_PARTITION),
                header(headers::SOURCE_OFFSET)
            );
            let failed_at = header(headers::FAILED_AT)
                .parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
                .map_or_else(
                    || header(headers::FAILED_AT),
                    |at| at.to_rfc3339_opts(SecondsFormat::Millis, true),
                );
            let mut row = vec![
                record.partition.to_string(),
                record.offset.to_string(),
                record.key_text(),
                record.reason(),
                header(headers::STAGE),
                source,
                failed_at,
                header(survey_runtime::dead_letter::headers::TARGET),
                record.payload.as_ref().map_or(0, Vec::len).to_string(),
                if inspected.redriven { "yes" } else { "no" }.to_owned(),
                header(headers::ERROR),
            ];
            if show_payload {
                row.push(
                    inspected
                        .payload
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                );
            }
            table.row(row);
        }
        write!(f, "{table}")?;
        writeln!(
            f,
            "{} dead letter(s) on {}, {} listed\n",
            self.total,
            self.topic,
            self.listed.len()
        )?;
        let mut reasons = Table::new(["reason", "records", "redriven", "pending"]);
        for (reason, count) in &self.reasons {
            reasons.row([
                reason.clone(),
                count.records.to_string(),
                count.redriven.to_string(),
                (count.records - count.redriven).to_string(),
            ]);
        }
        write!(f, "{reasons}")
    }
}

/// Reads `stage`'s whole DLQ: lists the first `options.max` records and
/// counts all of them per reason.
pub async fn inspect(
    settings: &KafkaSettings,
    stage: Stage,
    options: InspectOptions,
) -> anyhow::Result<InspectReport> {
    let topic = settings.topology().topic(&stage.dlq());
    let client = kafka::client(settings)?;
    let partitions = kafka::partitions(&client, &topic)?;
    let ranges = kafka::watermarks(&client, &topic, &partitions)?;
    let mut ledger = RedriveLedger::load(settings, stage, &topic, &partitions)?;
    let mut reader = RangeReader::new(settings, &topic, &ranges, IDLE)?;
    let codec = options
        .show_payload
        .then(|| AvroCodec::for_url(&settings.schema_registry_url));
    let mut report = InspectReport {
        topic,
        total: 0,
        listed: Vec::new(),
        reasons: BTreeMap::new(),
    };
    while let Some(message) = reader.next().await? {
        let record = DeadLetter::from_message(&message);
        let redriven = ledger.is_redriven(&record)?;
        let count = report.reasons.entry(record.reason()).or_default();
        count.records += 1;
        count.redriven += usize::from(redriven);
        report.total += 1;
        if report.listed.len() < options.max {
            let payload = match (&codec, &record.payload) {
                (Some(codec), Some(bytes)) => Some(decode_for_display(codec, bytes).await),
                _ => None,
            };
            report.listed.push(Inspected {
                record,
                redriven,
                payload,
            });
        }
    }
    Ok(report)
}

async fn decode_for_display(codec: &AvroCodec, bytes: &[u8]) -> serde_json::Value {
    match codec.decode_json(bytes).await {
        Ok(value) => value,
        Err(error) => serde_json::json!({
            "undecodable": error.to_string(),
            "text": String::from_utf8_lossy(bytes),
        }),
    }
}

/// Where a dead letter goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Its original bytes, to `topic` under `key`.
    AsIs {
        /// Destination topic.
        topic: String,
        /// Record key.
        key: Vec<u8>,
    },
    /// A notifier delivery retry: the alert it carries, re-encoded for the
    /// alerts topic, so every undelivered target gets a fresh set of
    /// attempts.
    AlertOfDeliveryRetry {
        /// The alerts topic.
        topic: String,
    },
}

/// Where `record`, dead-lettered by `stage`, is redriven to; an error says
/// why it cannot be.
pub fn route(stage: Stage, topology: &Topology, record: &DeadLetter) -> Result<Route, String> {
    let source = record
        .header(headers::SOURCE_TOPIC)
        .ok_or_else(|| format!("no {} header", headers::SOURCE_TOPIC))?;
    let spec: &TopicSpec = stage
        .dead_letter_sources()
        .iter()
        .find(|spec| topology.topic(spec) == source)
        .ok_or_else(|| format!("{source} is not a topic the {stage} reads"))?;
    let key = record.key.clone().unwrap_or_default();
    match stage {
        Stage::Notifier if spec.base_name == topics::DELIVERY_RETRIES.base_name => {
            Ok(Route::AlertOfDeliveryRetry {
                topic: topology.topic(&topics::ALERTS_ENRICHED),
            })
        }
        Stage::Notifier => {
            // A delivery's dead letter is keyed `<alert id>|<target>`; the
            // alerts topic is keyed by alert id.
            let key = match record.header(survey_runtime::dead_letter::headers::TARGET) {
                Some(target) => key
                    .strip_suffix(format!("|{target}").as_bytes())
                    .map_or(key.clone(), <[u8]>::to_vec),
                None => key,
            };
            Ok(Route::AsIs {
                topic: topology.topic(&topics::ALERTS_ENRICHED),
                key,
            })
        }
        Stage::Filter | Stage::Enricher => Ok(Route::AsIs { topic: source, key }),
    }
}

/// The headers of the redriven record: the original ones (trace context)
/// without the `dlq.*` ones, plus [`REDRIVEN_FROM`].
pub fn redriven_headers(record: &DeadLetter) -> Vec<(String, Vec<u8>)> {
    record
        .headers
        .iter()
        .filter(|(name, _)| !name.starts_with("dlq."))
        .cloned()
        .chain([(
            REDRIVEN_FROM.to_owned(),
            record.offset.to_string().into_bytes(),
        )])
        .collect()
}

/// What `dlq redrive` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveOptions {
    /// Only dead letters with this `dlq.reason`.
    pub reason: Option<String>,
    /// Count, but neither produce nor commit.
    pub dry_run: bool,
}

/// What `dlq redrive` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// The DLQ.
    pub dlq: String,
    /// Nothing was produced or committed.
    pub dry_run: bool,
    /// Records sent back, per (reason, destination topic).
    pub redriven: BTreeMap<(String, String), usize>,
    /// Skipped: an earlier run redrove them.
    pub already_redriven: usize,
    /// Skipped: another reason than `--reason`.
    pub other_reasons: usize,
    /// Skipped: the same record was already sent back in this run.
    pub duplicates: usize,
    /// Skipped, with why: no input of the stage to send them to.
    pub unroutable: Vec<(i64, String)>,
}

impl RedriveReport {
    /// Records sent back.
    pub fn total(&self) -> usize {
        self.redriven.values().sum()
    }
}

impl fmt::Display for RedriveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(["reason", "to", "records"]);
        for ((reason, topic), count) in &self.redriven {
            table.row([reason.clone(), topic.clone(), count.to_string()]);
        }
        write!(f, "{table}")?;
        for (offset, why) in &self.unroutable {
            writeln!(f, "offset {offset} not redriven: {why}")?;
        }
        writeln!(
            f,
            "{} {} record(s) from {}; skipped {} already redriven, {} of other reasons, {} duplicate(s), {} unroutable",
            if self.dry_run {
                "dry run: would redrive"
            } else {
                "redrove"
            },
            self.total(),
            self.dlq,
            self.already_redriven,
            self.other_reasons,
            self.duplicates,
            self.unroutable.len()
        )
    }
}

/// Produces in batches and commits the redrive group past each
/// acknowledged batch.
struct Sender<'a> {
    producer: Option<FutureProducer>,
    committer: &'a GroupOffsets,
    dlq: &'a str,
    pending: Vec<DeliveryFuture>,
    done: Offsets,
}

impl Sender<'_> {
    async fn send(
        &mut self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: &[(String, Vec<u8>)],
    ) -> anyhow::Result<()> {
        let Some(producer) = self.producer.clone() else {
            return Ok(());
        };
        let headers = headers
            .iter()
            .fold(OwnedHeaders::new(), |all, (name, value)| {
                all.insert(Header {
                    key: name,
                    value: Some(value),
                })
            });
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => self.pending.push(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                self.flush().await?;
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(error, _)| error)
                    .with_context(|| format!("producing to {topic}"))?;
            }
            Err((error, _)) => {
                return Err(error).with_context(|| format!("producing to {topic}"));
            }
        }
        if self.pending.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Marks everything before `next` on `partition` as handled.
    fn handled(&mut self, partition: i32, next: i64) {
        self.done.insert(partition, next);
    }

    /// Waits for every pending record's acknowledgement, then commits.
    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.producer.is_none() {
            return Ok(());
        }
        for delivery in self.pending.drain(..) {
            delivery
                .await
                .context("the producer went away")?
                .map_err(|(error, _)| error)
                .context("a redriven record was not acknowledged")?;
        }
        self.committer
            .commit(self.dlq, &self.done)
            .with_context(|| format!("committing group {}", self.committer.group()))
    }
}

/// Sends `stage`'s dead letters back to its input (see [`route`]), once.
pub async fn redrive(
    settings: &KafkaSettings,
    stage: Stage,
    options: &RedriveOptions,
) -> anyhow::Result<RedriveReport> {
    let topology = settings.topology();
    let dlq = topology.topic(&stage.dlq());
    let group = redrive_group(&topology, stage);
    let committer = GroupOffsets::new(
        settings,
        &match &options.reason {
            Some(reason) => reason_group(&group, reason),
            None => group,
        },
    )?;
    let partitions = kafka::partitions(committer.consumer(), &dlq)?;
    let mut ledger = RedriveLedger::load(settings, stage, &dlq, &partitions)?;
    let mut ranges = BTreeMap::new();
    for (partition, (low, high)) in kafka::watermarks(committer.consumer(), &dlq, &partitions)? {
        let start = ledger.start(partition, options.reason.as_deref())?.max(low);
        ranges.insert(partition, (start, high));
    }
    let mut reader = RangeReader::new(settings, &dlq, &ranges, IDLE)?;
    let producer = if options.dry_run {
        None
    } else {
        Some(
            survey_runtime::kafka::producer_config(settings, Duration::from_secs(30))
                .create()
                .context("creating the Kafka producer")?,
        )
    };
    let mut sender = Sender {
        producer,
        committer: &committer,
        dlq: &dlq,
        pending: Vec::new(),
        done: Offsets::new(),
    };
    let mut report = RedriveReport {
        dlq: dlq.clone(),
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    let codec = AvroCodec::for_url(&settings.schema_registry_url);
    let mut seen = HashSet::new();
    let outcome = async {
        while let Some(message) = reader.next().await? {
            let record = DeadLetter::from_message(&message);
            let reason = record.reason();
            let wanted = options.reason.as_ref().is_none_or(|only| *only == reason);
            if !wanted {
                report.other_reasons += 1;
            } else if options.reason.is_none() && ledger.is_redriven(&record)? {
                report.already_redriven += 1;
            } else {
                match route(stage, &topology, &record) {
                    Err(why) => report.unroutable.push((record.offset, why)),
                    Ok(route) => {
                        let (topic, key, payload) = redriven_record(&codec, route, &record).await?;
                        if seen.insert((topic.clone(), key.clone(), payload.clone())) {
                            sender
                                .send(&topic, &key, &payload, &redriven_headers(&record))
                                .await?;
                            *report.redriven.entry((reason, topic)).or_default() += 1;
                        } else {
                            report.duplicates += 1;
                        }
                    }
                }
            }
            sender.handled(record.partition, record.offset + 1);
        }
        anyhow::Ok(())
    }
    .await;
    // Whatever was acknowledged stays committed, even when a later record
    // stopped the run.
    let flushed = sender.flush().await;
    outcome?;
    flushed?;
    if !options.dry_run {
        let ends: Offsets = ranges
            .iter()
            .filter(|(_, (start, end))| start < end)
            .map(|(&partition, &(_, end))| (partition, end))
            .collect();
        committer
            .commit(&dlq, &ends)
            .with_context(|| format!("committing group {}", committer.group()))?;
    }
    Ok(report)
}

async fn redriven_record(
    codec: &AvroCodec,
    route: Route,
    record: &DeadLetter,
) -> anyhow::Result<(String, Vec<u8>, Vec<u8>)> {
    let payload = record.payload.clone().unwrap_or_default();
    match route {
        Route::AsIs { topic, key } => Ok((topic, key, payload)),
        Route::AlertOfDeliveryRetry { topic } => {
            let retry: DeliveryRetry = codec.decode(&payload).await.with_context(|| {
                format!(
                    "decoding the delivery retry at DLQ offset {}",
                    record.offset
                )
            })?;
            let alert = codec
                .encode(&topic, &retry.alert)
                .await
                .with_context(|| format!("encoding alert {} for {topic}", retry.alert.alert_id))?;
            Ok((topic, retry.alert.alert_id.into_bytes(), alert))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter(source: &str, key: &str, extra: &[(&str, &str)]) -> DeadLetter {
        let mut headers = vec![
            ("traceparent".to_owned(), b"00-abc-def-01".to_vec()),
            (headers::REASON.to_owned(), b"schema_mismatch".to_vec()),
            (headers::SOURCE_TOPIC.to_owned(), source.as_bytes().to_vec()),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())),
        );
        DeadLetter {
            partition: 0,
            offset: 7,
            key: Some(key.as_bytes().to_vec()),
            payload: Some(b"bytes".to_vec()),
            headers,
        }
    }

    #[test]
    fn dead_letters_go_back_to_the_topic_they_came_from() {
        let topology = Topology::with_prefix("p.");
        let raw = dead_letter("p.survey.responses.raw", "r-1", &[]);
        assert_eq!(
            route(Stage::Filter, &topology, &raw),
            Ok(Route::AsIs {
                topic: "p.survey.responses.raw".to_owned(),
                key: b"r-1".to_vec()
            })
        );
        let retry = dead_letter("p.survey.enricher.recording-retries", "r-2", &[]);
        assert!(matches!(
            route(Stage::Enricher, &topology, &retry),
            Ok(Route::AsIs { topic, .. }) if topic == "p.survey.enricher.recording-retries"
        ));
        // Not the stage's input, or another deployment's topic.
        assert!(route(Stage::Enricher, &topology, &raw).is_err());
        let foreign = dead_letter("survey.responses.raw", "r-1", &[]);
        assert!(route(Stage::Filter, &topology, &foreign).is_err());
    }

    #[test]
    fn notifier_dead_letters_go_back_to_the_alerts_topic_keyed_by_alert_id() {
        let topology = Topology::with_prefix("p.");
        let delivery = dead_letter(
            "p.survey.alerts.enriched",
            "a-1|slack:#billing",
            &[("dlq.target", "slack:#billing")],
        );
        assert_eq!(
            route(Stage::Notifier, &topology, &delivery),
            Ok(Route::AsIs {
                topic: "p.survey.alerts.enriched".to_owned(),
                key: b"a-1".to_vec()
            })
        );
        let retry = dead_letter(
            "p.survey.notifier.delivery-retries",
            "a-1|teams:ops",
            &[("dlq.target", "teams:ops")],
        );
        assert_eq!(
            route(Stage::Notifier, &topology, &retry),
            Ok(Route::AlertOfDeliveryRetry {
                topic: "p.survey.alerts.enriched".to_owned()
            })
        );
    }

    #[test]
    fn redriven_records_keep_trace_headers_and_lose_dlq_ones() {
        let record = dead_letter("t", "k", &[("dlq.target", "slack:#x")]);
        let headers = redriven_headers(&record);
        assert_eq!(
            headers,
            vec![
                ("traceparent".to_owned(), b"00-abc-def-01".to_vec()),
                (REDRIVEN_FROM.to_owned(), b"7".to_vec()),
            ]
        );
    }
}
