//! What to do about a recording that is not ready: pure decisions over an
//! injected time, so retry timing is tested without sleeping.
//!
//! Two modes:
//! - `immediate` (default): the alert goes out at once as `pending`; when the
//!   recording is ready a new revision carries the URL, and at the limit a
//!   final revision says `unavailable`.
//! - `wait`: the guide's literal behaviour: the alert is held until the
//!   recording is ready, or the limit passes and it goes out as `pending`.

use std::time::Duration;

use serde::Deserialize;
use survey_contracts::{EnrichedAlert, RecordingInfo, RecordingRetry};
use survey_genesys::RecordingStatus;

/// Recording statuses, as the contract names them.
pub mod status {
    /// The URL is set.
    pub const READY: &str = "ready";
    /// Still processing.
    pub const PENDING: &str = "pending";
    /// Gave up, or none exists.
    pub const UNAVAILABLE: &str = "unavailable";
}

/// When to send an alert whose recording is still processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingMode {
    /// Send at once, then re-issue with the URL.
    Immediate,
    /// Hold until ready or the limit.
    Wait,
}

/// Recording retry settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// `immediate` or `wait` (`RECORDING_MODE`).
    pub mode: RecordingMode,
    /// Time between checks (`RECORDING_CHECK_INTERVAL`, default 30s).
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// How long to keep checking (`RECORDING_GIVE_UP_AFTER`, default 5m).
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    /// `maxWaitMs` of each recordings call: how long Genesys may hold the
    /// request open for a recording about to finish.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            mode: RecordingMode::Immediate,
            check_interval: Duration::from_secs(30),
            give_up_after: Duration::from_secs(300),
            max_wait: Duration::from_millis(0),
        }
    }
}

/// What the first check of a new alert leads to.
// Built once per record and moved straight on; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FirstCheck {
    /// Issue the alert; nothing more to do.
    Issue(EnrichedAlert),
    /// Issue the alert (pending) and schedule a re-check.
    IssueAndRetry(EnrichedAlert, RecordingRetry),
    /// Hold the alert (wait mode) and schedule a re-check.
    Hold(RecordingRetry),
}

/// What a scheduled re-check leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    /// Issue this (new revision of the) alert; the retry chain ends.
    Issue(EnrichedAlert),
    /// Check again later.
    Reschedule(RecordingRetry),
}

/// Applies a recording status to an alert.
pub fn with_recording(mut alert: EnrichedAlert, status: &RecordingStatus) -> EnrichedAlert {
    alert.recording = match status {
        RecordingStatus::Ready { url } => RecordingInfo {
            status: status::READY.to_owned(),
            url: Some(url.clone()),
        },
        RecordingStatus::Pending => RecordingInfo {
            status: status::PENDING.to_owned(),
            url: None,
        },
        RecordingStatus::Unavailable => RecordingInfo {
            status: status::UNAVAILABLE.to_owned(),
            url: None,
        },
    };
    alert
}

/// Decides what a new alert (revision 1, recording applied) leads to.
pub fn first_check(alert: EnrichedAlert, settings: &RecordingSettings, now: i64) -> FirstCheck {
    if alert.recording.status != status::PENDING {
        return FirstCheck::Issue(alert);
    }
    let retry = |alert_issued| RecordingRetry {
        alert: alert.clone(),
        due_at: now + millis(settings.check_interval),
        attempt: 1,
        give_up_at: now + millis(settings.give_up_after),
        alert_issued,
    };
    match settings.mode {
        RecordingMode::Immediate => FirstCheck::IssueAndRetry(alert.clone(), retry(true)),
        RecordingMode::Wait => FirstCheck::Hold(retry(false)),
    }
}

