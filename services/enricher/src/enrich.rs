//! The enricher's two handlers: new actionable surveys, and due recording
//! re-checks from the delay topic. Lookups happen here; decisions are the
//! pure functions of [`crate::routing`], [`crate::assemble`] and
//! [`crate::recording`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use survey_contracts::{
    ActionableSurvey, AvroCodec, Contract, EnrichedAlert, Person, QueueDirectoryEntry,
    RecordingRetry, Topology, topics,
};
use survey_genesys::{GenesysClient, GenesysError, InteractionDetails, RecordingStatus};
use survey_runtime::stage::{decode_input, due, encode_output};
use survey_runtime::{InputRecord, OutputRecord, StageError, StageHandler};

use crate::assemble::{AlertParts, assemble, handled_by};
use crate::directory::{QueueDirectory, entry_from_sources, person};
use crate::recording::{
    FirstCheck, Recheck, RecordingSettings, first_check, recheck, with_recording,
};
use crate::routing::{HandledBy, RoutingInput, needs_superiors, resolve};
use crate::routing_file::RoutingFile;

/// A clock in epoch milliseconds; tests pass their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What both handlers share.
pub struct Enrichment {
    /// Avro codec.
    pub codec: Arc<AvroCodec>,
    /// Genesys Cloud client.
    pub genesys: GenesysClient,
    /// The queue table.
    pub directory: Arc<QueueDirectory>,
    /// The operator's routing.
    pub routing_file: RoutingFile,
    /// Recording retry settings.
    pub recording: RecordingSettings,
    /// Topic names.
    pub topology: Topology,
    /// Time source.
    pub clock: Clock,
}

impl std::fmt::Debug for Enrichment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrichment").finish_non_exhaustive()
    }
}

/// Handles the actionable topic.
#[derive(Debug, Clone)]
pub struct ActionableHandler(pub Arc<Enrichment>);

/// Handles the recording-retries delay topic.
#[derive(Debug, Clone)]
pub struct RecordingRetryHandler(pub Arc<Enrichment>);

/// Sorts Genesys failures at the boundary.
fn retriable(error: GenesysError) -> StageError {
    StageError::Retriable(format!("Genesys Cloud: {error}"))
}

impl Enrichment {
    async fn decode<T: Contract>(&self, input: &InputRecord<'_>) -> Result<T, StageError> {
        decode_input(&self.codec, input).await
    }

    async fn record<T: Contract>(
        &self,
        spec: &topics::TopicSpec,
        key: &str,
        value: &T,
        input: &InputRecord<'_>,
    ) -> Result<OutputRecord, StageError> {
        encode_output(&self.codec, self.topology.topic(spec), key, value, input).await
    }

    /// The conversation's details; `None` when Genesys does not know it or
    /// refuses for good (the alert still goes out, with the webhook's data).
    async fn interaction(
        &self,
        conversation_id: &str,
    ) -> Result<Option<InteractionDetails>, StageError> {
        match self.genesys.interaction(conversation_id).await {
            Ok(details) => Ok(Some(details)),
            Err(error) if error.is_retriable() => Err(retriable(error)),
            Err(error) => {
                tracing::warn!(conversation_id, %error, "interaction details unavailable");
                Ok(None)
            }
        }
    }

    /// The recording's status; an unreachable API counts as "not yet", so
    /// the retry chain asks again.
    async fn recording(&self, conversation_id: &str) -> RecordingStatus {
        match self
            .genesys
            .recording(conversation_id, self.recording.max_wait)
            .await
        {
            Ok(status) => status,
            Err(error) if error.is_retriable() => RecordingStatus::Pending,
            Err(error) => {
                tracing::warn!(conversation_id, %error, "recording lookup refused");
                RecordingStatus::Unavailable
            }
        }
    }

    /// The queue's entry: the table first, then the API (cached).
    async fn queue(&self, queue_id: &str) -> Result<Option<QueueDirectoryEntry>, StageError> {
        if let Some(entry) = self.directory.get(queue_id) {
            return Ok(Some(entry));
        }
        let route = self.routing_file.queues.get(queue_id);
        let api_queue = match self.genesys.queue(queue_id).await {
            Ok(queue) => queue,
            Err(error) if error.is_retriable() => return Err(retriable(error)),
            Err(error) => {
                tracing::warn!(queue_id, %error, "queue lookup refused");
                None
            }
        };
        if api_queue.is_none() && route.is_none() {
            return Ok(None);
        }
        let supervisor_ids = route
            .map(|route| route.supervisors.clone())
            .unwrap_or_default();
        let supervisors = crate::directory::resolve_people(&self.genesys, &supervisor_ids)
            .await
            .map_err(retriable)?;
        let entry = entry_from_sources(
            queue_id,
            api_queue.as_ref(),
            route,
            supervisors,
            (self.clock)(),
        );
        tracing::debug!(queue_id, "directory miss filled from the API");
        self.directory.insert(entry.clone());
        Ok(Some(entry))
    }

    async fn superiors(&self, user_id: &str) -> Result<Vec<Person>, StageError> {
        match self.genesys.superiors(user_id).await {
            Ok(users) => Ok(users.iter().map(person).collect()),
            Err(error) if error.is_retriable() => Err(retriable(error)),
            Err(error) => {
                tracing::warn!(user_id, %error, "superiors unavailable");
                Ok(Vec::new())
            }
        }
    }

