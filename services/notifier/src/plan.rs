//! Delivery decisions, free of I/O: which targets still need an alert, how
//! a delivery begins, and what a delivery attempt leads to.

use std::time::Duration;

use survey_contracts::{
    DeliveryIntent, DeliveryRecord, DeliveryRetry, EnrichedAlert, NotificationTarget,
};

use crate::channels::{Attempt, Delivered, DeliveryError};
use crate::config::RetrySettings;
use crate::ledger::DeliveryLedger;

/// One target that needs this revision, with what it already has.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Where to deliver.
    pub target: NotificationTarget,
    /// The ledger's record of an earlier revision there, if any.
    pub previous: Option<DeliveryRecord>,
}

/// The targets of `alert` that do not have its revision yet. A target that
/// has this or a newer revision is skipped: redeliveries and late retries
/// never send twice, and revisions never regress.
pub fn pending_targets(alert: &EnrichedAlert, ledger: &DeliveryLedger) -> Vec<Pending> {
    let mut targets = alert.routing.targets.clone();
    targets.sort();
    targets.dedup();
    targets
        .into_iter()
        .filter_map(|target| {
            let previous = ledger.get(&alert.alert_id, &target);
            match &previous {
                Some(done) if done.revision >= alert.revision => None,
                _ => Some(Pending { target, previous }),
            }
        })
        .collect()
}

/// How the delivery of a revision to a target begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Nothing was tried yet: write the intent, and send once it is
    /// acknowledged.
    Fresh(DeliveryIntent),
    /// This instance tried before and may have reached the channel (it
    /// stopped, or the channel failed or timed out after taking the
    /// message): read the channel back before sending again, under the same
    /// key.
    Resume(Attempt),
    /// Another instance's claim ran out, or nobody holds it (released while
    /// it waits for a retry): write the claim (same key and first start),
    /// then read the channel back.
    TakeOver(DeliveryIntent),
    /// Another instance claimed it within the lease and may still be
    /// sending (a rebalance handed this input over mid-delivery): try again
    /// after the wait, by when its ledger record has most likely arrived.
    Wait(Duration),
}

/// Begins delivering `alert` to `target` as `owner`, given the intent
/// already recorded for that target, if any. Another owner's claim is left
/// alone for `lease`.
pub fn start(
    alert: &EnrichedAlert,
    target: &NotificationTarget,
    begun: Option<DeliveryIntent>,
    owner: &str,
    lease: Duration,
    now: i64,
) -> Start {
    match begun {
        Some(intent) if intent.revision == alert.revision && intent.owner == owner => {
            Start::Resume(Attempt {
                key: intent.attempt_key,
                started_at: intent.started_at,
            })
        }
        Some(intent) if intent.revision == alert.revision => {
            let lease_ends = intent
                .claimed_at
                .saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
            if now < lease_ends && !intent.owner.is_empty() {
                Start::Wait(Duration::from_millis(
                    u64::try_from(lease_ends - now).unwrap_or(0),
                ))
            } else {
                Start::TakeOver(DeliveryIntent {
                    owner: owner.to_owned(),
                    claimed_at: now,
                    ..intent
                })
            }
        }
        _ => {
            let attempt = Attempt::new(&alert.alert_id, alert.revision, target, now);
            Start::Fresh(DeliveryIntent {
                alert_id: alert.alert_id.clone(),
                target: target.clone(),
                revision: alert.revision,
                attempt_key: attempt.key,
                started_at: now,
                owner: owner.to_owned(),
                claimed_at: now,
            })
        }
    }
}

/// What one delivery attempt leads to.
// Built once per record and moved straight on; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// Delivered: write the ledger record.
    Delivered(DeliveryRecord),
    /// Failed transiently: schedule another attempt.
    Retry(DeliveryRetry),
    /// Failed for good, or too often: dead-letter it with the reason.
    GiveUp {
        /// Stable reason code.
        code: &'static str,
        /// What happened.
        reason: String,
    },
}

