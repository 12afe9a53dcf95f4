//! `asyncapi.yaml` checked against the topic registry: one channel per
//! topic with its partitions, cleanup policy and retention as provisioning
//! sets them, its key, its Avro schema file, compatibility and subject (or
//! the dead-letter headers), its producer and its consumer group, and the
//! public contract marked as such.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;
use survey_contracts::topics::{self, TopicSpec, ValueFormat};
use survey_contracts::{Compatibility, Topology};
use survey_runtime::dead_letter::headers as dlq;
use survey_runtime::provision::{ProvisionSettings, topic_configs};

use crate::support::{assert_no_problems, at, read_yaml, repo_root, scalar, str_at};

const ASYNCAPI: &str = "asyncapi.yaml";
const AVRO_FORMAT: &str = "application/vnd.apache.avro+json;version=1.9.0";
const PUBLIC_TAG: &str = "public-contract";

/// Headers every dead-letter record carries.
const DLQ_HEADERS: &[&str] = &[
    dlq::REASON,
    dlq::ERROR,
    dlq::STAGE,
    dlq::SOURCE_TOPIC,
    dlq::SOURCE_PARTITION,
    dlq::SOURCE_OFFSET,
    dlq::FAILED_AT,
];

#[test]
fn asyncapi_describes_every_registry_topic_as_the_code_does() {
    assert_no_problems(ASYNCAPI, &problems(&read_yaml(ASYNCAPI)));
}

#[test]
fn asyncapi_marks_the_enriched_alerts_as_the_public_contract() {
    let doc = read_yaml(ASYNCAPI);
    let address = Topology::default().topic(&topics::ALERTS_ENRICHED);
    let channels = channels_at(&doc, &address);
    let [(_, channel)] = channels.as_slice() else {
        panic!("{address}: {} channels", channels.len());
    };
    assert_eq!(
        at(channel, &["x-public-contract"]).and_then(Value::as_bool),
        Some(true),
        "{address} is not marked x-public-contract"
    );
}

#[test]
fn asyncapi_check_finds_a_drifted_document() {
    let mut doc = read_yaml(ASYNCAPI);
    let topology = Topology::default();
    let alerts = topology.topic(&topics::ALERTS_ENRICHED);
    let raw = topology.topic(&topics::SURVEY_RESPONSES_RAW);
    let channels = doc
        .get_mut("channels")
        .and_then(Value::as_mapping_mut)
        .unwrap_or_else(|| panic!("{ASYNCAPI} has no channels"));
    for (_, channel) in channels.iter_mut() {
        let address = str_at(channel, &["address"]).map(str::to_owned);
        if address.as_deref() == Some(alerts.as_str()) {
            channel["bindings"]["kafka"]["partitions"] = Value::from(7);
        }
        if address.as_deref() == Some(raw.as_str()) {
            channel["address"] = Value::from("survey.responses.typo");
        }
    }
    let found = problems(&doc);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&alerts) && p.contains("partitions")),
        "a wrong partition count went unnoticed: {found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&raw) && p.contains("channels")),
        "a missing topic went unnoticed: {found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("survey.responses.typo")),
        "a channel outside the registry went unnoticed: {found:#?}"
    );
}

/// Everything in `doc` that disagrees with the code, one line each.
fn problems(doc: &Value) -> Vec<String> {
    let topology = Topology::default();
    let settings = ProvisionSettings::default();
    let mut problems = Vec::new();

    if str_at(doc, &["asyncapi"]) != Some("3.0.0") {
        problems.push("asyncapi must be 3.0.0".to_owned());
    }
    let addresses: BTreeSet<String> = topics::ALL
        .iter()
        .map(|spec| topology.topic(spec))
        .collect();
    for (id, channel) in mapping(doc, &["channels"]) {
        match str_at(channel, &["address"]) {
            Some(address) if addresses.contains(address) => {}
            other => problems.push(format!(
                "channel {id}: address {other:?} is not a topic of the registry"
            )),
        }
    }

    for spec in topics::ALL {
        let name = topology.topic(spec);
        let channels = channels_at(doc, &name);
        let [(id, channel)] = channels.as_slice() else {
            problems.push(format!("{name}: {} channels; expected one", channels.len()));
            continue;
        };
        let mut report = |problem: String| problems.push(format!("{name}: {problem}"));
        check_topic(spec, channel, &settings, &mut report);
        match single_message(doc, channel) {
            Ok(message) => check_message(doc, spec, &topology, channel, message, &mut report),
            Err(problem) => report(problem),
        }
        check_operations(doc, spec, &topology, id, &mut report);
    }
    problems
}

