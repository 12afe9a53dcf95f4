//! Message templates: what an alert looks like on each channel.
//!
//! Five [minijinja] templates, editable without rebuilding: [`Templates::from_dir`]
//! reads them from a directory at startup (any file missing there falls back
//! to the built-in default), and [`Templates::embedded`] uses the defaults
//! shipped in `services/notifier/templates/`.
//!
//! | file                   | renders                                          | escaping |
//! |------------------------|--------------------------------------------------|----------|
//! | `slack.json.j2`        | `{"text": fallback, "blocks": [Block Kit]}`      | JSON     |
//! | `teams.json.j2`        | the Adaptive Card (`"type": "AdaptiveCard"`)     | JSON     |
//! | `email-subject.txt.j2` | the subject line                                 | none     |
//! | `email.txt.j2`         | the plain-text body                              | none     |
//! | `email.html.j2`        | the HTML body                                    | HTML     |
//!
//! Every template renders an [`AlertView`], built from the alert.
//!
//! **Escaping.** In `*.json.j2` every `{{ ... }}` is written as a JSON value
//! (strings get their quotes and escapes), so customer text cannot leave its
//! string; texts are built with `~` and never with `{{ }}` inside quotes. The
//! output is then parsed, and a template that does not produce JSON fails
//! the delivery permanently ([`RenderError::InvalidJson`]). Slack's mrkdwn
//! treats `&`, `<` and `>` as control characters: the `mrkdwn` filter
//! escapes them, and `slack_link(label)` builds a `<url|label>` link from
//! escaped parts. In `*.html.j2` every `{{ ... }}` is HTML-escaped.
//!
//! Filters added to minijinja's built-ins: `mrkdwn`, `slack_link(label)`,
//! `quote` (prefixes each line with `>`), and `clip(n)` (at most `n`
//! characters, ending in `…` when cut).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;
use survey_contracts::EnrichedAlert;

/// The Slack message template.
pub const SLACK: &str = "slack.json.j2";
/// The Teams Adaptive Card template.
pub const TEAMS: &str = "teams.json.j2";
/// The e-mail subject template.
pub const EMAIL_SUBJECT: &str = "email-subject.txt.j2";
/// The plain-text e-mail body template.
pub const EMAIL_TEXT: &str = "email.txt.j2";
/// The HTML e-mail body template.
pub const EMAIL_HTML: &str = "email.html.j2";

/// The built-in defaults, by file name.
const EMBEDDED: [(&str, &str); 5] = [
    (SLACK, include_str!("../templates/slack.json.j2")),
    (TEAMS, include_str!("../templates/teams.json.j2")),
    (
        EMAIL_SUBJECT,
        include_str!("../templates/email-subject.txt.j2"),
    ),
    (EMAIL_TEXT, include_str!("../templates/email.txt.j2")),
    (EMAIL_HTML, include_str!("../templates/email.html.j2")),
];

/// The compiled templates. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

/// A template failed to render into its channel's format. Permanent: the
/// same alert fails the same way until the template is fixed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// minijinja refused the template or failed while rendering it.
    #[error("template {name} failed to render: {source}")]
    Render {
        /// The template file.
        name: &'static str,
        /// The cause, with the template line.
        source: minijinja::Error,
    },
    /// A JSON template rendered text that is not the expected JSON.
    #[error("template produced invalid JSON ({name}): {reason}")]
    InvalidJson {
        /// The template file.
        name: &'static str,
        /// What is wrong, without the rendered text.
        reason: String,
    },
}

/// A template directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A template file exists but cannot be read.
    #[error("cannot read template {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory itself is missing or not a directory.
    #[error("template directory {0} does not exist")]
    NoDirectory(PathBuf),
    /// A template does not compile, or fails on a sample alert.
    #[error("template check failed: {0}")]
    Check(#[from] RenderError),
}

/// The three parts of an alert e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    /// One line, without a `Re: ` prefix.
    pub subject: String,
    /// The `text/plain` body.
    pub text: String,
    /// The `text/html` body.
    pub html: String,
}

