//! The servers under load, each on its own Tokio runtime and threads, as if
//! it were its own process: the real ingest, and a baseline that does
//! ingest's request work (signature, JSON, validation) but no Kafka.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::SecretString;
use survey_ingest::auth::{Authenticator, SIGNATURE_HEADER};
use survey_ingest::config::AuthSettings;
use survey_ingest::webhook::{TimeBounds, parse_survey};
use survey_ingest::{Application, IngestConfig};
use survey_runtime::{KafkaSettings, Shutdown};

/// What to serve.
#[derive(Debug, Clone)]
pub enum Kind {
    /// The real ingest, publishing to Kafka.
    Ingest(KafkaSettings),
    /// Validation and signature check only, 202 without Kafka.
    Baseline,
}

/// A server running on its own runtime thread.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Shutdown,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl Server {
    /// Starts the server on a runtime with `threads` workers and waits until
    /// it listens.
    pub fn start(kind: Kind, secret: &str, threads: usize) -> Result<Self> {
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let secret = secret.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr>>();
        let thread = std::thread::Builder::new()
            .name("bench-server".to_owned())
            .spawn(move || -> Result<()> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    // Named, so that a profile (`perf report --comm server-worker`)
                    // can tell the server's threads from the load generator's.
                    .thread_name("server-worker")
                    .enable_all()
                    .build()
                    .context("building the server runtime")?;
                runtime.block_on(serve(kind, secret, stop, ready_tx))
            })
            .context("spawning the server thread")?;
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| anyhow!("the server did not start within 120 s"))??;
        Ok(Self {
            addr,
            shutdown,
            thread,
        })
    }

    /// Stops the server and waits for it (ingest flushes its producer).
    pub fn stop(self) -> Result<()> {
        self.shutdown.trigger();
        self.thread
            .join()
            .map_err(|_| anyhow!("the server thread panicked"))?
    }
}

async fn serve(
    kind: Kind,
    secret: String,
    shutdown: Shutdown,
    ready: std::sync::mpsc::Sender<Result<SocketAddr>>,
) -> Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    match kind {
        Kind::Ingest(kafka) => {
            let config = IngestConfig {
                kafka,
                listen_addr: loopback,
                ops_addr: loopback,
                auth: AuthSettings {
                    webhook_secret: Some(SecretString::from(secret)),
                    ..AuthSettings::default()
                },
                ..IngestConfig::default()
            };
            let app = match Application::build(config).await {
                Ok(app) => app,
                Err(err) => {
                    let _ = ready.send(Err(anyhow!("starting ingest: {err:#}")));
                    return Err(err);
                }
            };
            let _ = ready.send(app.local_addr());
            app.run_until_stopped(shutdown).await
        }
        Kind::Baseline => {
            let listener = tokio::net::TcpListener::bind(loopback).await?;
            let _ = ready.send(Ok(listener.local_addr()?));
            let state = Arc::new(Authenticator::new(
                Some(SecretString::from(secret)),
                None,
                Vec::new(),
            ));
            let router = Router::new()
                .route("/webhooks/survey", post(baseline))
                .with_state(state);
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.triggered().await })
                .await
                .context("serving the baseline")
        }
    }
}

/// Ingest's request work without Kafka: signature, content type, JSON,
/// validation, then 202 with the same body ingest sends.
async fn baseline(
    State(auth): State<Arc<Authenticator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if auth
        .check(header(SIGNATURE_HEADER), header("authorization"), &body)
        .is_err()
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !header("content-type").is_some_and(|ct| ct.starts_with("application/json")) {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let bounds = TimeBounds {
        max_future_millis: 300_000,
        max_age_millis: 7 * 24 * 3_600_000,
    };
    match parse_survey(&json, survey_runtime::now_millis(), bounds) {
        Ok(survey) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "id": survey.response_id, "status": "accepted" })),
        )
            .into_response(),
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    }
}
