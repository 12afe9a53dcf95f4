//! Builds the ingest application: provisioning, the producer, the router,
//! and a listener whose port tests can read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use rdkafka::producer::FutureProducer;
use survey_contracts::{AvroCodec, topics};
use survey_runtime::provision::{ProvisionSettings, provision};
use survey_runtime::{Shutdown, kafka};
use tokio::net::TcpListener;

use crate::auth::{Authenticator, ReplayPolicy};
use crate::config::IngestConfig;
use crate::limits::RequestLimits;
use crate::publish::Publisher;
use crate::routes;
use crate::webhook::TimeBounds;

/// Topics ingest writes, and so provisions.
pub const TOPICS: &[topics::TopicSpec] = &[topics::SURVEY_RESPONSES_RAW];

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Credentials check.
    pub auth: Arc<Authenticator>,
    /// Header and per-source rate limits.
    pub limits: Arc<RequestLimits>,
    /// Raw-topic publisher.
    pub publisher: Publisher,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// Timestamp sanity bounds.
    pub time_bounds: TimeBounds,
    /// `Retry-After` seconds on 503.
    pub retry_after_secs: u32,
}

/// A built, bound, not yet serving ingest.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    publisher: Publisher,
    limits: Arc<RequestLimits>,
    ops_addr: SocketAddr,
}

impl Application {
    /// Validates the configuration, provisions the raw topic, creates the
    /// producer and binds the listener.
    pub async fn build(config: IngestConfig) -> anyhow::Result<Self> {
        let auth = Authenticator::new(
            config.auth.webhook_secret.clone(),
            config.auth.webhook_token.clone(),
            config.auth.allowed_cidrs.clone(),
        )
        .with_previous(
            config.auth.webhook_secret_previous.clone(),
            config.auth.webhook_token_previous.clone(),
        )
        .with_replay_policy(ReplayPolicy {
            require_timestamp: config.auth.require_timestamp,
            tolerance: config.auth.timestamp_tolerance,
        });
        anyhow::ensure!(
            auth.requires_credentials() || config.auth.insecure_dev,
            "refusing to start without WEBHOOK_SECRET or WEBHOOK_TOKEN; \
             set INGEST_INSECURE_DEV=true to accept unauthenticated webhooks in development"
        );
        if !auth.requires_credentials() {
            tracing::warn!("accepting unauthenticated webhooks (insecure development mode)");
        }
        if config.kafka.provision_on_start {
            provision(&config.kafka, TOPICS, &ProvisionSettings::default()).await?;
        }
        let producer: FutureProducer =
            kafka::producer_config(&config.kafka, config.publish_timeout)
                .create()
                .context("creating the Kafka producer")?;
        let topic = config.kafka.topology().topic(&topics::SURVEY_RESPONSES_RAW);
        let codec = Arc::new(AvroCodec::for_url(&config.kafka.schema_registry_url));
        let publisher = Publisher::new(producer, codec, topic, config.publish_timeout);
        let limits = Arc::new(RequestLimits::new(&config.limits));
        let state = AppState {
            auth: Arc::new(auth),
            limits: Arc::clone(&limits),
            publisher: publisher.clone(),
            max_body_bytes: config.max_body_bytes,
            time_bounds: TimeBounds {
                max_future_millis: millis(config.max_clock_skew),
                max_age_millis: millis(config.max_survey_age),
            },
            retry_after_secs: config.retry_after_secs,
        };
        let router = Router::new()
            .route("/webhooks/survey", post(routes::receive_survey))
            .route("/healthz", get(routes::healthz))
            .route("/readyz", get(routes::readyz))
            .with_state(state)
            .route("/metrics", get(routes::metrics))
            .method_not_allowed_fallback(routes::method_not_allowed)
            .fallback(routes::not_found)
            .layer(axum::middleware::from_fn(routes::count_requests));
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| format!("binding {}", config.listen_addr))?;
        Ok(Self {
            listener,
            router,
            publisher,
            limits,
            ops_addr: config.ops_addr,
        })
    }

    /// The bound address (its port is the real one when 0 was asked for).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown`, then finishes in-flight requests and flushes
    /// the producer.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr()?, "ingest listening");
        // The ops endpoint's readiness is a flag a background task keeps
        // current, so the probe never blocks on a metadata request.
        let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(watch_readiness(
            self.publisher.clone(),
            std::sync::Arc::clone(&connected),
            shutdown.clone(),
        ));
        tokio::spawn(forget_idle_sources(
            Arc::clone(&self.limits),
            shutdown.clone(),
        ));
        let ready: survey_runtime::ops::Readiness =
            std::sync::Arc::new(move || connected.load(std::sync::atomic::Ordering::Relaxed));
        survey_runtime::ops::serve(self.ops_addr, ready, shutdown.clone()).await?;
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = shutdown.clone();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(async move { stop.triggered().await })
            .await
            .context("serving HTTP")?;
        self.publisher.flush(Duration::from_secs(10));
        Ok(())
    }
}

async fn watch_readiness(
    publisher: Publisher,
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    shutdown: Shutdown,
) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = every.tick() => {}
        }
        connected.store(
            publisher.ready().await,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// Keeps the rate limiter's table to the sources seen lately.
async fn forget_idle_sources(limits: Arc<RequestLimits>, shutdown: Shutdown) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = every.tick() => {}
        }
        limits.forget_idle_sources();
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
