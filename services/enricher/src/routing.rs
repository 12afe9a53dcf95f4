//! Who must act on an alert, and where to tell them. Pure: every lookup has
//! happened before, and its answers come in as [`RoutingInput`].
//!
//! The rules, from the integration guide:
//! - a bot or flow handled the interaction → the bot team;
//! - nobody was assigned (abandoned in queue) → the queue's supervisors;
//! - an agent handled it → the queue's supervisors, and the agent's superiors
//!   only when the queue names none (`managerId` is often stale);
//! - whatever yields no target → the default target, and it is logged.

use survey_contracts::{NotificationTarget, Person, QueueDirectoryEntry, Routing};

use crate::routing_file::RoutingFile;

/// Who handled the interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandledBy {
    /// A human agent.
    Agent {
        /// User id.
        user_id: String,
        /// Display name, when known.
        name: Option<String>,
    },
    /// A bot or Architect flow, and no agent.
    Bot {
        /// Flow name, when known.
        flow: Option<String>,
    },
    /// Nobody: queued and abandoned, or never assigned.
    Unassigned,
}

impl HandledBy {
    /// The contract's name for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Agent { .. } => "agent",
            Self::Bot { .. } => "bot",
            Self::Unassigned => "unassigned",
        }
    }
}

/// Routing kinds, as the contract names them.
pub mod kind {
    /// The queue's supervisors.
    pub const QUEUE_SUPERVISORS: &str = "queue_supervisors";
    /// The agent's superiors.
    pub const AGENT_SUPERIORS: &str = "agent_superiors";
    /// The bot development team.
    pub const BOT_TEAM: &str = "bot_team";
    /// The default target.
    pub const FALLBACK: &str = "fallback";
}

/// Everything routing depends on.
#[derive(Debug)]
pub struct RoutingInput<'a> {
    /// Who handled it.
    pub handled_by: &'a HandledBy,
    /// The queue's directory entry, if the queue is known.
    pub queue: Option<&'a QueueDirectoryEntry>,
    /// The agent's superiors; asked for only when the queue names no
    /// supervisors.
    pub agent_superiors: &'a [Person],
    /// The operator's routing file.
    pub file: &'a RoutingFile,
}

/// True when routing needs the agent's superiors (so the caller asks the API
/// only then).
pub fn needs_superiors(handled_by: &HandledBy, queue: Option<&QueueDirectoryEntry>) -> bool {
    matches!(handled_by, HandledBy::Agent { .. })
        && queue.is_none_or(|entry| entry.supervisors.is_empty())
}

/// Resolves the recipients of an alert.
pub fn resolve(input: &RoutingInput<'_>) -> Routing {
    let queue_supervisors: &[Person] = input.queue.map_or(&[], |entry| &entry.supervisors);
    let queue_targets: &[NotificationTarget] = input.queue.map_or(&[], |entry| &entry.targets);
    let routing = match input.handled_by {
        HandledBy::Bot { .. } => Routing {
            kind: kind::BOT_TEAM.to_owned(),
            supervisors: Vec::new(),
            targets: input.file.bot_team.targets(),
        },
        HandledBy::Unassigned => Routing {
            kind: kind::QUEUE_SUPERVISORS.to_owned(),
            supervisors: queue_supervisors.to_vec(),
            targets: with_emails(queue_targets, queue_supervisors),
        },
        HandledBy::Agent { user_id, .. } => {
            let (kind, supervisors) = if queue_supervisors.is_empty() {
                (kind::AGENT_SUPERIORS, input.agent_superiors)
            } else {
                (kind::QUEUE_SUPERVISORS, queue_supervisors)
            };
            let mut targets = with_emails(queue_targets, supervisors);
            let coaching = input.queue.is_some_and(|entry| entry.coaching);
            let facilitator = supervisors
                .iter()
                .find_map(|person| person.user_id.as_deref());
            if let (true, Some(facilitator)) = (coaching, facilitator) {
                targets.push(NotificationTarget::new("coaching", facilitator));
            }
            debug_assert!(!user_id.is_empty());
            Routing {
                kind: kind.to_owned(),
                supervisors: supervisors.to_vec(),
                targets,
            }
        }
    };
    if routing.targets.is_empty() {
        return Routing {
            kind: kind::FALLBACK.to_owned(),
            supervisors: routing.supervisors,
            targets: input.file.default.targets(),
        };
    }
    routing
}

