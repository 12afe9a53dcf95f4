//! The filter's decision for one response, free of I/O.

use survey_contracts::{ActionableSurvey, SurveyResponse};

use crate::dedup::SeenSet;
use crate::rules::ActionRules;

/// What becomes of one raw survey response.
// Built once per record and moved straight on; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FilterOutcome {
    /// Emit it to the actionable topic.
    Forward(ActionableSurvey),
    /// Drop it, and count why.
    Drop(DropReason),
}

/// Why a response was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Nothing in it needs a supervisor.
    NotActionable,
    /// It was already emitted within the dedup window (a webhook retry).
    Duplicate,
}

impl DropReason {
    /// Stable name for counters.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotActionable => "not_actionable",
            Self::Duplicate => "duplicate",
        }
    }
}

/// Decides what to do with `survey` at time `now` (epoch milliseconds).
pub fn decide(
    survey: SurveyResponse,
    rules: &ActionRules,
    seen: &SeenSet,
    now: i64,
) -> FilterOutcome {
    let reasons = rules.reasons(&survey);
    if reasons.is_empty() {
        return FilterOutcome::Drop(DropReason::NotActionable);
    }
    if seen.contains(&survey.response_id, now) {
        return FilterOutcome::Drop(DropReason::Duplicate);
    }
    FilterOutcome::Forward(ActionableSurvey {
        survey,
        reasons,
        filtered_at: now,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rules::RuleSettings;

    fn survey(id: &str, csat: i32) -> SurveyResponse {
        SurveyResponse {
            response_id: id.into(),
            event: "survey.response.created".into(),
            survey_id: None,
            interaction_id: "i".into(),
            submitted_at: 0,
            received_at: 0,
            csat,
            comment: None,
            other_answers: Default::default(),
            queue_id: None,
            agent_id: None,
            agent_name: None,
        }
    }

    #[test]
    fn outcomes() {
        let rules = ActionRules::new(&RuleSettings::default());
        let mut seen = SeenSet::new(Duration::from_secs(60));
        assert_eq!(
            decide(survey("happy", 5), &rules, &seen, 0),
            FilterOutcome::Drop(DropReason::NotActionable)
        );
        let FilterOutcome::Forward(actionable) = decide(survey("angry", 1), &rules, &seen, 7)
        else {
            panic!("a CSAT of 1 must be forwarded");
        };
        assert_eq!(actionable.filtered_at, 7);
        assert_eq!(actionable.reasons.len(), 1);
        seen.insert("angry", 7);
        assert_eq!(
            decide(survey("angry", 1), &rules, &seen, 8),
            FilterOutcome::Drop(DropReason::Duplicate)
        );
        // After the window, the same id is new again.
        assert!(matches!(
            decide(survey("angry", 1), &rules, &seen, 61_000),
            FilterOutcome::Forward(_)
        ));
    }
}
