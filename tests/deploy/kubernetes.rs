//! The Kubernetes overlays, as `kubectl kustomize` renders them, checked
//! against the code.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_yaml::Value;
use survey_contracts::Topology;

use crate::env::{self, EnvValue, EnvVar};
use crate::routing;
use crate::services::Service;
use crate::support::{Manifests, assert_no_problems, at, items, name_of, scalar, str_at};

/// The overlays an operator applies.
const OVERLAYS: [&str; 2] = [
    "deploy/kubernetes/overlays/production",
    "deploy/kubernetes/overlays/dev",
];

/// The Secret every secret variable comes from; deployments reference it
/// and never include it.
const SECRET: &str = "survey-alerts-secrets";

/// The user the image runs as (Dockerfile).
const IMAGE_USER: i64 = 10001;

static RENDERED: LazyLock<Vec<Manifests>> = LazyLock::new(|| {
    OVERLAYS
        .iter()
        .map(|overlay| Manifests::render(overlay))
        .collect()
});

/// One service's Deployment in one overlay.
struct Deployed<'a> {
    service: Service,
    deployment: &'a Value,
    container: &'a Value,
}

impl Deployed<'_> {
    fn name(&self) -> &str {
        name_of(self.deployment)
    }

    fn pod_spec(&self) -> &Value {
        at(self.deployment, &["spec", "template", "spec"]).unwrap_or(&Value::Null)
    }

    fn pod_labels(&self) -> &Value {
        at(self.deployment, &["spec", "template", "metadata", "labels"]).unwrap_or(&Value::Null)
    }

    /// The container port `reference` (a number or a port name) stands for.
    fn port(&self, reference: &Value) -> Option<u16> {
        if let Some(number) = reference.as_u64() {
            return u16::try_from(number).ok();
        }
        let name = reference.as_str()?;
        items(self.container, &["ports"])
            .iter()
            .find(|port| str_at(port, &["name"]) == Some(name))
            .and_then(|port| at(port, &["containerPort"])?.as_u64())
            .and_then(|number| u16::try_from(number).ok())
    }
}

/// Every service's Deployment, identified by the binary it runs.
fn deployed(manifests: &Manifests) -> Vec<Deployed<'_>> {
    let mut found = Vec::new();
    for deployment in manifests.of_kind("Deployment") {
        for container in items(deployment, &["spec", "template", "spec", "containers"]) {
            let binary = items(container, &["command"])
                .first()
                .or_else(|| items(container, &["args"]).first())
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(service) = Service::by_binary(binary) {
                found.push(Deployed {
                    service,
                    deployment,
                    container,
                });
            }
        }
    }
    for service in Service::ALL {
        let count = found.iter().filter(|d| d.service == service).count();
        assert_eq!(
            count,
            1,
            "{}: {count} Deployments run {}; expected one",
            manifests.source,
            service.binary()
        );
    }
    found
}

