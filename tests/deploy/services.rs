//! What the code says about each service: its binary, the environment it
//! reads, its ports and the topics it consumes.

use survey_contracts::topics::{self, TopicSpec};
use survey_enricher::EnricherConfig;
use survey_filter::FilterConfig;
use survey_ingest::IngestConfig;
use survey_notifier::NotifierConfig;

/// One of the pipeline's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ingest,
    Filter,
    Enricher,
    Notifier,
}

impl Service {
    /// Every service, in pipeline order.
    pub const ALL: [Self; 4] = [Self::Ingest, Self::Filter, Self::Enricher, Self::Notifier];

    /// The name the registry uses for it (`TopicSpec::producer`/`consumer`),
    /// also its compose service and Kubernetes component.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Filter => "filter",
            Self::Enricher => "enricher",
            Self::Notifier => "notifier",
        }
    }

    /// Its cargo binary.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Ingest => "survey-ingest",
            Self::Filter => "survey-filter",
            Self::Enricher => "survey-enricher",
            Self::Notifier => "survey-notifier",
        }
    }

    /// The service whose binary `command` runs.
    pub fn by_binary(binary: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|service| service.binary() == binary)
    }

    /// The plain variables it reads besides the common ones.
    pub fn env_aliases(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Ingest => survey_ingest::config::ENV_ALIASES,
            Self::Filter => survey_filter::config::ENV_ALIASES,
            Self::Enricher => survey_enricher::config::ENV_ALIASES,
            Self::Notifier => survey_notifier::config::ENV_ALIASES,
        }
    }

    /// Deserializes a configuration tree into the service's config type,
    /// which refuses unknown fields.
    pub fn parse_config(self, tree: serde_yaml::Value) -> Result<(), serde_yaml::Error> {
        match self {
            Self::Ingest => serde_yaml::from_value::<IngestConfig>(tree).map(drop),
            Self::Filter => serde_yaml::from_value::<FilterConfig>(tree).map(drop),
            Self::Enricher => serde_yaml::from_value::<EnricherConfig>(tree).map(drop),
            Self::Notifier => serde_yaml::from_value::<NotifierConfig>(tree).map(drop),
        }
    }

    /// The port of `/healthz`, `/readyz` and `/metrics` (`OPS_ADDR`).
    pub fn ops_port(self) -> u16 {
        match self {
            Self::Ingest => IngestConfig::default().ops_addr.port(),
            Self::Filter => FilterConfig::default().ops_addr.port(),
            Self::Enricher => EnricherConfig::default().ops_addr.port(),
            Self::Notifier => NotifierConfig::default().ops_addr.port(),
        }
    }

    /// The webhook port, for the service that takes webhooks (`LISTEN_ADDR`).
    pub fn http_port(self) -> Option<u16> {
        (self == Self::Ingest).then(|| IngestConfig::default().listen_addr.port())
    }

    /// The topics it reads from another stage through a consumer group:
    /// what its lag, and so its scaling, is measured on. Its own delay
    /// topics (it writes them too) and tables (no group) are not inputs.
    pub fn input_topics(self) -> Vec<&'static TopicSpec> {
        topics::ALL
            .iter()
            .filter(|spec| {
                spec.consumer == Some(self.name())
                    && spec.producer != self.name()
                    && spec.consumer_group.is_some()
            })
            .collect()
    }
}
