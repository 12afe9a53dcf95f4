//! What makes a survey response actionable: a score under the threshold (with
//! per-queue overrides) or a critical keyword in the comment.
//!
//! Keywords match case-insensitively on whole words (Unicode word boundaries,
//! so "rude" does not fire inside "prudent"), may be phrases, and a negation
//! just before them ("not rude", "wasn't really rude") keeps them quiet.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use survey_contracts::{ActionableReason, SurveyResponse};
use unicode_segmentation::UnicodeSegmentation;

/// Reason code of a low score.
pub const LOW_SCORE: &str = "low_score";
/// Reason code of a critical keyword.
pub const CRITICAL_KEYWORD: &str = "critical_keyword";

/// How many words before a keyword a negation still applies to.
const NEGATION_REACH: usize = 2;

/// The filter's rules as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSettings {
    /// A score strictly below this is actionable (default 3: CSAT 1 and 2).
    pub score_threshold: i32,
    /// Per-queue thresholds, by queue id; they replace `score_threshold`.
    pub queue_thresholds: BTreeMap<String, i32>,
    /// Words or phrases that make any response actionable.
    pub critical_keywords: Vec<String>,
    /// Words that, right before a keyword, keep it from firing.
    pub negations: Vec<String>,
}

impl Default for RuleSettings {
    fn default() -> Self {
        Self {
            score_threshold: 3,
            queue_thresholds: BTreeMap::new(),
            critical_keywords: ["lawsuit", "unprofessional", "rude", "lawyer", "cancel"]
                .map(String::from)
                .to_vec(),
            negations: [
                "not", "never", "no", "isn't", "wasn't", "weren't", "aren't", "don't", "didn't",
                "hardly", "nothing", "nobody",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Compiled rules, ready to evaluate.
#[derive(Debug, Clone)]
pub struct ActionRules {
    score_threshold: i32,
    queue_thresholds: BTreeMap<String, i32>,
    keywords: Vec<(String, Vec<String>)>,
    negations: HashSet<String>,
}

impl ActionRules {
    /// Compiles the configured rules.
    pub fn new(settings: &RuleSettings) -> Self {
        Self {
            score_threshold: settings.score_threshold,
            queue_thresholds: settings.queue_thresholds.clone(),
            keywords: settings
                .critical_keywords
                .iter()
                .map(|keyword| (keyword.clone(), words(keyword)))
                .filter(|(_, words)| !words.is_empty())
                .collect(),
            negations: settings
                .negations
                .iter()
                .flat_map(|word| words(word))
                .collect(),
        }
    }

    /// The threshold that applies to `queue_id`.
    pub fn threshold_for(&self, queue_id: Option<&str>) -> i32 {
        queue_id
            .and_then(|queue| self.queue_thresholds.get(queue))
            .copied()
            .unwrap_or(self.score_threshold)
    }

    /// Every reason `survey` is actionable; empty when it is not.
    pub fn reasons(&self, survey: &SurveyResponse) -> Vec<ActionableReason> {
        let mut reasons = Vec::new();
        let threshold = self.threshold_for(survey.queue_id.as_deref());
        if survey.csat < threshold {
            reasons.push(ActionableReason {
                code: LOW_SCORE.to_owned(),
                detail: format!("csat {} is below {threshold}", survey.csat),
            });
        }
        if let Some(comment) = survey.comment.as_deref() {
            let comment_words = words(comment);
            for (keyword, phrase) in &self.keywords {
                if self.mentions(&comment_words, phrase) {
                    reasons.push(ActionableReason {
                        code: CRITICAL_KEYWORD.to_owned(),
                        detail: keyword.clone(),
                    });
                }
            }
        }
        reasons
    }

    fn mentions(&self, text: &[String], phrase: &[String]) -> bool {
        text.windows(phrase.len())
            .enumerate()
            .filter(|(_, window)| *window == phrase)
            .any(|(start, _)| {
                let reach = start.saturating_sub(NEGATION_REACH);
                !text[reach..start]
                    .iter()
                    .any(|word| self.negations.contains(word))
            })
    }
}

/// Lower-cased Unicode words, with typographic apostrophes made plain.
fn words(text: &str) -> Vec<String> {
    text.unicode_words()
        .map(|word| word.replace('\u{2019}', "'").to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(csat: i32, comment: Option<&str>, queue: Option<&str>) -> SurveyResponse {
        SurveyResponse {
            response_id: "r".into(),
            event: "survey.response.created".into(),
            survey_id: None,
            interaction_id: "i".into(),
            submitted_at: 0,
            received_at: 0,
            csat,
            comment: comment.map(String::from),
            other_answers: Default::default(),
            queue_id: queue.map(String::from),
            agent_id: None,
            agent_name: None,
        }
    }

    fn codes(rules: &ActionRules, survey: &SurveyResponse) -> Vec<String> {
        rules
            .reasons(survey)
            .into_iter()
            .map(|reason| format!("{}:{}", reason.code, reason.detail))
            .collect()
    }

    #[test]
    fn scores_below_the_threshold_are_actionable() {
        let rules = ActionRules::new(&RuleSettings::default());
        for (csat, actionable) in [(1, true), (2, true), (3, false), (4, false), (5, false)] {
            assert_eq!(
                !rules.reasons(&survey(csat, None, None)).is_empty(),
                actionable,
                "csat {csat}"
            );
        }
    }

    #[test]
    fn a_queue_override_replaces_the_threshold() {
        let settings = RuleSettings {
            queue_thresholds: [("vip".to_owned(), 4)].into(),
            ..RuleSettings::default()
        };
        let rules = ActionRules::new(&settings);
        assert!(!rules.reasons(&survey(3, None, Some("vip"))).is_empty());
        assert!(rules.reasons(&survey(3, None, Some("other"))).is_empty());
        assert!(rules.reasons(&survey(4, None, Some("vip"))).is_empty());
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let rules = ActionRules::new(&RuleSettings::default());
        let cases = [
            ("The agent was RUDE.", vec!["critical_keyword:rude"]),
            ("I will call my Lawyer", vec!["critical_keyword:lawyer"]),
            ("Very prudent advice", vec![]),
            ("cancellation fee explained well", vec![]),
            (
                "Totally unprofessional; I'll cancel.",
                vec!["critical_keyword:unprofessional", "critical_keyword:cancel"],
            ),
            ("ÜBER rude, ça va", vec!["critical_keyword:rude"]),
        ];
        for (comment, expected) in cases {
            assert_eq!(
                codes(&rules, &survey(5, Some(comment), None)),
                expected,
                "{comment}"
            );
        }
    }

    #[test]
    fn a_negation_just_before_a_keyword_keeps_it_quiet() {
        let rules = ActionRules::new(&RuleSettings::default());
        for comment in [
            "The agent was not rude",
            "She wasn’t really rude",
            "never rude at all",
        ] {
            assert!(
                rules.reasons(&survey(5, Some(comment), None)).is_empty(),
                "{comment}"
            );
        }
        let mixed = "not rude, but unprofessional";
        assert_eq!(
            codes(&rules, &survey(5, Some(mixed), None)),
            vec!["critical_keyword:unprofessional"]
        );
        // A negation far away does not count.
        let far = "not what I expected, the agent was rude";
        assert_eq!(
            codes(&rules, &survey(5, Some(far), None)),
            vec!["critical_keyword:rude"]
        );
    }

    #[test]
    fn phrases_and_both_reasons_together() {
        let settings = RuleSettings {
            critical_keywords: vec!["speak to a manager".into()],
            ..RuleSettings::default()
        };
        let rules = ActionRules::new(&settings);
        let reasons = codes(&rules, &survey(1, Some("Let me SPEAK to a manager!"), None));
        assert_eq!(
            reasons,
            vec![
                "low_score:csat 1 is below 3",
                "critical_keyword:speak to a manager"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn evaluation_never_panics_and_low_scores_always_fire(csat in 1i32..=5, comment in ".{0,200}") {
            let rules = ActionRules::new(&RuleSettings::default());
            let reasons = rules.reasons(&survey(csat, Some(&comment), None));
            proptest::prop_assert_eq!(reasons.iter().any(|r| r.code == LOW_SCORE), csat < 3);
        }
    }
}
