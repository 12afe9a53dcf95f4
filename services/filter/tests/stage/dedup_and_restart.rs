use rdkafka::message::Message;
use survey_contracts::topics;
use survey_test_support::samples::raw_survey;

use crate::helpers::{ARRIVAL, Harness, QUIET};

#[tokio::test]
async fn three_deliveries_of_one_response_give_one_actionable_event() {
    let harness = Harness::new().await;
    let (filter, shutdown) = harness.start(harness.config()).await;
    let survey = raw_survey("retried", 1, Some("rude"), "general");
    for _ in 0..3 {
        harness.send_raw(&survey).await;
    }
    let reader = harness.reader(&topics::SURVEY_RESPONSES_ACTIONABLE);
    let mut records = reader.read(1, ARRIVAL).await;
    records.extend(reader.read_all(QUIET).await);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key(), Some(&b"retried"[..]));
    assert_eq!(filter.stats.dropped_total("duplicate"), 2);

    // The dedup topic remembers it, keyed by the response id.
    let markers = harness
        .reader(&topics::SURVEY_RESPONSES_DEDUP)
        .read(1, ARRIVAL)
        .await;
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].key(), Some(&b"retried"[..]));
    shutdown.trigger();
    filter.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_restarted_filter_re_emits_nothing() {
    let harness = Harness::new().await;
    let (first, shutdown) = harness.start(harness.config()).await;
    for id in ["a", "b", "c"] {
        harness.send_raw(&raw_survey(id, 2, None, "general")).await;
    }
    let reader = harness.reader(&topics::SURVEY_RESPONSES_ACTIONABLE);
    assert_eq!(reader.read(3, ARRIVAL).await.len(), 3);
    shutdown.trigger();
    first.wait().await.unwrap_or_else(|e| panic!("{e:#}"));

    // A new consumer in the same group, and webhook retries of the same ids
    // arriving after the restart: the seen-set comes back from the dedup topic.
    let (second, shutdown) = harness.start(harness.config()).await;
    for id in ["a", "b", "c"] {
        harness.send_raw(&raw_survey(id, 2, None, "general")).await;
    }
    harness.send_raw(&raw_survey("d", 2, None, "general")).await;
    let after = reader.read(1, ARRIVAL).await;
    let mut after_all = after;
    after_all.extend(reader.read_all(QUIET).await);
    let keys: Vec<_> = after_all.iter().filter_map(|r| r.key()).collect();
    assert_eq!(keys, vec![&b"d"[..]]);
    // It did not reprocess the first run's inputs either: committed offsets held.
    assert_eq!(second.stats.records_in_total(), 4);
    assert_eq!(second.stats.dropped_total("duplicate"), 3);
    shutdown.trigger();
    second.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
