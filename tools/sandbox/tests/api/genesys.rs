//! The fake Genesys Cloud: token flow, conversations, recordings,
//! summaries, queues, users, coaching, faults and rate limits.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use survey_sandbox::{
    ConversationSeed, Fault, HandledBy, MediaType, PendingStyle, Route, Seed, demo,
};

use crate::helpers::{TestResult, header, spawn_sandbox};

fn purposes(conversation: &Value) -> Vec<String> {
    conversation["participants"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["purpose"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn token_flow_and_bearer_check() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let user_path = format!("/api/v2/users/{}", demo::AGENT_PRIYA_ID);

    let anonymous = app
        .client
        .get(format!("{}{user_path}", app.base))
        .send()
        .await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await?;
    assert_eq!(body["status"], 401);
    assert_eq!(body["code"], "authentication.required");
    assert!(body["message"].is_string() && body["contextId"].is_string());

    let forged = app.genesys_get("not-a-token", &user_path).await?;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let response = app
        .client
        .post(format!("{}/oauth/token", app.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await?;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 86_400);
    let access = token["access_token"].as_str().ok_or("no token")?;

    let user = app.genesys_get(access, &user_path).await?;
    assert_eq!(user.status(), StatusCode::OK);
    let user: Value = user.json().await?;
    assert_eq!(user["name"], "Priya Nair");
    assert_eq!(user["email"], "priya.nair@example.com");

    let wrong_grant = app
        .client
        .post(format!("{}/oauth/token", app.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await?;
    assert_eq!(wrong_grant.status(), StatusCode::BAD_REQUEST);
    let bad_client = app
        .client
        .post(format!("{}/oauth/token", app.base))
        .basic_auth("invalid-client", Some("x"))
        .body("grant_type=client_credentials")
        .send()
        .await?;
    assert_eq!(bad_client.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bad_client.json().await?;
    assert_eq!(body["error"], "invalid_client");

    // Pinned credentials, expired and revoked tokens.
    let state = app.sandbox.state();
    state.set_client_credentials("right-id", "right-secret");
    let refused = app
        .client
        .post(format!("{}/oauth/token", app.base))
        .basic_auth("sandbox-client", Some("sandbox-secret"))
        .body("grant_type=client_credentials")
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    state.revoke_tokens();
    assert_eq!(
        app.genesys_get(access, &user_path).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let calls = state.genesys_calls();
    assert_eq!(calls.get("POST /oauth/token"), Some(&4));
    assert_eq!(calls.get("GET /api/v2/users/{userId}"), Some(&4));
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn expired_tokens_are_refused() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    app.sandbox.state().set_token_ttl(Duration::from_millis(50));
    let token = app.token().await?;
    let path = format!("/api/v2/users/{}", demo::AGENT_TOM_ID);
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    let expired = app.genesys_get(&token, &path).await?;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await?;
    assert_eq!(body["code"], "bad.credentials");
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn conversations_have_real_participant_shapes() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;

    let voice: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/conversations/{}", demo::VOICE_CONVERSATION_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(voice["id"], demo::VOICE_CONVERSATION_ID);
    assert!(
        voice["startTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(purposes(&voice), ["customer", "ivr", "acd", "agent"]);
    let agent = &voice["participants"][3];
    assert_eq!(agent["userId"], demo::AGENT_PRIYA_ID);
    assert_eq!(agent["name"], "Priya Nair");
    assert_eq!(agent["queueId"], demo::BILLING_QUEUE_ID);
    assert_eq!(agent["wrapup"]["code"], demo::WRAPUP_REFUND_ID);
    assert_eq!(agent["wrapup"]["name"], "Billing - Refund request");
    assert_eq!(agent["calls"][0]["direction"], "inbound");
    assert_eq!(
        voice["participants"][2]["queueName"],
        demo::BILLING_QUEUE_NAME
    );

    let chat: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/conversations/{}", demo::BOT_CHAT_CONVERSATION_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(purposes(&chat), ["customer", "workflow"]);
    assert_eq!(chat["participants"][1]["name"], demo::BOT_FLOW_NAME);
    assert!(chat["participants"][0]["chats"].is_array());

    let abandoned: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/conversations/{}", demo::ABANDONED_CONVERSATION_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(purposes(&abandoned), ["customer", "ivr", "acd"]);

    let messaging: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/conversations/{}", demo::MESSAGING_CONVERSATION_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(
        messaging["participants"][2]["messages"][0]["type"],
        "webmessaging"
    );

    let details: Value = app
        .genesys_get(
            &token,
            &format!(
                "/api/v2/analytics/conversations/{}/details",
                demo::VOICE_CONVERSATION_ID
            ),
        )
        .await?
        .json()
        .await?;
    assert_eq!(details["conversationId"], demo::VOICE_CONVERSATION_ID);
    assert_eq!(details["originatingDirection"], "inbound");
    let agent = &details["participants"][3];
    assert_eq!(agent["purpose"], "agent");
    assert_eq!(agent["sessions"][0]["mediaType"], "voice");
    assert_eq!(
        agent["sessions"][0]["segments"][2]["wrapUpCode"],
        demo::WRAPUP_REFUND_ID
    );

    let missing = app
        .genesys_get(
            &token,
            "/api/v2/conversations/00000000-0000-0000-0000-000000000000",
        )
        .await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await?;
    assert_eq!(body["code"], "not.found");
    assert_eq!(body["status"], 404);
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn recording_becomes_ready_after_n_polls() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let path = format!(
        "/api/v2/conversations/{}/recordings?maxWaitMs=5000&formatId=OGG_OPUS",
        demo::SLOW_RECORDING_CONVERSATION_ID
    );
    for _ in 0..3 {
        let pending = app.genesys_get(&token, &path).await?;
        assert_eq!(pending.status(), StatusCode::ACCEPTED);
        assert!(pending.bytes().await?.is_empty());
    }
    let ready = app.genesys_get(&token, &path).await?;
    assert_eq!(ready.status(), StatusCode::OK);
    let recordings: Value = ready.json().await?;
    let recording = &recordings[0];
    assert_eq!(
        recording["conversationId"],
        demo::SLOW_RECORDING_CONVERSATION_ID
    );
    assert_eq!(recording["fileState"], "AVAILABLE");
    assert_eq!(recording["media"], "audio");
    let uri = recording["mediaUris"]["S"]["mediaUri"]
        .as_str()
        .ok_or("no mediaUri")?;
    assert!(
        uri.starts_with(&format!("{}/recordings/", app.base)),
        "{uri}"
    );
    assert!(uri.ends_with(".opus"));
    let media = app.client.get(uri).send().await?;
    assert_eq!(media.status(), StatusCode::OK);
    assert_eq!(
        app.sandbox
            .state()
            .recording_polls(demo::SLOW_RECORDING_CONVERSATION_ID),
        4
    );

    // Never ready stays pending.
    let never = format!(
        "/api/v2/conversations/{}/recordings",
        demo::ABANDONED_CONVERSATION_ID
    );
    for _ in 0..5 {
        assert_eq!(
            app.genesys_get(&token, &never).await?.status(),
            StatusCode::ACCEPTED
        );
    }
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pending_recordings_can_look_like_an_empty_list_or_uploading_files() -> TestResult {
    let app = spawn_sandbox(Seed::Empty).await?;
    let state = app.sandbox.state();
    let bot = || HandledBy::Bot {
        flow_name: "IVR".into(),
    };
    state.add_conversation(
        ConversationSeed::new("c-empty", MediaType::Voice, bot())
            .recording_ready_after(1)
            .recording_pending(PendingStyle::EmptyList),
    );
    state.add_conversation(
        ConversationSeed::new("c-uploading", MediaType::Voice, bot())
            .recording_ready_after(1)
            .recording_pending(PendingStyle::Uploading),
    );
    let token = app.token().await?;
    let empty = app
        .genesys_get(&token, "/api/v2/conversations/c-empty/recordings")
        .await?;
    assert_eq!(empty.status(), StatusCode::OK);
    assert_eq!(empty.json::<Value>().await?, json!([]));
    let uploading: Value = app
        .genesys_get(&token, "/api/v2/conversations/c-uploading/recordings")
        .await?
        .json()
        .await?;
    assert_eq!(uploading[0]["fileState"], "UPLOADING");
    assert!(uploading[0].get("mediaUris").is_none());
    let ready: Value = app
        .genesys_get(&token, "/api/v2/conversations/c-uploading/recordings")
        .await?
        .json()
        .await?;
    assert_eq!(ready[0]["fileState"], "AVAILABLE");
    assert!(
        ready[0]["mediaUris"]["S"]["mediaUri"]
            .as_str()
            .is_some_and(|u| u.ends_with(".webm"))
    );
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn summaries_exist_or_404() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let summary: Value = app
        .genesys_get(
            &token,
            &format!(
                "/api/v2/conversations/{}/summaries",
                demo::VOICE_CONVERSATION_ID
            ),
        )
        .await?
        .json()
        .await?;
    assert_eq!(summary["conversation"]["id"], demo::VOICE_CONVERSATION_ID);
    assert!(
        summary["summary"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("duplicate charge"))
    );
    assert!(summary["sessionSummaries"][0]["communication"]["id"].is_string());
    let none = app
        .genesys_get(
            &token,
            &format!(
                "/api/v2/conversations/{}/summaries",
                demo::SLOW_RECORDING_CONVERSATION_ID
            ),
        )
        .await?;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn queue_members_paginate_with_next_uri() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let queue: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/routing/queues/{}", demo::BILLING_QUEUE_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(queue["name"], demo::BILLING_QUEUE_NAME);
    assert_eq!(queue["memberCount"], 7);

    let mut next = Some(format!(
        "/api/v2/routing/queues/{}/members?pageSize=3&expand=authorization",
        demo::BILLING_QUEUE_ID
    ));
    let mut names = Vec::new();
    let mut supervisors = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let page: Value = app.genesys_get(&token, &path).await?.json().await?;
        pages += 1;
        assert_eq!(page["pageSize"], 3);
        assert_eq!(page["pageNumber"], pages);
        assert!(page.get("total").is_none() && page.get("pageCount").is_none());
        for member in page["entities"].as_array().ok_or("no entities")? {
            names.push(member["name"].as_str().unwrap_or_default().to_owned());
            let roles = member["user"]["authorization"]["roles"]
                .as_array()
                .ok_or("no roles")?;
            if roles.iter().any(|r| r["name"] == "Supervisor") {
                supervisors.push(
                    member["user"]["email"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        next = page["nextUri"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        [
            "Ana Silva",
            "James Okafor",
            "Liam Chen",
            "Maria Lopez",
            "Priya Nair",
            "Sofia Rossi",
            "Tom Becker"
        ]
    );
    assert_eq!(
        supervisors,
        ["james.okafor@example.com", "maria.lopez@example.com"]
    );

    let default_page: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/routing/queues/{}/members", demo::BILLING_QUEUE_ID),
        )
        .await?
        .json()
        .await?;
    assert_eq!(default_page["pageSize"], 25);
    assert_eq!(default_page["entities"].as_array().map(Vec::len), Some(7));
    assert!(default_page.get("nextUri").is_none());
    assert!(
        default_page["entities"][0]["user"]
            .get("authorization")
            .is_none()
    );

    let too_big = app
        .genesys_get(
            &token,
            &format!(
                "/api/v2/routing/queues/{}/members?pageSize=500",
                demo::BILLING_QUEUE_ID
            ),
        )
        .await?;
    assert_eq!(too_big.status(), StatusCode::BAD_REQUEST);
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn users_and_superiors() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let superiors: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/users/{}/superiors", demo::AGENT_PRIYA_ID),
        )
        .await?
        .json()
        .await?;
    let list = superiors
        .as_array()
        .ok_or("superiors is not a bare array")?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], demo::SUPERVISOR_MARIA_ID);
    assert_eq!(list[0]["email"], "maria.lopez@example.com");
    let unknown = app
        .genesys_get(&token, "/api/v2/users/11111111-1111-1111-1111-111111111111")
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await?;
    assert_eq!(body["code"], "not.found");
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rate_limit_fault_then_success() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let state = app.sandbox.state();
    state.fail_next(Route::GenesysApi, Fault::rate_limited(2, 2));
    let path = format!("/api/v2/users/{}", demo::AGENT_ANA_ID);
    for _ in 0..2 {
        let limited = app.genesys_get(&token, &path).await?;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&limited, "retry-after"), Some("2"));
        let body: Value = limited.json().await?;
        assert_eq!(body["code"], "too.many.requests");
    }
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        state.genesys_calls().get("GET /api/v2/users/{userId}"),
        Some(&3)
    );
    let statuses: Vec<u16> = state
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);

    // 503 burst, then an outage that is switched off again.
    state.fail_next(Route::Genesys, Fault::status(503, 1));
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.set_down(Route::Genesys, true);
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.set_down(Route::Genesys, false);
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::OK
    );
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn delay_fault_slows_the_answer() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    app.sandbox.state().fail_next(
        Route::PathPrefix("/api/v2/users".into()),
        Fault::delay(300, 1),
    );
    let path = format!("/api/v2/users/{}", demo::AGENT_ANA_ID);
    let started = Instant::now();
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        app.genesys_get(&token, &path).await?.status(),
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_per_token_budget_answers_429_with_rate_limit_headers() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    app.sandbox.state().set_genesys_rate_limit(Some(2));
    let token = app.token().await?;
    let path = format!("/api/v2/users/{}", demo::AGENT_ANA_ID);
    for count in 1..=2 {
        let ok = app.genesys_get(&token, &path).await?;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            header(&ok, "inin-ratelimit-count"),
            Some(count.to_string().as_str())
        );
    }
    let limited = app.genesys_get(&token, &path).await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(header(&limited, "inin-ratelimit-allowed"), Some("2"));
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn coaching_appointments_validate_and_record() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let url = format!("{}/api/v2/coaching/appointments", app.base);

    let invalid = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "name": "Review call", "dateStart": "tomorrow", "lengthInMinutes": 0 }))
        .send()
        .await?;
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    let body: Value = invalid.json().await?;
    assert_eq!(body["code"], "bad.request");
    assert_eq!(body["status"], 400);
    let message = body["message"].as_str().unwrap_or_default();
    for field in ["description", "dateStart", "lengthInMinutes", "attendeeIds"] {
        assert!(message.contains(field), "{message}");
    }
    assert!(body["details"].as_array().is_some_and(|d| d.len() == 4));

    let created = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({
            "name": "Coaching: low survey score",
            "description": "Review the call with a score of 2/10.",
            "dateStart": "2030-01-15T09:30:45.123Z",
            "lengthInMinutes": 30,
            "facilitatorId": demo::SUPERVISOR_MARIA_ID,
            "attendeeIds": [demo::AGENT_PRIYA_ID],
            "conversationIds": [demo::VOICE_CONVERSATION_ID],
        }))
        .send()
        .await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    let appointment: Value = created.json().await?;
    let id = appointment["id"].as_str().ok_or("no id")?.to_owned();
    assert_eq!(appointment["dateStart"], "2030-01-15T09:30:00.000Z");
    assert_eq!(appointment["attendees"][0]["id"], demo::AGENT_PRIYA_ID);
    assert_eq!(appointment["facilitator"]["id"], demo::SUPERVISOR_MARIA_ID);
    assert_eq!(
        appointment["conversations"][0]["id"],
        demo::VOICE_CONVERSATION_ID
    );

    let recorded = app.sandbox.state().coaching_appointments();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].id, id);
    assert_eq!(recorded[0].attendee_ids, [demo::AGENT_PRIYA_ID]);
    let fetched = app
        .genesys_get(&token, &format!("/api/v2/coaching/appointments/{id}"))
        .await?;
    assert_eq!(fetched.status(), StatusCode::OK);
    app.sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn coaching_appointments_are_listed_by_user_facilitator_and_interval() -> TestResult {
    let app = spawn_sandbox(Seed::Demo).await?;
    let token = app.token().await?;
    let url = format!("{}/api/v2/coaching/appointments", app.base);
    let mut ids = Vec::new();
    for (attendee, facilitator, start) in [
        (
            demo::AGENT_PRIYA_ID,
            demo::SUPERVISOR_MARIA_ID,
            "2030-01-15T09:30:45Z",
        ),
        (
            demo::AGENT_PRIYA_ID,
            demo::SUPERVISOR_MARIA_ID,
            "2030-01-16T09:00:00Z",
        ),
        (
            demo::AGENT_PRIYA_ID,
            demo::SUPERVISOR_JAMES_ID,
            "2030-01-15T11:00:00Z",
        ),
        (
            demo::AGENT_TOM_ID,
            demo::SUPERVISOR_MARIA_ID,
            "2030-01-15T12:00:00Z",
        ),
        (
            demo::AGENT_PRIYA_ID,
            demo::SUPERVISOR_MARIA_ID,
            "2030-01-20T09:00:00Z",
        ),
    ] {
        let created = app
            .client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({
                "name": "Coaching", "description": format!("Ref: {start}"), "dateStart": start,
                "lengthInMinutes": 30, "facilitatorId": facilitator, "attendeeIds": [attendee],
            }))
            .send()
            .await?;
        assert_eq!(created.status(), StatusCode::CREATED);
        let body: Value = created.json().await?;
        ids.push(body["id"].as_str().ok_or("no id")?.to_owned());
    }

    // Priya with Maria, from the 15th to the 20th (excluded): two, one a page.
    let filters = format!(
        "userIds={}&facilitatorIds={}&interval=2030-01-15T00:00:00Z%2F2030-01-20T09:00:00Z",
        demo::AGENT_PRIYA_ID,
        demo::SUPERVISOR_MARIA_ID
    );
    let first: Value = app
        .genesys_get(
            &token,
            &format!("/api/v2/coaching/appointments?{filters}&pageSize=1"),
        )
        .await?
        .json()
        .await?;
    assert_eq!(first["total"], 2);
    assert_eq!(first["pageCount"], 2);
    assert_eq!(first["pageNumber"], 1);
    let entity = &first["entities"][0];
    assert_eq!(entity["id"], ids[0].as_str());
    assert_eq!(entity["description"], "Ref: 2030-01-15T09:30:45Z");
    assert_eq!(entity["dateStart"], "2030-01-15T09:30:00.000Z");
    assert_eq!(entity["facilitator"]["id"], demo::SUPERVISOR_MARIA_ID);
    assert_eq!(entity["attendees"][0]["id"], demo::AGENT_PRIYA_ID);
    let next = first["nextUri"].as_str().ok_or("no nextUri")?;
    assert!(
        next.contains("interval=") && next.ends_with("pageNumber=2"),
        "{next}"
    );
    let second: Value = app.genesys_get(&token, next).await?.json().await?;
    assert_eq!(second["entities"][0]["id"], ids[1].as_str());
    assert!(second.get("nextUri").is_none());

    // A facilitator matches too, unless relationships narrows it to attendees.
    let as_user = |relationships: &str| {
        format!(
            "/api/v2/coaching/appointments?userIds={}{relationships}",
            demo::SUPERVISOR_MARIA_ID
        )
    };
    let all: Value = app.genesys_get(&token, &as_user("")).await?.json().await?;
    assert_eq!(all["total"], 4);
    let attending: Value = app
        .genesys_get(&token, &as_user("&relationships=Attendee"))
        .await?
        .json()
        .await?;
    assert_eq!(attending["total"], 0);

    let missing = app
        .genesys_get(&token, "/api/v2/coaching/appointments")
        .await?;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let bad_interval = app
        .genesys_get(&token, &as_user("&interval=tomorrow"))
        .await?;
    assert_eq!(bad_interval.status(), StatusCode::BAD_REQUEST);
    let unauthorized = app.genesys_get("not-a-token", &as_user("")).await?;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);

    // Faults on the Genesys API hit the listing like any other route.
    let state = app.sandbox.state();
    state.fail_next(Route::GenesysApi, Fault::rate_limited(1, 1));
    state.fail_next(Route::Genesys, Fault::status(503, 1));
    let limited = app.genesys_get(&token, &as_user("")).await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after"), Some("1"));
    assert_eq!(
        app.genesys_get(&token, &as_user("")).await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.genesys_get(&token, &as_user("")).await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        state
            .genesys_calls()
            .get("GET /api/v2/coaching/appointments"),
        Some(&10)
    );
    app.sandbox.shutdown().await;
    Ok(())
}
