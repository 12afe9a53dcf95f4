//! Confluent wire format Avro: a zero magic byte, the 4-byte schema id, then
//! the Avro datum.
//!
//! Two backends sit behind one [`AvroCodec`]:
//! - [`AvroCodec::registry`] resolves ids through a Confluent-compatible
//!   registry with schema_registry_converter (production, tests);
//! - [`AvroCodec::embedded`] numbers the schemas compiled into the binary,
//!   for runs that have no registry (the in-process demo).
//!
//! Decoding always resolves the writer's schema to the reader's own, so a
//! consumer keeps working while producers evolve the schema compatibly. When
//! the writer's schema is the reader's (the usual case), the resolution is a
//! no-op and is skipped.
//!
//! Resolving a schema's names walks its whole tree, so each embedded schema is
//! prepared once ([`Prepared`]) rather than once per record.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::ResolvedSchema;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{AvroResult, Schema, from_value, to_value, types::Value};
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;

use crate::records::Contract;
use crate::schemas;

/// The `SCHEMA_REGISTRY_URL` value that selects the embedded schemas (for
/// the in-process demo, which has no registry).
pub const EMBEDDED: &str = "embedded";

const MAGIC_BYTE: u8 = 0;
const HEADER_LEN: usize = 5;

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The registry could not be reached or answered 5xx: try again later.
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    /// The registry answered, but refused or does not know the schema.
    #[error("schema registry rejected the request: {0}")]
    Registry(String),
    /// The bytes are not Confluent wire format.
    #[error("not Confluent wire format Avro: {0}")]
    NotWireFormat(String),
    /// The schema id is unknown to this codec.
    #[error("unknown schema id {0}")]
    UnknownSchemaId(u32),
    /// The datum does not match the writer schema, or cannot be read as the
    /// reader's schema.
    #[error("record does not fit the schema {schema}: {reason}")]
    Incompatible {
        /// The reader's schema file.
        schema: &'static str,
        /// What did not fit.
        reason: String,
    },
}

impl CodecError {
    /// True when the same call may succeed later (the registry was down);
    /// false when the record itself is at fault and retrying cannot help.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::RegistryUnavailable(_))
    }

    /// A short stable code for DLQ headers and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RegistryUnavailable(_) => "registry_unavailable",
            Self::Registry(_) => "registry_rejected",
            Self::NotWireFormat(_) => "not_wire_format",
            Self::UnknownSchemaId(_) => "unknown_schema_id",
            Self::Incompatible { .. } => "schema_mismatch",
        }
    }
}

impl From<SRCError> for CodecError {
    fn from(error: SRCError) -> Self {
        let text = match &error.cause {
            Some(cause) => format!("{}: {cause}", error.error),
            None => error.error.clone(),
        };
        // The converter marks only 502/503 retriable; any 5xx or transport
        // failure is the registry's trouble, not the record's.
        if error.retriable || text.contains("status 5") || text.contains("error sending request") {
            Self::RegistryUnavailable(text)
        } else {
            Self::Registry(text)
        }
    }
}

/// Encodes and decodes the pipeline's records.
pub struct AvroCodec {
    backend: Backend,
}

enum Backend {
    // Boxed: the converter's caches are large, the embedded variant is empty.
    Registry(Box<Registry>),
    Embedded,
}

struct Registry {
    encoder: AvroEncoder,
    decoder: AvroDecoder,
    /// Whether the writer schema of a registry id is the reader schema of an
    /// embedded position, so its values need no resolution.
    same_schema: RwLock<HashMap<(u32, usize), bool>>,
}

impl Registry {
    /// Whether values written with registry schema `id` already have the
    /// reader's schema `reader` (at position `index`); asked of the registry
    /// once per pair.
    async fn writes_reader_schema(
        &self,
        id: u32,
        index: usize,
        reader: &Schema,
    ) -> Result<bool, CodecError> {
        let known = self
            .same_schema
            .read()
            .ok()
            .and_then(|same| same.get(&(id, index)).copied());
        if let Some(same) = known {
            return Ok(same);
        }
        let same = self.decoder.get_schema(id).await?.parsed == *reader;
        if let Ok(mut cache) = self.same_schema.write() {
            cache.insert((id, index), same);
        }
        Ok(same)
    }
}

/// An embedded schema, ready to read and write: its names resolved once.
struct Prepared {
    schema: &'static Schema,
    names: ResolvedSchema<'static>,
    reader: GenericDatumReader<'static>,
    writer: GenericDatumWriter<'static>,
}