/// The queue's explicit targets; without any, the supervisors' e-mails.
fn with_emails(targets: &[NotificationTarget], supervisors: &[Person]) -> Vec<NotificationTarget> {
    if !targets.is_empty() {
        return targets.to_vec();
    }
    let mut emails: Vec<NotificationTarget> = supervisors
        .iter()
        .filter_map(|person| person.email.as_deref())
        .map(|email| NotificationTarget::new("email", email))
        .collect();
    emails.sort();
    emails.dedup();
    emails
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing_file::Destinations;

    fn file() -> RoutingFile {
        RoutingFile {
            default: Destinations {
                slack: Some("#cx-alerts".into()),
                ..Destinations::default()
            },
            bot_team: Destinations {
                slack: Some("#bot-dev".into()),
                ..Destinations::default()
            },
            queues: Default::default(),
        }
    }

    fn person(id: &str, email: Option<&str>) -> Person {
        Person {
            user_id: Some(id.into()),
            name: Some(format!("Name {id}")),
            email: email.map(String::from),
        }
    }

    fn queue(
        supervisors: Vec<Person>,
        targets: Vec<NotificationTarget>,
        coaching: bool,
    ) -> QueueDirectoryEntry {
        QueueDirectoryEntry {
            queue_id: "q".into(),
            name: Some("Billing".into()),
            supervisors,
            targets,
            coaching,
            updated_at: 0,
            source: "routing_file".into(),
        }
    }

    fn agent() -> HandledBy {
        HandledBy::Agent {
            user_id: "agent-1".into(),
            name: None,
        }
    }

    fn keys(routing: &Routing) -> Vec<String> {
        routing
            .targets
            .iter()
            .map(NotificationTarget::key)
            .collect()
    }

    #[test]
    fn a_bot_conversation_goes_to_the_bot_team() {
        let file = file();
        let queue = queue(
            vec![person("s", None)],
            vec![NotificationTarget::new("slack", "#q")],
            false,
        );
        let routing = resolve(&RoutingInput {
            handled_by: &HandledBy::Bot { flow: None },
            queue: Some(&queue),
            agent_superiors: &[],
            file: &file,
        });
        assert_eq!(routing.kind, kind::BOT_TEAM);
        assert_eq!(keys(&routing), vec!["slack:#bot-dev"]);
    }

    #[test]
    fn an_unassigned_conversation_goes_to_the_queue_supervisors() {
        let file = file();
        let queue = queue(vec![person("s", Some("s@example.com"))], vec![], false);
        let routing = resolve(&RoutingInput {
            handled_by: &HandledBy::Unassigned,
            queue: Some(&queue),
            agent_superiors: &[],
            file: &file,
        });
        assert_eq!(routing.kind, kind::QUEUE_SUPERVISORS);
        assert_eq!(keys(&routing), vec!["email:s@example.com"]);
    }

    #[test]
    fn an_agent_conversation_goes_to_the_queue_first_with_coaching() {
        let file = file();
        let queue = queue(
            vec![person("s", Some("s@example.com"))],
            vec![NotificationTarget::new("slack", "#billing")],
            true,
        );
        assert!(!needs_superiors(&agent(), Some(&queue)));
        let routing = resolve(&RoutingInput {
            handled_by: &agent(),
            queue: Some(&queue),
            agent_superiors: &[person("boss", Some("boss@example.com"))],
            file: &file,
        });
        assert_eq!(routing.kind, kind::QUEUE_SUPERVISORS);
        assert_eq!(keys(&routing), vec!["slack:#billing", "coaching:s"]);
    }

    #[test]
    fn without_queue_supervisors_the_agents_superiors_are_used() {
        let file = file();
        let queue = queue(
            vec![],
            vec![NotificationTarget::new("slack", "#billing")],
            false,
        );
        assert!(needs_superiors(&agent(), Some(&queue)));
        assert!(needs_superiors(&agent(), None));
        let superiors = [person("boss", Some("boss@example.com"))];
        let routing = resolve(&RoutingInput {
            handled_by: &agent(),
            queue: Some(&queue),
            agent_superiors: &superiors,
            file: &file,
        });
        assert_eq!(routing.kind, kind::AGENT_SUPERIORS);
        assert_eq!(keys(&routing), vec!["slack:#billing"]);
        let unknown_queue = resolve(&RoutingInput {
            handled_by: &agent(),
            queue: None,
            agent_superiors: &superiors,
            file: &file,
        });
        assert_eq!(keys(&unknown_queue), vec!["email:boss@example.com"]);
    }

    #[test]
    fn nothing_to_go_on_means_the_default_target() {
        let file = file();
        for handled_by in [agent(), HandledBy::Unassigned] {
            let routing = resolve(&RoutingInput {
                handled_by: &handled_by,
                queue: None,
                agent_superiors: &[],
                file: &file,
            });
            assert_eq!(routing.kind, kind::FALLBACK);
            assert_eq!(keys(&routing), vec!["slack:#cx-alerts"]);
        }
    }
}
