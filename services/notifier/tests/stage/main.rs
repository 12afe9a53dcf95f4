//! The notifier stage against the real broker and registry, with the
//! sandbox's Slack, Teams and SMTP fakes; each test has its own topics.

#[path = "../channels/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};
use secrecy::SecretString;
use survey_contracts::{
    AvroCodec, DeliveryIntent, DeliveryRecord, EnrichedAlert, NotificationTarget, topics,
};
use survey_notifier::channels::email::EmailChannel;
use survey_notifier::channels::{Attempt, Channel};
use survey_notifier::deliver::DLQ_TARGET_HEADER;
use survey_notifier::{NotifierConfig, RunningNotifier};
use survey_runtime::dead_letter::headers;
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{KafkaSettings, Shutdown, now_millis};
use survey_sandbox::{Route, Sandbox, SandboxConfig, SlackMessage};
use survey_test_support::{RegistryGate, TopicReader, header, producer};

const ARRIVAL: Duration = Duration::from_secs(30);

struct Harness {
    kafka: KafkaSettings,
    codec: AvroCodec,
    sandbox: Sandbox,
    producer: rdkafka::producer::FutureProducer,
}

impl Harness {
    async fn new() -> Self {
        let kafka = survey_test_support::kafka_settings();
        provision(
            &kafka,
            survey_notifier::app::TOPICS,
            &ProvisionSettings::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        let sandbox = Sandbox::start(SandboxConfig {
            quiet: true,
            ..SandboxConfig::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        Self {
            codec: AvroCodec::registry(&kafka.schema_registry_url),
            producer: producer(&kafka).unwrap_or_else(|e| panic!("{e}")),
            kafka,
            sandbox,
        }
    }

    fn config(&self) -> NotifierConfig {
        let mut config = NotifierConfig {
            kafka: self.kafka.clone(),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            ..NotifierConfig::default()
        };
        config.slack.api_url = format!("{}/api", self.sandbox.base_url());
        config.slack.bot_token = SecretString::from("xoxb-test".to_owned());
        config.slack.min_interval_per_channel = Duration::from_millis(50);
        config.teams.webhooks.insert(
            "billing".to_owned(),
            SecretString::from(format!("{}/teams/billing", self.sandbox.base_url())),
        );
        config.email.smtp_host = self.sandbox.smtp_addr().ip().to_string();
        config.email.smtp_port = self.sandbox.smtp_addr().port();
        config.email.tls = false;
        config.retry.initial_backoff = Duration::from_millis(300);
        config.retry.max_backoff = Duration::from_secs(2);
        config
    }

    async fn start(&self) -> (RunningNotifier, Shutdown) {
        self.start_with(self.config()).await
    }

    async fn start_with(&self, config: NotifierConfig) -> (RunningNotifier, Shutdown) {
        let shutdown = Shutdown::new();
        let notifier = survey_notifier::start(config, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        (notifier, shutdown)
    }

    async fn send(&self, alert: &EnrichedAlert) {
        let topic = self.kafka.topology().topic(&topics::ALERTS_ENRICHED);
        let payload = self
            .codec
            .encode(&topic, alert)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        survey_test_support::produce(
            &self.producer,
            &topic,
            alert.alert_id.as_bytes(),
            &payload,
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    fn reader(&self, spec: &topics::TopicSpec) -> TopicReader {
        TopicReader::new(&self.kafka, &self.kafka.topology().topic(spec))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn alert(id: &str, targets: &[(&str, &str)]) -> EnrichedAlert {
    let mut alert = support::human_agent_recording_ready();
    alert.alert_id = id.to_owned();
    alert.survey.response_id = id.to_owned();
    alert.routing.targets = targets
        .iter()
        .map(|(channel, address)| NotificationTarget::new(channel, address))
        .collect();
    alert
}

fn about(messages: &[SlackMessage], id: &str) -> usize {
    messages
        .iter()
        .filter(|m| m.body.to_string().contains(id))
        .count()
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_and_does_not_hold_back_the_other_targets() {
    let harness = Harness::new().await;
    let (notifier, shutdown) = harness.start().await;
    let id = unique("mixed");
    harness
        .send(&alert(
            &id,
            &[
                ("slack", "#missing-channel"),
                ("slack", "#billing"),
                ("teams", "billing"),
            ],
        ))
        .await;

    let dlq = harness.reader(&topics::NOTIFIER_DLQ).read(1, ARRIVAL).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        header(&dlq[0], headers::REASON).as_deref(),
        Some("permanent_failure")
    );
    assert_eq!(
        header(&dlq[0], DLQ_TARGET_HEADER).as_deref(),
        Some("slack:#missing-channel")
    );
    assert!(header(&dlq[0], headers::ERROR).is_some_and(|e| e.contains("channel_not_found")));

    let ledger = harness
        .reader(&topics::DELIVERY_LEDGER)
        .read(2, ARRIVAL)
        .await;
    let mut delivered: Vec<String> = Vec::new();
    for record in &ledger {
        let entry: DeliveryRecord = harness
            .codec
            .decode(record.payload().unwrap_or_default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        delivered.push(entry.target.key());
    }
    delivered.sort();
    assert_eq!(delivered, vec!["slack:#billing", "teams:billing"]);
    assert_eq!(about(&harness.sandbox.state().slack_messages(), &id), 1);
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

/// Two deliveries an instance (`owner`) began, their intents acknowledged
/// and their ledger records never written: the mail reached the server, the
/// Teams card never left. Returns the alert and the intents' keys.
async fn begun_by(harness: &Harness, owner: &str, claimed_at: i64) -> (EnrichedAlert, Vec<String>) {
    let id = unique("begun");
    let alert = alert(
        &id,
        &[("email", "maria.lopez@example.com"), ("teams", "billing")],
    );
    let intents_topic = harness.kafka.topology().topic(&topics::DELIVERY_INTENTS);
    let started_at = claimed_at - 1_000;
    let mut keys = Vec::new();
    for target in &alert.routing.targets {
        let attempt = Attempt::new(&id, alert.revision, target, started_at);
        let intent = DeliveryIntent {
            alert_id: id.clone(),
            target: target.clone(),
            revision: alert.revision,
            attempt_key: attempt.key.clone(),
            started_at,
            owner: owner.to_owned(),
            claimed_at,
        };
        let payload = harness
            .codec
            .encode(&intents_topic, &intent)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let key = DeliveryRecord::key_for(&id, target);
        survey_test_support::produce(
            &harness.producer,
            &intents_topic,
            key.as_bytes(),
            &payload,
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        keys.push(key);
        if target.channel == "email" {
            let email = EmailChannel::new(harness.config().email, support::templates())
                .unwrap_or_else(|e| panic!("{e}"));
            email
                .deliver(&alert, target, None, &attempt)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    (alert, keys)
}

/// Both begun deliveries end with one message each, and their intents are
/// settled (a tombstone last). Returns the intents topic's records, of
/// which there are `records` per key.
async fn settled_once(
    harness: &Harness,
    alert: &EnrichedAlert,
    keys: &[String],
    records: usize,
) -> Vec<OwnedMessage> {
    harness.send(alert).await;
    let ledger = harness
        .reader(&topics::DELIVERY_LEDGER)
        .read(2, ARRIVAL)
        .await;
    assert_eq!(ledger.len(), 2);
    let state = harness.sandbox.state();
    // The mail went again under the same Message-ID and Date, and the
    // mailbox store kept one; the card went once.
    assert_eq!(state.emails().len(), 1);
    assert_eq!(state.emails_discarded().len(), 1);
    assert_eq!(
        state.emails()[0].message_id,
        state.emails_discarded()[0].message_id
    );
    assert_eq!(state.teams_cards().len(), 1);
    let intents = harness
        .reader(&topics::DELIVERY_INTENTS)
        .read(records * keys.len(), ARRIVAL)
        .await;
    for key in keys {
        let last = intents
            .iter()
            .rev()
            .find(|record| record.key() == Some(key.as_bytes()));
        assert!(
            last.is_some_and(|record| record.payload().is_none()),
            "no tombstone for {key}"
        );
    }
    intents
}

/// A static member killed mid-delivery and restarted is the same owner: it
/// resumes its deliveries at once.
#[tokio::test]
async fn deliveries_begun_before_a_crash_are_settled_once() {
    let harness = Harness::new().await;
    let (alert, keys) = begun_by(&harness, "notifier-7", now_millis() - 5_000).await;
    let mut config = harness.config();
    config.kafka.group_instance_id = Some("notifier-7".to_owned());
    let (notifier, shutdown) = harness.start_with(config).await;
    settled_once(&harness, &alert, &keys, 2).await;
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

/// Deliveries another instance claimed just now (a rebalance handed their
/// input over) are left to it for the lease, then claimed and settled.
#[tokio::test]
async fn another_instances_deliveries_are_taken_over_when_its_lease_ends() {
    let harness = Harness::new().await;
    let (alert, keys) = begun_by(&harness, "notifier-gone", now_millis()).await;
    let mut config = harness.config();
    config.delivery_lease = Duration::from_secs(3);
    let (notifier, shutdown) = harness.start_with(config).await;
    let intents = settled_once(&harness, &alert, &keys, 3).await;
    // Each was claimed again, by the new instance, under the same key.
    for key in &keys {
        let mut records = Vec::new();
        for record in intents.iter().filter(|r| r.key() == Some(key.as_bytes())) {
            if let Some(payload) = record.payload() {
                let intent: DeliveryIntent = harness
                    .codec
                    .decode(payload)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                records.push(intent);
            }
        }
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[0].owner, "notifier-gone");
        assert_ne!(records[1].owner, "notifier-gone");
        assert_eq!(records[1].attempt_key, records[0].attempt_key);
        assert_eq!(records[1].started_at, records[0].started_at);
    }
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_redelivered_revision_is_sent_once_even_across_a_restart() {
    let harness = Harness::new().await;
    let id = unique("again");
    let first = alert(&id, &[("slack", "#billing")]);
    let (notifier, shutdown) = harness.start().await;
    harness.send(&first).await;
    harness.send(&first).await;
    let state = harness.sandbox.state();
    assert!(
        state
            .wait_for(ARRIVAL, |s| about(&s.slack_messages(), &id) >= 1)
            .await
    );
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));

    // A new instance reads the ledger back: the same revision again is
    // skipped, the next revision updates the message in place.
    let (notifier, shutdown) = harness.start().await;
    harness.send(&first).await;
    let mut second = first.clone();
    second.revision = 2;
    harness.send(&second).await;
    assert!(
        state
            .wait_for(ARRIVAL, |s| about(&s.slack_messages(), &id) >= 2)
            .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages: Vec<SlackMessage> = state
        .slack_messages()
        .into_iter()
        .filter(|m| m.body.to_string().contains(&id))
        .collect();
    assert_eq!(messages.len(), 2, "one post and one update: {messages:?}");
    assert_eq!(messages[0].ts, messages[1].ts);
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn slack_down_then_back_is_retried_through_the_delay_topic() {
    let harness = Harness::new().await;
    let (notifier, shutdown) = harness.start().await;
    let state = harness.sandbox.state();
    state.set_down(Route::Slack, true);
    let id = unique("outage");
    harness
        .send(&alert(&id, &[("slack", "#billing"), ("teams", "billing")]))
        .await;
    // Teams is not held back by Slack.
    assert!(
        state
            .wait_for(ARRIVAL, |s| !s.teams_cards().is_empty())
            .await
    );
    let retries = harness
        .reader(&topics::DELIVERY_RETRIES)
        .read(1, ARRIVAL)
        .await;
    assert!(
        !retries.is_empty(),
        "the Slack delivery was scheduled for a retry"
    );
    state.set_down(Route::Slack, false);
    assert!(
        state
            .wait_for(ARRIVAL, |s| about(&s.slack_messages(), &id) >= 1)
            .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(about(&state.slack_messages(), &id), 1);
    assert_eq!(state.teams_cards().len(), 1);
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_registry_outage_right_after_a_start_never_repeats_a_delivery() {
    let harness = Harness::new().await;
    let gate = RegistryGate::start(&harness.kafka.schema_registry_url)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut config = harness.config();
    config.kafka.schema_registry_url = gate.url.clone();
    let (notifier, shutdown) = harness.start_with(config).await;

    // The alert's schema still comes by id, but nothing can be encoded: a
    // message sent now could not get its ledger record.
    gate.refuse_subject_lookups(true);
    let id = unique("outage");
    harness
        .send(&alert(&id, &[("slack", "#billing"), ("teams", "billing")]))
        .await;
    let state = harness.sandbox.state();
    let sent_meanwhile = state
        .wait_for(Duration::from_secs(4), |s| {
            about(&s.slack_messages(), &id) > 0
        })
        .await;
    assert!(!sent_meanwhile, "nothing is sent that could not be settled");

    gate.refuse_subject_lookups(false);
    assert!(
        state
            .wait_for(ARRIVAL, |s| about(&s.slack_messages(), &id) >= 1)
            .await
    );
    let ledger = harness
        .reader(&topics::DELIVERY_LEDGER)
        .read(2, ARRIVAL)
        .await;
    assert_eq!(ledger.len(), 2, "both targets settled");
    // Anything sent twice would show by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(about(&state.slack_messages(), &id), 1, "sent to Slack once");
    assert_eq!(
        state
            .teams_cards()
            .iter()
            .filter(|card| card.payload.to_string().contains(&id))
            .count(),
        1,
        "sent to Teams once"
    );
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn an_undecodable_alert_goes_to_the_dlq_and_the_stage_goes_on() {
    let harness = Harness::new().await;
    let (notifier, shutdown) = harness.start().await;
    let topic = harness.kafka.topology().topic(&topics::ALERTS_ENRICHED);
    survey_test_support::produce(&harness.producer, &topic, b"poison", b"{not avro}", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = unique("after-poison");
    harness.send(&alert(&id, &[("slack", "#billing")])).await;
    let dlq = harness.reader(&topics::NOTIFIER_DLQ).read(1, ARRIVAL).await;
    assert_eq!(
        header(&dlq[0], headers::REASON).as_deref(),
        Some("not_wire_format")
    );
    assert!(
        harness
            .sandbox
            .state()
            .wait_for(ARRIVAL, |s| about(&s.slack_messages(), &id) == 1)
            .await
    );
    shutdown.trigger();
    notifier.wait().await.unwrap_or_else(|e| panic!("{e:#}"));
}

#[tokio::test]
async fn a_notifier_killed_mid_stream_loses_nothing_and_repeats_nothing() {
    use survey_test_support::process::{free_port, spawn, wait_ready};

    let harness = Harness::new().await;
    let config = harness.config();
    let env = [
        ("SLACK_API_URL", config.slack.api_url.clone()),
        ("SLACK_BOT_TOKEN", "xoxb-test".to_owned()),
        // Long pacing, so the kill can land between two deliveries rather
        // than inside the documented window (after Slack accepted a message,
        // before its ledger record was acknowledged).
        (
            "SURVEY_ALERTS__SLACK__MIN_INTERVAL_PER_CHANNEL",
            "1500ms".to_owned(),
        ),
    ];
    let binary = env!("CARGO_BIN_EXE_survey-notifier");
    let port = free_port();
    let mut notifier = spawn(binary, &harness.kafka, port, &env).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60)
        )
        .await
    );

    let ids: Vec<String> = (0..8).map(|i| unique(&format!("kill-{i}"))).collect();
    for id in &ids {
        harness.send(&alert(id, &[("slack", "#billing")])).await;
    }
    let state = harness.sandbox.state();
    let some = state
        .wait_for(ARRIVAL, |s| {
            ids.iter()
                .filter(|id| about(&s.slack_messages(), id) > 0)
                .count()
                >= 3
        })
        .await;
    assert!(some, "nothing was delivered before the kill");
    // Well after the last delivery's ledger write, well before the next send.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(notifier.id().to_string())
        .status();
    let _ = notifier.wait();

    let port = free_port();
    let mut restarted = spawn(binary, &harness.kafka, port, &env).unwrap_or_else(|e| panic!("{e}"));
    let all = state
        .wait_for(Duration::from_secs(90), |s| {
            ids.iter().all(|id| about(&s.slack_messages(), id) > 0)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = restarted.kill();
    let _ = restarted.wait();
    assert!(all, "an alert was lost across the kill");
    let repeated: Vec<(&String, usize)> = ids
        .iter()
        .map(|id| (id, about(&state.slack_messages(), id)))
        .filter(|(_, count)| *count != 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
}
