//! Genesys Cloud coaching appointments: the target's address is the
//! facilitator (a supervisor's user id), the agent attends, and the
//! interaction is attached for review. One appointment per alert and
//! facilitator: a later revision changes nothing and returns the first
//! appointment's id.
//!
//! The appointment's name and description carry the score, queue and
//! reasons, never the customer's comment: attendees see the appointment.
//! The description's last line is `Ref: <attempt key>`, and the session
//! starts `starts_after` past the attempt's first try, so that
//! [`Channel::find`] can list the agent's appointments with the facilitator
//! around that start and recognise an earlier attempt's one.
//! Bot and unassigned interactions have no one to coach, which is permanent.
//! Errors the Genesys client calls retriable are transient, the rest
//! permanent.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};
use survey_genesys::{
    CoachingAppointmentQuery, CoachingAppointmentRequest, GenesysClient, GenesysError,
};

use super::{Attempt, Channel, Delivered, DeliveryError, Found};
use crate::templates::AlertView;

/// How far from the planned start [`Channel::find`] looks: Genesys rounds
/// the start down to the minute, and a facilitator may already have moved
/// the session.
const FIND_MARGIN: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// What the appointments look like.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoachingSettings {
    /// Length of the session in minutes (`30`).
    pub length_in_minutes: u32,
    /// How long after the delivery's first try the session starts (`1d`);
    /// the facilitator can move it in Genesys Cloud.
    #[serde(with = "humantime_serde")]
    pub starts_after: Duration,
}

