//! Structured JSON logs, and OpenTelemetry trace export when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set.
//!
//! Survey comments and transcripts are customer text: code logs them only at
//! DEBUG or below, never at INFO.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the exporter alive; flushes pending spans when dropped.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber for `service`. `RUST_LOG` sets the level
/// (INFO by default); `LOG_FORMAT=text` gives human-readable lines.
pub fn init(service: &'static str) -> TelemetryGuard {
    init_with_default(service, "info")
}

/// [`init`] with another default level, and human-readable lines unless
/// `LOG_FORMAT=json`; for interactive tools.
pub fn init_with_default(service: &'static str, default_level: &str) -> TelemetryGuard {
    let text =
        std::env::var("LOG_FORMAT").map_or(default_level != "info", |format| format == "text");
    install(service, default_level, text)
}

fn install(service: &'static str, default_level: &str, text: bool) -> TelemetryGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let fmt_layer = if text {
        tracing_subscriber::fmt::layer().boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    // Spans always get trace ids, so context propagates through Kafka
    // headers even when nothing is exported.
    let provider = tracer_provider(service);
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    TelemetryGuard {
        provider: Some(provider),
    }
}

fn tracer_provider(service: &'static str) -> SdkTracerProvider {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(format!("survey-alerts-{service}"))
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|variable| std::env::var(variable).is_ok_and(|value| !value.is_empty()));
    let exporter = configured
        .then(|| {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .build()
                .ok()
        })
        .flatten();
    match exporter {
        Some(exporter) => builder.with_batch_exporter(exporter).build(),
        None => builder.build(),
    }
}
