//! The consuming stages an operator replays or redrives, and the topics the
//! registry says they read and dead-letter to.

use std::fmt;

use survey_contracts::topics::{self, TopicSpec};

/// A stage that consumes in a consumer group and has a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Reads raw responses.
    Filter,
    /// Reads actionable responses (and its recording retries).
    Enricher,
    /// Reads enriched alerts (and its delivery retries).
    Notifier,
}

impl Stage {
    /// The stage's name, as in its `dlq.stage` header and group.
    pub fn name(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Enricher => "enricher",
            Self::Notifier => "notifier",
        }
    }

    /// The topic the stage consumes new work from, in its consumer group.
    pub fn input(self) -> TopicSpec {
        match self {
            Self::Filter => topics::SURVEY_RESPONSES_RAW,
            Self::Enricher => topics::SURVEY_RESPONSES_ACTIONABLE,
            Self::Notifier => topics::ALERTS_ENRICHED,
        }
    }

    /// The stage's dead-letter topic.
    pub fn dlq(self) -> TopicSpec {
        match self {
            Self::Filter => topics::FILTER_DLQ,
            Self::Enricher => topics::ENRICHER_DLQ,
            Self::Notifier => topics::NOTIFIER_DLQ,
        }
    }

    /// Every topic whose records the stage dead-letters: its input and its
    /// own delay topic.
    pub fn dead_letter_sources(self) -> &'static [TopicSpec] {
        match self {
            Self::Filter => &[topics::SURVEY_RESPONSES_RAW],
            Self::Enricher => &[
                topics::SURVEY_RESPONSES_ACTIONABLE,
                topics::RECORDING_RETRIES,
            ],
            Self::Notifier => &[topics::ALERTS_ENRICHED, topics::DELIVERY_RETRIES],
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_reads_its_input_in_a_group_and_dead_letters_it() {
        for stage in [Stage::Filter, Stage::Enricher, Stage::Notifier] {
            let input = stage.input();
            assert_eq!(input.consumer, Some(stage.name()));
            assert!(input.consumer_group.is_some());
            assert_eq!(stage.dlq().producer, stage.name());
            let sources = stage.dead_letter_sources();
            assert_eq!(sources[0].base_name, input.base_name);
            assert!(sources.iter().all(|s| s.consumer == Some(stage.name())));
        }
    }
}
