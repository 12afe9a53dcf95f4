//! Shared test plumbing.

use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use survey_sandbox::{Sandbox, SandboxConfig, Seed};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A quiet sandbox on a free loopback port, with a client for it.
pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub client: Client,
    pub base: String,
}

pub async fn spawn_sandbox(
    seed: Seed,
) -> Result<TestSandbox, Box<dyn std::error::Error + Send + Sync>> {
    let sandbox = Sandbox::start(SandboxConfig {
        seed,
        quiet: true,
        ..SandboxConfig::default()
    })
    .await?;
    let client = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let base = sandbox.base_url();
    Ok(TestSandbox {
        sandbox,
        client,
        base,
    })
}

impl TestSandbox {
    /// A Genesys access token through the client credentials grant.
    pub async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let response = self
            .client
            .post(format!("{}/oauth/token", self.base))
            .basic_auth("sandbox-client", Some("sandbox-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await?;
        Ok(body["access_token"]
            .as_str()
            .ok_or("no access_token")?
            .to_owned())
    }

    /// `GET {base}{path}` with a bearer token.
    pub async fn genesys_get(&self, token: &str, path: &str) -> reqwest::Result<Response> {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
    }

    /// `POST {base}/api/{method}` as a Slack bot.
    pub async fn slack(&self, method: &str, body: Value) -> reqwest::Result<Response> {
        self.client
            .post(format!("{}/api/{method}", self.base))
            .bearer_auth("xoxb-sandbox-test")
            .json(&body)
            .send()
            .await
    }
}

/// The header `name` of `response` as text.
pub fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
