use std::collections::BTreeSet;
use std::time::Duration;

use survey_contracts::topics;
use survey_runtime::dead_letter::headers;
use survey_sandbox::{Fault, Route, demo};
use survey_test_support::header;

use crate::helpers::{ARRIVAL, Harness, actionable, unique};

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_and_nothing_is_lost() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    harness
        .sandbox
        .state()
        .fail_next(Route::GenesysApi, Fault::rate_limited(1, 3));
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("limited-{i}"))).collect();
    for id in &ids {
        harness
            .send(&actionable(
                id,
                demo::VOICE_CONVERSATION_ID,
                Some(demo::AGENT_PRIYA_ID),
            ))
            .await;
    }
    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&reader, 3, ARRIVAL).await;
    let got: BTreeSet<_> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(alerts.len(), 3);
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_genesys_outage_of_a_minute_loses_nothing() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    harness
        .sandbox
        .state()
        .outage(Route::GenesysApi, Duration::from_secs(60));
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("outage-{i}"))).collect();
    for id in &ids {
        harness
            .send(&actionable(
                id,
                demo::VOICE_CONVERSATION_ID,
                Some(demo::AGENT_PRIYA_ID),
            ))
            .await;
    }
    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    let during = reader.read(1, Duration::from_secs(20)).await;
    assert!(
        during.is_empty(),
        "no alert can be complete while Genesys is down"
    );
    let alerts = harness.alerts(&reader, 3, Duration::from_secs(90)).await;
    let got: BTreeSet<_> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(alerts.len(), 3);
    assert!(enricher.stats.retries_total() > 0);
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_restart_mid_stream_loses_no_alert_and_repeats_no_revision() {
    let harness = Harness::new().await;
    let ids: Vec<String> = (0..6).map(|i| unique(&format!("restart-{i}"))).collect();
    let (first, shutdown) = harness.start(harness.config()).await;
    for id in &ids[..3] {
        harness
            .send(&actionable(
                id,
                demo::VOICE_CONVERSATION_ID,
                Some(demo::AGENT_PRIYA_ID),
            ))
            .await;
    }
    let reader = harness.reader(&topics::ALERTS_ENRICHED);
    assert_eq!(reader.read(1, ARRIVAL).await.len(), 1);
    shutdown.trigger();
    first.wait().await.unwrap_or_else(|e| panic!("{e:#}"));

    for id in &ids[3..] {
        harness
            .send(&actionable(
                id,
                demo::VOICE_CONVERSATION_ID,
                Some(demo::AGENT_PRIYA_ID),
            ))
            .await;
    }
    let (second, shutdown) = harness.start(harness.config()).await;
    let all = harness.reader(&topics::ALERTS_ENRICHED);
    let alerts = harness.alerts(&all, ids.len(), ARRIVAL).await;
    let keys: Vec<_> = alerts
        .iter()
        .map(|a| (a.alert_id.clone(), a.revision))
        .collect();
    let unique_keys: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(
        keys.len(),
        unique_keys.len(),
        "a revision was emitted twice: {keys:?}"
    );
    let got: BTreeSet<_> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>());
    shutdown.trigger();
    second.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn an_undecodable_record_goes_to_the_dlq_with_reasons() {
    let harness = Harness::new().await;
    let (enricher, shutdown) = harness.start(harness.config()).await;
    harness.send_bytes(b"\x00\x00\x00\x00\x01garbage").await;
    harness.send_bytes(b"not avro at all").await;
    let id = unique("after-poison");
    harness
        .send(&actionable(
            &id,
            demo::VOICE_CONVERSATION_ID,
            Some(demo::AGENT_PRIYA_ID),
        ))
        .await;

    let dlq = harness.reader(&topics::ENRICHER_DLQ).read(2, ARRIVAL).await;
    assert_eq!(dlq.len(), 2);
    for record in &dlq {
        assert!(header(record, headers::REASON).is_some_and(|r| !r.is_empty()));
        assert_eq!(header(record, headers::STAGE).as_deref(), Some("enricher"));
    }
    let alerts = harness
        .alerts(&harness.reader(&topics::ALERTS_ENRICHED), 1, ARRIVAL)
        .await;
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.alert_id.as_str())
            .collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    shutdown.trigger();
    enricher.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
