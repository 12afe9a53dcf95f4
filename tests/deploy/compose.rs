//! `docker-compose.yml` and the local Prometheus checked against the code.

use serde_yaml::Value;
use survey_runtime::config::COMMON_ENV_ALIASES;
use survey_sandbox::demo;

use crate::env::{self, EnvVar};
use crate::routing;
use crate::services::Service;
use crate::support::{self, assert_no_problems, items, scalar, str_at};

const COMPOSE: &str = "docker-compose.yml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";

/// The compose file, merge keys resolved.
struct Compose {
    root: Value,
}

impl Compose {
    fn load() -> Self {
        Self {
            root: support::read_yaml(COMPOSE),
        }
    }

    fn service(&self, name: &str) -> &Value {
        support::at(&self.root, &["services", name])
            .unwrap_or_else(|| panic!("{COMPOSE} has no service `{name}`"))
    }

    fn command(&self, name: &str) -> Vec<String> {
        items(self.service(name), &["command"])
            .iter()
            .filter_map(scalar)
            .collect()
    }

    /// The service's variables, from a mapping or a `NAME=value` list.
    fn environment(&self, name: &str) -> Vec<EnvVar> {
        match support::at(self.service(name), &["environment"]) {
            Some(Value::Mapping(mapping)) => mapping
                .iter()
                .filter_map(|(key, value)| {
                    let key = key.as_str()?;
                    Some(match scalar(value) {
                        Some(text) => EnvVar::literal(key, text),
                        None => EnvVar::unseen(key),
                    })
                })
                .collect(),
            Some(Value::Sequence(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(|entry| match entry.split_once('=') {
                    Some((key, value)) => EnvVar::literal(key, value),
                    None => EnvVar::unseen(entry),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn env_value(&self, service: &str, variable: &str) -> Option<String> {
        self.environment(service)
            .into_iter()
            .find(|var| var.name == variable)
            .and_then(|var| match var.value {
                env::EnvValue::Literal(text) => Some(text),
                env::EnvValue::Unseen => None,
            })
    }

    /// `(service, condition)` pairs of `depends_on`.
    fn depends_on(&self, name: &str) -> Vec<(String, String)> {
        match support::at(self.service(name), &["depends_on"]) {
            Some(Value::Mapping(mapping)) => mapping
                .iter()
                .filter_map(|(key, value)| {
                    let condition = str_at(value, &["condition"]).unwrap_or("service_started");
                    Some((key.as_str()?.to_owned(), condition.to_owned()))
                })
                .collect(),
            Some(Value::Sequence(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(|key| (key.to_owned(), "service_started".to_owned()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The container ports the service publishes or exposes.
    fn container_ports(&self, name: &str) -> Vec<u16> {
        let service = self.service(name);
        let published = items(service, &["ports"]).iter().filter_map(|entry| {
            // "host_ip:host:container", "host:container" or "container".
            scalar(entry)?
                .rsplit(':')
                .next()?
                .split('/')
                .next()?
                .parse()
                .ok()
        });
        let exposed = items(service, &["expose"])
            .iter()
            .filter_map(|entry| scalar(entry)?.split('/').next()?.parse().ok());
        published.chain(exposed).collect()
    }

    fn healthcheck(&self, name: &str) -> String {
        items(self.service(name), &["healthcheck", "test"])
            .iter()
            .filter_map(scalar)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The host file mounted at `target` in the service, if any.
    fn mount_source(&self, name: &str, target: &str) -> Option<String> {
        items(self.service(name), &["volumes"])
            .iter()
            .find_map(|volume| {
                let text = scalar(volume)?;
                let mut parts = text.split(':');
                let (source, mounted) = (parts.next()?, parts.next()?);
                (mounted == target).then(|| source.to_owned())
            })
    }
}

#[test]
fn compose_has_the_pipeline_and_its_platform() {
    let compose = Compose::load();
    for name in Service::ALL.iter().map(|service| service.name()).chain([
        "sandbox",
        "topics",
        "kafka",
        "schema-registry",
    ]) {
        compose.service(name);
    }
}

#[test]
fn compose_services_run_their_binaries() {
    let compose = Compose::load();
    let mut problems = Vec::new();
    for service in Service::ALL {
        let command = compose.command(service.name());
        if command.first().map(String::as_str) != Some(service.binary()) {
            problems.push(format!(
                "service {} runs {command:?}, not {}",
                service.name(),
                service.binary()
            ));
        }
    }
    if compose.command("topics") != ["survey-ctl", "provision"] {
        problems.push(format!(
            "service topics runs {:?}, not survey-ctl provision",
            compose.command("topics")
        ));
    }
    if compose.command("sandbox").first().map(String::as_str) != Some("survey-sandbox") {
        problems.push("service sandbox does not run survey-sandbox".to_owned());
    }
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_environment_is_known_to_the_code() {
    let compose = Compose::load();
    let mut problems = Vec::new();
    for service in Service::ALL {
        let place = format!("{COMPOSE} service {}", service.name());
        problems.extend(env::check(
            service,
            &compose.environment(service.name()),
            &place,
        ));
    }
    // survey-ctl reads the connection variables every service reads.
    for var in compose.environment("topics") {
        if !COMMON_ENV_ALIASES.iter().any(|(name, _)| *name == var.name) || var.name == "OPS_ADDR" {
            problems.push(format!(
                "{COMPOSE} service topics: survey-ctl does not read {}",
                var.name
            ));
        }
    }
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_ports_and_health_checks_match_the_code() {
    let compose = Compose::load();
    let mut problems = Vec::new();
    for service in Service::ALL {
        let name = service.name();
        let ports = compose.container_ports(name);
        let ops = service.ops_port();
        if !ports.contains(&ops) {
            problems.push(format!(
                "{name} neither exposes nor publishes its ops port {ops}"
            ));
        }
        // Readiness of the port that matters: the webhook port for ingest.
        let ready_port = service.http_port().unwrap_or(ops);
        if let Some(http) = service.http_port()
            && !items(compose.service(name), &["ports"])
                .iter()
                .filter_map(scalar)
                .any(|entry| entry.ends_with(&format!(":{http}")))
        {
            problems.push(format!("{name} does not publish its webhook port {http}"));
        }
        let check = compose.healthcheck(name);
        if !check.contains(&format!(":{ready_port}/readyz")) {
            problems.push(format!(
                "{name}'s health check `{check}` does not ask :{ready_port}/readyz"
            ));
        }
    }
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_starts_everything_in_order() {
    let compose = Compose::load();
    let mut problems = Vec::new();
    let mut expect = |service: &str, dependency: &str, condition: &str| {
        let found = compose.depends_on(service);
        if !found
            .iter()
            .any(|(name, found)| name == dependency && found == condition)
        {
            problems.push(format!(
                "{service} must depend on {dependency} with condition {condition}; it has {found:?}"
            ));
        }
    };
    expect("topics", "kafka", "service_healthy");
    expect("topics", "schema-registry", "service_healthy");
    for service in Service::ALL {
        expect(service.name(), "topics", "service_completed_successfully");
        let reads_saas = compose
            .environment(service.name())
            .iter()
            .any(|var| var.name.starts_with("GENESYS_") || var.name.starts_with("SLACK_"));
        if reads_saas {
            expect(service.name(), "sandbox", "service_healthy");
        }
    }
    // Every awaited health check exists.
    let names: Vec<String> = support::at(&compose.root, &["services"])
        .and_then(Value::as_mapping)
        .map(|services| {
            services
                .keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for name in &names {
        for (dependency, condition) in compose.depends_on(name) {
            if !names.contains(&dependency) {
                problems.push(format!("{name} depends on unknown service {dependency}"));
            } else if condition == "service_healthy" && compose.healthcheck(&dependency).is_empty()
            {
                problems.push(format!(
                    "{name} waits for {dependency} to be healthy, which has no health check"
                ));
            }
        }
    }
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_uses_one_topic_prefix() {
    let compose = Compose::load();
    let prefixes: Vec<(String, String)> = Service::ALL
        .iter()
        .map(|service| service.name())
        .chain(["topics"])
        .map(|name| {
            let prefix = compose.env_value(name, "TOPIC_PREFIX").unwrap_or_default();
            (name.to_owned(), prefix)
        })
        .collect();
    let first = &prefixes[0].1;
    assert!(
        prefixes.iter().all(|(_, prefix)| prefix == first),
        "{COMPOSE}: TOPIC_PREFIX differs between services: {prefixes:?}"
    );
}

#[test]
fn compose_points_the_saas_clients_at_the_sandbox() {
    let compose = Compose::load();
    let command = compose.command("sandbox");
    let flag = |name: &str| {
        command
            .iter()
            .position(|arg| arg == name)
            .and_then(|at| command.get(at + 1))
            .and_then(|addr| addr.rsplit(':').next())
            .unwrap_or_else(|| panic!("sandbox command {command:?} has no {name} address"))
            .to_owned()
    };
    let base = format!("http://sandbox:{}", flag("--http"));
    let smtp_port = flag("--smtp");
    let mut problems = Vec::new();
    for service in Service::ALL {
        for var in compose.environment(service.name()) {
            let env::EnvValue::Literal(value) = &var.value else {
                continue;
            };
            let expected = match var.name.as_str() {
                "GENESYS_API_URL" | "GENESYS_LOGIN_URL" => base.clone(),
                "SLACK_API_URL" => format!("{base}/api"),
                "SMTP_HOST" => "sandbox".to_owned(),
                "SMTP_PORT" => smtp_port.clone(),
                name if name.starts_with("SURVEY_ALERTS__TEAMS__WEBHOOKS__") => {
                    if !value.starts_with(&format!("{base}/teams/")) {
                        problems.push(format!("{}: {name}={value} is not a sandbox Teams webhook ({base}/teams/<name>)", service.name()));
                    }
                    continue;
                }
                _ => continue,
            };
            if *value != expected {
                problems.push(format!(
                    "{}: {}={value}, the sandbox is at {expected}",
                    service.name(),
                    var.name
                ));
            }
        }
    }
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_routing_file_names_the_sandbox_demo() {
    let compose = Compose::load();
    let path = compose
        .env_value("enricher", "ROUTING_FILE")
        .unwrap_or_else(|| panic!("{COMPOSE}: the enricher has no ROUTING_FILE"));
    let source = compose.mount_source("enricher", &path).unwrap_or_else(|| {
        panic!("{COMPOSE}: nothing is mounted at the enricher's ROUTING_FILE {path}")
    });
    let relative = source.trim_start_matches("./");
    let file = routing::parse(&support::read(relative), relative);

    let mut problems = Vec::new();
    let queues = [demo::BILLING_QUEUE_ID];
    let supervisors = [demo::SUPERVISOR_MARIA_ID, demo::SUPERVISOR_JAMES_ID];
    for (queue, route) in &file.queues {
        if !queues.contains(&queue.as_str()) {
            problems.push(format!(
                "queue {queue} is not in the sandbox's demo organisation"
            ));
        }
        for supervisor in &route.supervisors {
            if !supervisors.contains(&supervisor.as_str()) {
                problems.push(format!(
                    "supervisor {supervisor} of queue {queue} is not a demo supervisor"
                ));
            }
        }
    }
    let notifier_vars: Vec<String> = compose
        .environment("notifier")
        .into_iter()
        .map(|var| var.name)
        .collect();
    problems.extend(routing::check_teams_webhooks(
        &file,
        &notifier_vars,
        relative,
    ));
    assert_no_problems(relative, &problems);
}

#[test]
fn prometheus_scrapes_every_service_on_its_ops_port() {
    let config = support::read_yaml(PROMETHEUS);
    let targets: Vec<String> = items(&config, &["scrape_configs"])
        .iter()
        .flat_map(|job| items(job, &["static_configs"]))
        .flat_map(|group| items(group, &["targets"]))
        .filter_map(scalar)
        .collect();
    let expected: Vec<String> = Service::ALL
        .iter()
        .map(|service| format!("{}:{}", service.name(), service.ops_port()))
        .collect();
    let mut sorted = targets.clone();
    sorted.sort();
    let mut wanted = expected.clone();
    wanted.sort();
    assert_eq!(sorted, wanted, "{PROMETHEUS}: scrape targets");
}
