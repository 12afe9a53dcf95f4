use clap::Parser;
use survey_contracts::AvroCodec;
use survey_contracts::topics::SURVEY_RESPONSES_RAW;
use survey_ctl::cli::{Cli, Command, RulesCommand};
use survey_ctl::commands::backtest::{self, BacktestOptions, BacktestReport};
use survey_runtime::KafkaSettings;
use survey_test_support::samples::raw_survey;

use crate::helpers::{At, ok, produce_at, producer, provisioned};

/// 2024-05-01T08:00:00Z.
const T: i64 = 1_714_550_400_000;
const SECOND: i64 = 1000;

/// The options `survey-ctl rules backtest <args>` runs with.
fn options(args: &[&str]) -> BacktestOptions {
    let argv = ["survey-ctl", "rules", "backtest"].iter().chain(args);
    match Cli::try_parse_from(argv).map(|cli| cli.command) {
        Ok(Command::Rules {
            action: RulesCommand::Backtest(args),
        }) => args.options(),
        other => panic!("{other:?}"),
    }
}

/// Raw responses over three partitions: one before the window, one after
/// it, a webhook retry and a record that is not a survey in it.
async fn raw_topic() -> KafkaSettings {
    let kafka = provisioned(&[SURVEY_RESPONSES_RAW]).await;
    let topic = kafka.topology().topic(&SURVEY_RESPONSES_RAW);
    let codec = AvroCodec::registry(&kafka.schema_registry_url);
    let producer = producer(&kafka);
    let surveys = [
        (T - 3600 * SECOND, raw_survey("r-0", 1, None, "q-1")),
        (T + SECOND, raw_survey("r-1", 1, None, "q-1")),
        (
            T + 2 * SECOND,
            raw_survey("r-2", 2, Some("The agent was RUDE."), "q-1"),
        ),
        (
            T + 3 * SECOND,
            raw_survey("r-2", 2, Some("The agent was RUDE."), "q-1"),
        ),
        (
            T + 4 * SECOND,
            raw_survey("r-3", 5, Some("There will be a lawsuit."), "q-2"),
        ),
        (
            T + 5 * SECOND,
            raw_survey("r-4", 3, Some("Fine, I guess."), "q-2"),
        ),
        (T + 6 * SECOND, raw_survey("r-5", 3, None, "q-3")),
        (T + 600 * SECOND, raw_survey("r-6", 1, None, "q-1")),
    ];
    for (i, (timestamp, survey)) in surveys.iter().enumerate() {
        let payload = ok(codec.encode(&topic, survey).await.map_err(Into::into));
        produce_at(
            &producer,
            At {
                topic: &topic,
                partition: i32::try_from(i % 3).unwrap_or_default(),
                timestamp: *timestamp,
                key: survey.response_id.as_bytes(),
                payload: &payload,
                headers: &[],
            },
        )
        .await;
    }
    produce_at(
        &producer,
        At {
            topic: &topic,
            partition: 2,
            timestamp: T + 7 * SECOND,
            key: b"junk",
            payload: b"{\"not\": \"avro\"}",
            headers: &[],
        },
    )
    .await;
    kafka
}

fn counts(report: &BacktestReport) -> Vec<(&str, &str, usize)> {
    report
        .alerts
        .iter()
        .map(|((queue, reason), count)| (queue.as_str(), reason.as_str(), *count))
        .collect()
}

#[tokio::test]
async fn backtest_counts_alerts_per_queue_and_reason_under_the_given_rules() {
    let kafka = raw_topic().await;
    let window = [
        "--from",
        "2024-05-01T08:00:00Z",
        "--to",
        "2024-05-01T08:05:00Z",
    ];

    let defaults = ok(backtest::backtest(&kafka, options(&window)).await);
    assert_eq!(
        (defaults.read, defaults.undecodable, defaults.duplicates),
        (7, 1, 1),
        "{defaults}"
    );
    assert_eq!(defaults.actionable, 3, "{defaults}");
    assert_eq!(
        counts(&defaults),
        [
            ("q-1", "critical_keyword", 1),
            ("q-1", "low_score", 2),
            ("q-2", "critical_keyword", 1),
        ],
        "{defaults}"
    );
    let text = defaults.to_string();
    assert!(text.contains("| q-1 | low_score | 2 |"), "{text}");
    assert!(text.contains("| **total** | low_score | 2 |"), "{text}");
    assert!(
        text.contains("| **total** | actionable responses | 3 |"),
        "{text}"
    );

    let higher = [&window[..], &["--score-threshold", "4"]].concat();
    let higher = ok(backtest::backtest(&kafka, options(&higher)).await);
    assert_eq!(higher.actionable, 5, "{higher}");
    assert_eq!(higher.count("q-2", "low_score"), 1);
    assert_eq!(higher.count("q-3", "low_score"), 1);
    assert_eq!(higher.count("q-1", "low_score"), 2);

    let per_queue = [&window[..], &["--queue-threshold", "q-3=4"]].concat();
    let per_queue = ok(backtest::backtest(&kafka, options(&per_queue)).await);
    assert_eq!(per_queue.actionable, 4, "{per_queue}");
    assert_eq!(per_queue.count("q-3", "low_score"), 1);
    assert_eq!(per_queue.count("q-2", "low_score"), 0);

    let keywords = [&window[..], &["--keywords", "lawsuit,refund"]].concat();
    let keywords = ok(backtest::backtest(&kafka, options(&keywords)).await);
    assert_eq!(keywords.count("q-1", "critical_keyword"), 0, "{keywords}");
    assert_eq!(keywords.count("q-2", "critical_keyword"), 1, "{keywords}");

    // Without --to: to the end, so the later response counts too.
    let open = ok(backtest::backtest(&kafka, options(&window[..2])).await);
    assert_eq!(open.read, 8, "{open}");
    assert_eq!(open.count("q-1", "low_score"), 3, "{open}");
}
