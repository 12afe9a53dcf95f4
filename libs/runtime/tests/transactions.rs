//! The exactly-once loop against the real broker: outputs and offsets commit
//! together, an aborted transaction leaves nothing visible to
//! `read_committed` readers and its inputs are handled again, a second
//! instance with the same transactional id fences the first, and a fenced
//! producer or static consumer is replaced in the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};
use survey_contracts::topics;
use survey_runtime::kafka::producer_config;
use survey_runtime::stage::{ProcessingGuarantee, RunnerSettings, spawn};
use survey_runtime::{
    InputRecord, KafkaSettings, OutputRecord, Shutdown, StageError, StageHandler, StageStats,
};
use survey_test_support::{TopicReader, kafka_settings, produce, producer};

mod support;

/// Copies each input to `output`. The first time it sees `fail_once`, it also
/// writes an oversized record to `rejecting`, which the broker refuses: the
/// delivery fails inside the transaction, which must then abort.
struct Echo {
    output: String,
    rejecting: String,
    fail_once: Option<String>,
    /// A key whose dependency is down until the instant.
    unavailable: Option<(String, tokio::time::Instant)>,
    /// The nth input handled (from 1) takes this long, once.
    stall_once: Option<(usize, Duration)>,
    handled: Arc<AtomicUsize>,
    aborts: Arc<AtomicUsize>,
}

#[async_trait]
impl StageHandler for Echo {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let nth = self.handled.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, stall)) = self.stall_once
            && at == nth
        {
            self.stall_once = None;
            tokio::time::sleep(stall).await;
        }
        let key = input.key.unwrap_or_default().to_vec();
        if let Some((down, until)) = &self.unavailable
            && down.as_bytes() == key.as_slice()
            && tokio::time::Instant::now() < *until
        {
            return Err(StageError::Retriable("dependency down".to_owned()));
        }
        let mut outputs = vec![OutputRecord::new(
            self.output.clone(),
            key.clone(),
            input.payload.unwrap_or_default().to_vec(),
        )];
        if self.fail_once.as_deref().map(str::as_bytes) == Some(key.as_slice()) {
            self.fail_once = None;
            outputs.push(OutputRecord::new(
                self.rejecting.clone(),
                key,
                incompressible(4096),
            ));
        }
        Ok(outputs)
    }

    fn aborted(&mut self) {
        self.aborts.fetch_add(1, Ordering::SeqCst);
    }
}

/// Bytes lz4 cannot shrink below the topic's limit.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

struct Pipeline {
    kafka: KafkaSettings,
    input: String,
    output: String,
    rejecting: String,
}

async fn pipeline() -> Pipeline {
    let kafka = kafka_settings();
    let (input, output) = support::stage_topics(&kafka).await;
    let rejecting = format!("{}rejecting", kafka.topic_prefix);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .create()
        .expect("admin client");
    let topic =
        NewTopic::new(&rejecting, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "1024");
    admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("creating the rejecting topic");
    Pipeline {
        input,
        output,
        rejecting,
        kafka,
    }
}

struct Instance {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    handled: Arc<AtomicUsize>,
    aborts: Arc<AtomicUsize>,
}

fn start(pipeline: &Pipeline, kafka: &KafkaSettings, fail_once: Option<&str>) -> Instance {
    start_with(pipeline, kafka, fail_once, None, None)
}

fn start_with(
    pipeline: &Pipeline,
    kafka: &KafkaSettings,
    fail_once: Option<&str>,
    unavailable: Option<(String, tokio::time::Instant)>,
    stall_once: Option<(usize, Duration)>,
) -> Instance {
    let shutdown = Shutdown::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let aborts = Arc::new(AtomicUsize::new(0));
    let handler = Echo {
        output: pipeline.output.clone(),
        rejecting: pipeline.rejecting.clone(),
        fail_once: fail_once.map(str::to_owned),
        unavailable,
        stall_once,
        handled: Arc::clone(&handled),
        aborts: Arc::clone(&aborts),
    };
    let mut runner = RunnerSettings::new(
        "transactions-test",
        &kafka.topology().topic(&topics::FILTER_DLQ),
        ProcessingGuarantee::ExactlyOnce,
    );
    runner.initial_backoff = Duration::from_millis(50);
    runner.max_backoff = Duration::from_secs(1);
    let task = spawn(
        kafka,
        &topics::SURVEY_RESPONSES_RAW,
        producer_config(kafka, Duration::from_secs(30)),
        handler,
        runner,
        Arc::new(StageStats::new("transactions-test")),
        shutdown.clone(),
    )
    .expect("starting the stage");
    Instance {
        shutdown,
        task,
        handled,
        aborts,
    }
}

