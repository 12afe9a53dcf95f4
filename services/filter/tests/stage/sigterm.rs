use std::time::Duration;

use survey_contracts::topics;
use survey_test_support::process::{free_port, spawn, terminate, wait_ready};
use survey_test_support::samples::raw_survey;

use crate::helpers::{ARRIVAL, Harness, QUIET};

#[tokio::test]
async fn sigterm_drains_commits_and_exits_zero() {
    let harness = Harness::new().await;
    let port = free_port();
    let mut filter = spawn(
        env!("CARGO_BIN_EXE_survey-filter"),
        &harness.kafka,
        port,
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60)
        )
        .await
    );
    for id in ["t-1", "t-2", "t-3"] {
        harness.send_raw(&raw_survey(id, 1, None, "general")).await;
    }
    let reader = harness.reader(&topics::SURVEY_RESPONSES_ACTIONABLE);
    assert_eq!(reader.read(3, ARRIVAL).await.len(), 3);
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains("survey_alerts_records_in_total"),
        "{metrics}"
    );

    let status = terminate(&mut filter, Duration::from_secs(60)).await;
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");

    // Its offsets were stored and committed on the way out: a new instance
    // in the same group has nothing left to read.
    let (again, shutdown) = harness.start(harness.config()).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(again.stats.records_in_total(), 0);
    shutdown.trigger();
    again.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}
