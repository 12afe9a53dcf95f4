use std::time::Duration;

use survey_ingest::auth::sign;
use survey_test_support::process::{free_port, spawn, terminate, wait_ready};
use survey_test_support::samples;

#[tokio::test]
async fn sigterm_finishes_requests_and_exits_zero() {
    let kafka = survey_test_support::kafka_settings();
    let (port, ops_port) = (free_port(), free_port());
    let mut ingest = spawn(
        env!("CARGO_BIN_EXE_survey-ingest"),
        &kafka,
        ops_port,
        &[
            ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("WEBHOOK_SECRET", "sigterm-secret".to_owned()),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60)
        )
        .await
    );
    assert!(
        wait_ready(
            &format!("http://127.0.0.1:{ops_port}/metrics"),
            Duration::from_secs(5)
        )
        .await
    );
    let body = serde_json::to_vec(&samples::webhook("sigterm-1", 1, None, "q")).unwrap_or_default();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/survey"))
        .header("content-type", "application/json")
        .header("x-signature-256", sign("sigterm-secret", &body))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 202);
    let status = terminate(&mut ingest, Duration::from_secs(60)).await;
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
}
