//! The client against a wiremock stand-in for Genesys Cloud on 127.0.0.1,
//! answering with the documented response shapes (`tests/fixtures/`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use survey_genesys::{
    AgentRef, CoachingAppointmentQuery, CoachingAppointmentRequest, GenesysClient, GenesysConfig,
    GenesysError, RecordingStatus,
};
use wiremock::matchers::{
    basic_auth, bearer_token, body_json, body_string, header, method, path, query_param,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONVERSATION: &str = "7d0a5e1c-3b8f-4a52-9f6e-1c2d3e4f5a6b";
const AGENT: &str = "5f6fe78e-dfbb-400f-a70b-d9b5c8340fdc";
const QUEUE: &str = "67ce2258-ff62-4f8e-8467-2d79c9b98e2b";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn config(server: &MockServer) -> GenesysConfig {
    GenesysConfig {
        api_url: Some(server.uri()),
        login_url: Some(server.uri()),
        client_id: "client-id".into(),
        client_secret: SecretString::from("client-secret"),
        request_timeout: Duration::from_secs(2),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        ..GenesysConfig::default()
    }
}

fn client_with(config: GenesysConfig) -> GenesysClient {
    GenesysClient::new(config).unwrap_or_else(|error| panic!("client: {error}"))
}

fn token_response(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": 86399
    }))
}

/// The token endpoint as Genesys specifies it: Basic client credentials and a
/// form body.
fn token_endpoint() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(basic_auth("client-id", "client-secret"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=client_credentials"))
}

/// A server whose token endpoint issues `token-1`, and a client for it.
async fn spawn() -> (MockServer, GenesysClient) {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("token-1"))
        .mount(&server)
        .await;
    let client = client_with(config(&server));
    (server, client)
}

fn ok<T>(result: Result<T, GenesysError>) -> T {
    result.unwrap_or_else(|error| panic!("unexpected error: {error}"))
}

fn user_json(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "email": format!("{}@example.com", name.to_lowercase().replace(' ', ".")), "state": "active", "version": 1, "selfUri": format!("/api/v2/users/{id}")})
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused_across_calls() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("token-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .and(bearer_token("token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json(AGENT, "Dana Ortiz")))
        .expect(4)
        .mount(&server)
        .await;
    let client = client_with(config(&server));
    let clone = client.clone();

    let (first, second) = tokio::join!(client.user(AGENT), clone.user(AGENT));
    assert_eq!(ok(first).map(|u| u.id), Some(AGENT.to_owned()));
    assert!(ok(second).is_some());
    ok(client.user(AGENT).await);
    ok(clone.user(AGENT).await);
    server.verify().await;
}

#[tokio::test]
async fn a_401_renews_the_token_and_repeats_the_request_once() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("token-1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(token_response("token-2"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .and(bearer_token("token-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"message": "Token expired", "code": "bad.credentials", "status": 401}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .and(bearer_token("token-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json(AGENT, "Dana Ortiz")))
        .expect(2)
        .mount(&server)
        .await;
    let client = client_with(config(&server));

    let user = ok(client.user(AGENT).await);
    assert_eq!(user.and_then(|u| u.name), Some("Dana Ortiz".to_owned()));
    // The renewed token is cached for the next call.
    ok(client.user(AGENT).await);
    server.verify().await;
}

#[tokio::test]
async fn refused_credentials_are_a_fatal_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client", "description": "client not found", "error_description": "client not found"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_with(config(&server));

    let error = client.user(AGENT).await.err();
    assert!(
        matches!(&error, Some(GenesysError::Auth(reason)) if reason.contains("invalid_client")),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| !e.is_retriable()));
    server.verify().await;
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("inin-ratelimit-allowed", "300")
                .insert_header("inin-ratelimit-count", "301")
                .insert_header("inin-ratelimit-reset", "1")
                .set_body_json(json!({"message": "Rate limit exceeded the maximum. [300] requests for [60] seconds", "code": "too.many.requests", "status": 429})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json(AGENT, "Dana Ortiz")))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let user = ok(client.user(AGENT).await);
    assert!(user.is_some());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    server.verify().await;
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/routing/queues/{QUEUE}")))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/routing/queues/{QUEUE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": QUEUE, "name": "Billing", "description": "Billing and refunds",
            "dateCreated": "2024-01-10T08:00:00Z", "memberCount": 3, "userMemberCount": 3, "joinedMemberCount": 2,
            "mediaSettings": {}, "acwSettings": {"wrapupPrompt": "MANDATORY_TIMEOUT", "timeoutMs": 30000},
            "skillEvaluationMethod": "BEST", "selfUri": format!("/api/v2/routing/queues/{QUEUE}")
        })))
        .expect(1)
        .mount(&server)
        .await;

    let queue = ok(client.queue(QUEUE).await).unwrap_or_else(|| panic!("queue missing"));
    assert_eq!(queue.name, "Billing");
    assert_eq!(queue.member_count, Some(3));
    server.verify().await;
}

