//! Counting from the sinks: what the sandbox's Slack, Teams, SMTP and coaching fakes
//! received, attributed to the surveys of the run, compared with what each survey must
//! receive. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::plan::{Channel, Survey};

/// One message a sink received for an alert of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Survey response id (= alert id).
    pub survey: String,
    /// Which sink.
    pub channel: Channel,
    /// The alert revision the message carries (coaching appointments carry none).
    pub revision: Option<i64>,
    /// When the sink received it.
    pub at: Option<DateTime<Utc>>,
    /// Whether it links the recording (the recording was ready for this revision).
    pub ready: bool,
}

/// How soon after a sink accepted a message a notifier SIGKILL is named as the likely cause
/// of a repeat. The report shows it; the repeat fails the run all the same.
pub const KILL_WINDOW: Duration = Duration::from_secs(2);

/// Everything the sinks received, attributed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkRecord {
    /// Messages of the run's alerts, per sink in arrival order.
    pub deliveries: Vec<Delivery>,
    /// Messages that name no alert of the run: each one is unexpected.
    pub unattributed: Vec<String>,
    /// E-mails of the run's alerts that the SMTP server took again and the mailbox store
    /// discarded as copies of one it had delivered (same Message-ID and Date).
    pub discarded_emails: usize,
}

/// Reads `GET /sandbox/deliveries`. Alert ids and revisions are read from the text the
/// notifier renders (`alert <id>, revision <n>` in every Slack, Teams and e-mail message);
/// coaching appointments are matched through their conversation (`conv-<id>`).
pub fn attribute(deliveries: &Value, prefix: &str) -> SinkRecord {
    let mut record = SinkRecord::default();
    let list = |key: &str| {
        deliveries
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (key, channel, field) in [
        ("slack", Channel::Slack, "body"),
        ("teams", Channel::Teams, "card"),
        ("emails", Channel::Email, "text"),
    ] {
        for message in list(key) {
            let text = match message.get(field) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            match alert_and_revision(&text, prefix) {
                Some((survey, revision)) => record.deliveries.push(Delivery {
                    survey,
                    channel,
                    revision: Some(revision),
                    at: received_at(&message),
                    ready: text.contains("/recordings/"),
                }),
                None => record.unattributed.push(format!("{key}: {}", clip(&text))),
            }
        }
    }
    record.discarded_emails = list("emails_discarded")
        .iter()
        .filter(|mail| {
            let text = mail.get("text").and_then(Value::as_str).unwrap_or_default();
            alert_and_revision(text, prefix).is_some()
        })
        .count();
    let conversation_prefix = format!("conv-{prefix}");
    for appointment in list("coaching") {
        let survey = appointment
            .get("conversation_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|id| {
                id.strip_prefix("conv-")
                    .filter(|_| id.starts_with(&conversation_prefix))
            });
        match survey {
            Some(survey) => record.deliveries.push(Delivery {
                survey: survey.to_owned(),
                channel: Channel::Coaching,
                revision: None,
                at: received_at(&appointment),
                ready: true,
            }),
            None => record
                .unattributed
                .push(format!("coaching: {}", clip(&appointment.to_string()))),
        }
    }
    record
}

fn received_at(message: &Value) -> Option<DateTime<Utc>> {
    message
        .get("received_at")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

/// Finds `<prefix><digits>, revision <digits>` in `text`.
pub fn alert_and_revision(text: &str, prefix: &str) -> Option<(String, i64)> {
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0
            && let Some(revision) = after[digits..].strip_prefix(", revision ")
        {
            let revision_digits: String =
                revision.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(revision) = revision_digits.parse() {
                return Some((format!("{prefix}{}", &after[..digits]), revision));
            }
        }
        rest = &rest[at + prefix.len()..];
    }
    None
}

