//! Registers the embedded schemas and their compatibility modes with a
//! Confluent-compatible registry (Confluent Schema Registry, or Apicurio's
//! `/apis/ccompat/v7`).

use serde::Deserialize;
use serde_json::json;

use crate::codec::CodecError;
use crate::schemas::SchemaSpec;

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A thin client for the registry's write endpoints.
#[derive(Debug, Clone)]
pub struct RegistryAdmin {
    base_url: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

impl RegistryAdmin {
    /// A client for the registry at `base_url`.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sets the subject's compatibility, then registers the schema under it
    /// (idempotent: an identical schema keeps its id). Returns the schema id.
    pub async fn register(&self, subject: &str, spec: &SchemaSpec) -> Result<u32, CodecError> {
        let config_url = format!("{}/config/{subject}", self.base_url);
        let body = json!({ "compatibility": spec.compatibility.as_registry_str() });
        let set_compatibility = || self.send(self.http.put(&config_url).json(&body));
        match set_compatibility().await {
            // Apicurio answers 409 when another service created the subject's
            // rule a moment earlier (services start together); setting it
            // again then updates that rule.
            Err(CodecError::Registry(message)) if message.starts_with("409") => {
                set_compatibility().await?;
            }
            other => {
                other?;
            }
        }

        let url = format!("{}/subjects/{subject}/versions", self.base_url);
        let body = json!({ "schema": spec.text, "schemaType": "AVRO" });
        let response = self.send(self.http.post(&url).json(&body)).await?;
        let registered: Registered = response
            .json()
            .await
            .map_err(|e| CodecError::Registry(format!("registering {subject}: {e}")))?;
        Ok(registered.id)
    }

    /// The compatibility level configured for a subject.
    pub async fn compatibility(&self, subject: &str) -> Result<String, CodecError> {
        let url = format!("{}/config/{subject}", self.base_url);
        let response = self.send(self.http.get(&url)).await?;
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| CodecError::Registry(format!("reading config of {subject}: {e}")))?;
        Ok(body
            .get("compatibilityLevel")
            .or_else(|| body.get("compatibility"))
            .and_then(|level| level.as_str())
            .unwrap_or_default()
            .to_owned())
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CodecError> {
        let response = request
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .send()
            .await
            .map_err(|e| CodecError::RegistryUnavailable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = format!("{status}: {text}");
        if status.is_server_error() {
            Err(CodecError::RegistryUnavailable(message))
        } else {
            Err(CodecError::Registry(message))
        }
    }
}