#[tokio::test]
async fn server_errors_that_persist_become_unavailable_after_max_attempts() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/conversations/{CONVERSATION}")))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;

    let error = client.interaction(CONVERSATION).await.err();
    assert!(
        matches!(&error, Some(GenesysError::Unavailable(reason)) if reason.contains("3 attempts")),
        "{error:?}"
    );
    assert!(error.is_some_and(|e| e.is_retriable()));
    server.verify().await;
}

#[tokio::test]
async fn a_slow_answer_times_out_as_unavailable() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("token-1"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(user_json(AGENT, "Dana Ortiz"))
                .set_delay(Duration::from_millis(600)),
        )
        .expect(2)
        .mount(&server)
        .await;
    let client = client_with(GenesysConfig {
        request_timeout: Duration::from_millis(150),
        max_attempts: 2,
        ..config(&server)
    });

    let error = client.user(AGENT).await.err();
    assert!(
        matches!(&error, Some(GenesysError::Unavailable(reason)) if reason.contains("timed out")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_missing_user_or_queue_is_none() {
    let (server, client) = spawn().await;
    let not_found = ResponseTemplate::new(404).set_body_json(json!({
        "message": "Unable to find a user with that id", "code": "not.found", "status": 404
    }));
    Mock::given(method("GET"))
        .and(path("/api/v2/users/00000000-0000-4000-8000-000000000000"))
        .respond_with(not_found.clone())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/routing/queues/00000000-0000-4000-8000-000000000000",
        ))
        .respond_with(not_found)
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(
        ok(client.user("00000000-0000-4000-8000-000000000000").await),
        None
    );
    assert_eq!(
        ok(client.queue("00000000-0000-4000-8000-000000000000").await),
        None
    );
    // A blank id is never sent: it would address the whole collection.
    assert_eq!(ok(client.user(" ").await), None);
    server.verify().await;
}

#[tokio::test]
async fn a_bad_request_is_rejected_without_retry() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/conversations/not-a-uuid"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "message": "The conversation id is invalid", "code": "bad.request", "status": 400
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client.interaction("not-a-uuid").await.err();
    assert_eq!(
        error,
        Some(GenesysError::Rejected {
            status: 400,
            message: "The conversation id is invalid".into()
        })
    );
    server.verify().await;
}

#[tokio::test]
async fn interactions_are_fetched_and_normalized() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/conversations/{CONVERSATION}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("conversation_voice_agent.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/conversations/2a7c9e4b-6d1f-4b3a-8c5e-7f9a1b3c5d7e",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("conversation_chat_bot.json")),
        )
        .mount(&server)
        .await;

    let voice = ok(client.interaction(CONVERSATION).await);
    assert_eq!(voice.media_type.as_deref(), Some("voice"));
    assert_eq!(voice.queue_id.as_deref(), Some(QUEUE));
    assert_eq!(
        voice.agent,
        Some(AgentRef {
            user_id: AGENT.into(),
            name: Some("Dana Ortiz".into())
        })
    );
    assert_eq!(voice.wrap_up_name.as_deref(), Some("Billing question"));
    assert!(!voice.handled_by_bot);

    let chat = ok(client
        .interaction("2a7c9e4b-6d1f-4b3a-8c5e-7f9a1b3c5d7e")
        .await);
    assert!(chat.handled_by_bot);
    assert_eq!(chat.media_type.as_deref(), Some("chat"));
}