/// The variables a container gets, and the problems with how it gets them.
fn environment(manifests: &Manifests, deployed: &Deployed<'_>) -> (Vec<EnvVar>, Vec<String>) {
    let place = format!("{} Deployment {}", manifests.source, deployed.name());
    let mut vars = Vec::new();
    let mut problems = Vec::new();
    for source in items(deployed.container, &["envFrom"]) {
        if let Some(name) = str_at(source, &["configMapRef", "name"]) {
            let Some(config_map) = manifests.find("ConfigMap", name) else {
                problems.push(format!(
                    "{place}: envFrom names ConfigMap {name}, which is not rendered"
                ));
                continue;
            };
            let data = at(config_map, &["data"]).and_then(Value::as_mapping);
            for (key, value) in data.into_iter().flatten() {
                let (Some(key), Some(value)) = (key.as_str(), scalar(value)) else {
                    continue;
                };
                if env::is_secret(deployed.service, key) {
                    problems.push(format!("{place}: ConfigMap {name} holds the secret {key}"));
                }
                vars.push(EnvVar::literal(key, value));
            }
        } else {
            problems.push(format!(
                "{place}: envFrom other than a ConfigMap hides which variables a Secret sets; \
                 use env with secretKeyRef"
            ));
        }
    }
    for entry in items(deployed.container, &["env"]) {
        let name = str_at(entry, &["name"]).unwrap_or_default();
        if let Some(value) = at(entry, &["value"]) {
            if env::is_secret(deployed.service, name) {
                problems.push(format!(
                    "{place}: the secret {name} is written as a literal value"
                ));
            }
            vars.push(EnvVar::literal(name, scalar(value).unwrap_or_default()));
        } else if let Some(secret) = at(entry, &["valueFrom", "secretKeyRef"]) {
            let secret_name = str_at(secret, &["name"]).unwrap_or_default();
            if secret_name != SECRET {
                problems.push(format!(
                    "{place}: {name} comes from Secret {secret_name}, not {SECRET}"
                ));
            }
            vars.push(EnvVar::unseen(name));
        } else if let Some(reference) = at(entry, &["valueFrom", "configMapKeyRef"]) {
            let value = str_at(reference, &["name"])
                .and_then(|map| manifests.find("ConfigMap", map))
                .zip(str_at(reference, &["key"]))
                .and_then(|(map, key)| at(map, &["data", key]).and_then(scalar));
            if env::is_secret(deployed.service, name) {
                problems.push(format!("{place}: the secret {name} comes from a ConfigMap"));
            }
            vars.push(match value {
                Some(value) => EnvVar::literal(name, value),
                None => EnvVar::unseen(name),
            });
        } else {
            if env::is_secret(deployed.service, name) {
                problems.push(format!(
                    "{place}: the secret {name} must come from a secretKeyRef"
                ));
            }
            vars.push(EnvVar::unseen(name));
        }
    }
    (vars, problems)
}

fn literal(vars: &[EnvVar], name: &str) -> Option<String> {
    vars.iter()
        .find(|var| var.name == name)
        .and_then(|var| match &var.value {
            EnvValue::Literal(text) => Some(text.clone()),
            EnvValue::Unseen => None,
        })
}

/// Whether every label of `required` (a plain map, as in a Service's
/// selector) is on `labels`.
fn has_labels(required: &Value, labels: &Value) -> bool {
    required
        .as_mapping()
        .into_iter()
        .flatten()
        .all(|(key, value)| key.as_str().and_then(|key| labels.get(key)) == Some(value))
}

/// Whether a Kubernetes label selector (`matchLabels`, `matchExpressions`)
/// selects `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let match_labels =
        at(selector, &["matchLabels"]).is_none_or(|required| has_labels(required, labels));
    let match_expressions = items(selector, &["matchExpressions"])
        .iter()
        .all(|expression| {
            let value = str_at(expression, &["key"]).and_then(label);
            let values: Vec<&str> = items(expression, &["values"])
                .iter()
                .filter_map(Value::as_str)
                .collect();
            match str_at(expression, &["operator"]) {
                Some("In") => value.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => !value.is_some_and(|v| values.contains(&v)),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                _ => false,
            }
        });
    match_labels && match_expressions
}

fn for_each_overlay(check: impl Fn(&Manifests, &mut Vec<String>)) {
    for manifests in RENDERED.iter() {
        let mut problems = Vec::new();
        check(manifests, &mut problems);
        assert_no_problems(&manifests.source, &problems);
    }
}

