//! W3C trace context (`traceparent`, `tracestate`) in Kafka headers:
//! extracted when a record is consumed, injected when one is produced, so
//! one survey is one trace from the webhook to each delivery.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The headers that carry trace context.
pub const TRACE_HEADERS: &[&str] = &["traceparent", "tracestate"];

struct HeaderReader<'a>(&'a [(String, Vec<u8>)]);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

struct HeaderWriter(Vec<(String, String)>);

impl Injector for HeaderWriter {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Makes `span` a child of the trace context in `headers`, if any, and
/// records the trace id in its `trace_id` field (if declared), so JSON log
/// lines inside it carry the id.
pub fn set_parent(span: &tracing::Span, headers: &[(String, Vec<u8>)]) {
    let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
        span.record("span_id", span_context.span_id().to_string());
    }
}

/// Replaces the trace headers in `headers` with `span`'s context. Without a
/// tracing pipeline (tests, tools) the span has no context; the incoming
/// headers then travel on unchanged.
pub fn inject(span: &tracing::Span, headers: &mut Vec<(String, Vec<u8>)>) {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    let mut writer = HeaderWriter(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut writer);
    headers.retain(|(name, _)| !TRACE_HEADERS.contains(&name.as_str()));
    headers.extend(
        writer
            .0
            .into_iter()
            .map(|(name, value)| (name, value.into_bytes())),
    );
}

/// The trace id of a `traceparent` value (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1).filter(|id| id.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_come_from_traceparent() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn without_a_tracing_pipeline_headers_travel_unchanged() {
        let mut headers = vec![("traceparent".to_owned(), b"00-abc".to_vec())];
        inject(&tracing::Span::none(), &mut headers);
        assert_eq!(
            headers,
            vec![("traceparent".to_owned(), b"00-abc".to_vec())]
        );
    }
}