#[tokio::test]
async fn a_202_recording_answer_is_pending() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/conversations/{CONVERSATION}/recordings"
        )))
        .and(query_param("maxWaitMs", "250"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;

    let status = ok(client
        .recording(CONVERSATION, Duration::from_millis(250))
        .await);
    assert_eq!(status, RecordingStatus::Pending);
    server.verify().await;
}

#[tokio::test]
async fn an_empty_recording_list_is_pending() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/conversations/{CONVERSATION}/recordings"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;

    let status = ok(client.recording(CONVERSATION, Duration::from_secs(1)).await);
    assert_eq!(status, RecordingStatus::Pending);
}

#[tokio::test]
async fn an_available_recording_is_ready_with_its_media_uri() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/conversations/{CONVERSATION}/recordings"
        )))
        .and(query_param("maxWaitMs", "5000"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("recordings_available.json")),
        )
        .mount(&server)
        .await;

    let status = ok(client.recording(CONVERSATION, Duration::from_secs(5)).await);
    assert_eq!(
        status,
        RecordingStatus::Ready {
            url: "https://recordings.example.invalid/7d0a5e1c/1f4d2a6b.webm?X-Amz-Signature=abc"
                .into()
        }
    );
}

#[tokio::test]
async fn summaries_give_the_completed_text_or_none() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/conversations/{CONVERSATION}/summaries"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("summaries.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/conversations/2a7c9e4b-6d1f-4b3a-8c5e-7f9a1b3c5d7e/summaries",
        ))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;

    let text = ok(client.summary(CONVERSATION).await);
    assert!(text.is_some_and(|t| t.starts_with("Customer called about a duplicate charge")));
    assert_eq!(
        ok(client.summary("2a7c9e4b-6d1f-4b3a-8c5e-7f9a1b3c5d7e").await),
        None
    );
}

