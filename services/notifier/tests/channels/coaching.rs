//! Coaching appointments against a wiremock Genesys Cloud, and a
//! delivery read back from the sandbox's.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};
use survey_genesys::{GenesysClient, GenesysConfig};
use survey_notifier::channels::coaching::{CoachingChannel, CoachingSettings};
use survey_notifier::channels::{Attempt, Channel, Delivered, DeliveryError, Found};
use wiremock::matchers::{bearer_token, body_json, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::support::{
    AGENT_ID, CONVERSATION_ID, attempt, bot_recording_pending, expect_permanent, expect_transient,
    human_agent_recording_ready, record, revised, sandbox, unassigned_revision_2_unavailable,
};

const FACILITATOR: &str = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";
const APPOINTMENT: &str = "3b9f8e7d-6c5b-4a3f-9e2d-1c0b9a8f7e6d";
/// The key of [`attempt`].
const KEY: &str = "0123456789abcdef0123456789abcdef";

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
    channel_at(&server.uri())
}

/// A channel on the Genesys Cloud at `base`; sessions start a day after the
/// attempt's first try.
fn channel_at(base: &str) -> CoachingChannel {
    let client = GenesysClient::new(GenesysConfig {
        api_url: Some(base.to_owned()),
        login_url: Some(base.to_owned()),
        client_id: "client-id".into(),
        client_secret: SecretString::from("client-secret"),
        request_timeout: Duration::from_secs(2),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        ..GenesysConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    CoachingChannel::new(
        client,
        CoachingSettings {
            length_in_minutes: 45,
            starts_after: Duration::from_secs(24 * 60 * 60),
        },
    )
}

fn target() -> NotificationTarget {
    NotificationTarget::new("coaching", FACILITATOR)
}

/// What the ledger keeps of [`APPOINTMENT`].
fn appointment() -> Delivered {
    Delivered {
        external_id: Some(APPOINTMENT.to_owned()),
        ..Delivered::default()
    }
}

/// The ledger's record of an earlier revision of `alert` that created
/// [`APPOINTMENT`].
fn appointed(alert: &EnrichedAlert) -> DeliveryRecord {
    let mut previous = record(alert, &target(), 1);
    previous.external_id = Some(APPOINTMENT.to_owned());
    previous
}

/// A first delivery of `alert` to [`FACILITATOR`].
async fn deliver(
    coaching: &CoachingChannel,
    alert: &EnrichedAlert,
) -> Result<Delivered, DeliveryError> {
    coaching.deliver(alert, &target(), None, &attempt()).await
}

/// A read-back of the first delivery of `alert` to [`FACILITATOR`].
async fn find(coaching: &CoachingChannel, alert: &EnrichedAlert) -> Result<Found, DeliveryError> {
    coaching.find(alert, &target(), None, &attempt()).await
}

#[tokio::test]
async fn an_appointment_is_created_for_the_agent_with_the_interaction_and_the_key() {
    let server = genesys().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .and(bearer_token("token-1"))
        .and(body_json(json!({
            "name": "Survey follow-up: Jordan Smith (2/5)",
            "description": format!(
                "A customer rated interaction {CONVERSATION_ID} 2/5 (queue Billing, survey submitted \
                 2026-09-14 10:15 UTC). Why: Low score: csat 2 is below 3; Critical keyword: rude. \
                 Review it in Genesys Cloud: https://apps.mypurecloud.com/directory/#/analytics/interactions/{CONVERSATION_ID}/admin\n\
                 Ref: {KEY}"
            ),
            // A day after the attempt's first try (2026-09-14T10:16:01Z).
            "dateStart": "2026-09-15T10:16:01Z",
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

    let delivered = deliver(&channel(&server), &human_agent_recording_ready())
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

    let delivered = channel(&server)
        .deliver(&alert, &target(), Some(&appointed(&alert)), &attempt())
        .await;
    assert_eq!(delivered, Ok(appointment()));
    server.verify().await;
}

#[tokio::test]
async fn bots_and_unassigned_interactions_have_no_one_to_coach() {
    let server = genesys().await;
    let coaching = channel(&server);
    for alert in [bot_recording_pending(), unassigned_revision_2_unavailable()] {
        let reason = expect_permanent(deliver(&coaching, &alert).await);
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

    expect_transient(deliver(&coaching, &alert).await);
    let reason = expect_permanent(deliver(&coaching, &alert).await);
    assert!(reason.contains("403"), "{reason}");
}

/// The listing `find` asks for: the agent's appointments with the
/// facilitator, a day either side of the planned start.
fn listing() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v2/coaching/appointments"))
        .and(bearer_token("token-1"))
        .and(query_param("userIds", AGENT_ID))
        .and(query_param("facilitatorIds", FACILITATOR))
        .and(query_param(
            "interval",
            "2026-09-14T10:16:01Z/2026-09-16T10:16:01Z",
        ))
}

fn appointment_json(id: &str, description: &str) -> Value {
    json!({
        "id": id, "name": "Survey follow-up: Jordan Smith (2/5)", "description": description,
        "dateStart": "2026-09-15T10:16:00.000Z", "lengthInMinutes": 45, "status": "Scheduled",
        "facilitator": {"id": FACILITATOR}, "attendees": [{"id": AGENT_ID}],
        "conversations": [{"id": CONVERSATION_ID}], "isOverdue": false,
        "selfUri": format!("/api/v2/coaching/appointments/{id}")
    })
}

fn page(number: u32, count: u32, entities: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "entities": entities, "pageSize": 25, "pageNumber": number,
        "total": entities.len(), "pageCount": count
    }))
}

#[tokio::test]
async fn find_recognises_the_appointment_with_the_key_on_a_later_page() {
    let server = genesys().await;
    listing()
        .and(query_param("pageNumber", "1"))
        .respond_with(page(
            1,
            2,
            vec![
                appointment_json("other-1", "Weekly 1:1"),
                // Another attempt's key, and this key with a digit more.
                appointment_json(
                    "other-2",
                    "Why: low score.\nRef: fedcba9876543210fedcba9876543210",
                ),
                appointment_json("other-3", &format!("Why: low score.\nRef: {KEY}0")),
            ],
        ))
        .expect(1)
        .mount(&server)
        .await;
    listing()
        .and(query_param("pageNumber", "2"))
        .respond_with(page(
            2,
            2,
            vec![appointment_json(
                APPOINTMENT,
                &format!("Why: low score.\nRef: {KEY}"),
            )],
        ))
        .expect(1)
        .mount(&server)
        .await;

    let found = find(&channel(&server), &human_agent_recording_ready()).await;
    assert_eq!(found, Ok(Found::Delivered(appointment())));
    server.verify().await;
}

#[tokio::test]
async fn find_reports_absent_when_no_appointment_has_the_key() {
    let server = genesys().await;
    listing()
        .respond_with(page(
            1,
            1,
            vec![appointment_json(
                "other-1",
                "Why: low score.\nRef: fedcba9876543210fedcba9876543210",
            )],
        ))
        .expect(1)
        .mount(&server)
        .await;

    let found = find(&channel(&server), &human_agent_recording_ready()).await;
    assert_eq!(found, Ok(Found::Absent));
    server.verify().await;
}

#[tokio::test]
async fn find_sorts_genesys_errors_by_the_clients_verdict() {
    let server = genesys().await;
    listing()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    listing()
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    listing()
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "missing permission coaching:appointment:view", "code": "missing.permissions", "status": 403
        })))
        .expect(1)
        .mount(&server)
        .await;
    let coaching = channel(&server);
    let alert = human_agent_recording_ready();

    // Each transient error outlasts the client's two attempts.
    for _ in 0..2 {
        expect_transient(find(&coaching, &alert).await);
    }
    let reason = expect_permanent(find(&coaching, &alert).await);
    assert!(reason.contains("403"), "{reason}");
    server.verify().await;
}

