use survey_contracts::{DedupMarker, topics};
use survey_runtime::dead_letter::headers;
use survey_test_support::header;
use survey_test_support::samples::raw_survey;

use crate::helpers::{ARRIVAL, Harness};

#[tokio::test]
async fn undecodable_records_go_to_the_dlq_with_reasons_and_the_stage_keeps_going() {
    let harness = Harness::new().await;
    let (filter, shutdown) = harness.start(harness.config()).await;

    harness
        .send_bytes("not-avro", br#"{"json": "is not the wire format"}"#)
        .await;
    harness
        .send_bytes("unknown-id", &[0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3])
        .await;
    // Valid Avro of another schema: schema-valid nonsense for this topic.
    let dedup_topic = harness.topic(&topics::SURVEY_RESPONSES_DEDUP);
    let marker = DedupMarker {
        response_id: "x".to_owned(),
        first_seen_at: 1,
    };
    let wrong_schema = harness
        .codec
        .encode(&dedup_topic, &marker)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    harness.send_bytes("wrong-schema", &wrong_schema).await;
    harness
        .send_raw(&raw_survey("after-poison", 1, None, "general"))
        .await;

    let dlq = harness.reader(&topics::FILTER_DLQ).read(3, ARRIVAL).await;
    assert_eq!(dlq.len(), 3);
    let reason_of = |key: &str| {
        dlq.iter()
            .find(|r| rdkafka::message::Message::key(*r) == Some(key.as_bytes()))
            .and_then(|r| header(r, headers::REASON))
    };
    assert_eq!(reason_of("not-avro").as_deref(), Some("not_wire_format"));
    assert!(
        reason_of("unknown-id")
            .is_some_and(|r| r.starts_with("registry") || r == "unknown_schema_id")
    );
    assert_eq!(
        reason_of("wrong-schema").as_deref(),
        Some("schema_mismatch")
    );
    for record in &dlq {
        assert_eq!(header(record, headers::STAGE).as_deref(), Some("filter"));
        assert_eq!(
            header(record, headers::SOURCE_TOPIC),
            Some(harness.topic(&topics::SURVEY_RESPONSES_RAW))
        );
        assert!(header(record, headers::ERROR).is_some_and(|e| !e.is_empty()));
        assert!(header(record, headers::SOURCE_OFFSET).is_some());
        assert_eq!(
            header(record, "traceparent").as_deref(),
            Some("00-abc-def-01")
        );
    }
    // The original bytes are kept unchanged.
    let original = dlq
        .iter()
        .find(|r| rdkafka::message::Message::key(*r) == Some(&b"not-avro"[..]));
    assert_eq!(
        original.and_then(rdkafka::message::Message::payload),
        Some(&br#"{"json": "is not the wire format"}"#[..])
    );

    let actionable = harness
        .reader(&topics::SURVEY_RESPONSES_ACTIONABLE)
        .read(1, ARRIVAL)
        .await;
    assert_eq!(actionable.len(), 1);
    assert_eq!(filter.stats.dead_lettered_total(), 3);
    shutdown.trigger();
    filter.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