#[tokio::test]
async fn queue_members_are_collected_across_pages() {
    let (server, client) = spawn().await;
    let members = format!("/api/v2/routing/queues/{QUEUE}/members");
    Mock::given(method("GET"))
        .and(path(members.as_str()))
        .and(query_param("pageNumber", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("queue_members_page1.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(members.as_str()))
        .and(query_param("pageNumber", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("queue_members_page2.json")))
        .expect(1)
        .mount(&server)
        .await;

    let members = ok(client.queue_members(QUEUE).await);
    let names: Vec<_> = members.iter().filter_map(|m| m.name.as_deref()).collect();
    assert_eq!(names, ["Dana Ortiz", "Sam Lee", "Robin Diaz"]);
    assert_eq!(members[0].email.as_deref(), Some("dana.ortiz@example.com"));
    assert_eq!(members[1].joined, Some(false));
    assert_eq!(members[1].member_by.as_deref(), Some("group"));
    server.verify().await;
}

#[tokio::test]
async fn an_absolute_next_uri_is_still_sent_to_the_configured_host() {
    let (server, client) = spawn().await;
    let members = format!("/api/v2/routing/queues/{QUEUE}/members");
    let mut first_page = fixture("queue_members_page1.json");
    first_page["nextUri"] = json!(format!(
        "https://api.mypurecloud.com{members}?pageSize=2&pageNumber=2"
    ));
    Mock::given(method("GET"))
        .and(path(members.as_str()))
        .and(query_param("pageNumber", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first_page))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(members.as_str()))
        .and(query_param("pageNumber", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("queue_members_page2.json")))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(ok(client.queue_members(QUEUE).await).len(), 3);
    server.verify().await;
}

#[tokio::test]
async fn superiors_are_a_bare_array_of_users() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{AGENT}/superiors")))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("superiors.json")))
        .mount(&server)
        .await;

    let superiors = ok(client.superiors(AGENT).await);
    assert_eq!(superiors.len(), 2);
    assert_eq!(superiors[0].name.as_deref(), Some("Morgan Blake"));
    assert_eq!(
        superiors[0].email.as_deref(),
        Some("morgan.blake@example.com")
    );
    assert_eq!(superiors[0].title.as_deref(), Some("Team Lead"));
    assert_eq!(
        superiors[0].manager_id.as_deref(),
        Some("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d")
    );
}

fn appointment_request() -> CoachingAppointmentRequest {
    CoachingAppointmentRequest {
        name: "Low survey score follow-up".into(),
        description: format!("Review interaction {CONVERSATION} (score 2/10)."),
        date_start: "2026-09-15T09:00:00Z".into(),
        length_in_minutes: 30,
        attendee_ids: vec![AGENT.into()],
        facilitator_id: Some("9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b".into()),
        conversation_ids: vec![CONVERSATION.into()],
    }
}

#[tokio::test]
async fn a_coaching_appointment_is_posted_in_the_documented_shape() {
    let (server, client) = spawn().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .and(bearer_token("token-1"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "name": "Low survey score follow-up",
            "description": format!("Review interaction {CONVERSATION} (score 2/10)."),
            "dateStart": "2026-09-15T09:00:00Z",
            "lengthInMinutes": 30,
            "attendeeIds": [AGENT],
            "facilitatorId": "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b",
            "conversationIds": [CONVERSATION]
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(fixture("coaching_appointment_response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let appointment = ok(client
        .create_coaching_appointment(&appointment_request())
        .await);
    assert_eq!(appointment.id, "3b9f8e7d-6c5b-4a3f-9e2d-1c0b9a8f7e6d");
    assert_eq!(appointment.status.as_deref(), Some("Scheduled"));
    server.verify().await;
}

#[tokio::test]
async fn optional_appointment_fields_are_left_out() {
    let (server, client) = spawn().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .and(body_json(json!({
            "name": "n", "description": "d", "dateStart": "2026-09-15T09:00:00Z",
            "lengthInMinutes": 15, "attendeeIds": [AGENT]
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(fixture("coaching_appointment_response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let request = CoachingAppointmentRequest {
        name: "n".into(),
        description: "d".into(),
        length_in_minutes: 15,
        facilitator_id: None,
        conversation_ids: Vec::new(),
        ..appointment_request()
    };
    ok(client.create_coaching_appointment(&request).await);
    server.verify().await;
}

#[tokio::test]
async fn a_failed_appointment_post_is_not_repeated() {
    let (server, client) = spawn().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/coaching/appointments"))
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;

    let error = client
        .create_coaching_appointment(&appointment_request())
        .await
        .err();
    assert!(
        matches!(error, Some(GenesysError::Unavailable(_))),
        "{error:?}"
    );
    server.verify().await;
}

const FACILITATOR: &str = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .with_timezone(&Utc)
}

fn appointment_query() -> CoachingAppointmentQuery {
    CoachingAppointmentQuery {
        user_ids: vec![AGENT.into()],
        facilitator_ids: vec![FACILITATOR.into()],
        interval: Some((utc("2026-09-14T09:00:00Z"), utc("2026-09-16T09:00:00Z"))),
    }
}

/// `GET /api/v2/coaching/appointments` with the query of [`appointment_query`].
fn appointments_endpoint() -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v2/coaching/appointments"))
        .and(bearer_token("token-1"))
        .and(query_param("userIds", AGENT))
        .and(query_param("facilitatorIds", FACILITATOR))
        .and(query_param(
            "interval",
            "2026-09-14T09:00:00Z/2026-09-16T09:00:00Z",
        ))
        .and(query_param("pageSize", "25"))
}

#[tokio::test]
async fn coaching_appointments_are_listed_across_pages() {
    let (server, client) = spawn().await;
    let other = json!({
        "id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "name": "Weekly 1:1", "description": "Catch-up",
        "dateStart": "2026-09-15T08:00:00Z", "lengthInMinutes": 15, "status": "Scheduled",
        "facilitator": {"id": FACILITATOR}, "attendees": [{"id": AGENT}], "conversations": [],
        "selfUri": "/api/v2/coaching/appointments/0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    });
    let page = |number: u32, entity: Value| json!({"entities": [entity], "pageSize": 25, "pageNumber": number, "total": 2, "pageCount": 2});
    appointments_endpoint()
        .and(query_param("pageNumber", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(1, other)))
        .expect(1)
        .mount(&server)
        .await;
    appointments_endpoint()
        .and(query_param("pageNumber", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(2, fixture("coaching_appointment_response.json"))),
        )
        .expect(1)
        .mount(&server)
        .await;

    let appointments = ok(client.coaching_appointments(&appointment_query()).await);
    let ids: Vec<_> = appointments.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            "3b9f8e7d-6c5b-4a3f-9e2d-1c0b9a8f7e6d"
        ]
    );
    let created = &appointments[1];
    assert_eq!(
        created.description.as_deref(),
        Some(format!("Review interaction {CONVERSATION} (score 2/10).").as_str())
    );
    assert_eq!(created.facilitator_id.as_deref(), Some(FACILITATOR));
    assert_eq!(created.attendee_ids, [AGENT]);
    assert_eq!(created.conversation_ids, [CONVERSATION]);
    assert_eq!(created.date_start.as_deref(), Some("2026-09-15T09:00:00Z"));
    server.verify().await;
}

#[tokio::test]
async fn user_ids_are_repeated_parameters_and_required() {
    let (server, client) = spawn().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/coaching/appointments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"entities": [], "pageSize": 25, "pageNumber": 1, "total": 0, "pageCount": 0}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let query = CoachingAppointmentQuery {
        user_ids: vec![AGENT.into(), FACILITATOR.into()],
        ..CoachingAppointmentQuery::default()
    };
    assert!(ok(client.coaching_appointments(&query).await).is_empty());
    let blank = CoachingAppointmentQuery {
        user_ids: vec![" ".into()],
        ..appointment_query()
    };
    assert!(ok(client.coaching_appointments(&blank).await).is_empty());

    let requests = server.received_requests().await.unwrap_or_default();
    let listed: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/api/v2/coaching/appointments")
        .collect();
    assert_eq!(listed.len(), 1, "a query without user ids is not sent");
    assert_eq!(
        listed[0].url.query(),
        Some(format!("userIds={AGENT}&userIds={FACILITATOR}&pageSize=25&pageNumber=1").as_str())
    );
}

#[tokio::test]
async fn appointment_listings_are_retried_like_any_read() {
    let (server, client) = spawn().await;
    appointments_endpoint()
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    appointments_endpoint()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "entities": [fixture("coaching_appointment_response.json")],
            "pageSize": 25, "pageNumber": 1, "total": 1, "pageCount": 1
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    appointments_endpoint()
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "missing permission coaching:appointment:view", "code": "missing.permissions", "status": 403
        })))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(
        ok(client.coaching_appointments(&appointment_query()).await).len(),
        1
    );
    let error = client
        .coaching_appointments(&appointment_query())
        .await
        .err();
    assert_eq!(
        error,
        Some(GenesysError::Rejected {
            status: 403,
            message: "missing permission coaching:appointment:view".into()
        })
    );
    server.verify().await;
}

#[test]
fn interaction_links_use_the_regions_apps_host() {
    let client = client_with(GenesysConfig {
        region: "mypurecloud.ie".into(),
        api_url: Some("http://127.0.0.1:9".into()),
        client_id: "client-id".into(),
        ..GenesysConfig::default()
    });
    assert_eq!(
        client.interaction_link(CONVERSATION),
        format!(
            "https://apps.mypurecloud.ie/directory/#/analytics/interactions/{CONVERSATION}/admin"
        )
    );
    let debug = format!("{client:?}");
    assert!(
        debug.contains("127.0.0.1:9") && !debug.contains("secret"),
        "{debug}"
    );
}
