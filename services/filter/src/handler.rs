//! The filter stage's I/O shell: decode, decide, encode.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use survey_contracts::{AvroCodec, DedupMarker, SurveyResponse, topics};
use survey_runtime::stage::{decode_input, encode_output};
use survey_runtime::{InputRecord, OutputRecord, StageError, StageHandler, StageStats};

use crate::decide::{FilterOutcome, decide};
use crate::dedup::SeenSet;
use crate::rules::ActionRules;

/// A clock in epoch milliseconds; tests pass a fixed one.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Handles raw survey records.
pub struct FilterHandler {
    codec: Arc<AvroCodec>,
    rules: ActionRules,
    seen: Arc<Mutex<SeenSet>>,
    actionable_topic: String,
    dedup_topic: String,
    stats: Arc<StageStats>,
    clock: Clock,
    /// Ids remembered since the last commit; forgotten again on an abort, so
    /// the re-handled inputs are not taken for duplicates of themselves.
    uncommitted: Vec<String>,
}

impl std::fmt::Debug for FilterHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterHandler")
            .field("actionable_topic", &self.actionable_topic)
            .finish_non_exhaustive()
    }
}

impl FilterHandler {
    /// A handler that writes to the topics of `topology`.
    pub fn new(
        codec: Arc<AvroCodec>,
        rules: ActionRules,
        seen: Arc<Mutex<SeenSet>>,
        topology: &survey_contracts::Topology,
        stats: Arc<StageStats>,
        clock: Clock,
    ) -> Self {
        Self {
            codec,
            rules,
            seen,
            actionable_topic: topology.topic(&topics::SURVEY_RESPONSES_ACTIONABLE),
            dedup_topic: topology.topic(&topics::SURVEY_RESPONSES_DEDUP),
            stats,
            clock,
            uncommitted: Vec::new(),
        }
    }
}

#[async_trait]
impl StageHandler for FilterHandler {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let survey: SurveyResponse = decode_input(&self.codec, input).await?;
        let now = (self.clock)();
        let outcome = {
            let seen = self
                .seen
                .lock()
                .map_err(|_| StageError::Fatal("seen-set lock poisoned".into()))?;
            decide(survey, &self.rules, &seen, now)
        };
        let actionable = match outcome {
            FilterOutcome::Drop(reason) => {
                self.stats.dropped(reason.code());
                tracing::debug!(reason = reason.code(), "response dropped");
                return Ok(Vec::new());
            }
            FilterOutcome::Forward(actionable) => actionable,
        };
        let id = actionable.survey.response_id.clone();
        let marker = DedupMarker {
            response_id: id.clone(),
            first_seen_at: now,
        };
        let forward = encode_output(
            &self.codec,
            self.actionable_topic.clone(),
            &id,
            &actionable,
            input,
        )
        .await?;
        let remember =
            encode_output(&self.codec, self.dedup_topic.clone(), &id, &marker, input).await?;
        // Remembered before the commit: an abort forgets it again, and a
        // failed delivery stops the stage, whose restart rebuilds the set
        // from the topic.
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(&id, now);
        }
        self.uncommitted.push(id.clone());
        tracing::info!(response_id = %id, reasons = actionable.reasons.len(), "actionable response");
        Ok(vec![forward, remember])
    }

    fn committed(&mut self) {
        self.uncommitted.clear();
    }

    fn aborted(&mut self) {
        if let Ok(mut seen) = self.seen.lock() {
            for id in self.uncommitted.drain(..) {
                seen.forget(&id);
            }
        }
    }
}