/// Partitions and the topic configuration provisioning applies.
fn check_topic(
    spec: &TopicSpec,
    channel: &Value,
    settings: &ProvisionSettings,
    report: &mut impl FnMut(String),
) {
    let kafka = at(channel, &["bindings", "kafka"]).unwrap_or(&Value::Null);
    let partitions = at(kafka, &["partitions"]).and_then(Value::as_i64);
    if partitions != Some(i64::from(spec.partitions)) {
        report(format!(
            "partitions {partitions:?}, the registry says {}",
            spec.partitions
        ));
    }
    let mut declared = BTreeMap::new();
    if let Some(policies) = at(kafka, &["topicConfiguration", "cleanup.policy"]) {
        let mut policies: Vec<String> = policies
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(scalar)
            .collect();
        policies.sort();
        declared.insert("cleanup.policy".to_owned(), policies.join(","));
    }
    for (key, path) in [
        ("retention.ms", &["topicConfiguration", "retention.ms"][..]),
        ("segment.ms", &["x-segment.ms"][..]),
    ] {
        if let Some(value) = at(kafka, path).and_then(scalar) {
            declared.insert(key.to_owned(), value);
        }
    }
    let expected: BTreeMap<String, String> = topic_configs(spec, settings)
        .into_iter()
        .map(|(key, value)| {
            let value = if key == "cleanup.policy" {
                let mut policies: Vec<&str> = value.split(',').collect();
                policies.sort_unstable();
                policies.join(",")
            } else {
                value
            };
            (key.to_owned(), value)
        })
        .collect();
    if declared != expected {
        report(format!(
            "topic configuration {declared:?}, provisioning sets {expected:?}"
        ));
    }
}

/// The key, the value's schema (or dead-letter headers) and the public flag.
fn check_message(
    doc: &Value,
    spec: &TopicSpec,
    topology: &Topology,
    channel: &Value,
    message: &Value,
    report: &mut impl FnMut(String),
) {
    let key = at(message, &["bindings", "kafka", "key"]).map(|key| resolve(doc, key));
    if key.and_then(|key| str_at(key, &["type"])) != Some("string") {
        report("the message's Kafka key is not declared as a string".to_owned());
    }
    let key_doc = key.and_then(|key| str_at(key, &["description"]));
    if key_doc != Some(spec.key) {
        report(format!(
            "key described as {key_doc:?}, the registry says {:?}",
            spec.key
        ));
    }

    let payload = at(message, &["payload"]).map_or(&Value::Null, |payload| resolve(doc, payload));
    let format = str_at(payload, &["schemaFormat"]);
    let compatibility = str_at(message, &["x-compatibility"]);
    let public = match spec.value {
        ValueFormat::Avro(schema) => {
            if format != Some(AVRO_FORMAT) {
                report(format!(
                    "payload schemaFormat {format:?}, expected {AVRO_FORMAT}"
                ));
            }
            let expected = format!("schemas/{}", schema.file);
            match str_at(payload, &["schema", "$ref"]) {
                Some(reference) if reference.trim_start_matches("./") == expected => {
                    if !repo_root().join(&expected).is_file() {
                        report(format!("{expected} does not exist"));
                    }
                }
                other => report(format!(
                    "payload schema $ref {other:?}, expected ./{expected}"
                )),
            }
            let registered = schema.compatibility.as_registry_str();
            if compatibility != Some(registered) {
                report(format!(
                    "x-compatibility {compatibility:?}, the schema is registered {registered}"
                ));
            }
            let subject = topology.value_subject(spec);
            let declared = str_at(message, &["x-subject"]);
            if declared != Some(subject.as_str()) {
                report(format!(
                    "x-subject {declared:?}, the registry uses {subject}"
                ));
            }
            schema.compatibility == Compatibility::FullTransitive
        }
        ValueFormat::DeadLetter => {
            if format.is_some_and(|format| format.contains("avro")) {
                report("a dead-letter payload is the original bytes, not Avro".to_owned());
            }
            if compatibility.is_some() {
                report("a dead-letter topic has no registered schema".to_owned());
            }
            check_dead_letter_headers(doc, spec, message, report);
            false
        }
    };

    let flagged = at(channel, &["x-public-contract"]).and_then(Value::as_bool) == Some(true);
    let tagged = tag_names(channel).contains(PUBLIC_TAG);
    if flagged != public || tagged != public {
        report(format!(
            "x-public-contract {flagged} and tag {PUBLIC_TAG} {tagged}; the topic is {}public",
            if public { "" } else { "not " }
        ));
    }
}

