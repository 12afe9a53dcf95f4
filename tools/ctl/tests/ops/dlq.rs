use rdkafka::message::{Message, OwnedMessage};
use survey_contracts::topics::{
    ALERTS_ENRICHED, DELIVERY_RETRIES, FILTER_DLQ, NOTIFIER_DLQ, SURVEY_RESPONSES_RAW,
};
use survey_contracts::{AvroCodec, DeliveryRetry, EnrichedAlert, NotificationTarget};
use survey_ctl::Stage;
use survey_ctl::commands::dlq::{self, InspectOptions, REDRIVEN_FROM, RedriveOptions};
use survey_runtime::dead_letter::{dead_letter, headers};
use survey_runtime::{InputRecord, KafkaSettings, OutputRecord};
use survey_test_support::samples::raw_survey;
use survey_test_support::{TopicReader, header, record_count};

use crate::helpers::{ARRIVAL, At, QUIET, alert, ok, produce_at, producer, provisioned};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The dead letter a stage makes of a record read from `source`.
fn dead(
    source: &str,
    dlq_topic: &str,
    stage: &str,
    key: &str,
    payload: &[u8],
    reason: &str,
) -> OutputRecord {
    let input = InputRecord {
        topic: source,
        partition: 3,
        offset: 42,
        key: Some(key.as_bytes()),
        payload: Some(payload),
        headers: vec![("traceparent".to_owned(), TRACEPARENT.as_bytes().to_vec())],
    };
    dead_letter(&input, dlq_topic, stage, reason, "it failed")
}

async fn send(kafka: &KafkaSettings, record: &OutputRecord) {
    produce_at(
        &producer(kafka),
        At {
            topic: &record.topic,
            partition: 0,
            timestamp: survey_runtime::now_millis(),
            key: &record.key,
            payload: &record.payload,
            headers: &record.headers,
        },
    )
    .await;
}

/// The filter's DLQ with four dead letters: two `not_wire_format`, one
/// `schema_mismatch` holding a real survey, and one whose source is not the
/// filter's input.
async fn filter_dead_letters() -> (KafkaSettings, String, Vec<OutputRecord>) {
    let kafka = provisioned(&[SURVEY_RESPONSES_RAW, FILTER_DLQ]).await;
    let topology = kafka.topology();
    let raw = topology.topic(&SURVEY_RESPONSES_RAW);
    let dlq_topic = topology.topic(&FILTER_DLQ);
    let codec = AvroCodec::registry(&kafka.schema_registry_url);
    let survey = ok(codec
        .encode(
            &raw,
            &raw_survey("r-c", 1, Some("The agent was rude."), "q-1"),
        )
        .await
        .map_err(Into::into));
    let elsewhere = topology.topic(&survey_contracts::topics::SURVEY_RESPONSES_ACTIONABLE);
    let records = vec![
        dead(
            &raw,
            &dlq_topic,
            "filter",
            "r-a",
            br#"{"comment":"I will call my lawyer"}"#,
            "not_wire_format",
        ),
        dead(
            &raw,
            &dlq_topic,
            "filter",
            "r-b",
            b"plain text",
            "not_wire_format",
        ),
        dead(
            &raw,
            &dlq_topic,
            "filter",
            "r-c",
            &survey,
            "schema_mismatch",
        ),
        dead(
            &elsewhere,
            &dlq_topic,
            "filter",
            "r-d",
            b"d",
            "schema_mismatch",
        ),
    ];
    for record in &records {
        send(&kafka, record).await;
    }
    (kafka, raw, records)
}

fn only(reason: &str) -> RedriveOptions {
    RedriveOptions {
        reason: Some(reason.to_owned()),
        dry_run: false,
    }
}

