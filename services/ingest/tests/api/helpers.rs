use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use survey_ingest::auth::sign;
use survey_ingest::{Application, IngestConfig};
use survey_runtime::{KafkaSettings, Shutdown};

pub const SECRET: &str = "test-webhook-secret";

/// One running ingest on a random port, with its own topics.
pub struct TestApp {
    pub address: SocketAddr,
    pub kafka: KafkaSettings,
    pub http: reqwest::Client,
    pub shutdown: Shutdown,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts a signed JSON body.
    pub async fn post_signed(&self, body: &serde_json::Value) -> reqwest::Response {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.http
            .post(self.url("/webhooks/survey"))
            .header("content-type", "application/json")
            .header("x-signature-256", sign(SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// Topic name of this app's deployment.
    pub fn raw_topic(&self) -> String {
        self.kafka
            .topology()
            .topic(&survey_contracts::topics::SURVEY_RESPONSES_RAW)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn config(kafka: KafkaSettings) -> IngestConfig {
    let mut config = IngestConfig {
        kafka,
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ops_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        publish_timeout: Duration::from_secs(2),
        ..IngestConfig::default()
    };
    config.auth.webhook_secret = Some(SecretString::from(SECRET.to_owned()));
    config
}

pub async fn spawn_with(config: IngestConfig) -> TestApp {
    let kafka = config.kafka.clone();
    let app = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("ingest failed to start: {e:#}"));
    let address = app.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let shutdown = Shutdown::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        kafka,
        http: reqwest::Client::new(),
        shutdown,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(config(survey_test_support::kafka_settings())).await
}
