use std::time::Duration;

use serde_json::json;
use survey_ingest::auth::sign;
use survey_test_support::samples;

use crate::helpers::{SECRET, spawn_app};

struct Case {
    name: &'static str,
    body: Vec<u8>,
    content_type: &'static str,
    signature: Option<String>,
    status: u16,
    field: Option<&'static str>,
}

fn signed(name: &'static str, body: Vec<u8>, status: u16, field: Option<&'static str>) -> Case {
    let signature = Some(sign(SECRET, &body));
    Case {
        name,
        body,
        content_type: "application/json",
        signature,
        status,
        field,
    }
}

fn with(mutate: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut body = samples::webhook("bad-1", 2, Some("x"), "q");
    mutate(&mut body);
    serde_json::to_vec(&body).unwrap_or_default()
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_writes_nothing() {
    let app = spawn_app().await;
    let good = with(|_| {});
    let cases = vec![
        signed("truncated JSON", good[..good.len() / 2].to_vec(), 400, None),
        signed("not JSON at all", b"hello".to_vec(), 400, None),
        signed(
            "missing data.id",
            with(|b| {
                b["data"].as_object_mut().map(|d| d.remove("id"));
            }),
            400,
            Some("data.id"),
        ),
        signed(
            "wrong type of data.id",
            with(|b| b["data"]["id"] = json!(7)),
            400,
            Some("data.id"),
        ),
        signed(
            "missing interactionId",
            with(|b| b["data"]["interactionId"] = json!(null)),
            400,
            Some("data.interactionId"),
        ),
        signed(
            "missing submittedAt",
            with(|b| {
                b["data"].as_object_mut().map(|d| d.remove("submittedAt"));
            }),
            400,
            Some("data.submittedAt"),
        ),
        signed(
            "score 2.5",
            with(|b| b["data"]["answers"]["q1_csat"] = json!(2.5)),
            400,
            Some("data.answers.q1_csat"),
        ),
        signed(
            "score \"2\"",
            with(|b| b["data"]["answers"]["q1_csat"] = json!("2")),
            400,
            Some("data.answers.q1_csat"),
        ),
        signed(
            "score 0",
            with(|b| b["data"]["answers"]["q1_csat"] = json!(0)),
            400,
            Some("data.answers.q1_csat"),
        ),
        signed(
            "score 6",
            with(|b| b["data"]["answers"]["q1_csat"] = json!(6)),
            400,
            Some("data.answers.q1_csat"),
        ),
        signed(
            "too large",
            with(|b| b["data"]["answers"]["q9"] = json!("x".repeat(70 * 1024))),
            413,
            None,
        ),
        Case {
            content_type: "text/plain",
            ..signed("wrong content type", good.clone(), 415, None)
        },
        Case {
            signature: None,
            ..signed("no signature", good.clone(), 401, None)
        },
        Case {
            signature: Some(sign("wrong-secret", &good)),
            ..signed("bad signature", good.clone(), 401, None)
        },
        Case {
            signature: Some("sha256=zz".to_owned()),
            ..signed("garbled signature", good.clone(), 401, None)
        },
    ];
    for case in cases {
        let mut request = app
            .http
            .post(app.url("/webhooks/survey"))
            .header("content-type", case.content_type)
            .body(case.body);
        if let Some(signature) = case.signature {
            request = request.header("x-signature-256", signature);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: {json}",
            case.name
        );
        if let Some(field) = case.field {
            assert_eq!(json["field"], field, "{}", case.name);
        }
    }
    // A wrong method is refused by the router.
    let get = app
        .http
        .get(app.url("/webhooks/survey"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get.status(), 405);

    // The service is still up, and nothing reached Kafka.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.status(), 200);
    let count = survey_test_support::record_count(&app.kafka, &app.raw_topic()).unwrap_or(-1);
    assert_eq!(count, 0);
}
