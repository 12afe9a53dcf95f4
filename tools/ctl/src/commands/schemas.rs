//! `schemas register` and `schemas check`: the embedded contracts against the
//! Confluent-compatible registry (Confluent, or Apicurio's
//! `/apis/ccompat/v7`). Subjects follow TopicNameStrategy (`<topic>-value`).

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use survey_contracts::Topology;
use survey_contracts::registry_admin::RegistryAdmin;
use survey_contracts::topics::{self, ValueFormat};

use crate::table::Table;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A schema to register or check under a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Registry subject.
    pub subject: String,
    /// Where the schema comes from (the `.avsc` file name).
    pub source: String,
    /// The schema text.
    pub text: String,
}

/// Every embedded value schema under this deployment's subject for it.
pub fn embedded(topology: &Topology) -> Vec<Candidate> {
    topics::ALL
        .iter()
        .filter_map(|spec| match spec.value {
            ValueFormat::Avro(schema) => Some(Candidate {
                subject: topology.value_subject(spec),
                source: schema.file.to_owned(),
                text: schema.text.to_owned(),
            }),
            ValueFormat::DeadLetter => None,
        })
        .collect()
}

/// One registered subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Registry subject.
    pub subject: String,
    /// The `.avsc` file.
    pub source: String,
    /// The compatibility level set on the subject.
    pub compatibility: &'static str,
    /// The schema id the registry gave it.
    pub id: u32,
}

/// What `schemas register` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterReport {
    /// One entry per subject, in registry order.
    pub registered: Vec<Registered>,
}

impl fmt::Display for RegisterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(["subject", "schema", "compatibility", "id"]);
        for entry in &self.registered {
            table.row([
                entry.subject.clone(),
                entry.source.clone(),
                entry.compatibility.to_owned(),
                entry.id.to_string(),
            ]);
        }
        write!(f, "{table}")?;
        writeln!(f, "{} subjects registered", self.registered.len())
    }
}

/// Sets each subject's compatibility level and registers its embedded schema
/// (idempotent: an unchanged schema keeps its id).
pub async fn register(registry_url: &str, topology: &Topology) -> anyhow::Result<RegisterReport> {
    let admin = RegistryAdmin::new(registry_url);
    let mut registered = Vec::new();
    for spec in topics::ALL {
        let ValueFormat::Avro(schema) = spec.value else {
            continue;
        };
        let subject = topology.value_subject(spec);
        let id = admin
            .register(&subject, schema)
            .await
            .with_context(|| format!("registering {subject}"))?;
        registered.push(Registered {
            subject,
            source: schema.file.to_owned(),
            compatibility: schema.compatibility.as_registry_str(),
            id,
        });
    }
    Ok(RegisterReport { registered })
}

/// The registry's verdict on one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing is registered under the subject yet: registering it is safe.
    New,
    /// Compatible with the registered versions, under the subject's level.
    Compatible {
        /// The newest registered version.
        latest: i64,
    },
    /// Registering it would be refused.
    Incompatible {
        /// The newest registered version.
        latest: i64,
        /// The registry's explanation, where it gives one.
        messages: Vec<String>,
    },
}

/// One checked subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The candidate.
    pub candidate: Candidate,
    /// The verdict.
    pub verdict: Verdict,
}

/// What `schemas check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One entry per candidate, in the order given.
    pub checked: Vec<Checked>,
}

impl CheckReport {
    /// The subjects whose candidate the registry would refuse.
    pub fn incompatible(&self) -> Vec<&str> {
        self.checked
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Incompatible { .. }))
            .map(|c| c.candidate.subject.as_str())
            .collect()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(["subject", "schema", "registered", "verdict", "details"]);
        for checked in &self.checked {
            let (latest, verdict, details) = match &checked.verdict {
                Verdict::New => ("-".to_owned(), "new", String::new()),
                Verdict::Compatible { latest } => {
                    (format!("v{latest}"), "compatible", String::new())
                }
                Verdict::Incompatible { latest, messages } => {
                    (format!("v{latest}"), "INCOMPATIBLE", messages.join("; "))
                }
            };
            table.row([
                checked.candidate.subject.clone(),
                checked.candidate.source.clone(),
                latest,
                verdict.to_owned(),
                details,
            ]);
        }
        write!(f, "{table}")?;
        match self.incompatible().len() {
            0 => writeln!(f, "all {} schemas can be registered", self.checked.len()),
            n => writeln!(
                f,
                "{n} of {} schemas are incompatible with what is registered",
                self.checked.len()
            ),
        }
    }
}

#[derive(Deserialize)]
struct CompatibilityAnswer {
    is_compatible: bool,
    #[serde(default)]
    messages: Vec<String>,
}

/// Asks the registry whether each candidate could be registered under its
/// subject, by the subject's compatibility level (Confluent's
/// `POST /compatibility/subjects/{subject}/versions/latest`).
pub async fn check(registry_url: &str, candidates: &[Candidate]) -> anyhow::Result<CheckReport> {
    let base = registry_url.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("creating the HTTP client")?;
    let mut checked = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let subject = &candidate.subject;
        let verdict = match latest_version(&http, base, subject).await? {
            None => Verdict::New,
            Some(latest) => {
                let url =
                    format!("{base}/compatibility/subjects/{subject}/versions/latest?verbose=true");
                let body = json!({ "schema": candidate.text, "schemaType": "AVRO" });
                let response = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .json(&body)
                    .send()
                    .await
                    .with_context(|| format!("checking {subject} at {base}"))?;
                match response.status() {
                    StatusCode::NOT_FOUND => Verdict::New,
                    status if status.is_success() => {
                        let answer: CompatibilityAnswer = response
                            .json()
                            .await
                            .with_context(|| format!("reading the verdict on {subject}"))?;
                        if answer.is_compatible {
                            Verdict::Compatible { latest }
                        } else {
                            Verdict::Incompatible {
                                latest,
                                messages: answer.messages,
                            }
                        }
                    }
                    status => anyhow::bail!(
                        "checking {subject}: {status}: {}",
                        response.text().await.unwrap_or_default()
                    ),
                }
            }
        };
        checked.push(Checked {
            candidate: candidate.clone(),
            verdict,
        });
    }
    Ok(CheckReport { checked })
}

/// The newest version registered under `subject`; `None` for an unknown
/// subject.
async fn latest_version(
    http: &reqwest::Client,
    base: &str,
    subject: &str,
) -> anyhow::Result<Option<i64>> {
    let response = http
        .get(format!("{base}/subjects/{subject}/versions"))
        .header(reqwest::header::ACCEPT, CONTENT_TYPE)
        .send()
        .await
        .with_context(|| format!("listing the versions of {subject} at {base}"))?;
    match response.status() {
        StatusCode::NOT_FOUND => Ok(None),
        status if status.is_success() => {
            let versions: Vec<i64> = response
                .json()
                .await
                .with_context(|| format!("reading the versions of {subject}"))?;
            Ok(versions.into_iter().max())
        }
        status => anyhow::bail!(
            "listing the versions of {subject}: {status}: {}",
            response.text().await.unwrap_or_default()
        ),
    }
}