/// Decides what an attempt (`attempt` counts from 1) came to.
pub fn after_attempt(
    alert: &EnrichedAlert,
    pending: &Pending,
    result: Result<Delivered, DeliveryError>,
    attempt: i32,
    settings: &RetrySettings,
    now: i64,
) -> AttemptOutcome {
    match result {
        Ok(delivered) => AttemptOutcome::Delivered(DeliveryRecord {
            alert_id: alert.alert_id.clone(),
            target: pending.target.clone(),
            revision: alert.revision,
            delivered_at: now,
            // A follow-up keeps pointing at the first message.
            slack_channel: delivered.slack_channel.or_else(|| {
                pending
                    .previous
                    .as_ref()
                    .and_then(|p| p.slack_channel.clone())
            }),
            slack_ts: delivered
                .slack_ts
                .or_else(|| pending.previous.as_ref().and_then(|p| p.slack_ts.clone())),
            message_id: pending
                .previous
                .as_ref()
                .and_then(|p| p.message_id.clone())
                .or(delivered.message_id),
            external_id: delivered.external_id.or_else(|| {
                pending
                    .previous
                    .as_ref()
                    .and_then(|p| p.external_id.clone())
            }),
        }),
        Err(DeliveryError::Permanent { reason }) => AttemptOutcome::GiveUp {
            code: "permanent_failure",
            reason,
        },
        Err(DeliveryError::Transient { .. }) if attempt >= settings.max_attempts => {
            AttemptOutcome::GiveUp {
                code: "retries_exhausted",
                reason: format!("still failing after {attempt} attempts"),
            }
        }
        Err(DeliveryError::Transient {
            reason,
            retry_after,
        }) => {
            let wait = retry_after.unwrap_or_else(|| backoff(attempt, settings));
            AttemptOutcome::Retry(DeliveryRetry {
                alert: alert.clone(),
                target: pending.target.clone(),
                due_at: now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
                attempt,
                last_error: reason,
            })
        }
    }
}

/// Exponential back-off from the initial wait, capped.
fn backoff(attempt: i32, settings: &RetrySettings) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    settings
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.max_backoff)
}

#[cfg(test)]
mod tests {
    use survey_contracts::{AlertSurvey, Interaction, RecordingInfo, Routing};

    use super::*;

    fn alert(revision: i32) -> EnrichedAlert {
        EnrichedAlert {
            alert_id: "a".into(),
            revision,
            issued_at: 0,
            survey: AlertSurvey {
                response_id: "a".into(),
                survey_id: None,
                submitted_at: 0,
                received_at: 0,
                csat: 1,
                comment: None,
                reasons: vec![],
            },
            interaction: Interaction {
                id: "c".into(),
                media_type: None,
                direction: None,
                started_at: None,
                ended_at: None,
                queue_id: None,
                queue_name: None,
                handled_by: "agent".into(),
                agent_id: Some("u".into()),
                agent_name: None,
                flow_name: None,
                wrap_up_code: None,
                link: "l".into(),
            },
            recording: RecordingInfo {
                status: "pending".into(),
                url: None,
            },
            transcript_summary: None,
            routing: Routing {
                kind: "queue_supervisors".into(),
                supervisors: vec![],
                targets: vec![
                    NotificationTarget::new("slack", "#b"),
                    NotificationTarget::new("email", "x@example.com"),
                    NotificationTarget::new("slack", "#b"),
                ],
            },
            trace_context: Default::default(),
        }
    }

    fn delivered(target: NotificationTarget, revision: i32) -> DeliveryRecord {
        DeliveryRecord {
            alert_id: "a".into(),
            target,
            revision,
            delivered_at: 1,
            slack_channel: Some("C1".into()),
            slack_ts: Some("1.1".into()),
            message_id: Some("<m1>".into()),
            external_id: None,
        }
    }