/// Totals over some surveys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Unique surveys.
    pub surveys: usize,
    /// Webhook posts answered 2xx (retries of the same survey included).
    pub accepted_posts: usize,
    /// Actionable surveys.
    pub actionable: usize,
    /// (survey, target) pairs that must receive the alert.
    pub targets: usize,
    /// Pairs that received it, with its final revision.
    pub delivered: usize,
    /// Pairs that did not (or not the final revision).
    pub lost: usize,
    /// Messages beyond the first for one (survey, target, revision), or beyond the first
    /// coaching appointment.
    pub duplicated: usize,
    /// Of those, the ones that followed a notifier SIGKILL within [`KILL_WINDOW`] of the
    /// first: the likely cause, for the report. They fail the run like any other.
    pub in_kill_window: usize,
    /// Messages with a lower revision than one the target already had.
    pub regressions: usize,
    /// Messages for surveys or targets that must receive nothing.
    pub unexpected: usize,
}

impl Tally {
    /// Adds `other` in.
    pub fn add(&mut self, other: &Tally) {
        self.surveys += other.surveys;
        self.accepted_posts += other.accepted_posts;
        self.actionable += other.actionable;
        self.targets += other.targets;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.in_kill_window += other.in_kill_window;
        self.regressions += other.regressions;
        self.unexpected += other.unexpected;
    }

    /// Whether nothing went wrong.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.regressions == 0 && self.unexpected == 0
    }
}

/// The outcome of one survey, with a line per problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Its counts (`surveys` = 1).
    pub tally: Tally,
    /// What went wrong, for the report.
    pub problems: Vec<String>,
}

/// One message a target received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Got {
    /// Its revision.
    pub revision: Option<i64>,
    /// When.
    pub at: Option<DateTime<Utc>>,
    /// Whether it links the recording.
    pub ready: bool,
}

/// What one target received, in arrival order.
pub type Received = Vec<Got>;

/// Deliveries grouped by survey and channel.
pub type Grouped = BTreeMap<String, BTreeMap<Channel, Received>>;

/// Groups attributed deliveries.
pub fn group(deliveries: &[Delivery]) -> Grouped {
    let mut grouped = Grouped::new();
    for delivery in deliveries {
        grouped
            .entry(delivery.survey.clone())
            .or_default()
            .entry(delivery.channel)
            .or_default()
            .push(Got {
                revision: delivery.revision,
                at: delivery.at,
                ready: delivery.ready,
            });
    }
    grouped
}

