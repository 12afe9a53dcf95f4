use std::time::Duration;

use survey_contracts::AvroCodec;
use survey_contracts::topics::SURVEY_RESPONSES_RAW;
use survey_ctl::commands::tail;
use survey_test_support::samples::raw_survey;

use crate::helpers::{At, ok, produce_at, producer, provisioned};

#[tokio::test]
async fn tail_prints_records_decoded_through_the_registry() {
    let kafka = provisioned(&[SURVEY_RESPONSES_RAW]).await;
    let topic = kafka.topology().topic(&SURVEY_RESPONSES_RAW);
    let codec = AvroCodec::registry(&kafka.schema_registry_url);
    let producer = producer(&kafka);
    for id in ["r-1", "r-2"] {
        let payload = ok(codec
            .encode(&topic, &raw_survey(id, 2, None, "q-1"))
            .await
            .map_err(Into::into));
        let headers = [("traceparent".to_owned(), b"00-t-s-01".to_vec())];
        produce_at(
            &producer,
            At {
                topic: &topic,
                partition: 0,
                timestamp: survey_runtime::now_millis(),
                key: id.as_bytes(),
                payload: &payload,
                headers: &headers,
            },
        )
        .await;
    }

    let mut out = Vec::new();
    let written = ok(tail::tail(
        &kafka,
        SURVEY_RESPONSES_RAW.base_name,
        10,
        Duration::from_secs(3),
        &mut out,
    )
    .await);
    assert_eq!(written, 2);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
        .lines()
        .map(|line| ok(serde_json::from_str(line).map_err(Into::into)))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["key"], "r-1");
    assert_eq!(lines[0]["offset"], 0);
    assert_eq!(lines[0]["headers"]["traceparent"], "00-t-s-01");
    assert_eq!(lines[0]["value"]["responseId"], "r-1");
    assert_eq!(lines[1]["value"]["csat"], 2);

    // --max stops early; an unknown topic is refused.
    let mut out = Vec::new();
    let one = ok(tail::tail(
        &kafka,
        SURVEY_RESPONSES_RAW.base_name,
        1,
        Duration::from_secs(3),
        &mut out,
    )
    .await);
    assert_eq!(one, 1);
    assert!(
        tail::tail(&kafka, "survey.nope", 1, Duration::from_secs(1), &mut out)
            .await
            .is_err()
    );
}