    #[test]
    fn each_target_once_per_revision() {
        let ledger = DeliveryLedger::default();
        assert_eq!(
            pending_targets(&alert(1), &ledger).len(),
            2,
            "duplicate targets collapse"
        );
        ledger.record(delivered(NotificationTarget::new("slack", "#b"), 1));
        let pending = pending_targets(&alert(1), &ledger);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].target.channel, "email");
        // Revision 2 goes to both; Slack knows its previous message.
        let pending = pending_targets(&alert(2), &ledger);
        assert_eq!(pending.len(), 2);
        let slack = pending.iter().find(|p| p.target.channel == "slack");
        assert_eq!(
            slack.and_then(|p| p.previous.as_ref()).map(|p| p.revision),
            Some(1)
        );
        // A late revision 1 after revision 2 was delivered: nothing.
        ledger.record(delivered(NotificationTarget::new("slack", "#b"), 2));
        ledger.record(delivered(NotificationTarget::new("slack", "#b"), 1));
        assert!(
            pending_targets(&alert(1), &ledger)
                .iter()
                .all(|p| p.target.channel != "slack")
        );
        assert_eq!(
            ledger
                .get("a", &NotificationTarget::new("slack", "#b"))
                .map(|r| r.revision),
            Some(2)
        );
    }

    #[test]
    fn a_delivery_resumes_only_the_revision_it_began() {
        let target = NotificationTarget::new("email", "x@example.com");
        let lease = Duration::from_secs(30);
        let Start::Fresh(intent) = start(&alert(1), &target, None, "n-0", lease, 1_000) else {
            panic!("nothing was begun, yet it resumes");
        };
        assert_eq!(
            (intent.revision, intent.started_at, intent.attempt_key.len()),
            (1, 1_000, 32)
        );
        assert_eq!((intent.owner.as_str(), intent.claimed_at), ("n-0", 1_000));
        // After a restart, the same revision keeps its key and first start.
        assert_eq!(
            start(
                &alert(1),
                &target,
                Some(intent.clone()),
                "n-0",
                lease,
                9_000
            ),
            Start::Resume(Attempt {
                key: intent.attempt_key.clone(),
                started_at: 1_000,
            })
        );
        // A later revision is a new delivery with a key of its own.
        let Start::Fresh(next) = start(
            &alert(2),
            &target,
            Some(intent.clone()),
            "n-0",
            lease,
            9_000,
        ) else {
            panic!("revision 2 resumed revision 1");
        };
        assert_ne!(next.attempt_key, intent.attempt_key);
        assert_eq!(next.started_at, 9_000);
    }

    #[test]
    fn another_instances_claim_is_left_to_it_until_the_lease_ends() {
        let target = NotificationTarget::new("slack", "#b");
        let lease = Duration::from_secs(30);
        let Start::Fresh(theirs) = start(&alert(1), &target, None, "n-0", lease, 1_000) else {
            panic!("nothing was begun, yet it resumes");
        };
        assert_eq!(
            start(
                &alert(1),
                &target,
                Some(theirs.clone()),
                "n-1",
                lease,
                21_000
            ),
            Start::Wait(Duration::from_secs(10))
        );
        let Start::TakeOver(ours) = start(
            &alert(1),
            &target,
            Some(theirs.clone()),
            "n-1",
            lease,
            31_000,
        ) else {
            panic!("the lease ran out, yet it waits");
        };
        assert_eq!(
            (ours.owner.as_str(), ours.claimed_at, ours.started_at),
            ("n-1", 31_000, 1_000)
        );
        assert_eq!(ours.attempt_key, theirs.attempt_key);
        // Released for a retry: anyone takes it at once.
        let released = DeliveryIntent {
            owner: String::new(),
            claimed_at: 0,
            ..theirs
        };
        assert!(matches!(
            start(&alert(1), &target, Some(released), "n-1", lease, 2_000),
            Start::TakeOver(_)
        ));
    }

    #[test]
    fn outcomes_of_an_attempt() {
        let settings = RetrySettings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_attempts: 5,
        };
        let pending = Pending {
            target: NotificationTarget::new("slack", "#b"),
            previous: Some(delivered(NotificationTarget::new("slack", "#b"), 1)),
        };
        let update = Delivered {
            slack_channel: None,
            slack_ts: None,
            message_id: None,
            external_id: None,
        };
        let AttemptOutcome::Delivered(record) =
            after_attempt(&alert(2), &pending, Ok(update), 1, &settings, 50)
        else {
            panic!("a success is recorded");
        };
        assert_eq!(
            (record.revision, record.slack_ts.as_deref()),
            (2, Some("1.1"))
        );

        let transient = |retry_after| {
            Err(DeliveryError::Transient {
                reason: "503".into(),
                retry_after,
            })
        };
        let AttemptOutcome::Retry(retry) =
            after_attempt(&alert(1), &pending, transient(None), 3, &settings, 0)
        else {
            panic!("transient failures are retried");
        };
        assert_eq!((retry.attempt, retry.due_at), (3, 4_000));
        let AttemptOutcome::Retry(retry) = after_attempt(
            &alert(1),
            &pending,
            transient(Some(Duration::from_secs(7))),
            1,
            &settings,
            0,
        ) else {
            panic!("transient failures are retried");
        };
        assert_eq!(retry.due_at, 7_000, "Retry-After wins");
        assert!(matches!(
            after_attempt(&alert(1), &pending, transient(None), 5, &settings, 0),
            AttemptOutcome::GiveUp {
                code: "retries_exhausted",
                ..
            }
        ));
        let permanent = Err(DeliveryError::Permanent {
            reason: "channel_not_found".into(),
        });
        assert!(matches!(
            after_attempt(&alert(1), &pending, permanent, 1, &settings, 0),
            AttemptOutcome::GiveUp {
                code: "permanent_failure",
                ..
            }
        ));
    }
}