/// Compares what `survey`'s targets received with what they must receive.
///
/// A revisioned target must end at the survey's final revision: the highest revision any
/// of its targets received, which for a call must link the recording (every recording of the load
/// becomes ready; whether that takes one revision or two depends on how often the
/// enricher had to look). A target that skipped an intermediate revision (a newer one
/// overtook a retry) is not a loss: the alert is superseded in place.
///
/// `notifier_kills` are the times the notifier was SIGKILLed; a repeated message counts as
/// in the kill window when one of them falls within [`KILL_WINDOW`] after the message it
/// repeats.
pub fn judge(
    survey: &Survey,
    received: Option<&BTreeMap<Channel, Received>>,
    notifier_kills: &[DateTime<Utc>],
) -> Outcome {
    let mut outcome = Outcome::default();
    let tally = &mut outcome.tally;
    tally.surveys = 1;
    let empty = BTreeMap::new();
    let received = received.unwrap_or(&empty);
    let channels = survey.kind.channels();
    if survey.kind.actionable() {
        tally.actionable = 1;
    }
    let final_revision = received
        .iter()
        .filter(|(channel, _)| channel.revisioned())
        .flat_map(|(_, got)| got.iter().filter_map(|g| g.revision))
        .max()
        .unwrap_or(1);
    for (&channel, revisions) in received {
        if !channels.contains(&channel) {
            tally.unexpected += revisions.len();
            outcome.problems.push(format!(
                "{}: {} unexpected {} message(s)",
                survey.id,
                revisions.len(),
                channel.name()
            ));
        }
    }
    for &channel in channels {
        tally.targets += 1;
        let got = received.get(&channel).map_or(&[][..], Vec::as_slice);
        // Repeats of one revision (coaching: of the one appointment), with their times.
        let mut by_revision: BTreeMap<Option<i64>, Vec<Option<DateTime<Utc>>>> = BTreeMap::new();
        for g in got {
            let key = if channel.revisioned() {
                g.revision
            } else {
                None
            };
            by_revision.entry(key).or_default().push(g.at);
        }
        for (revision, times) in &by_revision {
            if times.len() < 2 {
                continue;
            }
            let mut sorted = times.clone();
            sorted.sort();
            let in_window = sorted
                .windows(2)
                .filter(|pair| killed_between(pair[0], pair[1], notifier_kills))
                .count();
            tally.duplicated += times.len() - 1;
            tally.in_kill_window += in_window;
            outcome.problems.push(format!(
                "{}: {} got {} {} times, at {}{}",
                survey.id,
                channel.name(),
                revision.map_or_else(|| "its appointment".to_owned(), |r| format!("revision {r}")),
                times.len(),
                sorted
                    .iter()
                    .map(|t| clock(*t))
                    .collect::<Vec<_>>()
                    .join(", "),
                if in_window == times.len() - 1 {
                    " (notifier SIGKILLed within the window after the first)"
                } else {
                    ""
                }
            ));
        }
        if !channel.revisioned() {
            if got.is_empty() {
                tally.lost += 1;
                outcome
                    .problems
                    .push(format!("{}: {} never delivered", survey.id, channel.name()));
            } else {
                tally.delivered += 1;
            }
            continue;
        }
        let seen: Vec<i64> = got.iter().filter_map(|g| g.revision).collect();
        let final_ready = got.iter().any(|g| {
            g.revision == Some(final_revision) && (g.ready || !survey.kind.links_recording())
        });
        if seen.iter().max() == Some(&final_revision) && final_ready {
            tally.delivered += 1;
        } else {
            tally.lost += 1;
            outcome.problems.push(format!(
                "{}: {} got revisions {seen:?}; final revision {final_revision} {}",
                survey.id,
                channel.name(),
                if seen.contains(&final_revision) {
                    "without the recording (its update never came)"
                } else {
                    "missing"
                }
            ));
        }
        let regressions = seen.windows(2).filter(|w| w[1] < w[0]).count();
        if regressions > 0 {
            tally.regressions += regressions;
            outcome.problems.push(format!(
                "{}: {} got revisions {seen:?} (regressed)",
                survey.id,
                channel.name()
            ));
        }
    }
    outcome
}

/// Whether the notifier was killed within [`KILL_WINDOW`] after `first` (or just before
/// it, while it was on its way), and before `again`.
fn killed_between(
    first: Option<DateTime<Utc>>,
    again: Option<DateTime<Utc>>,
    kills: &[DateTime<Utc>],
) -> bool {
    let (Some(first), Some(again)) = (first, again) else {
        return false;
    };
    let window = chrono::Duration::from_std(KILL_WINDOW).unwrap_or_default();
    // The kill time is taken once the process is gone; a message it sent just before can
    // reach the sink a moment later.
    let in_flight = chrono::Duration::milliseconds(500);
    kills
        .iter()
        .any(|&kill| kill >= first - in_flight && kill <= again && kill - first <= window)
}

/// How often the notifier read a channel back before sending again, counted from the
/// requests the sandbox answered (`GET /sandbox/requests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadBacks {
    /// Slack `conversations.history` calls.
    pub slack: usize,
    /// Microsoft Graph channel-message listings.
    pub teams: usize,
    /// Genesys coaching appointment listings.
    pub coaching: usize,
}

