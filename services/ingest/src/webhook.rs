//! The survey webhook body, parsed and validated into the raw record.
//!
//! Parsing goes through `serde_json::Value` rather than a derived struct so
//! that every rejection names the exact field at fault.

use std::collections::BTreeMap;

use chrono::DateTime;
use serde_json::Value;
use survey_contracts::SurveyResponse;

/// The event type the receiver accepts.
pub const SURVEY_RESPONSE_CREATED: &str = "survey.response.created";

/// Bounds on string fields; Genesys ids are UUIDs, comments are short texts.
const MAX_ID_LEN: usize = 128;
const MAX_COMMENT_LEN: usize = 8 * 1024;
const MAX_NAME_LEN: usize = 256;

/// A rejected body: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// JSON path of the field, for example `data.answers.q1_csat`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ValidationError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Limits on timestamps, relative to the receive time.
#[derive(Debug, Clone, Copy)]
pub struct TimeBounds {
    /// How far in the future `submittedAt` may be (clock skew).
    pub max_future_millis: i64,
    /// How far in the past `submittedAt` may be.
    pub max_age_millis: i64,
}

/// Validates a webhook body received at `received_at` (epoch milliseconds).
pub fn parse_survey(
    body: &Value,
    received_at: i64,
    bounds: TimeBounds,
) -> Result<SurveyResponse, ValidationError> {
    let root = body
        .as_object()
        .ok_or_else(|| ValidationError::new("$", "body must be a JSON object"))?;
    let event = required_str(root.get("event"), "event", MAX_ID_LEN)?;
    if event != SURVEY_RESPONSE_CREATED {
        return Err(ValidationError::new(
            "event",
            format!("unsupported event type, expected {SURVEY_RESPONSE_CREATED}"),
        ));
    }
    let data = root
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ValidationError::new("data", "required object is missing"))?;
    let response_id = required_str(data.get("id"), "data.id", MAX_ID_LEN)?;
    let interaction_id = required_str(data.get("interactionId"), "data.interactionId", MAX_ID_LEN)?;
    let survey_id = optional_str(data.get("surveyId"), "data.surveyId", MAX_ID_LEN)?;
    let submitted_at = timestamp(
        data.get("submittedAt"),
        "data.submittedAt",
        received_at,
        bounds,
    )?;

    let answers = data
        .get("answers")
        .and_then(Value::as_object)
        .ok_or_else(|| ValidationError::new("data.answers", "required object is missing"))?;
    let csat = csat(answers.get("q1_csat"))?;
    let comment = optional_str(
        answers.get("q2_comments"),
        "data.answers.q2_comments",
        MAX_COMMENT_LEN,
    )?
    .filter(|comment| !comment.trim().is_empty());
    let other_answers = answers
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "q1_csat" | "q2_comments"))
        .map(|(key, value)| {
            if key.contains('\0') {
                Err(ValidationError::new(
                    "data.answers",
                    "a question key contains a NUL character",
                ))
            } else {
                Ok((key.clone(), value.to_string()))
            }
        })
        .collect::<Result<BTreeMap<String, String>, ValidationError>>()?;

    let routing = match data.get("routingData") {
        None | Some(Value::Null) => None,
        Some(Value::Object(routing)) => Some(routing),
        Some(_) => {
            return Err(ValidationError::new(
                "data.routingData",
                "must be an object",
            ));
        }
    };
    let routing_field = |name: &str, path: &str, max: usize| {
        optional_str(routing.and_then(|r| r.get(name)), path, max)
    };
    Ok(SurveyResponse {
        response_id,
        event,
        survey_id,
        interaction_id,
        submitted_at,
        received_at,
        csat,
        comment,
        other_answers,
        queue_id: routing_field("queueId", "data.routingData.queueId", MAX_ID_LEN)?,
        agent_id: routing_field("agentId", "data.routingData.agentId", MAX_ID_LEN)?,
        agent_name: routing_field("agentName", "data.routingData.agentName", MAX_NAME_LEN)?,
    })
}

fn required_str(value: Option<&Value>, field: &str, max: usize) -> Result<String, ValidationError> {
    optional_str(value, field, max)?
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| ValidationError::new(field, "required string is missing or empty"))
}