#[tokio::test]
async fn inspect_lists_headers_and_counts_reasons_but_not_customer_text() {
    let (kafka, _, _) = filter_dead_letters().await;
    let options = InspectOptions {
        max: 3,
        show_payload: false,
    };
    let report = ok(dlq::inspect(&kafka, Stage::Filter, options).await);
    assert_eq!(report.total, 4);
    assert_eq!(report.listed.len(), 3);
    let first = &report.listed[0];
    assert_eq!(
        (first.record.offset, first.record.key.as_deref()),
        (0, Some(&b"r-a"[..]))
    );
    assert_eq!(
        first.record.header(headers::STAGE).as_deref(),
        Some("filter")
    );
    assert_eq!(
        first.record.header(headers::SOURCE_OFFSET).as_deref(),
        Some("42")
    );
    assert!(!first.redriven);
    assert_eq!(first.payload, None);
    let counts: Vec<(&str, usize, usize)> = report
        .reasons
        .iter()
        .map(|(reason, count)| (reason.as_str(), count.records, count.redriven))
        .collect();
    assert_eq!(
        counts,
        [("not_wire_format", 2, 0), ("schema_mismatch", 2, 0)]
    );
    let text = report.to_string();
    assert!(text.contains("| not_wire_format | 2 | 0 | 2 |"), "{text}");
    assert!(
        text.contains("| 0 | 0 | r-a | not_wire_format | filter |"),
        "{text}"
    );
    assert!(!text.contains("lawyer") && !text.contains("rude"), "{text}");

    // After a redrive of one reason, and with payloads asked for.
    ok(dlq::redrive(&kafka, Stage::Filter, &only("not_wire_format")).await);
    let options = InspectOptions {
        max: 10,
        show_payload: true,
    };
    let report = ok(dlq::inspect(&kafka, Stage::Filter, options).await);
    let redriven: Vec<bool> = report.listed.iter().map(|i| i.redriven).collect();
    assert_eq!(redriven, [true, true, false, false]);
    assert_eq!(report.reasons["not_wire_format"].redriven, 2);
    let survey = report.listed[2].payload.clone().unwrap_or_default();
    assert_eq!(survey["responseId"], "r-c", "{survey}");
    assert_eq!(survey["comment"], "The agent was rude.", "{survey}");
    let text = report.listed[0].payload.clone().unwrap_or_default();
    assert!(text["undecodable"].is_string(), "{text}");
}