#[test]
fn kubernetes_deployments_have_probes_resources_and_a_locked_down_pod() {
    for_each_overlay(|manifests, problems| {
        for deployed in deployed(manifests) {
            let name = deployed.name().to_owned();
            let container = deployed.container;
            let ops = deployed.service.ops_port();
            let ports: Vec<u16> = items(container, &["ports"])
                .iter()
                .filter_map(|port| deployed.port(at(port, &["containerPort"])?))
                .collect();
            for port in [Some(ops), deployed.service.http_port()]
                .into_iter()
                .flatten()
            {
                if !ports.contains(&port) {
                    problems.push(format!(
                        "{name}: no containerPort {port} (the code listens there)"
                    ));
                }
            }
            for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
                let get = at(container, &[probe, "httpGet"]);
                let probe_path = get.and_then(|get| str_at(get, &["path"]));
                let probe_port = get.and_then(|get| deployed.port(get.get("port")?));
                let serving = [Some(ops), deployed.service.http_port()];
                if probe_path != Some(path) || !serving.contains(&probe_port) {
                    problems.push(format!(
                        "{name}: {probe} must GET {path} on a port the service serves it on \
                         ({serving:?}); it has {probe_path:?} on {probe_port:?}"
                    ));
                }
            }
            for resource in [
                ["requests", "cpu"],
                ["requests", "memory"],
                ["limits", "cpu"],
                ["limits", "memory"],
            ] {
                if at(container, &["resources", resource[0], resource[1]]).is_none() {
                    problems.push(format!(
                        "{name}: no resources.{}.{}",
                        resource[0], resource[1]
                    ));
                }
            }
            let pod = deployed.pod_spec();
            let either = |path: &[&str]| {
                at(container, &[&["securityContext"], path].concat())
                    .or_else(|| at(pod, &[&["securityContext"], path].concat()))
            };
            let expectations: [(&[&str], Value); 5] = [
                (&["runAsNonRoot"], Value::Bool(true)),
                (&["runAsUser"], Value::Number(IMAGE_USER.into())),
                (
                    &["seccompProfile", "type"],
                    Value::String("RuntimeDefault".into()),
                ),
                (&["readOnlyRootFilesystem"], Value::Bool(true)),
                (&["allowPrivilegeEscalation"], Value::Bool(false)),
            ];
            for (path, expected) in expectations {
                if either(path) != Some(&expected) {
                    problems.push(format!(
                        "{name}: securityContext.{} must be {expected:?}",
                        path.join(".")
                    ));
                }
            }
            let drops_all = items(container, &["securityContext", "capabilities", "drop"])
                .iter()
                .any(|capability| capability.as_str() == Some("ALL"));
            if !drops_all {
                problems.push(format!(
                    "{name}: securityContext.capabilities.drop must include ALL"
                ));
            }
        }
    });
}

#[test]
fn kubernetes_environment_is_known_to_the_code_and_secrets_are_references() {
    for_each_overlay(|manifests, problems| {
        if let Some(secret) = manifests.of_kind("Secret").next() {
            problems.push(format!(
                "renders Secret {}: secrets are created out of band, never committed",
                name_of(secret)
            ));
        }
        for deployed in deployed(manifests) {
            let (vars, found) = environment(manifests, &deployed);
            problems.extend(found);
            let place = format!("{} Deployment {}", manifests.source, deployed.name());
            problems.extend(env::check(deployed.service, &vars, &place));
        }
    });
}

#[test]
fn kubernetes_mounts_the_routing_file_and_templates_the_env_names() {
    for_each_overlay(|manifests, problems| {
        let deployments = deployed(manifests);
        let notifier_vars: Vec<String> = deployments
            .iter()
            .filter(|d| d.service == Service::Notifier)
            .flat_map(|d| environment(manifests, d).0)
            .map(|var| var.name)
            .collect();
        for deployed in &deployments {
            let (vars, _) = environment(manifests, deployed);
            for variable in ["ROUTING_FILE", "TEMPLATES_DIR"] {
                let Some(path) = literal(&vars, variable) else {
                    continue;
                };
                // The ConfigMap volume mounted at the path or its directory.
                let mount = items(deployed.container, &["volumeMounts"])
                    .iter()
                    .find(|mount| {
                        str_at(mount, &["mountPath"]).is_some_and(|dir| {
                            path == dir
                                || path.starts_with(&format!("{}/", dir.trim_end_matches('/')))
                        })
                    });
                let config_map = mount
                    .and_then(|mount| str_at(mount, &["name"]))
                    .and_then(|volume| {
                        items(deployed.pod_spec(), &["volumes"])
                            .iter()
                            .find(|v| str_at(v, &["name"]) == Some(volume))
                    })
                    .and_then(|volume| str_at(volume, &["configMap", "name"]))
                    .and_then(|name| manifests.find("ConfigMap", name));
                let Some(config_map) = config_map else {
                    problems.push(format!(
                        "{}: {variable}={path} is not inside a mounted ConfigMap",
                        deployed.name()
                    ));
                    continue;
                };
                if variable != "ROUTING_FILE" {
                    continue;
                }
                let file_name = path.rsplit('/').next().unwrap_or_default();
                let Some(text) = str_at(config_map, &["data", file_name]) else {
                    problems.push(format!(
                        "{}: ConfigMap {} has no key {file_name} for ROUTING_FILE",
                        deployed.name(),
                        name_of(config_map)
                    ));
                    continue;
                };
                let place = format!("{} ConfigMap {}", manifests.source, name_of(config_map));
                let file = routing::parse(text, &place);
                problems.extend(routing::check_teams_webhooks(&file, &notifier_vars, &place));
            }
        }
    });
}