/// Counts the read-backs among `requests`.
pub fn read_backs(requests: &Value) -> ReadBacks {
    let mut counts = ReadBacks::default();
    let list = requests
        .get("requests")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for request in list {
        if request.get("method").and_then(Value::as_str) != Some("GET") {
            continue;
        }
        let path = request
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        if path.ends_with("/conversations.history") {
            counts.slack += 1;
        } else if path.starts_with("/teams/graph/") && path.ends_with("/messages") {
            counts.teams += 1;
        } else if path == "/api/v2/coaching/appointments" {
            counts.coaching += 1;
        }
    }
    counts
}

/// `HH:MM:SS.mmm`.
fn clock(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "?".to_owned(), |t| t.format("%H:%M:%S%.3f").to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::{Kind, survey};

    fn by_kind(kind: Kind) -> Survey {
        (0..20)
            .map(|i| survey("t", i))
            .find(|s| s.kind == kind)
            .unwrap_or_else(|| survey("t", 0))
    }

    /// Every message links the recording except revision 1 of a late recording's alert.
    fn received(pairs: &[(Channel, &[Option<i64>])]) -> BTreeMap<Channel, Received> {
        pairs
            .iter()
            .map(|(c, r)| {
                let got = r.iter().map(|&revision| Got {
                    revision,
                    at: None,
                    ready: revision != Some(1) || r.len() == 1,
                });
                (*c, got.collect())
            })
            .collect()
    }

    #[test]
    fn ids_and_revisions_are_read_from_rendered_text() {
        let text = "x · alert fxab-12, revision 2 · y";
        assert_eq!(
            alert_and_revision(text, "fxab-"),
            Some(("fxab-12".to_owned(), 2))
        );
        assert_eq!(alert_and_revision("alert fxab-12 only", "fxab-"), None);
        assert_eq!(
            alert_and_revision("fxab-x fxab-3, revision 1.", "fxab-"),
            Some(("fxab-3".to_owned(), 1))
        );
    }

    #[test]
    fn deliveries_are_attributed_per_sink() {
        let deliveries = json!({
            "slack": [{"body": {"blocks": [{"text": "alert fxr-8, revision 1"}]}}],
            "teams": [{"card": {"body": [{"text": "Alert fxr-8, revision 1"}]}}],
            "emails": [{"text": "Alert fxr-8, revision 1. Sent"}, {"text": "spam"}],
            "emails_discarded": [{"text": "Alert fxr-8, revision 1. Sent"}, {"text": "spam"}],
            "coaching": [{"conversation_ids": ["conv-fxr-8"]}, {"conversation_ids": ["other"]}],
        });
        let record = attribute(&deliveries, "fxr-");
        assert_eq!(record.deliveries.len(), 4);
        assert_eq!(record.unattributed.len(), 2);
        assert_eq!(record.discarded_emails, 1);
        assert!(record.deliveries.iter().all(|d| d.survey == "fxr-8"));
    }

    #[test]
    fn read_backs_are_counted_per_channel() {
        let requests = json!({"requests": [
            {"method": "GET", "path": "/api/conversations.history?channel=C1&oldest=1"},
            {"method": "POST", "path": "/api/conversations.history"},
            {"method": "POST", "path": "/api/chat.postMessage"},
            {"method": "GET", "path": "/teams/graph/v1.0/teams/team-billing/channels/19:billing@thread.tacv2/messages?$top=50"},
            {"method": "GET", "path": "/api/v2/coaching/appointments?userIds=u"},
            {"method": "GET", "path": "/api/v2/coaching/appointments/a-1"},
        ]});
        assert_eq!(
            read_backs(&requests),
            ReadBacks {
                slack: 1,
                teams: 1,
                coaching: 1
            }
        );
    }

    #[test]
    fn an_agent_alert_everywhere_once_is_clean() {
        let s = by_kind(Kind::Agent);
        let got = received(&[
            (Channel::Slack, &[Some(1)]),
            (Channel::Teams, &[Some(1)]),
            (Channel::Email, &[Some(1)]),
            (Channel::Coaching, &[None]),
        ]);
        let outcome = judge(&s, Some(&got), &[]);
        assert!(outcome.tally.clean(), "{:?}", outcome.problems);
        assert_eq!(outcome.tally.delivered, 4);
    }

    #[test]
    fn missing_duplicate_and_regressed_messages_are_counted() {
        let s = by_kind(Kind::AgentLateRecording);
        let got = received(&[
            (Channel::Slack, &[Some(1), Some(2), Some(2)]),
            (Channel::Teams, &[Some(2), Some(1)]),
            (Channel::Email, &[Some(1)]),
            (Channel::Coaching, &[None, None]),
        ]);
        let tally = judge(&s, Some(&got), &[]).tally;
        assert_eq!(tally.lost, 1, "e-mail never got revision 2");
        assert_eq!(
            tally.duplicated, 2,
            "one Slack repeat, one extra appointment"
        );
        assert_eq!(tally.regressions, 1);
        assert_eq!(tally.delivered, 3);
    }

    #[test]
    fn a_repeat_right_after_a_notifier_kill_is_named_and_still_fails() {
        let s = by_kind(Kind::Bot);
        let t = |ms: i64| Some(DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms));
        let got = |at| Got {
            revision: Some(1),
            at,
            ready: true,
        };
        let got: BTreeMap<Channel, Received> = [
            (Channel::Slack, vec![got(t(1_000)), got(t(9_000))]),
            (Channel::Teams, vec![got(t(1_000)), got(t(9_000))]),
        ]
        .into_iter()
        .collect();
        let kill = t(1_500).unwrap_or_default();
        let tally = judge(&s, Some(&got), &[kill]).tally;
        assert_eq!((tally.duplicated, tally.in_kill_window), (2, 2));
        assert!(!tally.clean());
        let late_kill = t(5_000).unwrap_or_default();
        let tally = judge(&s, Some(&got), &[late_kill]).tally;
        assert_eq!((tally.duplicated, tally.in_kill_window), (2, 0));
        assert!(!tally.clean());
    }

    #[test]
    fn a_recording_update_that_never_came_is_lost() {
        let s = by_kind(Kind::AgentLateRecording);
        let pending = |revision| Got {
            revision: Some(revision),
            at: None,
            ready: false,
        };
        let mut got: BTreeMap<Channel, Received> = [Channel::Slack, Channel::Teams, Channel::Email]
            .into_iter()
            .map(|c| (c, vec![pending(1)]))
            .collect();
        got.insert(
            Channel::Coaching,
            vec![Got {
                revision: None,
                at: None,
                ready: true,
            }],
        );
        assert_eq!(judge(&s, Some(&got), &[]).tally.lost, 3);
        // Ready at once (the enricher looked often enough before): one revision is all.
        for received in got.values_mut() {
            received[0].ready = true;
        }
        assert!(judge(&s, Some(&got), &[]).tally.clean());
    }

    #[test]
    fn a_late_recording_needs_revision_2_and_may_skip_revision_1() {
        let s = by_kind(Kind::AgentLateRecording);
        let got = received(&[
            (Channel::Slack, &[Some(2)]),
            (Channel::Teams, &[Some(1), Some(2)]),
            (Channel::Email, &[Some(1)]),
            (Channel::Coaching, &[None]),
        ]);
        let tally = judge(&s, Some(&got), &[]).tally;
        assert_eq!((tally.delivered, tally.lost), (3, 1));
    }

    #[test]
    fn anything_for_a_happy_customer_is_unexpected() {
        let s = by_kind(Kind::Happy);
        assert!(judge(&s, None, &[]).tally.clean());
        let got = received(&[(Channel::Slack, &[Some(1)])]);
        assert_eq!(judge(&s, Some(&got), &[]).tally.unexpected, 1);
        let bot = by_kind(Kind::Bot);
        let got = received(&[(Channel::Slack, &[Some(1)]), (Channel::Teams, &[Some(1)])]);
        assert!(judge(&bot, Some(&got), &[]).tally.clean());
        assert_eq!(judge(&bot, None, &[]).tally.lost, 2);
    }
}
