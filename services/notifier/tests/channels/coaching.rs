//! Coaching appointments against a wiremock Genesys Cloud.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::json;
use survey_contracts::NotificationTarget;
use survey_genesys::{GenesysClient, GenesysConfig};
use survey_notifier::channels::coaching::{CoachingChannel, CoachingSettings};
use survey_notifier::channels::{Channel, Delivered};
use wiremock::matchers::{bearer_token, body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    AGENT_ID, CONVERSATION_ID, attempt, bot_recording_pending, expect_permanent, expect_transient,
    human_agent_recording_ready, record, revised, unassigned_revision_2_unavailable,
};

const FACILITATOR: &str = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";
const APPOINTMENT: &str = "3b9f8e7d-6c5b-4a3f-9e2d-1c0b9a8f7e6d";

/// A Genesys Cloud whose token endpoint issues `token-1`.
async fn genesys() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "token-1", "token_type": "bearer", "expires_in": 86399
        })))
        .mount(&server)
        .await;
    server
}

fn channel(server: &MockServer) -> CoachingChannel {
    let client = GenesysClient::new(GenesysConfig {
        api_url: Some(server.uri()),
        login_url: Some(server.uri()),
        client_id: "client-id".into(),
        client_secret: SecretString::from("client-secret"),
        request_timeout: Duration::from_secs(2),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        ..GenesysConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let now = Utc
        .with_ymd_and_hms(2026, 9, 14, 10, 16, 30)
        .single()
        .unwrap_or_else(|| panic!("a valid time"));
    CoachingChannel::new(
        client,
        CoachingSettings {
            length_in_minutes: 45,
            starts_after: Duration::from_secs(24 * 60 * 60),
        },
    )
    .with_clock(Arc::new(move || now))
}

fn target() -> NotificationTarget {
    NotificationTarget::new("coaching", FACILITATOR)
}

#[tokio::test]
async fn an_appointment_is_created_for_the_agent_with_the_interaction() {
    let server = genesys().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .and(bearer_token("token-1"))
        .and(body_json(json!({
            "name": "Survey follow-up: Jordan Smith (2/5)",
            "description": format!(
                "A customer rated interaction {CONVERSATION_ID} 2/5 (queue Billing, survey submitted \
                 2026-09-14 10:15 UTC). Why: Low score: csat 2 is below 3; Critical keyword: rude. \
                 Review it in Genesys Cloud: https://apps.mypurecloud.com/directory/#/analytics/interactions/{CONVERSATION_ID}/admin"
            ),
            "dateStart": "2026-09-15T10:16:30Z",
            "lengthInMinutes": 45,
            "attendeeIds": [AGENT_ID],
            "facilitatorId": FACILITATOR,
            "conversationIds": [CONVERSATION_ID]
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": APPOINTMENT, "name": "Survey follow-up", "status": "Scheduled"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let delivered = channel(&server)
        .deliver(&human_agent_recording_ready(), &target(), None, &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered.external_id.as_deref(), Some(APPOINTMENT));
    server.verify().await;
}

#[tokio::test]
async fn a_later_revision_keeps_the_first_appointment() {
    let server = genesys().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "another"})))
        .expect(0)
        .mount(&server)
        .await;
    let alert = revised(human_agent_recording_ready());
    let mut previous = record(&alert, &target(), 1);
    previous.external_id = Some(APPOINTMENT.to_owned());

    let delivered = channel(&server)
        .deliver(&alert, &target(), Some(&previous), &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        delivered,
        Delivered {
            external_id: Some(APPOINTMENT.to_owned()),
            ..Delivered::default()
        }
    );
    server.verify().await;
}

#[tokio::test]
async fn bots_and_unassigned_interactions_have_no_one_to_coach() {
    let server = genesys().await;
    let coaching = channel(&server);
    for alert in [bot_recording_pending(), unassigned_revision_2_unavailable()] {
        let reason = expect_permanent(coaching.deliver(&alert, &target(), None, &attempt()).await);
        assert_eq!(reason, "no agent to coach");
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn genesys_errors_are_sorted_by_the_clients_verdict() {
    let server = genesys().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "missing permission coaching:appointment:add", "code": "missing.permissions", "status": 403
        })))
        .mount(&server)
        .await;
    let coaching = channel(&server);
    let alert = human_agent_recording_ready();

    expect_transient(coaching.deliver(&alert, &target(), None, &attempt()).await);
    let reason = expect_permanent(coaching.deliver(&alert, &target(), None, &attempt()).await);
    assert!(reason.contains("403"), "{reason}");
}