impl Templates {
    /// The built-in templates.
    pub fn embedded() -> Self {
        Self::with_sources(BTreeMap::new())
    }

    /// Reads the templates in `dir`, using the built-in default for each file
    /// missing there, and checks every one by rendering a sample alert.
    /// Other files in `dir` are ignored. Files are read once: edits take
    /// effect on the next start.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(TemplateError::NoDirectory(dir.to_owned()));
        }
        let mut overrides = BTreeMap::new();
        for (name, _) in EMBEDDED {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(source) => {
                    overrides.insert(name, source);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(TemplateError::Read { path, source }),
            }
        }
        tracing::info!(
            dir = %dir.display(),
            overridden = ?overrides.keys().collect::<Vec<_>>(),
            "message templates loaded"
        );
        let templates = Self::with_sources(overrides);
        templates.check()?;
        Ok(templates)
    }

    fn with_sources(overrides: BTreeMap<&'static str, String>) -> Self {
        let overrides = Arc::new(overrides);
        let mut env = Environment::new();
        env.set_loader(move |name| {
            Ok(overrides.get(name).cloned().or_else(|| {
                EMBEDDED
                    .iter()
                    .find(|(embedded, _)| *embedded == name)
                    .map(|(_, source)| (*source).to_owned())
            }))
        });
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".json.j2") {
                AutoEscape::Json
            } else if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_filter("mrkdwn", mrkdwn);
        env.add_filter("slack_link", slack_link);
        env.add_filter("quote", quote);
        env.add_filter("clip", clip);
        Self { env }
    }

    /// Renders every template for a sample alert, first issue and follow-up.
    fn check(&self) -> Result<(), RenderError> {
        let alert = sample_alert();
        for follow_up in [false, true] {
            let view = AlertView::new(&alert, follow_up);
            self.slack_message(&view)?;
            self.teams_card(&view)?;
            self.email(&view)?;
        }
        Ok(())
    }

    /// The Slack `chat.postMessage` fields: an object with `text` (the
    /// notification fallback) and `blocks`.
    pub fn slack_message(
        &self,
        view: &AlertView,
    ) -> Result<serde_json::Map<String, Value>, RenderError> {
        match self.render_json(SLACK, view)? {
            Value::Object(message) if message.get("blocks").is_some_and(Value::is_array) => {
                Ok(message)
            }
            _ => Err(RenderError::InvalidJson {
                name: SLACK,
                reason: "expected an object with a \"blocks\" array".to_owned(),
            }),
        }
    }

    /// The Adaptive Card (the `content` of a Teams message attachment).
    pub fn teams_card(&self, view: &AlertView) -> Result<Value, RenderError> {
        let card = self.render_json(TEAMS, view)?;
        if card.get("type").and_then(Value::as_str) == Some("AdaptiveCard") {
            Ok(card)
        } else {
            Err(RenderError::InvalidJson {
                name: TEAMS,
                reason: "expected an object with \"type\": \"AdaptiveCard\"".to_owned(),
            })
        }
    }

    /// Subject, text and HTML of the alert e-mail. The subject is collapsed
    /// to one line.
    pub fn email(&self, view: &AlertView) -> Result<EmailContent, RenderError> {
        let subject = self.render(EMAIL_SUBJECT, view)?;
        Ok(EmailContent {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: self.render(EMAIL_TEXT, view)?,
            html: self.render(EMAIL_HTML, view)?,
        })
    }

    fn render(&self, name: &'static str, view: &AlertView) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(view))
            .map_err(|source| RenderError::Render { name, source })
    }

    fn render_json(&self, name: &'static str, view: &AlertView) -> Result<Value, RenderError> {
        let text = self.render(name, view)?;
        // serde_json's message names the line and column, never the text.
        serde_json::from_str(&text).map_err(|error| RenderError::InvalidJson {
            name,
            reason: error.to_string(),
        })
    }
}