fn keys(records: &[OwnedMessage]) -> Vec<String> {
    let mut keys: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn redrive_sends_each_dead_letter_back_once() {
    let (kafka, raw, records) = filter_dead_letters().await;
    let reader = ok(TopicReader::new(&kafka, &raw));

    let dry = ok(dlq::redrive(
        &kafka,
        Stage::Filter,
        &RedriveOptions {
            reason: None,
            dry_run: true,
        },
    )
    .await);
    assert_eq!(dry.total(), 3, "{dry}");
    assert_eq!(dry.unroutable.len(), 1, "{dry}");
    assert!(
        reader.read_all(QUIET).await.is_empty(),
        "a dry run produced"
    );

    // One reason first.
    let first = ok(dlq::redrive(&kafka, Stage::Filter, &only("not_wire_format")).await);
    assert_eq!(
        first
            .redriven
            .get(&("not_wire_format".to_owned(), raw.clone())),
        Some(&2),
        "{first}"
    );
    assert_eq!((first.total(), first.other_reasons), (2, 2), "{first}");
    let redriven = reader.read(2, ARRIVAL).await;
    assert_eq!(keys(&redriven), ["r-a", "r-b"]);
    for message in &redriven {
        let original = records
            .iter()
            .position(|r| Some(r.key.as_slice()) == message.key())
            .unwrap_or_else(|| panic!("unexpected key"));
        assert_eq!(
            message.payload(),
            Some(records[original].payload.as_slice())
        );
        assert_eq!(header(message, "traceparent").as_deref(), Some(TRACEPARENT));
        assert_eq!(header(message, REDRIVEN_FROM), Some(original.to_string()));
        assert_eq!(header(message, headers::REASON), None);
        assert_eq!(header(message, headers::SOURCE_TOPIC), None);
    }
    let again = ok(dlq::redrive(&kafka, Stage::Filter, &only("not_wire_format")).await);
    assert_eq!(again.total(), 0, "{again}");

    // Then everything else: what that reason's run redrove is skipped.
    let rest = ok(dlq::redrive(&kafka, Stage::Filter, &RedriveOptions::default()).await);
    assert_eq!(rest.total(), 1, "{rest}");
    assert_eq!(rest.already_redriven, 2, "{rest}");
    assert_eq!(rest.unroutable.len(), 1, "{rest}");
    assert_eq!(rest.unroutable[0].0, 3);
    let third = reader.read(1, ARRIVAL).await;
    assert_eq!(keys(&third), ["r-c"]);
    assert_eq!(third[0].payload(), Some(records[2].payload.as_slice()));

    let nothing = ok(dlq::redrive(&kafka, Stage::Filter, &RedriveOptions::default()).await);
    assert_eq!(
        nothing.total() + nothing.already_redriven + nothing.unroutable.len(),
        0,
        "{nothing}"
    );
    assert!(reader.read_all(QUIET).await.is_empty());
    assert_eq!(ok(record_count(&kafka, &raw)), 3);

    // A new dead letter: only it goes.
    send(&kafka, &records[1]).await;
    let new = ok(dlq::redrive(&kafka, Stage::Filter, &RedriveOptions::default()).await);
    assert_eq!(new.total(), 1, "{new}");
    let fourth = reader.read(1, ARRIVAL).await;
    assert_eq!(header(&fourth[0], REDRIVEN_FROM).as_deref(), Some("4"));
}

#[tokio::test]
async fn notifier_dead_letters_go_back_to_the_alerts_topic_as_alerts() {
    let kafka = provisioned(&[ALERTS_ENRICHED, DELIVERY_RETRIES, NOTIFIER_DLQ]).await;
    let topology = kafka.topology();
    let alerts = topology.topic(&ALERTS_ENRICHED);
    let retries = topology.topic(&DELIVERY_RETRIES);
    let dlq_topic = topology.topic(&NOTIFIER_DLQ);
    let codec = AvroCodec::registry(&kafka.schema_registry_url);

    // Alert a-1 gave up on both its targets: two dead letters.
    let a1 = ok(codec
        .encode(&alerts, &alert("a-1"))
        .await
        .map_err(Into::into));
    for target in ["slack:#billing", "teams:ops"] {
        let mut record = dead(
            &alerts,
            &dlq_topic,
            "notifier",
            "a-1",
            &a1,
            "channel_rejected",
        );
        record.key = format!("a-1|{target}").into_bytes();
        record
            .headers
            .push(("dlq.target".to_owned(), target.as_bytes().to_vec()));
        send(&kafka, &record).await;
    }
    // Alert a-2's retry of one target ran out of attempts.
    let retry = DeliveryRetry {
        alert: alert("a-2"),
        target: NotificationTarget::new("email", "lead@example.com"),
        due_at: 1,
        attempt: 5,
        last_error: "550".to_owned(),
    };
    let retry_bytes = ok(codec.encode(&retries, &retry).await.map_err(Into::into));
    let mut record = dead(
        &retries,
        &dlq_topic,
        "notifier",
        "x",
        &retry_bytes,
        "attempts_exhausted",
    );
    record.key = b"a-2|email:lead@example.com".to_vec();
    record
        .headers
        .push(("dlq.target".to_owned(), b"email:lead@example.com".to_vec()));
    send(&kafka, &record).await;

    let reader = ok(TopicReader::new(&kafka, &alerts));
    let report = ok(dlq::redrive(&kafka, Stage::Notifier, &RedriveOptions::default()).await);
    assert_eq!(report.total(), 2, "{report}");
    assert_eq!(report.duplicates, 1, "{report}");
    let sent = reader.read(2, ARRIVAL).await;
    assert_eq!(keys(&sent), ["a-1", "a-2"]);
    for message in &sent {
        let decoded: EnrichedAlert = ok(codec
            .decode(message.payload().unwrap_or_default())
            .await
            .map_err(Into::into));
        assert_eq!(
            decoded,
            alert(std::str::from_utf8(message.key().unwrap_or_default()).unwrap_or_default())
        );
        assert_eq!(header(message, "traceparent").as_deref(), Some(TRACEPARENT));
        assert_eq!(header(message, "dlq.target"), None);
    }
    let a1_record = sent.iter().find(|m| m.key() == Some(&b"a-1"[..]));
    assert_eq!(
        a1_record.and_then(|m| m.payload()),
        Some(a1.as_slice()),
        "original bytes"
    );

    let again = ok(dlq::redrive(&kafka, Stage::Notifier, &RedriveOptions::default()).await);
    assert_eq!(again.total(), 0, "{again}");
    assert!(reader.read_all(QUIET).await.is_empty());
}
