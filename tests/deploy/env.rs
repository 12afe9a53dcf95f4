//! Environment variables checked against the code. A variable must be one
//! the service reads, and together the values must make a configuration the
//! service accepts: its config types refuse unknown fields, so a misspelt
//! `SURVEY_ALERTS__SECTION__FIELD` fails like a misspelt plain alias.

use serde_yaml::{Mapping, Value};
use survey_runtime::config::COMMON_ENV_ALIASES;

use crate::services::Service;

/// Read by the runtime itself rather than through a config key.
const RUNTIME_VARIABLES: &[&str] = &[
    // survey_runtime::telemetry::init
    "RUST_LOG",
    "LOG_FORMAT",
    // survey_runtime::config::load_config: the TOML file layer
    "SURVEY_ALERTS_CONFIG",
];

/// The OpenTelemetry SDK's standard variables for traces. Not
/// `OTEL_SERVICE_NAME`: telemetry::init names each service itself, so the
/// variable would have no effect.
const OTEL_VARIABLES: &[&str] = &[
    "OTEL_SDK_DISABLED",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
];

/// The plain variables that carry secrets.
const SECRET_ALIASES: &[&str] = &[
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_PREVIOUS",
    "WEBHOOK_TOKEN",
    "WEBHOOK_TOKEN_PREVIOUS",
    "GENESYS_CLIENT_SECRET",
    "SLACK_BOT_TOKEN",
    "SMTP_PASSWORD",
];

/// Config keys under which every entry is a secret (Teams webhook URLs carry
/// their own credentials).
const SECRET_SECTIONS: &[&str] = &["teams.webhooks."];

/// Prefix of the variables that address any config key.
const CONFIG_PREFIX: &str = "SURVEY_ALERTS__";

/// A variable as a deployment file sets it.
#[derive(Debug, Clone)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone)]
pub enum EnvValue {
    /// Written in the file (or a ConfigMap it renders).
    Literal(String),
    /// Referenced from a secret store, or passed through from the host.
    Unseen,
}

impl EnvVar {
    pub fn literal(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            value: EnvValue::Literal(value.into()),
        }
    }

    pub fn unseen(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: EnvValue::Unseen,
        }
    }
}

/// The config key a variable sets for `service`, if it sets one.
pub fn config_key(service: Service, name: &str) -> Option<String> {
    if let Some(path) = name.strip_prefix(CONFIG_PREFIX) {
        // The config crate lower-cases environment keys.
        return Some(
            path.split("__")
                .collect::<Vec<_>>()
                .join(".")
                .to_lowercase(),
        );
    }
    COMMON_ENV_ALIASES
        .iter()
        .chain(service.env_aliases())
        .find(|(variable, _)| *variable == name)
        .map(|(_, key)| (*key).to_owned())
}

/// Whether the variable holds a secret for `service`: a secret alias, or
/// any name that sets the same config key.
pub fn is_secret(service: Service, name: &str) -> bool {
    let Some(key) = config_key(service, name) else {
        return false;
    };
    SECRET_SECTIONS
        .iter()
        .any(|section| key.starts_with(section))
        || SECRET_ALIASES
            .iter()
            .filter_map(|alias| config_key(service, alias))
            .any(|secret_key| secret_key == key)
}

/// Every problem with the variables a deployment gives `service`; `place`
/// says where, for the messages.
pub fn check(service: Service, vars: &[EnvVar], place: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut tree = Mapping::new();
    let mut keys_seen: Vec<(String, &str)> = Vec::new();
    for var in vars {
        let name = var.name.as_str();
        if RUNTIME_VARIABLES.contains(&name) || OTEL_VARIABLES.contains(&name) {
            if name == "LOG_FORMAT"
                && let EnvValue::Literal(format) = &var.value
                && !matches!(format.as_str(), "json" | "text")
            {
                problems.push(format!(
                    "{place}: LOG_FORMAT must be json or text, not {format:?}"
                ));
            }
            continue;
        }
        let Some(key) = config_key(service, name) else {
            problems.push(format!(
                "{place}: {name} is not read by {} (not in COMMON_ENV_ALIASES or its \
                 ENV_ALIASES, not {CONFIG_PREFIX}*, RUST_LOG, LOG_FORMAT or a standard OTEL_* \
                 variable): a typo?",
                service.binary()
            ));
            continue;
        };
        if let Some((_, other)) = keys_seen.iter().find(|(seen, _)| *seen == key) {
            problems.push(format!("{place}: {name} and {other} both set `{key}`"));
            continue;
        }
        keys_seen.push((key.clone(), name));
        let value = match &var.value {
            EnvValue::Literal(text) => typed(text),
            EnvValue::Unseen => Value::String("value-from-elsewhere".to_owned()),
        };
        if let Err(error) = insert(&mut tree, &key, value) {
            problems.push(format!("{place}: {name}: {error}"));
        }
    }
    if let Err(error) = service.parse_config(Value::Mapping(tree)) {
        problems.push(format!(
            "{place}: {} refuses the configuration these variables make: {error}",
            service.binary()
        ));
    }
    problems
}

/// A variable's text as the config crate would read it: booleans and
/// numbers where they parse as such.
fn typed(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Value::Number(integer.into());
    }
    match text.parse::<f64>() {
        Ok(float) if text.contains('.') && float.is_finite() => Value::Number(float.into()),
        _ => Value::String(text.to_owned()),
    }
}

/// Sets the dotted `key` in the nested `tree`.
fn insert(tree: &mut Mapping, key: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(format!("`{key}` has an empty segment"));
    }
    let leaf = parts.pop().unwrap_or_default();
    let mut node = tree;
    for part in parts {
        let child = node
            .entry(Value::String(part.to_owned()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        node = child
            .as_mapping_mut()
            .ok_or_else(|| format!("`{part}` is set both as a value and as a section"))?;
    }
    node.insert(Value::String(leaf.to_owned()), value);
    Ok(())
}