/// What the templates see of an alert: channel-neutral, display-ready
/// values. Its `Debug` leaves out the customer's text.
#[derive(Clone, Serialize)]
pub struct AlertView {
    /// The alert id (survey response id).
    pub alert_id: String,
    /// The alert's revision, from 1.
    pub revision: i32,
    /// True when this message follows an earlier one for the same target
    /// (an e-mail reply or a second Teams card); Slack edits in place instead.
    pub follow_up: bool,
    /// For revision 2 and later, what changed: `Updated: recording ready`.
    pub update_note: Option<String>,
    /// `agent`, `bot` or `unassigned`.
    pub handled_by: String,
    /// `Jane Doe`, `Unknown agent (<id>)`, `Bot (<flow>)`, `Bot` or
    /// `Unassigned`.
    pub agent: String,
    /// The agent's display name, when the directory knows it.
    pub agent_name: Option<String>,
    /// The agent's user id, for human agents.
    pub agent_id: Option<String>,
    /// CSAT, 1 to 5.
    pub csat: i32,
    /// `2/5`.
    pub score: String,
    /// The customer's comment. Customer text.
    pub comment: Option<String>,
    /// The conversation summary. Customer text.
    pub summary: Option<String>,
    /// Queue name, else queue id, else `Unknown queue`.
    pub queue: String,
    /// voice, chat, ... when known.
    pub media_type: Option<String>,
    /// Why the alert was raised.
    pub reasons: Vec<ReasonView>,
    /// Where to listen.
    pub recording: RecordingView,
    /// Conversation id.
    pub interaction_id: String,
    /// Genesys Cloud UI link to the interaction.
    pub interaction_link: String,
    /// Survey submission time, `2026-09-14 10:15 UTC`.
    pub submitted_at: String,
}

/// One reason an alert was raised.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonView {
    /// `low_score`, `critical_keyword`, ...
    pub code: String,
    /// `Low score`, `Critical keyword`, or the code itself.
    pub label: String,
    /// The filter's detail: `csat 2 is below 3`, or the keyword.
    pub detail: String,
    /// `Low score: csat 2 is below 3`.
    pub text: String,
}

/// The recording line.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    /// `ready`, `pending` or `unavailable`.
    pub status: String,
    /// The media URL, when ready.
    pub url: Option<String>,
    /// `Recording ready`, `Recording pending` or `Recording unavailable`.
    pub text: String,
}

impl fmt::Debug for AlertView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertView")
            .field("alert_id", &self.alert_id)
            .field("revision", &self.revision)
            .field("follow_up", &self.follow_up)
            .field("agent", &self.agent)
            .field("score", &self.score)
            .field("queue", &self.queue)
            .field("recording", &self.recording.status)
            .finish_non_exhaustive()
    }
}

impl AlertView {
    /// The view of `alert`; `follow_up` when an earlier message for the same
    /// target exists and this one is sent after it.
    pub fn new(alert: &EnrichedAlert, follow_up: bool) -> Self {
        let interaction = &alert.interaction;
        let recording = &alert.recording;
        let update_note = (alert.revision > 1).then(|| match recording.status.as_str() {
            "ready" => "Updated: recording ready".to_owned(),
            "unavailable" => "Updated: recording unavailable".to_owned(),
            _ => "Updated".to_owned(),
        });
        let queue = interaction
            .queue_name
            .as_deref()
            .or(interaction.queue_id.as_deref())
            .filter(|queue| !queue.trim().is_empty())
            .unwrap_or("Unknown queue")
            .to_owned();
        Self {
            alert_id: alert.alert_id.clone(),
            revision: alert.revision,
            follow_up,
            update_note,
            handled_by: interaction.handled_by.clone(),
            agent: agent_display(alert),
            agent_name: non_blank(interaction.agent_name.as_deref()),
            agent_id: interaction.agent_id.clone(),
            csat: alert.survey.csat,
            score: format!("{}/5", alert.survey.csat),
            comment: non_blank(alert.survey.comment.as_deref()),
            summary: non_blank(alert.transcript_summary.as_deref()),
            queue,
            media_type: interaction.media_type.clone(),
            reasons: alert
                .survey
                .reasons
                .iter()
                .map(|reason| {
                    let label = match reason.code.as_str() {
                        "low_score" => "Low score".to_owned(),
                        "critical_keyword" => "Critical keyword".to_owned(),
                        other => other.to_owned(),
                    };
                    ReasonView {
                        code: reason.code.clone(),
                        text: format!("{label}: {}", reason.detail),
                        label,
                        detail: reason.detail.clone(),
                    }
                })
                .collect(),
            recording: RecordingView {
                status: recording.status.clone(),
                url: recording
                    .url
                    .clone()
                    .filter(|_| recording.status == "ready"),
                text: match recording.status.as_str() {
                    "ready" => "Recording ready",
                    "pending" => "Recording pending",
                    _ => "Recording unavailable",
                }
                .to_owned(),
            },
            interaction_id: interaction.id.clone(),
            interaction_link: interaction.link.clone(),
            submitted_at: DateTime::<Utc>::from_timestamp_millis(alert.survey.submitted_at)
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "unknown time".to_owned()),
        }
    }
}

