//! Logs and traces.
//!
//! Every process gets a `tracing` subscriber (text or JSON logs, filtered by `telemetry.log` or
//! `RUST_LOG`) with an OpenTelemetry layer, so every span has a W3C trace context that crosses
//! gRPC (metadata), NATS (headers, kept in the outbox row until the relay publishes it) and
//! notify's webhooks (a `traceparent` header, kept with the delivery until the worker sends it).
//! Spans are exported over OTLP/gRPC, in batches, only when `telemetry.otlp_endpoint` is set;
//! dropping the [`TelemetryGuard`] at the end of the drain exports what is left. JSON log lines
//! carry the current span's `trace_id` and `span_id` ([`logs`]).

pub mod logs;

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::TelemetrySettings;

/// Keeps the tracer provider alive; flushes pending spans when dropped.
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

/// Installs the global subscriber and propagator. Safe to call more than once in a process
/// (tests): later calls keep the first subscriber.
pub fn init(service: &str, settings: &TelemetrySettings) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder().with_service_name(format!("civicgrid-{service}")).build(),
    );
    let mut export_error = None;
    if let Some(endpoint) = settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        use opentelemetry_otlp::WithExportConfig;
        match opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => export_error = Some(e.to_string()),
        }
    }
    let provider = builder.build();
    let tracer = provider.tracer(format!("civicgrid-{service}"));
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(&settings.log))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    // The log filter applies to the log output only: spans must exist (and carry trace
    // context onto the bus) even when logs are quiet.
    let otel =
        tracing_opentelemetry::layer().with_tracer(tracer).with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    let _ = if settings.log_format == crate::config::LogFormat::Json {
        registry.with(logs::TraceIds::default()).with(logs::json().with_filter(filter())).try_init()
    } else {
        // Colour only on a terminal: log files stay free of escape codes.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        registry
            .with(tracing_subscriber::fmt::layer().with_target(true).with_ansi(ansi).with_filter(filter()))
            .try_init()
    };
    if let Some(e) = export_error {
        tracing::error!(error = %e, "OTLP exporter could not be built; traces are not exported");
    }
    TelemetryGuard { provider: Some(provider) }
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);
impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_ascii_lowercase(), value);
    }
}

struct MapExtractor<'a>(&'a HashMap<String, String>);
impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The current span's trace context as `traceparent` / `tracestate` entries.
pub fn current_trace_headers() -> HashMap<String, String> {
    trace_headers_of(&tracing::Span::current())
}

/// `span`'s trace context as `traceparent` / `tracestate` entries (none for a span without
/// one). Reading it starts the span: give it its parent first.
pub fn trace_headers_of(span: &tracing::Span) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MapInjector(&mut map)));
    map
}

/// `span`'s W3C `traceparent`, for work that waits in a table before it is done (notify's
/// deliveries): `None` for a span without a trace context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    trace_headers_of(span).remove("traceparent")
}

/// Makes `span` a child of the trace context found in `headers` (lower-case names), if any.
/// Call it before the span is first entered: its parent is fixed from then on.
pub fn set_parent_from(span: &tracing::Span, headers: &HashMap<String, String>) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(headers)));
    let _ = span.set_parent(cx);
}

/// Makes `span` a child of `traceparent` (as [`traceparent_of`] gave it), if there is one.
pub fn set_parent_traceparent(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(tp) = traceparent.filter(|t| !t.is_empty()) {
        set_parent_from(span, &HashMap::from([("traceparent".to_string(), tp.to_string())]));
    }
}
