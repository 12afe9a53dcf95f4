//! The at-least-once loop with several inputs in progress at once
//! (`CONCURRENT_INPUTS`), against the real broker: inputs of different keys
//! overlap, one key's inputs are handled in offset order, and offsets are
//! committed only below the oldest unfinished input, so a restart handles
//! again everything after it and skips nothing. The handler catches up with
//! each assignment before the first of its inputs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::Message;
use rdkafka::producer::FutureRecord;
use survey_contracts::topics;
use survey_runtime::kafka::producer_config;
use survey_runtime::stage::{ProcessingGuarantee, RunnerSettings, spawn_parallel};
use survey_runtime::{
    InputRecord, KafkaSettings, OutputRecord, Shutdown, StageError, StageHandler, StageStats,
};
use survey_test_support::{TopicReader, kafka_settings, producer};

mod support;

/// Copies each input to `output` after a short wait, recording the order in
/// which each key's inputs were handled and how many were in progress at once.
#[derive(Clone)]
struct SlowEcho {
    output: String,
    handled: Arc<Mutex<Vec<String>>>,
    in_progress: Arc<AtomicUsize>,
    most_in_progress: Arc<AtomicUsize>,
    /// While set, inputs with the key `blocked` fail retriably.
    blocked_down: Arc<AtomicBool>,
    /// How often the stage let the handler catch up after an assignment.
    assignments: Arc<AtomicUsize>,
    /// Set if an input was handled before any catch-up.
    handled_unassigned: Arc<AtomicBool>,
}

