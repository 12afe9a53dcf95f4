//! A followed table topic against the real broker: a stage that takes over
//! partitions can wait until the table holds everything written before,
//! even when applying records is slow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use survey_contracts::topics;
use survey_runtime::Shutdown;
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::table::{TableSink, materialize};
use survey_test_support::{kafka_settings, produce, producer};

/// Takes its time over every record, as a sink waiting on the registry would.
struct SlowSink {
    applied: Arc<AtomicUsize>,
}

#[async_trait]
impl TableSink for SlowSink {
    async fn apply(&mut self, _key: &[u8], _payload: Option<&[u8]>) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.applied.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn caught_up_returns_once_every_record_written_before_the_call_is_applied() {
    let kafka = kafka_settings();
    provision(
        &kafka,
        &[topics::SURVEY_RESPONSES_DEDUP],
        &ProvisionSettings::default(),
    )
    .await
    .expect("provisioning");
    let topic = kafka.topology().topic(&topics::SURVEY_RESPONSES_DEDUP);
    let shutdown = Shutdown::new();
    let applied = Arc::new(AtomicUsize::new(0));
    let sink = SlowSink {
        applied: Arc::clone(&applied),
    };
    let table = materialize(&kafka, &topic, sink, shutdown.clone())
        .await
        .expect("materialize");
    // Already caught up with an empty topic.
    table
        .caught_up(Duration::from_secs(5))
        .await
        .expect("an empty table is caught up");

    // Keys spread over the partitions, acknowledged before the call.
    let writer = producer(&kafka).expect("producer");
    for n in 0..6 {
        let key = format!("response-{n}");
        produce(&writer, &topic, key.as_bytes(), b"seen", &[])
            .await
            .expect("produce");
    }
    assert!(
        applied.load(Ordering::SeqCst) < 6,
        "the follower applies slowly, so it is still behind here"
    );
    table
        .caught_up(Duration::from_secs(30))
        .await
        .expect("catching up");
    assert_eq!(
        applied.load(Ordering::SeqCst),
        6,
        "every acknowledged record was applied when caught_up returned"
    );
    shutdown.trigger();
}
