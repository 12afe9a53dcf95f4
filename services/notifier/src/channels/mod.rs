//! Delivery channels: one [`Channel`] per kind of [`NotificationTarget`].
//!
//! | channel    | target address         | a later revision                     |
//! |------------|------------------------|--------------------------------------|
//! | `slack`    | channel id or name     | edits the message (`chat.update`)    |
//! | `teams`    | webhook name           | posts a follow-up card               |
//! | `email`    | e-mail address         | replies to the first mail            |
//! | `coaching` | facilitator's user id  | nothing: one appointment per alert   |
//!
//! Every failure is sorted at the boundary into [`DeliveryError::Transient`]
//! (try again later) and [`DeliveryError::Permanent`] (retrying cannot help).
//! Channels never log the customer's text, tokens or webhook URLs.
//!
//! Every message carries its [`Attempt::key`], the same through retries and
//! restarts, where the channel can find it again. When an earlier attempt
//! may have reached the channel (the notifier stopped, or a request timed
//! out, after the channel took the message but before the ledger had it),
//! [`Channel::find`] reads the channel back before anything is sent again:
//!
//! | channel    | how an earlier attempt is found                                |
//! |------------|----------------------------------------------------------------|
//! | `slack`    | `conversations.history`, by the message's metadata             |
//! | `teams`    | Microsoft Graph channel messages, by the card's key            |
//! | `email`    | not read back: the same Message-ID and Date make the resend a  |
//! |            | duplicate that mail stores discard                             |
//! | `coaching` | the facilitator's appointments, by the key in the description  |

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};

use crate::templates::RenderError;

pub mod coaching;
pub mod email;
mod http;
mod pacing;
pub mod slack;
pub mod teams;

/// What a channel reports about a delivery, for the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Slack channel id of the message.
    pub slack_channel: Option<String>,
    /// Slack message timestamp, the message's id within its channel.
    pub slack_ts: Option<String>,
    /// Message-ID of the first e-mail of the alert to this address.
    pub message_id: Option<String>,
    /// The channel's own id of the delivery (the coaching appointment id).
    pub external_id: Option<String>,
}

impl Delivered {
    /// The ids the ledger holds for an earlier delivery.
    pub fn from_record(record: &DeliveryRecord) -> Self {
        Self {
            slack_channel: record.slack_channel.clone(),
            slack_ts: record.slack_ts.clone(),
            message_id: record.message_id.clone(),
            external_id: record.external_id.clone(),
        }
    }
}

/// One revision's delivery to one target: the same through every retry and
/// restart, so that a channel can recognise an earlier attempt's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The idempotency key: 32 hex digits derived from the alert id, the
    /// revision and the target.
    pub key: String,
    /// When the first attempt started, in epoch milliseconds: the e-mail's
    /// Date, and where a read-back starts looking.
    pub started_at: i64,
}

impl Attempt {
    /// The attempt of `revision` of `alert_id` to `target`, first started at
    /// `started_at`.
    pub fn new(
        alert_id: &str,
        revision: i32,
        target: &NotificationTarget,
        started_at: i64,
    ) -> Self {
        let digest = Sha256::new()
            .chain_update(alert_id.as_bytes())
            .chain_update([0])
            .chain_update(revision.to_be_bytes())
            .chain_update(target.key().as_bytes())
            .finalize();
        Self {
            key: hex::encode(&digest[..16]),
            started_at,
        }
    }
}

/// What a read-back of a channel found about an earlier attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The channel has the message: settle it without sending again.
    Delivered(Delivered),
    /// The channel does not have it: send.
    Absent,
    /// The channel cannot tell: send again (at least once).
    Unknown,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later (network, timeout, 5xx, 429 — with the server's
    /// Retry-After when given).
    #[error("delivery failed for now: {reason}")]
    Transient {
        /// What happened.
        reason: String,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (channel_not_found, invalid webhook, other 4xx,
    /// bad address, unknown target name).
    #[error("delivery refused: {reason}")]
    Permanent {
        /// What happened.
        reason: String,
    },
}

impl DeliveryError {
    /// A transient failure without a server-given delay.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
        }
    }

    /// True for [`DeliveryError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// The server's requested delay, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            Self::Permanent { .. } => None,
        }
    }
}

impl From<RenderError> for DeliveryError {
    /// A template that fails once fails every time: permanent.
    fn from(error: RenderError) -> Self {
        Self::permanent(error.to_string())
    }
}

/// A channel's settings cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid {channel} settings: {message}")]
pub struct SetupError {
    /// `slack`, `teams`, `email` or `coaching`.
    pub channel: &'static str,
    /// What is wrong; never a secret.
    pub message: String,
}

impl SetupError {
    pub(crate) fn new(channel: &'static str, message: impl Into<String>) -> Self {
        Self {
            channel,
            message: message.into(),
        }
    }
}

/// A way to tell a supervisor.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Delivers `alert` to `target.address`. `previous` is the ledger's
    /// record of an earlier revision delivered to the same target, if any:
    /// Slack then updates that message in place (chat.update with its
    /// channel+ts), e-mail sends a short follow-up referencing the first mail
    /// (In-Reply-To/References = previous.message_id), Teams posts a
    /// follow-up card, coaching does nothing new for a later revision
    /// (returns the previous ids). The message carries `attempt.key`.
    async fn deliver(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError>;

    /// Looks in the channel for the message of an earlier `attempt` that may
    /// have arrived. Called only when one may have: never on a first try.
    async fn find(
        &self,
        _alert: &EnrichedAlert,
        _target: &NotificationTarget,
        _previous: Option<&DeliveryRecord>,
        _attempt: &Attempt,
    ) -> Result<Found, DeliveryError> {
        Ok(Found::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_alert_revision_and_target() {
        let slack = NotificationTarget {
            channel: "slack".to_owned(),
            address: "#cx".to_owned(),
        };
        let email = NotificationTarget {
            channel: "email".to_owned(),
            address: "#cx".to_owned(),
        };
        let key = Attempt::new("a-1", 1, &slack, 5).key;
        assert_eq!(key.len(), 32);
        assert_eq!(Attempt::new("a-1", 1, &slack, 9).key, key);
        assert_ne!(Attempt::new("a-1", 2, &slack, 5).key, key);
        assert_ne!(Attempt::new("a-2", 1, &slack, 5).key, key);
        assert_ne!(Attempt::new("a-1", 1, &email, 5).key, key);
    }
}