#[tokio::test]
async fn find_needs_an_agent_and_repeats_nothing_for_a_later_revision() {
    let server = genesys().await;
    let coaching = channel(&server);
    for alert in [bot_recording_pending(), unassigned_revision_2_unavailable()] {
        let reason = expect_permanent(find(&coaching, &alert).await);
        assert_eq!(reason, "no agent to coach");
    }
    let alert = revised(human_agent_recording_ready());
    let found = coaching
        .find(&alert, &target(), Some(&appointed(&alert)), &attempt())
        .await;
    assert_eq!(found, Ok(Found::Delivered(appointment())));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn the_sandbox_lists_a_delivered_appointment_back_by_its_key() {
    let sandbox = sandbox().await;
    let coaching = channel_at(&sandbox.base_url());
    let alert = human_agent_recording_ready();

    let delivered = deliver(&coaching, &alert)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(delivered.external_id.is_some());
    let recorded = sandbox.state().coaching_appointments();
    assert_eq!(recorded.len(), 1);
    assert!(
        recorded[0].description.ends_with(&format!("\nRef: {KEY}")),
        "{}",
        recorded[0].description
    );

    assert_eq!(
        find(&coaching, &alert).await,
        Ok(Found::Delivered(delivered))
    );
    let another = Attempt {
        key: "fedcba9876543210fedcba9876543210".to_owned(),
        ..attempt()
    };
    let found = coaching.find(&alert, &target(), None, &another).await;
    assert_eq!(found, Ok(Found::Absent));
    sandbox.shutdown().await;
}