impl Prepared {
    fn new(schema: &'static Schema) -> AvroResult<Self> {
        let names = ResolvedSchema::try_from(schema)?;
        Ok(Self {
            schema,
            reader: GenericDatumReader::builder(schema)
                .resolved_writer_schemata(names.clone())
                .build()?,
            writer: GenericDatumWriter::builder(schema)
                .resolved_schemata(names.clone())
                .build()?,
            names,
        })
    }
}

/// The embedded schemas, prepared on first use, by position; `Err` holds why
/// a schema could not be (the crate's tests rule that out).
fn prepared(index: usize) -> Result<&'static Prepared, String> {
    static PREPARED: OnceLock<Vec<Result<Prepared, String>>> = OnceLock::new();
    let all = PREPARED.get_or_init(|| {
        schemas::ALL
            .iter()
            .map(|spec| Prepared::new(spec.schema()).map_err(|e| e.to_string()))
            .collect()
    });
    match all.get(index) {
        Some(Ok(prepared)) => Ok(prepared),
        Some(Err(reason)) => Err(reason.clone()),
        None => Err(format!("no embedded schema at position {index}")),
    }
}

impl std::fmt::Debug for AvroCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.backend {
            Backend::Registry(_) => "registry",
            Backend::Embedded => "embedded",
        };
        f.debug_struct("AvroCodec")
            .field("backend", &backend)
            .finish()
    }
}

impl AvroCodec {
    /// A codec backed by the Confluent-compatible registry at `url`
    /// (for Apicurio, the `/apis/ccompat/v7` base).
    pub fn registry(url: &str) -> Self {
        let settings = SrSettings::new(url.trim_end_matches('/').to_owned());
        Self {
            backend: Backend::Registry(Box::new(Registry {
                encoder: AvroEncoder::new(settings.clone()),
                decoder: AvroDecoder::new(settings),
                same_schema: RwLock::new(HashMap::new()),
            })),
        }
    }

    /// The codec a `SCHEMA_REGISTRY_URL` asks for: the word `embedded` for
    /// [`AvroCodec::embedded`], otherwise the registry at that URL.
    pub fn for_url(url: &str) -> Self {
        if url == EMBEDDED {
            Self::embedded()
        } else {
            Self::registry(url)
        }
    }

    /// A codec that needs no registry: ids are the positions of the schemas
    /// compiled into this binary.
    pub fn embedded() -> Self {
        Self {
            backend: Backend::Embedded,
        }
    }

    /// Encodes `record` for `topic`, whose value subject must hold its schema.
    pub async fn encode<T: Contract>(
        &self,
        topic: &str,
        record: &T,
    ) -> Result<Vec<u8>, CodecError> {
        match &self.backend {
            Backend::Registry(registry) => {
                let strategy = SubjectNameStrategy::TopicNameStrategy(topic.to_owned(), false);
                Ok(registry.encoder.encode_struct(record, &strategy).await?)
            }
            Backend::Embedded => {
                let index = embedded_index::<T>().ok_or(CodecError::UnknownSchemaId(0))?;
                let id = u32::try_from(index + 1).map_err(|_| CodecError::UnknownSchemaId(0))?;
                let writer = prepared(index).map_err(incompatible::<T>)?;
                let value = to_value(record).map_err(|e| incompatible::<T>(e.to_string()))?;
                let mut bytes = Vec::with_capacity(256);
                bytes.push(MAGIC_BYTE);
                bytes.extend_from_slice(&id.to_be_bytes());
                writer
                    .writer
                    .write_value(&mut bytes, value)
                    .map_err(|e| incompatible::<T>(e.to_string()))?;
                Ok(bytes)
            }
        }
    }