/// Who handled the interaction, as alerts show it.
fn agent_display(alert: &EnrichedAlert) -> String {
    let interaction = &alert.interaction;
    let name = non_blank(interaction.agent_name.as_deref());
    match interaction.handled_by.as_str() {
        "bot" => match non_blank(interaction.flow_name.as_deref()) {
            Some(flow) => format!("Bot ({flow})"),
            None => "Bot".to_owned(),
        },
        "unassigned" => "Unassigned".to_owned(),
        _ => match (name, interaction.agent_id.as_deref()) {
            (Some(name), _) => name,
            (None, Some(id)) => format!("Unknown agent ({id})"),
            (None, None) if interaction.handled_by == "agent" => "Unknown agent".to_owned(),
            (None, None) => "Unassigned".to_owned(),
        },
    }
}

fn non_blank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Escapes Slack mrkdwn's control characters `&`, `<` and `>`.
fn mrkdwn(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `<url|label>` with both parts escaped; a `|` in the URL would end it
/// early, so it is percent-encoded.
fn slack_link(url: &str, label: &str) -> String {
    format!("<{}|{}>", mrkdwn(&url.replace('|', "%7C")), mrkdwn(label))
}

/// Prefixes every line with `>`, Slack's block quote.
fn quote(text: &str) -> String {
    text.lines()
        .map(|line| format!(">{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most `max` characters, ending in `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// The alert [`Templates::from_dir`] checks templates with: every field set,
/// with characters that need escaping in every format.
fn sample_alert() -> EnrichedAlert {
    use survey_contracts::{
        AlertReason, AlertSurvey, Interaction, NotificationTarget, RecordingInfo, Routing,
    };
    EnrichedAlert {
        alert_id: "sample".to_owned(),
        revision: 2,
        issued_at: 0,
        survey: AlertSurvey {
            response_id: "sample".to_owned(),
            survey_id: Some("survey".to_owned()),
            submitted_at: 0,
            received_at: 0,
            csat: 1,
            comment: Some("\"Quoted\" \\ <b>&amp;</b>\nsecond line | * _ ~".to_owned()),
            reasons: vec![AlertReason {
                code: "low_score".to_owned(),
                detail: "csat 1 is below 3".to_owned(),
            }],
        },
        interaction: Interaction {
            id: "conversation".to_owned(),
            media_type: Some("voice".to_owned()),
            direction: Some("inbound".to_owned()),
            started_at: Some(0),
            ended_at: Some(0),
            queue_id: Some("queue".to_owned()),
            queue_name: Some("Queue \"<&>\"".to_owned()),
            handled_by: "agent".to_owned(),
            agent_id: Some("agent".to_owned()),
            agent_name: Some("Agent \"<&>\"".to_owned()),
            flow_name: None,
            wrap_up_code: None,
            link: "https://apps.example.com/interactions/conversation?a=1&b=<2>".to_owned(),
        },
        recording: RecordingInfo {
            status: "ready".to_owned(),
            url: Some("https://media.example.com/r?x=1&y=|2|".to_owned()),
        },
        transcript_summary: Some("Summary \"with\" <tags>\nand lines".to_owned()),
        routing: Routing {
            kind: "fallback".to_owned(),
            supervisors: Vec::new(),
            targets: vec![NotificationTarget::new("slack", "#sample")],
        },
        trace_context: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_pass_their_own_check() {
        Templates::embedded()
            .check()
            .unwrap_or_else(|error| panic!("{error}"));
    }

    #[test]
    fn mrkdwn_escapes_exactly_slacks_control_characters() {
        assert_eq!(
            mrkdwn("a & b <c> \"d\" *e*"),
            "a &amp; b &lt;c&gt; \"d\" *e*"
        );
        assert_eq!(
            slack_link("https://x/?a=1&b=|", "Listen <now>"),
            "<https://x/?a=1&amp;b=%7C|Listen &lt;now&gt;>"
        );
        assert_eq!(quote("one\ntwo"), ">one\n>two");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }

    #[test]
    fn agents_are_shown_by_how_the_interaction_was_handled() {
        let mut alert = sample_alert();
        assert_eq!(agent_display(&alert), "Agent \"<&>\"");
        alert.interaction.agent_name = None;
        assert_eq!(agent_display(&alert), "Unknown agent (agent)");
        alert.interaction.handled_by = "bot".to_owned();
        alert.interaction.agent_id = None;
        assert_eq!(agent_display(&alert), "Bot");
        alert.interaction.flow_name = Some("Billing bot".to_owned());
        assert_eq!(agent_display(&alert), "Bot (Billing bot)");
        alert.interaction.handled_by = "unassigned".to_owned();
        assert_eq!(agent_display(&alert), "Unassigned");
    }

    #[test]
    fn the_view_never_debug_prints_customer_text() {
        let view = AlertView::new(&sample_alert(), false);
        let debug = format!("{view:?}");
        assert!(
            !debug.contains("Quoted") && !debug.contains("Summary"),
            "{debug}"
        );
    }

    #[test]
    fn a_template_that_breaks_json_fails_with_invalid_json() {
        let mut overrides = BTreeMap::new();
        overrides.insert(SLACK, "{\"blocks\": [\"{{ comment|safe }}\"]}".to_owned());
        let templates = Templates::with_sources(overrides);
        let error = templates
            .slack_message(&AlertView::new(&sample_alert(), false))
            .err();
        assert!(
            matches!(&error, Some(RenderError::InvalidJson { name: SLACK, .. })),
            "{error:?}"
        );
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("template produced invalid JSON"),
            "{message}"
        );
        assert!(!message.contains("Quoted"), "{message}");
    }

    #[test]
    fn a_directory_overrides_some_templates_and_keeps_the_rest() {
        let dir = std::env::temp_dir().join(format!("notifier-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(EMAIL_SUBJECT), "Custom {{ score }}")
            .unwrap_or_else(|e| panic!("{e}"));
        let templates = Templates::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let email = templates
            .email(&AlertView::new(&sample_alert(), false))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(email.subject, "Custom 1/5");
        assert!(email.text.contains("1/5"));

        std::fs::write(dir.join(TEAMS), "{\"type\": \"AdaptiveCard\", {{ agent }}")
            .unwrap_or_else(|e| panic!("{e}"));
        let broken = Templates::from_dir(&dir).err();
        assert!(
            matches!(
                broken,
                Some(TemplateError::Check(RenderError::InvalidJson {
                    name: TEAMS,
                    ..
                }))
            ),
            "{broken:?}"
        );
        std::fs::write(dir.join(TEAMS), "{{ unknown_field }}").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            Templates::from_dir(&dir),
            Err(TemplateError::Check(RenderError::Render {
                name: TEAMS,
                ..
            }))
        ));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(
            Templates::from_dir(&dir),
            Err(TemplateError::NoDirectory(_))
        ));
    }
}