    /// An agent's name from the directory when the conversation lacks it;
    /// an unknown agent keeps only the id.
    async fn agent_name(&self, handled_by: HandledBy) -> Result<HandledBy, StageError> {
        let HandledBy::Agent {
            user_id,
            name: None,
        } = handled_by
        else {
            return Ok(handled_by);
        };
        let name = match self.genesys.user(&user_id).await {
            Ok(user) => user.and_then(|user| user.name),
            Err(error) if error.is_retriable() => return Err(retriable(error)),
            Err(_) => None,
        };
        Ok(HandledBy::Agent { user_id, name })
    }

    async fn summary(&self, conversation_id: &str) -> Option<String> {
        self.genesys
            .summary(conversation_id)
            .await
            .unwrap_or_else(|error| {
                tracing::debug!(conversation_id, %error, "no summary");
                None
            })
    }

    /// Builds revision 1 of the alert for `survey`.
    async fn enrich(
        &self,
        survey: &ActionableSurvey,
        trace_context: BTreeMap<String, String>,
    ) -> Result<EnrichedAlert, StageError> {
        let conversation_id = survey.survey.interaction_id.as_str();
        let details = self.interaction(conversation_id).await?;
        let handled_by = self
            .agent_name(handled_by(details.as_ref(), survey))
            .await?;
        let queue_id = details
            .as_ref()
            .and_then(|d| d.queue_id.clone())
            .or_else(|| survey.survey.queue_id.clone());
        let queue = match &queue_id {
            Some(queue_id) => self.queue(queue_id).await?,
            None => None,
        };
        let superiors = match (&handled_by, needs_superiors(&handled_by, queue.as_ref())) {
            (HandledBy::Agent { user_id, .. }, true) => self.superiors(user_id).await?,
            _ => Vec::new(),
        };
        let routing = resolve(&RoutingInput {
            handled_by: &handled_by,
            queue: queue.as_ref(),
            agent_superiors: &superiors,
            file: &self.routing_file,
        });
        if routing.kind == crate::routing::kind::FALLBACK {
            tracing::info!(alert_id = %survey.survey.response_id, "no routing matched; using the default target");
        }
        let summary = self.summary(conversation_id).await;
        let alert = assemble(AlertParts {
            survey,
            details: details.as_ref(),
            handled_by: &handled_by,
            queue_name: queue.and_then(|entry| entry.name),
            summary,
            routing,
            link: self.genesys.interaction_link(conversation_id),
            trace_context,
            now: (self.clock)(),
        });
        let status = self.recording(conversation_id).await;
        Ok(with_recording(alert, &status))
    }
}

fn trace_context(input: &InputRecord<'_>) -> BTreeMap<String, String> {
    input
        .headers
        .iter()
        .filter(|(name, _)| name == "traceparent" || name == "tracestate")
        .map(|(name, value)| (name.clone(), String::from_utf8_lossy(value).into_owned()))
        .collect()
}

#[async_trait]
impl StageHandler for ActionableHandler {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let enrichment = &self.0;
        let survey: ActionableSurvey = enrichment.decode(input).await?;
        let alert = enrichment.enrich(&survey, trace_context(input)).await?;
        let id = alert.alert_id.clone();
        let now = (enrichment.clock)();
        let outputs = match first_check(alert, &enrichment.recording, now) {
            FirstCheck::Issue(alert) => vec![
                enrichment
                    .record(&topics::ALERTS_ENRICHED, &id, &alert, input)
                    .await?,
            ],
            FirstCheck::IssueAndRetry(alert, retry) => vec![
                enrichment
                    .record(&topics::ALERTS_ENRICHED, &id, &alert, input)
                    .await?,
                enrichment
                    .record(&topics::RECORDING_RETRIES, &id, &retry, input)
                    .await?,
            ],
            FirstCheck::Hold(retry) => vec![
                enrichment
                    .record(&topics::RECORDING_RETRIES, &id, &retry, input)
                    .await?,
            ],
        };
        tracing::info!(alert_id = %id, outputs = outputs.len(), "alert enriched");
        Ok(outputs)
    }
}

#[async_trait]
impl StageHandler for RecordingRetryHandler {
    async fn handle(&mut self, input: &InputRecord<'_>) -> Result<Vec<OutputRecord>, StageError> {
        let enrichment = &self.0;
        let retry: RecordingRetry = enrichment.decode(input).await?;
        let now = (enrichment.clock)();
        due(retry.due_at, now)?;
        let id = retry.alert.alert_id.clone();
        let status = enrichment.recording(&retry.alert.interaction.id).await;
        let output = match recheck(retry, &status, &enrichment.recording, now) {
            Recheck::Issue(alert) => {
                tracing::info!(alert_id = %id, revision = alert.revision, recording = %alert.recording.status, "alert re-issued");
                enrichment
                    .record(&topics::ALERTS_ENRICHED, &id, &alert, input)
                    .await?
            }
            Recheck::Reschedule(retry) => {
                tracing::debug!(alert_id = %id, attempt = retry.attempt, "recording still pending");
                enrichment
                    .record(&topics::RECORDING_RETRIES, &id, &retry, input)
                    .await?
            }
        };
        Ok(vec![output])
    }
}