async fn send(pipeline: &Pipeline, keys: impl IntoIterator<Item = String>) {
    let producer = producer(&pipeline.kafka).expect("producer");
    for key in keys {
        produce(
            &producer,
            &pipeline.input,
            key.as_bytes(),
            key.as_bytes(),
            &[],
        )
        .await
        .expect("producing an input");
    }
}

fn keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("input-{n:03}")).collect()
}

/// Keys of the output, in order, as a `read_committed` reader sees them.
async fn committed_keys(pipeline: &Pipeline, at_least: usize) -> Vec<String> {
    let reader = TopicReader::new(&pipeline.kafka, &pipeline.output).expect("reader");
    let records = reader.read(at_least, Duration::from_secs(60)).await;
    let mut keys = key_texts(&records);
    // Anything beyond `at_least` would be a duplicate: give it time to show.
    keys.extend(key_texts(&reader.read_all(Duration::from_secs(2)).await));
    keys
}

fn key_texts(records: &[OwnedMessage]) -> Vec<String> {
    records
        .iter()
        .map(|record| String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned())
        .collect()
}

/// Every record on the output, aborted ones included (`read_uncommitted`).
async fn all_output_records(pipeline: &Pipeline, quiet: Duration) -> usize {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.kafka.bootstrap_servers)
        .set("group.id", "uncommitted-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("reader");
    let mut assignment = TopicPartitionList::new();
    let metadata = consumer
        .fetch_metadata(Some(&pipeline.output), Duration::from_secs(10))
        .expect("metadata");
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment
            .add_partition_offset(&pipeline.output, partition.id(), Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut count = 0;
    while let Ok(Ok(_)) = tokio::time::timeout(quiet, consumer.recv()).await {
        count += 1;
    }
    count
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

#[tokio::test]
async fn outputs_and_offsets_commit_together_and_a_restart_repeats_nothing() {
    let pipeline = pipeline().await;
    send(&pipeline, keys(0..30)).await;
    let first = start(&pipeline, &pipeline.kafka, None);
    assert_eq!(sorted(committed_keys(&pipeline, 30).await), keys(0..30));
    first.shutdown.trigger();
    first.task.await.expect("join").expect("clean stop");

    send(&pipeline, keys(30..40)).await;
    let second = start(&pipeline, &pipeline.kafka, None);
    assert_eq!(sorted(committed_keys(&pipeline, 40).await), keys(0..40));
    assert_eq!(
        second.handled.load(Ordering::SeqCst),
        10,
        "the restart handled only the inputs after the committed offsets"
    );
    second.shutdown.trigger();
    second.task.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn an_aborted_transaction_leaves_nothing_visible_and_its_inputs_are_handled_again() {
    let pipeline = pipeline().await;
    send(&pipeline, keys(0..20)).await;
    let instance = start(&pipeline, &pipeline.kafka, Some("input-007"));
    let seen = committed_keys(&pipeline, 20).await;
    assert_eq!(sorted(seen), keys(0..20), "each input exactly once");
    assert!(
        instance.aborts.load(Ordering::SeqCst) >= 1,
        "the refused record aborted a transaction"
    );
    assert!(
        instance.handled.load(Ordering::SeqCst) > 20,
        "the aborted batch was handled again"
    );
    let physically = all_output_records(&pipeline, Duration::from_secs(3)).await;
    assert!(
        physically > 20,
        "the aborted copies exist in the log ({physically} records) but no read_committed reader saw them"
    );
    instance.shutdown.trigger();
    instance.task.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn a_second_instance_with_the_same_transactional_id_fences_the_first() {
    let pipeline = pipeline().await;
    let kafka = KafkaSettings {
        group_instance_id: Some("replica-0".to_owned()),
        ..pipeline.kafka.clone()
    };
    send(&pipeline, keys(0..10)).await;
    let zombie = start(&pipeline, &kafka, None);
    assert_eq!(sorted(committed_keys(&pipeline, 10).await), keys(0..10));

    let successor = start(&pipeline, &kafka, None);
    let stopped = tokio::time::timeout(Duration::from_secs(60), zombie.task)
        .await
        .expect("the fenced instance stops by itself")
        .expect("join");
    let error = stopped.expect_err("a fenced instance stops with an error");
    println!("fenced instance stopped: {error:#}");

    send(&pipeline, keys(10..25)).await;
    assert_eq!(
        sorted(committed_keys(&pipeline, 25).await),
        keys(0..25),
        "only the successor produced, each input once"
    );
    assert!(successor.handled.load(Ordering::SeqCst) >= 15);
    successor.shutdown.trigger();
    successor.task.await.expect("join").expect("clean stop");
}

/// Another consumer joins under the stage's static instance id, as happens
/// when a broker restart loses track of the member: the stage's consumer is
/// fenced (`FENCED_INSTANCE_ID`), a fatal error. The stage rejoins with new
/// clients in the process, fencing the intruder in turn, and goes on from
/// the committed offsets.
#[tokio::test]
async fn a_fenced_static_consumer_is_replaced_in_process() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,rdkafka=debug")
        .try_init();
    let pipeline = pipeline().await;
    let kafka = KafkaSettings {
        group_instance_id: Some("replica-0".to_owned()),
        ..pipeline.kafka.clone()
    };
    send(&pipeline, keys(0..10)).await;
    let instance = start(&pipeline, &kafka, None);
    assert_eq!(sorted(committed_keys(&pipeline, 10).await), keys(0..10));

    let fenced = support::fence_static_member(&kafka, "replica-0").await;
    println!("the intruder was fenced in turn: {fenced:?}");
    assert!(
        instance.aborts.load(Ordering::SeqCst) >= 1,
        "the rejoin rolled the handler back"
    );
    assert!(
        !instance.task.is_finished(),
        "the stage stopped instead of rejoining with new clients"
    );
    send(&pipeline, keys(10..20)).await;
    assert_eq!(
        sorted(committed_keys(&pipeline, 20).await),
        keys(0..20),
        "every input once, before and after the rejoin"
    );
    instance.shutdown.trigger();
    instance.task.await.expect("join").expect("clean stop");
}

/// The second input takes longer than the 10 s transaction timeout while the
/// first one's transaction is open, as a broker outage would: the
/// coordinator aborts the transaction and fences the producer.
#[tokio::test]
async fn a_producer_fenced_for_a_timed_out_transaction_is_replaced_in_process() {
    let pipeline = pipeline().await;
    send(&pipeline, keys(0..10)).await;
    // The coordinator looks for timed-out transactions every 10 s.
    let instance = start_with(
        &pipeline,
        &pipeline.kafka,
        None,
        None,
        Some((2, Duration::from_secs(25))),
    );
    assert_eq!(sorted(committed_keys(&pipeline, 10).await), keys(0..10));
    assert!(
        instance.aborts.load(Ordering::SeqCst) >= 1,
        "the timed-out batch was handled again"
    );
    assert!(
        !instance.task.is_finished(),
        "the stage stopped instead of replacing its producer"
    );
    send(&pipeline, keys(10..15)).await;
    assert_eq!(sorted(committed_keys(&pipeline, 15).await), keys(0..15));
    instance.shutdown.trigger();
    instance.task.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn a_dependency_down_longer_than_the_transaction_timeout_delays_but_loses_nothing() {
    let pipeline = pipeline().await;
    send(&pipeline, keys(0..20)).await;
    // Longer than the 10 s transaction timeout: a transaction held open
    // through the outage would be aborted by the coordinator.
    let until = tokio::time::Instant::now() + Duration::from_secs(13);
    let instance = start_with(
        &pipeline,
        &pipeline.kafka,
        None,
        Some(("input-005".to_owned(), until)),
        None,
    );
    // Meanwhile the inputs of the other partitions commit: no transaction
    // waits for the one input.
    let reader = TopicReader::new(&pipeline.kafka, &pipeline.output).expect("reader");
    let early = key_texts(&reader.read(20, Duration::from_secs(6)).await);
    assert!(
        tokio::time::Instant::now() < until,
        "the outage is still on"
    );
    assert!(
        early.len() >= 10 && !early.contains(&"input-005".to_owned()),
        "inputs of other partitions committed during the outage: {early:?}"
    );
    assert_eq!(
        sorted(committed_keys(&pipeline, 20).await),
        keys(0..20),
        "each input exactly once"
    );
    assert!(
        tokio::time::Instant::now() >= until,
        "input-005 waited for its dependency"
    );
    assert!(
        instance.handled.load(Ordering::SeqCst) > 20,
        "input-005 was retried"
    );
    assert!(!instance.task.is_finished(), "the stage kept running");
    instance.shutdown.trigger();
    instance.task.await.expect("join").expect("clean stop");
}
