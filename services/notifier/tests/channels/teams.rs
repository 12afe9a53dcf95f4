//! Teams against a wiremock incoming webhook and Microsoft Graph, and
//! against the sandbox's fakes of both.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use survey_contracts::NotificationTarget;
use survey_notifier::channels::teams::{GraphChannel, GraphSettings, TeamsChannel, TeamsSettings};
use survey_notifier::channels::{Attempt, Channel, Delivered, DeliveryError, Found};
use survey_sandbox::Route;
use wiremock::matchers::{
    body_string_contains, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    attempt, expect_permanent, expect_transient, human_agent_recording_ready, record, revised,
    sandbox, templates,
};

/// The webhook path; its last segment stands for the URL's secret part.
const WEBHOOK_PATH: &str = "/webhookb2/billing/IncomingWebhook/s3cr3t";

fn channel(server: &MockServer) -> TeamsChannel {
    channel_at(&server.uri())
}

fn channel_at(base: &str) -> TeamsChannel {
    let mut webhooks = BTreeMap::new();
    webhooks.insert(
        "billing".to_owned(),
        SecretString::from(format!("{base}{WEBHOOK_PATH}")),
    );
    TeamsChannel::new(
        TeamsSettings {
            webhooks,
            request_timeout: Duration::from_secs(5),
            ..TeamsSettings::default()
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn target(name: &str) -> NotificationTarget {
    NotificationTarget::new("teams", name)
}

/// A first delivery of [`human_agent_recording_ready`] to `webhook`.
async fn deliver(teams: &TeamsChannel, webhook: &str) -> Result<Delivered, DeliveryError> {
    teams
        .deliver(
            &human_agent_recording_ready(),
            &target(webhook),
            None,
            &attempt(),
        )
        .await
}

async fn answering(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_string("1"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn an_adaptive_card_is_posted_to_the_named_webhook() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("1"))
        .expect(2)
        .mount(&server)
        .await;
    let teams = channel(&server);
    let alert = human_agent_recording_ready();
    let delivered = teams
        .deliver(&alert, &target("billing"), None, &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(delivered, Delivered::default());

    let requests = server.received_requests().await.unwrap_or_default();
    let message: Value =
        serde_json::from_slice(&requests[0].body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["contentUrl"], Value::Null);
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    // The whole body sits in one container named after the attempt's key.
    assert_eq!(card["body"].as_array().map(Vec::len), Some(1));
    let container = &card["body"][0];
    assert_eq!(container["type"], "Container");
    assert_eq!(
        container["id"],
        format!("survey-alert-{}", attempt().key).as_str()
    );
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let facts = container["items"]
        .as_array()
        .and_then(|body| body.iter().find(|item| item["type"] == "FactSet"))
        .map(|facts| facts["facts"].to_string())
        .unwrap_or_default();
    assert!(
        facts.contains("Jordan Smith") && facts.contains("2/5"),
        "{facts}"
    );
    let actions = card["actions"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 2);
    assert!(
        actions
            .iter()
            .all(|action| action["type"] == "Action.OpenUrl")
    );
    assert_eq!(actions[1]["url"], alert.interaction.link);

    // A later revision posts a follow-up card that says what changed.
    let second = revised(alert);
    let previous = record(&second, &target("billing"), 1);
    teams
        .deliver(&second, &target("billing"), Some(&previous), &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let requests = server.received_requests().await.unwrap_or_default();
    let follow_up: Value =
        serde_json::from_slice(&requests[1].body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        follow_up["attachments"][0]["content"]["body"][0]["items"][1]["text"],
        "Updated: recording ready"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_removed_webhook_is_permanent_and_its_url_stays_secret() {
    let server = answering(404).await;
    let reason = expect_permanent(deliver(&channel(&server), "billing").await);
    assert!(
        reason.contains("404") && reason.contains("billing"),
        "{reason}"
    );
    assert!(
        !reason.contains("s3cr3t") && !reason.contains("webhookb2"),
        "{reason}"
    );
}

#[tokio::test]
async fn server_errors_throttling_and_unreachable_webhooks_are_transient() {
    let server = answering(500).await;
    expect_transient(deliver(&channel(&server), "billing").await);

    let throttled = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WEBHOOK_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...",
            ),
        )
        .mount(&throttled)
        .await;
    expect_transient(deliver(&channel(&throttled), "billing").await);

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let gone = channel_at(&format!("http://127.0.0.1:{port}"));
    let (reason, _) = expect_transient(deliver(&gone, "billing").await);
    assert!(!reason.contains("s3cr3t"), "{reason}");
}

#[tokio::test]
async fn an_unknown_webhook_name_is_permanent_and_nothing_is_sent() {
    let server = answering(200).await;
    let reason = expect_permanent(deliver(&channel(&server), "marketing").await);
    assert!(reason.contains("marketing"), "{reason}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

// ----- read-back through Microsoft Graph ----------------------------------

const TENANT: &str = "tenant-1";
const TEAM: &str = "team-1";
const CHANNEL: &str = "19:abc@thread.tacv2";
const TOKEN_PATH: &str = "/tenant-1/oauth2/v2.0/token";
const MESSAGES_PATH: &str = "/v1.0/teams/team-1/channels/19:abc@thread.tacv2/messages";
const CLIENT_SECRET: &str = "graph-s3cr3t";

fn graph_settings(login: &str, graph: &str) -> GraphSettings {
    GraphSettings {
        tenant_id: TENANT.to_owned(),
        client_id: "app-1".to_owned(),
        client_secret: SecretString::from(CLIENT_SECRET),
        graph_url: graph.to_owned(),
        login_url: login.to_owned(),
    }
}

/// The Graph channel webhook `billing` posts to.
fn billing_channel() -> GraphChannel {
    GraphChannel {
        team_id: TEAM.to_owned(),
        channel_id: CHANNEL.to_owned(),
    }
}

/// Webhook `billing` read back through `server` as Graph and login host;
/// webhook `ops` has no channel mapping.
fn read_back_settings(server: &MockServer) -> TeamsSettings {
    let base = server.uri();
    TeamsSettings {
        webhooks: BTreeMap::from([
            (
                "billing".to_owned(),
                SecretString::from(format!("{base}{WEBHOOK_PATH}")),
            ),
            (
                "ops".to_owned(),
                SecretString::from(format!("{base}/webhookb2/ops")),
            ),
        ]),
        request_timeout: Duration::from_secs(5),
        graph: Some(graph_settings(&base, &format!("{base}/v1.0"))),
        channels: BTreeMap::from([("billing".to_owned(), billing_channel())]),
    }
}

/// A channel with [`read_back_settings`].
fn reading(server: &MockServer) -> TeamsChannel {
    TeamsChannel::new(read_back_settings(server), templates()).unwrap_or_else(|e| panic!("{e}"))
}

/// The token endpoint, answering `expected` token requests with `t1`.
async fn token_endpoint(server: &MockServer, expected: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("client_id=app-1"))
        .and(body_string_contains(
            "scope=http%3A%2F%2F127.0.0.1%3A", // the Graph origin's /.default
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": "t1",
        })))
        .expect(expected)
        .mount(server)
        .await;
}

fn at(offset_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(attempt().started_at + offset_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A channel message `offset_ms` after the first attempt started, with a
/// card whose container is `container_id`.
fn message(id: &str, offset_ms: i64, container_id: &str) -> Value {
    let card = json!({
        "type": "AdaptiveCard",
        "body": [{"type": "Container", "id": container_id, "items": []}],
    });
    json!({
        "id": id,
        "replyToId": null,
        "messageType": "message",
        "createdDateTime": at(offset_ms),
        "lastModifiedDateTime": at(offset_ms),
        "from": {"application": {"displayName": "Incoming Webhook"}, "user": null},
        "body": {"contentType": "html", "content": "<attachment id=\"a\"></attachment>"},
        "channelIdentity": {"teamId": TEAM, "channelId": CHANNEL},
        "attachments": [{
            "id": "a",
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card.to_string(),
        }],
    })
}

fn ours() -> String {
    format!("survey-alert-{}", attempt().key)
}

fn page(messages: Vec<Value>, next: Option<String>) -> ResponseTemplate {
    let mut body = json!({ "@odata.count": messages.len(), "value": messages });
    if let Some(next) = next {
        body["@odata.nextLink"] = Value::from(next);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

async fn find(teams: &TeamsChannel, webhook: &str) -> Result<Found, DeliveryError> {
    teams
        .find(
            &human_agent_recording_ready(),
            &target(webhook),
            None,
            &attempt(),
        )
        .await
}

#[tokio::test]
async fn without_a_channel_mapping_the_read_back_is_unknown() {
    let server = answering(200).await;
    assert_eq!(find(&channel(&server), "billing").await, Ok(Found::Unknown));
    let graph = MockServer::start().await;
    assert_eq!(find(&reading(&graph), "ops").await, Ok(Found::Unknown));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
    assert_eq!(graph.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn a_listed_card_with_the_key_is_delivered_and_the_token_is_reused() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("$top", "50"))
        .and(header("authorization", "Bearer t1"))
        .respond_with(page(
            vec![
                message("1789381000300", 9_000, "survey-alert-someone-else"),
                message("1789381000200", 4_000, &ours()),
            ],
            None,
        ))
        .expect(2)
        .mount(&server)
        .await;
    let teams = reading(&server);
    for _ in 0..2 {
        assert_eq!(
            find(&teams, "billing").await,
            Ok(Found::Delivered(Delivered {
                external_id: Some("1789381000200".to_owned()),
                ..Delivered::default()
            }))
        );
    }
    server.verify().await;
}

#[tokio::test]
async fn pages_are_followed_until_messages_older_than_the_attempt() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    let base = server.uri();
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(page(
            vec![
                message("5", 20_000, "survey-alert-x5"),
                message("4", 10_000, "survey-alert-x4"),
            ],
            Some(format!("{base}{MESSAGES_PATH}?$top=50&$skiptoken=p2")),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // Within the clock-skew minute still counts; the page goes on past it.
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(page(
            vec![
                message("3", -30_000, "survey-alert-x3"),
                message("2", -120_000, "survey-alert-x2"),
            ],
            Some(format!("{base}{MESSAGES_PATH}?$top=50&$skiptoken=p3")),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("$skiptoken", "p3"))
        .respond_with(page(vec![message("1", -200_000, &ours())], None))
        .expect(0)
        .mount(&server)
        .await;
    assert_eq!(find(&reading(&server), "billing").await, Ok(Found::Absent));
    server.verify().await;
}

#[tokio::test]
async fn the_end_of_the_listing_is_absent_and_too_many_pages_unknown() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(page(vec![message("1", 1_000, "survey-alert-x")], None))
        .mount(&server)
        .await;
    assert_eq!(find(&reading(&server), "billing").await, Ok(Found::Absent));

    // A channel busier than the pages read: nothing can be told.
    let busy = MockServer::start().await;
    token_endpoint(&busy, 1).await;
    // A relative link is resolved against the Graph host.
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(page(
            vec![message("1", 1_000, "survey-alert-x")],
            Some(format!("{MESSAGES_PATH}?$top=50&$skiptoken=more")),
        ))
        .expect(10)
        .mount(&busy)
        .await;
    assert_eq!(find(&reading(&busy), "billing").await, Ok(Found::Unknown));
    busy.verify().await;
}

#[tokio::test]
async fn a_refused_token_is_renewed_once() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(page(vec![message("7", 1_000, &ours())], None))
        .mount(&server)
        .await;
    assert!(matches!(
        find(&reading(&server), "billing").await,
        Ok(Found::Delivered(_))
    ));
    server.verify().await;

    let refusing = MockServer::start().await;
    token_endpoint(&refusing, 2).await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&refusing)
        .await;
    expect_transient(find(&reading(&refusing), "billing").await);
    refusing.verify().await;
}

async fn graph_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn throttling_and_outages_are_transient_and_refusals_permanent() {
    let throttled =
        graph_answering(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    let (_, retry_after) = expect_transient(find(&reading(&throttled), "billing").await);
    assert_eq!(retry_after, Some(Duration::from_secs(7)));

    let down = graph_answering(ResponseTemplate::new(503)).await;
    expect_transient(find(&reading(&down), "billing").await);

    let slow = graph_answering(page(Vec::new(), None).set_delay(Duration::from_secs(30))).await;
    let settings = TeamsSettings {
        request_timeout: Duration::from_millis(300),
        ..read_back_settings(&slow)
    };
    let impatient = TeamsChannel::new(settings, templates()).unwrap_or_else(|e| panic!("{e}"));
    expect_transient(find(&impatient, "billing").await);

    // No ChannelMessage.Read.All, or ids of another channel.
    for status in [403, 404] {
        let refused = graph_answering(ResponseTemplate::new(status).set_body_json(json!({
            "error": {"code": "Forbidden", "message": "Missing role permissions"},
        })))
        .await;
        let reason = expect_permanent(find(&reading(&refused), "billing").await);
        assert!(reason.contains(&status.to_string()), "{reason}");
    }

    // A wrong client secret fails at the token endpoint, for good.
    let unknown_client = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        })))
        .mount(&unknown_client)
        .await;
    let reason = expect_permanent(find(&reading(&unknown_client), "billing").await);
    assert!(reason.contains("invalid_client"), "{reason}");
    assert!(!reason.contains(CLIENT_SECRET), "{reason}");
}

#[tokio::test]
async fn read_back_settings_are_checked_and_their_secret_kept() {
    // The shape the SURVEY_ALERTS__TEAMS__... variables give.
    let parsed: TeamsSettings = serde_json::from_value(json!({
        "webhooks": {"billing": "https://example.webhook.office.com/webhookb2/x"},
        "graph": {"tenant_id": TENANT, "client_id": "app-1", "client_secret": CLIENT_SECRET},
        "channels": {"billing": {"team_id": TEAM, "channel_id": CHANNEL}},
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let graph = parsed.graph.clone().unwrap_or_default();
    assert_eq!(graph.graph_url, "https://graph.microsoft.com/v1.0");
    assert_eq!(graph.login_url, "https://login.microsoftonline.com");
    assert!(!format!("{parsed:?}").contains(CLIENT_SECRET));
    let teams = TeamsChannel::new(parsed.clone(), templates()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{teams:?}").contains(CLIENT_SECRET));

    let refused = |settings: TeamsSettings| {
        TeamsChannel::new(settings, templates())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let unmapped = TeamsSettings {
        graph: None,
        ..parsed.clone()
    };
    assert!(refused(unmapped).contains("graph"));
    let mut stray = parsed.clone();
    stray
        .channels
        .insert("marketing".to_owned(), billing_channel());
    assert!(refused(stray).contains("\"marketing\""));
    let mut blank = parsed.clone();
    blank
        .channels
        .insert("billing".to_owned(), GraphChannel::default());
    assert!(refused(blank).contains("channel_id"));
    for broken in [
        GraphSettings {
            tenant_id: " ".to_owned(),
            ..graph.clone()
        },
        GraphSettings {
            client_secret: SecretString::from(""),
            ..graph.clone()
        },
        GraphSettings {
            graph_url: "graph.microsoft.com".to_owned(),
            ..graph.clone()
        },
    ] {
        let message = refused(TeamsSettings {
            graph: Some(broken),
            ..parsed.clone()
        });
        assert!(message.starts_with("invalid teams settings"), "{message}");
        assert!(!message.contains(CLIENT_SECRET), "{message}");
    }
    // Graph settings alone read nothing back, and are allowed.
    TeamsChannel::new(
        TeamsSettings {
            channels: BTreeMap::new(),
            ..parsed
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(serde_json::from_value::<TeamsSettings>(json!({"graph": {"tenant": "x"}})).is_err());
    assert!(
        serde_json::from_value::<TeamsSettings>(json!({"channels": {"a": {"team": "x"}}})).is_err()
    );
}

#[tokio::test]
async fn the_sandbox_reads_back_what_its_webhook_took() {
    let sandbox = sandbox().await;
    let base = sandbox.base_url();
    let teams = TeamsChannel::new(
        TeamsSettings {
            webhooks: BTreeMap::from([(
                "billing".to_owned(),
                SecretString::from(format!("{base}/teams/billing")),
            )]),
            request_timeout: Duration::from_secs(5),
            graph: Some(graph_settings(
                &format!("{base}/teams/login"),
                &format!("{base}/teams/graph/v1.0"),
            )),
            channels: BTreeMap::from([(
                "billing".to_owned(),
                GraphChannel {
                    team_id: "team-billing".to_owned(),
                    channel_id: "19:billing@thread.tacv2".to_owned(),
                },
            )]),
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let alert = human_agent_recording_ready();
    let started_at = chrono::Utc::now().timestamp_millis();
    let sent = Attempt {
        key: "11111111111111111111111111111111".to_owned(),
        started_at,
    };
    let other = Attempt {
        key: "22222222222222222222222222222222".to_owned(),
        started_at,
    };
    teams
        .deliver(&alert, &target("billing"), None, &sent)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cards = sandbox.state().teams_cards();
    assert_eq!(cards.len(), 1);

    let found = teams.find(&alert, &target("billing"), None, &sent).await;
    assert_eq!(
        found,
        Ok(Found::Delivered(Delivered {
            external_id: Some(cards[0].message_id.clone()),
            ..Delivered::default()
        }))
    );
    assert_eq!(
        teams.find(&alert, &target("billing"), None, &other).await,
        Ok(Found::Absent)
    );
    // A revoked token is renewed; an outage fails the read-back for now.
    sandbox.state().revoke_teams_tokens();
    assert!(matches!(
        teams.find(&alert, &target("billing"), None, &sent).await,
        Ok(Found::Delivered(_))
    ));
    sandbox.state().set_down(Route::Teams, true);
    expect_transient(teams.find(&alert, &target("billing"), None, &sent).await);
    sandbox.shutdown().await;
}