#[test]
fn kubernetes_consumers_scale_on_their_registry_topics_and_groups() {
    for_each_overlay(|manifests, problems| {
        for deployed in deployed(manifests) {
            let name = deployed.name().to_owned();
            let targets = |kind: &'static str| -> Vec<&Value> {
                manifests
                    .of_kind(kind)
                    .filter(|scaler| {
                        str_at(scaler, &["spec", "scaleTargetRef", "name"]) == Some(&name)
                    })
                    .collect()
            };
            let (hpas, scaled_objects) =
                (targets("HorizontalPodAutoscaler"), targets("ScaledObject"));
            let inputs = deployed.service.input_topics();
            if inputs.is_empty() {
                // Stateless HTTP: CPU.
                if hpas.len() != 1 || !scaled_objects.is_empty() {
                    problems.push(format!(
                        "{name}: expected one HorizontalPodAutoscaler and no ScaledObject"
                    ));
                }
                continue;
            }
            // Consumers: lag on their input topics (KEDA makes its own HPA).
            let [scaled] = scaled_objects.as_slice() else {
                problems.push(format!(
                    "{name}: expected one ScaledObject, found {}",
                    scaled_objects.len()
                ));
                continue;
            };
            if !hpas.is_empty() {
                problems.push(format!(
                    "{name}: a HorizontalPodAutoscaler would fight KEDA's"
                ));
            }
            let (vars, _) = environment(manifests, &deployed);
            let topology =
                Topology::with_prefix(literal(&vars, "TOPIC_PREFIX").unwrap_or_default());
            let bootstrap = literal(&vars, "KAFKA_BOOTSTRAP_SERVERS");
            let expected: BTreeSet<(String, String)> = inputs
                .iter()
                .map(|spec| {
                    (
                        topology.topic(spec),
                        topology.group(spec).unwrap_or_default(),
                    )
                })
                .collect();
            let mut found = BTreeSet::new();
            for trigger in items(scaled, &["spec", "triggers"]) {
                if str_at(trigger, &["type"]) != Some("kafka") {
                    continue;
                }
                let metadata = |key: &str| str_at(trigger, &["metadata", key]).map(str::to_owned);
                found.insert((
                    metadata("topic").unwrap_or_default(),
                    metadata("consumerGroup").unwrap_or_default(),
                ));
                if metadata("bootstrapServers") != bootstrap {
                    problems.push(format!(
                        "{name}: the ScaledObject asks {:?} for lag, the service reads {bootstrap:?}",
                        metadata("bootstrapServers")
                    ));
                }
            }
            if found != expected {
                problems.push(format!(
                    "{name}: ScaledObject kafka triggers (topic, consumerGroup) are {found:?}; the \
                     registry says {expected:?}"
                ));
            }
            let partitions = inputs.iter().map(|spec| spec.partitions).min().unwrap_or(1);
            let count = |key: &str| at(scaled, &["spec", key]).and_then(Value::as_i64);
            if count("maxReplicaCount").is_none_or(|max| max > i64::from(partitions)) {
                problems.push(format!(
                    "{name}: maxReplicaCount {:?} must be at most the input's {partitions} \
                     partitions (more consumers would idle)",
                    count("maxReplicaCount")
                ));
            }
            // Delay topics and tables are not triggers: something must run
            // to serve them.
            if count("minReplicaCount").is_none_or(|min| min < 1) {
                problems.push(format!("{name}: minReplicaCount must be at least 1"));
            }
        }
    });
}

#[test]
fn kubernetes_every_deployment_has_a_disruption_budget() {
    for_each_overlay(|manifests, problems| {
        for deployed in deployed(manifests) {
            let covered = manifests.of_kind("PodDisruptionBudget").any(|budget| {
                at(budget, &["spec", "selector"])
                    .is_some_and(|selector| selects(selector, deployed.pod_labels()))
            });
            if !covered {
                problems.push(format!(
                    "{}: no PodDisruptionBudget selects its pods",
                    deployed.name()
                ));
            }
        }
    });
}