    /// Decodes a wire-format record as `T`, resolving the writer's schema to
    /// `T`'s.
    pub async fn decode<T: Contract>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let id = wire_schema_id(bytes)?;
        let index = embedded_index::<T>().ok_or(CodecError::UnknownSchemaId(0))?;
        let reader = prepared(index).map_err(incompatible::<T>)?;
        let (value, same) = match &self.backend {
            Backend::Registry(registry) => {
                let value = registry.decoder.decode(Some(bytes)).await?.value;
                let same = registry
                    .writes_reader_schema(id, index, reader.schema)
                    .await?;
                (value, same)
            }
            Backend::Embedded => {
                let writer = embedded_position(id)
                    .and_then(|position| prepared(position).ok())
                    .ok_or(CodecError::UnknownSchemaId(id))?;
                let value =
                    read_datum(writer, bytes).map_err(|e| incompatible::<T>(e.to_string()))?;
                (value, std::ptr::eq(writer, reader))
            }
        };
        let value = if same {
            value
        } else {
            value
                .resolve_with_names(reader.schema, reader.names.get_names())
                .map_err(|e| incompatible::<T>(e.to_string()))?
        };
        from_value::<T>(&value).map_err(|e| incompatible::<T>(e.to_string()))
    }

    /// Decodes any wire-format record with its writer's schema, as JSON; for
    /// tools that show records without knowing their type.
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let id = wire_schema_id(bytes)?;
        let value = match &self.backend {
            Backend::Registry(registry) => registry.decoder.decode(Some(bytes)).await?.value,
            Backend::Embedded => {
                let writer = embedded_position(id)
                    .and_then(|position| prepared(position).ok())
                    .ok_or(CodecError::UnknownSchemaId(id))?;
                read_datum(writer, bytes).map_err(|e| CodecError::NotWireFormat(e.to_string()))?
            }
        };
        serde_json::Value::try_from(value).map_err(|e| CodecError::NotWireFormat(e.to_string()))
    }
}

fn read_datum(writer: &Prepared, bytes: &[u8]) -> AvroResult<Value> {
    writer
        .reader
        .read_value(&mut bytes.get(HEADER_LEN..).unwrap_or_default())
}

fn incompatible<T: Contract>(reason: String) -> CodecError {
    CodecError::Incompatible {
        schema: T::schema_spec().file,
        reason,
    }
}

