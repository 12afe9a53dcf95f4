//! Genesys Cloud coaching appointments: the target's address is the
//! facilitator (a supervisor's user id), the agent attends, and the
//! interaction is attached for review. One appointment per alert and
//! facilitator: a later revision changes nothing and returns the first
//! appointment's id.
//!
//! The appointment's name and description carry the score, queue and
//! reasons, never the customer's comment: attendees see the appointment.
//! Bot and unassigned interactions have no one to coach, which is permanent.
//! Errors the Genesys client calls retriable are transient, the rest
//! permanent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use survey_contracts::{DeliveryRecord, EnrichedAlert, NotificationTarget};
use survey_genesys::{CoachingAppointmentRequest, GenesysClient};

use super::{Attempt, Channel, Delivered, DeliveryError};
use crate::templates::AlertView;

/// What the appointments look like.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoachingSettings {
    /// Length of the session in minutes (`30`).
    pub length_in_minutes: u32,
    /// How long after the alert the session starts (`1d`); the facilitator
    /// can move it in Genesys Cloud.
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

/// The current time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Creates coaching appointments in Genesys Cloud.
pub struct CoachingChannel {
    genesys: GenesysClient,
    settings: CoachingSettings,
    clock: Clock,
}

impl fmt::Debug for CoachingChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoachingChannel")
            .field("genesys", &self.genesys)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CoachingChannel {
    /// A channel on `genesys`, timed by the system clock.
    pub fn new(genesys: GenesysClient, settings: CoachingSettings) -> Self {
        Self {
            genesys,
            settings,
            clock: Arc::new(Utc::now),
        }
    }

    /// The same channel timed by `clock`, for tests.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The appointment for `alert`, or why there is none.
    fn request(
        &self,
        alert: &EnrichedAlert,
        facilitator: &str,
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
        let starts_after = chrono::Duration::from_std(self.settings.starts_after)
            .map_err(|_| DeliveryError::permanent("starts_after is out of range"))?;
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
                 Why: {reasons}. Review it in Genesys Cloud: {}",
                view.interaction_id,
                view.score,
                view.queue,
                view.submitted_at,
                view.interaction_link
            ),
            date_start: ((self.clock)() + starts_after).to_rfc3339_opts(SecondsFormat::Secs, true),
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
        _attempt: &Attempt,
    ) -> Result<Delivered, DeliveryError> {
        if let Some(previous) = previous {
            tracing::debug!("coaching appointment already created for an earlier revision");
            return Ok(Delivered::from_record(previous));
        }
        let request = self.request(alert, &target.address)?;
        let appointment = self
            .genesys
            .create_coaching_appointment(&request)
            .await
            .map_err(|error| {
                let reason = format!("coaching appointment: {error}");
                if error.is_retriable() {
                    DeliveryError::transient(reason)
                } else {
                    DeliveryError::permanent(reason)
                }
            })?;
        tracing::debug!(appointment_id = %appointment.id, "coaching appointment created");
        Ok(Delivered {
            external_id: Some(appointment.id),
            ..Delivered::default()
        })
    }
}