fn optional_str(
    value: Option<&Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ValidationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.len() > max => Err(ValidationError::new(
            field,
            format!("longer than {max} bytes"),
        )),
        Some(Value::String(text)) if text.contains('\0') => {
            Err(ValidationError::new(field, "contains a NUL character"))
        }
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ValidationError::new(field, "must be a string")),
    }
}

fn csat(value: Option<&Value>) -> Result<i32, ValidationError> {
    const FIELD: &str = "data.answers.q1_csat";
    let value = value.ok_or_else(|| ValidationError::new(FIELD, "required score is missing"))?;
    value
        .as_i64()
        .filter(|score| (1..=5).contains(score))
        .and_then(|score| i32::try_from(score).ok())
        .ok_or_else(|| ValidationError::new(FIELD, "must be an integer from 1 to 5"))
}

fn timestamp(
    value: Option<&Value>,
    field: &str,
    received_at: i64,
    bounds: TimeBounds,
) -> Result<i64, ValidationError> {
    let text = required_str(value, field, 64)?;
    let millis = DateTime::parse_from_rfc3339(&text)
        .map_err(|_| ValidationError::new(field, "must be an RFC 3339 timestamp"))?
        .timestamp_millis();
    if millis > received_at.saturating_add(bounds.max_future_millis) {
        return Err(ValidationError::new(field, "is in the future"));
    }
    if millis < received_at.saturating_sub(bounds.max_age_millis) {
        return Err(ValidationError::new(
            field,
            "is older than the accepted age",
        ));
    }
    Ok(millis)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_698_400_860_000; // 2023-10-27T10:01:00Z
    const BOUNDS: TimeBounds = TimeBounds {
        max_future_millis: 300_000,
        max_age_millis: 7 * 24 * 3_600_000,
    };

    fn body() -> Value {
        json!({ "event": "survey.response.created",
          "data": { "id": "survey-response-uuid", "surveyId": "survey-uuid", "interactionId": "interaction-uuid",
                    "submittedAt": "2023-10-27T10:00:00Z",
                    "answers": { "q1_csat": 2, "q2_comments": "The agent was rude.", "q3_nps": 4 },
                    "routingData": { "queueId": "queue-uuid", "agentId": "agent-uuid", "agentName": "John Doe" } },
          "unknown": "ignored" })
    }

    fn rejected_field(body: &Value) -> String {
        parse_survey(body, NOW, BOUNDS)
            .err()
            .map(|e| e.field)
            .unwrap_or_default()
    }

    #[test]
    fn the_guides_example_parses_with_every_field() {
        let survey = parse_survey(&body(), NOW, BOUNDS).ok();
        let survey = survey.unwrap_or_else(|| panic!("the guide's example must parse"));
        assert_eq!(survey.response_id, "survey-response-uuid");
        assert_eq!(survey.csat, 2);
        assert_eq!(survey.submitted_at, 1_698_400_800_000);
        assert_eq!(survey.received_at, NOW);
        assert_eq!(survey.comment.as_deref(), Some("The agent was rude."));
        assert_eq!(
            survey.other_answers.get("q3_nps").map(String::as_str),
            Some("4")
        );
        assert_eq!(survey.agent_name.as_deref(), Some("John Doe"));
    }

    #[test]
    fn bots_and_empty_comments_are_fine() {
        let mut bot = body();
        bot["data"]["routingData"]["agentId"] = Value::Null;
        bot["data"]["routingData"]["agentName"] = Value::Null;
        bot["data"]["answers"]["q2_comments"] = json!("  ");
        let survey = parse_survey(&bot, NOW, BOUNDS).ok();
        assert!(survey.is_some_and(|s| s.agent_id.is_none() && s.comment.is_none()));
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "data.id",
                Box::new(|b| {
                    b["data"]["id"] = Value::Null;
                }),
            ),
            (
                "data.id",
                Box::new(|b| {
                    b["data"]["id"] = json!(42);
                }),
            ),
            (
                "data.interactionId",
                Box::new(|b| {
                    b["data"].as_object_mut().map(|d| d.remove("interactionId"));
                }),
            ),
            (
                "data.submittedAt",
                Box::new(|b| {
                    b["data"]["submittedAt"] = json!("yesterday");
                }),
            ),
            (
                "data.submittedAt",
                Box::new(|b| {
                    b["data"]["submittedAt"] = json!("2099-01-01T00:00:00Z");
                }),
            ),
            (
                "data.submittedAt",
                Box::new(|b| {
                    b["data"]["submittedAt"] = json!("1999-01-01T00:00:00Z");
                }),
            ),
            (
                "data.answers.q1_csat",
                Box::new(|b| {
                    b["data"]["answers"]["q1_csat"] = json!(2.5);
                }),
            ),
            (
                "data.answers.q1_csat",
                Box::new(|b| {
                    b["data"]["answers"]["q1_csat"] = json!("2");
                }),
            ),
            (
                "data.answers.q1_csat",
                Box::new(|b| {
                    b["data"]["answers"]["q1_csat"] = json!(-1);
                }),
            ),
            (
                "data.answers.q1_csat",
                Box::new(|b| {
                    b["data"]["answers"]["q1_csat"] = json!(1e9);
                }),
            ),
            (
                "data.answers.q1_csat",
                Box::new(|b| {
                    b["data"]["answers"]["q1_csat"] = json!(6);
                }),
            ),
            (
                "data.answers.q2_comments",
                Box::new(|b| {
                    b["data"]["answers"]["q2_comments"] = json!("a\u{0}b");
                }),
            ),
            (
                "data.answers.q2_comments",
                Box::new(|b| {
                    b["data"]["answers"]["q2_comments"] = json!("x".repeat(9000));
                }),
            ),
            (
                "data.routingData",
                Box::new(|b| {
                    b["data"]["routingData"] = json!([1]);
                }),
            ),
            (
                "event",
                Box::new(|b| {
                    b["event"] = json!("survey.response.deleted");
                }),
            ),
            (
                "data",
                Box::new(|b| {
                    b["data"] = json!("x");
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut bad = body();
            mutate(&mut bad);
            assert_eq!(rejected_field(&bad), field, "{bad}");
        }
        assert_eq!(rejected_field(&json!([1, 2])), "$");
    }

    #[test]
    fn a_nul_in_a_question_key_is_refused() {
        let mut bad = body();
        bad["data"]["answers"]["q3\u{0}nps"] = json!(4);
        assert_eq!(rejected_field(&bad), "data.answers");
    }

    #[test]
    fn of_duplicated_keys_the_last_one_counts() {
        let text = r#"{"event":"survey.response.created","data":{"id":"r-1","interactionId":"c-1",
            "submittedAt":"2023-10-27T10:00:00Z","answers":{"q1_csat":2,"q1_csat":9}}}"#;
        let value: Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(rejected_field(&value), "data.answers.q1_csat");
    }

    /// Bounded fuzzing for every `cargo test`: arbitrary bytes, and the guide's
    /// example with random values in its fields, truncated and with flipped
    /// bytes, go through `serde_json` and `parse_survey`. Nothing may panic, and
    /// whatever is accepted must hold the record's invariants. The cargo-fuzz
    /// target (`services/ingest/fuzz`) runs the same check without bounds.
    mod fuzz {
        use proptest::prelude::*;
        use proptest::sample::Index;

        use super::*;

        /// The fields of the example body, as JSON pointers.
        const POINTERS: &[&str] = &[
            "/event",
            "/data",
            "/data/id",
            "/data/surveyId",
            "/data/interactionId",
            "/data/submittedAt",
            "/data/answers",
            "/data/answers/q1_csat",
            "/data/answers/q2_comments",
            "/data/answers/q3_nps",
            "/data/routingData",
            "/data/routingData/queueId",
            "/data/routingData/agentId",
            "/data/routingData/agentName",
        ];

        /// One of the example's fields, or a new answer under a random key.
        fn pointer() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => proptest::sample::select(POINTERS).prop_map(str::to_owned),
                1 => "[a-z0-9_\\x00]{1,8}".prop_map(|key| format!("/data/answers/{key}")),
            ]
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                (-2i64..8).prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                Just(json!(SURVEY_RESPONSE_CREATED)),
                "2023-10-2[0-9]T[01][0-9]:[0-5][0-9]:00(\\.[0-9]{1,9})?(Z|[+-]0[0-9]:00)"
                    .prop_map(Value::from),
                "[a-z0-9 .-]{0,12}".prop_map(Value::from),
                "\\PC{0,16}".prop_map(Value::from),
                "[ \t\r\n]{0,3}".prop_map(Value::from),
                "[a\\x00]{1,4}".prop_map(Value::from),
                (120usize..140).prop_map(|n| Value::from("i".repeat(n))),
                (250usize..260).prop_map(|n| Value::from("n".repeat(n))),
                (8180usize..8200).prop_map(|n| Value::from("c".repeat(n))),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    proptest::collection::btree_map("[a-z_\\x00]{0,8}", inner, 0..4)
                        .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        /// Sets (or with `None` removes) the field at `pointer`, where its
        /// parent is still an object.
        fn put(body: &mut Value, pointer: &str, value: Option<Value>) {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            if let Some(Value::Object(map)) = body.pointer_mut(parent) {
                match value {
                    Some(value) => map.insert(key.to_owned(), value),
                    None => map.remove(key),
                };
            }
        }

        fn check_invariants(survey: &SurveyResponse) -> Result<(), TestCaseError> {
            prop_assert!((1..=5).contains(&survey.csat), "csat {}", survey.csat);
            prop_assert_eq!(survey.event.as_str(), SURVEY_RESPONSE_CREATED);
            prop_assert_eq!(survey.received_at, NOW);
            prop_assert!(survey.submitted_at <= NOW + BOUNDS.max_future_millis);
            prop_assert!(survey.submitted_at >= NOW - BOUNDS.max_age_millis);
            for id in [&survey.response_id, &survey.interaction_id] {
                prop_assert!(!id.trim().is_empty(), "blank id {id:?}");
                prop_assert!(id.len() <= MAX_ID_LEN);
            }
            for id in [&survey.survey_id, &survey.queue_id, &survey.agent_id] {
                prop_assert!(id.as_ref().is_none_or(|id| id.len() <= MAX_ID_LEN));
            }
            prop_assert!(
                survey
                    .agent_name
                    .as_ref()
                    .is_none_or(|name| name.len() <= MAX_NAME_LEN)
            );
            let comment_fits = survey.comment.as_ref().is_none_or(|comment| {
                comment.len() <= MAX_COMMENT_LEN && !comment.trim().is_empty()
            });
            prop_assert!(comment_fits, "comment {:?}", survey.comment);
            prop_assert!(!survey.other_answers.contains_key("q1_csat"));
            prop_assert!(!survey.other_answers.contains_key("q2_comments"));
            let texts = [&survey.response_id, &survey.event, &survey.interaction_id]
                .into_iter()
                .chain(
                    [
                        &survey.survey_id,
                        &survey.comment,
                        &survey.queue_id,
                        &survey.agent_id,
                        &survey.agent_name,
                    ]
                    .into_iter()
                    .flatten(),
                )
                .chain(survey.other_answers.iter().flat_map(|(k, v)| [k, v]));
            for text in texts {
                prop_assert!(!text.contains('\0'), "NUL in {text:?}");
            }
            Ok(())
        }

        fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
            if let Ok(value) = serde_json::from_slice::<Value>(bytes)
                && let Ok(survey) = parse_survey(&value, NOW, BOUNDS)
            {
                check_invariants(&survey)?;
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                check_bytes(&bytes)?;
            }

            #[test]
            fn mutated_examples_never_panic_and_accepted_ones_hold_the_invariants(
                edits in proptest::collection::vec(
                    (pointer(), proptest::option::weighted(0.85, value())),
                    0..4,
                ),
                cut in proptest::option::weighted(0.2, any::<Index>()),
                flips in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..3),
            ) {
                let mut example = body();
                for (pointer, value) in edits {
                    put(&mut example, &pointer, value);
                }
                let mut bytes = serde_json::to_vec(&example).unwrap_or_default();
                if let Some(cut) = cut {
                    bytes.truncate(cut.index(bytes.len() + 1));
                }
                for (at, byte) in flips {
                    if !bytes.is_empty() {
                        let at = at.index(bytes.len());
                        bytes[at] = byte;
                    }
                }
                check_bytes(&bytes)?;
            }
        }
    }
}