/// The schema id of a wire-format record.
pub fn wire_schema_id(bytes: &[u8]) -> Result<u32, CodecError> {
    match bytes {
        [MAGIC_BYTE, a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        [MAGIC_BYTE, ..] => Err(CodecError::NotWireFormat(format!(
            "{} bytes is shorter than the 5-byte header",
            bytes.len()
        ))),
        [first, ..] => Err(CodecError::NotWireFormat(format!(
            "magic byte is {first:#04x}, expected 0x00"
        ))),
        [] => Err(CodecError::NotWireFormat("empty payload".to_owned())),
    }
}

/// The position of `T`'s schema among the embedded ones.
fn embedded_index<T: Contract>() -> Option<usize> {
    let spec = T::schema_spec();
    schemas::ALL
        .iter()
        .position(|embedded| std::ptr::eq(*embedded, spec))
        .or_else(|| {
            schemas::ALL
                .iter()
                .position(|embedded| embedded.file == spec.file)
        })
}

/// The position of the embedded schema numbered `id`.
fn embedded_position(id: u32) -> Option<usize> {
    usize::try_from(id).ok()?.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::*;

    fn survey() -> SurveyResponse {
        SurveyResponse {
            response_id: "r-1".into(),
            event: "survey.response.created".into(),
            survey_id: Some("s-1".into()),
            interaction_id: "i-1".into(),
            submitted_at: 1_698_400_800_000,
            received_at: 1_698_400_801_000,
            csat: 2,
            comment: Some("The agent was rude.".into()),
            other_answers: [("q3_nps".to_owned(), "7".to_owned())].into(),
            queue_id: Some("q-1".into()),
            agent_id: None,
            agent_name: None,
        }
    }

    #[tokio::test]
    async fn embedded_codec_round_trips_every_record() -> Result<(), CodecError> {
        let codec = AvroCodec::embedded();
        let raw = survey();
        let bytes = codec.encode("raw", &raw).await?;
        assert_eq!(bytes[0], MAGIC_BYTE);
        assert_eq!(codec.decode::<SurveyResponse>(&bytes).await?, raw);

        let actionable = ActionableSurvey {
            survey: raw,
            reasons: vec![ActionableReason {
                code: "low_score".into(),
                detail: "csat 2 < 3".into(),
            }],
            filtered_at: 5,
        };
        let bytes = codec.encode("actionable", &actionable).await?;
        assert_eq!(codec.decode::<ActionableSurvey>(&bytes).await?, actionable);

        let marker = DedupMarker {
            response_id: "r-1".into(),
            first_seen_at: 9,
        };
        let bytes = codec.encode("dedup", &marker).await?;
        assert_eq!(codec.decode::<DedupMarker>(&bytes).await?, marker);
        Ok(())
    }

    pub(crate) fn alert() -> EnrichedAlert {
        EnrichedAlert {
            alert_id: "r-1".into(),
            revision: 2,
            issued_at: 10,
            survey: AlertSurvey {
                response_id: "r-1".into(),
                survey_id: None,
                submitted_at: 1,
                received_at: 2,
                csat: 1,
                comment: Some("rude".into()),
                reasons: vec![AlertReason {
                    code: "low_score".into(),
                    detail: "csat 1 is below 3".into(),
                }],
            },
            interaction: Interaction {
                id: "c-1".into(),
                media_type: Some("voice".into()),
                direction: Some("inbound".into()),
                started_at: Some(3),
                ended_at: None,
                queue_id: Some("q".into()),
                queue_name: Some("Billing".into()),
                handled_by: "agent".into(),
                agent_id: Some("a".into()),
                agent_name: None,
                flow_name: None,
                wrap_up_code: None,
                link: "https://apps.mypurecloud.ie/x".into(),
            },
            recording: RecordingInfo {
                status: "ready".into(),
                url: Some("https://r".into()),
            },
            transcript_summary: None,
            routing: Routing {
                kind: "queue_supervisors".into(),
                supervisors: vec![Person {
                    user_id: Some("s".into()),
                    name: Some("Sam".into()),
                    email: None,
                }],
                targets: vec![NotificationTarget::new("slack", "#billing")],
            },
            trace_context: [("traceparent".to_owned(), "00-x".to_owned())].into(),
        }
    }

    #[tokio::test]
    async fn alerts_retries_and_ledger_records_round_trip() -> Result<(), CodecError> {
        let codec = AvroCodec::embedded();
        let alert = alert();
        let bytes = codec.encode("alerts", &alert).await?;
        assert_eq!(codec.decode::<EnrichedAlert>(&bytes).await?, alert);
        let retry = RecordingRetry {
            alert: alert.clone(),
            due_at: 5,
            attempt: 1,
            give_up_at: 9,
            alert_issued: true,
        };
        let bytes = codec.encode("retries", &retry).await?;
        assert_eq!(codec.decode::<RecordingRetry>(&bytes).await?, retry);
        let delivery = DeliveryRetry {
            alert,
            target: NotificationTarget::new("teams", "billing"),
            due_at: 5,
            attempt: 2,
            last_error: "503".into(),
        };
        let bytes = codec.encode("delivery-retries", &delivery).await?;
        assert_eq!(codec.decode::<DeliveryRetry>(&bytes).await?, delivery);
        let ledger = DeliveryRecord {
            alert_id: "r-1".into(),
            target: NotificationTarget::new("slack", "#billing"),
            revision: 2,
            delivered_at: 7,
            slack_channel: Some("C1".into()),
            slack_ts: Some("1.2".into()),
            message_id: None,
            external_id: None,
        };
        let bytes = codec.encode("ledger", &ledger).await?;
        assert_eq!(codec.decode::<DeliveryRecord>(&bytes).await?, ledger);
        let entry = QueueDirectoryEntry {
            queue_id: "q".into(),
            name: None,
            supervisors: vec![Person::default()],
            targets: vec![],
            coaching: true,
            updated_at: 1,
            source: "routing_file".into(),
        };
        let bytes = codec.encode("directory", &entry).await?;
        assert_eq!(codec.decode::<QueueDirectoryEntry>(&bytes).await?, entry);
        Ok(())
    }

    #[tokio::test]
    async fn garbage_is_a_fatal_error_not_a_retriable_one() {
        let codec = AvroCodec::embedded();
        for bytes in [&b""[..], b"{\"json\":true}", &[0, 0, 0, 0, 99, 1], &[0, 0]] {
            let error = codec.decode::<SurveyResponse>(bytes).await.err();
            let error = error.map(|e| (e.is_retriable(), e.code()));
            assert!(
                matches!(error, Some((false, _))),
                "{bytes:?} gave {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_record_of_another_schema_does_not_decode_as_a_survey() -> Result<(), CodecError> {
        let codec = AvroCodec::embedded();
        let marker = DedupMarker {
            response_id: "r-1".into(),
            first_seen_at: 9,
        };
        let bytes = codec.encode("dedup", &marker).await?;
        let error = codec.decode::<SurveyResponse>(&bytes).await.err();
        assert_eq!(error.map(|e| e.code()), Some("schema_mismatch"));
        Ok(())
    }
}
