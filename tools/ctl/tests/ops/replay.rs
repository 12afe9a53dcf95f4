use std::time::Duration;

use chrono::DateTime;
use rdkafka::consumer::{Consumer, StreamConsumer};
use survey_contracts::topics::SURVEY_RESPONSES_RAW;
use survey_ctl::Stage;
use survey_ctl::commands::replay;
use survey_ctl::kafka::{GroupOffsets, Offsets};
use survey_runtime::KafkaSettings;

use crate::helpers::{At, ok, produce_at, producer, provisioned};

/// 2024-05-01T08:00:00Z.
const BASE: i64 = 1_714_550_400_000;

/// Ten records a second apart on partition 0, four on partition 1, nothing
/// on the others; the filter's group has read them all.
async fn consumed_raw_topic() -> (KafkaSettings, String, String) {
    let kafka = provisioned(&[SURVEY_RESPONSES_RAW]).await;
    let topology = kafka.topology();
    let topic = topology.topic(&SURVEY_RESPONSES_RAW);
    let group = topology.group(&SURVEY_RESPONSES_RAW).unwrap_or_default();
    let producer = producer(&kafka);
    for (partition, count) in [(0, 10), (1, 4)] {
        for i in 0..count {
            let key = format!("r-{partition}-{i}");
            produce_at(
                &producer,
                At {
                    topic: &topic,
                    partition,
                    timestamp: BASE + i * 1000,
                    key: key.as_bytes(),
                    payload: b"bytes",
                    headers: &[],
                },
            )
            .await;
        }
    }
    let offsets = ok(GroupOffsets::new(&kafka, &group));
    ok(offsets
        .commit(&topic, &Offsets::from([(0, 10), (1, 4)]))
        .map_err(Into::into));
    (kafka, topic, group)
}

fn committed(kafka: &KafkaSettings, group: &str, topic: &str) -> Vec<Option<i64>> {
    let offsets = ok(GroupOffsets::new(kafka, group));
    ok(offsets.committed(topic, &[0, 1, 2]))
        .into_values()
        .collect()
}

#[tokio::test]
async fn replay_moves_the_stopped_group_back_to_the_first_records_at_the_time() {
    let (kafka, topic, group) = consumed_raw_topic().await;
    let from = DateTime::from_timestamp_millis(BASE + 5_000).unwrap_or_default();

    let dry = ok(replay::replay(&kafka, Stage::Filter, from, true));
    assert!(dry.dry_run);
    assert_eq!(committed(&kafka, &group, &topic), [Some(10), Some(4), None]);

    let report = ok(replay::replay(&kafka, Stage::Filter, from, false));
    assert_eq!(report.group, group);
    assert_eq!(report.topic, topic);
    let moves: Vec<(i32, Option<i64>, i64)> = report
        .partitions
        .iter()
        .map(|m| (m.partition, m.before, m.after))
        .collect();
    // Partition 0: the record of BASE+5s is offset 5. Partition 1 has
    // nothing that recent: its end. Empty partitions: their end, 0.
    assert_eq!(
        &moves[..3],
        [(0, Some(10), 5), (1, Some(4), 4), (2, None, 0)]
    );
    assert_eq!(moves.len(), 6);
    assert_eq!(
        committed(&kafka, &group, &topic),
        [Some(5), Some(4), Some(0)]
    );
    assert!(
        report.to_string().contains("| 0 | 10 | 5 | -5 |"),
        "{report}"
    );

    // And forward again, to before everything.
    let earlier = DateTime::from_timestamp_millis(BASE - 60_000).unwrap_or_default();
    ok(replay::replay(&kafka, Stage::Filter, earlier, false));
    assert_eq!(
        committed(&kafka, &group, &topic),
        [Some(0), Some(0), Some(0)]
    );
}

#[tokio::test]
async fn replay_refuses_while_the_stage_is_running() {
    let (kafka, topic, group) = consumed_raw_topic().await;
    // A running filter: a member of the group holding the partitions.
    let member: StreamConsumer = ok(survey_runtime::kafka::consumer_config(&kafka, &group)
        .create()
        .map_err(Into::into));
    ok(member.subscribe(&[&topic]).map_err(Into::into));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while member.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never joined");
        let _ = tokio::time::timeout(Duration::from_millis(200), member.recv()).await;
    }

    let from = DateTime::from_timestamp_millis(BASE).unwrap_or_default();
    let refused = replay::replay(&kafka, Stage::Filter, from, false);
    let message = format!("{:#}", refused.err().unwrap_or_else(|| panic!("replayed")));
    assert!(message.contains("stop every filter instance"), "{message}");
    assert_eq!(committed(&kafka, &group, &topic), [Some(10), Some(4), None]);
}