impl Default for CoachingSettings {
    fn default() -> Self {
        Self {
            length_in_minutes: 30,
            starts_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Creates coaching appointments in Genesys Cloud.
#[derive(Debug)]
pub struct CoachingChannel {
    genesys: GenesysClient,
    settings: CoachingSettings,
}

impl CoachingChannel {
    /// A channel on `genesys`.
    pub fn new(genesys: GenesysClient, settings: CoachingSettings) -> Self {
        Self { genesys, settings }
    }

    /// When the appointment of `attempt` starts: derived from the first try,
    /// not the current time, so that every retry and [`Channel::find`] agree.
    fn date_start(&self, attempt: &Attempt) -> Result<DateTime<Utc>, DeliveryError> {
        let starts_after = chrono::Duration::from_std(self.settings.starts_after)
            .map_err(|_| DeliveryError::permanent("starts_after is out of range"))?;
        DateTime::from_timestamp_millis(attempt.started_at)
            .and_then(|started| started.checked_add_signed(starts_after))
            .ok_or_else(|| DeliveryError::permanent("the appointment start is out of range"))
    }

    /// The appointment for `alert`, or why there is none.
    fn request(
        &self,
        alert: &EnrichedAlert,
        facilitator: &str,
        attempt: &Attempt,
    ) -> Result<CoachingAppointmentRequest, DeliveryError> {
        let interaction = &alert.interaction;
        let agent_id = interaction
            .agent_id
            .as_deref()
            .filter(|id| interaction.handled_by == "agent" && !id.trim().is_empty())
            .ok_or_else(|| DeliveryError::permanent("no agent to coach"))?;
        let facilitator = facilitator.trim();
        if facilitator.is_empty() {
            return Err(DeliveryError::permanent("no facilitator user id"));
        }
        let date_start = self.date_start(attempt)?;
        let view = AlertView::new(alert, false);
        let reasons = view
            .reasons
            .iter()
            .map(|reason| reason.text.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(CoachingAppointmentRequest {
            name: format!("Survey follow-up: {} ({})", view.agent, view.score),
            description: format!(
                "A customer rated interaction {} {} (queue {}, survey submitted {}). \
                 Why: {reasons}. Review it in Genesys Cloud: {}\nRef: {}",
                view.interaction_id,
                view.score,
                view.queue,
                view.submitted_at,
                view.interaction_link,
                attempt.key
            ),
            date_start: date_start.to_rfc3339_opts(SecondsFormat::Secs, true),
            length_in_minutes: self.settings.length_in_minutes,
            attendee_ids: vec![agent_id.to_owned()],
            facilitator_id: Some(facilitator.to_owned()),
            conversation_ids: vec![interaction.id.clone()],
        })
    }
}

#[async_trait]
impl Channel for CoachingChannel {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision)
    )]
    async fn deliver(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        if let Some(previous) = previous {
            tracing::debug!("coaching appointment already created for an earlier revision");
            return Ok(Delivered::from_record(previous));
        }
        let request = self.request(alert, &target.address, attempt)?;
        let appointment = self
            .genesys
            .create_coaching_appointment(&request)
            .await
            .map_err(|error| delivery_error("coaching appointment", &error))?;
        tracing::debug!(appointment_id = %appointment.id, "coaching appointment created");
        Ok(appointment_delivered(appointment.id))
    }

    /// Lists the agent's appointments with the facilitator around the start
    /// `deliver` would give, for one whose description carries the key.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(alert_id = %alert.alert_id, revision = alert.revision)
    )]
    async fn find(
        &self,
        alert: &EnrichedAlert,
        target: &NotificationTarget,
        previous: Option<&DeliveryRecord>,
        attempt: &Attempt,
    ) -> Result<Found, DeliveryError> {
        if let Some(previous) = previous {
            // A later revision creates nothing, so there is nothing to duplicate.
            return Ok(Found::Delivered(Delivered::from_record(previous)));
        }
        let request = self.request(alert, &target.address, attempt)?;
        let date_start = self.date_start(attempt)?;
        let interval = date_start
            .checked_sub_signed(FIND_MARGIN)
            .zip(date_start.checked_add_signed(FIND_MARGIN))
            .ok_or_else(|| DeliveryError::permanent("the appointment start is out of range"))?;
        let query = CoachingAppointmentQuery {
            user_ids: request.attendee_ids,
            facilitator_ids: request.facilitator_id.into_iter().collect(),
            interval: Some(interval),
        };
        let appointments = self
            .genesys
            .coaching_appointments(&query)
            .await
            .map_err(|error| delivery_error("coaching appointments", &error))?;
        let found = appointments.into_iter().find(|appointment| {
            appointment
                .description
                .as_deref()
                .is_some_and(|description| carries_key(description, &attempt.key))
        });
        Ok(match found {
            Some(appointment) => {
                tracing::debug!(appointment_id = %appointment.id, "coaching appointment found");
                Found::Delivered(appointment_delivered(appointment.id))
            }
            None => Found::Absent,
        })
    }
}

/// What the ledger keeps of an appointment.
fn appointment_delivered(id: String) -> Delivered {
    Delivered {
        external_id: Some(id),
        ..Delivered::default()
    }
}

/// The client's verdict as a delivery error.
fn delivery_error(what: &str, error: &GenesysError) -> DeliveryError {
    let reason = format!("{what}: {error}");
    if error.is_retriable() {
        DeliveryError::transient(reason)
    } else {
        DeliveryError::permanent(reason)
    }
}

/// Whether `description` has `Ref: <key>` with exactly this key. Words, not
/// lines, in case Genesys folds the line breaks.
fn carries_key(description: &str, key: &str) -> bool {
    let words: Vec<&str> = description.split_whitespace().collect();
    words.windows(2).any(|pair| pair == ["Ref:", key])
}

#[cfg(test)]
mod tests {
    use super::carries_key;

    #[test]
    fn only_the_exact_key_counts() {
        let key = "0123456789abcdef0123456789abcdef";
        assert!(carries_key(&format!("Why: low score.\nRef: {key}"), key));
        assert!(carries_key(&format!("Why: low score. Ref: {key}"), key));
        assert!(!carries_key(&format!("Ref: {key}0"), key));
        assert!(!carries_key(&format!("Ref: x{key}"), key));
        assert!(!carries_key(&format!("Ref:{key}"), key));
        assert!(!carries_key("Why: low score.", key));
    }
}