#[async_trait]
impl StageHandler for SlowEcho {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let key = String::from_utf8_lossy(input.key.unwrap_or_default()).into_owned();
        let value = String::from_utf8_lossy(input.payload.unwrap_or_default()).into_owned();
        if self.assignments.load(Ordering::SeqCst) == 0 {
            self.handled_unassigned.store(true, Ordering::SeqCst);
        }
        if key == "blocked" && self.blocked_down.load(Ordering::SeqCst) {
            return Err(StageError::Retriable("dependency down".to_owned()));
        }
        let now = self.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_progress.fetch_max(now, Ordering::SeqCst);
        // Later inputs take less time, so that only waiting for the key's
        // earlier input keeps them in order.
        let n: u64 = value
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(10 + (7 - n % 8) * 8)).await;
        self.in_progress.fetch_sub(1, Ordering::SeqCst);
        self.handled
            .lock()
            .expect("handled list")
            .push(value.clone());
        Ok(vec![OutputRecord::new(
            self.output.clone(),
            key.into_bytes(),
            value.into_bytes(),
        )])
    }

    async fn partitions_assigned(&mut self) -> Result<(), StageError> {
        self.assignments.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Pipeline {
    kafka: KafkaSettings,
    input: String,
    output: String,
}

async fn pipeline() -> Pipeline {
    let mut kafka = kafka_settings();
    kafka.parallel_consumers = 1;
    kafka.concurrent_inputs = 8;
    let (input, output) = support::stage_topics(&kafka).await;
    Pipeline {
        input,
        output,
        kafka,
    }
}

struct Instance {
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    handler: SlowEcho,
}

impl Instance {
    fn handled(&self) -> Vec<String> {
        self.handler.handled.lock().expect("handled list").clone()
    }

    async fn stop(self) {
        self.shutdown.trigger();
        for task in self.tasks {
            task.await.expect("join").expect("clean stop");
        }
    }
}

fn start(pipeline: &Pipeline, blocked_down: bool) -> Instance {
    let shutdown = Shutdown::new();
    let handler = SlowEcho {
        output: pipeline.output.clone(),
        handled: Arc::default(),
        in_progress: Arc::default(),
        most_in_progress: Arc::default(),
        blocked_down: Arc::new(AtomicBool::new(blocked_down)),
        assignments: Arc::default(),
        handled_unassigned: Arc::default(),
    };
    let mut runner = RunnerSettings::new(
        "concurrent-test",
        &pipeline.kafka.topology().topic(&topics::FILTER_DLQ),
        ProcessingGuarantee::AtLeastOnce,
    );
    runner.initial_backoff = Duration::from_millis(50);
    runner.max_backoff = Duration::from_millis(200);
    let tasks = spawn_parallel(
        &pipeline.kafka,
        &topics::SURVEY_RESPONSES_RAW,
        producer_config(&pipeline.kafka, Duration::from_secs(30)),
        handler.clone(),
        runner,
        Arc::new(StageStats::new("concurrent-test")),
        shutdown.clone(),
    )
    .expect("starting the stage");
    Instance {
        shutdown,
        tasks,
        handler,
    }
}

/// Produces `(key, value)` pairs in order, all to partition 0.
async fn send(pipeline: &Pipeline, records: &[(String, String)]) {
    let producer = producer(&pipeline.kafka).expect("producer");
    for (key, value) in records {
        producer
            .send(
                FutureRecord::to(&pipeline.input)
                    .partition(0)
                    .key(key.as_bytes())
                    .payload(value.as_bytes()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("producing an input");
    }
}

/// `count` inputs over `keys` keys, round robin; values are `key/n`.
fn interleaved(keys: usize, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|n| {
            let key = format!("key-{}", n % keys);
            let value = format!("{key}/{n:03}");
            (key, value)
        })
        .collect()
}

/// Values in the order they were seen, grouped by key.
fn by_key(values: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for value in values {
        let key = value.split('/').next().unwrap_or_default().to_owned();
        grouped.entry(key).or_default().push(value.clone());
    }
    grouped
}

fn values(records: &[rdkafka::message::OwnedMessage]) -> Vec<String> {
    records
        .iter()
        .map(|record| String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned())
        .collect()
}

#[tokio::test]
async fn inputs_of_different_keys_overlap_and_each_keys_inputs_stay_in_order() {
    let pipeline = pipeline().await;
    let sent = interleaved(4, 40);
    send(&pipeline, &sent).await;
    let instance = start(&pipeline, false);

    let reader = TopicReader::new(&pipeline.kafka, &pipeline.output).expect("reader");
    let mut output = values(&reader.read(40, Duration::from_secs(60)).await);
    output.extend(values(&reader.read_all(Duration::from_secs(2)).await));

    let expected = by_key(&sent.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>());
    assert_eq!(
        by_key(&output),
        expected,
        "every input once, in order per key"
    );
    assert_eq!(
        by_key(&instance.handled()),
        expected,
        "each key's inputs were handled in offset order"
    );
    let most = instance.handler.most_in_progress.load(Ordering::SeqCst);
    assert!(
        most > 1,
        "inputs of different keys were in progress at once (at most {most})"
    );
    assert!(
        most <= 8,
        "never more than CONCURRENT_INPUTS at once ({most})"
    );
    assert!(instance.handler.assignments.load(Ordering::SeqCst) >= 1);
    assert!(
        !instance.handler.handled_unassigned.load(Ordering::SeqCst),
        "the handler caught up with its assignment before the first input"
    );
    instance.stop().await;
}

#[tokio::test]
async fn offsets_stop_below_the_oldest_unfinished_input_so_a_restart_skips_nothing() {
    let pipeline = pipeline().await;
    // One input whose dependency is down, then six that go through meanwhile
    // (the window is 8 inputs from the oldest unfinished one).
    let mut sent = vec![("blocked".to_owned(), "blocked/000".to_owned())];
    sent.extend(interleaved(3, 6));
    send(&pipeline, &sent).await;

    let first = start(&pipeline, true);
    let reader = TopicReader::new(&pipeline.kafka, &pipeline.output).expect("reader");
    let overtaken = values(&reader.read(6, Duration::from_secs(60)).await);
    assert_eq!(overtaken.len(), 6, "later keys overtook the blocked input");
    assert!(!overtaken.contains(&"blocked/000".to_owned()));
    // Stopping while the blocked input still waits: its offset, and so every
    // later one in the partition, must stay uncommitted.
    first.stop().await;

    let second = start(&pipeline, false);
    let mut replayed = values(&reader.read(7, Duration::from_secs(60)).await);
    replayed.extend(values(&reader.read_all(Duration::from_secs(2)).await));
    let mut handled = second.handled();
    handled.sort();
    let mut expected: Vec<String> = sent.iter().map(|(_, v)| v.clone()).collect();
    expected.sort();
    assert_eq!(
        handled, expected,
        "the restart handled the blocked input and everything after it again"
    );
    assert!(replayed.contains(&"blocked/000".to_owned()));
    second.stop().await;
}

/// The stage's static consumer is fenced while an input waits for its
/// dependency and later ones are done: the stage rejoins with new clients in
/// the process, and everything after the committed offsets is handled again,
/// the waiting input included.
#[tokio::test]
async fn a_fenced_static_consumer_is_replaced_in_process_and_nothing_is_skipped() {
    let mut pipeline = pipeline().await;
    pipeline.kafka.group_instance_id = Some("replica".to_owned());
    let mut sent = vec![("blocked".to_owned(), "blocked/000".to_owned())];
    sent.extend(interleaved(3, 6));
    send(&pipeline, &sent).await;

    let instance = start(&pipeline, true);
    let reader = TopicReader::new(&pipeline.kafka, &pipeline.output).expect("reader");
    assert_eq!(
        values(&reader.read(6, Duration::from_secs(60)).await).len(),
        6
    );

    // spawn_parallel numbers its members: the only one is `replica-0`.
    let fenced = support::fence_static_member(&pipeline.kafka, "replica-0").await;
    println!("the intruder was fenced in turn: {fenced:?}");
    assert!(
        instance.tasks.iter().all(|task| !task.is_finished()),
        "the stage stopped instead of rejoining with new clients"
    );
    instance.handler.blocked_down.store(false, Ordering::SeqCst);
    // Nothing after the waiting input was committed, so all seven come again.
    let mut replayed = values(&reader.read(7, Duration::from_secs(60)).await);
    replayed.extend(values(&reader.read_all(Duration::from_secs(2)).await));
    replayed.sort();
    let mut expected: Vec<String> = sent.iter().map(|(_, v)| v.clone()).collect();
    expected.sort();
    assert_eq!(
        replayed, expected,
        "the input left waiting by the fenced consumer, and everything after it, handled again"
    );
    instance.stop().await;
}