fn check_dead_letter_headers(
    doc: &Value,
    spec: &TopicSpec,
    message: &Value,
    report: &mut impl FnMut(String),
) {
    let headers = at(message, &["headers"]).map_or(&Value::Null, |headers| resolve(doc, headers));
    let declared: BTreeSet<&str> = mapping(headers, &["properties"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let required: BTreeSet<&str> = at(headers, &["required"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut expected: Vec<&str> = DLQ_HEADERS.to_vec();
    if spec.base_name == topics::NOTIFIER_DLQ.base_name {
        expected.push(survey_notifier::deliver::DLQ_TARGET_HEADER);
    }
    for header in expected {
        if !declared.contains(header) {
            report(format!("dead-letter header {header} is not declared"));
        }
    }
    for header in DLQ_HEADERS {
        if !required.contains(header) {
            report(format!(
                "dead-letter header {header} is on every record but not required"
            ));
        }
    }
}

/// One `send` by the producer; one `receive` by the consumer, in its group.
fn check_operations(
    doc: &Value,
    spec: &TopicSpec,
    topology: &Topology,
    channel_id: &str,
    report: &mut impl FnMut(String),
) {
    let channel_ref = format!("#/channels/{}", escape_pointer(channel_id));
    let operations: Vec<(&str, &Value)> = mapping(doc, &["operations"])
        .into_iter()
        .filter(|(_, operation)| str_at(operation, &["channel", "$ref"]) == Some(&channel_ref))
        .collect();
    for (id, operation) in &operations {
        for reference in at(operation, &["messages"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|message| str_at(message, &["$ref"]))
        {
            if !reference.starts_with(&format!("{channel_ref}/messages/"))
                || pointer(doc, reference).is_none()
            {
                report(format!(
                    "operation {id}: message {reference} is not a message of its channel"
                ));
            }
        }
    }
    let by_action = |action: &str| -> Vec<&(&str, &Value)> {
        operations
            .iter()
            .filter(|(_, operation)| str_at(operation, &["action"]) == Some(action))
            .collect()
    };

    let senders: Vec<Option<&str>> = by_action("send")
        .iter()
        .map(|(_, operation)| str_at(operation, &["x-service"]))
        .collect();
    if senders != [Some(spec.producer)] {
        report(format!(
            "send operations by {senders:?}, the registry's producer is {}",
            spec.producer
        ));
    }

    let receivers = by_action("receive");
    let Some(consumer) = spec.consumer else {
        if !receivers.is_empty() {
            report(format!(
                "{} receive operations, but no service reads the topic",
                receivers.len()
            ));
        }
        return;
    };
    let [(id, operation)] = receivers.as_slice() else {
        report(format!(
            "{} receive operations; expected one, by {consumer}",
            receivers.len()
        ));
        return;
    };
    let service = str_at(operation, &["x-service"]);
    if service != Some(consumer) {
        report(format!(
            "operation {id}: x-service {service:?}, the registry's consumer is {consumer}"
        ));
    }
    let group = topology.group(spec);
    let declared = str_at(operation, &["x-consumer-group"]);
    if declared != group.as_deref() {
        report(format!(
            "operation {id}: x-consumer-group {declared:?}, the registry's group is {group:?}"
        ));
    }
    let binding: Option<Vec<&str>> = at(operation, &["bindings", "kafka", "groupId"]).map(|id| {
        at(id, &["enum"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    });
    let expected: Option<Vec<&str>> = group.as_deref().map(|group| vec![group]);
    if binding != expected {
        report(format!(
            "operation {id}: Kafka groupId binding {binding:?}, expected {expected:?}"
        ));
    }
}

/// The channels whose address is `address`, with their ids.
fn channels_at<'a>(doc: &'a Value, address: &str) -> Vec<(&'a str, &'a Value)> {
    mapping(doc, &["channels"])
        .into_iter()
        .filter(|(_, channel)| str_at(channel, &["address"]) == Some(address))
        .collect()
}

/// The channel's only message, its `$ref` followed.
fn single_message<'a>(doc: &'a Value, channel: &'a Value) -> Result<&'a Value, String> {
    match mapping(channel, &["messages"]).as_slice() {
        [(_, message)] => Ok(resolve(doc, message)),
        other => Err(format!("{} messages; expected one", other.len())),
    }
}

/// The entries of the mapping at `path`, keyed by string.
fn mapping<'a>(value: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a Value)> {
    at(value, path)
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.as_str()?, value)))
        .collect()
}

fn tag_names(value: &Value) -> BTreeSet<&str> {
    at(value, &["tags"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|tag| str_at(tag, &["name"]))
        .collect()
}

/// `value`, or what its local `$ref` (`#/...`) points at, followed until a
/// value without one (at most a few hops; a dangling reference stays as is).
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match str_at(value, &["$ref"]).and_then(|reference| pointer(doc, reference)) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// The value a local JSON pointer reference (`#/a/b`) names.
fn pointer<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(doc, |node, token| {
        node.get(token.replace("~1", "/").replace("~0", "~").as_str())
    })
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