/// Decides what a due re-check with the recording at `status` leads to.
pub fn recheck(
    retry: RecordingRetry,
    status: &RecordingStatus,
    settings: &RecordingSettings,
    now: i64,
) -> Recheck {
    let gave_up = now >= retry.give_up_at;
    let final_status = match status {
        RecordingStatus::Pending if !gave_up => {
            return Recheck::Reschedule(RecordingRetry {
                due_at: now + millis(settings.check_interval),
                attempt: retry.attempt + 1,
                ..retry
            });
        }
        // A held alert goes out as the guide says: "Recording pending".
        RecordingStatus::Pending if !retry.alert_issued => RecordingStatus::Pending,
        RecordingStatus::Pending => RecordingStatus::Unavailable,
        other => other.clone(),
    };
    let mut alert = with_recording(retry.alert, &final_status);
    if retry.alert_issued {
        alert.revision += 1;
    }
    alert.issued_at = now;
    Recheck::Issue(alert)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::tests::sample_alert;

    fn settings(mode: RecordingMode) -> RecordingSettings {
        RecordingSettings {
            mode,
            check_interval: Duration::from_millis(100),
            give_up_after: Duration::from_millis(1000),
            max_wait: Duration::ZERO,
        }
    }

    fn pending_alert() -> EnrichedAlert {
        with_recording(sample_alert(), &RecordingStatus::Pending)
    }

    #[test]
    fn a_ready_recording_issues_at_once() {
        let ready = with_recording(sample_alert(), &RecordingStatus::Ready { url: "u".into() });
        assert!(matches!(
            first_check(ready, &settings(RecordingMode::Immediate), 0),
            FirstCheck::Issue(_)
        ));
    }

    #[test]
    fn immediate_mode_issues_pending_then_a_ready_revision() {
        let settings = settings(RecordingMode::Immediate);
        let FirstCheck::IssueAndRetry(first, retry) =
            first_check(pending_alert(), &settings, 1_000)
        else {
            panic!("a pending recording must be retried");
        };
        assert_eq!(
            (first.revision, first.recording.status.as_str()),
            (1, "pending")
        );
        assert_eq!(
            (retry.due_at, retry.give_up_at, retry.attempt),
            (1_100, 2_000, 1)
        );

        // Second poll: still pending, check again.
        let Recheck::Reschedule(retry) =
            recheck(retry, &RecordingStatus::Pending, &settings, 1_100)
        else {
            panic!("still pending before the limit must reschedule");
        };
        assert_eq!((retry.due_at, retry.attempt), (1_200, 2));
        // Third poll: ready.
        let ready = RecordingStatus::Ready {
            url: "https://r/1".into(),
        };
        let Recheck::Issue(second) = recheck(retry, &ready, &settings, 1_200) else {
            panic!("ready must issue");
        };
        assert_eq!(second.revision, 2);
        assert_eq!(second.recording.url.as_deref(), Some("https://r/1"));
        assert_eq!(second.issued_at, 1_200);
    }

    #[test]
    fn immediate_mode_gives_up_with_an_unavailable_revision() {
        let settings = settings(RecordingMode::Immediate);
        let FirstCheck::IssueAndRetry(_, retry) = first_check(pending_alert(), &settings, 0) else {
            panic!("must retry");
        };
        let Recheck::Issue(last) = recheck(retry, &RecordingStatus::Pending, &settings, 1_000)
        else {
            panic!("the limit must end the chain");
        };
        assert_eq!(
            (last.revision, last.recording.status.as_str()),
            (2, "unavailable")
        );
    }

    #[test]
    fn wait_mode_holds_then_sends_once() {
        let settings = settings(RecordingMode::Wait);
        let FirstCheck::Hold(retry) = first_check(pending_alert(), &settings, 0) else {
            panic!("wait mode must hold");
        };
        assert!(!retry.alert_issued);
        let Recheck::Issue(held) =
            recheck(retry.clone(), &RecordingStatus::Pending, &settings, 1_000)
        else {
            panic!("the limit must release the alert");
        };
        assert_eq!(
            (held.revision, held.recording.status.as_str()),
            (1, "pending")
        );
        let ready = RecordingStatus::Ready { url: "u".into() };
        let Recheck::Issue(ready) = recheck(retry, &ready, &settings, 500) else {
            panic!("ready must release the alert");
        };
        assert_eq!(
            (ready.revision, ready.recording.status.as_str()),
            (1, "ready")
        );
    }
}
