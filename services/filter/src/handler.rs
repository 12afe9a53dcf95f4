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

#[cfg(test)]
mod bench {
    //! A micro-benchmark of the per-record path (decode, decide, encode) for
    //! instruction counts under callgrind, where wall-clock time says nothing
    //! on a loaded machine:
    //!
    //! ```text
    //! cargo test --release -p survey-filter --lib bench::filter_records -- --ignored
    //! valgrind --tool=callgrind --toggle-collect='*filter_records_loop*' <test binary> \
    //!     bench::filter_records --ignored --test-threads=1
    //! ```
    //!
    //! `BENCH_RECORDS` sets how many records (default 20,000).

    use std::time::Duration;

    use super::*;
    use crate::rules::RuleSettings;
    use survey_contracts::Topology;

    fn raw(index: usize) -> SurveyResponse {
        SurveyResponse {
            response_id: format!("6a1f4c2e-0d3b-4b8e-9f7a-{index:012}"),
            event: "survey.response.created".into(),
            survey_id: Some("b5e3f0f2-1c5d-4a51-8f1e-2a9c3d4e5f60".into()),
            interaction_id: "c0ffee00-1234-4abc-9def-0123456789ab".into(),
            submitted_at: 1_698_400_800_000,
            received_at: 1_698_400_801_000,
            csat: i32::try_from(index % 5).unwrap_or_default() + 1,
            comment: index
                .is_multiple_of(3)
                .then(|| "The agent was rude and did not listen.".into()),
            other_answers: [("q3_nps".to_owned(), "4".to_owned())].into(),
            queue_id: Some("7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5".into()),
            agent_id: Some("a9b8c7d6-e5f4-4321-9abc-def012345678".into()),
            agent_name: Some("John Doe".into()),
        }
    }

    #[inline(never)]
    fn filter_records_loop(handler: &mut FilterHandler, payloads: &[Vec<u8>]) -> usize {
        let headers = vec![(
            "traceparent".to_owned(),
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec(),
        )];
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        let Ok(runtime) = runtime else { return 0 };
        runtime.block_on(async {
            let mut outputs = 0;
            for (offset, payload) in payloads.iter().enumerate() {
                let input = InputRecord {
                    topic: "survey-responses-raw",
                    partition: 0,
                    offset: i64::try_from(offset).unwrap_or_default(),
                    key: None,
                    payload: Some(payload),
                    headers: headers.clone(),
                };
                outputs += handler.handle(&input).await.map_or(0, |out| out.len());
            }
            outputs
        })
    }

    #[test]
    #[ignore = "a benchmark; run it under callgrind"]
    fn filter_records() {
        let count = std::env::var("BENCH_RECORDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(20_000);
        let codec = Arc::new(AvroCodec::embedded());
        let payloads: Vec<Vec<u8>> = tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|runtime| {
                runtime.block_on(async {
                    let mut payloads = Vec::with_capacity(count);
                    for index in 0..count {
                        if let Ok(bytes) = codec.encode("raw", &raw(index)).await {
                            payloads.push(bytes);
                        }
                    }
                    payloads
                })
            })
            .unwrap_or_default();
        assert_eq!(payloads.len(), count);
        let mut handler = FilterHandler::new(
            codec,
            ActionRules::new(&RuleSettings::default()),
            Arc::new(Mutex::new(SeenSet::new(Duration::from_secs(3600)))),
            &Topology::with_prefix(""),
            Arc::new(StageStats::new("filter")),
            Arc::new(|| 1_698_400_900_000),
        );
        let outputs = filter_records_loop(&mut handler, &payloads);
        // CSAT 1 and 2 (two in five), plus "rude" on CSAT 3 to 5 every third.
        assert!(outputs > count / 2, "{outputs} outputs of {count} records");
    }
}
