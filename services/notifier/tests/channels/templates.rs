//! Snapshots of every message for the four kinds of alert, and the escaping
//! of customer text in each format.

use serde_json::Value;
use survey_contracts::EnrichedAlert;
use survey_notifier::templates::{AlertView, EmailContent};

use crate::support::{
    HOSTILE_COMMENT, bot_recording_pending, hostile_comment, human_agent_recording_ready,
    templates, unassigned_revision_2_unavailable,
};

fn slack(alert: &EnrichedAlert) -> Value {
    templates()
        .slack_message(&AlertView::new(alert, false))
        .map(Value::Object)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn teams(alert: &EnrichedAlert, follow_up: bool) -> Value {
    templates()
        .teams_card(&AlertView::new(alert, follow_up))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn email(alert: &EnrichedAlert, follow_up: bool) -> EmailContent {
    templates()
        .email(&AlertView::new(alert, follow_up))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The subject and the text body, as one snapshot.
fn text_mail(mail: &EmailContent) -> String {
    format!("Subject: {}\n\n{}", mail.subject, mail.text)
}

macro_rules! snapshot_every_message {
    ($name:ident, $alert:expr) => {
        #[test]
        fn $name() {
            let alert = $alert;
            insta::assert_json_snapshot!(concat!(stringify!($name), "__slack"), slack(&alert));
            insta::assert_json_snapshot!(
                concat!(stringify!($name), "__teams"),
                teams(&alert, false)
            );
            let mail = email(&alert, false);
            insta::assert_snapshot!(concat!(stringify!($name), "__email_text"), text_mail(&mail));
            insta::assert_snapshot!(concat!(stringify!($name), "__email_html"), mail.html);
        }
    };
}

snapshot_every_message!(
    human_agent_with_recording_ready,
    human_agent_recording_ready()
);
snapshot_every_message!(bot_with_recording_pending, bot_recording_pending());
snapshot_every_message!(
    unassigned_revision_2_with_recording_unavailable,
    unassigned_revision_2_unavailable()
);
snapshot_every_message!(comment_that_needs_escaping, hostile_comment());

#[test]
fn follow_up_mail_and_card() {
    let alert = crate::support::revised(human_agent_recording_ready());
    let mail = email(&alert, true);
    insta::assert_snapshot!("follow_up__email_text", text_mail(&mail));
    insta::assert_snapshot!("follow_up__email_html", mail.html);
    let card = teams(&alert, true);
    assert_eq!(card["body"][1]["text"], "Updated: recording ready");
}

/// Every string in a JSON value, depth first.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(fields) => fields.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn slack_escapes_mrkdwn_control_characters_and_nothing_else() {
    let message = slack(&hostile_comment());
    let texts = strings(&message);
    let comment = texts
        .iter()
        .find(|text| text.starts_with("*Customer comment*"))
        .unwrap_or_else(|| panic!("no comment block in {message:#}"));
    assert_eq!(
        comment,
        "*Customer comment*\n>He said \"never again\" &amp; hung up.\n>&lt;script&gt;alert('x')&lt;/script&gt; \\o/ &lt;@U123|everyone&gt; *bold*"
    );
    for text in &texts {
        assert!(
            !text.contains("<script") && !text.contains("<@U123"),
            "unescaped customer text in {text:?}"
        );
    }
    assert!(
        texts.iter().any(|text| text.contains(
            "<https://media.example.com/rec.opus?sig=a%7Cb&amp;expires=1789381000|Listen to the recording>"
        )),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Sales &amp; &lt;Renewals&gt;"))
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&format!("Unknown agent ({})", crate::support::AGENT_ID))),
        "{texts:#?}"
    );
}

#[test]
fn teams_and_text_mail_keep_the_comment_verbatim() {
    let card = teams(&hostile_comment(), false);
    assert!(
        strings(&card).iter().any(|text| text == HOSTILE_COMMENT),
        "{card:#}"
    );
    assert!(
        email(&hostile_comment(), false)
            .text
            .contains(HOSTILE_COMMENT)
    );
}

#[test]
fn html_mail_escapes_every_customer_character() {
    let html = email(&hostile_comment(), false).html;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<@U123"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("He said &quot;never again&quot; &amp; hung up."),
        "{html}"
    );
    assert!(html.contains("Sales &amp; &lt;Renewals&gt;"), "{html}");
}

#[test]
fn revisions_after_the_first_say_what_changed() {
    let first = slack(&human_agent_recording_ready());
    assert!(!strings(&first).iter().any(|t| t.contains("Updated")));
    let second = slack(&unassigned_revision_2_unavailable());
    assert!(
        strings(&second)
            .iter()
            .any(|t| t.contains("*Updated: recording unavailable*")),
        "{second:#}"
    );
    let ready = slack(&crate::support::revised(bot_recording_pending()));
    assert!(
        strings(&ready)
            .iter()
            .any(|t| t.contains("Updated: recording ready"))
    );
}
