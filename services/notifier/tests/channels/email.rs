//! E-mail against the sandbox's SMTP sink.

use std::time::Duration;

use survey_contracts::NotificationTarget;
use survey_notifier::channels::email::{EmailChannel, EmailSettings};
use survey_notifier::channels::{Attempt, Channel};

use crate::support::{
    attempt, expect_permanent, expect_transient, human_agent_recording_ready, record, revised,
    sandbox, templates,
};

fn channel(port: u16) -> EmailChannel {
    EmailChannel::new(
        EmailSettings {
            smtp_host: "127.0.0.1".to_owned(),
            smtp_port: port,
            tls: false,
            from: "Survey alerts <alerts@example.com>".to_owned(),
            timeout: Duration::from_secs(5),
            ..EmailSettings::default()
        },
        templates(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn target(address: &str) -> NotificationTarget {
    NotificationTarget::new("email", address)
}

#[tokio::test]
async fn the_first_mail_then_a_threaded_follow_up() {
    let sandbox = sandbox().await;
    let email = channel(sandbox.smtp_addr().port());
    let to = target("maria.lopez@example.com");
    let alert = human_agent_recording_ready();

    let first = email
        .deliver(&alert, &to, None, &attempt())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let message_id = first
        .message_id
        .clone()
        .unwrap_or_else(|| panic!("no Message-ID in {first:?}"));
    assert_eq!(message_id, format!("<{}@survey-alerts>", attempt().key));

    let second_alert = revised(alert);
    let mut previous = record(&second_alert, &to, 1);
    previous.message_id = Some(message_id.clone());
    let second_attempt = Attempt::new(&second_alert.alert_id, 2, &to, attempt().started_at);
    let second = email
        .deliver(&second_alert, &to, Some(&previous), &second_attempt)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.message_id.as_deref(), Some(message_id.as_str()));

    let mails = sandbox.state().emails();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let (mail, reply) = (&mails[0], &mails[1]);
    assert_eq!(mail.to, vec!["maria.lopez@example.com".to_owned()]);
    assert_eq!(mail.envelope_from, "alerts@example.com");
    assert_eq!(mail.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(
        mail.subject.as_deref(),
        Some("Low survey score 2/5 – Jordan Smith – Billing")
    );
    assert_eq!(mail.in_reply_to, None);
    let text = mail.text.as_deref().unwrap_or_default();
    assert!(
        text.contains("The agent was rude and hung up on me."),
        "{text}"
    );
    let html = mail.html.as_deref().unwrap_or_default();
    assert!(
        html.contains("<h2") && html.contains("Jordan Smith"),
        "{html}"
    );

    assert_eq!(
        reply.subject.as_deref(),
        Some("Re: Low survey score 2/5 – Jordan Smith – Billing")
    );
    assert_eq!(reply.in_reply_to.as_deref(), Some(message_id.as_str()));
    assert_eq!(reply.references.as_deref(), Some(message_id.as_str()));
    assert_ne!(reply.message_id.as_deref(), Some(message_id.as_str()));
    let reply_text = reply.text.as_deref().unwrap_or_default();
    assert!(
        reply_text.starts_with("Updated: recording ready")
            && reply_text.contains("https://media.example.com/rec-2.opus"),
        "{reply_text}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_refused_or_malformed_address_is_permanent() {
    let sandbox = sandbox().await;
    let email = channel(sandbox.smtp_addr().port());
    let alert = human_agent_recording_ready();

    let reason = expect_permanent(
        email
            .deliver(&alert, &target("reject-me@example.com"), None, &attempt())
            .await,
    );
    assert!(reason.contains("550"), "{reason}");
    let reason = expect_permanent(
        email
            .deliver(&alert, &target("not an address"), None, &attempt())
            .await,
    );
    assert!(reason.contains("invalid e-mail address"), "{reason}");
    assert!(sandbox.state().emails().is_empty());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("{e}"));
    expect_transient(
        channel(port)
            .deliver(
                &human_agent_recording_ready(),
                &target("maria.lopez@example.com"),
                None,
                &attempt(),
            )
            .await,
    );
}

#[tokio::test]
async fn a_resent_mail_is_the_same_mail_and_the_store_keeps_one() {
    let sandbox = sandbox().await;
    let email = channel(sandbox.smtp_addr().port());
    let to = target("maria.lopez@example.com");
    let alert = human_agent_recording_ready();
    let first_try = attempt();

    // The notifier stopped after the server took the mail, before its
    // ledger had it: the next attempt sends under the same key.
    for _ in 0..2 {
        email
            .deliver(&alert, &to, None, &first_try)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mails = sandbox.state().emails();
    let discarded = sandbox.state().emails_discarded();
    assert_eq!((mails.len(), discarded.len()), (1, 1), "{mails:#?}");
    assert_eq!(mails[0].message_id, discarded[0].message_id);
    let date = |mail: &survey_sandbox::Email| {
        mail.headers
            .iter()
            .find(|(name, _)| name == "Date")
            .map(|(_, value)| value.clone())
    };
    assert_eq!(date(&mails[0]), date(&discarded[0]));
    // 2026-09-14T10:16:01Z, the attempt's first start.
    assert_eq!(
        date(&mails[0]).as_deref(),
        Some("Mon, 14 Sep 2026 10:16:01 +0000")
    );

    // Another attempt (a later revision) is another mail.
    let other = Attempt::new(&alert.alert_id, 2, &to, first_try.started_at);
    email
        .deliver(&alert, &to, None, &other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sandbox.state().emails().len(), 2);
    sandbox.shutdown().await;
}