#[test]
fn kubernetes_scrapes_every_service_and_alerts_on_it() {
    for_each_overlay(|manifests, problems| {
        let monitors: Vec<&Value> = manifests.of_kind("ServiceMonitor").collect();
        if monitors.is_empty() {
            problems.push("no ServiceMonitor".to_owned());
        }
        let rules = manifests
            .of_kind("PrometheusRule")
            .flat_map(|rule| items(rule, &["spec", "groups"]))
            .flat_map(|group| items(group, &["rules"]))
            .count();
        if rules == 0 {
            problems.push("no PrometheusRule with rules".to_owned());
        }
        for deployed in deployed(manifests) {
            // ServiceMonitor → Service (by labels) → pod (by selector) → the
            // container port the endpoint's port targets.
            let scraped = monitors.iter().any(|monitor| {
                let Some(selector) = at(monitor, &["spec", "selector"]) else {
                    return false;
                };
                manifests.of_kind("Service").any(|service| {
                    let labels = at(service, &["metadata", "labels"]).unwrap_or(&Value::Null);
                    let pods = at(service, &["spec", "selector"]).unwrap_or(&Value::Null);
                    let selects_pods = pods.as_mapping().is_some_and(|pods| !pods.is_empty())
                        && has_labels(pods, deployed.pod_labels());
                    if !selects(selector, labels) || !selects_pods {
                        return false;
                    }
                    items(monitor, &["spec", "endpoints"])
                        .iter()
                        .any(|endpoint| {
                            let port_name = str_at(endpoint, &["port"]);
                            items(service, &["spec", "ports"]).iter().any(|port| {
                                port_name.is_some()
                                    && str_at(port, &["name"]) == port_name
                                    && port
                                        .get("targetPort")
                                        .or_else(|| port.get("port"))
                                        .and_then(|target| deployed.port(target))
                                        == Some(deployed.service.ops_port())
                            })
                        })
                })
            });
            if !scraped {
                problems.push(format!(
                    "{}: no ServiceMonitor endpoint reaches its ops port {} (/metrics)",
                    deployed.name(),
                    deployed.service.ops_port()
                ));
            }
        }
    });
}

#[test]
fn kubernetes_network_policies_fence_every_pod() {
    for_each_overlay(|manifests, problems| {
        let policies: Vec<&Value> = manifests.of_kind("NetworkPolicy").collect();
        for deployed in deployed(manifests) {
            let applying: Vec<&&Value> = policies
                .iter()
                .filter(|policy| {
                    at(policy, &["spec", "podSelector"])
                        .is_some_and(|selector| selects(selector, deployed.pod_labels()))
                })
                .collect();
            let types: BTreeSet<&str> = applying
                .iter()
                .flat_map(|policy| items(policy, &["spec", "policyTypes"]))
                .filter_map(Value::as_str)
                .collect();
            if !(types.contains("Ingress") && types.contains("Egress")) {
                problems.push(format!(
                    "{}: its pods are not fenced both ways (policy types {types:?})",
                    deployed.name()
                ));
            }
            let allowed_in: Vec<u16> = applying
                .iter()
                .flat_map(|policy| items(policy, &["spec", "ingress"]))
                .flat_map(|rule| items(rule, &["ports"]))
                .filter_map(|port| deployed.port(port.get("port")?))
                .collect();
            for port in [
                Some(deployed.service.ops_port()),
                deployed.service.http_port(),
            ]
            .into_iter()
            .flatten()
            {
                if !allowed_in.contains(&port) {
                    problems.push(format!(
                        "{}: no policy admits traffic to port {port}",
                        deployed.name()
                    ));
                }
            }
        }
    });
}

#[test]
fn production_runs_a_pinned_image() {
    let production = &RENDERED[0];
    let mut problems = Vec::new();
    for deployed in deployed(production) {
        let image = str_at(deployed.container, &["image"]).unwrap_or_default();
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .unwrap_or_default();
        if tag.is_empty() || tag == "latest" || tag.contains('/') {
            problems.push(format!(
                "{}: image {image} is not pinned to a release",
                deployed.name()
            ));
        }
    }
    assert_no_problems(&production.source, &problems);
}
