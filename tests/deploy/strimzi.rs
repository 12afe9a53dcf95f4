//! The Strimzi `KafkaTopic` resources checked against the topic registry.

use std::collections::BTreeMap;

use serde_yaml::Value;
use survey_contracts::{Topology, topics};
use survey_runtime::provision::{ProvisionSettings, topic_configs};

use crate::support::{Manifests, assert_no_problems, at, name_of, scalar, str_at};

const STRIMZI: &str = "deploy/kubernetes/strimzi";

#[test]
fn strimzi_declares_every_registry_topic_as_provisioning_would() {
    let manifests = Manifests::render(STRIMZI);
    let topology = Topology::default();
    let settings = ProvisionSettings::default();
    let kafka_topics: Vec<&Value> = manifests.of_kind("KafkaTopic").collect();
    let mut problems = Vec::new();

    for resource in &kafka_topics {
        if str_at(resource, &["apiVersion"]) != Some("kafka.strimzi.io/v1") {
            problems.push(format!(
                "{}: apiVersion must be kafka.strimzi.io/v1",
                name_of(resource)
            ));
        }
        if str_at(resource, &["metadata", "labels", "strimzi.io/cluster"]).is_none() {
            problems.push(format!(
                "{}: no strimzi.io/cluster label",
                name_of(resource)
            ));
        }
        let topic = str_at(resource, &["spec", "topicName"]).unwrap_or(name_of(resource));
        if !topics::ALL.iter().any(|spec| topology.topic(spec) == topic) {
            problems.push(format!("{topic} is not in the registry"));
        }
    }

    for spec in topics::ALL {
        let name = topology.topic(spec);
        let declared: Vec<&&Value> = kafka_topics
            .iter()
            .filter(|resource| {
                str_at(resource, &["spec", "topicName"]).unwrap_or(name_of(resource)) == name
            })
            .collect();
        let [resource] = declared.as_slice() else {
            problems.push(format!(
                "{name}: {} KafkaTopic resources; expected one",
                declared.len()
            ));
            continue;
        };
        if name_of(resource) != name {
            problems.push(format!(
                "{name}: the resource is named {}",
                name_of(resource)
            ));
        }
        let partitions = at(resource, &["spec", "partitions"]).and_then(Value::as_i64);
        if partitions != Some(i64::from(spec.partitions)) {
            problems.push(format!(
                "{name}: partitions {partitions:?}, the registry says {}",
                spec.partitions
            ));
        }
        let config: BTreeMap<String, String> = at(resource, &["spec", "config"])
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.as_str()?.to_owned(), scalar(value)?)))
            .collect();
        let expected: BTreeMap<String, String> = topic_configs(spec, &settings)
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        if config != expected {
            problems.push(format!(
                "{name}: config {config:?}, provisioning would set {expected:?}"
            ));
        }
    }
    assert_no_problems(STRIMZI, &problems);
}
