//! JSON log lines that name the trace they belong to.
//!
//! tracing-subscriber's JSON lines name the current span but not its OpenTelemetry ids, and the
//! ids are what a log store joins with the traces. [`TraceIds`] notes a span's ids the first time
//! it is entered, and the lines of [`json`] add those of the span an event is in as `trace_id`
//! and `span_id` (32 and 16 lower-case hex digits, as OTLP and `traceparent` write them). A line
//! outside any span has neither.

use std::sync::OnceLock;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::{Dispatch, Event, Subscriber, dispatcher::WeakDispatch, span::Id};
use tracing_subscriber::{
    Layer,
    fmt::{
        self, FmtContext, FormatEvent, FormatFields,
        format::{Format, Json, JsonFields, Writer},
    },
    layer::Context,
    registry::LookupSpan,
};

/// A span's OpenTelemetry ids, kept in its extensions.
#[derive(Debug, Clone, Copy)]
struct Ids {
    trace_id: TraceId,
    span_id: SpanId,
}

/// Notes each span's OpenTelemetry ids when it is first entered: by then its parent is set (a
/// parent from a `traceparent` is given right after the span is made) and its context final.
#[derive(Default)]
pub struct TraceIds {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for TraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        // Weak: the layer lives inside the dispatch it points at.
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<Ids>().is_some() {
            return;
        }
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else { return };
        // Asked with no extensions held: it locks them itself.
        let Some(cx) = tracing_opentelemetry::get_otel_context(id, &dispatch) else { return };
        let context = cx.span().span_context().clone();
        if context.is_valid() {
            // `replace`, not `insert`: another thread may have entered the span meanwhile.
            span.extensions_mut().replace(Ids { trace_id: context.trace_id(), span_id: context.span_id() });
        }
    }
}

/// tracing-subscriber's JSON line, with `trace_id` and `span_id` of the event's span added.
pub struct JsonWithIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for JsonWithIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let ids = ctx.parent_span().and_then(|s| s.extensions().get::<Ids>().copied());
        let Some(ids) = ids else { return self.0.format_event(ctx, writer, event) };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The line is one JSON object and a newline: the ids go in before its closing brace.
        match line.trim_end().strip_suffix('}') {
            Some(object) => {
                writeln!(writer, "{object},\"trace_id\":\"{}\",\"span_id\":\"{}\"}}", ids.trace_id, ids.span_id)
            }
            None => writer.write_str(&line),
        }
    }
}

/// The JSON log layer (`telemetry.log_format = "json"`); needs [`TraceIds`] in the same
/// subscriber for the ids.
pub fn json<S>() -> fmt::Layer<S, JsonFields, JsonWithIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fmt::layer().json().event_format(JsonWithIds(fmt::format().json()))
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_ids_of_the_span_they_are_logged_in() {
        let provider = SdkTracerProvider::builder().build();
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(TraceIds::default())
            .with(json().with_writer(move || writer.clone()));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            let ids = {
                let cx = span.context();
                let context = cx.span().span_context().clone();
                (context.trace_id().to_string(), context.span_id().to_string())
            };
            span.in_scope(|| tracing::info!(report = "r-1", "inside"));
            tracing::info!("outside");
            ids
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "inside");
        assert_eq!(lines[0]["fields"]["report"], "r-1");
        assert_eq!(lines[0]["span"]["name"], "work");
        assert_eq!((lines[0]["trace_id"].as_str(), lines[0]["span_id"].as_str()), (Some(&*trace_id), Some(&*span_id)));
        assert_eq!(trace_id.len(), 32);
        assert!(lines[1].get("trace_id").is_none() && lines[1].get("span_id").is_none(), "{text}");
    }

    #[test]
    fn a_traceparent_makes_a_span_the_child_of_another_in_the_same_trace() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let parent = tracing::info_span!("write");
            let stored = crate::telemetry::traceparent_of(&parent).unwrap();
            // As the relay and the delivery worker do: a new root, given the stored parent.
            let child = tracing::info_span!(parent: None, "send");
            crate::telemetry::set_parent_traceparent(&child, Some(&stored));
            let sent = crate::telemetry::traceparent_of(&child).unwrap();
            let parts = |tp: &str| tp.split('-').map(str::to_string).collect::<Vec<_>>();
            let (p, c) = (parts(&stored), parts(&sent));
            assert_eq!((p.len(), c.len()), (4, 4), "{stored} {sent}");
            assert_eq!(p[1], c[1], "one trace");
            assert_ne!(p[2], c[2], "another span");
            assert!(crate::telemetry::traceparent_of(&tracing::Span::none()).is_none());
        });
    }
}
