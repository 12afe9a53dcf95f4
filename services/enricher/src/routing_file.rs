//! The operator's routing file: where each queue's alerts go. Genesys knows
//! who supervises a queue, but not their Slack channel or Teams webhook, so
//! an operator says that here.
//!
//! ```yaml
//! default:                 # when nothing else matches
//!   slack: "#cx-alerts"
//! bot_team:                # interactions a bot or flow handled
//!   slack: "#bot-dev"
//!   teams: bot-dev         # a webhook *name*; the notifier maps it to its URL
//! queues:
//!   "3b4c…":               # Genesys queue id
//!     name: Billing Support
//!     supervisors: ["9f1e…"]   # Genesys user ids
//!     slack: "#billing-supervisors"
//!     emails: [billing-leads@example.com]
//!     coaching: true
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use survey_contracts::NotificationTarget;

/// Where alerts go, in the file's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Destinations {
    /// Slack channel name or id.
    pub slack: Option<String>,
    /// Teams incoming-webhook name, resolved by the notifier.
    pub teams: Option<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
}

impl Destinations {
    /// The notification targets these destinations stand for.
    pub fn targets(&self) -> Vec<NotificationTarget> {
        let slack = self
            .slack
            .iter()
            .map(|channel| NotificationTarget::new("slack", channel));
        let teams = self
            .teams
            .iter()
            .map(|name| NotificationTarget::new("teams", name));
        let emails = self
            .emails
            .iter()
            .map(|address| NotificationTarget::new("email", address));
        slack.chain(teams).chain(emails).collect()
    }
}

/// One queue's routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueRoute {
    /// Queue name, if the API is not asked.
    pub name: Option<String>,
    /// Genesys user ids of the queue's supervisors.
    pub supervisors: Vec<String>,
    /// Where the queue's alerts go.
    #[serde(flatten)]
    pub destinations: Destinations,
    /// Create a Genesys coaching appointment for the agent.
    pub coaching: bool,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingFile {
    /// Used when no other rule yields a target.
    pub default: Destinations,
    /// Used for bot- or flow-handled interactions.
    pub bot_team: Destinations,
    /// Per queue id.
    pub queues: BTreeMap<String, QueueRoute>,
}

impl RoutingFile {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and validates a file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: Self = serde_yaml::from_str(text).context("invalid routing file")?;
        anyhow::ensure!(
            !file.default.targets().is_empty(),
            "the routing file needs a `default` destination, so that no alert goes nowhere"
        );
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let file = RoutingFile::parse(
            r##"
default: { slack: "#cx-alerts" }
bot_team: { slack: "#bot-dev", teams: bot-dev }
queues:
  q-1:
    name: Billing Support
    supervisors: [u-1, u-2]
    slack: "#billing"
    emails: [leads@example.com]
    coaching: true
"##,
        );
        let file = file.unwrap_or_else(|e| panic!("{e:#}"));
        let queue = &file.queues["q-1"];
        assert!(queue.coaching);
        assert_eq!(queue.supervisors, vec!["u-1", "u-2"]);
        let keys: Vec<_> = queue
            .destinations
            .targets()
            .iter()
            .map(NotificationTarget::key)
            .collect();
        assert_eq!(keys, vec!["slack:#billing", "email:leads@example.com"]);
        assert_eq!(file.bot_team.targets().len(), 2);
    }

    #[test]
    fn a_file_without_a_default_or_with_typos_is_refused() {
        assert!(RoutingFile::parse("queues: {}").is_err());
        assert!(RoutingFile::parse("default: { slak: \"#x\" }").is_err());
    }
}
